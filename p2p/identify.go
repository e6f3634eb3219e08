package p2p

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/unode-dev/unode/p2p/discovery"
)

// What a node says about itself in libp2p's identify exchange, which
// every connection runs: its agent version (the software and its
// version, like kubo's "kubo/0.30.0/abc123") and its protocol version
// (the family of protocols it speaks, like "ipfs/0.1.0"). Other
// implementations read them from identify (`unode id PEER` prints a
// peer's).

// IdentifyProtocolVersion is the protocol version a node states in
// identify: unode's protocol family, version 1 (ProtocolVersion in
// status messages).
const IdentifyProtocolVersion = "unode/1.0.0"

// modulePath is unode's Go module, whose version the agent states.
const modulePath = "github.com/unode-dev/unode"

// ModuleVersion is the version of unode's Go module in this binary, from
// its build information: the tag or pseudo-version a release build or
// `go install ...@version` records, whether unode is the main module
// (the unode binary) or a dependency (a program embedding a node). It is
// "devel" when the build recorded none (a `go build` in a checkout
// without VCS stamping, or `go test`).
func ModuleVersion() string { return moduleVersion() }

var moduleVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := ""
	if bi.Main.Path == modulePath {
		v = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			v = d.Version
			if d.Replace != nil && d.Replace.Version != "" {
				v = d.Replace.Version
			}
		}
	}
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
})

// DefaultAgentVersion is the agent version a node states unless
// WithAgentVersion sets another: "unode/" and ModuleVersion.
func DefaultAgentVersion() string { return "unode/" + ModuleVersion() }

// maxAgentVersion bounds the agent version a node states: identify's
// message carries it with the protocol list and the addresses, which
// go-libp2p trims to fit the message's cap (a few KiB), so a long agent
// costs the node its announced addresses; an agent is a short name.
const maxAgentVersion = 256

// WithAgentVersion sets the agent version the node states in identify
// (DefaultAgentVersion when unset). The unode command sets
// "unode/<version>" with the version it was built as.
func WithAgentVersion(agent string) Option {
	return func(c *config) error {
		if agent == "" || len(agent) > maxAgentVersion || strings.ContainsAny(agent, "\n\r") {
			return errors.New("WithAgentVersion: want one line of 1 to 256 bytes")
		}
		c.agent = agent
		return nil
	}
}

// Protocols are the libp2p stream protocols of unode that a node
// answers, with the DHT's under unode's default prefix (a node
// configured with WithDHTProtocolPrefix answers that prefix's instead,
// and a node with DHTOff none). libp2p's own (identify, ping) come on
// top. They are sorted, as identify lists them.
func Protocols() []protocol.ID {
	ps := []protocol.ID{
		ProtocolEval, ProtocolBlocks, ProtocolStatus, ProtocolChan, ProtocolMember,
		discovery.DefaultProtocolPrefix + "/kad/1.0.0",
	}
	slices.Sort(ps)
	return ps
}

// AgentVersion is the agent version this node states in identify.
func (n *Node) AgentVersion() string { return n.agent }

// PeerIdentity is what a peer said about itself in identify, as this
// node's peerstore holds it. Every field but ID and PublicKey is the
// peer's own say-so.
type PeerIdentity struct {
	ID string `json:"id"`
	// PublicKey is the peer's public key, libp2p's protobuf encoding in
	// standard base64 (as kubo's `ipfs id` prints it); the peer ID is
	// its hash, so it is not the peer's say-so.
	PublicKey       string   `json:"publicKey"`
	AgentVersion    string   `json:"agentVersion"`
	ProtocolVersion string   `json:"protocolVersion"`
	Protocols       []string `json:"protocols"`
	// Addrs are the addresses the peer listens on, as it announced them.
	Addrs []string `json:"addrs"`
}

// Identity is this node's PeerIdentity: what its identify tells others.
func (n *Node) Identity() (*PeerIdentity, error) {
	id := &PeerIdentity{ID: n.selfID, AgentVersion: n.agent, ProtocolVersion: IdentifyProtocolVersion,
		Protocols: protocolStrings(n.host.Mux().Protocols()), Addrs: []string{}}
	for _, a := range n.host.Addrs() {
		id.Addrs = append(id.Addrs, a.String())
	}
	var err error
	if id.PublicKey, err = encodePublicKey(n.key.GetPublic()); err != nil {
		return nil, err
	}
	return id, nil
}

// Identify returns what target (a peer ID, or a multiaddr ending in
// /p2p/<id>) said about itself in identify. A peer this node is not
// connected to is dialed first: at the address given, at one it knows,
// or at one the DHT finds for its ID. It waits for the identify exchange
// of the connection, within IdentifyTimeout.
func (n *Node) Identify(ctx context.Context, target string) (*PeerIdentity, error) {
	p, addrs, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	if p == n.id {
		return n.Identity()
	}
	ctx, cancel := context.WithTimeout(ctx, IdentifyTimeout)
	defer cancel()
	// Subscribed before looking, so that an exchange that completes in
	// between is not missed.
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, fmt.Errorf("identifying %s: %w", p, err)
	}
	defer sub.Close()
	if n.host.Network().Connectedness(p) != network.Connected {
		// BasicHost.Connect returns once identify has run on the new
		// connection.
		if err := n.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs}); err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", p, err)
		}
	}
	ps := n.host.Peerstore()
	agent, _ := ps.Get(p, "AgentVersion")
	for agent == nil {
		select {
		case ev := <-sub.Out():
			if e, ok := ev.(event.EvtPeerIdentificationCompleted); ok && e.Peer == p {
				agent, _ = ps.Get(p, "AgentVersion")
				if agent == nil {
					agent = e.AgentVersion
				}
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("identifying %s: no identify answer: %w", p, ctx.Err())
		}
	}
	id := &PeerIdentity{ID: p.String(), Addrs: []string{}}
	id.AgentVersion, _ = agent.(string)
	if v, _ := ps.Get(p, "ProtocolVersion"); v != nil {
		id.ProtocolVersion, _ = v.(string)
	}
	protos, err := ps.GetProtocols(p)
	if err != nil {
		return nil, fmt.Errorf("identifying %s: %w", p, err)
	}
	id.Protocols = protocolStrings(protos)
	for _, a := range ps.Addrs(p) {
		id.Addrs = append(id.Addrs, a.String())
	}
	slices.Sort(id.Addrs)
	if pk := ps.PubKey(p); pk != nil {
		if id.PublicKey, err = encodePublicKey(pk); err != nil {
			return nil, err
		}
	}
	return id, nil
}

func protocolStrings(ps []protocol.ID) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, string(p))
	}
	slices.Sort(out)
	return out
}

func encodePublicKey(k crypto.PubKey) (string, error) {
	b, err := crypto.MarshalPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("encoding the public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
