package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// p2pNode adapts *p2p.Node to netNode: peer IDs and multiaddrs as text,
// results in the CLI's own types (their JSON is the CLI's output format).
// metrics is the registry the node exports to, when the config's
// "metrics" asks for an endpoint (metrics.go).
type p2pNode struct {
	*p2p.Node
	metrics *prometheus.Registry
}

func (n p2pNode) MetricsRegistry() *prometheus.Registry { return n.metrics }

var _ netNode = p2pNode{}

// newP2PNode starts a p2p.Node with the repo's key as its identity, the
// repo's datastore as its store (blocks, node data, grants, revocations
// and the audit log), and the config's policy, DHT (bootstrap peers,
// mode, reprovide interval) and NAT traversal.
func newP2PNode(ctx context.Context, r *repo.Repo, listen []string, log *slog.Logger) (netNode, error) {
	opts := []p2p.Option{
		p2p.WithIdentity(r.Key),
		p2p.WithDatastore(r.Datastore),
		p2p.WithListenAddrs(listen...),
		p2p.WithLogger(log),
		p2p.WithAgentVersion(thisBuild().Agent),
	}
	var reg *prometheus.Registry
	if r.Config.Metrics != "" {
		reg = prometheus.NewRegistry()
		opts = append(opts, p2p.WithMetrics(reg))
	}
	if r.Config.Policy != nil {
		opts = append(opts, p2p.WithPolicy(r.Config.Policy))
	}
	netOpts, err := networkOptions(r.Config)
	if err != nil {
		return nil, err
	}
	opts = append(opts, netOpts...)
	n, err := p2p.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return p2pNode{Node: n, metrics: reg}, nil
}

// networkOptions are the node options of the config's "bootstrap",
// "dht" and "nat" sections (checked when the config was read).
func networkOptions(c *repo.Config) ([]p2p.Option, error) {
	var opts []p2p.Option
	if len(c.Bootstrap) > 0 {
		opts = append(opts, p2p.WithBootstrap(c.Bootstrap...))
	}
	if c.DHT.Mode != "" {
		opts = append(opts, p2p.WithDHTMode(p2p.DHTMode(c.DHT.Mode)))
	}
	if c.DHT.ProtocolPrefix != "" {
		opts = append(opts, p2p.WithDHTProtocolPrefix(c.DHT.ProtocolPrefix))
	}
	every, err := c.DHT.ReprovideEvery()
	if err != nil {
		return nil, err
	}
	opts = append(opts, p2p.WithReprovideInterval(every), p2p.WithNAT(p2p.NAT{
		AutoNAT:      c.NAT.AutoNAT,
		HolePunching: c.NAT.HolePunching,
		PortMap:      c.NAT.PortMap,
		Relays:       c.NAT.Relays,
		Announce:     c.NAT.Announce,
	}))
	return opts, nil
}

func (n p2pNode) ID() string { return n.Node.ID().String() }

func (n p2pNode) Addrs() []string {
	var out []string
	for _, a := range n.Node.Addrs() {
		out = append(out, a.String())
	}
	return out
}

func (n p2pNode) Connect(ctx context.Context, addr string) (peerInfo, error) {
	ai, err := n.Node.Connect(ctx, addr)
	if err != nil {
		return peerInfo{}, err
	}
	pi := peerInfo{ID: ai.ID.String(), Addrs: []string{}}
	for _, a := range ai.Addrs {
		pi.Addrs = append(pi.Addrs, a.String())
	}
	return pi, nil
}

func (n p2pNode) Peers() []peerInfo {
	var out []peerInfo
	for _, p := range n.Node.Peers() {
		out = append(out, peerInfo{ID: p.ID, Addrs: p.Addrs})
	}
	return out
}

func (n p2pNode) EvalAt(ctx context.Context, target, src string, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error) {
	return fromRemote(n.Node.EvalAt(ctx, target, src, b, p2p.WithTokens(tokens...)))
}

func (n p2pNode) EvalTermAt(ctx context.Context, target string, t dag.Term, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error) {
	res, err := n.Node.EvalTermAt(ctx, target, t, b, p2p.WithTokens(tokens...))
	return fromRemote(res, n.Node.RelocateCallError(ctx, err, t, nil))
}

func (n p2pNode) RunAt(ctx context.Context, target, filename string, src []byte, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error) {
	return fromRemote(n.Node.RunAt(ctx, target, filename, src, b, p2p.WithTokens(tokens...)))
}

func fromRemote(res *p2p.RemoteResult, err error) (*remoteResult, error) {
	if err != nil {
		return nil, err
	}
	return &remoteResult{
		EvalResult: res.EvalResult,
		Sync:       syncStats{Blocks: res.Sync.Blocks, Bytes: res.Sync.Bytes, RoundTrips: res.Sync.RoundTrips},
	}, nil
}
