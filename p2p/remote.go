package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// SyncStats are the sync figures of a remote call: the blocks the caller
// sent and their bytes (block bytes only, not framing), and the round
// trips beyond the request itself (1 when the callee asked for blocks, 0
// when it had everything).
type SyncStats struct {
	Blocks     int   `json:"blocks"`
	Bytes      int64 `json:"bytes"`
	RoundTrips int   `json:"roundTrips"`
}

func (s *SyncStats) add(o SyncStats) {
	s.Blocks += o.Blocks
	s.Bytes += o.Bytes
	s.RoundTrips += o.RoundTrips
}

// syncAccumulator sums SyncStats from several goroutines.
type syncAccumulator struct {
	mu sync.Mutex
	s  SyncStats
}

func (a *syncAccumulator) add(s SyncStats) {
	a.mu.Lock()
	a.s.add(s)
	a.mu.Unlock()
}

func (a *syncAccumulator) total() SyncStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.s
}

// RemoteResult is the result of an evaluation at some node, with the
// sync figures of the call (for a local evaluation, the sum over the
// remote calls the program made).
type RemoteResult struct {
	EvalResult
	Sync SyncStats `json:"sync"`
}

// A CallOption changes how EvalAt, RunAt and EvalTermAt call.
type CallOption func(*callConfig)

type callConfig struct {
	tokens []*capabilities.Token
}

// WithTokens presents capability tokens: to the target of a remote
// evaluation (all of them), and, on the calls the program itself makes
// (`at`), each to the node that issued its root. The callee joins the
// sandboxes of those that verify to what its policy grants this node.
func WithTokens(toks ...*capabilities.Token) CallOption {
	return func(c *callConfig) {
		for _, t := range toks {
			if t != nil {
				c.tokens = append(c.tokens, t)
			}
		}
	}
}

// EvalAt parses src, resolves its names against this node's namespace
// and evaluates it at target (a peer ID or a multiaddr ending in
// /p2p/<id>; this node's own ID evaluates locally), syncing the blocks
// target lacks. Remote failures are *CallError values; a refusal by the
// target's sandbox has code CodeDenied and names what was refused.
func (n *Node) EvalAt(ctx context.Context, target string, src string, b Budget, opts ...CallOption) (*RemoteResult, error) {
	e, err := syntax.ParseExpr("<eval>", []byte(src))
	if err != nil {
		return nil, err
	}
	co, ls := n.cb.compileOptions(ctx)
	t, pos, err := dag.CompileExprPositions(e, co)
	if err := ls.check(err); err != nil {
		return nil, err
	}
	res, err := n.EvalTermAt(ctx, target, t, b, opts...)
	return res, n.RelocateCallError(ctx, err, t, pos) // wireerrors.go
}

// RunAt adds a source file to this node's codebase and evaluates its
// main at target.
func (n *Node) RunAt(ctx context.Context, target, filename string, src []byte, b Budget, opts ...CallOption) (*RemoteResult, error) {
	f, err := syntax.ParseFile(filename, src)
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
		return nil, fmt.Errorf("%s: no main definition to run", filename)
	}
	if _, err := n.cb.Add(ctx, filename, src); err != nil {
		return nil, err
	}
	ref, ok, err := n.store.LookupName(ctx, "main")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: main was not added", filename)
	}
	t := &dag.Ref{Def: ref.Def}
	res, err := n.EvalTermAt(ctx, target, t, b, opts...)
	return res, n.RelocateCallError(ctx, err, t, nil) // wireerrors.go
}

// EvalTermAt evaluates a closed, resolved term at target (see EvalAt).
func (n *Node) EvalTermAt(ctx context.Context, target string, t dag.Term, b Budget, opts ...CallOption) (*RemoteResult, error) {
	var cc callConfig
	for _, o := range opts {
		o(&cc)
	}
	pid, addrs, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.Timeout)
		defer cancel()
	}
	if pid == n.id {
		// Code the term names by #CID that is not here comes from
		// providers first (absent.go).
		fetchErr, err := n.fetchNamed(ctx, termLinks(t), FetchOptions{})
		if err != nil {
			return nil, err
		}
		// Remote calls the program starts end with it.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		acc := &syncAccumulator{}
		th := n.cb.newThread(b)
		h := newNetHost(n, acc)
		h.tokens = cc.tokens
		th.Host = h
		v, err := th.Eval(ctx, t)
		if err != nil {
			return nil, WithFetchError(err, fetchErr)
		}
		return &RemoteResult{EvalResult: n.evalResult(ctx, v, Stats{Fuel: th.Steps(), Memory: th.MemoryUsed()}), Sync: acc.total()}, nil
	}
	// A closed term needs no environment: its thunk is its code.
	thunk := &dag.VClosure{Code: &dag.Delay{Body: t}}
	var toks [][]byte
	for _, t := range cc.tokens {
		toks = append(toks, t.Bytes())
	}
	if len(toks) > capabilities.MaxPresentedTokens {
		return nil, fmt.Errorf("%d tokens presented (at most %d)", len(toks), capabilities.MaxPresentedTokens)
	}
	res, err := n.callThunk(ctx, pid, addrs, thunk, b, callOptions{tokens: toks})
	if err != nil {
		return nil, err
	}
	return &RemoteResult{EvalResult: n.evalResult(ctx, res.value, res.stats), Sync: res.sync}, nil
}

func (n *Node) evalResult(ctx context.Context, v eval.Value, st Stats) EvalResult {
	nm := newNaming(ctx, n.store)
	return EvalResult{Value: v, Text: eval.Show(v, nm), JSON: eval.ToJSON(v, nm), Stats: st}
}

// wire is the budget as asked for in a request. The timeout is the time
// left before the context's deadline less a tenth (at most a second), so
// that the callee's own "time budget exhausted" reaches the caller before
// the caller gives up on the stream.
func (b Budget) wire(ctx context.Context) *WireBudget {
	w := &WireBudget{}
	if !b.wireInto(ctx, w) {
		return nil
	}
	return w
}

// wireInto is wire writing into w; it reports whether w says anything
// (false: the request carries no budget).
func (b Budget) wireInto(ctx context.Context, w *WireBudget) bool {
	*w = WireBudget{Fuel: b.Fuel, Memory: b.MaxMemory, Depth: int64(b.MaxDepth), Result: b.MaxResultBytes}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		left -= min(left/10, time.Second)
		w.TimeoutMs = max(1, left.Milliseconds())
	} else if b.Timeout > 0 {
		w.TimeoutMs = b.Timeout.Milliseconds()
	}
	return *w != (WireBudget{})
}

// callResult is the outcome of a successful remote call.
type callResult struct {
	value eval.Value
	stats Stats
	sync  SyncStats
	wire  wireCount
}

// wireCount is what a call put on and took off its streams, framing
// included, and what of it carried blocks (for benchmarks).
type wireCount struct{ out, in, blocks int64 }
