package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Node data: values kept by the node under '/'-separated text keys
// ("health/2026-01-01"), stored as dag.EncodeValue bytes at
// /data/<key> in the node's datastore. The Data.* builtins of the node's
// own evaluations use them with full access; foreign evaluations reach
// them through their sandbox's data patterns (foreignHost).

const prefixData = "/data/"

// ErrBadDataKey matches errors about malformed data keys.
var ErrBadDataKey = errors.New("bad data key")

// CheckDataKey reports whether key may name a value: 1 to MaxDataKeyLen
// bytes of UTF-8 without control characters, segments separated by
// single '/', none empty, "." or "..", and no '/' at either end.
func CheckDataKey(key string) error {
	if err := checkDataText(key); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("%w: empty", ErrBadDataKey)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w %q: empty, \".\" or \"..\" segment (keys look like health/2026-01-01)", ErrBadDataKey, key)
		}
	}
	return nil
}

// checkDataText checks what keys and listing prefixes have in common.
func checkDataText(s string) error {
	if len(s) > MaxDataKeyLen {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrBadDataKey, len(s), MaxDataKeyLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not UTF-8", ErrBadDataKey)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w %q: control character", ErrBadDataKey, s)
		}
	}
	return nil
}

func dataKey(key string) datastore.Key { return datastore.RawKey(prefixData + key) }

// DataPut stores v under key, replacing what was there. The value must
// be sendable (no futures); a value whose inline encoding would exceed
// dag.MaxValueSize is stored chunked (dag.EncodeValueChunked, at most
// dag.MaxChunkedBytes of chunks), its chunk blocks held for the key
// (holdDataChunks). The chunks are stored and synced before the key,
// and the key and its chunk index are written in one synced batch.
func (c *Codebase) DataPut(ctx context.Context, key string, v eval.Value) error {
	return c.dataPut(ctx, key, v, true)
}

// dataPut is DataPut; chunked says whether a value too big to store
// inline may be stored chunked (not for a foreign evaluation's put:
// netHost.DataPut).
func (c *Codebase) dataPut(ctx context.Context, key string, v eval.Value, chunked bool) error {
	if err := CheckDataKey(key); err != nil {
		return err
	}
	w, err := eval.ToWire(v)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	ev, err := dag.EncodeValueChunked(w)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if len(ev.Chunks) > 0 && !chunked {
		// Node data is the owner's, outside the disk quotas that bound
		// what peers make the node store: another node's code, even
		// with data.write, stores at most an inline value per key.
		return fmt.Errorf("storing %s: the value is too big for another node's evaluation to store (its encoding exceeds %d bytes; only the node's own programs store larger values): %w", key, dag.MaxValueSize, dag.ErrTooLarge)
	}
	if err := c.pinLinks(ctx, dag.ValueLinks(w)); err != nil { // node data keeps the code it refers to
		return fmt.Errorf("storing %s: %w", key, err)
	}
	var roots []cid.Cid
	if len(ev.Chunks) > 0 {
		chunks := make(map[cid.Cid]bool, len(ev.Chunks))
		for _, b := range ev.Chunks {
			chunks[b.CID] = true
		}
		for _, l := range ev.Links {
			if chunks[l] {
				roots = append(roots, l)
			}
		}
		release, err := c.holdDataChunks(ctx, ev.Chunks, roots)
		if err != nil {
			return fmt.Errorf("storing %s: %w", key, err)
		}
		defer release()
	}
	batch, err := c.ds().Batch(ctx)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if err := batch.Put(ctx, dataKey(key), ev.Data); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if len(roots) > 0 {
		err = batch.Put(ctx, dataBlocksKey(key), encodeDataRoots(roots))
	} else {
		err = batch.Delete(ctx, dataBlocksKey(key))
	}
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if err := c.commitData(ctx, batch); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// commitData commits a batch of data keys and syncs them.
func (c *Codebase) commitData(ctx context.Context, batch datastore.Batch) error {
	if err := batch.Commit(ctx); err != nil {
		return err
	}
	if err := c.ds().Sync(ctx, datastore.RawKey(strings.TrimSuffix(prefixData, "/"))); err != nil {
		return err
	}
	return c.ds().Sync(ctx, datastore.RawKey(strings.TrimSuffix(prefixDataBlocks, "/")))
}

// DataGet returns the value under key; ok is false when there is none.
// A chunked value's chunks are read with dag.MaxChunkedBytes as budget
// (DataGetLimit).
func (c *Codebase) DataGet(ctx context.Context, key string) (v eval.Value, ok bool, err error) {
	return c.DataGetLimit(ctx, key, 0)
}

// DataGetLimit is DataGet allocating at most limit bytes for the chunked
// parts of the value (0: dag.MaxChunkedBytes): a value that declares
// more fails with a *dag.ChunkBudgetError before any chunk is read.
func (c *Codebase) DataGetLimit(ctx context.Context, key string, limit int64) (v eval.Value, ok bool, err error) {
	if err := CheckDataKey(key); err != nil {
		return nil, false, err
	}
	for attempt := 1; ; attempt++ {
		w, ok, retry, err := c.dataGetOnce(ctx, key, limit, attempt < dataReadAttempts)
		if retry {
			continue
		}
		if err != nil || !ok {
			return nil, false, err
		}
		v, err = eval.FromWire(w)
		if err != nil {
			return nil, false, fmt.Errorf("reading %s: %w", key, err)
		}
		return v, true, nil
	}
}

// dataReadAttempts bounds how often DataGetLimit reads a key again when
// the key changed between its read and the lease over its chunks: each
// retry means an overwrite or a delete landed in that moment, so a few
// suffice unless the key is rewritten without pause, when the last
// attempt reads the chunks it found (and fails if a collection took
// them).
const dataReadAttempts = 4

// dataGetOnce reads the value under key once. A chunked value's chunks
// are read under a lease on its roots, taken once the key has been read,
// and the key is read again to check that it still holds the value:
// otherwise an overwrite or delete of the key and a collection (`repo
// gc`, or one making room for a sync) between the read of the key and of
// its chunks would take the chunks, and the read fail with a chunk
// missing. retry says the key changed meanwhile (only when mayRetry):
// read it again.
func (c *Codebase) dataGetOnce(ctx context.Context, key string, limit int64, mayRetry bool) (w dag.Value, ok, retry bool, err error) {
	data, err := c.ds().Get(ctx, dataKey(key))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("reading %s: %w", key, err)
	}
	w, err = dag.DecodeValue(data)
	if err != nil {
		return nil, false, false, fmt.Errorf("reading %s: %w", key, err)
	}
	if !dag.HasChunkRefs(data) {
		return w, true, false, nil
	}
	r := c.store.ChunkReader(limit)
	if d := dag.DeclaredChunkBytes(w); d > r.Limit && r.Limit > 0 {
		return nil, false, false, fmt.Errorf("reading %s: %w", key, &dag.ChunkBudgetError{Need: d, Limit: r.Limit})
	}
	if rt := c.retainer(); !rt.shared {
		// (Nothing is evicted from a shared store.) A collection that
		// starts after protect marks the roots; one that ran before it
		// found them named by the key if the key still holds them now.
		l := rt.newLease()
		l.protect(chunkRootsOf(w)...)
		defer l.release()
		now, err := c.ds().Get(ctx, dataKey(key))
		if err != nil && !errors.Is(err, datastore.ErrNotFound) {
			return nil, false, false, fmt.Errorf("reading %s: %w", key, err)
		}
		if (err != nil || !bytes.Equal(now, data)) && mayRetry {
			return nil, false, true, nil
		}
	}
	if w, err = r.Value(ctx, w); err != nil {
		return nil, false, false, fmt.Errorf("reading %s: %w", key, err)
	}
	return w, true, false, nil
}

