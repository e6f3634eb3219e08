package eval

import (
	"context"
	"testing"

	"github.com/unode-dev/unode/eval/internal/bench"
)

// The suite's programs at their small sizes take the fuel they took
// before the fused and in-place forms of issue 12's third round (prefix
// reversal in place, rotation in one buffer, let-bound numbers in
// registers): those forms must charge exactly the steps of the
// operations they replace. The counts were measured on the tree before
// that round.
func TestSuiteFuelUnchanged(t *testing.T) {
	want := map[string]int64{
		"binaryTrees":  44414,
		"nbody":        418320,
		"spectralNorm": 65507,
		"fannkuch":     330557,
		"fib":          6904,
	}
	u := newUnodeSuite(t)
	for _, p := range bench.Programs {
		w, ok := want[p.Name]
		if !ok {
			continue
		}
		th := &Thread{Loader: u.p.store, Names: u.p.names}
		v, err := th.Call(context.Background(), u.fns[p.Name], MakeInt(int64(p.Small)))
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if got := int64(v.(Int)); got != p.WantSmall {
			t.Errorf("%s = %d, want %d", p.Name, got, p.WantSmall)
		}
		if th.Steps() != w {
			t.Errorf("%s took %d steps, want %d", p.Name, th.Steps(), w)
		}
	}
}
