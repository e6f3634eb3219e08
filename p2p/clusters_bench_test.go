package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/unode-dev/unode/capabilities"
)

// BenchmarkProvision: provision on a 20-member cluster (docs/benchmarks.md,
// "Clusters"), open and owned, on real hosts on loopback with a private
// DHT: node 0 is the bootstrap peer and the owned cluster's owner, nodes
// 1-20 the members, node 21 the asker.
//
//   - status-rtt: one status exchange with one member, the reference;
//   - warm: everything cached (within MemberStatusTTL): no message;
//   - warm-refresh: what it knows older than MemberStatusTTL, so it
//     confirms the member it picks with one status exchange; extra-ms is
//     its time beyond status-rtt;
//   - cold: a cluster never provisioned: a DHT lookup, then status and
//     ping (and, owned, the proof and the owner's revocation answer) of
//     every member; connections are already open (first-ms, reported by
//     every sub-benchmark, is the very first provision, dials included).
//
// msgs/op counts requests: DHT requests received by any node during the
// provision, status exchanges, ping measurements (3 pings on one stream
// each), proofs and revocation questions.
func BenchmarkProvision(b *testing.B) {
	const members = 20
	net := startClusterNet(b, members+2, nil)
	owner, asker := net.nodes[0], net.nodes[members+1]
	open, owned := OpenCluster("bench"), OwnedCluster(owner.ID(), "bench")
	ctx := context.Background()
	for _, m := range net.nodes[1 : members+1] {
		if err := m.JoinCluster(ctx, open.Name); err != nil {
			b.Fatal(err)
		}
		tok, err := owner.Grant(ctx, capabilities.Claims{Audience: m.ID(), Sandbox: capabilities.Sandbox{Members: []string{"bench"}}, Expires: time.Now().Add(time.Hour)}, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := m.JoinOwnedCluster(ctx, tok, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	waitJoined(b, open.Key(), net.nodes[1:members+1]...)
	waitJoined(b, owned.Key(), net.nodes[1:members+1]...)

	start := time.Now()
	if _, err := asker.Provision(ctx, open); err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	if ms, err := asker.ClusterMembers(ctx, open); err != nil || len(ms) != members {
		b.Fatalf("members: %d, %v", len(ms), err)
	}

	msgs := func() int64 {
		var n int64
		for _, x := range net.nodes {
			for _, v := range x.Discovery().Stats().Inbound {
				n += v
			}
		}
		c := &asker.clusters.counts
		return n + c.statuses.Load() + c.pings.Load() + c.proofs.Load() + c.revocations.Load()
	}
	forget := func() {
		s := asker.clusters
		s.mu.Lock()
		clear(s.views)
		s.lru.Init()
		s.mu.Unlock()
	}
	provision := func(b *testing.B, ref ClusterRef, before func()) {
		b.Helper()
		var sent int64
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer()
			if before != nil {
				before()
			}
			m0 := msgs()
			b.StartTimer()
			if _, err := asker.Provision(ctx, ref); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			sent += msgs() - m0
			b.StartTimer()
		}
		b.ReportMetric(float64(sent)/float64(b.N), "msgs/op")
		b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
	}
	rtt := func() time.Duration {
		const k = 200
		start := time.Now()
		for range k {
			if _, _, err := asker.exchangeStatus(ctx, net.nodes[1].ID()); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / k
	}

	b.Run("status-rtt", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := asker.exchangeStatus(ctx, net.nodes[1].ID()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(1, "msgs/op")
	})
	for _, c := range []struct {
		name string
		ref  ClusterRef
	}{{"open", open}, {"owned", owned}} {
		b.Run(c.name+"/warm", func(b *testing.B) {
			if _, err := asker.Provision(ctx, c.ref); err != nil {
				b.Fatal(err)
			}
			provision(b, c.ref, nil)
		})
		b.Run(c.name+"/warm-refresh", func(b *testing.B) {
			if _, err := asker.Provision(ctx, c.ref); err != nil {
				b.Fatal(err)
			}
			ref := rtt()
			provision(b, c.ref, func() { staleStatuses(asker, c.ref) })
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64((per-ref).Microseconds())/1000, "extra-ms")
		})
		b.Run(c.name+"/cold", func(b *testing.B) {
			provision(b, c.ref, forget)
		})
	}
}
