package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
)

// Hostile instances (group "hostile") play the attacks of the hardening
// work (p2p/*attack*_test.go, p2p/admission_test.go) against every
// honest instance, over the network, for as long as the honest ones
// work: the case then shows that honest calls still complete. Each
// hostile instance plays one behaviour (param behaviours):
//
//	slowloris  eval streams that send one byte of a frame and hold;
//	           bare streams that never negotiate a protocol
//	flood      channel messages to unguessed channels, acks wanted on
//	           half; evaluations that burn their whole fuel budget
//	bomb       a comparison of two towers of 2^33 shared leaves; a
//	           tower returned as the result; frames announcing more
//	           than MaxRequestSize
//
// A hostile instance is an unknown peer to the honest ones (they do not
// list it in their policy), so it gets a new repo's default sandbox.
var behaviours = []string{"slowloris", "flood", "bomb"}

// hostileTally counts what an attacker did, for its results.
type hostileTally struct {
	opened, reset, answered, sent, calls, refused atomic.Int64
}

// runHostile plays this instance's behaviour against every honest
// instance until the honest ones signal honest-done, then waits for the
// end of the case like everyone.
func (in *instance) runHostile(ctx context.Context) error {
	// The group's k-th instance plays the k-th of param behaviours
	// (cycling).
	kinds := strings.Split(stringParam(in.env, "behaviours", strings.Join(behaviours, ",")), ",")
	kind := strings.TrimSpace(kinds[int(in.ic.GroupSeq-1)%len(kinds)])
	in.env.RecordMessage("hostile instance %d: %s", in.seq, kind)
	if err := in.barrier(ctx, "ready", in.env.TestInstanceCount); err != nil {
		return err
	}
	actx, stop := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	var t hostileTally
	for _, r := range in.honest() {
		id, err := peer.Decode(r.ID)
		if err != nil {
			stop()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.attack(actx, kind, id, &t)
		}()
	}
	b, err := in.sync.Barrier(ctx, "honest-done", in.honestCount())
	if err != nil {
		stop()
		return err
	}
	err = <-b.C
	stop()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("waiting for the honest instances: %w", err)
	}
	in.point("hostile_streams_opened,behaviour="+kind, float64(t.opened.Load()))
	in.point("hostile_streams_reset,behaviour="+kind, float64(t.reset.Load()))
	in.point("hostile_streams_answered,behaviour="+kind, float64(t.answered.Load()))
	in.point("hostile_messages_sent,behaviour="+kind, float64(t.sent.Load()))
	in.point("hostile_calls,behaviour="+kind, float64(t.calls.Load()))
	in.point("hostile_calls_refused,behaviour="+kind, float64(t.refused.Load()))
	in.env.RecordMessage("hostile %s: %d streams opened, %d reset and %d answered with an error by the target, %d messages, %d calls (%d refused or failed)",
		kind, t.opened.Load(), t.reset.Load(), t.answered.Load(), t.sent.Load(), t.calls.Load(), t.refused.Load())
	return in.barrier(ctx, "end", in.env.TestInstanceCount)
}

// attack plays kind against target until ctx ends.
func (in *instance) attack(ctx context.Context, kind string, target peer.ID, t *hostileTally) {
	var wg gosync.WaitGroup
	// spawn runs k loops of f, each pausing every between two rounds:
	// the machine's two cores are shared by every instance, so the
	// attacks that cost the target CPU are paced to leave the honest
	// instances some (the hardening tests measure the full rates).
	spawn := func(k int, every time.Duration, f func()) {
		for range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					f()
					pause(ctx, every)
				}
			}()
		}
	}
	h := in.node.Host()
	switch kind {
	case "slowloris":
		// More streams than an unknown peer's share, so that the
		// target resets some and the attacker opens them again.
		spawn(3*p2p.MaxUnknownEvalStreamsPerPeer, 50*time.Millisecond, func() { t.hold(ctx, h, target, p2p.ProtocolEval, []byte{0x80}) })
		spawn(8, 50*time.Millisecond, func() { t.hold(ctx, h, target, "", nil) })
	case "flood":
		rate := intParam(in.env, "flood_rate", 200)
		spawn(1, 50*time.Millisecond, func() { t.floodChannels(ctx, h, target, rate) })
		spawn(1, 500*time.Millisecond, func() { in.hostileCall(ctx, target, "let loop n = loop (n + 1) in loop 0", t) })
	case "bomb":
		spawn(1, 500*time.Millisecond, func() { in.hostileCall(ctx, target, towerExpr(32, "A == B"), t) })
		spawn(1, 500*time.Millisecond, func() { in.hostileCall(ctx, target, towerExpr(40, "A"), t) })
		spawn(2, 50*time.Millisecond, func() {
			t.hold(ctx, h, target, p2p.ProtocolEval, binary.AppendUvarint(nil, uint64(4*p2p.MaxRequestSize)))
		})
	default:
		in.env.RecordMessage("unknown behaviour %q: idle", kind)
	}
	wg.Wait()
}

