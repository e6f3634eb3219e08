package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	webrtc "github.com/libp2p/go-libp2p/p2p/transport/webrtc"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	webtransport "github.com/libp2p/go-libp2p/p2p/transport/webtransport"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p/discovery"
	"github.com/unode-dev/unode/p2p/repo/memds"
)

// Protocol IDs and resource-manager service names.
const (
	ProtocolEval   protocol.ID = "/unode/eval/1.0.0"
	ProtocolStatus protocol.ID = "/unode/status/1.0.0"
	ProtocolBlocks protocol.ID = "/unode/blocks/1.0.0"
	// ProtocolVersion is the version a node states in status messages.
	ProtocolVersion = 1

	ServiceEval   = "unode.eval"
	ServiceStatus = "unode.status"
	ServiceBlocks = "unode.blocks"
	// ServiceDHT is the service of the DHT's streams (dht.go).
	ServiceDHT = "unode.dht"
)

// Node is a unode node: a libp2p host whose peer ID is the node's
// identity, a Codebase over the node's datastore, and the protocols that
// let other nodes evaluate code here and this node evaluate code there.
// Its Codebase evaluates with a network host, so `at` in a program
// reaches other nodes.
type Node struct {
	host    host.Host
	id      peer.ID
	cb      *Codebase
	store   *dag.Store
	storeID string
	log     *slog.Logger
	peers   *peerBook
	net     *netHost // the effect host of the node's own evaluations
	caps    Budget   // budget caps for foreign evaluations

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and the WaitGroup's Add
	closed bool
	wg     sync.WaitGroup // handlers and outgoing calls in flight

	jobs chan job // to idle workers (workers.go)

	// admit shares streams and evaluation slots out fairly between the
	// peers the node trusts and the others (admission.go).
	admit *admission

	counters foreignCounters
	synced   syncAccumulator // every outgoing call's sync figures

	// foreignFetches bounds the fetches run for foreign callers
	// (fetchforeign.go).
	foreignFetches fetchGate

	key    crypto.PrivKey
	now    func() time.Time
	policy atomic.Pointer[capabilities.Policy]
	grants *capabilities.Store
	links  *linkCache  // what linking foreign code found, per root
	access accessCache // the sandboxes of tokenless calls (caps.go)
	selfID string      // id.String()
	// selfNode is this node as an eval.Node (ID selfID), shared by its
	// hosts (newNetHost).
	selfNode *eval.Node
	// decoded caches the decoding of small thunks and results.
	decoded *decodeCache
	// ret is cb.retainer(), once looked up (retainer).
	ret atomic.Pointer[retainer]
	// storeSecret checks peers' proofs that they share the store, and
	// storeProof is this node's (peers.go, provenStore).
	storeSecret *dag.StoreSecret
	storeProof  []byte

	// chanKey authenticates the creator of each channel (channels.go).
	chanKey channelKey
	// chans is the node's side of /unode/chan/1.0.0: its senders to
	// other nodes and the counters (chanproto.go).
	chans *chanState
	// clusters: those this node joined, and what it knows of the
	// members of others (clusters.go).
	clusters *clusterState
	// load, when set (WithLoad), is the load the node states.
	load func() float64

	// peerNames caches peer.ID.String (base58, a few µs) for the peers
	// this node talks to, at most maxPeerNames of them.
	peerNames     sync.Map // peer.ID -> *peerNameEntry
	peerNameCount atomic.Int64

	// evalHook, when set (by tests), runs just before each foreign
	// evaluation starts.
	evalHook atomic.Pointer[func()]
	// sentHook, when set (by tests), is called for every block this
	// node sends to another, by any protocol.
	sentHook atomic.Pointer[func(to peer.ID, c cid.Cid)]
	// resolveHook, when set (by tests), may change what a digest prefix
	// of a request's dependency list resolves to.
	resolveHook atomic.Pointer[func(prefix uint64, c cid.Cid, ok bool) (cid.Cid, bool)]

	// disc is the node's DHT (nil with DHTOff), dhtGate the admission of
	// its inbound streams, ann the keys the node announces (dht.go,
	// announce.go).
	disc    *discovery.Discovery
	dhtGate *streamGate
	ann     *announcer

	// shared is the group the node is a member of, or nil (shared.go).
	shared *Shared

	// met counts what only metrics need, and holds the node's
	// registration (metrics.go); agent is what identify states
	// (identify.go).
	met   nodeMetrics
	agent string

	// natives are the native builtins the embedding program registered
	// (native.go).
	natives nativeRegistry
}

