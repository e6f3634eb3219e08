package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

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
// be sendable (no futures) and encode within dag.MaxValueSize.
func (c *Codebase) DataPut(ctx context.Context, key string, v eval.Value) error {
	if err := CheckDataKey(key); err != nil {
		return err
	}
	w, err := eval.ToWire(v)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	data, err := dag.EncodeValue(w)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if err := c.pinLinks(ctx, dag.ValueLinks(w)); err != nil { // node data keeps the code it refers to
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if err := c.ds().Put(ctx, dataKey(key), data); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// DataGet returns the value under key; ok is false when there is none.
func (c *Codebase) DataGet(ctx context.Context, key string) (v eval.Value, ok bool, err error) {
	if err := CheckDataKey(key); err != nil {
		return nil, false, err
	}
	data, err := c.ds().Get(ctx, dataKey(key))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", key, err)
	}
	w, err := dag.DecodeValue(data)
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", key, err)
	}
	v, err = eval.FromWire(w)
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", key, err)
	}
	return v, true, nil
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
	if err := c.ds().Delete(ctx, dataKey(key)); err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}
