package p2p

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/unode-dev/unode/p2p/discovery"
)

// fastDHT shortens the DHT's backoffs and checks so that the tests take
// seconds.
func fastDHT() Option {
	return withDiscoveryConfig(func(c *discovery.Config) {
		c.BootstrapBackoff = 50 * time.Millisecond
		c.MaxBootstrapBackoff = 300 * time.Millisecond
		c.CheckInterval = 200 * time.Millisecond
	})
}

// dhtNetSize is the acceptance tests' network: 15 nodes, 6 under -short.
func dhtNetSize() int {
	if testing.Short() {
		return 6
	}
	return 15
}

// startDHTNet starts n nodes: node 0 alone, every other one bootstrapped
// from node 0 only (no other connection made by hand), and waits until
// every routing table holds a few peers.
func startDHTNet(t testing.TB, n int, opts ...Option) []*Node {
	t.Helper()
	nodes := make([]*Node, n)
	nodes[0] = newTestNode(t, append([]Option{fastDHT()}, opts...)...)
	for i := 1; i < n; i++ {
		nodes[i] = newTestNode(t, append([]Option{fastDHT(), WithBootstrap(nodes[0].Addrs()[0].String())}, opts...)...)
	}
	waitTables(t, nodes, min(n-1, 4))
	return nodes
}

// waitTables waits until each node's routing table holds at least want
// peers.
func waitTables(t testing.TB, nodes []*Node, want int) {
	t.Helper()
	waitUntil(t, func() error {
		for i, x := range nodes {
			if got := len(x.Discovery().RoutingTable()); got < want {
				return fmt.Errorf("node %d has %d peers in its routing table, want %d", i, got, want)
			}
		}
		return nil
	})
}