type config struct {
	key    crypto.PrivKey
	ds     datastore.Batching
	listen []string
	log    *slog.Logger
	caps   Budget
	policy *capabilities.Policy
	now    func() time.Time
	// admission, when set (tests), replaces defaultAdmissionLimits.
	admission *admissionLimits
	// dht configures the DHT (dht.go).
	dht dhtConfig
	// load, when set (WithLoad), is the load the node states.
	load func() float64
	// shared, when set (WithShared), is the node's group (shared.go).
	shared *Shared
	// agent (WithAgentVersion) and metrics (WithMetrics): what identify
	// states, and where metrics go (identify.go, metrics.go).
	agent     string
	metrics   prometheus.Registerer
	libp2pReg *guardedRegisterer // go-libp2p's, set by libp2pOptions
}

// Option configures New.
type Option func(*config) error

// WithIdentity sets the node's key; its peer ID is the node's identity.
// The default is a fresh Ed25519 key.
func WithIdentity(key crypto.PrivKey) Option {
	return func(c *config) error {
		if key == nil {
			return errors.New("WithIdentity: nil key")
		}
		c.key = key
		return nil
	}
}

// WithDatastore sets the datastore holding blocks, names and the StoreID.
// The default is a fresh in-memory datastore. Several nodes may share one
// datastore value: they then share a StoreID and never sync blocks.
func WithDatastore(ds datastore.Batching) Option {
	return func(c *config) error {
		if ds == nil {
			return errors.New("WithDatastore: nil datastore")
		}
		c.ds = ds
		return nil
	}
}

// WithListenAddrs sets the multiaddrs to listen on. The default is
// "/ip4/127.0.0.1/tcp/0": loopback, a free port.
func WithListenAddrs(addrs ...string) Option {
	return func(c *config) error {
		c.listen = append([]string(nil), addrs...)
		return nil
	}
}

// WithLogger sets where the node logs (refused requests, protocol
// violations). The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.log = l
		return nil
	}
}

// WithForeignBudget sets the most this node grants one evaluation that
// another node asks for; zero fields keep the defaults in limits.go.
func WithForeignBudget(b Budget) Option {
	return func(c *config) error {
		if b.Fuel < 0 || b.MaxMemory < 0 || b.MaxDepth < 0 || b.MaxResultBytes < 0 || b.Timeout < 0 {
			return errors.New("WithForeignBudget: negative budget")
		}
		c.caps = b
		return nil
	}
}

// WithPolicy sets the per-peer policy that decides what foreign
// evaluations may do (see docs/security.md). The default is
// capabilities.DefaultPolicy(): unknown peers may evaluate pure code
// within small budgets. The node keeps a copy; SetPolicy changes it.
func WithPolicy(p *capabilities.Policy) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("WithPolicy: nil policy")
		}
		cp, err := copyPolicy(p)
		if err != nil {
			return fmt.Errorf("WithPolicy: %w", err)
		}
		c.policy = cp
		return nil
	}
}

