package eval

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/unode-dev/unode/dag"
)

// A definition remembers the last thread whose checks it passed
// (checkDef): another thread is still asked, a denial is never
// remembered, and a thread whose slot another took is asked again.
func TestCheckDefSlotPerThread(t *testing.T) {
	ctx := context.Background()
	inc := testRef("firstuse-inc")
	loader := memLoader{inc: tlam(1, top("add", tv(0), ti(1)))}
	asked := map[*Thread]int{}
	thread := func(deny bool) *Thread {
		th := &Thread{Loader: loader}
		th.CheckDef = func(r dag.DefRef) error {
			asked[th]++
			if deny {
				return fmt.Errorf("%w: %s", ErrDenied, r)
			}
			return nil
		}
		return th
	}
	use := func(th *Thread) error {
		v, err := th.Eval(ctx, tapp(tref(inc), ti(1)))
		if err == nil && Show(v, nil) != "2" {
			t.Fatalf("inc 1 = %s", Show(v, nil))
		}
		return err
	}
	a, b, c := thread(false), thread(true), thread(false)
	if err := use(a); err != nil || asked[a] != 1 {
		t.Fatalf("first use: %v, asked %d", err, asked[a])
	}
	if err := use(a); err != nil || asked[a] != 1 {
		t.Fatalf("second use on the same thread: %v, asked %d", err, asked[a])
	}
	// Another thread is asked, and denied, though a has passed.
	if err := use(b); !errors.Is(err, ErrDenied) || asked[b] != 1 {
		t.Fatalf("denying thread: %v, asked %d", err, asked[b])
	}
	if err := use(b); !errors.Is(err, ErrDenied) || asked[b] != 2 {
		t.Fatalf("denying thread again: %v, asked %d", err, asked[b])
	}
	// A denial takes no slot: a is not asked again.
	if err := use(a); err != nil || asked[a] != 1 {
		t.Fatalf("after a denial elsewhere: %v, asked %d", err, asked[a])
	}
	// c's checks take the slot over: a is asked again.
	if err := use(c); err != nil || asked[c] != 1 {
		t.Fatalf("third thread: %v, asked %d", err, asked[c])
	}
	if err := use(a); err != nil || asked[a] != 2 {
		t.Fatalf("after another thread's checks: %v, asked %d", err, asked[a])
	}
}

// Threads taking turns on a definition ask again at most
// defChecksUnlisted times each, then remember it themselves.
func TestCheckDefTurnsBounded(t *testing.T) {
	ctx := context.Background()
	inc := testRef("firstuse-turns")
	loader := memLoader{inc: tlam(1, top("add", tv(0), ti(1)))}
	var asked [2]int
	var ths [2]*Thread
	for i := range ths {
		ths[i] = &Thread{Loader: loader, CheckDef: func(dag.DefRef) error { asked[i]++; return nil }}
	}
	expr := tapp(tref(inc), ti(1))
	rounds := defChecksUnlisted + 100
	for range rounds {
		for _, th := range ths {
			if _, err := th.Eval(ctx, expr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, n := range asked {
		if n > defChecksUnlisted+1 || n < defChecksUnlisted {
			t.Errorf("thread %d asked %d times in %d turns, want %d or %d", i, n, rounds, defChecksUnlisted, defChecksUnlisted+1)
		}
	}
}

// nodeIndex numbers nodes as dag.Preorder does, a shared node by its
// first visit; a term outside the code has -1, and a site for it no
// position.
func TestNodeIndex(t *testing.T) {
	shared := top("add", tv(0), ti(1))
	root := tlam(1, tapp(tb("Op.mul"), shared, shared))
	want := map[dag.Term]int32{}
	var n int32
	dag.Preorder(root, func(x dag.Term) {
		if _, ok := want[x]; !ok {
			want[x] = n
		}
		n++
	})
	x := &nodeIndex{root: root}
	for term, k := range want {
		if got := x.of(term); got != k {
			t.Errorf("node %T numbered %d, want %d", term, got, k)
		}
	}
	if x.of(shared) != 3 {
		t.Errorf("shared node numbered %d, want its first visit, 3", x.of(shared))
	}
	foreign := ti(7)
	if x.of(foreign) != -1 {
		t.Errorf("a term outside the code numbered %d", x.of(foreign))
	}
	c := newCompiler(nil, root)
	sc := &scope{c: c}
	if s := sc.site(shared); !s.placed() || s.number() != 3 {
		t.Errorf("site of the shared node: placed %v, number %d", s.placed(), s.number())
	}
	if s := sc.site(foreign); s.placed() {
		t.Errorf("site of a term outside the code is placed at %d", s.number())
	}
}

// The code of a definition's lambda has its number, 0, and an inner
// lambda its own, as remote errors read them (fc.node).
func TestFunctionNodes(t *testing.T) {
	inner := tlam(1, top("add", tv(0), tv(1)))
	root := tlam(1, tapp(tb("Op.add"), ti(0), ti(0)))
	root = tlam(1, &dag.Let{Value: root, Body: inner})
	ref := testRef("firstuse-nodes")
	b, err := compileDef(ref, root)
	if err != nil {
		t.Fatal(err)
	}
	if b.fn.fc.node != 0 {
		t.Errorf("definition's function numbered %d, want 0", b.fn.fc.node)
	}
	var n, want int32 = 0, -1
	dag.Preorder(root, func(x dag.Term) {
		if x == inner {
			want = n
		}
		n++
	})
	th := &Thread{Loader: memLoader{ref: root}}
	v, err := th.Eval(context.Background(), tapp(tref(ref), ti(1)))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := v.(*Closure)
	if !ok {
		t.Fatalf("result %s is not a closure", describe(v))
	}
	if want < 2 || c.fc.term != inner || c.fc.node != want {
		t.Errorf("inner lambda numbered %d, want %d", c.fc.node, want)
	}
}
