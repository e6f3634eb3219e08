package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/amino"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
)

// DefaultProtocolPrefix is the prefix of unode's DHT protocol: the
// network is unode's own, "/unode/kad/1.0.0", never the public IPFS DHT
// ("/ipfs/kad/1.0.0") unless a Config says so.
const DefaultProtocolPrefix protocol.ID = "/unode"

// Mode is whether the node answers DHT queries.
type Mode int

const (
	// ModeServer answers queries and stores records: daemons.
	ModeServer Mode = iota
	// ModeClient only asks: embedded nodes, nodes behind NAT. Other
	// nodes do not put it in their routing tables.
	ModeClient
	// ModeAuto is a server until the host learns (from AutoNAT) that it
	// is not reachable from outside, then a client.
	ModeAuto
)

func (m Mode) String() string {
	switch m {
	case ModeServer:
		return "server"
	case ModeClient:
		return "client"
	case ModeAuto:
		return "auto"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "server", "client" or "auto".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "server":
		return ModeServer, nil
	case "client":
		return ModeClient, nil
	case "auto":
		return ModeAuto, nil
	}
	return 0, fmt.Errorf("unknown DHT mode %q (want server, client or auto)", s)
}

// Config configures New. The zero value is a server on unode's private
// network with no bootstrap peers: a node alone until others connect to
// it (or it finds the peers it saved last time).
type Config struct {
	Mode Mode
	// ProtocolPrefix is DefaultProtocolPrefix when empty. "/ipfs" joins
	// the public IPFS (Amino) DHT, with its value records enabled as that
	// network requires; it needs Amino bootstrap peers.
	ProtocolPrefix protocol.ID
	// Bootstrap are the peers to join through. One that is down is
	// retried with exponential backoff (BootstrapBackoff up to
	// MaxBootstrapBackoff) until it answers; never fatal.
	Bootstrap []peer.AddrInfo
	// Logger receives bootstrap progress and failures. Default: discard.
	Logger *slog.Logger

	// WrapHandler, when set, wraps the DHT's inbound stream handler: the
	// node's fair admission (classes, shares, first-frame deadline).
	WrapHandler func(network.StreamHandler) network.StreamHandler

	// Intervals; zero takes the defaults in limits.go. Tests shorten them.
	BootstrapBackoff    time.Duration
	MaxBootstrapBackoff time.Duration
	SaveInterval        time.Duration
	CheckInterval       time.Duration
	// RefreshInterval is kad-dht's routing-table refresh period (10 min).
	RefreshInterval time.Duration
	// ProvideValidity is how long received provider records are kept.
	ProvideValidity time.Duration

	// StrictLoopback makes the routing table's IP-diversity limits
	// (diversity.go) apply to loopback peers too, each loopback address
	// a group of its own (tests of the limits). By default peers on this
	// machine are exempt.
	StrictLoopback bool

	// MaxProviderRecordsPerPeer and MaxProviderRecords replace the bounds
	// of limits.go when positive (tests).
	MaxProviderRecordsPerPeer int
	MaxProviderRecords        int
}

// Errors of Discovery's methods; wrapped with detail, test with
// errors.Is.
var (
	// ErrNoPeers: the routing table is empty (no bootstrap peer reached
	// yet, or a node alone), so nothing can be announced or asked.
	ErrNoPeers = errors.New("not connected to any DHT peer")
	// ErrPeerNotFound: a peer lookup ended without finding the peer.
	ErrPeerNotFound = errors.New("peer not found in the DHT")
	// ErrClosed: the Discovery was closed.
	ErrClosed = errors.New("discovery is closed")
)

// Discovery is a node's Kademlia DHT on a private network.
type Discovery struct {
	kad    *dht.IpfsDHT
	h      host.Host
	ds     datastore.Batching // the node's datastore under /dht
	ps     *providerStore
	cfg    Config
	log    *slog.Logger
	self   peer.ID
	proto  protocol.ID
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	saved    []peer.AddrInfo // the routing table of the last run, then of the latest save
	lastSave []byte          // the encoding last written, to skip unchanged saves
	closed   bool

	// inbound counts the DHT messages received, by type (pb.Message_*).
	inbound [maxMessageType]atomic.Int64
	// kick wakes the bootstrap loop early (a reset after the table
	// emptied, tests).
	kick chan struct{}
}

