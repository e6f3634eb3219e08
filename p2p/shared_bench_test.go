package p2p

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// The first remote call between two fresh nodes, for a closure of 100
// definitions (docs/benchmarks.md, "First call: shared store vs separate
// stores"), three ways, alternating within every round (the order
// rotates from round to round) so that all three see the same machine:
//
//   - group: two members of one Shared group (they know each other
//     share the store before any message);
//   - datastore: two nodes on one datastore value that have exchanged
//     nothing (as two daemons on one PostgreSQL store): the caller lists
//     the closure by digest prefix, the callee checks the caller's store
//     proof and skips sync;
//   - separate: two nodes on their own stores: the callee asks for the
//     100 blocks and the caller sends them.
//
// Each round starts fresh nodes and adds the code at the caller (on a
// shared store the callee then holds it too), connects the two hosts
// without a status exchange (and waits for libp2p's identify), and times
// the call alone: the connection's handshakes, the same for the three,
// are reported on their own.
// Reported per kind: the bytes on the eval stream (both directions,
// framing included), its round trips, the blocks sent, the median time;
// and the separate/shared time ratios, the median of each round's. Run
// with:
//
//	go test ./p2p -run='^$' -bench=FirstCallSharedStore -benchtime=30x
func BenchmarkFirstCallSharedStore(b *testing.B) {
	ctx := context.Background()
	src, top := closureSource(100, 10, true)
	body := "List.sum [" + strings.Join(top, " 1, ") + " 1]"
	kinds := []struct {
		name string
		pair func() (from, to *Node, done func())
	}{
		{"group", func() (*Node, *Node, func()) {
			g, err := NewShared(ctx, memDatastore(), SharedConfig{Nodes: 2})
			if err != nil {
				b.Fatal(err)
			}
			from, to := newSharedNode(b, g), newSharedNode(b, g)
			return from, to, func() { from.Close(); to.Close(); g.Close() }
		}},
		{"datastore", func() (*Node, *Node, func()) {
			ds := memDatastore()
			from, to := newTestNode(b, WithDatastore(ds)), newTestNode(b, WithDatastore(ds))
			return from, to, func() { from.Close(); to.Close() }
		}},
		{"separate", func() (*Node, *Node, func()) {
			from, to := newTestNode(b), newTestNode(b)
			return from, to, func() { from.Close(); to.Close() }
		}},
	}
	type figures struct {
		bytes, rounds, blocks int64
		calls, connects       []time.Duration // one per round
	}
	got := make([]figures, len(kinds))
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		for j := range kinds {
			k := (i + j) % len(kinds)
			from, to, done := kinds[k].pair()
			addSource(b, from, src)
			t, err := compileExpr(ctx, from, body)
			if err != nil {
				b.Fatal(err)
			}
			thunk := &dag.VClosure{Code: &dag.Delay{Body: t}}
			t0 := time.Now()
			if err := from.host.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.host.Addrs()}); err != nil {
				b.Fatal(err)
			}
			// A first stream waits for libp2p's identify exchange: done
			// here, with a protocol nobody speaks, so that it is counted
			// with the connection rather than the call.
			if s, err := from.host.NewStream(ctx, to.ID(), "/unode-bench/identify-wait"); err == nil {
				s.Reset()
			}
			t1 := time.Now()
			b.StartTimer()
			res, err := from.callThunk(ctx, to.ID(), nil, thunk, Budget{})
			b.StopTimer()
			t2 := time.Now()
			if err != nil {
				b.Fatalf("%s: %v", kinds[k].name, err)
			}
			f := &got[k]
			f.bytes += res.wire.out + res.wire.in
			f.rounds += int64(res.sync.RoundTrips) + 1
			f.blocks += int64(res.sync.Blocks)
			f.calls = append(f.calls, t2.Sub(t1))
			f.connects = append(f.connects, t1.Sub(t0))
			done()
		}
	}
	// Medians, and the median of the ratios within a round: the three
	// calls of a round run back to back, so the machine's load, which
	// shifts from round to round, cancels in their ratio.
	n := float64(b.N)
	for k, f := range got {
		name := kinds[k].name
		b.ReportMetric(float64(f.bytes)/n, name+"-bytes")
		b.ReportMetric(float64(f.rounds)/n, name+"-round-trips")
		b.ReportMetric(float64(f.blocks)/n, name+"-blocks")
		b.ReportMetric(float64(median(f.calls))/1e3, name+"-median-µs")
		b.ReportMetric(float64(median(f.connects))/1e3, name+"-connect-median-µs")
	}
	ratio := func(a, c int) float64 {
		r := make([]time.Duration, b.N)
		for i := range r {
			r[i] = time.Duration(float64(got[a].calls[i]) / float64(got[c].calls[i]) * 1e6)
		}
		return float64(median(r)) / 1e6
	}
	b.ReportMetric(ratio(2, 0), "separate/group")
	b.ReportMetric(ratio(2, 1), "separate/datastore")
	b.ReportMetric(0, "ns/op")
}

// median of ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
