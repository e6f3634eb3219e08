package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/unode-dev/unode/capabilities"
)

// metricValue is the value of the series name{labels} in reg, and
// whether it is there.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return valueOf(m), true
		}
	}
	return 0, false
}

func valueOf(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestMetricsCount drives a node with WithMetrics through an
// evaluation that succeeds, one that runs out of fuel and one with a
// token that does not verify, and reads the counts from its registry,
// beside go-libp2p's own series; closing the node takes its series out.
func TestMetricsCount(t *testing.T) {
	ctx := context.Background()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	pol := capabilities.DefaultPolicy()
	pol.Default = mustSandbox(t, "--allow pure --fuel 100000 --memory 64MiB --time 10s --result 1MiB")
	callee := newTestNode(t, WithIdentity(key), WithMetrics(reg), WithPolicy(pol))
	caller := newTestNode(t)
	connectAll(t, caller, callee)

	if _, err := caller.EvalAt(ctx, callee.ID().String(), "1 + 2", Budget{}); err != nil {
		t.Fatal(err)
	}
	addSource(t, caller, "spin n = if n == 0 then 0 else spin (n - 1)\n")
	_, err = caller.EvalAt(ctx, callee.ID().String(), "spin 100000000", Budget{})
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeBudget {
		t.Fatalf("spin: %v, want a budget error", err)
	}
	// A token the callee issued, but to another peer than the caller.
	other, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	otherID, _ := peer.IDFromPrivateKey(other)
	tok, err := capabilities.Issue(key, capabilities.Claims{Audience: otherID,
		Sandbox: mustSandbox(t, "--allow pure --fuel 1000"), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := caller.EvalAt(ctx, callee.ID().String(), "3 + 4", Budget{}, WithTokens(tok)); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"unode_foreign_evaluations_total", map[string]string{"outcome": "ok", "peer_class": "unknown"}, 2},
		{"unode_foreign_evaluations_total", map[string]string{"outcome": "budget", "peer_class": "unknown"}, 1},
		{"unode_foreign_evaluations_total", map[string]string{"outcome": "denied", "peer_class": "unknown"}, 0},
		{"unode_foreign_budget_exhausted_total", map[string]string{"budget": "fuel"}, 1},
		{"unode_tokens_refused_total", map[string]string{"reason": "wrong_audience"}, 1},
		{"unode_tokens_verified_total", nil, 0},
		{"unode_foreign_evaluations_running", nil, 0},
		{"unode_peers_connected", nil, 1},
	} {
		got, ok := metricValue(t, reg, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// go-libp2p's own metrics are on, in the same registry.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var libp2pFamilies int
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "libp2p_") {
			libp2pFamilies++
		}
	}
	if libp2pFamilies == 0 {
		t.Error("no libp2p_ metric families in the node's registry")
	}
	if v, ok := metricValue(t, reg, "libp2p_rcmgr_streams", map[string]string{"scope": "system", "dir": "inbound"}); !ok {
		t.Errorf("no libp2p_rcmgr_streams{scope=system}: the resource manager reports nothing (%v)", v)
	}

	// The set of series is fixed: a node that served nobody has as many.
	fresh := prometheus.NewRegistry()
	newTestNode(t, WithMetrics(fresh))
	if got, want := unodeSeries(t, reg), unodeSeries(t, fresh); got != want {
		t.Errorf("%d unode_ series after calls from a peer, %d on a fresh node", got, want)
	}

	callee.Close()
	if _, ok := metricValue(t, reg, "unode_foreign_evaluations_total", nil); ok {
		t.Error("a closed node's series are still in the registry")
	}
}

// TestMetricsOneRegistryPerNode: a second node on the same registry
// fails New with AlreadyRegisteredError instead of mixing its counts
// with the first's, and one on the registry wrapped with a label fails
// with an error (go-libp2p panicked on it); on a registry of its own it
// starts.
func TestMetricsOneRegistryPerNode(t *testing.T) {
	reg := prometheus.NewRegistry()
	newTestNode(t, WithMetrics(reg))
	_, err := New(context.Background(), WithMetrics(reg))
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second node on one registry: %v, want AlreadyRegisteredError", err)
	}
	_, err = New(context.Background(), WithMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"node": "b"}, reg)))
	if err == nil || !strings.Contains(err.Error(), "go-libp2p's metrics") {
		t.Fatalf("node on a labelled wrapper of a used registry: %v, want an error naming go-libp2p's metrics", err)
	}
	own := prometheus.NewRegistry()
	newTestNode(t, WithMetrics(own))
	if _, ok := metricValue(t, own, "unode_peers_connected", nil); !ok {
		t.Error("the node's series are not in its own registry")
	}
}

// TestIdentifyAgentVersion: a plain libp2p host that connects to a node
// reads "unode/<version>" and unode's protocol version from identify
// (the agent was "github.com/unode-dev/unode@", the protocol version
// empty); WithAgentVersion replaces the agent; Identify reads another
// node's.
func TestIdentifyAgentVersion(t *testing.T) {
	ctx := context.Background()
	n := newTestNode(t)
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	agent, _ := h.Peerstore().Get(n.ID(), "AgentVersion")
	pv, _ := h.Peerstore().Get(n.ID(), "ProtocolVersion")
	if agent != DefaultAgentVersion() || !strings.HasPrefix(DefaultAgentVersion(), "unode/") || len(DefaultAgentVersion()) <= len("unode/") {
		t.Errorf("agent version %q, want %q (unode/<version>)", agent, DefaultAgentVersion())
	}
	if pv != IdentifyProtocolVersion {
		t.Errorf("protocol version %q, want %q", pv, IdentifyProtocolVersion)
	}

	m := newTestNode(t, WithAgentVersion("unode/v9.9.9-test"))
	id, err := n.Identify(ctx, m.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if id.ID != m.ID().String() || id.AgentVersion != "unode/v9.9.9-test" || id.ProtocolVersion != IdentifyProtocolVersion ||
		!slices.Contains(id.Protocols, string(ProtocolEval)) || !slices.Contains(id.Protocols, string(ProtocolChan)) || id.PublicKey == "" {
		t.Errorf("Identify = %+v", id)
	}
	// Connected now: by peer ID alone, without a dial.
	if id2, err := n.Identify(ctx, m.ID().String()); err != nil || id2.AgentVersion != id.AgentVersion {
		t.Errorf("Identify by ID: %+v, %v", id2, err)
	}
	self, err := n.Identity()
	if err != nil || self.AgentVersion != DefaultAgentVersion() || self.PublicKey == "" || !slices.Contains(self.Protocols, string(ProtocolBlocks)) {
		t.Errorf("Identity = %+v, %v", self, err)
	}
	if _, err := New(ctx, WithAgentVersion("two\nlines")); err == nil {
		t.Error("WithAgentVersion took an agent with a newline")
	}
}

// unodeSeries counts the unode_ series in reg.
func unodeSeries(t *testing.T, reg prometheus.Gatherer) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "unode_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}
