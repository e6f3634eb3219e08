package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// The callee fetches too (docs/protocol.md, "Who the callee asks"). A
// caller lists in its eval request the blocks its thunk's closure names
// that it does not hold itself (EvalRequest.Absent: typically published
// code it refers to by #CID). The callee asks the caller, through the
// need reply, only for blocks the caller listed as held; a block the
// caller declared absent it never asks the caller for (the caller is not
// made a relay for code it never had). If the callee lacks one too, it
// fetches it from providers found through the DHT, never from the
// caller, on the caller's account: the blocks are unpinned and charged
// to the caller's disk quota, and the fetch is bounded in providers
// (ForeignFetchProviders), bytes (ForeignFetchBytes), time
// (ForeignFetchTimeout) and concurrency (MaxForeignFetches,
// MaxForeignFetchesPerPeer). A caller cannot make the callee fetch what
// its thunk does not need: only blocks that are both declared absent and
// found missing in the walk of the thunk's closure are fetched.

// fetchAbsent is serveEval's answer to the thunk's closure being
// incomplete here (err, from completeRoots): it fetches from providers
// what is missing and the caller declared absent, then completes the
// roots. It returns nil when they are complete, else the error to
// answer.
func (n *Node) fetchAbsent(ctx context.Context, caller peer.ID, roots []cid.Cid, absent map[cid.Cid]bool, use *lease, err error) *CallError {
	var me *dag.MissingError
	if !errors.As(err, &me) || len(absent) == 0 {
		return evalFailure(err)
	}
	var want []cid.Cid
	for _, c := range me.CIDs {
		if absent[c] && len(want) < MaxFetchRoots {
			want = append(want, c)
		}
	}
	if len(want) == 0 {
		// What is missing the caller said it holds: it should have sent
		// it (a stale record), and retries with a full list.
		return evalFailure(err)
	}
	fctx, cancel := context.WithTimeout(ctx, ForeignFetchTimeout)
	defer cancel()
	done, werr := n.foreignFetches.acquire(fctx, caller)
	if werr != nil {
		return &CallError{Code: CodeTimeout, CID: want[0], Msg: fmt.Sprintf(
			"no fetch slot free before the deadline (this node runs at most %d fetches for callers at once, %d per caller)",
			MaxForeignFetches, MaxForeignFetchesPerPeer)}
	}
	defer done()
	f := &fetch{n: n, sink: chargedSink{n: n, caller: caller, use: use}, stall: FetchStallTimeout,
		maxProviders: ForeignFetchProviders, maxBytes: ForeignFetchBytes, exclude: caller}
	use.protect(want...)
	st, ferr := f.run(fctx, want, nil, n.finder())
	n.met.countFetch(fetchForeign, st, ferr) // metrics.go
	n.log.Info("eval: fetched code the caller named without holding it", "peer", caller.String(),
		"roots", len(want), "blocks", st.Blocks, "bytes", st.Bytes, "providers", st.Providers, "err", ferr)
	if ferr != nil {
		var dq *DiskQuotaError
		var fb *fetchBudgetError
		var fe *FetchError
		switch {
		case errors.As(ferr, &dq):
			return dq.callError()
		case errors.As(ferr, &fb):
			return &CallError{Code: CodeBudget, Which: BudgetFetch, CID: want[0], Msg: fb.Error()}
		case errors.As(ferr, &fe):
			return &CallError{Code: CodeMissing, CID: fe.Missing[0], Msg: "the caller does not hold it, and " + fe.Error()}
		}
		return evalFailure(ferr)
	}
	if err := n.cb.completeRoots(ctx, roots); err != nil {
		return evalFailure(err)
	}
	return nil
}

// fetchGate bounds the fetches the node runs for foreign callers: at
// most MaxForeignFetches at once, MaxForeignFetchesPerPeer per caller.
// The zero value is ready to use.
type fetchGate struct {
	mu    sync.Mutex
	total int
	per   map[peer.ID]int
	wake  chan struct{} // closed, and replaced, when a fetch ends
}

// acquire waits for a slot for p until ctx ends; done gives it back.
func (g *fetchGate) acquire(ctx context.Context, p peer.ID) (done func(), err error) {
	for {
		g.mu.Lock()
		if g.per == nil {
			g.per = map[peer.ID]int{}
			g.wake = make(chan struct{})
		}
		if g.total < MaxForeignFetches && g.per[p] < MaxForeignFetchesPerPeer {
			g.total++
			g.per[p]++
			g.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { g.release(p) }) }, nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (g *fetchGate) release(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.per[p]--; g.per[p] <= 0 {
		delete(g.per, p)
	}
	close(g.wake)
	g.wake = make(chan struct{})
}
