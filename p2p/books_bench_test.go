package p2p

import (
	"context"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// The callee's books on the cold path, apart from the transport and the
// decoder: what BenchmarkColdSync's callee does with one message of its
// typical closure (1,000 definitions at depth 10) once the blocks are
// checked (chargeForeignAt, then the unlinked walk), and the summaries
// link then makes of the closure, cold. Per block, in-process: the
// component numbers of issue 12, steadier than a CPU profile of the
// callee process.

// coldSyncRoots are the blocks of datas no other of them links to: the
// thunk's roots.
func coldSyncRoots(recv []dag.Received) []cid.Cid {
	linked := map[cid.Cid]bool{}
	for j := range recv {
		for _, l := range recv[j].Links() {
			linked[l] = true
		}
	}
	var roots []cid.Cid
	for j := range recv {
		if c := recv[j].CID(); !linked[c] {
			roots = append(roots, c)
		}
	}
	return roots
}

func checkedMessage(b *testing.B, datas [][]byte) (recv []dag.Received, batch []dag.Block, links [][]cid.Cid, received *receivedBlocks) {
	recv = dag.ReceiveAll(datas)
	batch = make([]dag.Block, len(datas))
	links = make([][]cid.Cid, len(datas))
	received = newReceivedBlocks(len(datas))
	for j := range recv {
		rb := &recv[j]
		if err := rb.Check(); err != nil {
			b.Fatal(err)
		}
		batch[j], links[j] = rb.Block(), rb.Links()
		d, _ := digestOf(rb.CID())
		received.add(d, links[j])
	}
	return recv, batch, links, received
}

func BenchmarkColdSyncBooks(b *testing.B) {
	ctx := context.Background()
	from, err := peer.Decode("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
	if err != nil {
		b.Fatal(err)
	}
	datas := coldSyncBlocks(b, true)
	b.ReportAllocs()
	b.StopTimer()
	for range b.N {
		recv, batch, links, received := checkedMessage(b, datas)
		roots := coldSyncRoots(recv)
		c := NewCodebase(dssync.MutexWrap(datastore.NewMapDatastore()))
		use := c.retainer().newLease()
		use.reserve(len(batch))
		b.StartTimer()
		_, fresh, err := c.chargeForeignMsg(ctx, use, from, batch, links, from, true, recv)
		if err != nil {
			b.Fatal(err)
		}
		first, hole, err := c.unlinked(ctx, roots, fresh, received)
		b.StopTimer()
		if err != nil || first.Defined() || hole.Defined() || len(fresh) != len(datas) {
			b.Fatalf("unlinked: %v %v %v, %d fresh", first, hole, err, len(fresh))
		}
		use.release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(datas)), "ns/block")
}

func BenchmarkColdSummarize(b *testing.B) {
	ctx := context.Background()
	n := newTestNode(b)
	datas := coldSyncBlocks(b, true)
	recv, _, _, _ := checkedMessage(b, datas)
	roots := coldSyncRoots(recv)
	rs := make([]*dag.Received, len(recv))
	for j := range recv {
		rs[j] = &recv[j]
	}
	if err := n.store.AddReceived(ctx, rs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		n.links = newLinkCache(linkCacheEntries)
		b.StartTimer()
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
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(datas)), "ns/block")
}
