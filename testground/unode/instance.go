package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/testground/sdk-go/network"
	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo/memds"
)

// The harness (testground/harness) puts a proxy in front of each
// instance and tells it, in these variables, where to listen and which
// address to announce (the proxy's). Under Testground they are unset:
// the instance listens on its data network address (or loopback without
// a sidecar) and announces what it listens on.
const (
	envListen   = "UNODE_TG_LISTEN"
	envAnnounce = "UNODE_TG_ANNOUNCE"
)

// Groups with a role of their own; every other group is honest.
const (
	groupHostile = "hostile"
	groupChurner = "churner"
)

// trustedSandbox is what an honest instance lets the other honest ones
// do: remote evaluation, channels, clusters and data, any target, with
// budgets large enough for every workload here. Hostile instances are
// not listed in the policy and get the default sandbox of a new repo.
const trustedSandbox = "--allow pure --allow remote --allow channel --allow cluster --allow data.read --allow-target any --fuel 1000000000 --memory 1GiB --time 5m --result 4MiB"

// peerRecord is what an instance tells the others about itself through
// the sync service.
type peerRecord struct {
	Seq     int64    `json:"seq"`
	Group   string   `json:"group"`
	Hostile bool     `json:"hostile"`
	ID      string   `json:"id"`
	StoreID string   `json:"store"`
	Addrs   []string `json:"addrs"` // announced multiaddrs, without /p2p
}

// addr is the record's first address with /p2p/<id>: what Connect,
// WithBootstrap and call targets take.
func (r peerRecord) addr() string { return r.Addrs[0] + "/p2p/" + r.ID }

// peersTopic carries every instance's record.
var peersTopic = sync.NewTopic("peers", &peerRecord{})

// instance is one running plan instance: its environment, its sync
// client, its node and what it knows of the others.
type instance struct {
	env     *runtime.RunEnv
	ic      *run.InitContext
	sync    sync.Client
	seq     int64 // global sequence number, 1-based
	group   string
	hostile bool

	key      crypto.PrivKey
	listen   []string
	announce []string
	ds       datastore.Batching
	node     *p2p.Node

	peers []peerRecord // every instance's, in seq order (self included)
	link  linkShape
	rng   *rand.Rand
}

// linkShape is the latency and loss added between instances: by the
// harness's proxies, or by the sidecar under Testground.
type linkShape struct {
	Delay  time.Duration // one way
	Jitter time.Duration
	Loss   float64 // percent
}

// rt is the round trip the link adds.
func (l linkShape) rt() time.Duration { return 2 * l.Delay }

