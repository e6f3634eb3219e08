package eval

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"unsafe"
	"weak"
)

// Stacks grown by deep recursion are kept in deepStacks (thread.go) for
// the next deep evaluation, cleared up to the high-water mark of the one
// that used them, and bounded in count and size (limits.go). deepStacks
// is not emptied by the collector, so a value left on a kept stack would
// stay reachable for good: these tests would see it.

const deepStacksTestProgram = stacksProgram + `
waitDeep n c = if n == 0 then await (listen c) else 1 + waitDeep (n - 1) c
`

// emptyDeepStacks drops what deepStacks holds (other tests' deep
// evaluations), now and when the test ends.
func emptyDeepStacks(t *testing.T) {
	empty := func() {
		deepStacks.mu.Lock()
		deepStacks.stacks, deepStacks.frames = nil, nil
		deepStacks.mu.Unlock()
	}
	empty()
	t.Cleanup(empty)
}

// keptDeep returns the arrays deepStacks holds.
func keptDeep() (stacks [][]Value, frames [][]frame) {
	deepStacks.mu.Lock()
	defer deepStacks.mu.Unlock()
	return append([][]Value(nil), deepStacks.stacks...), append([][]frame(nil), deepStacks.frames...)
}

func addr[T any](s []T) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s))) }

// A deep evaluation's stacks are kept, cleared: a value it held on them
// is garbage once it ends, and the next deep evaluation, on another
// thread, runs on the same arrays (no regrowth), which are cleared again
// when it ends, however much of them it used.
func TestDeepStacksReusedAndCleared(t *testing.T) {
	p := newProgram(t, deepStacksTestProgram)
	emptyDeepStacks(t)
	r := watchReleases(t)
	fn, err := p.eval(t, nil, "deep")
	if err != nil {
		t.Fatal(err)
	}

	// run evaluates deep n s on a fresh thread with a value of its own as s,
	// and returns a weak pointer to it and what the thread kept.
	run := func(n int) (weak.Pointer[Tuple], keptStacks) {
		th := p.thread()
		s := &Tuple{Elems: []Value{Text(fmt.Sprintf("peer %d's", n)), MakeInt(7)}}
		v, err := th.Call(context.Background(), fn, MakeInt(int64(n)), s)
		if err != nil || v != MakeInt(int64(n)) {
			t.Fatalf("deep %d s = %v, %v", n, v, err)
		}
		if r.of(th) != 1 {
			t.Fatalf("deep %d: the small pair went back %d times", n, r.of(th))
		}
		kept := r.deepOf(th)
		if len(kept) != 1 || kept[0].stack == 0 || kept[0].frames == 0 {
			t.Fatalf("deep %d: %d evaluations kept deep stacks, want both stacks of one", n, len(kept))
		}
		return weak.Make(s), kept[0]
	}
	gone := func(what string, w weak.Pointer[Tuple]) {
		t.Helper()
		runtime.GC()
		if w.Value() != nil {
			t.Fatalf("%s: a value of an ended deep evaluation is still reachable after a collection", what)
		}
	}

	w1, first := run(3000)
	gone("deep 3000", w1)
	if stacks, frames := keptDeep(); len(stacks) != 1 || len(frames) != 1 ||
		addr(stacks[0]) != first.stack || addr(frames[0]) != first.frames {
		t.Fatalf("deepStacks holds %d value and %d frame stacks, want the evaluation's", len(stacks), len(frames))
	}

	// Shallower, but past the small arrays: it reuses both, and uses
	// less of them than the first.
	w2, second := run(800)
	gone("deep 800 after deep 3000", w2)
	if second.stack != first.stack || second.frames != first.frames {
		t.Fatal("the second deep evaluation did not reuse the first's stacks")
	}
	// Deeper than the first: the arrays it outgrows are dropped, and
	// its bigger ones are kept in their place.
	w3, third := run(6000)
	gone("deep 6000", w3)
	if third.framesCap <= first.framesCap {
		t.Fatalf("deep 6000 kept %d frames, no more than deep 3000's %d", third.framesCap, first.framesCap)
	}
	// The arrays it outgrew are kept beside them, the first's among
	// them: an evaluation deeper than the kept arrays does not use them
	// up.
	if third.outFrames != first.frames {
		t.Fatal("deep 6000 did not keep the frame stack it took and outgrew")
	}
	stacks, frames := keptDeep()
	want := func(as ...uintptr) (n int) {
		for _, a := range as {
			if a != 0 {
				n++
			}
		}
		return n
	}
	if len(stacks) != want(third.stack, third.outStack) || len(frames) != want(third.frames, third.outFrames) {
		t.Fatalf("deepStacks holds %d value and %d frame stacks, want what deep 6000 kept", len(stacks), len(frames))
	}
	for _, f := range frames {
		if a := addr(f); a != third.frames && a != third.outFrames {
			t.Fatalf("deepStacks holds a frame stack deep 6000 did not keep")
		}
	}
	// The small pairs and the deep stacks work as new.
	churn(t, p, 5)
	w4, _ := run(2000)
	gone("deep 2000", w4)
}

