package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	routedhost "github.com/libp2p/go-libp2p/p2p/host/routed"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	webrtc "github.com/libp2p/go-libp2p/p2p/transport/webrtc"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	webtransport "github.com/libp2p/go-libp2p/p2p/transport/webtransport"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/unode-dev/unode/dag"
)

// Many nodes in one process on one store (docs/scaling.md, "What a node
// costs"). A Shared is a group of nodes that share one datastore value,
// and with it everything that depends only on the store or on nothing:
//
//   - one dag.Store: its block cache and its digest-prefix index (which
//     separate Stores over one datastore would each build, and which
//     would miss the blocks another Store wrote);
//   - the closure summaries of foreign code (linkCache: a complete walk
//     of a root over the store, which blocks never change);
//   - the decode cache (keyed by exact bytes, whatever the node);
//   - one libp2p resource manager, its stream and connection counts
//     sized for the group (sharedLimits), its memory and file
//     descriptors the process's, as they are;
//   - who the members are: a member finds another by peer ID with no DHT
//     (groupRouting), and knows it shares the store before the first
//     call (peerBook.storeOf), so calls between members never list
//     dependencies, ask for blocks or send any. Membership is proof
//     enough: a member is found by its peer ID, which every connection
//     authenticates; members also prove sharing on the wire like any
//     node (peers.go, provenStore), with the store's secret they hold.
//
// Per node stay what is the node's own: its key and libp2p host (peer ID,
// connections, peerstore), its admission gates and trust set (what one
// node trusts another need not), its policy and grants, peer records,
// channels, clusters and workers.
//
// What can wait is not started: a member runs no DHT unless WithDHTMode
// asks for one (members find each other through the group; a node that
// should be found from outside asks for DHTServer or DHTClient), and
// builds only the TCP transport, plus those its listen addresses name.
type Shared struct {
	ds      datastore.Batching
	store   *dag.Store
	storeID string
	links   *linkCache
	decoded *decodeCache
	rm      network.ResourceManager // libp2p's own; closed by Close
	max     int

	mu      sync.Mutex
	members map[peer.ID]*Node
	closed  bool
}

// SharedConfig sizes a Shared.
type SharedConfig struct {
	// Nodes is the most members the group admits at once, and what its
	// resource manager's counts are scaled for (default
	// DefaultSharedNodes).
	Nodes int
}

// ErrSharedFull and ErrSharedClosed are New's errors for a node that
// cannot join its group.
var (
	ErrSharedFull   = errors.New("the shared group has as many nodes as it was sized for (SharedConfig.Nodes)")
	ErrSharedClosed = errors.New("the shared group is closed")
)

// NewShared makes a group of nodes over ds. ctx bounds reading (or
// creating) the StoreID and the store's secret. The datastore stays the
// caller's; Close the group after its nodes.
func NewShared(ctx context.Context, ds datastore.Batching, c SharedConfig) (*Shared, error) {
	if ds == nil {
		return nil, errors.New("NewShared: nil datastore")
	}
	if c.Nodes < 0 || c.Nodes > MaxSharedNodes {
		return nil, fmt.Errorf("NewShared: %d nodes (between 1 and %d)", c.Nodes, MaxSharedNodes)
	}
	if c.Nodes == 0 {
		c.Nodes = DefaultSharedNodes
	}
	store := dag.NewStore(ds)
	id, err := store.StoreID(ctx)
	if err != nil {
		return nil, err
	}
	// Members prove to nodes outside the group that share the datastore
	// (another process on the same PostgreSQL store) with the secret,
	// like any node; read here so that a store without one fails now.
	if _, err := store.StoreSecret(ctx); err != nil {
		return nil, err
	}
	rm, err := newResourceManager(c.Nodes)
	if err != nil {
		return nil, err
	}
	return &Shared{
		ds:      ds,
		store:   store,
		storeID: id,
		links:   newLinkCache(linkCacheEntries),
		decoded: newDecodeCache(),
		rm:      rm.ResourceManager,
		max:     c.Nodes,
		members: map[peer.ID]*Node{},
	}, nil
}

// WithShared makes the node a member of s: it uses s's datastore (so
// WithDatastore may be left out, or must name the same one) and what s
// shares. See Shared.
func WithShared(s *Shared) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("WithShared: nil group")
		}
		c.shared = s
		return nil
	}
}

