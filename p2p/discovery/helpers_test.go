package discovery

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// testNode is a host and its Discovery, with what a restart needs.
type testNode struct {
	h    host.Host
	d    *Discovery
	key  crypto.PrivKey
	ds   datastore.Batching
	addr string // listen address asked for
}

func (n *testNode) info() peer.AddrInfo { return peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()} }

func (n *testNode) close() {
	if n.d != nil {
		n.d.Close()
	}
	if n.h != nil {
		n.h.Close()
	}
	n.d, n.h = nil, nil
}

// newTestHost is a TCP-only loopback host (fast to start).
func newTestHost(t testing.TB, key crypto.PrivKey, listen string) host.Host {
	t.Helper()
	if listen == "" {
		listen = "/ip4/127.0.0.1/tcp/0"
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(listen),
		libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(),
		libp2p.DisableMetrics(), libp2p.ResourceManager(nil))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fastConfig shortens the intervals so that tests take seconds.
func fastConfig(boot ...peer.AddrInfo) Config {
	return Config{
		Bootstrap:           boot,
		BootstrapBackoff:    50 * time.Millisecond,
		MaxBootstrapBackoff: 400 * time.Millisecond,
		CheckInterval:       200 * time.Millisecond,
		SaveInterval:        time.Hour,
	}
}

// start makes n's host and Discovery (again, for a restart).
func (n *testNode) start(t testing.TB, cfg Config) {
	t.Helper()
	n.h = newTestHost(t, n.key, n.addr)
	d, err := New(context.Background(), n.h, n.ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.d = d
}

func newTestNode(t testing.TB) *testNode {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{key: k, ds: dssync.MutexWrap(datastore.NewMapDatastore())}
}

// network starts n nodes, node 0 alone and every other bootstrapped from
// node 0 only, and waits until each routing table is full enough.
func startNetwork(t testing.TB, n int) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = newTestNode(t)
		cfg := fastConfig()
		if i > 0 {
			cfg = fastConfig(nodes[0].info())
		}
		nodes[i].start(t, cfg)
	}
	t.Cleanup(func() {
		for _, x := range nodes {
			x.close()
		}
	})
	want := min(n-1, 8)
	waitFor(t, 20*time.Second, func() error {
		for i, x := range nodes {
			if s := x.d.kad.RoutingTable().Size(); s < want {
				return fmt.Errorf("node %d has %d peers in its table, want %d", i, s, want)
			}
		}
		return nil
	})
	return nodes
}

// waitFor polls f until it returns nil; the deadline only detects a hang.
func waitFor(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testKey(i int) cid.Cid { return OpenClusterKey(fmt.Sprintf("test-key-%d", i)) }
