package p2p

import (
	"context"
	"testing"

	"github.com/unode-dev/unode/dag"
)

// warmAllocsBound is what TestWarmCallAllocs allows a warm call to
// allocate (both nodes together): the count measured when the warm path
// was last cut (docs/benchmarks.md, "Warm calls, fourth pass"),
// with a little room for allocations by the hosts' background work that
// fall into the measured calls. It guards against a change putting
// allocations back on the warm path unnoticed.
const warmAllocsBound = 165

// Allocations per warm `at` of a tiny thunk over an existing connection
// (both nodes, the process's allocations counted by
// testing.AllocsPerRun), beside those of the service-style raw
// request/response of the same sizes (bench_test.go, rawProtocol).
// Allocation counts do not depend on the machine's load, so this is the
// precise measure of what the warm path allocates: run it with -v to see
// the figures.
func TestWarmCallAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two hosts")
	}
	if warmRace {
		t.Skip("allocation counts under the race detector are its own")
	}
	ctx := context.Background()
	a, c := newTestNode(t), newTestNode(t)
	connectAll(t, a, c)
	addSource(t, a, "tiny x = x + 1\n")
	ref, _, _ := a.store.LookupName(ctx, "tiny")
	// '(tiny 41), as the benchmarks' tinyThunk.
	thunk := &dag.VClosure{Code: &dag.Delay{Body: &dag.App{Fn: &dag.Ref{Def: ref.Def}, Args: []dag.Term{&dag.Int{V: 41}}}}}
	res, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
	if err != nil || show(res.value) != "42" {
		t.Fatalf("warm-up: %v, %v", res, err)
	}
	serveRaw(c.host, int(res.wire.in)-2)
	req := make([]byte, res.wire.out-2)
	var callErr error
	warm := testing.AllocsPerRun(500, func() {
		res, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
		if err == nil && show(res.value) != "42" {
			t.Errorf("warm call: %s", show(res.value))
		}
		if err != nil && callErr == nil {
			callErr = err
		}
	})
	raw := testing.AllocsPerRun(500, func() {
		if err := rawRoundTrip(ctx, a, c, req); err != nil && callErr == nil {
			callErr = err
		}
	})
	if callErr != nil {
		t.Fatal(callErr)
	}
	t.Logf("allocations per call: warm at %.1f, raw request/response %.1f", warm, raw)
	if warm > warmAllocsBound {
		t.Errorf("a warm call makes %.1f allocations, more than %d", warm, warmAllocsBound)
	}
}
