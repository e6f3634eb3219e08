package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/unode-dev/unode/p2p"
)

// TestE2ESlowloris is issue 7's case 7 against real daemons: twelve fresh
// peer IDs (libp2p hosts in this test process) open 200 eval streams
// each at the owner's daemon, write one byte on each and hold them,
// opening a new one for each the daemon resets; then the same with bare
// streams that never negotiate a protocol. Meanwhile `unode eval --at`
// from a token holder's daemon, and from a daemon the owner does not
// know, keeps working. Before the fix the attackers held all 2,048 eval
// streams (then all 504 bare ones libp2p admits) and every call failed.
func TestE2ESlowloris(t *testing.T) {
	owner, holder, stranger := newNode(t, "owner"), newNode(t, "holder"), newNode(t, "stranger")
	do := owner.startDaemon()
	dh := holder.startDaemon()
	ds := stranger.startDaemon()
	ownerAddr := do.ready.Addrs[0]
	var g grantResult
	owner.json(&g, "grant", "--to", dh.ready.ID, "--allow", "pure", "--expires", "1h", "--note", "holder")

	m, err := ma.NewMultiaddr(ownerAddr)
	if err != nil {
		t.Fatal(err)
	}
	target, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*commandTimeout)
	defer cancel()
	const peers, streams = 12, 200
	hosts := make([]host.Host, peers)
	for i := range hosts {
		h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if err := h.Connect(ctx, *target); err != nil {
			t.Fatal(err)
		}
		hosts[i] = h
	}
	// Eval streams that send one byte; then bare streams that never
	// negotiate a protocol (libp2p's transient scope, shared by all).
	for _, bare := range []bool{false, true} {
		what := "eval streams after one byte"
		if bare {
			what = "bare streams"
		}
		actx, stopAttack := context.WithCancel(ctx)
		var held, peak, opened, reset atomic.Int64
		var wg sync.WaitGroup
		for _, h := range hosts {
			for range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for actx.Err() == nil {
						holdStream(actx, h, target.ID, bare, &held, &peak, &opened, &reset)
						select {
						case <-actx.Done():
						case <-time.After(250 * time.Millisecond):
						}
					}
				}()
			}
		}
		// Let the attack take what it can: until the count of held
		// streams stops growing for a second (bounded, so a broken test
		// cannot hang).
		best := int64(-1)
		for i, since := 0, 0; i < 300 && since < 10; i++ {
			time.Sleep(100 * time.Millisecond)
			if k := held.Load(); k > best {
				best, since = k, 0
			} else {
				since++
			}
		}

		const calls = 5
		var okHolder, okStranger int
		var failures []string
		for range calls {
			for _, c := range []struct {
				n    *node
				args []string
				ok   *int
			}{
				{holder, []string{"eval", "--at", ownerAddr, "--token", g.Token, "6 * 7"}, &okHolder},
				{stranger, []string{"eval", "--at", ownerAddr, "6 * 7"}, &okStranger},
			} {
				out, errs, code := c.n.run(c.args...)
				if code == 0 && out == "42\n" {
					*c.ok++
				} else {
					failures = append(failures, strings.TrimSpace(errs))
				}
			}
		}
		during := held.Load()
		stopAttack()
		wg.Wait()
		t.Logf("attack: %d peers × %d %s, renewed: held at most %d (%d during the calls); %d opened, %d reset by the daemon",
			peers, streams, what, best, during, opened.Load(), reset.Load())
		t.Logf("honest calls: token holder %d/%d, unknown peer %d/%d", okHolder, calls, okStranger, calls)
		if okHolder != calls || okStranger != calls {
			t.Errorf("calls under the slowloris (%s) failed: %q", what, failures)
		}
		// This process sees only its side: a stream counts as held once
		// it survived the probe, so a reset still in flight on a loaded
		// machine can make it count a few the daemon no longer holds;
		// twice the bound leaves room for that and still tells the fix
		// (the bound) from the old behaviour (all that libp2p admits).
		limit := int64(peers * p2p.MaxUnknownEvalStreamsPerPeer)
		if bare {
			limit = int64(peers * p2p.MaxUnknownNegotiatingPerPeer)
		}
		if best > 2*limit {
			t.Errorf("the attackers held %d %s; the daemon admits %d", best, what, limit)
		}
	}
	for _, d := range []*daemonProc{do, dh, ds} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
}

// holdStream opens an eval stream to target and writes the first byte of
// a varint and nothing more, or (bare) opens a stream and sends nothing,
// not even the protocol header; it holds the stream until the daemon
// resets it or ctx ends. held counts streams that survived a 1 s probe.
func holdStream(ctx context.Context, h host.Host, target peer.ID, bare bool, held, peak, opened, reset *atomic.Int64) {
	var s network.Stream
	var err error
	if !bare {
		s, err = h.NewStream(ctx, target, p2p.ProtocolEval)
	} else if conns := h.Network().ConnsToPeer(target); len(conns) > 0 {
		s, err = conns[0].NewStream(ctx)
	} else {
		return
	}
	if err != nil {
		return
	}
	defer s.Reset()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	opened.Add(1)
	if !bare {
		if _, err := s.Write([]byte{0x80}); err != nil {
			reset.Add(1)
			return
		}
	}
	buf := make([]byte, 1)
	// (Anything the node sends, such as its multistream header, is
	// read and dropped.)
	s.SetReadDeadline(time.Now().Add(time.Second))
	if err := drain(s, buf); !isTimeoutErr(err) {
		reset.Add(1)
		return
	}
	s.SetReadDeadline(time.Time{})
	if k := held.Add(1); k > peak.Load() {
		peak.Store(k)
	}
	drain(s, buf)
	held.Add(-1)
	if ctx.Err() == nil {
		reset.Add(1)
	}
}

// drain reads s until an error, which it returns.
func drain(s network.Stream, buf []byte) error {
	for {
		if _, err := s.Read(buf); err != nil {
			return err
		}
	}
}

func isTimeoutErr(err error) bool {
	t, ok := err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}
