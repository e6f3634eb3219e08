package discovery

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestIPGroupOf(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		exempt bool // loopback exempt
		group  string
		isEx   bool
	}{
		{"127.0.0.1", true, "", true},
		{"127.0.0.2", false, "host:127.0.0.2", false},
		{"10.1.2.3", true, "host:10.1.2.3", false},
		{"192.168.7.9", true, "host:192.168.7.9", false},
		{"fd00::1", true, "host:fd00::1", false},
		{"fe80::1", true, "host:fe80::1", false},
		{"8.8.8.8", true, "net:8.8.0.0", false},
		{"8.8.4.4", true, "net:8.8.0.0", false},
		{"12.1.2.3", true, "net:12.0.0.0", false}, // a legacy class A: its /8
	} {
		g, ex := ipGroupOf(net.ParseIP(tc.ip), tc.exempt)
		if g != tc.group || ex != tc.isEx {
			t.Errorf("ipGroupOf(%s, %v) = %q, %v; want %q, %v", tc.ip, tc.exempt, g, ex, tc.group, tc.isEx)
		}
	}
}

// TestRoutingTableBurst: a node that meets 30 fresh peer IDs from one
// address (127.0.0.2) and six honest peers from addresses of their own
// keeps every honest peer in its routing table and at most
// MaxRTPeersPerIPGroup of the burst.
func TestRoutingTableBurst(t *testing.T) {
	burst := 30
	if testing.Short() {
		burst = 12
	}
	target := newTestNode(t)
	target.addr = "/ip4/127.0.0.1/tcp/0"
	cfg := fastConfig()
	cfg.StrictLoopback = true
	target.start(t, cfg)
	defer target.close()
	var honest, sybils []*testNode
	for i := range 6 {
		n := newTestNode(t)
		n.addr = fmt.Sprintf("/ip4/127.0.0.%d/tcp/0", 10+i)
		n.start(t, fastConfig())
		defer n.close()
		honest = append(honest, n)
	}
	for range burst {
		n := newTestNode(t)
		n.addr = "/ip4/127.0.0.2/tcp/0"
		n.start(t, fastConfig())
		defer n.close()
		sybils = append(sybils, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The target dials them all (so that their connections come from
	// their own addresses), the burst first.
	for _, n := range append(append([]*testNode(nil), sybils...), honest...) {
		if err := target.h.Connect(ctx, n.info()); err != nil {
			t.Fatal(err)
		}
	}
	inTable := func(ns []*testNode) int {
		k := 0
		for _, n := range ns {
			if target.d.kad.RoutingTable().Find(n.h.ID()) != "" {
				k++
			}
		}
		return k
	}
	waitFor(t, 20*time.Second, func() error {
		if got := inTable(honest); got != len(honest) {
			return fmt.Errorf("%d of %d honest peers in the table (and %d of the burst)", got, len(honest), inTable(sybils))
		}
		return nil
	})
	if got := inTable(sybils); got > MaxRTPeersPerIPGroup || got == 0 {
		t.Fatalf("%d of the burst's %d peers in the table, want 1 to %d", got, burst, MaxRTPeersPerIPGroup)
	}
}
