package p2p

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p/repo/memds"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// chargeForeignMsg writes the same records under the same keys whether
// it is given the blocks as received (their store keys made once, the
// records' keys from their multihash, the records and books from short
// arrays) or not, on memds and on MapDatastore, and each record reads
// back as the block's size, its sender and its links. One block is
// stored pinned beforehand: neither path charges it.
func TestChargeForeignMsgReceivedSame(t *testing.T) {
	ctx := context.Background()
	from, err := peer.Decode("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
	if err != nil {
		t.Fatal(err)
	}
	datas := coldSyncBlocks(t, true)[:300]
	contents := func(ds datastore.Batching, withRecv bool) map[string][]byte {
		c := NewCodebase(ds)
		recv := dag.ReceiveAll(datas)
		batch := make([]dag.Block, len(recv))
		links := make([][]cid.Cid, len(recv))
		for j := range recv {
			if err := recv[j].Check(); err != nil {
				t.Fatal(err)
			}
			batch[j], links[j] = recv[j].Block(), recv[j].Links()
		}
		if err := c.store.Put(ctx, batch[7]); err != nil { // pinned: held already
			t.Fatal(err)
		}
		use := c.retainer().newLease()
		defer use.release()
		var r []dag.Received
		if withRecv {
			r = recv
		}
		store, fresh, err := c.chargeForeignMsg(ctx, use, from, batch, links, from, true, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(fresh) != len(batch)-1 || len(store) != len(batch)-1 {
			t.Fatalf("%d fresh, %d to store, of %d blocks one of which is held", len(fresh), len(store), len(batch))
		}
		got := map[string][]byte{}
		res, err := ds.Query(ctx, query.Query{})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		for e := range res.Next() {
			if e.Error != nil {
				t.Fatal(e.Error)
			}
			got[e.Key] = e.Value
		}
		for j, b := range batch {
			v, ok := got[markKey(prefixUnpinned, b.CID).String()]
			if j == 7 {
				if ok {
					t.Fatal("a pinned block was charged")
				}
				continue
			}
			if !ok {
				t.Fatalf("block %d: no unpinned record", j)
			}
			size, p, ls, err := decodeRecord(v)
			if err != nil || size != int64(len(b.Data)) || p != from || len(ls) != len(links[j]) {
				t.Fatalf("block %d: record %d %s %d links (%v), want %d %s %d", j, size, p, len(ls), err, len(b.Data), from, len(links[j]))
			}
			for k, l := range links[j] {
				if d, _ := digestOf(l); d != ls[k] {
					t.Fatalf("block %d: link %d differs", j, k)
				}
			}
			if rv := got[markKey(prefixReceived, b.CID).String()]; string(rv) != string(from) {
				t.Fatalf("block %d: received record %q", j, rv)
			}
			// The books match the record.
			d, _ := digestOf(b.CID)
			hb := c.retainer().blocks[d]
			if hb == nil || hb.size != size || len(hb.links) != len(ls) || hb.peer.id != from {
				t.Fatalf("block %d: books %+v", j, hb)
			}
			for k := range ls {
				if hb.links[k] != ls[k] {
					t.Fatalf("block %d: books' link %d differs", j, k)
				}
			}
		}
		return got
	}
	for _, mk := range []func() datastore.Batching{
		func() datastore.Batching { return memds.New() },
		func() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) },
	} {
		a, b := contents(mk(), false), contents(mk(), true)
		if len(a) != len(b) {
			t.Fatalf("%d keys without the received blocks, %d with", len(a), len(b))
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
				t.Fatalf("%s: %x without the received blocks, %x (%v) with", k, v, w, ok)
			}
		}
	}
}