// maxMessageType bounds the message types counted (kad's are 0..5).
const maxMessageType = 8

// New starts the DHT on h, keeping its records in ds under /dht. ctx
// bounds the start only; the DHT runs until Close. It does not wait for
// the bootstrap peers: they are dialed in the background.
func New(ctx context.Context, h host.Host, ds datastore.Batching, cfg Config) (*Discovery, error) {
	if h == nil || ds == nil {
		return nil, errors.New("discovery.New: nil host or datastore")
	}
	if cfg.ProtocolPrefix == "" {
		cfg.ProtocolPrefix = DefaultProtocolPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&cfg.BootstrapBackoff, DefaultBootstrapBackoff)
	setDefault(&cfg.MaxBootstrapBackoff, DefaultMaxBootstrapBackoff)
	setDefault(&cfg.SaveInterval, DefaultSaveInterval)
	setDefault(&cfg.CheckInterval, DefaultCheckInterval)
	setDefault(&cfg.ProvideValidity, DefaultProvideValidity)
	if cfg.MaxBootstrapBackoff < cfg.BootstrapBackoff {
		cfg.MaxBootstrapBackoff = cfg.BootstrapBackoff
	}
	perPeer, total := MaxProviderRecordsPerPeer, MaxProviderRecords
	if cfg.MaxProviderRecordsPerPeer > 0 {
		perPeer = cfg.MaxProviderRecordsPerPeer
	}
	if cfg.MaxProviderRecords > 0 {
		total = cfg.MaxProviderRecords
	}
	var mode dht.ModeOpt
	switch cfg.Mode {
	case ModeServer:
		mode = dht.ModeServer
	case ModeClient:
		mode = dht.ModeClient
	case ModeAuto:
		mode = dht.ModeAutoServer
	default:
		return nil, fmt.Errorf("discovery.New: %v", cfg.Mode)
	}

	dctx, cancel := context.WithCancel(context.Background())
	d := &Discovery{
		h:      h,
		ds:     namespace.Wrap(ds, datastore.NewKey(dsPrefix)),
		cfg:    cfg,
		log:    cfg.Logger,
		self:   h.ID(),
		proto:  cfg.ProtocolPrefix + "/kad/1.0.0",
		ctx:    dctx,
		cancel: cancel,
		kick:   make(chan struct{}, 1),
	}
	fail := func(err error) (*Discovery, error) {
		cancel()
		if d.ps != nil {
			d.ps.Close()
		}
		return nil, err
	}
	var err error
	if d.ps, err = newProviderStore(ctx, d.ds, d.self, perPeer, total, d.log); err != nil {
		return fail(fmt.Errorf("opening the provider records: %w", err))
	}
	if d.saved, err = loadTable(ctx, d.ds, d.self); err != nil {
		// A snapshot this node cannot read is not worth refusing to
		// start for: the node joins through its bootstrap peers.
		d.log.Warn("ignoring the saved routing table", "err", err)
	}

	opts := []dht.Option{
		dht.ProtocolPrefix(cfg.ProtocolPrefix),
		dht.Mode(mode),
		dht.Datastore(d.ds),
		dht.ProviderDatastore(d.ps),
		dht.ProviderManagerOpts(records.ProvideValidity(cfg.ProvideValidity)),
		dht.BootstrapPeersFunc(d.joinPeers),
		dht.RoutingTablePeerDiversityFilter(newIPGroupFilter(h, MaxRTPeersPerIPGroupPerCPL, MaxRTPeersPerIPGroup, !cfg.StrictLoopback)),
		dht.OnRequestHook(d.countRequest),
	}
	if cfg.ProtocolPrefix != amino.ProtocolPrefix {
		// unode keeps no values in its DHT (only provider records);
		// Amino requires them.
		opts = append(opts, dht.DisableValues())
	}
	if cfg.RefreshInterval > 0 {
		opts = append(opts, dht.RoutingTableRefreshPeriod(cfg.RefreshInterval))
	}
	kh := host.Host(h)
	if cfg.WrapHandler != nil {
		kh = &gatedHost{Host: h, wrap: cfg.WrapHandler}
	}
	if d.kad, err = dht.New(kh, opts...); err != nil {
		return fail(fmt.Errorf("starting the DHT: %w", err))
	}
	d.wg.Add(2)
	go d.bootstrapLoop()
	go d.saveLoop()
	return d, nil
}