// hostileCall evaluates expr at target as an unknown peer.
func (in *instance) hostileCall(ctx context.Context, target peer.ID, expr string, t *hostileTally) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	t.calls.Add(1)
	if _, err := in.node.EvalAt(cctx, target.String(), expr, p2p.Budget{}); err != nil {
		t.refused.Add(1)
	}
}

// hold opens a stream (of proto, or a bare one), writes first and holds
// it until the target resets it or ctx ends.
func (t *hostileTally) hold(ctx context.Context, h interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
	Network() network.Network
}, target peer.ID, proto protocol.ID, first []byte) {
	var s network.Stream
	var err error
	if proto != "" {
		s, err = h.NewStream(ctx, target, proto)
	} else if conns := h.Network().ConnsToPeer(target); len(conns) > 0 {
		s, err = conns[0].NewStream(ctx)
	} else {
		pause(ctx, time.Second)
		return
	}
	if err != nil {
		pause(ctx, 200*time.Millisecond)
		return
	}
	defer s.Reset()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	t.opened.Add(1)
	if len(first) > 0 {
		if _, err := s.Write(first); err != nil {
			t.reset.Add(1)
			return
		}
	}
	// A read returns when the target resets the stream or answers (an
	// error reply: too large, too slow).
	var b [1]byte
	if _, err := s.Read(b[:]); ctx.Err() == nil {
		if err != nil {
			t.reset.Add(1)
		} else {
			t.answered.Add(1)
		}
	}
}

// floodChannels writes channel messages to random channel IDs at
// target, rate a second, acks wanted on every other.
func (t *hostileTally) floodChannels(ctx context.Context, h interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}, target peer.ID, rate int) {
	s, err := h.NewStream(ctx, target, p2p.ProtocolChan)
	if err != nil {
		pause(ctx, 200*time.Millisecond)
		return
	}
	defer s.Reset()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	t.opened.Add(1)
	go io.Copy(io.Discard, s) // the acknowledgements
	value, err := dag.EncodeValue(&dag.VInt{V: 42})
	if err != nil {
		return
	}
	var buf []byte
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	for seq := uint64(1); ctx.Err() == nil; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		id := make([]byte, 32) // channelIDLen: 16 random bytes and a 16-byte tag
		rand.Read(id)
		data, err := p2p.EncodeChanMessage(&p2p.ChanMessage{Seq: seq, Channel: id, Value: value, Ack: seq%2 == 0})
		if err != nil {
			return
		}
		buf = append(binary.AppendUvarint(buf[:0], uint64(len(data))), data...)
		if _, err := s.Write(buf); err != nil {
			t.reset.Add(1)
			return
		}
		t.sent.Add(1)
	}
}

// towerExpr is the hardening work's tower (p2p/attack_budget_test.go):
// a0 = 1, a_i = (a_{i-1}, a_{i-1}), b likewise, then expr on a<n> and
// b<n> (A and B in expr).
func towerExpr(n int, expr string) string {
	var b strings.Builder
	b.WriteString("let a0 = 1; b0 = 1")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "; a%d = (a%d, a%d); b%d = (b%d, b%d)", i, i-1, i-1, i, i-1, i-1)
	}
	b.WriteString(" in ")
	b.WriteString(strings.NewReplacer("A", "a"+strconv.Itoa(n), "B", "b"+strconv.Itoa(n)).Replace(expr))
	return b.String()
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
