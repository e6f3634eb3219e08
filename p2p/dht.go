package p2p

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/unode-dev/unode/p2p/discovery"
)

// The node's DHT (docs/protocol.md, "The DHT"): a discovery.Discovery
// over the node's host and datastore, started by New unless
// WithDHTMode(DHTOff). The node's host is then libp2p's routed host over
// it, so that a stream to a peer known only by its ID (an `at` target, a
// provider) first looks the peer's addresses up in the DHT.

// DHTMode is the mode of the node's DHT.
type DHTMode string

const (
	// DHTServer answers DHT queries and keeps records: New's default,
	// and daemons'.
	DHTServer DHTMode = "server"
	// DHTClient asks but does not answer: embedded nodes, nodes behind
	// NAT.
	DHTClient DHTMode = "client"
	// DHTAuto is a server until AutoNAT (WithNAT) finds the node is not
	// reachable from outside.
	DHTAuto DHTMode = "auto"
	// DHTOff runs no DHT: peers are reached only by address (Connect,
	// multiaddr targets). announce and DHT lookups fail with ErrNoDHT.
	DHTOff DHTMode = "off"
)

// ErrNoDHT is returned by what needs the DHT on a node without one
// (WithDHTMode(DHTOff)).
var ErrNoDHT = errors.New("this node runs no DHT (dht mode off)")

// DefaultReprovideInterval is how often the node announces again each
// key it provides: well within the 48 h that peers keep a provider
// record (discovery.DefaultProvideValidity), so a record outlives one
// missed round.
const DefaultReprovideInterval = 22 * time.Hour

// dhtConfig is what the DHT options set.
type dhtConfig struct {
	mode      DHTMode
	modeSet   bool // WithDHTMode was given (a shared group's nodes default to off)
	bootstrap []peer.AddrInfo
	prefix    protocol.ID
	reprovide time.Duration
	nat       NAT
	// tune, when set (tests), adjusts the discovery config last.
	tune func(*discovery.Config)
	// gate, when set (tests), replaces the DHT streams' admission limits.
	gate *gateLimits
}

// WithDHTMode sets the DHT's mode (default DHTServer).
func WithDHTMode(m DHTMode) Option {
	return func(c *config) error {
		switch m {
		case DHTServer, DHTClient, DHTAuto, DHTOff:
			c.dht.mode, c.dht.modeSet = m, true
			return nil
		}
		return fmt.Errorf("WithDHTMode: unknown mode %q (want server, client, auto or off)", m)
	}
}

// WithBootstrap sets the peers the node joins the DHT through:
// multiaddrs ending in /p2p/<peer id>. None (the default) is a node alone
// until others connect to it; one that is down is retried with backoff,
// never fatal.
func WithBootstrap(addrs ...string) Option {
	return func(c *config) error {
		infos, err := parseBootstrap(addrs)
		if err != nil {
			return fmt.Errorf("WithBootstrap: %w", err)
		}
		c.dht.bootstrap = infos
		return nil
	}
}

// parseBootstrap reads bootstrap multiaddrs, merging addresses of the
// same peer.
func parseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	var ms []ma.Multiaddr
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("bootstrap address %q: %w", a, err)
		}
		if _, id := peer.SplitAddr(m); id == "" {
			return nil, fmt.Errorf("bootstrap address %q must end in /p2p/<peer id>", a)
		}
		ms = append(ms, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(ms...)
	if err != nil {
		return nil, err
	}
	return infos, nil
}

// WithDHTProtocolPrefix sets the DHT's protocol prefix (default
// "/unode": the protocol "/unode/kad/1.0.0" of unode's own network).
// "/ipfs" joins the public IPFS DHT instead, with its bootstrap peers
// given by WithBootstrap (docs/config.md).
func WithDHTProtocolPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix == "" || prefix[0] != '/' {
			return fmt.Errorf("WithDHTProtocolPrefix: %q must start with /", prefix)
		}
		c.dht.prefix = protocol.ID(prefix)
		return nil
	}
}

// WithReprovideInterval sets how often each announced key is provided
// again (default DefaultReprovideInterval).
func WithReprovideInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("WithReprovideInterval: the interval must be positive")
		}
		c.dht.reprovide = d
		return nil
	}
}

// withDiscoveryConfig adjusts the discovery config (tests: short
// backoffs and intervals).
func withDiscoveryConfig(f func(*discovery.Config)) Option {
	return func(c *config) error {
		c.dht.tune = f
		return nil
	}
}

// withDHTGate replaces the admission limits of the DHT's streams (tests:
// small shares).
func withDHTGate(l gateLimits) Option {
	return func(c *config) error {
		c.dht.gate = &l
		return nil
	}
}

// dhtGateLimits are limits.go's bounds on the DHT's inbound streams.
var dhtGateLimits = gateLimits{MaxUnknownDHTStreamsPerPeer, MaxUnknownDHTStreams, MaxTrustedDHTStreamsPerPeer}

