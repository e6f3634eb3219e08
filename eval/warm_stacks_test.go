package eval

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"weak"
)

// Evaluation threads share their value and frame stacks through
// stackPool (thread.go): an evaluation takes a pair when it starts and
// gives it back, cleared, when it ends; stacks grown by deep recursion
// go to deepStacks, bounded, for the next deep evaluation. These tests
// check that no value of one evaluation stays reachable through either,
// and that a thread's stacks never go back while its evaluation can
// still use them: nested Calls, at' here, waits on listeners, failures
// and cancellation.

const stacksProgram = `
deep n s = if n == 0 then 0 else 1 + deep (n - 1) s
sum3 a b c = a + b + c
`

// releases records every pair of stacks given back to the pool, and
// every deep stack kept in deepStacks, while it is installed, checking
// each is cleared (all of its array) and that its thread's evaluation
// has ended.
type releases struct {
	t     *testing.T
	mu    sync.Mutex
	count map[*Thread]int
	deep  map[*Thread][]keptStacks
}

// keptStacks is where the arrays an evaluation kept in deepStacks start
// (0: not kept) and their sizes. It holds no pointer to them, so that
// the test keeps no value alive through arrays that were dropped since.
type keptStacks struct {
	stack, frames       uintptr
	stackCap, framesCap int
	// The deep arrays the evaluation outgrew, kept too.
	outStack, outFrames uintptr
}

func watchReleases(t *testing.T) *releases {
	r := &releases{t: t, count: map[*Thread]int{}, deep: map[*Thread][]keptStacks{}}
	stacksReleased = func(th *Thread, s *evalStacks, deep bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if deep {
			r.deep[th] = append(r.deep[th], keptStacks{
				stack: addr(s.stack), stackCap: cap(s.stack),
				frames: addr(s.frames), framesCap: cap(s.frames),
				outStack: addr(s.outStack), outFrames: addr(s.outFrames)})
		} else {
			r.count[th]++
		}
		if th.running != 0 {
			r.t.Errorf("stacks released while %d evaluations run on the thread", th.running)
		}
		if th.stack != nil || th.frames != nil {
			r.t.Errorf("stacks released but still on the thread")
		}
		if !deep && (s.outStack != nil || s.outFrames != nil) {
			r.t.Errorf("a pair for the pool holds deep arrays")
		}
		for _, stack := range [][]Value{s.stack, s.outStack} {
			if len(stack) != 0 {
				r.t.Errorf("released value stack of length %d", len(stack))
			}
			for i, v := range stack[:cap(stack)] {
				if v != nil {
					r.t.Errorf("released value stack keeps slot %d: %s", i, describe(v))
					break
				}
			}
		}
		for _, frames := range [][]frame{s.frames, s.outFrames} {
			if len(frames) != 0 {
				r.t.Errorf("released frame stack of length %d", len(frames))
			}
			for i, f := range frames[:cap(frames)] {
				if f.slots != nil || f.env != nil || f.fc != nil || f.site != nil {
					r.t.Errorf("released frame stack keeps frame %d", i)
					break
				}
			}
		}
	}
	t.Cleanup(func() { stacksReleased = nil })
	return r
}

func (r *releases) of(th *Thread) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[th]
}

// deepOf is what th's evaluations kept in deepStacks, one entry per
// evaluation that kept any.
func (r *releases) deepOf(th *Thread) []keptStacks {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deep[th]
}

// churn runs n evaluations on fresh threads, each filling a stack with
// values of its own: stacks wrongly in the pool would be taken,
// overwritten and cleared by them.
func churn(t *testing.T, p *program, n int) {
	t.Helper()
	for i := range n {
		th := p.thread()
		v, err := th.Eval(context.Background(), compileExpr(t, p.c, fmt.Sprintf("deep 40 %d", 1000+i)))
		if err != nil || v != MakeInt(40) {
			t.Fatalf("churn: %v, %v", v, err)
		}
	}
}

// A value an evaluation held on its stacks (arguments, locals, frames
// of a deep recursion) is not reachable once the evaluation and its
// thread are gone, although its stacks are in the pool for the next
// evaluation, of another peer maybe: the pool's stacks are cleared. One
// collection must find it garbage (the pool keeps what it held through
// one collection, so stacks not cleared would keep it).
func TestPooledStacksKeepNoValue(t *testing.T) {
	p := newProgram(t, stacksProgram)
	r := watchReleases(t)
	var th *Thread
	secret := func() weak.Pointer[Tuple] {
		th = p.thread()
		s := &Tuple{Elems: []Value{Text("another peer's"), MakeInt(7)}}
		fn, err := th.Eval(context.Background(), compileExpr(t, p.c, "deep"))
		if err != nil {
			t.Fatal(err)
		}
		// Deep enough that the stacks grow, still small enough to be
		// kept for reuse.
		v, err := th.Call(context.Background(), fn, MakeInt(20), s)
		if err != nil || v != MakeInt(20) {
			t.Fatalf("deep 20 s = %v, %v", v, err)
		}
		return weak.Make(s)
	}()
	if r.of(th) != 2 {
		t.Fatalf("the thread gave its stacks back %d times in two evaluations", r.of(th))
	}
	th = nil
	runtime.GC()
	if secret.Value() != nil {
		t.Fatal("a value of an ended evaluation is still reachable after a collection")
	}
	// The stacks are reused and work as new.
	churn(t, p, 5)
}