// WithClock sets the clock that token validity, grants and the audit
// log use (tests inject one). The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// New starts a node. ctx bounds the start only; the node runs until
// Close.
func New(ctx context.Context, opts ...Option) (*Node, error) {
	cfg := config{listen: []string{"/ip4/127.0.0.1/tcp/0"}, now: time.Now,
		dht: dhtConfig{mode: DHTServer, reprovide: DefaultReprovideInterval}}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.shared != nil {
		if err := cfg.shared.configure(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.key == nil {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating a node key: %w", err)
		}
		cfg.key = k
	}
	if cfg.ds == nil {
		cfg.ds = memds.New()
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.policy == nil {
		cfg.policy = capabilities.DefaultPolicy()
	}
	// The sandbox of each evaluation sets its budgets; these caps only
	// apply where WithForeignBudget set them. Depth is not part of a
	// sandbox: it is capped at the evaluator's default, which keeps the
	// Go stack far from its limit, and results at what a reply can carry.
	caps := Budget{MaxDepth: eval.DefaultMaxDepth, MaxResultBytes: MaxForeignResult}
	if cfg.caps.Fuel > 0 {
		caps.Fuel = cfg.caps.Fuel
	}
	if cfg.caps.MaxMemory > 0 {
		caps.MaxMemory = cfg.caps.MaxMemory
	}
	if cfg.caps.MaxDepth > 0 {
		caps.MaxDepth = min(cfg.caps.MaxDepth, eval.DefaultMaxDepth)
	}
	if cfg.caps.MaxResultBytes > 0 {
		caps.MaxResultBytes = min(cfg.caps.MaxResultBytes, MaxForeignResult)
	}
	if cfg.caps.Timeout > 0 {
		caps.Timeout = cfg.caps.Timeout
	}

	cb := NewCodebase(cfg.ds)
	if cfg.shared != nil {
		cb = cfg.shared.codebase()
	}
	storeID, err := cb.Store().StoreID(ctx)
	if err != nil {
		return nil, err
	}
	storeSecret, err := cb.Store().StoreSecret(ctx)
	if err != nil {
		return nil, err
	}
	rm, err := cfg.resourceManager()
	if err != nil {
		return nil, err
	}
	listen := make([]ma.Multiaddr, len(cfg.listen))
	for i, a := range cfg.listen {
		if listen[i], err = ma.NewMultiaddr(a); err != nil {
			rm.Close()
			return nil, &ListenError{Addr: a, Err: err}
		}
	}
	nat, err := natOptions(cfg.dht.nat)
	if err != nil {
		rm.Close()
		return nil, err
	}
	// libp2p's default transports, but TCP without SO_REUSEPORT: with
	// it, a second node (another repo's daemon) binds the same port and
	// the kernel splits the incoming connections between the two, so
	// that dials to the first fail with "peer id mismatch". QUIC's UDP
	// sockets are shared only within the process, never with another one.
	transports := []libp2p.Option{
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.Transport(websocket.New),
		libp2p.Transport(webtransport.New),
		libp2p.Transport(webrtc.New),
	}
	if cfg.shared != nil {
		transports = sharedTransports(listen) // only what it listens on
	}
	h, err := libp2p.New(append(append(nat,
		libp2p.Identity(cfg.key),
		// Listening comes after, one address at a time, so that a
		// failure is reported for the address that failed.
		libp2p.NoListenAddrs,
		libp2p.ResourceManager(rm),
	), append(cfg.libp2pOptions(), transports...)...)...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("starting the libp2p host: %w", err)
	}
	if err := listenOn(h, listen); err != nil {
		h.Close()
		return nil, err
	}
	nctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		host:    h,
		id:      h.ID(),
		cb:      cb,
		store:   cb.Store(),
		storeID: storeID,
		log:     cfg.log.With("node", h.ID().String()),
		peers:   newPeerBook(MaxPeerRecords),
		caps:    caps,
		ctx:     nctx,
		cancel:  cancel,
		jobs:    make(chan job),
		key:     cfg.key,
		now:     cfg.now,
		grants:  capabilities.NewStore(cfg.ds),
		links:   newLinkCache(linkCacheEntries),
		decoded: newDecodeCache(),

		clusters: newClusterState(),
		load:     cfg.load,
		chans:    newChanState(),
		agent:    cfg.agent, // set by libp2pOptions
	}
	cfg.shared.attach(n)
	n.grants.Now = cfg.now
	if n.chanKey, err = deriveChannelKey(cfg.key); err != nil {
		h.Close()
		return nil, err
	}
	n.selfID = h.ID().String()
	n.selfNode = &eval.Node{ID: n.selfID}
	n.storeSecret, n.storeProof = storeSecret, storeSecret.Prove([]byte(h.ID()))
	n.policy.Store(cfg.policy)
	lim := defaultAdmissionLimits()
	if cfg.admission != nil {
		lim = *cfg.admission
	}
	n.newNodeAdmission(ctx, lim)
	rm.bind(n.admit, h.Network())
	cb.here = h.ID().String()
	n.net = newNetHost(n, nil)
	cb.SetHost(n.net)
	h.SetStreamHandler(ProtocolEval, n.handleEval)
	h.SetStreamHandler(ProtocolStatus, n.handleStatus)
	h.SetStreamHandler(ProtocolBlocks, n.handleFetch)
	if err := n.startDHT(ctx, cfg.ds, cfg.dht); err != nil {
		cancel()
		h.Close()
		return nil, err
	}
	h.SetStreamHandler(ProtocolMember, n.handleMember)
	h.SetStreamHandler(ProtocolChan, n.handleChan)
	if err := cfg.shared.register(n); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.registerMetrics(&cfg); err != nil {
		n.Close()
		return nil, fmt.Errorf("registering the node's metrics: %w", err)
	}
	return n, nil
}

// ListenError means the node could not listen on one of the addresses it
// was given (WithListenAddrs): a malformed address, or one it cannot
// bind, typically a port another process holds (errors.Is(err,
// syscall.EADDRINUSE) then holds). New fails with it rather than start
// listening on only some of its addresses.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		return fmt.Sprintf("cannot listen on %s: the port is in use by another process", e.Addr)
	}
	return fmt.Sprintf("cannot listen on %s: %v", e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// listenOn makes h listen on every address, or fails with a
// *ListenError for the first it cannot listen on. (libp2p's own Listen
// succeeds when any address does, logging the others: a node could end
// up on QUIC alone, or on none of the ports it was told to use.)
func listenOn(h host.Host, addrs []ma.Multiaddr) error {
	sw, ok := h.Network().(interface{ AddListenAddr(ma.Multiaddr) error })
	for _, a := range addrs {
		var err error
		if ok {
			err = sw.AddListenAddr(a) // the transport's own error
		} else {
			err = h.Network().Listen(a)
		}
		if err != nil {
			return &ListenError{Addr: a.String(), Err: err}
		}
	}
	// What the transports report listening on must cover every address
	// asked for: each protocol stack (tcp, udp/quic-v1, ...), on the
	// port asked for unless that was 0.
	got := h.Network().ListenAddresses()
	for _, a := range addrs {
		if !slices.ContainsFunc(got, func(g ma.Multiaddr) bool { return listensAs(a, g) }) {
			return &ListenError{Addr: a.String(), Err: fmt.Errorf("not among the addresses listened on: %v", got)}
		}
	}
	return nil
}

// listensAs reports whether listen address got serves the requested
// address want: the same protocols with the same values, except that a
// requested port 0 matches any port and a requested unspecified IP any
// IP of its family.
func listensAs(want, got ma.Multiaddr) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Code() != g.Code() {
			return false
		}
		switch w.Code() {
		case ma.P_TCP, ma.P_UDP:
			if w.Value() != "0" && w.Value() != g.Value() {
				return false
			}
		case ma.P_IP4, ma.P_IP6:
			if w.Value() != "0.0.0.0" && w.Value() != "::" && w.Value() != g.Value() {
				return false
			}
		default:
			if w.Value() != g.Value() {
				return false
			}
		}
	}
	return true
}

