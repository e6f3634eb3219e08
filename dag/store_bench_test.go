package dag

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/p2p/repo/memds"
)

// coldSyncTypicalLink is the digest of the one link of
// coldSyncTypicalBlock, in hex.
const coldSyncTypicalLink = "25d461721b7b74a014930f937bf0d13de078302ceb6d11a1e91db19df3c17d50"

// coldChain is n received, checked blocks of a cold sync's typical
// closure: each is coldSyncTypicalBlock with its link made the block
// before it (the first links to leaf), so that they are n distinct
// blocks of the typical size and shape, in dependency order.
func coldChain(t testing.TB, leaf Block, n int) []*Received {
	if !strings.Contains(coldSyncTypicalBlock, coldSyncTypicalLink) {
		t.Fatal("the typical block no longer holds its link")
	}
	rs := make([]*Received, n)
	prev := leaf.CID
	for i := range rs {
		digest := hex.EncodeToString(prev.Hash()[2:])
		data, err := hex.DecodeString(strings.Replace(coldSyncTypicalBlock, coldSyncTypicalLink, digest, 1))
		if err != nil {
			t.Fatal(err)
		}
		r := Receive(data)
		if err := r.Check(); err != nil {
			t.Fatal(err)
		}
		if r.decoded == nil {
			t.Fatal("the typical block was not decoded by the one pass")
		}
		rs[i] = r
		prev = r.CID()
	}
	return rs
}

// forgetKeys drops the keys AddReceived made for rs (storeKeys), so that
// adding them again makes them again, as it does for blocks just
// received: a benchmark or count that reuses rs measures what a sync
// pays.
func forgetKeys(rs []*Received) {
	for _, r := range rs {
		r.keys = ""
	}
}

// BenchmarkAddReceivedCold is the store's part of a cold sync's write
// path: AddReceived of 1000 received, checked typical definition blocks
// (a chain, as BenchmarkColdSync's depth=1000 closure) into a fresh
// store, whose only block is the leaf the chain ends at. Per op: one
// sync's 1000 blocks; B/op and allocs/op are the store's (and its
// datastore's) for all of them. The same run writes into memds (the
// node's default) and into MutexWrap(MapDatastore) (the reference, a
// datastore this package does not shape). Run with:
//
//	go test ./dag -run='^$' -bench=AddReceivedCold -benchmem
func BenchmarkAddReceivedCold(b *testing.B) {
	ctx := context.Background()
	leaf := termBlock(b, "leaf")
	rs := coldChain(b, leaf, 1000)
	for _, ds := range []struct {
		name string
		make func() datastore.Batching
	}{
		{"memds", func() datastore.Batching { return memds.New() }},
		{"mutex-map", func() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }},
	} {
		b.Run(ds.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				forgetKeys(rs)
				s := NewStore(ds.make())
				if err := s.AddBlocks(ctx, []Block{leaf}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := s.AddReceived(ctx, rs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(rs)), "ns/block")
		})
	}
}

// AddReceived of a cold chain marks every block complete, the last one
// last, and stores each block's bytes under its key: what the benchmark
// measures is the real write.
func TestAddReceivedColdChain(t *testing.T) {
	ctx := context.Background()
	for _, ds := range []datastore.Batching{memds.New(), dssync.MutexWrap(datastore.NewMapDatastore())} {
		s := NewStore(ds)
		leaf := termBlock(t, "leaf")
		if err := s.AddBlocks(ctx, []Block{leaf}); err != nil {
			t.Fatal(err)
		}
		rs := coldChain(t, leaf, 50)
		if err := s.AddReceived(ctx, rs); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			ok, err := s.IsComplete(ctx, r.CID())
			if err != nil || !ok {
				t.Fatalf("%s: complete %v, %v", r.CID(), ok, err)
			}
			data, err := s.Get(ctx, r.CID())
			if err != nil || string(data) != string(r.Data()) {
				t.Fatalf("%s: stored bytes differ (%v)", r.CID(), err)
			}
			if _, ok := s.cache.scanned(r.CID()); !ok {
				t.Fatalf("%s: scan not kept", r.CID())
			}
		}
		n, err := s.CheckCompleteMarkers(ctx)
		if err != nil || n != len(rs)+1 {
			t.Fatalf("CheckCompleteMarkers: %d, %v", n, err)
		}
	}
}

// AddReceived of a cold sync's blocks into a fresh memds-backed store
// allocates about two objects per block (its decoded-block cache entry,
// and one string for both its keys): the batches' chunks are reused, the
// maps are made once for the batch. Before, it was about four per block
// (two key strings, the cache entry, the batch's and the maps' growth).
// Counts, not times.
func TestAddReceivedColdAllocs(t *testing.T) {
	ctx := context.Background()
	leaf := termBlock(t, "leaf")
	rs := coldChain(t, leaf, 1000)
	const runs = 5
	stores := make([]*Store, runs+1)
	for i := range stores {
		stores[i] = NewStore(memds.New())
		if err := stores[i].AddBlocks(ctx, []Block{leaf}); err != nil {
			t.Fatal(err)
		}
	}
	next := 0
	n := testing.AllocsPerRun(runs, func() {
		forgetKeys(rs) // each run makes them, as for blocks just received
		if err := stores[next].AddReceived(ctx, rs); err != nil {
			t.Fatal(err)
		}
		next++
	})
	if perBlock := n / float64(len(rs)); perBlock > 2.2 {
		t.Errorf("AddReceived of %d cold blocks: %.2f allocations per block, want at most 2.2", len(rs), perBlock)
	}
}
