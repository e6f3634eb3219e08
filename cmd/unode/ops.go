package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// An operation is one thing the CLI asks of a node. It has a single
// implementation, do, which runs against a backend: the daemon's (when
// `unode daemon` runs, the request travels over the local API and the
// daemon calls do) or one opened directly on the repo by the command
// itself. Requests and results are plain JSON-able structs, so both paths
// return the same typed result.
type operation[Req, Res any] struct {
	// name is the API endpoint: POST /api/v0/<name>.
	name string
	// network, when set, says whether a request needs the running node
	// (the libp2p host) rather than just the repo, by naming what needs
	// it ("connect", "eval --at") or returning "". Without a daemon such a
	// request fails with errNoDaemon before the repo is opened.
	network func(*Req) string
	do      func(ctx context.Context, b *backend, req *Req) (*Res, error)
}

// backend is what an operation runs against: the open repo, its codebase
// and, inside the daemon, the node.
type backend struct {
	repo *repo.Repo
	cb   *p2p.Codebase
	node netNode // nil when the repo was opened directly

	// cfgMu serializes changes to repo.Config (and config.json): in the
	// daemon, requests run concurrently.
	cfgMu sync.Mutex
}

// errNoDaemon is returned by operations that need the network when no
// daemon runs for the repo.
var errNoDaemon = errors.New("no daemon is running: start `unode daemon` first")

func needsNode(what string) error {
	return fmt.Errorf("%s needs the network, and %w", what, errNoDaemon)
}

// sourceFile is a file the client read; the daemon may not see the same
// filesystem (or working directory), so files travel by content.
type sourceFile struct {
	Name   string `json:"name"`
	Source []byte `json:"source"`
}