// Grants is the node's record of the tokens it granted, the ones it
// revoked, and the audit log of foreign evaluations, kept in its
// datastore. A revocation made through it (or by another process on the
// same datastore) applies from the next request on.
func (n *Node) Grants() *capabilities.Store { return n.grants }

// Policy returns a copy of the policy in force.
func (n *Node) Policy() *capabilities.Policy {
	p, _ := copyPolicy(n.policy.Load())
	return p
}

// SetPolicy validates p and makes (a copy of) it the policy for the next
// requests; evaluations already running keep the sandbox they started
// with.
func (n *Node) SetPolicy(p *capabilities.Policy) error {
	if p == nil {
		return errors.New("SetPolicy: nil policy")
	}
	cp, err := copyPolicy(p)
	if err != nil {
		return err
	}
	n.policy.Store(cp)
	return nil
}

// Grant issues a token signed with the node's key, so that it is rooted
// here, records it in Grants and returns it. c.Parent must be nil or a
// token this node holds as audience (a delegation).
func (n *Node) Grant(ctx context.Context, c capabilities.Claims, note string) (*capabilities.Token, error) {
	tok, err := n.grants.Grant(ctx, n.key, c, note)
	if err == nil {
		// Its audience gets trusted peers' capacity from its next stream.
		n.admit.trust.addAudience(tok.Audience(), tok.Expires())
	}
	return tok, err
}

