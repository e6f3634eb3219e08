package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

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

// EvalAt parses src, resolves its names against this node's namespace
// and evaluates it at target (a peer ID or a multiaddr ending in
// /p2p/<id>; this node's own ID evaluates locally), syncing the blocks
// target lacks. Remote failures are *CallError values.
func (n *Node) EvalAt(ctx context.Context, target string, src string, b Budget) (*RemoteResult, error) {
	e, err := syntax.ParseExpr("<eval>", []byte(src))
	if err != nil {
		return nil, err
	}
	t, err := dag.CompileExpr(e, n.cb.compileOptions(ctx))
	if err != nil {
		return nil, err
	}
	return n.EvalTermAt(ctx, target, t, b)
}

// RunAt adds a source file to this node's codebase and evaluates its
// main at target.
func (n *Node) RunAt(ctx context.Context, target, filename string, src []byte, b Budget) (*RemoteResult, error) {
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
	return n.EvalTermAt(ctx, target, &dag.Ref{Def: ref.Def}, b)
}

// EvalTermAt evaluates a closed, resolved term at target (see EvalAt).
func (n *Node) EvalTermAt(ctx context.Context, target string, t dag.Term, b Budget) (*RemoteResult, error) {
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
		// Remote calls the program starts end with it.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		acc := &syncAccumulator{}
		th := n.cb.newThread(b)
		th.Host = newNetHost(n, acc)
		v, err := th.Eval(ctx, t)
		if err != nil {
			return nil, err
		}
		return &RemoteResult{EvalResult: n.evalResult(ctx, v, Stats{Fuel: th.Steps(), Memory: th.MemoryUsed()}), Sync: acc.total()}, nil
	}
	// A closed term needs no environment: its thunk is its code.
	thunk := &dag.VClosure{Code: &dag.Delay{Body: t}}
	res, err := n.callThunk(ctx, pid, addrs, thunk, b)
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
	w := &WireBudget{Fuel: b.Fuel, Memory: b.MaxMemory, Depth: int64(b.MaxDepth), Result: b.MaxResultBytes}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		left -= min(left/10, time.Second)
		w.TimeoutMs = max(1, left.Milliseconds())
	} else if b.Timeout > 0 {
		w.TimeoutMs = b.Timeout.Milliseconds()
	}
	if *w == (WireBudget{}) {
		return nil
	}
	return w
}

// grant is the budget this node gives a foreign evaluation that asked
// for w: what it asked for, within the node's caps.
func (n *Node) grant(w *WireBudget) Budget {
	g := n.caps
	if w == nil {
		return g
	}
	if w.Fuel > 0 && w.Fuel < g.Fuel {
		g.Fuel = w.Fuel
	}
	if w.Memory > 0 && w.Memory < g.MaxMemory {
		g.MaxMemory = w.Memory
	}
	if w.Depth > 0 && w.Depth < int64(g.MaxDepth) {
		g.MaxDepth = int(w.Depth)
	}
	if w.Result > 0 && w.Result < g.MaxResultBytes {
		g.MaxResultBytes = w.Result
	}
	if w.TimeoutMs > 0 && time.Duration(w.TimeoutMs)*time.Millisecond < g.Timeout {
		g.Timeout = time.Duration(w.TimeoutMs) * time.Millisecond
	}
	return g
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