// budgetFlags are the budget flags as given; zero means the repo's
// configured default, resolved by the backend that evaluates.
type budgetFlags struct {
	Fuel    int64         `json:"fuel,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Memory  int64         `json:"memory,omitempty"`
}

// budget resolves budget flags against the backend repo's config.
func (b *backend) budget(f budgetFlags) (p2p.Budget, error) {
	cfg := b.repo.Config.Eval
	out := p2p.Budget{Fuel: cfg.Fuel, MaxMemory: f.Memory}
	if cfg.Timeout != "" {
		d, err := time.ParseDuration(cfg.Timeout)
		if err != nil {
			return out, fmt.Errorf("config eval.timeout: %w", err)
		}
		out.Timeout = d
	}
	if f.Fuel < 0 || f.Timeout < 0 || f.Memory < 0 {
		return out, fmt.Errorf("budgets must not be negative")
	}
	if f.Fuel > 0 {
		out.Fuel = f.Fuel
	}
	if f.Timeout > 0 {
		out.Timeout = f.Timeout
	}
	return out, nil
}

// --- add, names, show ---

type addRequest struct {
	Files []sourceFile `json:"files"`
	// Publish makes the definitions available to other nodes (blocks
	// are served to others only for published definitions).
	Publish bool `json:"publish,omitempty"`
}

type namesResult struct {
	Names []p2p.NameInfo `json:"names"`
}

func (r *namesResult) Text() string {
	var b strings.Builder
	w := 0
	for _, n := range r.Names {
		w = max(w, len(n.Name))
	}
	for _, n := range r.Names {
		fmt.Fprintf(&b, "%-*s  %-4s  %s\n", w, n.Name, n.Kind, refText(n.Ref))
	}
	return b.String()
}

var addOp = &operation[addRequest, namesResult]{
	name: "add",
	do: func(ctx context.Context, b *backend, req *addRequest) (*namesResult, error) {
		out := &namesResult{Names: []p2p.NameInfo{}}
		for _, f := range req.Files {
			// What the file names by #CID and the repo lacks is fetched
			// first (commands_fetch.go).
			absent, lerr := b.cb.AbsentInFile(ctx, f.Name, f.Source)
			note, err := b.fetchNamed(ctx, absent, lerr)
			if err != nil {
				return nil, err
			}
			res, err := b.cb.AddWith(ctx, f.Name, f.Source, p2p.AddOptions{Publish: req.Publish, Here: b.selfID()})
			if err != nil {
				return nil, b.missingError("add", absent, note, err)
			}
			out.Names = append(out.Names, res.Names...)
		}
		return out, nil
	},
}

type namesRequest struct {
	Prefix string `json:"prefix,omitempty"`
}

var namesOp = &operation[namesRequest, namesResult]{
	name: "names",
	do: func(ctx context.Context, b *backend, req *namesRequest) (*namesResult, error) {
		all, err := b.cb.Names(ctx)
		if err != nil {
			return nil, err
		}
		out := &namesResult{Names: []p2p.NameInfo{}}
		for _, n := range all {
			if strings.HasPrefix(n.Name, req.Prefix) {
				out.Names = append(out.Names, n)
			}
		}
		return out, nil
	},
}

type showRequest struct {
	What string `json:"what"`
}

type showResult struct {
	Name   string `json:"name"`
	Ref    string `json:"cid"`
	Source string `json:"source"`
}

func (r *showResult) Text() string { return r.Source }

var showOp = &operation[showRequest, showResult]{
	name: "show",
	do: func(ctx context.Context, b *backend, req *showRequest) (*showResult, error) {
		absent, lerr := b.cb.AbsentInRef(ctx, req.What)
		note, err := b.fetchNamed(ctx, absent, lerr)
		if err != nil {
			return nil, err
		}
		s, err := b.cb.Show(ctx, req.What)
		if err != nil {
			return nil, b.missingError("show", absent, note, err)
		}
		return &showResult{Name: s.Name, Ref: s.Ref, Source: s.Source}, nil
	},
}

// --- eval, run ---

// Tokens (printed form) are presented to the --at node.
type evalRequest struct {
	Expr string `json:"expr"`
	At   string `json:"at,omitempty"`
	// Cluster (and Owner, for an owned cluster) say to evaluate at a
	// member the node provisions.
	Cluster string      `json:"cluster,omitempty"`
	Owner   string      `json:"owner,omitempty"`
	Tokens  []string    `json:"tokens,omitempty"`
	Budget  budgetFlags `json:"budget"`
}

type runRequest struct {
	File sourceFile `json:"file"`
	// Scratch evaluates the file without binding its names (ops_names.go).
	Scratch bool        `json:"scratch,omitempty"`
	At      string      `json:"at,omitempty"`
	Cluster string      `json:"cluster,omitempty"`
	Owner   string      `json:"owner,omitempty"`
	Tokens  []string    `json:"tokens,omitempty"`
	Budget  budgetFlags `json:"budget"`
}

// parseTokens reads the tokens a request presents; they are only for a
// remote evaluation.
func parseTokens(at string, texts []string) ([]*capabilities.Token, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	if at == "" {
		return nil, errors.New("--token is for evaluations at another node: add --at PEER")
	}
	if len(texts) > capabilities.MaxPresentedTokens {
		return nil, fmt.Errorf("%d tokens given; a call presents at most %d", len(texts), capabilities.MaxPresentedTokens)
	}
	out := make([]*capabilities.Token, len(texts))
	for i, s := range texts {
		t, err := capabilities.ParseToken(s)
		if err != nil {
			return nil, fmt.Errorf("--token %d: %w", i+1, err)
		}
		out[i] = t
	}
	return out, nil
}

// evalResult is an evaluated value. At and Sync are set for remote
// evaluations (--at): the peer that evaluated and what it took to give it
// the code it lacked.
type evalResult struct {
	Value any        `json:"value"`
	Text  string     `json:"text"`
	Stats p2p.Stats  `json:"stats"`
	At    string     `json:"at,omitempty"`
	Sync  *syncStats `json:"sync,omitempty"`
}

// evalText adapts evalResult to result without clashing with its Text
// field. With raw (--raw) a Text value prints as its characters.
type evalText struct {
	*evalResult
	raw bool
}

func (r evalText) Text() string {
	if r.raw {
		if s, ok := r.rawText(); ok {
			return s
		}
	}
	return r.evalResult.Text
}

// rawText returns a Text value's characters. A Text value is the one
// whose JSON form is a string and whose printed form is quoted (other
// values with a string JSON form, a NaN or a function, print unquoted),
// which holds for results from the daemon and from remote nodes alike.
func (r *evalResult) rawText() (string, bool) {
	s, ok := r.Value.(string)
	if !ok || !strings.HasPrefix(r.Text, `"`) {
		return "", false
	}
	return s, true
}

func (r evalText) MarshalJSON() ([]byte, error) { return jsonMarshal(r.evalResult) }

// details is what -v prints on stderr: the budget used and, for a remote
// evaluation, the sync figures.
func (r *evalResult) details() string {
	s := fmt.Sprintf("fuel %d, memory %d bytes", r.Stats.Fuel, r.Stats.Memory)
	if r.Sync != nil {
		s = fmt.Sprintf("at %s: sent %s (%d bytes), %s; %s", r.At,
			plural(r.Sync.Blocks, "block"), r.Sync.Bytes, plural(r.Sync.RoundTrips, "extra round trip"), s)
	}
	return s
}