// copyPolicy returns a validated deep copy of p, so that callers cannot
// change the node's policy behind its back.
func copyPolicy(p *capabilities.Policy) (*capabilities.Policy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cp := &capabilities.Policy{Default: p.Default.Normalize()}
	if len(p.Sandboxes) > 0 {
		cp.Sandboxes = make(map[string]capabilities.Sandbox, len(p.Sandboxes))
		for k, v := range p.Sandboxes {
			cp.Sandboxes[k] = v.Normalize()
		}
	}
	if len(p.Peers) > 0 {
		cp.Peers = make(map[peer.ID]string, len(p.Peers))
		for k, v := range p.Peers {
			cp.Peers[k] = v
		}
	}
	return cp, nil
}

// newResourceManager is libp2p's default resource manager with room for
// unode's protocols: many concurrent evaluations on one connection, sync
// messages of a few MB. libp2p's limits cannot tell the peers the policy
// lists or token holders from fresh peer IDs, so they are set above what
// admission.go lets unknown peers hold, and it is admission that keeps
// strangers to their share; the system and per-peer stream limits leave
// room for everything the services admit, so they never bind first.
//
// nodes is how many hosts will share it (shared.go); 1 for a node's own.
// opts are more rcmgr options (metrics.go's rcmgrOptions).
func newResourceManager(nodes int, opts ...rcmgr.Option) (*admittingRM, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.SystemBaseLimit.StreamsInbound = max(limits.SystemBaseLimit.StreamsInbound, rmSystemStreamsInbound)
	limits.SystemBaseLimit.Streams = max(limits.SystemBaseLimit.Streams, 2*rmSystemStreamsInbound)
	limits.PeerBaseLimit.StreamsInbound = max(limits.PeerBaseLimit.StreamsInbound, rmPeerStreamsInbound)
	limits.PeerBaseLimit.Streams = max(limits.PeerBaseLimit.Streams, 2*rmPeerStreamsInbound)
	limits.TransientBaseLimit.StreamsInbound = max(limits.TransientBaseLimit.StreamsInbound, rmTransientStreamsInbound)
	limits.TransientBaseLimit.Streams = max(limits.TransientBaseLimit.Streams, 2*rmTransientStreamsInbound)
	services := []struct {
		svc       string
		proto     protocol.ID
		all, peer rcmgr.BaseLimit
	}{
		{ServiceEval, ProtocolEval,
			rcmgr.BaseLimit{StreamsInbound: MaxEvalStreams, StreamsOutbound: 4096, Streams: 4096, Memory: 512 << 20},
			rcmgr.BaseLimit{StreamsInbound: MaxEvalStreamsPerPeer, StreamsOutbound: 512, Streams: 1024, Memory: 128 << 20}},
		{ServiceBlocks, ProtocolBlocks,
			rcmgr.BaseLimit{StreamsInbound: MaxBlocksStreams, StreamsOutbound: 1024, Streams: 1536, Memory: 256 << 20},
			rcmgr.BaseLimit{StreamsInbound: MaxBlocksStreamsPerPeer, StreamsOutbound: 64, Streams: 128, Memory: 64 << 20}},
		{ServiceStatus, ProtocolStatus,
			rcmgr.BaseLimit{StreamsInbound: MaxStatusStreams, StreamsOutbound: 1024, Streams: 1280, Memory: 16 << 20},
			rcmgr.BaseLimit{StreamsInbound: MaxStatusStreamsPerPeer, StreamsOutbound: 8, Streams: 16, Memory: 1 << 20}},
		// The DHT's (dht.go): kad-dht queries up to 10 peers at once per
		// lookup and keeps a stream to each.
		{ServiceDHT, discovery.DefaultProtocolPrefix + "/kad/1.0.0",
			rcmgr.BaseLimit{StreamsInbound: MaxDHTStreams, StreamsOutbound: 1024, Streams: 2048, Memory: 64 << 20},
			rcmgr.BaseLimit{StreamsInbound: MaxDHTStreamsPerPeer, StreamsOutbound: 32, Streams: 64, Memory: 4 << 20}},
		{ServiceMember, ProtocolMember,
			rcmgr.BaseLimit{StreamsInbound: MaxMemberStreams, StreamsOutbound: 1024, Streams: 1280, Memory: 64 << 20},
			rcmgr.BaseLimit{StreamsInbound: MaxMemberStreamsPerPeer, StreamsOutbound: 8, Streams: 16, Memory: MaxMemberStreamsPerPeer * MaxMemberMessageSize}},
		// Channels (chanproto.go): one long-lived stream per sender and
		// receiver, each holding at most one message being taken.
		{ServiceChan, ProtocolChan,
			rcmgr.BaseLimit{StreamsInbound: MaxChanStreams, StreamsOutbound: MaxChanPeers, Streams: MaxChanStreams + MaxChanPeers, Memory: 256 << 20},
			rcmgr.BaseLimit{StreamsInbound: MaxChanStreamsPerPeer, StreamsOutbound: 8, Streams: 16, Memory: 64 << 20}},
	}
	for _, l := range services {
		limits.AddServiceLimit(l.svc, l.all, rcmgr.BaseLimitIncrease{})
		limits.AddServicePeerLimit(l.svc, l.peer, rcmgr.BaseLimitIncrease{})
		limits.AddProtocolLimit(l.proto, l.all, rcmgr.BaseLimitIncrease{})
		limits.AddProtocolPeerLimit(l.proto, l.peer, rcmgr.BaseLimitIncrease{})
	}
	// Prometheus metrics only when asked for (WithMetrics): the resource
	// manager's metrics reporter formats a timestamp on every scope
	// event, which is a measurable part of a small remote call.
	if len(opts) == 0 {
		opts = []rcmgr.Option{rcmgr.WithMetricsDisabled()}
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(sharedLimits(limits.AutoScale(), nodes)), opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the resource manager: %w", err)
	}
	return &admittingRM{ResourceManager: rm, gate: newStreamGate(negotiatingLimits)}, nil
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.id }