// dsPrefix is where the DHT's records live in the node's datastore.
const dsPrefix = "/dht"

func setDefault(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}

// Protocol is the DHT's protocol ID ("/unode/kad/1.0.0").
func (d *Discovery) Protocol() protocol.ID { return d.proto }

// Mode is the mode the DHT was started in.
func (d *Discovery) Mode() Mode { return d.cfg.Mode }

// Provide announces once that this node provides key: a lookup of the
// key's 20 closest peers, and an ADD_PROVIDER to each. Records expire
// (ProvideValidity, at the peers that hold them); keeping them fresh is
// the caller's (p2p's announce loop).
func (d *Discovery) Provide(ctx context.Context, key cid.Cid) error {
	if err := d.usable(); err != nil {
		return err
	}
	if !key.Defined() {
		return errors.New("provide: undefined CID")
	}
	err := d.kad.Provide(ctx, key, true)
	if errors.Is(err, kb.ErrLookupFailure) || (err != nil && d.kad.RoutingTable().Size() == 0) {
		return fmt.Errorf("providing %s: %w", key, ErrNoPeers)
	}
	if err != nil {
		return fmt.Errorf("providing %s: %w", key, err)
	}
	return nil
}

// FindProviders returns up to limit providers of key other than this
// node (limit <= 0: DefaultProviderLimit; at most MaxProviderLimit),
// with the addresses known for them. It stops when it has limit of them,
// when the lookup ends, or when ctx is done (returning what it found).
// No provider is not an error; an empty routing table with no provider
// known locally is ErrNoPeers.
func (d *Discovery) FindProviders(ctx context.Context, key cid.Cid, limit int) ([]peer.AddrInfo, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	if !key.Defined() {
		return nil, errors.New("find providers: undefined CID")
	}
	var out []peer.AddrInfo
	for ai := range d.FindProvidersAsync(ctx, key, limit) {
		out = append(out, ai)
	}
	if len(out) == 0 && d.kad.RoutingTable().Size() == 0 {
		return nil, fmt.Errorf("finding providers of %s: %w", key, ErrNoPeers)
	}
	return out, nil
}

// FindProvidersAsync is FindProviders as a channel, closed at the end;
// the caller must drain it or cancel ctx.
func (d *Discovery) FindProvidersAsync(ctx context.Context, key cid.Cid, limit int) <-chan peer.AddrInfo {
	if limit <= 0 {
		limit = DefaultProviderLimit
	}
	limit = min(limit, MaxProviderLimit)
	out := make(chan peer.AddrInfo)
	if d.usable() != nil || !key.Defined() {
		close(out)
		return out
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.ctx, cancel)
	// One more than asked, as this node may be among them.
	in := d.kad.FindProvidersAsync(ctx, key, limit+1)
	go func() {
		defer close(out)
		defer stop()
		defer cancel()
		n := 0
		for ai := range in {
			if ai.ID == d.self || n >= limit {
				continue
			}
			if len(ai.Addrs) == 0 {
				ai.Addrs = d.h.Peerstore().Addrs(ai.ID)
			}
			select {
			case out <- ai:
				n++
			case <-ctx.Done():
				// Drain: kad-dht's routine ends once ctx is done.
				for range in {
				}
				return
			}
			if n >= limit {
				cancel()
			}
		}
	}()
	return out
}