// NAT selects libp2p's NAT traversal. The zero value (the default)
// enables none of it: the node is reached at its listen addresses, and
// dials relayed addresses others announce (libp2p's default).
type NAT struct {
	// AutoNAT asks peers to dial back to learn whether the node is
	// reachable (which DHTAuto follows), and answers their requests
	// (rate-limited by libp2p).
	AutoNAT bool
	// HolePunching upgrades relayed connections to direct ones (DCUtR).
	HolePunching bool
	// PortMap asks the router for a port mapping (UPnP, NAT-PMP).
	PortMap bool
	// Relays are relays (multiaddrs ending in /p2p/<id>) on which the
	// node reserves a slot when it is not reachable, announcing the
	// relayed addresses: the relay client.
	Relays []string
	// Announce, when set, replaces the addresses the node announces
	// (identify, DHT records) with these.
	Announce []string
}

// WithNAT sets NAT traversal (see NAT).
func WithNAT(n NAT) Option {
	return func(c *config) error {
		if _, err := parseBootstrap(n.Relays); err != nil {
			return fmt.Errorf("WithNAT: relay: %w", err)
		}
		for _, a := range n.Announce {
			if _, err := ma.NewMultiaddr(a); err != nil {
				return fmt.Errorf("WithNAT: announce address %q: %w", a, err)
			}
		}
		c.dht.nat = n
		return nil
	}
}

// natOptions are the libp2p options of n.
func natOptions(n NAT) ([]libp2p.Option, error) {
	var opts []libp2p.Option
	if n.AutoNAT {
		opts = append(opts, libp2p.EnableNATService(), libp2p.EnableAutoNATv2())
	}
	if n.HolePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	if n.PortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	if len(n.Relays) > 0 {
		relays, err := parseBootstrap(n.Relays)
		if err != nil {
			return nil, err
		}
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(relays))
	}
	if len(n.Announce) > 0 {
		var announce []ma.Multiaddr
		for _, a := range n.Announce {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return nil, err
			}
			announce = append(announce, m)
		}
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	return opts, nil
}

// discoveryConfig is the discovery config of a node.
func (n *Node) discoveryConfig(c dhtConfig) discovery.Config {
	dc := discovery.Config{
		ProtocolPrefix: c.prefix,
		Bootstrap:      c.bootstrap,
		Logger:         n.log.With("component", "dht"),
		WrapHandler:    n.admitDHT,
	}
	switch c.mode {
	case DHTClient:
		dc.Mode = discovery.ModeClient
	case DHTAuto:
		dc.Mode = discovery.ModeAuto
	default:
		dc.Mode = discovery.ModeServer
	}
	if c.tune != nil {
		c.tune(&dc)
	}
	return dc
}

// Discovery is the node's DHT, or nil when it runs none (DHTOff).
func (n *Node) Discovery() *discovery.Discovery { return n.disc }

// ---- admission of the DHT's inbound streams ----

// admitDHT wraps the DHT's stream handler with the node's admission:
// each inbound /unode/kad stream takes a place at the DHT's gate (unknown
// peers a few each and a share in all, trusted peers more; a newcomer
// evicts the oldest unknown stream still waiting for its first message),
// is charged to the DHT service of the resource manager, must bring its
// first message within FirstFrameTimeout, and may not announce a message
// over MaxDHTMessageSize (kad-dht itself would read up to 4 MiB per
// message, held for as long as the sender trickles it).
func (n *Node) admitDHT(h network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		t := n.admitStream(n.dhtGate, s)
		if t == nil {
			return
		}
		defer t.close()
		if err := s.Scope().SetService(ServiceDHT); err != nil {
			n.log.Debug("refusing a DHT stream", "peer", s.Conn().RemotePeer().String(), "err", err)
			s.Reset()
			return
		}
		s.SetReadDeadline(time.Now().Add(n.admit.lim.firstFrame))
		h(&dhtStream{Stream: s, t: t, max: MaxDHTMessageSize})
	}
}

// dhtStream watches the varint length prefixes of the messages a peer
// sends on a DHT stream (kad-dht's framing): the first whole message
// ends the first-frame deadline and makes the stream no longer evictable,
// and a prefix over max resets the stream before kad-dht allocates the
// body.
type dhtStream struct {
	network.Stream
	t     *streamTicket
	max   uint64
	first bool   // the first message has arrived
	body  bool   // in a message body
	shift uint   // of the prefix's next 7 bits
	left  uint64 // prefix value so far, then body bytes still to come
}

var errDHTMessageSize = errors.New("DHT message over the size limit")

func (s *dhtStream) Read(p []byte) (int, error) {
	k, err := s.Stream.Read(p)
	if k > 0 {
		if werr := s.watch(p[:k]); werr != nil {
			s.Stream.Reset()
			return 0, werr
		}
	}
	return k, err
}

func (s *dhtStream) watch(b []byte) error {
	for len(b) > 0 {
		if !s.body {
			c := b[0]
			b = b[1:]
			if s.shift >= 63 {
				return errDHTMessageSize
			}
			s.left |= uint64(c&0x7f) << s.shift
			s.shift += 7
			if c >= 0x80 {
				continue
			}
			if s.left > s.max {
				return errDHTMessageSize
			}
			s.body, s.shift = true, 0
			if s.left > 0 {
				continue
			}
		}
		k := min(uint64(len(b)), s.left)
		s.left -= k
		b = b[k:]
		if s.left == 0 {
			s.body = false
			if !s.first {
				s.first = true
				s.t.arrived()
				// kad-dht's own idle timer (a minute) bounds the rest.
				s.Stream.SetReadDeadline(time.Time{})
			}
		}
	}
	return nil
}

var _ io.Reader = (*dhtStream)(nil)
