package repo_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p/repo"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// The stores side by side (docs/benchmarks.md, "Stores: pebble and
// PostgreSQL"): the embedded pebble datastore and a PostgreSQL server on
// loopback (fsync on, as in production), each opened as a repo opens it
// (both durable on return), through the same dag.Store calls unode's add
// and fetch make. Run with:
//
//	go test ./p2p/repo -run='^$' -bench=BenchmarkStore
//
// Each benchmark measures pebble then PostgreSQL, benchRounds times over
// (the later rounds named #01, #02), so that a change in the machine's
// load during the run shows in both.

// addBatch is how many blocks one add stores: a file of definitions, or a
// batch of blocks received from a peer.
const addBatch = 100

// benchRounds is how many times each benchmark alternates the stores.
const benchRounds = 3

// benchStores opens both stores, each in a fresh repo.
func benchStores(b *testing.B) []struct {
	name string
	r    *repo.Repo
} {
	b.Helper()
	srv := pgtest.Start(b, pgtest.Fsync())
	url := srv.NewDatabase(b)
	open := func(store string) *repo.Repo {
		r, err := repo.OpenWith(filepath.Join(b.TempDir(), "r"), repo.Options{Store: store})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	}
	stores := []struct {
		name string
		r    *repo.Repo
	}{{"pebble", open("pebble")}, {"postgres", open(url)}}
	// Warm up: a fresh server's first commits pay for setting up its
	// WAL and the pool's first connections (seconds, once), and neither
	// belongs to the steady state measured.
	for _, st := range stores {
		if err := dag.NewStore(st.r.Datastore).AddBlocks(context.Background(), chain(b, "warm", addBatch)); err != nil {
			b.Fatal(err)
		}
	}
	return stores
}

// chain returns n fresh blocks of about 1 KiB, each linking to the one
// before (a closure of n definitions), tagged so that no two calls make
// the same blocks.
func chain(b *testing.B, tag string, n int) []dag.Block {
	b.Helper()
	pad := strings.Repeat("x", 900)
	var blocks []dag.Block
	for i := range n {
		var tm dag.Term = &dag.Text{V: tag + "/" + strconv.Itoa(i) + pad}
		if i > 0 {
			tm = &dag.App{Fn: &dag.Ref{Def: dag.DefRef{CID: blocks[i-1].CID}}, Args: []dag.Term{tm}}
		}
		data, err := dag.EncodeTermBlock(&dag.TermBlock{Members: []dag.Term{tm}})
		if err != nil {
			b.Fatal(err)
		}
		blocks = append(blocks, dag.NewBlock(data))
	}
	return blocks
}

// BenchmarkStoreAdd: dag.Store.AddBlocks of addBatch new blocks (the
// blocks in one batch, then their complete markers in another), one add
// at a time. blocks/s is the throughput.
func BenchmarkStoreAdd(b *testing.B) {
	ctx := context.Background()
	stores := benchStores(b)
	for round := range benchRounds {
		for _, st := range stores {
			b.Run(st.name, func(b *testing.B) {
				s := dag.NewStore(st.r.Datastore)
				batches := make([][]dag.Block, b.N)
				for i := range batches {
					batches[i] = chain(b, st.name+strconv.Itoa(round)+"/"+strconv.Itoa(i)+"-"+strconv.Itoa(b.N), addBatch)
				}
				b.ResetTimer()
				for i := range b.N {
					if err := s.AddBlocks(ctx, batches[i]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*addBatch)/b.Elapsed().Seconds(), "blocks/s")
			})
		}
	}
}

// BenchmarkStoreGet: dag.Store.Get of a random stored block (a fetch
// serving a peer reads these), from one reader and from 16 at once.
func BenchmarkStoreGet(b *testing.B) {
	ctx := context.Background()
	stores := benchStores(b)
	var stored []dag.Block
	for i := range 20 {
		bs := chain(b, "get"+strconv.Itoa(i), addBatch)
		for _, st := range stores {
			if err := dag.NewStore(st.r.Datastore).AddBlocks(ctx, bs); err != nil {
				b.Fatal(err)
			}
		}
		stored = append(stored, bs...)
	}
	for range benchRounds {
		for _, st := range stores {
			getBench(b, st.name, dag.NewStore(st.r.Datastore), stored)
		}
	}
}

// getBench runs one round of BenchmarkStoreGet on one store.
func getBench(b *testing.B, name string, s *dag.Store, stored []dag.Block) {
	ctx := context.Background()
	b.Run(name+"/serial", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := s.Get(ctx, stored[r.IntN(len(stored))].CID); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
	b.Run(name+"/16-readers", func(b *testing.B) {
		b.SetParallelism(8) // 8 x GOMAXPROCS(2)
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 2))
			for pb.Next() {
				if _, err := s.Get(ctx, stored[r.IntN(len(stored))].CID); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
}
