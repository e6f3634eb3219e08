package eval

import (
	"context"
	"fmt"
	"testing"

	"github.com/unode-dev/unode/dag"
)

// The registry holds at most its bounds, evicts in CLOCK order (an
// entry used since the hand passed is spared once), and an evicted
// entry's reference gets a new defCode.
func TestDefRegistryBounds(t *testing.T) {
	r := newDefRegistry(8, 100)
	refs := make([]dag.DefRef, 20)
	got := make([]*defCode, 20)
	for i := range refs {
		refs[i] = testRef(fmt.Sprintf("registry-%d", i))
	}
	for i := range 8 {
		got[i] = r.get(refs[i])
	}
	if n, _ := r.len(); n != 8 {
		t.Fatalf("%d entries, want 8", n)
	}
	// All new, none used: the hand takes the first; refs[1] is used
	// again and so spared once.
	if r.get(refs[1]) != got[1] {
		t.Fatal("a held reference got a new defCode")
	}
	r.get(refs[8])
	if n, _ := r.len(); n != 8 {
		t.Fatalf("%d entries past the bound, want 8", n)
	}
	if r.get(refs[1]) != got[1] {
		t.Fatal("the used entry was evicted before an unused one")
	}
	for i := 9; i < 20; i++ {
		d := r.get(refs[i])
		r.compiled(d, 30)
		if n, w := r.len(); n > 8 || w > 100 {
			t.Fatalf("after %d: %d entries of weight %d, bounds 8 and 100", i, n, w)
		}
	}
	if d := r.get(refs[0]); d == got[0] {
		t.Fatal("an evicted reference kept its defCode")
	}
	// A defCode evicted while it compiled is not charged.
	d := r.get(testRef("registry-late"))
	r.clear()
	r.compiled(d, 50)
	if n, w := r.len(); n != 0 || w != 0 {
		t.Fatalf("cleared registry holds %d entries of weight %d", n, w)
	}
}

// Through evaluation: a process that runs more definitions than the
// bounds keep holds no more than them, and a definition evicted runs
// again (compiled anew) with the same answer. Before the registry was
// bounded, every definition a node had ever run stayed compiled.
func TestDefRegistryBoundsEvaluation(t *testing.T) {
	ctx := context.Background()
	defs.clear()
	t.Cleanup(defs.clear)
	// Entries: one-node definitions, more of them than maxDefEntries.
	loader := memLoader{}
	n := maxDefEntries + 500
	refs := make([]dag.DefRef, n)
	for i := range refs {
		refs[i] = testRef(fmt.Sprintf("bound-entries-%d", i))
		loader[refs[i]] = ti(int64(i))
	}
	th := &Thread{Loader: loader}
	for i, ref := range refs {
		v, err := th.Eval(ctx, tref(ref))
		if err != nil || Show(v, nil) != fmt.Sprint(i) {
			t.Fatalf("definition %d: %v %v", i, v, err)
		}
	}
	if got, _ := defs.len(); got > maxDefEntries {
		t.Fatalf("%d definitions held, bound %d", got, maxDefEntries)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		v, err := (&Thread{Loader: loader}).Eval(ctx, tref(refs[i]))
		if err != nil || Show(v, nil) != fmt.Sprint(i) {
			t.Fatalf("definition %d again: %v %v", i, v, err)
		}
	}
	// Weight: definitions of about 1,000 nodes each, more than
	// maxDefWeight's worth of them.
	defs.clear()
	body := ti(1)
	for range 500 {
		body = top("add", body, ti(1))
	}
	heavy := memLoader{}
	m := maxDefWeight/1000 + 100
	for i := range m {
		ref := testRef(fmt.Sprintf("bound-weight-%d", i))
		heavy[ref] = tlam(1, top("add", tv(0), body))
		v, err := (&Thread{Loader: heavy}).Eval(ctx, tapp(tref(ref), ti(int64(i))))
		if err != nil || Show(v, nil) != fmt.Sprint(i+501) {
			t.Fatalf("heavy definition %d: %v %v", i, v, err)
		}
		if _, w := defs.len(); w > maxDefWeight {
			t.Fatalf("after %d heavy definitions: weight %d, bound %d", i+1, w, maxDefWeight)
		}
	}
	if got, w := defs.len(); got >= m || w < maxDefWeight/2 {
		t.Fatalf("%d of %d heavy definitions held, weight %d: the bound did not act or the weight is not charged", got, m, w)
	}
}
