package eval

import (
	"testing"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// BenchmarkFromWireThunk decodes a thunk of a few dozen calls, as a
// callee does for every eval request: the compile of sent code, with the
// sites its runtime errors are reported from (remote_errors.go).
func BenchmarkFromWireThunk(b *testing.B) {
	e, err := syntax.ParseExpr("<b>", []byte("'(List.foldl (acc x -> if x > 3 then acc + x * 2 else acc - x) 0 (List.map (y -> y * y + 1) [1, 2, 3, 4, 5, 6, 7, 8]))"))
	if err != nil {
		b.Fatal(err)
	}
	t, err := dag.CompileExpr(e, compileOptions(nil))
	if err != nil {
		b.Fatal(err)
	}
	v, err := (&Thread{}).Eval(b.Context(), t)
	if err != nil {
		b.Fatal(err)
	}
	w, err := ToWire(v)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromWire(w); err != nil {
			b.Fatal(err)
		}
	}
}
