package p2p

import (
	"context"
	"fmt"
	"testing"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// Issue 11, acceptance 1 and 3, measured between two real nodes on
// loopback: the bytes a call puts on its stream (request) and takes off
// it (reply), framing included. Values travel inline in those messages,
// so these are the figures that show their cost (the `sync` figures of
// `--json` count only definition blocks).

// exprThunk compiles src (builtins only) to the thunk '(src).
func exprThunk(t testing.TB, src string) dag.Value {
	t.Helper()
	e, err := syntax.ParseExpr("test", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	term, err := dag.CompileExpr(e, dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor})
	if err != nil {
		t.Fatal(err)
	}
	return &dag.VClosure{Code: &dag.Delay{Body: term}}
}

// localValue evaluates src (builtins only) on a fresh thread.
func localValue(t testing.TB, src string) eval.Value {
	t.Helper()
	v, err := (&eval.Thread{}).Call(context.Background(), mustFromWire(t, exprThunk(t, src)))
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return v
}

func mustFromWire(t testing.TB, w dag.Value) eval.Value {
	t.Helper()
	v, err := eval.FromWire(w)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// forceHere forces a thunk received from a peer.
func forceHere(t testing.TB, v eval.Value) eval.Value {
	t.Helper()
	out, err := (&eval.Thread{}).Call(context.Background(), v)
	if err != nil {
		t.Fatalf("forcing %s: %v", eval.Show(v, nil), err)
	}
	return out
}

func mustEqualValues(t testing.TB, what string, a, b eval.Value) {
	t.Helper()
	eq, err := eval.Equal(a, b)
	if err != nil || !eq {
		t.Fatalf("%s: the values differ (%v)", what, err)
	}
}

const tenKBText = `Text.repeat 10240 "x"`

// TestShareOnTheWire: a list of 1,000 references to one 10 KB text comes
// back from a node in about 10 KB with share (sharedAt), and goes to a
// node in about 10 KB inside a thunk. Without share every reference
// costs the whole text: 6 references (kept under dag.ChunkThreshold, so
// that the message is the value's plain encoding) cost 6 × 10,245
// bytes, so 1,000 would be 10 MB, past the 4 MiB a message may hold.
// Every round trip gives a value equal to the original.
func TestShareOnTheWire(t *testing.T) {
	ctx := testCtx(t)
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	refs := func(n string) string { return `List.replicate ` + n + ` (` + tenKBText + `)` }
	want := localValue(t, refs("1000"))

	// Results: the callee builds the list and sends it back.
	res, err := a.callThunk(ctx, b.ID(), nil, exprThunk(t, `share (`+refs("1000")+`)`), Budget{})
	if err != nil {
		t.Fatal(err)
	}
	shared := res.wire.in
	mustEqualValues(t, "shared result", forceHere(t, res.value), want)
	// sharedAt, in a program on a, against b.
	addSource(t, a, "viaShare node = sharedAt node '("+refs("1000")+")\n")
	v, _, err := call(ctx, a, "viaShare", nodeValue(b))
	if err != nil {
		t.Fatal(err)
	}
	mustEqualValues(t, "sharedAt", v, want)
	plain := func(n int) int64 {
		t.Helper()
		src := refs(fmt.Sprint(n))
		res, err := a.callThunk(ctx, b.ID(), nil, exprThunk(t, src), Budget{})
		if err != nil {
			t.Fatal(err)
		}
		mustEqualValues(t, "plain result", res.value, localValue(t, src))
		return res.wire.in
	}
	plain1, plain6 := plain(1), plain(6)
	perRef := float64(plain6-plain1) / 5
	t.Logf("results: 1,000 references with share: %d bytes; without: 1 -> %d bytes, 6 -> %d bytes (%.0f bytes per reference, so 1,000 -> %.1f MB)",
		shared, plain1, plain6, perRef, perRef*1000/1e6)
	if shared < 10240 || shared > 16<<10 {
		t.Errorf("1,000 shared references came back in %d bytes, want about 10 KB", shared)
	}
	if perRef < 10240 {
		t.Errorf("each plain reference cost %.0f bytes, want the whole 10 KB text", perRef)
	}

	// Arguments: the caller captures the list in the thunk it sends.
	send := func(src string) (int64, eval.Value) {
		t.Helper()
		thunk := localValue(t, src)
		w, err := eval.ToWire(thunk)
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.callThunk(ctx, b.ID(), nil, w, Budget{})
		if err != nil {
			t.Fatal(err)
		}
		return res.wire.out, res.value
	}
	out, got := send(`let s = share (` + refs("1000") + `) in '(List.map Text.length (force s))`)
	mustEqualValues(t, "lengths of the shared list", got, localValue(t, `List.replicate 1000 10240`))
	out6, _ := send(`let v = ` + refs("6") + ` in '(List.length v)`)
	t.Logf("requests: 1,000 references with share: %d bytes; 6 without: %d bytes", out, out6)
	if out < 10240 || out > 16<<10 {
		t.Errorf("a thunk with 1,000 shared references took %d bytes, want about 10 KB", out)
	}
	if out6 < 6*10240 {
		t.Errorf("a thunk with 6 plain references took %d bytes, want at least %d", out6, 6*10240)
	}
}

// TestAtViaRLEOnTheWire: a list of 20,000 readings in 20 runs (60 KB,
// under dag.ChunkThreshold, so sent as its plain encoding) comes back
// run-length encoded in a small fraction of the plain list's bytes, and
// atVia, called by a program on one node, decodes it to an equal list.
func TestAtViaRLEOnTheWire(t *testing.T) {
	ctx := testCtx(t)
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	const readings = `List.flatMap (i -> List.replicate 1000 (i % 3)) (List.range 0 20)`
	want := localValue(t, readings)

	res, err := a.callThunk(ctx, b.ID(), nil, exprThunk(t, readings), Budget{})
	if err != nil {
		t.Fatal(err)
	}
	plain := res.wire.in
	mustEqualValues(t, "plain", res.value, want)
	res, err = a.callThunk(ctx, b.ID(), nil, exprThunk(t, `RLE.encode (`+readings+`)`), Budget{})
	if err != nil {
		t.Fatal(err)
	}
	encoded := res.wire.in
	decoded, err := (&eval.Thread{}).Call(ctx, localValue(t, `RLE.decode`), res.value)
	if err != nil {
		t.Fatal(err)
	}
	mustEqualValues(t, "decoded", decoded, want)
	t.Logf("20,000 readings in 20 runs: %d bytes plain, %d bytes run-length encoded (%.2f%%)", plain, encoded, 100*float64(encoded)/float64(plain))
	if encoded*20 > plain {
		t.Errorf("run-length encoded: %d bytes, plain %d: want under 5%%", encoded, plain)
	}

	// atVia itself, in a program on a, against b.
	addSource(t, a, "readings = "+readings+"\nviaRLE node = atVia node (RLE.encode, RLE.decode) '(readings)\n")
	v, _, err := call(ctx, a, "viaRLE", nodeValue(b))
	if err != nil {
		t.Fatal(err)
	}
	mustEqualValues(t, "atVia", v, want)
}
