package dag

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore/query"
	mh "github.com/multiformats/go-multihash"
)

// DigestPrefixLen is the length of the digest prefixes ResolvePrefix
// takes: the first bytes of a block's sha2-256 digest.
const DigestPrefixLen = 8

// prefixIndex maps digest prefixes to the blocks of this store, for
// peers that list blocks by prefix (p2p's compact dependency lists). It
// is built on first use, from one scan of the block keys, and kept up
// to date by this Store's writes from then on. Blocks written by
// another process or Store on the same datastore after the scan are
// not in it: a lookup then says "not held", which costs a block sent
// again, never a wrong answer (the caller of ResolvePrefix checks what
// it resolves). A scan that fails (a database store that is down) is
// made again by the next lookup: the store coming back must not leave
// every lookup failing until the process restarts.
type prefixIndex struct {
	active atomic.Bool // set before the scan: writes from then on are indexed
	built  atomic.Bool // a scan completed
	build  sync.Mutex  // held by the scan

	mu sync.RWMutex
	m  map[uint64]cid.Cid // cid.Undef: several blocks share the prefix
}

func digestPrefix(c cid.Cid) (uint64, bool) {
	if supportedCID(c) {
		// Read in place (c.Hash copies the CID's bytes): 0x01 0x71, then
		// the multihash 0x12 0x20 and the digest.
		return binary.BigEndian.Uint64([]byte(c.KeyString()[4:12])), true
	}
	h := c.Hash()
	// sha2-256 multihash: 0x12 0x20 then the digest.
	if len(h) != 2+32 || h[0] != mh.SHA2_256 || h[1] != 32 {
		return 0, false
	}
	return binary.BigEndian.Uint64(h[2:]), true
}

func (x *prefixIndex) add(c cid.Cid) {
	x.mu.Lock()
	x.addLocked(c)
	x.mu.Unlock()
}

// addEntries is add of every entry's block, the lock taken once (a sync
// adds its blocks a message at a time).
func (x *prefixIndex) addEntries(entries []addEntry) {
	x.mu.Lock()
	for i := range entries {
		x.addLocked(entries[i].r.b.CID)
	}
	x.mu.Unlock()
}

func (x *prefixIndex) addLocked(c cid.Cid) {
	p, ok := digestPrefix(c)
	if !ok {
		return
	}
	if old, seen := x.m[p]; !seen {
		x.m[p] = c
	} else if old.Defined() && !old.Equals(c) {
		x.m[p] = cid.Undef
	}
}

// indexAdded records blocks just written, once the index is in use.
func (s *Store) indexAdded(cs ...cid.Cid) {
	if !s.prefixes.active.Load() {
		return
	}
	for _, c := range cs {
		s.prefixes.add(c)
	}
}

func (s *Store) buildPrefixIndex(ctx context.Context) error {
	x := &s.prefixes
	if x.built.Load() {
		return nil
	}
	x.build.Lock()
	defer x.build.Unlock()
	if x.built.Load() {
		return nil
	}
	// A fresh map for each attempt: what a failed one indexed is found
	// again by this scan, and what is written from the reset on is
	// indexed by the writer.
	x.mu.Lock()
	x.m = map[uint64]cid.Cid{}
	x.mu.Unlock()
	x.active.Store(true) // before the scan: nothing written from here on is missed
	res, err := s.ds.Query(ctx, query.Query{Prefix: strings.TrimSuffix(prefixBlocks, "/"), KeysOnly: true})
	if err != nil {
		return fmt.Errorf("indexing blocks: %w", err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("indexing blocks: %w", r.Error)
		}
		k := strings.TrimPrefix(r.Key, prefixBlocks)
		h, err := mhKeyEncoding.DecodeString(k)
		if err != nil {
			continue // not a block key
		}
		c := cid.NewCidV1(cid.DagCBOR, h)
		if supportedCID(c) {
			x.add(c)
		}
	}
	x.built.Store(true)
	return nil
}

// ResolvePrefix returns the block of this store whose sha2-256 digest
// starts with the 8 bytes of prefix (big-endian), if exactly one is
// known. ok is false when none is, or several are. The answer may be a
// block other than the one a peer meant (a prefix is not a hash): check
// it against what that peer needs before trusting it.
func (s *Store) ResolvePrefix(ctx context.Context, prefix uint64) (c cid.Cid, ok bool, err error) {
	if err := s.buildPrefixIndex(ctx); err != nil {
		return cid.Undef, false, err
	}
	s.prefixes.mu.RLock()
	c, ok = s.prefixes.m[prefix]
	s.prefixes.mu.RUnlock()
	if !ok || !c.Defined() {
		return cid.Undef, false, nil
	}
	return c, true, nil
}

// DigestPrefix returns the first 8 bytes of c's sha2-256 digest
// (big-endian); ok is false for a CID this store cannot hold.
func DigestPrefix(c cid.Cid) (prefix uint64, ok bool) {
	if !supportedCID(c) {
		return 0, false
	}
	return digestPrefix(c)
}
