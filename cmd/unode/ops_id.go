package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/unode-dev/unode/p2p"
)

// --- id ---

// idRequest asks who this node is or, with Peer, who another node says
// it is (identify).
type idRequest struct {
	Peer string `json:"peer,omitempty"`
}

// idResult identifies a node. Addrs are full multiaddrs ending in
// /p2p/<id>, usable as given by `unode connect` and `--at`; they are empty
// when no daemon runs (the node is not listening). For this node, Store
// is its store ID and Protocols what it answers (while no daemon runs:
// the unode protocols a daemon would answer). For another (`unode id
// PEER`), everything but ID and PublicKey is what that peer stated in
// identify, and Addrs are the addresses it announced (not ending in
// /p2p/); Store is absent.
type idResult struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	Store string   `json:"store,omitempty"`
	// PublicKey is libp2p's protobuf encoding of the public key, in
	// standard base64 (as kubo's `ipfs id`).
	PublicKey       string   `json:"publicKey"`
	AgentVersion    string   `json:"agentVersion"`
	ProtocolVersion string   `json:"protocolVersion"`
	Protocols       []string `json:"protocols"`
}

func (r *idResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "id        %s\n", r.ID)
	if r.Store != "" {
		fmt.Fprintf(&b, "store     %s\n", r.Store)
	}
	// What another peer stated is printed quoted when it holds anything
	// but printable text: a terminal is not the place for its escape
	// sequences.
	fmt.Fprintf(&b, "agent     %s\nprotocol  %s\nkey       %s\n", printable(r.AgentVersion), printable(r.ProtocolVersion), r.PublicKey)
	if len(r.Addrs) == 0 && r.Store != "" { // this node's
		b.WriteString("addrs     none (not listening: start `unode daemon`)\n")
	}
	for _, a := range r.Addrs {
		fmt.Fprintf(&b, "addr      %s\n", printable(a))
	}
	for _, p := range r.Protocols {
		fmt.Fprintf(&b, "speaks    %s\n", printable(p))
	}
	return b.String()
}

// printable is s, or s quoted when it holds a character that is not
// printable (a control character, an escape sequence's ESC) or is empty.
func printable(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}

// peerIdentifier is what `unode id PEER` needs of the running node
// (p2pNode).
type peerIdentifier interface {
	Identify(ctx context.Context, target string) (*p2p.PeerIdentity, error)
	Identity() (*p2p.PeerIdentity, error)
}

var _ peerIdentifier = p2pNode{}

var idOp = &operation[idRequest, idResult]{
	name: "id",
	network: func(r *idRequest) string {
		if r.Peer != "" {
			return "id PEER"
		}
		return ""
	},
	do: func(ctx context.Context, b *backend, req *idRequest) (*idResult, error) {
		if req.Peer != "" {
			pi, ok := b.node.(peerIdentifier)
			if !ok {
				return nil, errors.New("id PEER: this node cannot identify peers")
			}
			id, err := pi.Identify(ctx, req.Peer)
			if err != nil {
				return nil, err
			}
			return fromIdentity(id), nil
		}
		if pi, ok := b.node.(peerIdentifier); ok {
			id, err := pi.Identity()
			if err != nil {
				return nil, err
			}
			out := fromIdentity(id)
			out.Addrs, out.Store = nonNil(b.node.Addrs()), b.node.StoreID()
			return out, nil
		}
		// No daemon (or a test's node without libp2p): what a daemon on
		// this repo and binary would state.
		key, err := crypto.MarshalPublicKey(b.repo.Key.GetPublic())
		if err != nil {
			return nil, fmt.Errorf("encoding the public key: %w", err)
		}
		bi := thisBuild()
		out := &idResult{ID: b.repo.ID.String(), Addrs: []string{}, PublicKey: base64.StdEncoding.EncodeToString(key),
			AgentVersion: bi.Agent, ProtocolVersion: bi.ProtocolVersion, Protocols: bi.Protocols}
		if b.node != nil {
			out.ID, out.Addrs, out.Store = b.node.ID(), nonNil(b.node.Addrs()), b.node.StoreID()
			return out, nil
		}
		if out.Store, err = b.cb.Store().StoreID(ctx); err != nil {
			return nil, fmt.Errorf("reading store ID: %w", err)
		}
		return out, nil
	},
}

func fromIdentity(id *p2p.PeerIdentity) *idResult {
	return &idResult{ID: id.ID, Addrs: nonNil(id.Addrs), PublicKey: id.PublicKey, AgentVersion: id.AgentVersion,
		ProtocolVersion: id.ProtocolVersion, Protocols: nonNil(id.Protocols)}
}
