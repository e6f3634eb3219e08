package p2p

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// What an extra node costs (docs/benchmarks.md, "Many nodes in one
// process"): the heap and the start time per node of n nodes started one
// after the other, for n = 1, 100 and 1,000, interleaved in one run:
//
//   - shared: members of one Shared group on one store (WithShared);
//   - own: nodes that share the datastore value only (WithDatastore),
//     each with its own resource manager, all of libp2p's transports and
//     a DHT server, as New makes them by default;
//   - libp2p: bare go-libp2p hosts (libp2p.New) with the transport the
//     shared members use, TCP on loopback.
//
// Run with:
//
//	go test ./p2p -run='^$' -bench=NodeCost -benchtime=1x
//
// (UNODE_BENCH_NODES=1,100 picks other sizes.) The heap is what stays
// live after a GC once the n nodes have started (HeapAlloc), less the
// same before, and the goroutine stacks likewise (StackInuse); start time
// is wall time over n, on one goroutine.
func BenchmarkNodeCost(b *testing.B) {
	sizes := benchSizes(b, []int{1, 100, 1000})
	kinds := []struct {
		name  string
		start func(ctx context.Context, b *testing.B, n int) func()
	}{
		{"shared", startShared},
		{"libp2p", startBare},
		{"own", startOwn},
	}
	for _, n := range sizes {
		for _, k := range kinds {
			if k.name == "own" && n > 100 && testing.Short() {
				continue
			}
			b.Run(fmt.Sprintf("%s/n=%d", k.name, n), func(b *testing.B) {
				ctx := context.Background()
				var heap, stack, ns, gs float64
				for range b.N {
					b.StopTimer()
					before, stack0 := liveHeap()
					g0 := runtime.NumGoroutine()
					b.StartTimer()
					t0 := time.Now()
					stop := k.start(ctx, b, n)
					el := time.Since(t0)
					b.StopTimer()
					after, stack1 := liveHeap()
					heap += (float64(after) - float64(before)) / float64(n)
					stack += (float64(stack1) - float64(stack0)) / float64(n)
					ns += float64(el.Nanoseconds()) / float64(n)
					gs += float64(runtime.NumGoroutine()-g0) / float64(n)
					stop()
					b.StartTimer()
				}
				b.ReportMetric(heap/float64(b.N)/(1<<10), "heap-KiB/node")
				b.ReportMetric(stack/float64(b.N)/(1<<10), "stack-KiB/node")
				b.ReportMetric(ns/float64(b.N)/1e6, "ms/node")
				b.ReportMetric(gs/float64(b.N), "goroutines/node")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// liveHeap is the heap in use after a full collection, and the
// goroutine stacks (which HeapAlloc leaves out).
func liveHeap() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

func startShared(ctx context.Context, b *testing.B, n int) func() {
	g, err := NewShared(ctx, memDatastore(), SharedConfig{Nodes: max(n, 1)})
	if err != nil {
		b.Fatal(err)
	}
	nodes := make([]*Node, 0, n)
	for range n {
		nd, err := New(ctx, WithShared(g))
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	return func() {
		closeAll(nodes)
		if err := g.Close(); err != nil {
			b.Error(err)
		}
	}
}

func startOwn(ctx context.Context, b *testing.B, n int) func() {
	ds := memDatastore()
	nodes := make([]*Node, 0, n)
	for range n {
		nd, err := New(ctx, WithDatastore(ds))
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	return func() { closeAll(nodes) }
}

func startBare(_ context.Context, b *testing.B, n int) func() {
	hosts := make([]host.Host, 0, n)
	for range n {
		h, err := libp2p.New(
			libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	return func() {
		for _, h := range hosts {
			h.Close()
		}
	}
}

func closeAll(nodes []*Node) {
	for _, n := range nodes {
		n.Close()
	}
}

// benchSizes is UNODE_BENCH_NODES (comma-separated), or def.
func benchSizes(b *testing.B, def []int) []int {
	env := os.Getenv("UNODE_BENCH_NODES")
	if env == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			b.Fatalf("UNODE_BENCH_NODES: %q is not a positive count", f)
		}
		out = append(out, v)
	}
	return out
}
