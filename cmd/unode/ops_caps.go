package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
)

// Operations on what foreign code may do here: the policy (config.json),
// grants and revocations, and the audit log. The grant store lives in the
// repo's datastore; inside the daemon it is the node's, so a revocation
// made through the API is what the node checks on its next request.

// grantStore is the store of the backend's grants: the node's in the
// daemon, one over the repo's datastore otherwise.
func (b *backend) grantStore() *capabilities.Store {
	if b.node != nil {
		return b.node.Grants()
	}
	return capabilities.NewStore(b.repo.Datastore)
}

// selfID is the backend's peer ID.
func (b *backend) selfID() string {
	if b.node != nil {
		return b.node.ID()
	}
	return b.repo.ID.String()
}

// --- policy ---

type policyRequest struct{}

// policyResult is a policy; its JSON is the "policy" section of
// config.json.
type policyResult struct {
	capabilities.Policy
}

// Text prints one line per sandbox and per peer, the sandboxes in the
// flag syntax that `unode policy set` and `unode grant` take.
func (r *policyResult) Text() string {
	p := &r.Policy
	names := slices.Sorted(maps.Keys(p.Sandboxes))
	w := len(capabilities.DefaultSandboxName)
	for _, n := range names {
		w = max(w, len(n))
	}
	var b strings.Builder
	line := func(name string, sb capabilities.Sandbox) {
		s := sb.String()
		if s == "" {
			s = "(nothing: no code may run)"
		}
		fmt.Fprintf(&b, "sandbox  %-*s  %s\n", w, name, s)
	}
	line(capabilities.DefaultSandboxName, p.Default)
	for _, n := range names {
		line(n, p.Sandboxes[n])
	}
	peers := slices.SortedFunc(maps.Keys(p.Peers), func(a, b peer.ID) int { return strings.Compare(a.String(), b.String()) })
	for _, id := range peers {
		fmt.Fprintf(&b, "peer     %s  %s\n", id, p.Peers[id])
	}
	return b.String()
}

// clonePolicy returns a deep copy of p, so that a change can be checked
// and saved before it replaces the policy in use.
func clonePolicy(p *capabilities.Policy) (*capabilities.Policy, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	out := new(capabilities.Policy)
	if err := json.Unmarshal(data, out); err != nil {
		return nil, err
	}
	return out, nil
}

