package discovery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
)

// The DHT's costs on 20 and 50 real hosts on loopback, every node
// bootstrapped from node 0 only (docs/scaling.md uses these figures):
//
//	go test -run '^$' -bench . -benchtime 50x ./p2p/discovery
//
// Each reports the DHT requests the whole network received per
// operation (msgs/op, and by type), counted by kad-dht's request hook on
// every node; background traffic is let settle before each measure.

// inboundTotals sums the requests every node received, by type.
func inboundTotals(nodes []*testNode) map[string]int64 {
	out := map[string]int64{}
	for _, n := range nodes {
		for k, v := range n.d.Stats().Inbound {
			out[k] += v
		}
	}
	return out
}

// settleNetwork waits until no node receives a request for a while
// (the refreshes that follow joining are over), within a bound.
func settleNetwork(nodes []*testNode) {
	sum := func() (s int64) {
		for _, v := range inboundTotals(nodes) {
			s += v
		}
		return s
	}
	last, quiet := sum(), 0
	for i := 0; i < 200 && quiet < 5; i++ {
		time.Sleep(100 * time.Millisecond)
		if s := sum(); s == last {
			quiet++
		} else {
			last, quiet = s, 0
		}
	}
}

// reportMessages reports the requests received since before, per op.
func reportMessages(b *testing.B, nodes []*testNode, before map[string]int64, ops int) {
	after := inboundTotals(nodes)
	var total int64
	for k, v := range after {
		d := v - before[k]
		total += d
		if d > 0 {
			b.ReportMetric(float64(d)/float64(ops), k+"/op")
		}
	}
	b.ReportMetric(float64(total)/float64(ops), "msgs/op")
}

// hopCounter measures a lookup's hops from kad-dht's query events: a
// peer queried before any response named it is one hop away; one first
// named by a peer h hops away is h+1. A lookup's hops are the most of
// any peer it queried.
type hopCounter struct {
	done  chan struct{}
	depth map[peer.ID]int
	max   int
}

func countHops(ctx context.Context) (context.Context, *hopCounter) {
	ctx, events := routing.RegisterForQueryEvents(ctx)
	hc := &hopCounter{done: make(chan struct{}), depth: map[peer.ID]int{}}
	go func() {
		defer close(hc.done)
		for e := range events {
			switch e.Type {
			case routing.SendingQuery:
				d, ok := hc.depth[e.ID]
				if !ok {
					d = 1
					hc.depth[e.ID] = d
				}
				hc.max = max(hc.max, d)
			case routing.PeerResponse:
				d := hc.depth[e.ID]
				for _, r := range e.Responses {
					if _, ok := hc.depth[r.ID]; !ok {
						hc.depth[r.ID] = d + 1
					}
				}
			}
		}
	}()
	return ctx, hc
}

// wait returns the hops once the lookup's context is canceled.
func (hc *hopCounter) wait() int {
	<-hc.done
	return hc.max
}

func BenchmarkDHT(b *testing.B) {
	for _, size := range []int{20, 50} {
		b.Run(fmt.Sprintf("nodes=%d", size), func(b *testing.B) {
			nodes := startNetwork(b, size)
			settleNetwork(nodes)
			ctx := context.Background()
			keyN := 0
			b.Run("Provide", func(b *testing.B) {
				settleNetwork(nodes)
				before := inboundTotals(nodes)
				hops := 0
				b.ResetTimer()
				for range b.N {
					keyN++
					octx, cancel := context.WithCancel(ctx)
					octx, hc := countHops(octx)
					err := nodes[rand.IntN(size)].d.Provide(octx, testKey(keyN))
					cancel()
					hops += hc.wait()
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reportMessages(b, nodes, before, b.N)
				b.ReportMetric(float64(hops)/float64(b.N), "hops/op")
			})
			// Keys provided once by a random node each, found by another.
			const keys = 32
			owner := make([]int, keys)
			for i := range keys {
				owner[i] = rand.IntN(size)
				if err := nodes[owner[i]].d.Provide(ctx, testKey(-1-i)); err != nil {
					b.Fatal(err)
				}
			}
			for _, limit := range []int{1, DefaultProviderLimit} {
				b.Run(fmt.Sprintf("FindProviders/limit=%d", limit), func(b *testing.B) {
					settleNetwork(nodes)
					before := inboundTotals(nodes)
					hops := 0
					b.ResetTimer()
					for i := range b.N {
						k := i % keys
						finder := (owner[k] + 1 + rand.IntN(size-1)) % size
						octx, cancel := context.WithCancel(ctx)
						octx, hc := countHops(octx)
						provs, err := nodes[finder].d.FindProviders(octx, testKey(-1-k), limit)
						cancel()
						hops += hc.wait()
						if err != nil || len(provs) != 1 || provs[0].ID != nodes[owner[k]].h.ID() {
							b.Fatalf("find %d from %d: %v %v", k, finder, provs, err)
						}
					}
					b.StopTimer()
					reportMessages(b, nodes, before, b.N)
					b.ReportMetric(float64(hops)/float64(b.N), "hops/op")
				})
			}
			// One routing-table refresh of one node (kad-dht refreshes
			// every bucket not queried within RefreshInterval, 10 min).
			b.Run("Refresh", func(b *testing.B) {
				settleNetwork(nodes)
				before := inboundTotals(nodes)
				b.ResetTimer()
				for i := range b.N {
					if err := <-nodes[i%size].d.kad.ForceRefresh(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reportMessages(b, nodes, before, b.N)
			})
		})
	}
}