// StoreID is the identity of the group's datastore.
func (s *Shared) StoreID() string { return s.storeID }

// Len is the number of members (nodes started and not yet closed).
func (s *Shared) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}

// Close closes the group's resource manager; New refuses new members from
// then on. It fails while members are still open: their hosts use it.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if len(s.members) > 0 {
		return fmt.Errorf("closing the shared group: %d nodes are still open", len(s.members))
	}
	s.closed = true
	return s.rm.Close()
}

// configure applies the group to a node's config (New, after the
// options): the group's datastore, and no DHT unless one was asked for.
func (s *Shared) configure(c *config) error {
	if c.ds != nil && !sameDatastore(c.ds, s.ds) {
		return errors.New("WithShared: WithDatastore names another datastore than the group's")
	}
	c.ds = s.ds
	if !c.dht.modeSet {
		c.dht.mode = DHTOff
	}
	return nil
}

// sameDatastore compares two datastore values without panicking on
// dynamic types that are not comparable.
func sameDatastore(a, b datastore.Batching) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// codebase is a member's codebase: its own (its here, host and
// announcement hooks are the node's) over the group's dag.Store.
func (s *Shared) codebase() *Codebase { return &Codebase{store: s.store} }

// nodeRM is a member's resource manager: the group's libp2p one, behind
// the member's own negotiation gate (bound to its trust set by New), and
// not closed with the member's host.
func (s *Shared) nodeRM() *admittingRM {
	return &admittingRM{ResourceManager: unclosedRM{s.rm}, gate: newStreamGate(negotiatingLimits)}
}

// unclosedRM is a resource manager that its users may not close: libp2p
// hosts close theirs on Close, and the group's outlives each member.
type unclosedRM struct{ network.ResourceManager }

func (unclosedRM) Close() error { return nil }

var _ network.ResourceManager = unclosedRM{}

// resourceManager is the node's resource manager: its own, or its group's.
func (c *config) resourceManager() (*admittingRM, error) {
	if c.shared == nil {
		return newResourceManager(1, c.rcmgrOptions()...)
	}
	return c.shared.nodeRM(), nil
}

// attach gives a new member what the group shares, before its handlers
// run. nil s (no group) does nothing.
func (s *Shared) attach(n *Node) {
	if s == nil {
		return
	}
	n.shared = s
	n.links = s.links
	n.decoded = s.decoded
	n.peers.storeOf = s.storeOf
}

// register makes n a member, found by the others by its ID, once it
// started; nil s does nothing. It wraps n's host so that a stream to a
// member known only by its ID reaches its listen addresses, and any
// other peer is looked up in n's DHT, if it runs one.
func (s *Shared) register(n *Node) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSharedClosed
	}
	if len(s.members) >= s.max {
		return ErrSharedFull
	}
	s.members[n.id] = n
	var fallback routing.PeerRouting
	if n.disc != nil {
		fallback = n.disc
	}
	n.host = routedhost.Wrap(n.host, &groupRouting{s: s, fallback: fallback})
	return nil
}

// leave removes n from the group (Close).
func (s *Shared) leave(n *Node) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.members[n.id] == n {
		delete(s.members, n.id)
	}
}

// member returns the open member with ID p.
func (s *Shared) member(p peer.ID) (*Node, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[p]
	return m, ok
}

// storeOf is the StoreID of p if it is a member, or "", taken as proven
// (peerRecord.same). A member's ID is its libp2p identity, which the
// secure channel authenticates on every connection, so a stream to p
// reaches the member that shares the store, and no one else can speak
// as p.
func (s *Shared) storeOf(p peer.ID) string {
	if _, ok := s.member(p); ok {
		return s.storeID
	}
	return ""
}

// groupRouting finds the addresses of members by peer ID, and asks the
// node's DHT (if any) about the others.
type groupRouting struct {
	s        *Shared
	fallback routing.PeerRouting
}

