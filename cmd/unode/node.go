package main

import (
	"context"
	"log/slog"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// netNode is what the daemon needs of a running node. *p2p.Node provides
// it through p2pNode (node_p2p.go); tests substitute a fake so that the
// daemon and the local API can be tested without a network.
type netNode interface {
	// ID is the node's peer ID.
	ID() string
	// Addrs are full, dialable multiaddrs ending in /p2p/<id>.
	Addrs() []string
	StoreID() string
	Codebase() *p2p.Codebase
	Connect(ctx context.Context, addr string) (peerInfo, error)
	Peers() []peerInfo
	// EvalAt and RunAt evaluate at target, presenting tokens (which may
	// be empty) to it.
	EvalAt(ctx context.Context, target, src string, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error)
	RunAt(ctx context.Context, target, filename string, src []byte, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error)
	// EvalTermAt evaluates a resolved term at target (run --scratch --at).
	EvalTermAt(ctx context.Context, target string, t dag.Term, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error)
	// Grants is the store of the node's grants, revocations and audit
	// log: the one the node checks presented tokens against.
	Grants() *capabilities.Store
	// Grant issues a token signed with the node's key and records it.
	Grant(ctx context.Context, c capabilities.Claims, note string) (*capabilities.Token, error)
	// SetPolicy replaces the node's policy for the requests that follow.
	SetPolicy(p *capabilities.Policy) error
	Close() error
}

// remoteResult is a value evaluated at another node, with the sync figures
// of the call.
type remoteResult struct {
	p2p.EvalResult
	Sync syncStats
}

// syncStats is what a remote call cost beyond the request itself: blocks
// and bytes sent to the callee and extra round trips. Its JSON form is the
// "sync" object of `unode eval --at --json`.
type syncStats struct {
	Blocks     int   `json:"blocks"`
	Bytes      int64 `json:"bytes"`
	RoundTrips int   `json:"roundTrips"`
}

// startNode starts the node of an open repo: its key is the node's
// identity, its datastore the node's store, listening on listen. It is a
// variable so that tests can run the daemon on a fake node.
var startNode = func(ctx context.Context, r *repo.Repo, listen []string, log *slog.Logger) (netNode, error) {
	return newP2PNode(ctx, r, listen, log)
}