// A thread's stacks stay out of the pool for as long as its outermost
// evaluation runs: a Call nested in it (a host calling back), at' here,
// and a wait on a listener during which other evaluations run and take
// stacks from the pool, and they come back once, when it ends.
func TestStacksStayWhileInUse(t *testing.T) {
	p := newProgram(t, stacksProgram)
	r := watchReleases(t)

	// A host whose at' runs the thunk through a nested Call, then lets
	// other evaluations take stacks, then hands back the result.
	h := &nestingHost{p: p, t: t}
	th := &Thread{Loader: p.store, Names: p.names, Host: h}
	v, err := th.Eval(context.Background(), compileExpr(t, p.c,
		`let a = 100; b = 20 in sum3 a b (await (at' here '(deep 3 a)))`))
	if err != nil || v != MakeInt(123) {
		t.Fatalf("nested Call: %v, %v; want 123", v, err)
	}
	if h.calls != 1 {
		t.Fatalf("the host ran %d nested calls", h.calls)
	}
	if n := r.of(th); n != 1 {
		t.Fatalf("one evaluation with a nested Call gave its stacks back %d times", n)
	}

	// at' here forces on the thread itself.
	th = p.thread()
	v, err = th.Eval(context.Background(), compileExpr(t, p.c,
		`let a = 100; b = 20 in sum3 a b (await (at' here '(deep 3 a)))`))
	if err != nil || v != MakeInt(123) {
		t.Fatalf("at' here: %v, %v; want 123", v, err)
	}
	if n := r.of(th); n != 1 {
		t.Fatalf("one evaluation with at' here gave its stacks back %d times", n)
	}

	// Suspended on a listener while other evaluations come and go.
	lh := NewLocalHost("local")
	ch, err := lh.NewChannel(nil)
	if err != nil {
		t.Fatal(err)
	}
	th = &Thread{Loader: p.store, Names: p.names, Host: lh}
	fn, err := th.Eval(context.Background(), compileExpr(t, p.c, `c a b -> sum3 a b (await (listen c))`))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() {
		v, err := th.Call(context.Background(), fn, ch, MakeInt(100), MakeInt(20))
		done <- result{v, err}
	}()
	waitUntil(t, "the listener", func() bool { return lh.Listening() == 1 })
	churn(t, p, 20)
	if n := r.of(th); n != 1 { // the Eval that made fn
		t.Fatalf("a thread waiting on a listener gave its stacks back (%d releases)", n)
	}
	if n := lh.DeliverLocal(ch.ID, MakeInt(3)); n != 1 {
		t.Fatalf("DeliverLocal took %d", n)
	}
	res := noHang(t, "the listening evaluation", func() result { return <-done })
	if res.err != nil || res.v != MakeInt(123) {
		t.Fatalf("after the wait: %v, %v; want 123", res.v, res.err)
	}
	if n := r.of(th); n != 2 {
		t.Fatalf("two evaluations gave their stacks back %d times", n)
	}
}

