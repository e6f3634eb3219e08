package eval

import (
	"context"
	"math"
	"testing"

	"github.com/unode-dev/unode/dag"
)

const wireProgram = `
type Shape = Circle Float | Rect Float Float
type P = Pt Int Int Int

scaler a b = let k = a * 10 in (x -> x * k + b)
counter n = let go i acc = if i == 0 then acc else go (i - 1) (acc + n) in go
thunkOf x = '(x * x + 1)
nested n = if n == 0 then (x -> x) else (x -> nested (n - 1) (x + 1))
twoLevels a = b -> let c = a + b in (d -> a * 100 + c * 10 + d)
fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)
unusedYet x = x * 3
`

// roundTrip sends v through ToWire, the DAG-CBOR encoding and FromWire.
func roundTrip(t *testing.T, v Value) Value {
	t.Helper()
	w, err := ToWire(v)
	if err != nil {
		t.Fatalf("ToWire(%s): %v", Show(v, nil), err)
	}
	data, err := dag.EncodeValue(w)
	if err != nil {
		t.Fatalf("EncodeValue(%s): %v", Show(v, nil), err)
	}
	w2, err := dag.DecodeValue(data)
	if err != nil {
		t.Fatalf("DecodeValue(%s): %v", Show(v, nil), err)
	}
	v2, err := FromWire(w2)
	if err != nil {
		t.Fatalf("FromWire(%s): %v", Show(v, nil), err)
	}
	// The encoding is canonical: re-encoding gives the same bytes.
	w3, err := ToWire(v2)
	if err != nil {
		t.Fatalf("ToWire again: %v", err)
	}
	data2, err := dag.EncodeValue(w3)
	if err != nil {
		t.Fatalf("EncodeValue again: %v", err)
	}
	if string(data) != string(data2) {
		t.Errorf("%s: encoding changed after a round trip", Show(v, nil))
	}
	return v2
}

func TestWireRoundTripData(t *testing.T) {
	p := newProgram(t, wireProgram)
	for _, expr := range []string{
		"42", "-9223372036854775808", "1.5", "-0.0", `"héllo\n"`, "true", "false", "0xs00ff", "()",
		"(1, \"a\", [2.5])", "[]", "[1, 2, 3]", "[[1], [], [2, 3]]",
		`Map.fromList [(2, "b"), (1, "a")]`, "Map.empty", `Map.fromList [((1, "x"), [Some 1])]`,
		"Some 1", "None", `Left "e"`, "Right (Some [1])", "Timeout", `Msg "m"`, `Err.BudgetExceeded "fuel"`,
		"Circle 1.5", "Rect 1.0 2.0", "[Circle 1.0, Rect 2.0 3.0]", "List.drop 1 [1, 2, 3]",
	} {
		v, err := p.eval(t, nil, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		v2 := roundTrip(t, v)
		if c, err := Compare(v, v2); err != nil || c != 0 {
			t.Errorf("%s came back as %s", Show(v, p.names), Show(v2, p.names))
		}
	}
	for _, v := range []Value{Float(math.NaN()), Float(math.Inf(-1)), &Node{ID: "12D3KooWx", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}},
		&Channel{ID: []byte{1, 2, 3}, Node: "12D3KooWx"}} {
		v2 := roundTrip(t, v)
		if c, err := Compare(v, v2); err != nil || c != 0 {
			t.Errorf("%s came back as %s", Show(v, nil), Show(v2, nil))
		}
	}
}