// FindPeer looks a peer's addresses up: those of a connected peer at
// once, otherwise through the DHT's peer routing.
func (d *Discovery) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	if err := d.usable(); err != nil {
		return peer.AddrInfo{}, err
	}
	if id == d.self {
		return peer.AddrInfo{ID: id, Addrs: d.h.Addrs()}, nil
	}
	ai, err := d.kad.FindPeer(ctx, id)
	if errors.Is(err, routing.ErrNotFound) {
		// kad-dht reports a peer found only when the lookup dialed it
		// or left it connected; a lookup that ends early (in a small
		// network it often does) may still have heard its addresses
		// from a peer that knows it. They are worth a dial.
		if addrs := d.h.Peerstore().Addrs(id); len(addrs) > 0 {
			return peer.AddrInfo{ID: id, Addrs: addrs}, nil
		}
	}
	switch {
	case errors.Is(err, routing.ErrNotFound):
		return peer.AddrInfo{}, fmt.Errorf("finding %s: %w", id, ErrPeerNotFound)
	case errors.Is(err, kb.ErrLookupFailure) || (err != nil && d.kad.RoutingTable().Size() == 0):
		return peer.AddrInfo{}, fmt.Errorf("finding %s: %w", id, ErrNoPeers)
	case err != nil:
		return peer.AddrInfo{}, fmt.Errorf("finding %s: %w", id, err)
	}
	return ai, nil
}

// RoutingTable lists the peers in the routing table.
func (d *Discovery) RoutingTable() []peer.ID { return d.kad.RoutingTable().ListPeers() }

// Stats are figures for status displays and benchmarks.
type Stats struct {
	RoutingTable    int `json:"routing_table"`
	ProviderRecords int `json:"provider_records"`
	// Inbound counts the DHT requests received since start, by type
	// (FIND_NODE, GET_PROVIDERS, ADD_PROVIDER, PING, ...).
	Inbound map[string]int64 `json:"inbound"`
}

// Stats reports the routing table's size, the provider records stored
// here and the requests received.
func (d *Discovery) Stats() Stats {
	s := Stats{RoutingTable: d.kad.RoutingTable().Size(), ProviderRecords: d.ps.count(), Inbound: map[string]int64{}}
	for i := range d.inbound {
		if v := d.inbound[i].Load(); v > 0 {
			s.Inbound[pb.Message_MessageType(i).String()] = v
		}
	}
	return s
}

func (d *Discovery) countRequest(_ context.Context, _ network.Stream, req *pb.Message) {
	if t := int(req.GetType()); t >= 0 && t < maxMessageType {
		d.inbound[t].Add(1)
	}
}

func (d *Discovery) usable() error {
	if d.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}

// Close saves the routing table, stops the DHT and flushes the provider
// records it received. The datastore stays open (it belongs to the
// caller). Close the host after: the table's addresses are read from its
// peerstore.
func (d *Discovery) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	err := d.saveTable(context.Background())
	if kerr := d.kad.Close(); kerr != nil && err == nil {
		err = kerr
	}
	if perr := d.ps.Close(); perr != nil && err == nil {
		err = perr
	}
	return err
}

// gatedHost is the host kad-dht sees: the node's, with the DHT's inbound
// stream handler wrapped by the node's admission.
type gatedHost struct {
	host.Host
	wrap func(network.StreamHandler) network.StreamHandler
}

func (g *gatedHost) SetStreamHandler(pid protocol.ID, h network.StreamHandler) {
	g.Host.SetStreamHandler(pid, g.wrap(h))
}

func (g *gatedHost) SetStreamHandlerMatch(pid protocol.ID, m func(protocol.ID) bool, h network.StreamHandler) {
	g.Host.SetStreamHandlerMatch(pid, m, g.wrap(h))
}

// sortedIDs is for deterministic logs and tests.
func sortedIDs(ps []peer.AddrInfo) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	slices.Sort(out)
	return out
}
