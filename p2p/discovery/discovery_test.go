package discovery

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestProvideFind: on ten nodes that know each other only through node 0,
// a key provided by node 9 is found by node 5, and node 9's addresses by
// peer ID alone.
func TestProvideFind(t *testing.T) {
	nodes := startNetwork(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	k := testKey(1)
	if err := nodes[9].d.Provide(ctx, k); err != nil {
		t.Fatal(err)
	}
	provs, err := nodes[5].d.FindProviders(ctx, k, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(provs) != 1 || provs[0].ID != nodes[9].h.ID() || len(provs[0].Addrs) == 0 {
		t.Fatalf("providers %v, want node 9 with addresses", provs)
	}
	// The provider itself is never among its own finds.
	if own, err := nodes[9].d.FindProviders(ctx, k, 0); err != nil || len(own) != 0 {
		t.Fatalf("node 9 finds %v, %v; want no other provider", own, err)
	}
	ai, err := nodes[3].d.FindPeer(ctx, nodes[8].h.ID())
	if err != nil || len(ai.Addrs) == 0 {
		t.Fatalf("FindPeer: %v %v", ai, err)
	}
}

// TestAlone: a node with no peers starts; Provide and FindProviders say
// ErrNoPeers rather than hang.
func TestAlone(t *testing.T) {
	n := newTestNode(t)
	n.start(t, fastConfig())
	defer n.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.d.Provide(ctx, testKey(1)); !errors.Is(err, ErrNoPeers) {
		t.Fatalf("Provide alone: %v, want ErrNoPeers", err)
	}
	if _, err := n.d.FindProviders(ctx, testKey(1), 0); !errors.Is(err, ErrNoPeers) {
		t.Fatalf("FindProviders alone: %v, want ErrNoPeers", err)
	}
}

// TestProviderFlood: a peer that announces many keys (ADD_PROVIDER for
// each) makes a node store at most its share of records; an honest
// peer's records are still stored there, and found.
func TestProviderFlood(t *testing.T) {
	target := newTestNode(t)
	cfg := fastConfig()
	cfg.MaxProviderRecordsPerPeer = 8
	target.start(t, cfg)
	defer target.close()
	flooder, honest, finder := newTestNode(t), newTestNode(t), newTestNode(t)
	for _, n := range []*testNode{flooder, honest, finder} {
		n.start(t, fastConfig(target.info()))
		defer n.close()
	}
	waitFor(t, 20*time.Second, func() error {
		if s := target.d.kad.RoutingTable().Size(); s < 3 {
			return fmt.Errorf("target table %d", s)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 40 {
		if err := flooder.d.Provide(ctx, testKey(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := honest.d.Provide(ctx, testKey(1000)); err != nil {
		t.Fatal(err)
	}
	// ADD_PROVIDER has no reply: wait for the target to handle them.
	waitFor(t, 20*time.Second, func() error {
		if got := target.d.ps.held(honest.h.ID()); got != 1 {
			return fmt.Errorf("the target holds %d records of the honest peer, want 1", got)
		}
		if got := target.d.ps.held(flooder.h.ID()); got != 8 {
			return fmt.Errorf("the target holds %d records of the flooder, want its share of 8", got)
		}
		return nil
	})
	// The flooder's other 32 were refused (ADD_PROVIDERs are handled in
	// order on its stream, so none is still to come).
	if got := target.d.ps.held(flooder.h.ID()); got != 8 {
		t.Fatalf("the target holds %d records of the flooder", got)
	}
	provs, err := finder.d.FindProviders(ctx, testKey(1000), 0)
	if err != nil || len(provs) != 1 || provs[0].ID != honest.h.ID() {
		t.Fatalf("finding the honest record: %v %v", provs, err)
	}
}