// setup prepares an instance: traffic shaping (with a sidecar only), a
// key, addresses and a datastore. The case starts the node.
func setup(env *runtime.RunEnv, ic *run.InitContext) (*instance, error) {
	in := &instance{
		env:     env,
		ic:      ic,
		sync:    ic.SyncClient,
		seq:     ic.GlobalSeq,
		group:   env.TestGroupID,
		hostile: env.TestGroupID == groupHostile,
		ds:      memds.New(),
		rng:     rand.New(rand.NewPCG(uint64(ic.GlobalSeq), uint64(time.Now().UnixNano()))),
	}
	in.link = linkShape{
		Delay:  time.Duration(intParam(env, "latency_ms", 0)) * time.Millisecond,
		Jitter: time.Duration(intParam(env, "jitter_ms", 0)) * time.Millisecond,
		Loss:   floatParam(env, "loss_pct", 0),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if env.TestSidecar {
		// Only a sidecar shapes traffic; without one (the harness, the
		// local:exec runner) ConfigureNetwork would be a no-op, and the
		// harness's proxies add the latency instead.
		err := ic.NetClient.ConfigureNetwork(ctx, &network.Config{
			Network:       network.DefaultDataNetwork,
			Enable:        true,
			Default:       network.LinkShape{Latency: in.link.Delay, Jitter: in.link.Jitter, Loss: float32(in.link.Loss)},
			CallbackState: "network-configured",
			RoutingPolicy: network.AllowAll,
		})
		if err != nil {
			return nil, err
		}
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	in.key = key
	switch l := os.Getenv(envListen); {
	case l != "":
		in.listen = []string{l}
		if a := os.Getenv(envAnnounce); a != "" {
			in.announce = []string{a}
		}
	case env.TestSidecar:
		ip, err := ic.NetClient.GetDataNetworkIP()
		if err != nil {
			return nil, err
		}
		// A fixed port, so that a churned node comes back where it was.
		in.listen = []string{fmt.Sprintf("/ip4/%s/tcp/4001", ip)}
	default:
		in.listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	return in, nil
}

// startNode starts (or, after a churn, restarts) the instance's node
// with its key, addresses and datastore.
func (in *instance) startNode(ctx context.Context, extra ...p2p.Option) (*p2p.Node, error) {
	opts := []p2p.Option{
		p2p.WithLogger(in.logger()),
		p2p.WithIdentity(in.key),
		p2p.WithListenAddrs(in.listen...),
		p2p.WithDatastore(in.ds),
	}
	if len(in.announce) > 0 {
		opts = append(opts, p2p.WithNAT(p2p.NAT{Announce: in.announce}))
	}
	n, err := p2p.New(ctx, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("starting the node: %w", err)
	}
	if len(in.listen) == 1 && strings.HasSuffix(in.listen[0], "/tcp/0") {
		// A free port: later starts (churn) take the same one.
		in.listen = nil
		for _, a := range n.Addrs() {
			in.listen = append(in.listen, a.String())
		}
	}
	return n, nil
}

// logger is the node's: to stderr (the sdk keeps it in run.err), from
// param log_level ("warn" unless given: "info" adds every failed
// request the node served, with its cause).
func (in *instance) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(stringParam(in.env, "log_level", "warn"))); err != nil {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// record is this instance's peer record.
func (in *instance) record() peerRecord {
	r := peerRecord{Seq: in.seq, Group: in.group, Hostile: in.hostile, ID: in.node.ID().String(), StoreID: in.node.StoreID()}
	r.Addrs = in.announce
	if len(r.Addrs) == 0 {
		for _, a := range in.node.Addrs() {
			r.Addrs = append(r.Addrs, a.String())
		}
	}
	return r
}

// exchangeRecords publishes this instance's record and waits for every
// instance's.
func (in *instance) exchangeRecords(ctx context.Context) error {
	if _, err := in.sync.Publish(ctx, peersTopic, in.record()); err != nil {
		return err
	}
	recs, err := collect[peerRecord](ctx, in.sync, "peers", in.env.TestInstanceCount)
	if err != nil {
		return fmt.Errorf("collecting peer records: %w", err)
	}
	slices.SortFunc(recs, func(a, b peerRecord) int { return int(a.Seq - b.Seq) })
	in.peers = recs
	return nil
}

// collect reads n values from the topic name (of values of type T).
func collect[T any](ctx context.Context, c sync.Client, name string, n int) ([]T, error) {
	ch := make(chan *T, n)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := c.Subscribe(sctx, sync.NewTopic(name, new(T)), ch)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, n)
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, *v)
		case err := <-sub.Done():
			return nil, fmt.Errorf("subscription to %s ended after %d of %d: %v", name, len(out), n, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %d of %d: %w", name, len(out), n, ctx.Err())
		}
	}
	return out, nil
}

// honest returns the records of the honest instances other than this one.
func (in *instance) honest() []peerRecord {
	var out []peerRecord
	for _, r := range in.peers {
		if !r.Hostile && r.Seq != in.seq {
			out = append(out, r)
		}
	}
	return out
}

// honestCount counts the honest instances, this one included if honest.
func (in *instance) honestCount() int {
	n := 0
	for _, r := range in.peers {
		if !r.Hostile {
			n++
		}
	}
	return n
}

// trust gives every honest instance the trusted sandbox here, and
// leaves hostile ones the default policy's.
func (in *instance) trust(n *p2p.Node) error {
	sb, err := capabilities.ParseSandbox(trustedSandbox)
	if err != nil {
		return err
	}
	pol := capabilities.DefaultPolicy()
	if err := pol.SetSandbox("plan", sb); err != nil {
		return err
	}
	for _, r := range in.honest() {
		id, err := peer.Decode(r.ID)
		if err != nil {
			return err
		}
		if err := pol.SetPeer(id, "plan"); err != nil {
			return err
		}
	}
	return n.SetPolicy(pol)
}

