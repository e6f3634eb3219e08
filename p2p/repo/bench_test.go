package repo_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// What durability costs on an on-disk repo (docs/benchmarks.md,
// "Durability"). Run with:
//
//	go test ./p2p/repo -run='^$' -bench=. -benchtime=200x -count=3
//
// These use only the public API, so that the same file measures an older
// tree (before synced writes) for comparison.

func openBenchRepo(b *testing.B) *repo.Repo {
	b.Helper()
	r, err := repo.Open(filepath.Join(b.TempDir(), "r"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// BenchmarkDataPut: one `Data.put` / `unode data put` write, as the
// daemon does it, one at a time and from 16 writers at once (where
// group commit shares each fsync among the writers waiting).
func BenchmarkDataPut(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		cb := p2p.NewCodebase(openBenchRepo(b).Datastore)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := cb.DataPut(ctx, "bench/"+strconv.Itoa(i), eval.MakeInt(int64(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("16-writers", func(b *testing.B) {
		cb := p2p.NewCodebase(openBenchRepo(b).Datastore)
		var next atomic.Int64
		b.SetParallelism(8) // 8 x GOMAXPROCS(2) goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				if err := cb.DataPut(ctx, "bench/"+strconv.FormatInt(i, 10), eval.MakeInt(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkWarmAtOnDisk: a warm remote `at` of `tiny 41` (the callee
// holds the code) to a callee whose store is an on-disk repo, as a
// daemon's is: a pure evaluation under the default sandbox (its audit
// entry is written within the audit window), and one presenting a token
// (its audit entry is synced before the reply).
func BenchmarkWarmAtOnDisk(b *testing.B) {
	ctx := context.Background()
	r := openBenchRepo(b)
	callee, err := p2p.New(ctx, p2p.WithIdentity(r.Key), p2p.WithDatastore(r.Datastore))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { callee.Close() })
	caller, err := p2p.New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { caller.Close() })
	if _, err := caller.Connect(ctx, callee.Addrs()[0].String()); err != nil {
		b.Fatal(err)
	}
	if _, err := caller.Codebase().Add(ctx, "tiny.u", []byte("tiny x = x + 1\n")); err != nil {
		b.Fatal(err)
	}
	sb, err := capabilities.ParseSandbox("--allow pure")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := callee.Grant(ctx, capabilities.Claims{Audience: caller.ID(), Sandbox: sb, Expires: time.Now().Add(time.Hour)}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	target := callee.ID().String()
	for _, bc := range []struct {
		name string
		opts []p2p.CallOption
	}{
		{"pure", nil},
		{"token", []p2p.CallOption{p2p.WithTokens(tok)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			call := func() {
				res, err := caller.EvalAt(ctx, target, "tiny 41", p2p.Budget{}, bc.opts...)
				if err != nil {
					b.Fatal(err)
				}
				if res.Text != "42" {
					b.Fatalf("tiny 41 = %s", res.Text)
				}
			}
			call() // warm: the callee now holds the code
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				call()
			}
		})
	}
}
