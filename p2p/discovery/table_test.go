package discovery

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestTableRoundTrip(t *testing.T) {
	var peers []peer.AddrInfo
	for i := range MaxSavedPeers + 5 {
		var addrs []ma.Multiaddr
		for j := range MaxSavedAddrsPerPeer + 2 {
			addrs = append(addrs, ma.StringCast(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4100", i%250, j)))
		}
		peers = append(peers, peer.AddrInfo{ID: testPeer(t), Addrs: addrs})
	}
	peers = append(peers[:3], append([]peer.AddrInfo{{ID: testPeer(t)}}, peers[3:]...)...) // no address: left out
	b, n, err := encodeTable(peers, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != MaxSavedPeers || len(b) > maxSavedTableBytes {
		t.Fatalf("saved %d peers in %d bytes; want %d within %d", n, len(b), MaxSavedPeers, maxSavedTableBytes)
	}
	self := peers[0].ID
	got, err := decodeTable(b, self)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxSavedPeers-1 { // self left out
		t.Fatalf("read back %d peers", len(got))
	}
	for _, ai := range got {
		if len(ai.Addrs) != MaxSavedAddrsPerPeer || ai.ID == self {
			t.Fatalf("read back %v", ai)
		}
	}
}

// FuzzDecodeTable: the snapshot decoder never panics, and what it
// returns respects the bounds.
func FuzzDecodeTable(f *testing.F) {
	p := testPeer(f)
	b, _, err := encodeTable([]peer.AddrInfo{{ID: p, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}}}, time.Unix(1, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x02})                   // version 2
	f.Add([]byte{0xa2, 0x01, 0x01, 0x01, 0x01})       // duplicate key
	f.Add([]byte{0xa1, 0x03, 0x9f, 0xff})             // indefinite array
	f.Add([]byte{0xa2, 0x01, 0x01, 0x03, 0x81, 0xa0}) // a peer with nothing
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeTable(b, p)
		if err != nil {
			return
		}
		if len(got) > MaxSavedPeers {
			t.Fatalf("%d peers", len(got))
		}
		for _, ai := range got {
			if len(ai.Addrs) == 0 || len(ai.Addrs) > MaxSavedAddrsPerPeer || ai.ID == p {
				t.Fatalf("peer %v", ai)
			}
		}
	})
}

// TestRestartKnowsTable: a node restarted over the same datastore and
// key, with no bootstrap peer, dials the peers it saved and has them in
// its routing table again; one whose table was empty at Close keeps the
// snapshot of before. A snapshot that does not decode is ignored.
func TestRestartKnowsTable(t *testing.T) {
	nodes := startNetwork(t, 6)
	n := nodes[5]
	before := n.d.RoutingTable()
	n.close()
	n.start(t, fastConfig()) // no bootstrap
	waitFor(t, 20*time.Second, func() error {
		got := n.d.RoutingTable()
		k := 0
		for _, id := range got {
			if slices.Contains(before, id) {
				k++
			}
		}
		if k < min(3, len(before)) {
			return fmt.Errorf("%d of the %d saved peers back in the table", k, len(before))
		}
		return nil
	})
	n.close()

	// A node that met no one this run does not forget whom it knew.
	for _, x := range nodes[:5] {
		x.close()
	}
	n.start(t, fastConfig())
	n.close()
	saved, err := savedOf(n, t)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) == 0 {
		t.Fatal("a run that met no one erased the snapshot")
	}

	// A corrupt snapshot: the node starts all the same.
	if err := n.ds.Put(context.Background(), datastore.NewKey(dsPrefix).Child(tableKey(n.id(t))), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	n.start(t, fastConfig())
	if len(n.d.joinPeers()) != 0 {
		t.Fatalf("peers read from a corrupt snapshot: %v", n.d.joinPeers())
	}
	n.close()
}

// savedOf reads n's routing-table snapshot from its datastore.
func savedOf(n *testNode, t testing.TB) ([]peer.AddrInfo, error) {
	return loadTable(context.Background(), namespace.Wrap(n.ds, datastore.NewKey(dsPrefix)), n.id(t))
}

// TestPeriodicSave: the table is saved every SaveInterval, not only on
// Close: a node that crashes (never closes) is not a stranger either.
func TestPeriodicSave(t *testing.T) {
	nodes := startNetwork(t, 4)
	n := newTestNode(t)
	cfg := fastConfig(nodes[0].info())
	cfg.SaveInterval = 100 * time.Millisecond
	n.start(t, cfg)
	defer n.close()
	waitFor(t, 20*time.Second, func() error {
		saved, err := savedOf(n, t)
		if err != nil {
			return err
		}
		if len(saved) < 3 {
			return fmt.Errorf("%d peers saved", len(saved))
		}
		return nil
	})
}