// learnAddrs puts every other instance's addresses in n's peerstore, so
// that calls by peer ID dial them without a DHT (and a restarted node
// finds them again).
func (in *instance) learnAddrs(n *p2p.Node) error {
	for _, r := range in.peers {
		if r.Seq == in.seq {
			continue
		}
		id, err := peer.Decode(r.ID)
		if err != nil {
			return err
		}
		var addrs []ma.Multiaddr
		for _, a := range r.Addrs {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return err
			}
			addrs = append(addrs, m)
		}
		n.Host().Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
	}
	return nil
}

// inTurn runs f in this instance's turn: with serial, the honest
// instances take turns in sequence order, each running its f while the
// others wait, so that what f measures is the network and one caller's
// work, not every instance's at once on a machine's few cores; without
// it, f runs at once.
func (in *instance) inTurn(ctx context.Context, name string, serial bool, f func() error) error {
	if !serial {
		return f()
	}
	var honest []peerRecord
	for _, r := range in.peers {
		if !r.Hostile {
			honest = append(honest, r)
		}
	}
	for t, r := range honest {
		if r.Seq == in.seq {
			if err := f(); err != nil {
				return err
			}
		}
		if err := in.barrier(ctx, fmt.Sprintf("%s-turn-%d", name, t), len(honest)); err != nil {
			return err
		}
	}
	return nil
}

// barrier signals state and waits until want instances have.
func (in *instance) barrier(ctx context.Context, state string, want int) error {
	_, err := in.sync.SignalAndWait(ctx, sync.State(state), want)
	if err != nil {
		return fmt.Errorf("barrier %s: %w", state, err)
	}
	return nil
}

// point records one measurement in results.out.
func (in *instance) point(name string, v float64) { in.env.R().RecordPoint(name, v) }

// caseTimeout bounds a whole case: a hang fails it instead of blocking
// the run.
func caseTimeout(env *runtime.RunEnv) time.Duration {
	return time.Duration(intParam(env, "timeout_s", 300)) * time.Second
}

func intParam(env *runtime.RunEnv, name string, def int) int {
	s, ok := env.TestInstanceParams[name]
	if !ok || s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("param %s=%q: %v", name, s, err))
	}
	return v
}

func floatParam(env *runtime.RunEnv, name string, def float64) float64 {
	s, ok := env.TestInstanceParams[name]
	if !ok || s == "" {
		return def
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(fmt.Sprintf("param %s=%q: %v", name, s, err))
	}
	return v
}

func stringParam(env *runtime.RunEnv, name, def string) string {
	if s, ok := env.TestInstanceParams[name]; ok && s != "" {
		return s
	}
	return def
}

// errorKind classifies a failed call for the failure counts.
func errorKind(err error) string {
	var ce *p2p.CallError
	var ch *p2p.ChanError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.DeadlineExceeded):
		return "hung"
	case errors.As(err, &ch):
		return "chan-" + strings.ReplaceAll(string(ch.Reason), " ", "-")
	case errors.As(err, &ce):
		return string(ce.Code)
	}
	return classifyText(err.Error())
}

// classifyText classifies an Err the language reports as text (await!'s
// Left, a failed evaluation's message).
func classifyText(s string) string {
	switch {
	case strings.Contains(s, "Timeout") || strings.Contains(s, "timeout") || strings.Contains(s, "timed out"):
		return "timeout"
	case strings.Contains(s, "no listener"):
		return "no-listener"
	case strings.Contains(s, "dial backoff"):
		// libp2p's backoff after a failed dial: a node that came back
		// is not dialed again until it expires.
		return "dial-backoff"
	case strings.Contains(s, "unreachable") || strings.Contains(s, "cannot reach") || strings.Contains(s, "connection refused") ||
		strings.Contains(s, "failed to dial") || strings.Contains(s, "no addresses") || strings.Contains(s, "connection failed"):
		return "unreachable"
	case strings.Contains(s, "Denied") || strings.Contains(s, "denied"):
		return "denied"
	case strings.Contains(s, "closed") || strings.Contains(s, "reset") || strings.Contains(s, "canceled"):
		return "reset"
	}
	return "other"
}

// meet is what every case does once its node is up: publish and collect
// the instances' records, trust the other honest instances, and learn
// every instance's addresses.
func (in *instance) meet(ctx context.Context) error {
	if err := in.exchangeRecords(ctx); err != nil {
		return err
	}
	if err := in.trust(in.node); err != nil {
		return err
	}
	return in.learnAddrs(in.node)
}
