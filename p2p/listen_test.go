package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

// TestListenFailures is issue 7's case 10 in process: New fails with a
// *ListenError naming the address when it cannot listen on one of its
// addresses, even when it could listen on the others (libp2p alone
// succeeds then, on QUIC only), and a second node cannot share a TCP
// port with the first (SO_REUSEPORT is off).
func TestListenFailures(t *testing.T) {
	ctx := context.Background()
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", held.Addr().(*net.TCPAddr).Port)

	_, err = New(ctx, WithListenAddrs("/ip4/127.0.0.1/udp/0/quic-v1", taken))
	var le *ListenError
	if !errors.As(err, &le) || le.Addr != taken || !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("New with a taken TCP port beside a free QUIC one: %v; want a ListenError for %s", err, taken)
	}

	a, err := New(ctx, WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var port string
	for _, x := range a.Host().Network().ListenAddresses() {
		if p, err := x.ValueForProtocol(ma.P_TCP); err == nil {
			port = p
		}
	}
	second := "/ip4/127.0.0.1/tcp/" + port
	b, err := New(ctx, WithListenAddrs(second))
	if err == nil {
		b.Close()
		t.Fatalf("a second node listens on %s beside the first", second)
	}
	if !errors.As(err, &le) || le.Addr != second || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second node on the first's port: %v", err)
	}

	if _, err := New(ctx, WithListenAddrs("/ip4/127.0.0.1/tcp/notaport")); !errors.As(err, &le) {
		t.Errorf("malformed address: %v", err)
	}
}

// TestListensAs: how requested listen addresses match what the
// transports listen on.
func TestListensAs(t *testing.T) {
	for _, c := range []struct {
		want, got string
		ok        bool
	}{
		{"/ip4/0.0.0.0/tcp/4100", "/ip4/0.0.0.0/tcp/4100", true},
		{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/tcp/39211", true},
		{"/ip4/0.0.0.0/tcp/4100", "/ip4/0.0.0.0/tcp/39211", false},
		{"/ip4/0.0.0.0/udp/4100/quic-v1", "/ip4/0.0.0.0/udp/4100/quic-v1", true},
		{"/ip4/0.0.0.0/udp/4100/quic-v1", "/ip4/0.0.0.0/tcp/4100", false},
		{"/ip4/127.0.0.1/tcp/0", "/ip4/10.0.0.1/tcp/5000", false},
		{"/ip6/::/tcp/0", "/ip6/::1/tcp/5000", true},
	} {
		if got := listensAs(mustAddr(t, c.want), mustAddr(t, c.got)); got != c.ok {
			t.Errorf("listensAs(%s, %s) = %v", c.want, c.got, got)
		}
	}
}

func mustAddr(t *testing.T, s string) ma.Multiaddr {
	t.Helper()
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
