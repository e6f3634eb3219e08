package p2p

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/eval"
)

// Issue 7, budgets that always bind, against real in-process nodes: the
// attacks of cases 2, 3 and 5 from a foreign peer.

// towerExpr is case 2's expression: two towers of n levels of pairs,
// a0 = 1, a1 = (a0, a0), ..., b likewise, then expr on a<n> and b<n>
// (named A and B in expr).
func towerExpr(n int, expr string) string {
	var b strings.Builder
	b.WriteString("let a0 = 1; b0 = 1")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "; a%d = (a%d, a%d); b%d = (b%d, b%d)", i, i-1, i-1, i, i-1, i-1)
	}
	b.WriteString(" in ")
	b.WriteString(strings.NewReplacer("A", "a"+strconv.Itoa(n), "B", "b"+strconv.Itoa(n)).Replace(expr))
	return b.String()
}

// Case 2: an unknown peer's tower comparison (2^33 values once
// expanded) is answered within the default sandbox's budget, many at
// once, and honest calls are served meanwhile and after.
func TestAttackTowerComparison(t *testing.T) {
	ctx := testCtx(t)
	owner, attacker, honest := newTestNode(t), newTestNode(t), newTestNode(t)
	connectAll(t, owner, attacker, honest)
	at := owner.ID().String()

	res, err := attacker.EvalAt(ctx, at, towerExpr(32, "A == B"), Budget{})
	if err != nil || res.Text != "true" {
		t.Fatalf("tower comparison: %v, %v", res, err)
	}
	if res.Stats.Fuel > 1_000_000 {
		t.Errorf("the comparison took %d fuel", res.Stats.Fuel)
	}
	// Comparisons that do not share still stop at the fuel budget, as
	// they go.
	_, err = attacker.EvalAt(ctx, at, `let xs = List.range 0 500000 in List.length (List.filter (i -> xs == xs) (List.range 0 1000))`, Budget{})
	var be *eval.BudgetError
	if !errors.As(err, &be) || be.Which != eval.BudgetFuel {
		t.Errorf("repeated big comparisons: %v, want a fuel budget error", err)
	}

	// Many at once, while an honest peer calls.
	// (Eight: an unknown peer's share of the evaluation streams is
	// bounded, and admission is not what this test is about.)
	const attacks = 8
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range attacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := attacker.EvalAt(ctx, at, towerExpr(40, "(A == B, [A, B] == [B, A])"), Budget{})
			if err != nil || res.Text != "(true, true)" {
				if failed.Add(1) == 1 {
					t.Logf("a tower comparison: %v, %v", res, err)
				}
			}
		}()
	}
	res, err = honest.EvalAt(ctx, at, "List.sum (List.range 1 101)", Budget{})
	if err != nil || res.Text != "5050" {
		t.Errorf("an honest call during the attack: %v, %v", res, err)
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d tower comparisons failed", n, attacks)
	}
	res, err = honest.EvalAt(ctx, at, "List.sum (List.range 1 101)", Budget{})
	if err != nil || res.Text != "5050" {
		t.Errorf("an honest call after the attack: %v, %v", res, err)
	}
	if r := owner.ForeignStats().Running; r != 0 {
		t.Errorf("%d evaluations still running", r)
	}
}