func (r *groupRouting) FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error) {
	if m, ok := r.s.member(p); ok {
		if addrs := m.host.Network().ListenAddresses(); len(addrs) > 0 {
			return peer.AddrInfo{ID: p, Addrs: m.host.Addrs()}, nil
		}
	}
	if r.fallback != nil {
		return r.fallback.FindPeer(ctx, p)
	}
	return peer.AddrInfo{}, routing.ErrNotFound
}

// sharedTransports are a member's transports: TCP always (to dial out
// and be dialed; without SO_REUSEPORT, see New), and the others only
// when a listen address names them, since each costs memory and
// goroutines per host (QUIC's and WebRTC's UDP machinery above all)
// whether used or not.
func sharedTransports(listen []ma.Multiaddr) []libp2p.Option {
	var quicT, ws, wt, rtc bool
	for _, a := range listen {
		for _, p := range a {
			switch p.Code() {
			case ma.P_QUIC_V1:
				quicT = true
			case ma.P_WEBTRANSPORT:
				wt = true
			case ma.P_WS, ma.P_WSS:
				ws = true
			case ma.P_WEBRTC_DIRECT:
				rtc = true
			}
		}
	}
	opts := []libp2p.Option{libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport())}
	if quicT || wt {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if ws {
		opts = append(opts, libp2p.Transport(websocket.New))
	}
	if wt {
		opts = append(opts, libp2p.Transport(webtransport.New))
	}
	if rtc {
		opts = append(opts, libp2p.Transport(webrtc.New))
	}
	return opts
}

// sharedLimits scales a resource manager's limits for a group of nodes
// hosts (newResourceManager): the counts of streams and connections of
// the system, transient, service and protocol scopes (what every member
// together may hold) grow with the group, by at most SharedStreamsPerNode
// and SharedConnsPerNode per node beyond the first, since one
// member's traffic to another counts twice (its outbound stream and the
// other's inbound one). Memory and file descriptors stay as libp2p
// scaled them to the machine: they are the process's, however many
// hosts it runs, which is the point of one resource manager. A peer's
// connections (and their descriptors) grow by SharedPeerConnsPerNode per
// member, so that it can be connected to each; its streams and memory
// stay what they are: a peer's share is of the whole group.
func sharedLimits(c rcmgr.ConcreteLimitConfig, nodes int) rcmgr.ConcreteLimitConfig {
	if nodes <= 1 {
		return c
	}
	extra := nodes - 1
	p := c.ToPartialLimitConfig()
	grow := func(l *rcmgr.ResourceLimits) {
		add := func(v *rcmgr.LimitVal, by int) {
			if *v == rcmgr.Unlimited || *v == rcmgr.BlockAllLimit || *v == rcmgr.DefaultLimit {
				return
			}
			*v = rcmgr.LimitVal(min(int64(*v)+int64(by)*int64(extra), int64(1)<<30))
		}
		add(&l.Streams, 2*SharedStreamsPerNode)
		add(&l.StreamsInbound, SharedStreamsPerNode)
		add(&l.StreamsOutbound, SharedStreamsPerNode)
		add(&l.Conns, 2*SharedConnsPerNode)
		add(&l.ConnsInbound, SharedConnsPerNode)
		add(&l.ConnsOutbound, SharedConnsPerNode)
	}
	grow(&p.System)
	grow(&p.Transient)
	// libp2p keys a peer's scope by its ID alone, whichever host it is
	// connected to: without more room one peer could hold connections to
	// only a few members at once (8, and 4 descriptors, by default).
	peerConns := func(l *rcmgr.ResourceLimits) {
		for _, v := range []*rcmgr.LimitVal{&l.Conns, &l.ConnsInbound, &l.ConnsOutbound, &l.FD} {
			if *v != rcmgr.Unlimited && *v != rcmgr.BlockAllLimit && *v != rcmgr.DefaultLimit {
				*v = rcmgr.LimitVal(min(int64(*v)+int64(SharedPeerConnsPerNode)*int64(extra), int64(p.System.FD)))
			}
		}
	}
	peerConns(&p.PeerDefault)
	for k, l := range p.Peer {
		peerConns(&l)
		p.Peer[k] = l
	}
	for k, l := range p.Service {
		grow(&l)
		p.Service[k] = l
	}
	for k, l := range p.Protocol {
		grow(&l)
		p.Protocol[k] = l
	}
	return p.Build(c)
}