// A heldSlab's blocks do not share links: appending to one block's
// links leaves the next block's as they were (each is capped), and an
// array is never longer than the blocks left.
func TestHeldSlabCapped(t *testing.T) {
	mk := func(i byte) cid.Cid { return digest{i}.cid() }
	var s heldSlab
	a := s.next(10, []cid.Cid{mk(1), mk(2)}, 3)
	b := s.next(20, []cid.Cid{mk(3)}, 2)
	c := s.next(30, nil, 1)
	if cap(s.blocks) != 3 {
		t.Fatalf("array of %d blocks for 3", cap(s.blocks))
	}
	_ = append(a.links, digest{9})
	if b.links[0] != (digest{3}) || a.links[1] != (digest{2}) || len(c.links) != 0 {
		t.Fatalf("links %v %v %v", a.links, b.links, c.links)
	}
	if a.usage() != (DiskUsage{Bytes: 10, Blocks: 1, Links: 2}) || c.usage() != (DiskUsage{Bytes: 30, Blocks: 1}) {
		t.Fatalf("usage %v %v", a.usage(), c.usage())
	}
}

// recordLen is the length appendRecord writes, for sizes and peer IDs
// around the uvarints' byte boundaries.
func TestRecordLen(t *testing.T) {
	for _, size := range []int64{0, 1, 127, 128, 16383, 16384, 1 << 20} {
		for _, id := range []peer.ID{"", "x", peer.ID(bytes.Repeat([]byte("p"), 200))} {
			for _, n := range []int{0, 1, 3} {
				b := &heldBlock{peer: &peerUsage{id: id}, size: size, links: make([]digest, n)}
				if got := len(encodeRecord(b)); got != recordLen(b) {
					t.Fatalf("size %d, id %d bytes, %d links: %d bytes, recordLen %d", size, len(id), n, got, recordLen(b))
				}
			}
		}
	}
}

// BenchmarkColdSyncReceiveMemds is the callee's work on one message of
// BenchmarkColdSync's typical closure once its blocks are decoded and
// checked, on memds (a node's default store, as the callee of that
// benchmark has): the books (chargeForeignMsg), the store (AddReceived),
// the unlinked walk, and the summaries of the closure that link makes
// next (summarize, whose walk reads the blocks' scans from the store's
// cache and checks each is still stored). Per block: ns, and the bytes
// and allocations of the whole path. Run with:
//
//	go test ./p2p -run='^$' -bench=ColdSyncReceiveMemds -benchmem
func BenchmarkColdSyncReceiveMemds(b *testing.B) {
	ctx := context.Background()
	from, err := peer.Decode("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
	if err != nil {
		b.Fatal(err)
	}
	datas := coldSyncBlocks(b, true)
	b.ReportAllocs()
	b.StopTimer()
	var bytes, allocs uint64
	for range b.N {
		recv, batch, links, received := checkedMessage(b, datas)
		roots := coldSyncRoots(recv)
		c := NewCodebase(memds.New())
		n := &Node{cb: c, store: c.store, links: newLinkCache(linkCacheEntries)}
		use := c.retainer().newLease()
		use.reserve(len(batch))
		b0, a0 := memStats()
		b.StartTimer()
		st, fresh, err := c.chargeForeignMsg(ctx, use, from, batch, links, from, true, recv)
		if err != nil {
			b.Fatal(err)
		}
		rs := make([]*dag.Received, len(st))
		for k, j := range st {
			rs[k] = &recv[j]
		}
		if err := c.store.AddReceived(ctx, rs); err != nil {
			b.Fatal(err)
		}
		first, hole, err := c.unlinked(ctx, roots, fresh, received)
		if err != nil || first.Defined() || hole.Defined() || len(fresh) != len(datas) {
			b.Fatalf("unlinked: %v %v %v, %d fresh", first, hole, err, len(fresh))
		}
		l := &linked{}
		sums := make([]*linkSummary, 0, len(roots))
		for _, root := range roots {
			s, err := n.summarize(ctx, root)
			if err != nil {
				b.Fatal(err)
			}
			sums = append(sums, s)
		}
		l.addAll(sums)
		b.StopTimer()
		b1, a1 := memStats()
		bytes, allocs = bytes+b1-b0, allocs+a1-a0
		use.release()
	}
	blocks := float64(b.N * len(datas))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/blocks, "ns/block")
	b.ReportMetric(float64(bytes)/blocks, "B/block")
	b.ReportMetric(float64(allocs)/blocks, "allocs/block")
}