// Every way an evaluation ends gives its stacks back cleared, once:
// a runtime error deep in a recursion, a runtime error in a nested Call
// the outer evaluation survives, running out of fuel or depth, a
// cancellation while waiting, a Go panic in a host, and a thread
// canceled before it starts.
func TestStacksReleasedOnEveryEnd(t *testing.T) {
	p := newProgram(t, stacksProgram+`
boom n = if n == 0 then 1 / n else 1 + boom (n - 1)
spin n = 1 + spin (n + 1)
`)
	r := watchReleases(t)
	budget := func(which string) func(error) bool {
		return func(err error) bool {
			var be *BudgetError
			return errors.As(err, &be) && be.Which == which
		}
	}
	// What each end keeps in deepStacks: nothing (""), the arrays it
	// ended on ("ends"), or only the ones it took from deepStacks and
	// outgrew ("took"); deepStacks starts empty.
	emptyDeepStacks(t)
	ends := []struct {
		name, expr      string
		fuel            int64
		depth, releases int
		deep            string
		check           func(error) bool
	}{
		{"runtime error", "boom 30", 0, 0, 1, "", func(err error) bool { return errors.Is(err, ErrRuntime) }},
		{"fuel", "deep 100000 1", 150, 0, 1, "", budget(BudgetFuel)},
		{"depth", "spin 0", 0, 60, 1, "", budget(BudgetDepth)},
		{"caught", `match await! (at' here '(boom 5)) with
  | Right v -> v
  | Left e -> 7`, 0, 0, 1, "", func(err error) bool { return err == nil }},
		// Stacks grown past maxIdleStack go to deepStacks, and the
		// small pair still goes back to the pool.
		{"grown", "deep 2000 1", 0, 0, 1, "ends", func(err error) bool { return err == nil }},
		{"grown, fuel", "deep 100000 1", 2000, 0, 1, "ends", budget(BudgetFuel)},
		// Past maxDeepStack and maxDeepFrames: the arrays it ends on go
		// to the collector, the ones it took back to deepStacks.
		{"grown, depth", "spin 0", 0, 0, 1, "took", budget(BudgetDepth)},
	}
	for _, e := range ends {
		th := p.thread()
		th.Fuel, th.MaxDepth = e.fuel, e.depth
		_, err := th.Eval(context.Background(), compileExpr(t, p.c, e.expr))
		if !e.check(err) {
			t.Errorf("%s: %v", e.name, err)
		}
		if n := r.of(th); n != e.releases || th.stack != nil || th.frames != nil {
			t.Errorf("%s: stacks released %d times (want %d), still on the thread: %v", e.name, n, e.releases, th.stack != nil)
		}
		kept := r.deepOf(th)
		var ok bool
		switch e.deep {
		case "":
			ok = len(kept) == 0
		case "ends":
			ok = len(kept) == 1 && kept[0].stack != 0 && kept[0].frames != 0
		case "took":
			ok = len(kept) == 1 && kept[0].stack == 0 && kept[0].frames == 0 && kept[0].outStack != 0 && kept[0].outFrames != 0
		}
		if !ok {
			t.Errorf("%s: kept in deepStacks %+v, want %q", e.name, kept, e.deep)
		}
	}

	// Canceled while waiting on a listener.
	lh := NewLocalHost("local")
	ch, _ := lh.NewChannel(nil)
	th := &Thread{Loader: p.store, Names: p.names, Host: lh}
	fn, err := th.Eval(context.Background(), compileExpr(t, p.c, `c -> deep 10 (await (listen c))`))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := th.Call(context.Background(), fn, ch)
		done <- err
	}()
	waitUntil(t, "the listener", func() bool { return lh.Listening() == 1 })
	th.Cancel("test")
	if err := noHang(t, "the canceled evaluation", func() error { return <-done }); !errors.Is(err, ErrCanceled) {
		t.Fatalf("canceled: %v", err)
	}
	if n := r.of(th); n != 2 {
		t.Fatalf("canceled: stacks released %d times in two evaluations", n)
	}
	// Later evaluations on it fail at once, and still give back.
	if _, err := th.Call(context.Background(), fn, ch); !errors.Is(err, ErrCanceled) {
		t.Fatalf("after Cancel: %v", err)
	}
	if n := r.of(th); n != 3 {
		t.Fatalf("after Cancel: stacks released %d times in three evaluations", n)
	}

	// A Go panic in a host (an interpreter bug) is an internal error.
	th = &Thread{Loader: p.store, Names: p.names, Host: panicHost{}}
	_, err = th.Eval(context.Background(), compileExpr(t, p.c, `deep 3 (await (at' here '(1)))`))
	if err == nil || !errors.Is(err, ErrRuntime) {
		t.Fatalf("host panic: %v", err)
	}
	if n := r.of(th); n != 1 {
		t.Fatalf("host panic: stacks released %d times", n)
	}
	churn(t, p, 5)
}

// What an evaluation returns keeps its values after its stacks are
// reused: a closure and a partial application hold copies.
func TestResultsOutliveStacks(t *testing.T) {
	p := newProgram(t, stacksProgram)
	watchReleases(t)
	th := p.thread()
	clo, err := th.Eval(context.Background(), compileExpr(t, p.c, `let a = 100; b = 20 in c -> sum3 a b c`))
	if err != nil {
		t.Fatal(err)
	}
	part, err := th.Eval(context.Background(), compileExpr(t, p.c, `let a = 100 in sum3 a 20`))
	if err != nil {
		t.Fatal(err)
	}
	churn(t, p, 20)
	for _, fn := range []Value{clo, part} {
		v, err := p.thread().Call(context.Background(), fn, MakeInt(3))
		if err != nil || v != MakeInt(123) {
			t.Errorf("%s 3 = %v, %v; want 123", describe(fn), v, err)
		}
	}
}

// nestingHost runs an at' thunk through a nested Call on the calling
// thread, then runs other evaluations before it answers.
type nestingHost struct {
	p     *program
	t     *testing.T
	calls int
}

func (*nestingHost) Here(*Thread) (*Node, error) { return &Node{ID: "me"}, nil }

func (h *nestingHost) Spawn(th *Thread, _ *Node, thunk Value) *Future {
	h.calls++
	f := NewFuture()
	v, err := th.Call(th.Context(), thunk)
	churn(h.t, h.p, 20)
	if err != nil {
		f.Fail(err)
	} else {
		f.Resolve(v)
	}
	return f
}

// panicHost's at' is a Go bug: it indexes past a slice.
type panicHost struct{}

func (panicHost) Here(*Thread) (*Node, error) { return &Node{ID: "me"}, nil }

func (panicHost) Spawn(*Thread, *Node, Value) *Future {
	var xs []int
	_ = xs[len(xs)]
	return nil
}
