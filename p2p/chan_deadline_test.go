package p2p

import (
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/unode-dev/unode/eval"
)

// TestChanDeliverDeadlines checks the one timer that serves the
// deadlines of all the delivers to a peer (chanPeer.watch, expireAcks),
// against a receiver that takes messages and never answers: a deliver
// with a short deadline behind one with a long deadline fails at its
// own, not the other's; the long one fails at its own after the timer
// re-armed for it; a deliver after the timer went idle still gets a
// deadline; and nothing of them is left at the sender.
func TestChanDeliverDeadlines(t *testing.T) {
	a := newOpenNode(t)
	silent := freshHost(t, a)
	silent.SetStreamHandler(ProtocolChan, func(s network.Stream) { io.Copy(io.Discard, s) })
	to := &eval.Node{ID: silent.ID().String()}
	ch := &eval.Channel{ID: randomChannelID(), Node: silent.ID().String()}
	th := a.cb.newThread(Budget{})

	a.chans.deliverTimeout = DefaultDeliverTimeout // the long one
	long := a.net.Send(th, to, ch, eval.MakeInt(1), true)
	a.chans.deliverTimeout = 200 * time.Millisecond // the short one
	short := a.net.Send(th, to, ch, eval.MakeInt(2), true)
	if got := errText(t, short); got != "Timeout" {
		t.Fatalf("the short deliver: %s, want Timeout", got)
	}
	if _, _, done := long.Result(); done {
		t.Fatal("the long deliver ended with the short one's deadline")
	}
	// The timer fired for the short one and re-armed for the long one;
	// cut the long one's wait by failing it as its timer would.
	a.chans.mu.Lock()
	cp := a.chans.peers[silent.ID()]
	a.chans.mu.Unlock()
	if cp == nil {
		t.Fatal("no sender to the peer")
	}
	cp.mu.Lock()
	armed := cp.ackAt != 0
	for x := range cp.live {
		x.deadline -= DefaultDeliverTimeout
	}
	cp.mu.Unlock()
	if !armed {
		t.Fatal("the timer was not re-armed for the long deliver")
	}
	cp.expireAcks()
	if got := errText(t, long); got != "Timeout" {
		t.Fatalf("the long deliver: %s, want Timeout", got)
	}
	cp.mu.Lock()
	idle := cp.ackAt == 0 && len(cp.live) == 0
	cp.mu.Unlock()
	if !idle {
		t.Fatal("the timer is still armed with no deliver in flight")
	}
	// The timer is idle: a new deliver arms it again, for its deadline.
	third := a.net.Send(th, to, ch, eval.MakeInt(3), true)
	cp.mu.Lock()
	for x := range cp.live {
		if cp.ackAt == 0 || cp.ackAt > x.deadline {
			t.Errorf("a deliver after the timer went idle: the timer is armed for %v, after its deadline %v", cp.ackAt, x.deadline)
		}
	}
	cp.mu.Unlock()
	if got := errText(t, third); got != "Timeout" {
		t.Fatalf("a deliver after the timer went idle: %s, want Timeout", got)
	}
	waitFor(t, "the sender's state for the silent peer to go", func() bool {
		return a.chans.pending.Load() == 0
	})
	if st := a.ChanStats(); st.Failed != 3 || st.Delivered != 0 {
		t.Errorf("stats %+v, want 3 failed", st)
	}
}
