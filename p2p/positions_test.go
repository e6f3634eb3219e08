package p2p

import (
	"context"
	"errors"
	"testing"

	"github.com/unode-dev/unode/eval"
)

// A file added to a codebase keeps its source positions beside the
// blocks, so a runtime error in its code, evaluated later by name or by
// an expression, says where it happened (issue 13).
func TestCodebaseRuntimeErrorPositions(t *testing.T) {
	ctx := context.Background()
	cb := NewCodebase(memDatastore())
	src := "h x = x + \"one\"\ng x = h x * 2\n"
	if _, err := cb.Add(ctx, "prog.u", []byte(src)); err != nil {
		t.Fatal(err)
	}
	_, err := cb.EvalSource(ctx, "<eval>", "1 +\n  g 1", Budget{})
	var re *eval.RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *eval.RuntimeError", err)
	}
	want := "prog.u:1:9: cannot apply + to an Int and a Text\n\tin h at prog.u:1:9\n\tin g at prog.u:2:7\n\tin <expr> at <eval>:2:3"
	if got := re.Backtrace(); got != want {
		t.Errorf("backtrace\n%s\nwant\n%s", got, want)
	}
}