// deepStacks keeps at most maxDeepStacks arrays of each kind, of at most
// maxDeepStack slots and maxDeepFrames frames, however many deep
// evaluations end at once and however deep they went.
func TestDeepStacksBounded(t *testing.T) {
	p := newProgram(t, deepStacksTestProgram)
	emptyDeepStacks(t)
	r := watchReleases(t)
	lh := NewLocalHost("local")
	fn, err := p.eval(t, nil, "waitDeep")
	if err != nil {
		t.Fatal(err)
	}

	// More deep evaluations at once than deepStacks keeps, each waiting
	// on a listener at the bottom of its recursion.
	const n = maxDeepStacks + 3
	type waiting struct {
		th   *Thread
		ch   *Channel
		done chan result
	}
	ws := make([]waiting, n)
	for i := range ws {
		ch, err := lh.NewChannel(nil)
		if err != nil {
			t.Fatal(err)
		}
		w := waiting{th: &Thread{Loader: p.store, Names: p.names, Host: lh}, ch: ch, done: make(chan result, 1)}
		ws[i] = w
		go func() {
			v, err := w.th.Call(context.Background(), fn, MakeInt(2000), ch)
			w.done <- result{v, err}
		}()
	}
	waitUntil(t, "the listeners", func() bool { return lh.Listening() == n })
	for i, w := range ws {
		if k := lh.DeliverLocal(w.ch.ID, MakeInt(int64(i))); k != 1 {
			t.Fatalf("DeliverLocal took %d", k)
		}
		res := noHang(t, "a deep waiting evaluation", func() result { return <-w.done })
		if res.err != nil || res.v != MakeInt(int64(2000+i)) {
			t.Fatalf("waitDeep %d: %v, %v", i, res.v, res.err)
		}
		if len(r.deepOf(w.th)) != 1 {
			t.Fatalf("waitDeep %d kept deep stacks %d times", i, len(r.deepOf(w.th)))
		}
	}
	stacks, frames := keptDeep()
	if len(stacks) != maxDeepStacks || len(frames) != maxDeepStacks {
		t.Fatalf("after %d deep evaluations deepStacks holds %d value and %d frame stacks, want %d each",
			n, len(stacks), len(frames), maxDeepStacks)
	}

	// Too deep for the bounds: its frame stack is dropped (and its value
	// stack too when past maxDeepStack), and the kept ones stay.
	th := p.thread()
	if v, err := th.Eval(context.Background(), compileExpr(t, p.c, fmt.Sprintf("deep %d 1", 2*maxDeepFrames))); err != nil || v != MakeInt(2*maxDeepFrames) {
		t.Fatalf("deep %d: %v, %v", 2*maxDeepFrames, v, err)
	}
	for _, k := range r.deepOf(th) {
		if k.frames != 0 {
			t.Fatalf("an evaluation %d deep kept its %d frames", 2*maxDeepFrames, k.framesCap)
		}
	}
	stacks, frames = keptDeep()
	if len(stacks) != maxDeepStacks || len(frames) != maxDeepStacks {
		t.Fatalf("deepStacks holds %d value and %d frame stacks, want %d each", len(stacks), len(frames), maxDeepStacks)
	}
	var pinned int64
	for _, s := range stacks {
		if cap(s) > maxDeepStack || len(s) != 0 {
			t.Fatalf("deepStacks keeps a value stack of %d slots (length %d)", cap(s), len(s))
		}
		pinned += int64(cap(s)) * int64(unsafe.Sizeof(Value(nil)))
	}
	for _, f := range frames {
		if cap(f) > maxDeepFrames || len(f) != 0 {
			t.Fatalf("deepStacks keeps a frame stack of %d frames (length %d)", cap(f), len(f))
		}
		pinned += int64(cap(f)) * int64(unsafe.Sizeof(frame{}))
	}
	limit := int64(maxDeepStacks) * (maxDeepStack*int64(unsafe.Sizeof(Value(nil))) + maxDeepFrames*int64(unsafe.Sizeof(frame{})))
	if pinned > limit || limit > 8<<20 {
		t.Fatalf("deepStacks pins %d bytes, bound %d (limits.go says 8 MiB)", pinned, limit)
	}
}