// towerLevels is case 3's tower height: 27 levels (2^27 leaves, several
// GB once expanded). UNODE_TOWER_LEVELS lowers it, to show the test
// failing on code that expands the tower without running out of memory.
func towerLevels(t *testing.T) int {
	if s := os.Getenv("UNODE_TOWER_LEVELS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 27
}

// heapWatch samples the process's HeapInuse until stopped and reports
// the highest value seen above the level at the start.
func heapWatch() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// Case 3: a peer holding pure and remote sends a thunk that builds a
// 27-level tower on the callee and sends it back with at: the callee
// refuses to encode it (a result budget error) without expanding it.
func TestAttackTowerSentBack(t *testing.T) {
	ctx := testCtx(t)
	caller := newTestNode(t)
	callee := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{
		caller.ID(): "--allow pure --allow remote --fuel 10000000 --memory 64MiB --time 10s --result 1MiB",
	})))
	connectAll(t, caller, callee)
	levels := towerLevels(t)
	// The tower's expansion: 2^levels pairs of at least 24 bytes each.
	expanded := uint64(24) << levels

	home := "Node.fixed " + strconv.Quote(caller.ID().String())
	for _, back := range []string{
		"at (NODE) '(fst A)",
		"await (at' (NODE) '(fst A))",
		"await (race [NODE] '(fst A))",
	} {
		// (The node is put in last: peer IDs hold A and B.)
		expr := strings.Replace(towerExpr(levels, back), "NODE", home, 1)
		stop := heapWatch()
		_, err := caller.EvalAt(ctx, callee.ID().String(), expr, Budget{})
		peak := stop()
		var be *eval.BudgetError
		if !errors.As(err, &be) || be.Which != eval.BudgetResult {
			t.Errorf("%s: %v, want a result budget error", back, err)
		}
		if peak > expanded/8 {
			t.Errorf("%s: the heap grew by %d MB (the tower expands to %d MB)", back, peak>>20, expanded>>20)
		}
	}
	// The tower as the result itself fails the result budget too.
	_, err := caller.EvalAt(ctx, callee.ID().String(), towerExpr(levels, "A"), Budget{})
	var be *eval.BudgetError
	if !errors.As(err, &be) || be.Which != eval.BudgetResult {
		t.Errorf("the tower as a result: %v", err)
	}
	// The callee still serves.
	res, err := caller.EvalAt(ctx, callee.ID().String(), "at ("+home+") '(6 * 7)", Budget{})
	if err != nil || res.Text != "42" {
		t.Errorf("an honest call back: %v, %v", res, err)
	}
}

// Case 5: listen and timeout in loops from a foreign caller stop at the
// per-evaluation bound, or succeed within it, and leave no listeners or
// goroutines behind on the callee.
func TestAttackListenLeaks(t *testing.T) {
	ctx := testCtx(t)
	caller := newTestNode(t)
	callee := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{
		caller.ID(): "--allow pure --allow remote --allow channel --fuel 100000000 --memory 1GiB --time 30s --result 1MiB",
	})))
	connectAll(t, caller, callee)
	at := callee.ID().String()
	// Warm up (streams, connections), then take the goroutine baseline.
	if _, err := caller.EvalAt(ctx, at, "1", Budget{}); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()

	for _, expr := range []string{
		"let c = channel in List.length (List.map (i -> listen c) (List.range 0 200000))",
		"let c = channel in List.length (List.map (i -> timeout 100000000 (listen c)) (List.range 0 200000))",
	} {
		for range 3 {
			_, err := caller.EvalAt(ctx, at, expr, Budget{})
			var be *eval.BudgetError
			if !errors.As(err, &be) || be.Which != eval.BudgetPending {
				t.Errorf("%s: %v, want a pending budget error", expr, err)
			}
		}
		if n := callee.net.LocalHost.Listening(); n != 0 {
			t.Errorf("%s: %d listeners left on the callee", expr, n)
		}
	}
	// Within the bound the same loops succeed, and leave nothing.
	res, err := caller.EvalAt(ctx, at, "let c = channel in List.length (List.map (i -> timeout 100000000 (listen c)) (List.range 0 1000))", Budget{})
	if err != nil || res.Text != "1000" {
		t.Errorf("1000 timed listens: %v, %v", res, err)
	}
	if n := callee.net.LocalHost.Listening(); n != 0 {
		t.Errorf("%d listeners left on the callee", n)
	}
	var now int
	waitFor(t, "the goroutines to end", func() bool {
		now = runtime.NumGoroutine()
		return now <= base+16
	})
	// A caller that goes away while its evaluation listens: released
	// too.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := caller.EvalAt(cctx, at, "let c = channel in let fs = List.map (i -> timeout 100000000 (listen c)) (List.range 0 1000) in await (listen c)", Budget{})
		errc <- err
	}()
	waitFor(t, "the listeners", func() bool { return callee.net.LocalHost.Listening() >= 1000 })
	cancel()
	<-errc
	waitFor(t, "the listeners to be released", func() bool { return callee.net.LocalHost.Listening() == 0 })
	waitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= base+16 })
}
