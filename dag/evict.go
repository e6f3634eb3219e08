package dag

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// ErrSharedStore: Evict was asked to remove blocks from a datastore that
// other processes write too (SharedByProcesses). What one process knows
// of the blocks in use — its own definitions, leases and books — is not
// the whole story there: another node's definition may rest on the block
// (marked complete over it), or another node may be adding a definition
// that links to it right now, and nothing here can see either, so
// removing it could leave a definition marked complete without its
// closure. Nothing is evicted from such a store.
var ErrSharedStore = errors.New("blocks are not evicted from a store several processes share: a definition of another node there may rest on any of them")

// processShared is a datastore that says other processes may be writing
// it while this one does (p2p/repo/pgds.Datastore).
type processShared interface {
	SharedByProcesses() bool
}

// SharedByProcesses reports whether ds says other processes may write it
// at the same time as this one (a database several daemons share, as
// opposed to an embedded store one process locks). A wrapper that hides
// the method (a mount, a namespace) hides the answer too: wrap the store
// in one that passes it on.
func SharedByProcesses(ds datastore.Datastore) bool {
	ps, ok := ds.(processShared)
	return ok && ps.SharedByProcesses()
}

// Evict removes blocks from the store: first their complete markers (one
// write), then the blocks themselves with the keys extra names for each
// (a second write), so that a crash between the two leaves blocks stored
// but incomplete, never a marker whose block is gone. The blocks also
// leave the prefix index and the decoded-block cache.
//
// Evict does not check the closure invariant: the caller must make sure
// that no block left complete needs an evicted one (p2p evicts a set of
// blocks that nothing it keeps links to; see p2p/retain.go). Absent
// blocks are no error. On a store several processes share it removes
// nothing and returns ErrSharedStore.
func (s *Store) Evict(ctx context.Context, cids []cid.Cid, extra func(cid.Cid) []datastore.Key) error {
	if len(cids) == 0 {
		return nil
	}
	if SharedByProcesses(s.ds) {
		return fmt.Errorf("evicting %d blocks: %w", len(cids), ErrSharedStore)
	}
	markers, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("evicting blocks: %w", err)
	}
	for _, c := range cids {
		if err := markers.Delete(ctx, completeKey(c)); err != nil {
			return fmt.Errorf("evicting %s: %w", c, err)
		}
	}
	if err := markers.Commit(ctx); err != nil {
		return fmt.Errorf("evicting %d blocks: %w", len(cids), err)
	}
	blocks, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("evicting blocks: %w", err)
	}
	for _, c := range cids {
		if err := blocks.Delete(ctx, blockKey(c)); err != nil {
			return fmt.Errorf("evicting %s: %w", c, err)
		}
		if extra != nil {
			for _, k := range extra(c) {
				if err := blocks.Delete(ctx, k); err != nil {
					return fmt.Errorf("evicting %s: %w", c, err)
				}
			}
		}
	}
	if err := blocks.Commit(ctx); err != nil {
		return fmt.Errorf("evicting %d blocks: %w", len(cids), err)
	}
	for _, c := range cids {
		s.cache.remove(c)
		s.prefixes.remove(c)
	}
	return nil
}

// BlockUsage counts the blocks stored and their bytes (one scan of the
// block keys).
func (s *Store) BlockUsage(ctx context.Context) (blocks, bytes int64, err error) {
	q := query.Query{Prefix: strings.TrimSuffix(prefixBlocks, "/"), KeysOnly: true, ReturnsSizes: true}
	for e, err := range datastore.QueryIter(ctx, s.ds, q) {
		if err != nil {
			return 0, 0, fmt.Errorf("counting blocks: %w", err)
		}
		blocks++
		if e.Size > 0 {
			bytes += int64(e.Size)
		}
	}
	return blocks, bytes, nil
}

// remove forgets c, if the index is in use and c is what its prefix
// resolves to. A prefix several blocks shared stays ambiguous: a lookup
// then says "not held", which costs a block sent again, never a wrong
// answer.
func (x *prefixIndex) remove(c cid.Cid) {
	if !x.active.Load() {
		return
	}
	p, ok := digestPrefix(c)
	if !ok {
		return
	}
	x.mu.Lock()
	if old, ok := x.m[p]; ok && old.Equals(c) {
		delete(x.m, p)
	}
	x.mu.Unlock()
}

// remove drops c's decoded block, if cached.
func (bc *blockCache) remove(c cid.Cid) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	e, ok := bc.byCID[c]
	if !ok {
		return
	}
	bc.order.remove(e)
	delete(bc.byCID, c)
	bc.size -= e.size
}

// LinksUnverified returns the links of a block like Links, without
// checking that data is the canonical encoding: for bytes that are about
// to go through Put or AddBlocks (which check it), when the links are
// needed first. It saves the re-encoding Links does.
func LinksUnverified(data []byte) ([]cid.Cid, error) {
	// Canonical bytes (nearly always) take the one-pass scan alone,
	// which finds the links the generic decoding would; others are
	// decoded as before.
	var links []cid.Cid
	if scanCanonical(data, MaxBlockSize, func(c cid.Cid) { links = append(links, c) }, nil) == nil {
		return sortedUnique(links), nil
	}
	x, err := decodeItem(data, MaxBlockSize)
	if err != nil {
		return nil, err
	}
	seen := make(map[cid.Cid]struct{})
	if err := walkGeneric(x, func(c cid.Cid) { seen[c] = struct{}{} }); err != nil {
		return nil, err
	}
	return sortedSet(seen), nil
}