// Addrs returns the node's addresses, each ending in /p2p/<id> so it can
// be dialed as given.
func (n *Node) Addrs() []ma.Multiaddr {
	out, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.id, Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return out
}

// StoreID is the identity of the node's datastore.
func (n *Node) StoreID() string { return n.storeID }

// Codebase is the node's code and evaluator.
func (n *Node) Codebase() *Codebase { return n.cb }

// Host is the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Connect dials a peer given a multiaddr ending in /p2p/<id> and
// exchanges status with it (so that later calls know whether it shares
// this node's store).
func (n *Node) Connect(ctx context.Context, addr string) (peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("parsing %q: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%q: %w (the address must end in /p2p/<peer id>)", addr, err)
	}
	if info.ID == n.id {
		return peer.AddrInfo{}, errors.New("cannot connect to this node itself")
	}
	if err := n.host.Connect(ctx, *info); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("connecting to %s: %w", info.ID, err)
	}
	if _, err := n.Status(ctx, info.ID); err != nil {
		n.log.Debug("status exchange failed", "peer", info.ID.String(), "err", err)
	}
	return *info, nil
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// Peers lists the connected peers with the addresses of the connections,
// sorted by ID.
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	for _, p := range n.host.Network().Peers() {
		info := PeerInfo{ID: p.String(), Addrs: []string{}}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			a := c.RemoteMultiaddr().String()
			if !slices.Contains(info.Addrs, a) {
				info.Addrs = append(info.Addrs, a)
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Close stops the node: foreign evaluations and outgoing calls are
// canceled, connections closed, and Close waits for the handlers to
// finish. The datastore stays open (it belongs to the caller).
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.unregisterMetrics()
	n.shared.leave(n)
	n.cancel()
	n.host.RemoveStreamHandler(ProtocolEval)
	n.host.RemoveStreamHandler(ProtocolStatus)
	n.host.RemoveStreamHandler(ProtocolBlocks)
	n.host.RemoveStreamHandler(ProtocolMember)
	n.host.RemoveStreamHandler(ProtocolChan)
	var err error
	if n.disc != nil {
		// Before the host: the DHT saves its routing table with the
		// addresses in the host's peerstore.
		n.host.RemoveStreamHandler(n.disc.Protocol())
		err = n.disc.Close()
	}
	if herr := n.host.Close(); herr != nil && err == nil {
		err = herr
	}
	n.wg.Wait()
	// Every audit entry appended so far reaches the datastore.
	if ferr := n.grants.FlushAudit(context.Background()); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

// maxPeerNames bounds the cache of peer ID strings.
const maxPeerNames = 4096

// peerNameEntry is a peer's cached names.
type peerNameEntry struct {
	s       string // p.String()
	foreign string // "foreign:" + s, the name of its evaluations' threads
}

// peerName is p.String(), cached.
func (n *Node) peerName(p peer.ID) string {
	return n.peerNameEntryOf(p).s
}

// foreignThreadName is "foreign:" + p.String(), cached with it: every
// foreign evaluation names its thread so.
func (n *Node) foreignThreadName(p peer.ID) string {
	return n.peerNameEntryOf(p).foreign
}

func (n *Node) peerNameEntryOf(p peer.ID) *peerNameEntry {
	if e, ok := n.peerNames.Load(p); ok {
		return e.(*peerNameEntry)
	}
	s := p.String()
	e := &peerNameEntry{s: s, foreign: "foreign:" + s}
	if n.peerNameCount.Load() < maxPeerNames {
		if _, loaded := n.peerNames.LoadOrStore(p, e); !loaded {
			n.peerNameCount.Add(1)
		}
	}
	return e
}

// track registers work that Close must wait for; false once closed.
func (n *Node) track() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// ForeignStats counts the evaluations other nodes asked this node for.
type ForeignStats struct {
	Started   int64 `json:"started"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	// Canceled counts evaluations stopped because the caller went away
	// or canceled (a reset stream), or the node closed.
	Canceled int64 `json:"canceled"`
	Running  int64 `json:"running"`
}

type foreignCounters struct {
	started, succeeded, failed, canceled, running atomic.Int64
}

// ForeignStats reports the foreign evaluations so far.
func (n *Node) ForeignStats() ForeignStats {
	c := &n.counters
	return ForeignStats{
		Started:   c.started.Load(),
		Succeeded: c.succeeded.Load(),
		Failed:    c.failed.Load(),
		Canceled:  c.canceled.Load(),
		Running:   c.running.Load(),
	}
}

// SyncTotals sums the sync figures of every remote call this node made.
func (n *Node) SyncTotals() SyncStats { return n.synced.total() }

// loadPermille is the node's load in thousandths: WithLoad's, or the
// foreign evaluations running relative to what it admits at once.
func (n *Node) loadPermille() int64 {
	if n.load != nil {
		l := n.load() * 1000
		if !(l >= 0) { // negative or NaN
			return 0
		}
		return int64(min(l, 1e12))
	}
	return n.counters.running.Load() * 1000 / MaxConcurrentForeign
}
