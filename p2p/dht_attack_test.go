package p2p

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/unode-dev/unode/p2p/discovery"
)

// Attacks on the DHT's inbound streams (/unode/kad/1.0.0): the defence
// is admitDHT (dht.go) on top of the resource manager's DHT service.

var protocolKad = discovery.DefaultProtocolPrefix + "/kad/1.0.0"

// dhtStreamCount counts the DHT streams unknown peers hold at n.
func dhtStreamCount(n *Node) func() int64 {
	return func() int64 {
		u, _ := n.dhtGate.counts()
		return int64(u)
	}
}

// TestDHTStreamSlowloris: a fresh peer that opens many DHT streams and
// never finishes a message holds at most MaxUnknownDHTStreamsPerPeer of
// them; a crowd of fresh peers holds at most the unknown share, and an
// honest peer's lookups through the node still succeed (its streams
// evict the oldest that never sent a whole message).
func TestDHTStreamSlowloris(t *testing.T) {
	lim := gateLimits{unknownPerPeer: 4, unknown: 16, trustedPerPeer: 32}
	target := newTestNode(t, fastDHT(), withDHTGate(lim))
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()

	one := startSlowloris(ctx, freshHosts(t, target, 1), target.ID(), protocolKad, 12, []byte{0x0a})
	if got := settle(one.held.Load); got > int64(lim.unknownPerPeer) {
		t.Fatalf("one fresh peer holds %d DHT streams, want at most %d", got, lim.unknownPerPeer)
	}
	crowd := startSlowloris(ctx, freshHosts(t, target, 8), target.ID(), protocolKad, 4, []byte{0x0a})
	if got := settle(func() int64 { return one.held.Load() + crowd.held.Load() }); got > int64(lim.unknown) {
		t.Fatalf("fresh peers hold %d DHT streams, want at most %d", got, lim.unknown)
	}
	// An honest (and unknown) DHT peer joins through the target and
	// finds a key another one provided.
	a := newTestNode(t, fastDHT(), WithBootstrap(target.Addrs()[0].String()))
	b := newTestNode(t, fastDHT(), WithBootstrap(target.Addrs()[0].String()))
	waitTables(t, []*Node{a, b}, 1)
	key := discovery.OpenClusterKey("slowloris")
	if err := a.Discovery().Provide(ctx, key); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() error {
		provs, err := b.Discovery().FindProviders(ctx, key, 1)
		if err != nil {
			return err
		}
		if len(provs) != 1 || provs[0].ID != a.ID() {
			return context.DeadlineExceeded
		}
		return nil
	})
	if got := dhtStreamCount(target)(); got > int64(lim.unknown) {
		t.Fatalf("the target's gate counts %d unknown DHT streams", got)
	}
	cancel()
	one.wg.Wait()
	crowd.wg.Wait()
}

// TestDHTStreamFirstMessageDeadline: a DHT stream whose first message
// does not arrive whole within the first-frame deadline is reset.
func TestDHTStreamFirstMessageDeadline(t *testing.T) {
	target := newTestNode(t, withAdmissionLimits(func(l *admissionLimits) { l.firstFrame = 200 * time.Millisecond }))
	h := freshHost(t, target)
	s, err := h.NewStream(testCtx(t), target.ID(), protocolKad)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if _, err := s.Write([]byte{0x0a, 0x08}); err != nil { // 10 bytes announced, 1 sent
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(20 * time.Second)) // detects a hang only
	if err := drain(s, make([]byte, 64)); isTimeout(err) {
		t.Fatal("the stream was held past its first-message deadline")
	}
}

// TestDHTStreamOversizedMessage: a DHT message announced over
// MaxDHTMessageSize resets the stream before its body is read (kad-dht
// would otherwise allocate up to 4 MiB for it).
func TestDHTStreamOversizedMessage(t *testing.T) {
	target := newTestNode(t)
	h := freshHost(t, target)
	for _, size := range []uint64{MaxDHTMessageSize + 1, 4 << 20} {
		s, err := h.NewStream(testCtx(t), target.ID(), protocolKad)
		if err != nil {
			t.Fatal(err)
		}
		prefix := binary.AppendUvarint(nil, size)
		if _, err := s.Write(prefix); err != nil {
			t.Fatal(err)
		}
		s.SetReadDeadline(time.Now().Add(20 * time.Second)) // detects a hang only
		if err := drain(s, make([]byte, 64)); isTimeout(err) {
			t.Fatalf("a message of %d bytes announced: the stream was kept", size)
		}
		s.Reset()
	}
	// A well-formed exchange still works: the node answers its FIND_NODE
	// (another node joins through it).
	other := newTestNode(t, fastDHT(), WithBootstrap(target.Addrs()[0].String()))
	waitTables(t, []*Node{other}, 1)
}
