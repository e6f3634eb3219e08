package eval

import (
	"context"
	"testing"
	"time"

	"github.com/unode-dev/unode/dag"
)

// FuzzWire feeds arbitrary bytes through the value decoder into FromWire:
// whatever decodes must convert without panicking, print, convert back,
// and, if it is a function, run under a small budget without crashing.
func FuzzWire(f *testing.F) {
	p := newProgram(f, wireProgram)
	for _, expr := range []string{"42", `Map.fromList [(1, "a")]`, "scaler 2 3", "counter 5", "thunkOf 7",
		"nested 2", "Pt 1", "Int.add 1", "[Circle 1.0, Rect 2.0 3.0]", "share 1", "fib"} {
		v, err := p.eval(f, nil, expr)
		if err != nil {
			f.Fatal(err)
		}
		w, err := ToWire(v)
		if err != nil {
			f.Fatal(err)
		}
		data, err := dag.EncodeValue(w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := dag.DecodeValue(data)
		if err != nil {
			return
		}
		v, err := FromWire(w)
		if err != nil {
			return
		}
		_ = Show(v, nil)
		_ = ToJSON(v, nil)
		if _, err := ToWire(v); err != nil {
			t.Fatalf("ToWire of a decoded value: %v", err)
		}
		if isFunction(v) {
			runSmall(t, p, v)
		}
	})
}

// FuzzEval runs arbitrary decoded terms under small budgets: foreign code
// must end in a value or an error, never a panic, hang or crash.
func FuzzEval(f *testing.F) {
	p := newProgram(f, wireProgram)
	for _, expr := range []string{"fib 10", "List.map (x -> x * 2) [1, 2]", "let f x = f x in f 1",
		`match Some 1 with | Some x -> x | None -> 0`, "'(1 / 0)", "(x -> x x) (x -> x x)",
		`Map.insert 1 "a" Map.empty`, "[1, 2] ++ [3]", "Text.split \",\" \"a,b\""} {
		data, err := dag.EncodeTerm(compileExpr(f, p.c, expr))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		term, err := dag.DecodeTerm(data)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		th := &Thread{Loader: p.store, Host: NewLocalHost("local"), Fuel: 100_000, MaxMemory: 10 << 20, MaxDepth: 10_000}
		v, err := th.Eval(ctx, term)
		if err == nil {
			_ = Show(v, nil)
		}
	})
}

func runSmall(t *testing.T, p *program, fn Value) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	th := &Thread{Loader: p.store, Fuel: 100_000, MaxMemory: 10 << 20, MaxDepth: 10_000}
	var args []Value
	if c, ok := fn.(*Closure); ok {
		for i := 0; i < c.fc.arity; i++ {
			args = append(args, MakeInt(int64(i)))
		}
	} else {
		args = []Value{MakeInt(1)}
	}
	_, _ = th.Call(ctx, fn, args...)
}