// dataGetFor is DataGet for an evaluation: the chunks of the value may
// take what is left of its memory budget, and a value needing more
// fails with the evaluation's memory budget error before it is read.
func (c *Codebase) dataGetFor(th *eval.Thread, key string) (eval.Value, bool, error) {
	left := max(th.MemoryLeft(), 1)
	v, ok, err := c.DataGetLimit(th.Context(), key, left)
	var be *dag.ChunkBudgetError
	if errors.As(err, &be) {
		return nil, false, fmt.Errorf("reading %s: %w", key, &eval.BudgetError{Which: eval.BudgetMemory, Limit: th.MemoryLimit()})
	}
	return v, ok, err
}

// DataList returns the keys that start with prefix (any text; "" lists
// everything), sorted.
func (c *Codebase) DataList(ctx context.Context, prefix string) ([]string, error) {
	if err := checkDataText(prefix); err != nil {
		return nil, err
	}
	// The datastore matches whole path segments: ask for the segments
	// the prefix completes, and filter the rest.
	dir := strings.TrimSuffix(prefixData, "/")
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		dir = prefixData + prefix[:i]
	}
	res, err := c.ds().Query(ctx, query.Query{Prefix: dir, KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	out := []string{}
	for _, e := range entries {
		k, ok := strings.CutPrefix(e.Key, prefixData)
		if ok && strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// DataDelete removes key (nothing happens if it is absent).
func (c *Codebase) DataDelete(ctx context.Context, key string) error {
	if err := CheckDataKey(key); err != nil {
		return err
	}
	batch, err := c.ds().Batch(ctx)
	if err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	for _, k := range []datastore.Key{dataKey(key), dataBlocksKey(key)} {
		if err := batch.Delete(ctx, k); err != nil && !errors.Is(err, datastore.ErrNotFound) {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
	}
	if err := c.commitData(ctx, batch); err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}
