package p2p

import (
	"context"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
)

// netHost is the node's eval.Host: `here` is the node, a thunk sent to
// the node itself runs at once on the calling thread (as with
// eval.LocalHost), and a thunk sent to another peer runs there through
// /unode/eval/1.0.0 on a goroutine that completes the future. Node data
// is the node's datastore (/data/...). Clusters are found through the
// DHT (clusters.go). Channels are still the in-memory ones of
// eval.LocalHost.
type netHost struct {
	*eval.LocalHost
	n    *Node
	self *eval.Node
	// acc, when set, sums the sync figures of the calls made through
	// this host (one host per evaluation that reports them).
	acc *syncAccumulator
	// tokens are presented on the calls made through this host, each to
	// the node that issued its root.
	tokens []*capabilities.Token
	// onBehalfOf is set on the host of a foreign evaluation: the caller,
	// with whom the code this host's calls send must be shareable (see
	// foreignHost).
	onBehalfOf peer.ID
}

var (
	_ eval.Host        = (*netHost)(nil)
	_ eval.NodeParser  = (*netHost)(nil)
	_ eval.ChannelHost = (*netHost)(nil)
	_ eval.DataHost    = (*netHost)(nil)
	_ eval.ClusterHost = (*netHost)(nil)
)

// tokensFor returns the encodings of the tokens to present to p: those
// whose chain is rooted at p (no other node could accept them).
func tokensFor(toks []*capabilities.Token, p peer.ID) [][]byte {
	var out [][]byte
	for _, t := range toks {
		if t != nil && t.Root().Issuer() == p && len(out) < capabilities.MaxPresentedTokens {
			out = append(out, t.Bytes())
		}
	}
	return out
}

func newNetHost(n *Node, acc *syncAccumulator) *netHost {
	// The node's own eval.Node is shared by its hosts (a foreign
	// evaluation makes one): nothing modifies an eval.Node once made.
	self := n.selfNode
	if self == nil {
		id := n.selfID
		if id == "" {
			id = n.id.String()
		}
		self = &eval.Node{ID: id}
	}
	h := &netHost{n: n, self: self, acc: acc}
	if n.net != nil {
		h.LocalHost = n.net.LocalHost // one node, one set of channels and data
	} else {
		h.LocalHost = eval.NewLocalHost(self.ID)
	}
	return h
}

func (h *netHost) Here(*eval.Thread) (*eval.Node, error) { return h.self, nil }

func (h *netHost) Spawn(th *eval.Thread, node *eval.Node, thunk eval.Value) *eval.Future {
	f := eval.NewFuture()
	pid, addrs, err := parseNode(node)
	if err != nil {
		f.Fail(err)
		return f
	}
	if pid == h.n.id {
		return eval.ForceHere(th, thunk) // timeout judges it by how long it ran
	}
	if h.onBehalfOf != "" && !h.n.peers.get(pid).sameStore() {
		if err := h.n.checkShareableCode(th.Context(), thunk, h.onBehalfOf); err != nil {
			f.Fail(err)
			return f
		}
	}
	// Charged to the evaluation's memory and fuel, and bounded by its
	// result budget, before the wire form is allocated: a thunk holding
	// a value with much shared structure is refused, not expanded.
	w, err := th.ToWire(thunk)
	if err != nil {
		f.Fail(fmt.Errorf("at %s: %w", shortPeer(node.ID), err))
		return f
	}
	opts := callOptions{tokens: tokensFor(h.tokens, pid), onBehalfOf: h.onBehalfOf}
	if !h.n.track() {
		f.Fail(fmt.Errorf("at %s: this node is closed", shortPeer(node.ID)))
		return f
	}
	ctx, cancel := context.WithCancel(th.Context())
	stop := context.AfterFunc(h.n.ctx, cancel)
	f.OnCancel(cancel) // race losers: the stream is reset, the callee stops
	b := Budget{Fuel: th.Fuel, MaxMemory: th.MaxMemory, MaxDepth: th.MaxDepth, MaxResultBytes: th.MaxResultBytes}
	go func() {
		defer h.n.wg.Done()
		defer stop()
		defer cancel()
		res, err := h.n.callThunk(ctx, pid, addrs, w, b, opts)
		if res != nil && h.acc != nil {
			h.acc.add(res.sync)
		}
		if err != nil {
			f.Fail(err)
			return
		}
		f.Resolve(res.value)
	}()
	return f
}

// DataGet, DataPut, DataList and DataDelete are the node's data (see
// Codebase.DataGet); the checks of foreign evaluations are foreignHost's.
func (h *netHost) DataGet(th *eval.Thread, key string) (eval.Value, bool, error) {
	return h.n.cb.dataGetFor(th, key)
}

func (h *netHost) DataPut(th *eval.Thread, key string, v eval.Value) error {
	// A foreign evaluation's value is stored inline only (dataPut).
	return h.n.cb.dataPut(th.Context(), key, v, h.onBehalfOf == "")
}

func (h *netHost) DataList(th *eval.Thread, prefix string) ([]string, error) {
	return h.n.cb.DataList(th.Context(), prefix)
}

func (h *netHost) DataDelete(th *eval.Thread, key string) error {
	return h.n.cb.DataDelete(th.Context(), key)
}

// parseNode reads a Node value: a peer ID, with optional multiaddr hints
// (with or without a /p2p/ suffix).
func parseNode(node *eval.Node) (peer.ID, []ma.Multiaddr, error) {
	id, addrs, err := parseTarget(node.ID)
	if err != nil {
		return "", nil, err
	}
	for _, a := range node.Addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return "", nil, fmt.Errorf("node address %q: %w", a, err)
		}
		t, p := peer.SplitAddr(m)
		if p != "" && p != id {
			return "", nil, fmt.Errorf("node address %q is for another peer", a)
		}
		if t != nil {
			addrs = append(addrs, t)
		}
	}
	return id, addrs, nil
}

// parseTarget reads a peer ID or a multiaddr ending in /p2p/<id>.
func parseTarget(s string) (peer.ID, []ma.Multiaddr, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/") {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return "", nil, fmt.Errorf("node %q: %w", s, err)
		}
		t, id := peer.SplitAddr(m)
		if id == "" {
			return "", nil, fmt.Errorf("node %q: the address must end in /p2p/<peer id>", s)
		}
		if t == nil {
			return id, nil, nil
		}
		return id, []ma.Multiaddr{t}, nil
	}
	id, err := peer.Decode(s)
	if err != nil {
		return "", nil, fmt.Errorf("node %q is not a peer ID: %w", s, err)
	}
	return id, nil, nil
}

// ParseNode names a node by peer ID or by a multiaddr ending in
// /p2p/<id> (for Node.fromText); the address becomes a dialing hint.
func (h *netHost) ParseNode(text string) (*eval.Node, bool) {
	id, addrs, err := parseTarget(text)
	if err != nil {
		return nil, false
	}
	n := &eval.Node{ID: id.String()}
	for _, a := range addrs {
		n.Addrs = append(n.Addrs, a.String())
	}
	return n, true
}
