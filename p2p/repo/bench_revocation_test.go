package repo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/p2p"
)

// The cost of the "not cached" rule across processes (docs/benchmarks.md,
// "Revocation check: pebble and PostgreSQL"): every foreign evaluation
// re-reads, for each token it presents, whether that token (and each one
// it was delegated from) was revoked, so that a revocation written by any
// node sharing the store takes effect on the others' next call. On pebble
// that is a read of the local LSM; on PostgreSQL a round trip to the
// server per token of the chain. Run with:
//
//	go test ./p2p/repo -run='^$' -bench=BenchmarkRevocationCheck
//
// Each round measures pebble then PostgreSQL (benchRounds rounds, named
// #01, #02 after the first), so that a change in the machine's load shows
// in both:
//
//   - read: one revocation read (capabilities.Store.IsRevoked of a token
//     not revoked), what the rule costs per token of a chain;
//   - check/chain=N: the check alone, as the callee makes it for every
//     call (capabilities.Policy.For with the store's revocation list,
//     what p2p's accessFor runs), for a token rooted at the node (N=1) and
//     one delegated twice (N=3: three revocations read);
//   - call/no-token and call/token: a whole remote evaluation of `1 + 1`
//     from a second node on loopback (its own in-memory store) to the
//     node on the store, without and with a token: next to everything a
//     call costs (the libp2p stream, the evaluation), the token adds the
//     check and a durable audit entry, written before the call answers (a
//     synced write on pebble, a committed transaction on PostgreSQL),
//     which costs more than the check.
func BenchmarkRevocationCheck(b *testing.B) {
	ctx := context.Background()
	stores := benchStores(b)
	type subject struct {
		name   string
		callee *p2p.Node
		grants *capabilities.Store
		self   peer.ID
		addr   string
	}
	caller, err := p2p.New(ctx, p2p.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { caller.Close() })
	middle, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		b.Fatal(err)
	}
	middleID, _ := peer.IDFromPrivateKey(middle)
	var subjects []subject
	for _, st := range stores {
		n, err := p2p.New(ctx, p2p.WithIdentity(st.r.Key), p2p.WithDatastore(st.r.Datastore),
			p2p.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		subjects = append(subjects, subject{name: st.name, callee: n, grants: n.Grants(), self: n.ID(),
			addr: n.Addrs()[0].String() + "/p2p/" + n.ID().String()})
	}

	sb := capabilities.PureSandbox(capabilities.DefaultBudget())
	expires := time.Now().Add(time.Hour)
	for range benchRounds {
		for _, s := range subjects {
			// Tokens of this subject: one rooted at it, issued to the
			// caller, and a chain of three ending at the caller.
			direct, err := s.callee.Grant(ctx, capabilities.Claims{Audience: caller.ID(), Sandbox: sb, Expires: expires}, "bench")
			if err != nil {
				b.Fatal(err)
			}
			root, err := s.callee.Grant(ctx, capabilities.Claims{Audience: middleID, Sandbox: sb, Expires: expires}, "bench")
			if err != nil {
				b.Fatal(err)
			}
			mid, err := root.Delegate(middle, capabilities.Claims{Audience: middleID, Sandbox: sb, Expires: expires})
			if err != nil {
				b.Fatal(err)
			}
			chain3, err := mid.Delegate(middle, capabilities.Claims{Audience: caller.ID(), Sandbox: sb, Expires: expires})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(s.name+"/read", func(b *testing.B) {
				for b.Loop() {
					if revoked, err := s.grants.IsRevoked(ctx, direct.ID()); err != nil || revoked {
						b.Fatalf("IsRevoked = %v, %v", revoked, err)
					}
				}
			})
			pol := capabilities.DefaultPolicy()
			for _, c := range []struct {
				n   int
				tok *capabilities.Token
			}{{1, direct}, {3, chain3}} {
				b.Run(fmt.Sprintf("%s/check/chain=%d", s.name, c.n), func(b *testing.B) {
					revoked := s.grants.Revoked(ctx)
					for b.Loop() {
						if _, problems := pol.For(s.self, caller.ID(), time.Now(), revoked, c.tok); len(problems) > 0 {
							b.Fatalf("token refused: %v", problems[0].Err)
						}
					}
				})
			}
			for _, c := range []struct {
				name string
				opts []p2p.CallOption
			}{{"no-token", nil}, {"token", []p2p.CallOption{p2p.WithTokens(direct)}}} {
				b.Run(fmt.Sprintf("%s/call/%s", s.name, c.name), func(b *testing.B) {
					for b.Loop() {
						res, err := caller.EvalAt(ctx, s.addr, "1 + 1", p2p.Budget{}, c.opts...)
						if err != nil {
							b.Fatal(err)
						}
						if res.Text != "2" {
							b.Fatalf("1 + 1 = %s", res.Text)
						}
					}
				})
			}
		}
	}
}