// remoteError says where a remote evaluation failed, unless the error
// says so already: remote failures are *p2p.CallError values naming their
// peer, and the node's other errors quote the target. Source errors are
// the caller's own and pass unchanged, so they keep file:line:col.
func remoteError(target string, err error) error {
	if errorCode(err) == codeSyntax {
		return err
	}
	if errors.Is(err, p2p.ErrRemote) || strings.Contains(err.Error(), target) {
		return oneLineError(err) // neterrors.go
	}
	at := "at " + peerOf(target)
	if _, ok := p2p.DialText(err); ok {
		return dialError(at, err)
	}
	return oneLineError(fmt.Errorf("%s: %w", at, err))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// atFlag names an evaluation that needs the network, or returns "".
func atFlag(cmd, at string) string {
	if at == "" {
		return ""
	}
	return cmd + " --at"
}

func localResult(res *p2p.EvalResult) *evalResult {
	return &evalResult{Value: res.JSON, Text: res.Text, Stats: res.Stats}
}

func remoteEvalResult(target string, res *remoteResult) *evalResult {
	out := localResult(&res.EvalResult)
	out.At = peerOf(target)
	s := res.Sync
	out.Sync = &s
	return out
}

// peerOf returns the peer ID a --at target names: the target itself when
// it is a peer ID, the /p2p/ component of a multiaddr, or the text as
// given when it is neither (the node reports the error).
func peerOf(target string) string {
	if strings.HasPrefix(target, "/") {
		if ai, err := peer.AddrInfoFromString(target); err == nil {
			return ai.ID.String()
		}
	}
	return target
}

var evalOp = &operation[evalRequest, evalResult]{
	name:    "eval",
	network: func(r *evalRequest) string { return atFlag("eval", r.At) + clusterFlag("eval", r.Cluster) },
	do: func(ctx context.Context, b *backend, req *evalRequest) (*evalResult, error) {
		budget, err := b.budget(req.Budget)
		if err != nil {
			return nil, err
		}
		if req.Cluster != "" {
			if req.At, err = b.provisionTarget(ctx, "eval", req.Cluster, req.Owner); err != nil {
				return nil, err
			}
		}
		tokens, err := parseTokens(req.At, req.Tokens)
		if err != nil {
			return nil, err
		}
		if req.At != "" {
			if b.node == nil {
				return nil, needsNode(atFlag("eval", req.At))
			}
			res, err := b.node.EvalAt(ctx, req.At, req.Expr, budget, tokens)
			if err != nil {
				return nil, remoteError(req.At, err)
			}
			return remoteEvalResult(req.At, res), nil
		}
		absent, lerr := b.cb.AbsentInExpr(ctx, "<eval>", req.Expr)
		note, err := b.fetchNamed(ctx, absent, lerr)
		if err != nil {
			return nil, err
		}
		res, err := b.cb.EvalSource(ctx, "<eval>", req.Expr, budget)
		if err != nil {
			return nil, b.missingError("eval", absent, note, err)
		}
		return localResult(res), nil
	},
}

var runOp = &operation[runRequest, evalResult]{
	name:    "run",
	network: func(r *runRequest) string { return atFlag("run", r.At) + clusterFlag("run", r.Cluster) },
	do: func(ctx context.Context, b *backend, req *runRequest) (*evalResult, error) {
		budget, err := b.budget(req.Budget)
		if err != nil {
			return nil, err
		}
		if req.Cluster != "" {
			if req.At, err = b.provisionTarget(ctx, "run", req.Cluster, req.Owner); err != nil {
				return nil, err
			}
		}
		tokens, err := parseTokens(req.At, req.Tokens)
		if err != nil {
			return nil, err
		}
		// The file is added here in either case: what it names by #CID
		// and the repo lacks is fetched first (commands_fetch.go).
		absent, lerr := b.cb.AbsentInFile(ctx, req.File.Name, req.File.Source)
		note, err := b.fetchNamed(ctx, absent, lerr)
		if err != nil {
			return nil, err
		}
		if req.At != "" {
			if b.node == nil {
				return nil, needsNode(atFlag("run", req.At))
			}
			var res *remoteResult
			if req.Scratch {
				// The file's blocks are stored, not named, and its
				// main is sent by CID (ops_names.go).
				var main dag.Term
				var names scratchNames
				if main, names, err = b.scratchMain(ctx, req.File); err == nil {
					res, err = b.node.EvalTermAt(ctx, req.At, main, budget, tokens)
					err = names.relocate(err)
				}
			} else {
				res, err = b.node.RunAt(ctx, req.At, req.File.Name, req.File.Source, budget, tokens)
			}
			if err != nil {
				return nil, remoteError(req.At, b.missingError("run", absent, note, err))
			}
			return remoteEvalResult(req.At, res), nil
		}
		run := b.runLocal
		if req.Scratch {
			run = b.runScratch
		}
		res, err := run(ctx, req.File, budget)
		if err != nil {
			return nil, b.missingError("run", absent, note, err)
		}
		return localResult(res), nil
	},
}

// runLocal adds a file (here! resolving to this node, as `unode add`
// does) and evaluates its main here.
func (b *backend) runLocal(ctx context.Context, file sourceFile, budget p2p.Budget) (*p2p.EvalResult, error) {
	f, err := syntax.ParseFile(file.Name, file.Source)
	if err != nil {
		return nil, err
	}
	hasMain := false
	for _, d := range f.Decls {
		if d, ok := d.(*syntax.DefDecl); ok && d.Name == "main" {
			hasMain = true
		}
	}
	if !hasMain {
		return nil, fmt.Errorf("%s: no main definition to run", file.Name)
	}
	if _, err := b.cb.AddWith(ctx, file.Name, file.Source, p2p.AddOptions{Here: b.selfID()}); err != nil {
		return nil, err
	}
	return b.cb.EvalSource(ctx, file.Name, "main", budget)
}

// --- id, connect, peers ---

// idOp and its types are in ops_id.go.

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type connectRequest struct {
	Addr string `json:"addr"`
}

// peerInfo is a connected peer and the addresses it is known at.
type peerInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

type connectResult struct {
	peerInfo
}

func (r *connectResult) Text() string { return "connected to " + r.ID }

var connectOp = &operation[connectRequest, connectResult]{
	name:    "connect",
	network: func(*connectRequest) string { return "connect" },
	do: func(ctx context.Context, b *backend, req *connectRequest) (*connectResult, error) {
		if b.node == nil {
			return nil, needsNode("connect")
		}
		pi, err := b.node.Connect(ctx, req.Addr)
		if err != nil {
			// It names the address or the peer; a failed dial gets one
			// line with its cause (neterrors.go).
			return nil, oneLineError(dialError("connect", err))
		}
		pi.Addrs = nonNil(pi.Addrs)
		return &connectResult{pi}, nil
	},
}

type peersRequest struct{}

type peersResult struct {
	Peers []peerInfo `json:"peers"`
}

// Text prints one line per peer: a full multiaddr when an address is
// known (usable with `unode connect`), else the bare peer ID.
func (r *peersResult) Text() string {
	var b strings.Builder
	for _, p := range r.Peers {
		if len(p.Addrs) == 0 {
			fmt.Fprintln(&b, p.ID)
			continue
		}
		a := p.Addrs[0]
		if !strings.Contains(a, "/p2p/") {
			a += "/p2p/" + p.ID
		}
		fmt.Fprintln(&b, a)
	}
	return b.String()
}

var peersOp = &operation[peersRequest, peersResult]{
	name:    "peers",
	network: func(*peersRequest) string { return "peers" },
	do: func(ctx context.Context, b *backend, _ *peersRequest) (*peersResult, error) {
		if b.node == nil {
			return nil, needsNode("peers")
		}
		out := &peersResult{Peers: []peerInfo{}}
		for _, p := range b.node.Peers() {
			p.Addrs = nonNil(p.Addrs)
			out.Peers = append(out.Peers, p)
		}
		return out, nil
	},
}

// apiOps lists every operation the daemon serves.
var apiOps = []apiOp{
	addOp, namesOp, showOp, evalOp, runOp, idOp, connectOp, peersOp,
	policyOp, policySetOp, policyAssignOp, policyRmOp,
	grantOp, grantsOp, revokeOp, logOp, tokenVerifyOp,
	dataPutOp, dataGetOp, dataLsOp, dataRmOp,
	publishOp, unpublishOp, publishedOp, fetchOp,
	repoGCOp, repoStatOp,
	clusterLsOp, clustersOp,
	blockGetOp, blockStatOp, blockPutOp, dagExportOp, dagImportOp,
	rmOp, // ops_names.go
}