// waitUntil polls f until it returns nil; the bound only detects a hang.
func waitUntil(t testing.TB, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// forget makes a know nothing of b: no connection, no address.
func forget(a, b *Node) {
	a.host.Network().ClosePeer(b.ID())
	a.host.Peerstore().ClearAddrs(b.ID())
}

// TestDHTAtByPeerID: in a network joined through one bootstrap node, a
// node calls another by peer ID alone, having neither a connection to it
// nor an address for it: the routed host looks the address up in the
// DHT.
func TestDHTAtByPeerID(t *testing.T) {
	nodes := startDHTNet(t, dhtNetSize())
	ctx := testCtx(t)
	from, to := nodes[len(nodes)-1], nodes[len(nodes)-2]
	forget(from, to)
	if got := from.host.Peerstore().Addrs(to.ID()); len(got) != 0 {
		t.Fatalf("the caller still has addresses %v", got)
	}
	res, err := from.EvalAt(ctx, to.ID().String(), "6 * 7", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "42" {
		t.Fatalf("got %s, want 42", res.Text)
	}
	// And from a program: `at` a Node made from the peer ID's text.
	forget(from, to)
	src := `match Node.fromText "` + to.ID().String() + `" with | Some n -> at n '(6 * 7) | None -> 0`
	r, err := from.Codebase().EvalSource(ctx, "<test>", src, Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "42" {
		t.Fatalf("at by peer ID from a program: %s, want 42", r.Text)
	}
}

// TestDHTNodeAlone (acceptance 6): a node with no bootstrap peers starts,
// evaluates, and serves a peer that connects to it.
func TestDHTNodeAlone(t *testing.T) {
	ctx := testCtx(t)
	alone := newTestNode(t, fastDHT())
	r, err := alone.Codebase().EvalSource(ctx, "<test>", "1 + 2", Budget{})
	if err != nil || r.Text != "3" {
		t.Fatalf("local work alone: %v %v", r, err)
	}
	// Publishing alone is fine: the announcement waits for peers.
	if _, err := alone.Codebase().AddWith(ctx, "a.u", []byte("double x = x * 2\n"), AddOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	other := newTestNode(t)
	if _, err := other.Connect(ctx, alone.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	res, err := other.EvalAt(ctx, alone.ID().String(), "10 - 3", Budget{})
	if err != nil || res.Text != "7" {
		t.Fatalf("served alone: %v %v", res, err)
	}
}

// syncBuffer is a log sink safe for the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDHTBootstrapDown (acceptance 6): a node whose only bootstrap peer
// is down starts and serves local work, logs the failed dials, and joins
// the network once the bootstrap peer comes up (on the same address):
// it then reaches, by peer ID alone, a node that joined through the
// bootstrap peer and that it never heard of before.
func TestDHTBootstrapDown(t *testing.T) {
	ctx := testCtx(t)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bootDS := dssync.MutexWrap(datastore.NewMapDatastore())
	// Where the bootstrap peer will listen: start it once to get a port.
	first := newTestNode(t, WithIdentity(key), WithDatastore(bootDS))
	bootAddr := first.Addrs()[0]
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	listen, _ := peerSplit(bootAddr.String())

	var logs syncBuffer
	joiner := newTestNode(t, fastDHT(), WithBootstrap(bootAddr.String()),
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	r, err := joiner.Codebase().EvalSource(ctx, "<test>", "2 * 21", Budget{})
	if err != nil || r.Text != "42" {
		t.Fatalf("local work with the bootstrap peer down: %v %v", r, err)
	}
	waitUntil(t, func() error {
		if n := strings.Count(logs.String(), "bootstrap peer unreachable"); n < 2 {
			return fmt.Errorf("%d failed dials logged, want 2 or more: %s", n, logs.String())
		}
		return nil
	})
	if got := len(joiner.Discovery().RoutingTable()); got != 0 {
		t.Fatalf("routing table of %d peers before the bootstrap peer is up", got)
	}

	// The bootstrap peer comes up, and so does a node that joins through it.
	boot := newTestNode(t, fastDHT(), WithIdentity(key), WithDatastore(bootDS), WithListenAddrs(listen))
	late := newTestNode(t, fastDHT(), WithBootstrap(boot.Addrs()[0].String()))
	waitUntil(t, func() error {
		if !slices.Contains(joiner.Discovery().RoutingTable(), boot.ID()) {
			return fmt.Errorf("the joiner's table %v lacks the bootstrap peer", joiner.Discovery().RoutingTable())
		}
		return nil
	})
	if !strings.Contains(logs.String(), "reached bootstrap peer") {
		t.Fatalf("no log of the join: %s", logs.String())
	}
	waitUntil(t, func() error {
		if !slices.Contains(boot.Discovery().RoutingTable(), late.ID()) {
			return fmt.Errorf("the bootstrap peer's table lacks the newcomer")
		}
		return nil
	})
	forget(joiner, late)
	res, err := joiner.EvalAt(ctx, late.ID().String(), "5 + 5", Budget{})
	if err != nil || res.Text != "10" {
		t.Fatalf("joined node reaching a newcomer by ID: %v %v", res, err)
	}
}

// peerSplit splits /.../p2p/<id> into the transport address and the ID.
func peerSplit(addr string) (string, string) {
	i := strings.LastIndex(addr, "/p2p/")
	return addr[:i], addr[i+len("/p2p/"):]
}

// TestDHTRestart (acceptance 7): a node that published a definition is
// restarted (a new Node over the same datastore and key, on a new port,
// with no bootstrap peer): it still knows its routing table (it rejoins
// through the peers it saved), it provides what it published again
// (with its new address), and a newcomer finds it as the provider and
// calls it by peer ID.
func TestDHTRestart(t *testing.T) {
	ctx := testCtx(t)
	nodes := startDHTNet(t, dhtNetSize()-1)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ds := dssync.MutexWrap(datastore.NewMapDatastore())
	p := newTestNode(t, fastDHT(), WithIdentity(key), WithDatastore(ds), WithBootstrap(nodes[1].Addrs()[0].String()))
	waitTables(t, []*Node{p}, 3)
	add, err := p.Codebase().AddWith(ctx, "lib.u", []byte("triple x = x * 3\n"), AddOptions{Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	root := publishedCID(t, add)
	waitProvided(t, p, root)
	before := p.Discovery().RoutingTable()
	oldAddr := p.Addrs()[0].String()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart: no bootstrap peer; a new port.
	p2 := newTestNode(t, fastDHT(), WithIdentity(key), WithDatastore(ds))
	if p2.Addrs()[0].String() == oldAddr {
		t.Fatal("the restarted node got its old port; the test needs a new one")
	}
	waitUntil(t, func() error {
		got := p2.Discovery().RoutingTable()
		known := 0
		for _, id := range got {
			if slices.Contains(before, id) {
				known++
			}
		}
		if known < min(3, len(before)) {
			return fmt.Errorf("after the restart the table holds %d of the %d peers it had", known, len(before))
		}
		return nil
	})
	waitProvided(t, p2, root)

	newcomer := newTestNode(t, fastDHT(), WithBootstrap(nodes[len(nodes)-1].Addrs()[0].String()))
	waitTables(t, []*Node{newcomer}, 2)
	waitUntil(t, func() error {
		provs, err := newcomer.Discovery().FindProviders(ctx, root, 0)
		if err != nil {
			return err
		}
		for _, ai := range provs {
			if ai.ID != p2.ID() {
				continue
			}
			for _, a := range ai.Addrs {
				if strings.HasPrefix(p2.Addrs()[0].String(), a.String()) {
					return nil
				}
			}
			return fmt.Errorf("the provider's addresses %v lack its new one %s", ai.Addrs, p2.Addrs()[0])
		}
		return fmt.Errorf("providers %v lack the restarted node", provs)
	})
	forget(newcomer, p2)
	res, err := newcomer.EvalAt(ctx, p2.ID().String(), "6 * 7", Budget{})
	if err != nil || res.Text != "42" {
		t.Fatalf("calling the restarted provider by ID: %v %v", res, err)
	}
	if r, err := p2.Codebase().EvalSource(ctx, "<test>", "triple 14", Budget{}); err != nil || r.Text != "42" {
		t.Fatalf("the restarted node's own code: %v %v", r, err)
	}
}

// publishedCID is the CID of the single definition an add published.
func publishedCID(t testing.TB, add *AddResult) cid.Cid {
	t.Helper()
	if len(add.Names) != 1 {
		t.Fatalf("added %v, want one definition", add.Names)
	}
	ref, err := parseRefText(add.Names[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	return ref.CID
}

// waitProvided waits until n has provided key since it started.
func waitProvided(t testing.TB, n *Node, key cid.Cid) {
	t.Helper()
	waitUntil(t, func() error {
		for _, a := range n.Announcements() {
			if a.Key.Equals(key) || bytes.Equal(a.Key.Hash(), key.Hash()) {
				if a.LastProvided.IsZero() {
					return fmt.Errorf("%s not provided yet (last error %v)", key, a.Err)
				}
				return nil
			}
		}
		return fmt.Errorf("%s is not among the announced keys", key)
	})
}

// TestDHTAnnounceWithdraw: announce provides a key and re-announces it
// every reprovide interval; withdraw stops that. A node without a DHT
// says ErrNoDHT.
func TestDHTAnnounceWithdraw(t *testing.T) {
	ctx := testCtx(t)
	nodes := startDHTNet(t, 4, WithReprovideInterval(150*time.Millisecond))
	n := nodes[3]
	key := discovery.OpenClusterKey("announce-test")
	if err := n.announce(ctx, key); err != nil {
		t.Fatal(err)
	}
	// Count the ADD_PROVIDERs the others receive: re-announcements keep
	// coming while the key is announced.
	adds := func() int64 {
		var s int64
		for _, x := range nodes[:3] {
			s += x.Discovery().Stats().Inbound["ADD_PROVIDER"]
		}
		return s
	}
	waitProvided(t, n, key)
	start := adds()
	waitUntil(t, func() error {
		if got := adds(); got < start+2*3 {
			return fmt.Errorf("%d ADD_PROVIDERs since the first announce, want two more rounds", got-start)
		}
		return nil
	})
	if err := n.withdraw(ctx, key); err != nil {
		t.Fatal(err)
	}
	// Let a provide in flight finish, then nothing more comes.
	time.Sleep(300 * time.Millisecond)
	after := adds()
	time.Sleep(600 * time.Millisecond)
	if got := adds(); got != after {
		t.Fatalf("%d ADD_PROVIDERs after withdraw", got-after)
	}
	if len(n.Announcements()) != 0 {
		t.Fatalf("announcements after withdraw: %v", n.Announcements())
	}

	off := newTestNode(t, WithDHTMode(DHTOff))
	if err := off.announce(ctx, key); err != ErrNoDHT {
		t.Fatalf("announce without a DHT: %v, want ErrNoDHT", err)
	}
	if _, err := off.findProviders(ctx, key, 1); err != ErrNoDHT {
		t.Fatalf("findProviders without a DHT: %v, want ErrNoDHT", err)
	}
	if off.Discovery() != nil {
		t.Fatal("a node with DHT off has a Discovery")
	}
}