func TestWireRoundTripFunctions(t *testing.T) {
	p := newProgram(t, wireProgram)
	for _, tc := range []struct {
		fn    string // expression for a function value
		args  []Value
		want  string
		nenv  int // captured values in the closure's env, -1 to skip the check
		isDef bool
	}{
		{"scaler 2 3", []Value{MakeInt(4)}, "83", 2, false},            // captures k and b, not a
		{"counter 5", []Value{MakeInt(3), MakeInt(0)}, "15", 2, false}, // itself and n
		{"thunkOf 7", nil, "50", 1, false},
		{"nested 3", []Value{MakeInt(10)}, "13", 1, false}, // refers to its own definition
		{"twoLevels 1 2", []Value{MakeInt(3)}, "133", 2, false},
		{"fib", []Value{MakeInt(10)}, "55", -1, true},
		{"Int.add 1", []Value{MakeInt(2)}, "3", -1, false},
		{"Int.add", []Value{MakeInt(2), MakeInt(5)}, "7", -1, false},
		{"Pt 1", []Value{MakeInt(2), MakeInt(3)}, "Pt 1 2 3", -1, false},
		{"Pt 1 2", []Value{MakeInt(3)}, "Pt 1 2 3", -1, false},
		{"Pt", []Value{MakeInt(1), MakeInt(2), MakeInt(3)}, "Pt 1 2 3", -1, false},
		{"Some", []Value{MakeInt(1)}, "Some 1", -1, false},
		{"(x y -> x - y) 10", []Value{MakeInt(3)}, "7", -1, false},
		{"scaler 2", []Value{MakeInt(3), MakeInt(4)}, "83", -1, false},
		{"List.map (x -> x * 2)", []Value{NewList([]Value{MakeInt(1), MakeInt(2)})}, "[2, 4]", -1, false},
		{"share [1, 2]", nil, "[1, 2]", 1, false},
		{`let s = "!" in List.map (x -> x ++ s)`, []Value{NewList([]Value{Text("a")})}, `["a!"]`, -1, false},
	} {
		v, err := p.eval(t, nil, tc.fn)
		if err != nil {
			t.Fatalf("%s: %v", tc.fn, err)
		}
		if c, ok := v.(*Closure); ok && tc.nenv >= 0 && len(c.env) != tc.nenv {
			t.Errorf("%s captured %d values, want %d", tc.fn, len(c.env), tc.nenv)
		}
		w, err := ToWire(v)
		if err != nil {
			t.Fatalf("ToWire(%s): %v", tc.fn, err)
		}
		if _, ok := w.(*dag.VDef); ok != tc.isDef {
			t.Errorf("%s: wire form %T", tc.fn, w)
		}
		v2 := roundTrip(t, v)
		th := p.thread()
		r, err := th.Call(context.Background(), v2, tc.args...)
		if err != nil {
			t.Fatalf("calling decoded %s: %v", tc.fn, err)
		}
		if got := Show(r, p.names); got != tc.want {
			t.Errorf("decoded %s applied = %s, want %s", tc.fn, got, tc.want)
		}
	}
}

func TestWireDefByReference(t *testing.T) {
	p := newProgram(t, wireProgram)
	ref, ok := p.c.Lookup("unusedYet")
	if !ok {
		t.Fatal("no unusedYet")
	}
	// A reference to a definition this process has not compiled yet comes
	// back as a DefFn and is loaded when applied.
	v, err := FromWire(&dag.VDef{Def: ref.Def})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(*DefFn); !ok {
		t.Fatalf("got %T", v)
	}
	r, err := p.thread().Call(context.Background(), v, MakeInt(5))
	if err != nil || r != MakeInt(15) {
		t.Fatalf("got %v, %v", r, err)
	}
	if w, err := ToWire(v); err != nil || w.(*dag.VDef).Def != ref.Def {
		t.Fatalf("ToWire(DefFn) = %v, %v", w, err)
	}
}

func TestWireRejects(t *testing.T) {
	for name, w := range map[string]dag.Value{
		"unsorted map":     &dag.VMap{Keys: []dag.Value{&dag.VInt{V: 2}, &dag.VInt{V: 1}}, Vals: []dag.Value{&dag.VUnit{}, &dag.VUnit{}}},
		"duplicate key":    &dag.VMap{Keys: []dag.Value{&dag.VInt{V: 1}, &dag.VInt{V: 1}}, Vals: []dag.Value{&dag.VUnit{}, &dag.VUnit{}}},
		"unknown builtin":  &dag.VBuiltin{Name: "No.such"},
		"saturated":        &dag.VBuiltin{Name: "not", Args: []dag.Value{&dag.VBool{V: true}}},
		"open closure":     &dag.VClosure{Code: &dag.Lam{Arity: 1, Body: &dag.Var{Index: 1}}},
		"bad code":         &dag.VClosure{Code: &dag.Int{V: 1}},
		"self in closure":  &dag.VClosure{Code: &dag.Lam{Arity: 1, Body: &dag.Self{}}},
		"short tuple":      &dag.VTuple{Elems: []dag.Value{&dag.VUnit{}}},
		"wrong ctor arity": &dag.VData{Type: dag.TypeRef{Builtin: "Optional"}, Ctor: 1},
		"empty partial":    &dag.VPartial{Fn: &dag.VBuiltin{Name: "not"}},
		"partial of int":   &dag.VPartial{Fn: &dag.VInt{V: 1}, Args: []dag.Value{&dag.VUnit{}}},
	} {
		if v, err := FromWire(w); err == nil {
			t.Errorf("%s: accepted as %s", name, Show(v, nil))
		}
	}
	if _, err := ToWire(NewFuture()); err == nil {
		t.Error("a future was sent")
	}
}