func memStats() (bytes, mallocs uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc, ms.Mallocs
}

// The received path (chargeForeignMsg given the blocks as received, then
// AddReceived, then ScanStored of each block, whose presence check goes
// through the key the block was stored under) writes, on pebble and on
// PostgreSQL (a store several processes share: nothing evicted), the
// same keys and values it writes on memds, and ScanStored sees a block
// another process deleted.
func TestReceivedPathStores(t *testing.T) {
	ctx := testCtx(t)
	from, err := peer.Decode("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
	if err != nil {
		t.Fatal(err)
	}
	datas := coldSyncBlocks(t, true)[:200]
	receive := func(ds datastore.Batching) (*Codebase, []cid.Cid, map[string][]byte) {
		c := NewCodebase(ds)
		base := map[string]bool{}
		res, err := ds.Query(ctx, query.Query{KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for e := range res.Next() {
			base[e.Key] = true
		}
		res.Close()
		recv := dag.ReceiveAll(datas)
		batch := make([]dag.Block, len(recv))
		links := make([][]cid.Cid, len(recv))
		for j := range recv {
			if err := recv[j].Check(); err != nil {
				t.Fatal(err)
			}
			batch[j], links[j] = recv[j].Block(), recv[j].Links()
		}
		use := c.retainer().newLease()
		defer use.release()
		st, fresh, err := c.chargeForeignMsg(ctx, use, from, batch, links, from, true, recv)
		if err != nil {
			t.Fatal(err)
		}
		rs := make([]*dag.Received, len(st))
		for k, j := range st {
			rs[k] = &recv[j]
		}
		if err := c.store.AddReceived(ctx, rs); err != nil {
			t.Fatal(err)
		}
		for _, b := range batch {
			if _, err := c.store.ScanStored(ctx, b.CID); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string][]byte{}
		res, err = ds.Query(ctx, query.Query{})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		for e := range res.Next() {
			if e.Error != nil {
				t.Fatal(e.Error)
			}
			if !base[e.Key] && !strings.HasPrefix(e.Key, "/meta/") {
				got[e.Key] = e.Value
			}
		}
		return c, fresh, got
	}
	_, _, want := receive(memds.New())
	// Each block, its two records, and the markers of those whose
	// closure the message holds.
	if len(want) < 3*len(datas) {
		t.Fatalf("%d keys written for %d blocks, want 3 each at least", len(want), len(datas))
	}
	pebble, err := pebbleds.NewDatastore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pebble.Close() })
	stores := []struct {
		name string
		ds   datastore.Batching
	}{{"pebble", pebble}}
	if srv := pgtest.Shared(t); srv != nil {
		stores = append(stores, struct {
			name string
			ds   datastore.Batching
		}{"postgres", pgOpen(t, srv.NewDatabase(t))})
	}
	for _, s := range stores {
		c, fresh, got := receive(s.ds)
		if len(fresh) != len(datas) {
			t.Fatalf("%s: %d fresh of %d", s.name, len(fresh), len(datas))
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d keys written, memds %d", s.name, len(got), len(want))
		}
		for k, v := range want {
			if w, ok := got[k]; !ok || !bytes.Equal(v, w) {
				t.Fatalf("%s: %s: %x (%v), memds %x", s.name, k, w, ok, v)
			}
		}
		t.Logf("%s: %d keys written, as on memds", s.name, len(got))
		// Deleted by another process: the cached scan is not enough.
		gone := fresh[len(fresh)/2]
		if err := s.ds.Delete(ctx, markKey("/blocks/", gone)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.store.ScanStored(ctx, gone); !errors.Is(err, dag.ErrNotFound) {
			t.Fatalf("%s: ScanStored of a deleted block: %v", s.name, err)
		}
	}
}