// changePolicy applies change to a copy of the repo's policy, saves it to
// config.json and, in the daemon, makes the node use it for the requests
// that follow. Changes are serialized; a failed change leaves both the
// config and the node as they were.
func (b *backend) changePolicy(change func(p *capabilities.Policy) error) (*policyResult, error) {
	b.cfgMu.Lock()
	defer b.cfgMu.Unlock()
	cfg := b.repo.Config
	old := cfg.Policy
	p, err := clonePolicy(old)
	if err != nil {
		return nil, err
	}
	if err := change(p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg.Policy = p
	if err := b.repo.SaveConfig(); err != nil {
		cfg.Policy = old
		return nil, fmt.Errorf("saving the policy: %w", err)
	}
	if b.node != nil {
		if err := b.node.SetPolicy(p); err != nil {
			cfg.Policy = old
			if err2 := b.repo.SaveConfig(); err2 != nil {
				return nil, fmt.Errorf("applying the policy: %w (and restoring config.json: %v)", err, err2)
			}
			return nil, fmt.Errorf("applying the policy: %w", err)
		}
	}
	return &policyResult{Policy: *p}, nil
}

var policyOp = &operation[policyRequest, policyResult]{
	name: "policy",
	do: func(ctx context.Context, b *backend, _ *policyRequest) (*policyResult, error) {
		b.cfgMu.Lock()
		defer b.cfgMu.Unlock()
		return &policyResult{Policy: *b.repo.Config.Policy}, nil
	},
}

// policySetRequest defines or replaces a sandbox; Name "default" is the
// sandbox of unknown peers.
type policySetRequest struct {
	Name    string               `json:"name"`
	Sandbox capabilities.Sandbox `json:"sandbox"`
}

var policySetOp = &operation[policySetRequest, policyResult]{
	name: "policy/set",
	do: func(ctx context.Context, b *backend, req *policySetRequest) (*policyResult, error) {
		return b.changePolicy(func(p *capabilities.Policy) error { return p.SetSandbox(req.Name, req.Sandbox) })
	},
}

// policyAssignRequest maps a peer to a sandbox; an empty Sandbox forgets
// the peer (it gets the default sandbox again).
type policyAssignRequest struct {
	Peer    string `json:"peer"`
	Sandbox string `json:"sandbox"`
}

var policyAssignOp = &operation[policyAssignRequest, policyResult]{
	name: "policy/assign",
	do: func(ctx context.Context, b *backend, req *policyAssignRequest) (*policyResult, error) {
		id, err := decodePeer(req.Peer)
		if err != nil {
			return nil, err
		}
		return b.changePolicy(func(p *capabilities.Policy) error {
			if req.Sandbox == "" {
				if _, ok := p.Peers[id]; !ok {
					return fmt.Errorf("peer %s has no sandbox assigned", id)
				}
			}
			return p.SetPeer(id, req.Sandbox)
		})
	},
}

type policyRmRequest struct {
	Name string `json:"name"`
}

var policyRmOp = &operation[policyRmRequest, policyResult]{
	name: "policy/rm",
	do: func(ctx context.Context, b *backend, req *policyRmRequest) (*policyResult, error) {
		if req.Name == capabilities.DefaultSandboxName {
			return nil, fmt.Errorf("the default sandbox cannot be removed (change it with `unode policy set-default`)")
		}
		return b.changePolicy(func(p *capabilities.Policy) error { return p.RemoveSandbox(req.Name) })
	},
}

// decodePeer reads a peer ID, or the /p2p/ component of a multiaddr.
func decodePeer(s string) (peer.ID, error) {
	id, err := peer.Decode(peerOf(strings.TrimSpace(s)))
	if err != nil {
		return "", fmt.Errorf("%q is not a peer ID: %w", s, err)
	}
	return id, nil
}

// --- grant, grants, revoke ---

type grantRequest struct {
	To      string               `json:"to"`
	Sandbox capabilities.Sandbox `json:"sandbox"`
	Expires time.Time            `json:"expires"`
	Note    string               `json:"note,omitempty"`
}

// grantResult is a token just issued. Text prints the token alone, so
// that `T=$(unode grant ...)` captures it.
type grantResult struct {
	ID       string    `json:"id"`
	Token    string    `json:"token"`
	Audience string    `json:"audience"`
	Expires  time.Time `json:"expires"`
	Sandbox  string    `json:"sandbox"`
}

func (r *grantResult) Text() string { return r.Token }

var grantOp = &operation[grantRequest, grantResult]{
	name: "grant",
	do: func(ctx context.Context, b *backend, req *grantRequest) (*grantResult, error) {
		aud, err := decodePeer(req.To)
		if err != nil {
			return nil, err
		}
		if !req.Expires.After(time.Now()) {
			return nil, fmt.Errorf("the expiry %s is not in the future", req.Expires.UTC().Format(time.RFC3339))
		}
		c := capabilities.Claims{Audience: aud, Sandbox: req.Sandbox, Expires: req.Expires}
		var tok *capabilities.Token
		if b.node != nil {
			tok, err = b.node.Grant(ctx, c, req.Note)
		} else {
			tok, err = b.grantStore().Grant(ctx, b.repo.Key, c, req.Note)
		}
		if err != nil {
			return nil, err
		}
		return &grantResult{ID: tok.ID(), Token: tok.String(), Audience: tok.Audience().String(),
			Expires: tok.Expires(), Sandbox: tok.Sandbox().String()}, nil
	},
}

type grantsRequest struct{}

// grantInfo is a recorded grant and its status now: "active", "not yet
// valid", "expired" or "revoked" — exactly what verification of the token
// would find at this moment.
type grantInfo struct {
	capabilities.GrantRecord
	Status string `json:"status"`
}

type grantsResult struct {
	Grants []grantInfo `json:"grants"`
}

func (r *grantsResult) Text() string {
	var b strings.Builder
	for _, g := range r.Grants {
		fmt.Fprintf(&b, "%s  %s  %-7s  until %s  %s", g.ID, g.Audience, g.Status,
			g.Expires.UTC().Format(time.RFC3339), orNothing(g.Sandbox))
		if g.Note != "" {
			fmt.Fprintf(&b, "  # %s", oneLine(g.Note))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func orNothing(sandbox string) string {
	if sandbox == "" {
		return "(nothing)"
	}
	return sandbox
}

var grantsOp = &operation[grantsRequest, grantsResult]{
	name: "grants",
	do: func(ctx context.Context, b *backend, _ *grantsRequest) (*grantsResult, error) {
		recs, err := b.grantStore().Grants(ctx)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		out := &grantsResult{Grants: []grantInfo{}}
		for _, r := range recs {
			status := "revoked"
			if !r.Revoked {
				tok, err := capabilities.ParseToken(r.Token)
				if err != nil {
					return nil, fmt.Errorf("grant %s: %w", r.ID, err)
				}
				// What the verifier (the root's issuer, this node for
				// its own grants) will do with the token now.
				status = capabilities.WindowStatus(tok, now, tok.Root().Issuer(), capabilities.ClockSkew)
			}
			out.Grants = append(out.Grants, grantInfo{GrantRecord: r, Status: status})
		}
		return out, nil
	},
}

type revokeRequest struct {
	What string `json:"what"` // a token, its ID, or an ID prefix
}

type revokeResult struct {
	ID string `json:"id"`
}

func (r *revokeResult) Text() string { return "revoked " + r.ID }

var revokeOp = &operation[revokeRequest, revokeResult]{
	name: "revoke",
	do: func(ctx context.Context, b *backend, req *revokeRequest) (*revokeResult, error) {
		id, err := b.grantStore().Revoke(ctx, req.What)
		if err != nil {
			return nil, err
		}
		return &revokeResult{ID: id}, nil
	},
}

// --- log ---

type logRequest struct {
	Limit int `json:"limit,omitempty"` // 0: all
}

type logResult struct {
	Entries []capabilities.AuditEntry `json:"entries"`
}

// Text prints one line per foreign evaluation, newest first.
func (r *logResult) Text() string {
	var b strings.Builder
	for _, e := range r.Entries {
		tokens := "-"
		if len(e.Tokens) > 0 {
			tokens = strings.Join(e.Tokens, ",")
		}
		root := e.Root
		if root == "" {
			root = "-"
		}
		fmt.Fprintf(&b, "%s  %s  %-6s  fuel %d  memory %d  token %s  root %s",
			e.Time.UTC().Format(time.RFC3339), e.Peer, e.Outcome, e.Fuel, e.Memory, tokens, root)
		if e.Detail != "" {
			fmt.Fprintf(&b, "  %s", oneLine(e.Detail))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

var logOp = &operation[logRequest, logResult]{
	name: "log",
	do: func(ctx context.Context, b *backend, req *logRequest) (*logResult, error) {
		if req.Limit < 0 {
			return nil, errors.New("--limit must not be negative")
		}
		entries, err := b.grantStore().AuditLog(ctx, req.Limit)
		if err != nil {
			return nil, err
		}
		return &logResult{Entries: nonNilSlice(entries)}, nil
	},
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
