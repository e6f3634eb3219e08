package p2p

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// Chunked node data (docs/protocol.md, "Chunked values"; issue 11). A
// value under a data key whose inline encoding would exceed
// dag.MaxValueSize is stored as a chunk reference at /data/<key>, its
// chunk blocks in the block store, and the roots of its chunk trees at
// /datablocks/<key> (a version byte, then 32-byte sha2-256 digests).
//
// The chunk blocks are unpinned blocks (retain.go) charged to dataPeer,
// a name no peer has: they are outside every disk quota and the node's
// cap (the owner's data is not what other peers make the node store),
// and every collection marks from the roots the /datablocks/ keys name,
// as it marks from leases, so a chunk stays while a key refers to it.
// Overwriting or deleting the key drops its roots, and the next
// collection (`repo gc`, or one made to room for a sync) evicts the
// chunks nothing else reaches. Chunks already pinned (the same text as
// a definition's large literal) stay pinned; chunks a peer's sync
// stored are charged to dataPeer from then on; and an owner write that
// pins a block pins it for good, as any unpinned block (pinFor).

const prefixDataBlocks = "/datablocks/"

// dataPeer is the retainer's account of the chunks node data holds.
const dataPeer = peer.ID("\x00node data")

const dataRootsVersion = 1

func dataBlocksKey(key string) datastore.Key { return datastore.RawKey(prefixDataBlocks + key) }

func encodeDataRoots(roots []cid.Cid) []byte {
	out := []byte{dataRootsVersion}
	for _, d := range digestsOfCIDs(roots) {
		out = append(out, d[:]...)
	}
	return out
}

func decodeDataRoots(data []byte) ([]digest, error) {
	if len(data) == 0 || data[0] != dataRootsVersion || (len(data)-1)%len(digest{}) != 0 {
		return nil, fmt.Errorf("data chunk record: malformed")
	}
	out := make([]digest, (len(data)-1)/len(digest{}))
	for i := range out {
		copy(out[i][:], data[1+i*len(digest{}):])
	}
	return out, nil
}

// holdDataChunks stores the chunk blocks of a value about to be put
// under a data key (roots: its chunk roots), synced, charged to
// dataPeer. Until release, a lease protects them, so that no collection
// takes them before the key naming them is written. The records of new
// blocks are written before the blocks, as for a peer's blocks
// (chargeForeign).
func (c *Codebase) holdDataChunks(ctx context.Context, chunks []dag.Block, roots []cid.Cid) (release func(), err error) {
	r := c.retainer()
	l := r.newLease()
	l.protect(roots...)
	defer func() {
		if err != nil {
			l.release()
		}
	}()
	store, err := c.chargeData(ctx, l, chunks)
	if err != nil {
		return nil, err
	}
	if err := c.store.AddBlocks(ctx, store); err != nil {
		return nil, fmt.Errorf("storing the value's chunks: %w", err)
	}
	if err := c.ds().Sync(ctx, datastore.RawKey("/")); err != nil {
		return nil, fmt.Errorf("storing the value's chunks: %w", err)
	}
	return l.release, nil
}

// chargeData records chunk blocks as held by node data and returns
// those to store: new ones (recorded unpinned for dataPeer), and those
// an owner write is storing meanwhile (pinned). Blocks held unpinned
// for a peer move to dataPeer's account; pinned blocks stay pinned.
func (c *Codebase) chargeData(ctx context.Context, l *lease, chunks []dag.Block) (store []dag.Block, err error) {
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLocked(ctx, c.ds()); err != nil {
		return nil, err
	}
	pu := r.peerLocked(dataPeer)
	defer func() {
		if pu.used == (DiskUsage{}) {
			delete(r.peers, dataPeer)
		}
	}()
	batch, err := c.ds().Batch(ctx)
	if err != nil {
		return nil, err
	}
	type pending struct {
		d digest
		b *heldBlock
	}
	var pend []pending
	seen := make(map[digest]bool, len(chunks)) // one value's chunks
	for _, b := range chunks {
		d, ok := digestOf(b.CID)
		if !ok {
			store = append(store, b) // AddBlocks refuses it
			continue
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		l.protectLocked(d)
		if r.pinning[d] > 0 {
			store = append(store, b) // an owner write stores it too: pinned
			continue
		}
		links, err := dag.LinksUnverified(b.Data)
		if err != nil {
			return nil, fmt.Errorf("chunk %s: %w", b.CID, err)
		}
		hb := &heldBlock{peer: pu, size: int64(len(b.Data)), links: digestsOfCIDs(links)}
		if old := r.blocks[d]; old != nil {
			if old.peer != pu {
				pend = append(pend, pending{d, hb}) // held for a peer: ours now
			}
			continue
		}
		held, err := c.store.Has(ctx, b.CID)
		if err != nil {
			return nil, err
		}
		if held {
			continue // pinned
		}
		pend = append(pend, pending{d, hb})
		store = append(store, b)
	}
	for _, p := range pend {
		if err := batch.Put(ctx, markKey(prefixUnpinned, p.d.cid()), encodeRecord(p.b)); err != nil {
			return nil, err
		}
	}
	if len(pend) > 0 {
		if err := batch.Commit(ctx); err != nil {
			return nil, fmt.Errorf("recording the value's chunks: %w", err)
		}
	}
	for _, p := range pend {
		if old := r.blocks[p.d]; old != nil {
			r.forgetLocked(p.d, old)
		}
		r.addLocked(p.d, p.b)
	}
	return store, nil
}

// markDataLocked marks what the chunk roots of node data reach.
func (r *retainer) markDataLocked(ctx context.Context, ds datastore.Datastore, m *marker) error {
	q := query.Query{Prefix: strings.TrimSuffix(prefixDataBlocks, "/")}
	for e, err := range datastore.QueryIter(ctx, ds, q) {
		if err != nil {
			return fmt.Errorf("reading the chunks of node data: %w", err)
		}
		roots, err := decodeDataRoots(e.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Key, err)
		}
		for _, d := range roots {
			m.mark(d, nil)
		}
	}
	return nil
}
