package eval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/unode-dev/unode/dag"
)

// The issue-13 builtins whose work grows with their input check for
// cancellation as they go (like TestCancelInsideBuiltins): each makes
// several checks on a large input, and a Cancel at the middle check
// stops it with ErrCanceled.
func TestCancelInsideLibraryBuiltins(t *testing.T) {
	p := newProgram(t, "")
	mk := func(expr string) Value {
		v, err := p.eval(t, nil, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	const n = 100_000
	ints := mk(fmt.Sprintf("List.map (i -> i * 7919 %% 1000003) (List.range 0 %d)", n))
	pairs := mk(fmt.Sprintf("List.map (i -> (i, i)) (List.range 0 %d)", n))
	lists := mk(fmt.Sprintf("List.map (i -> [i, i]) (List.range 0 %d)", n))
	texts := mk(fmt.Sprintf("List.map Int.toText (List.range 0 %d)", n))
	m := mk(fmt.Sprintf("Map.fromList (List.map (i -> (i, i)) (List.range 0 %d))", n))
	m2 := mk(fmt.Sprintf("Map.fromList (List.map (i -> (i + %d, i)) (List.range 0 %d))", n/2, n))
	s := mk(fmt.Sprintf("Set.fromList (List.range 0 %d)", n))
	s2 := mk(fmt.Sprintf("Set.fromList (List.range %d %d)", n/2, n+n/2))
	letters := Text(strings.Repeat("héllo", n))
	add := builtins["Op.add"].value

	for _, tc := range []struct {
		fn   string
		args []Value
	}{
		{"List.chunksOf", []Value{MakeInt(1), ints}},
		{"List.zip3", []Value{ints, ints, ints}},
		{"List.lookup", []Value{MakeInt(-1), pairs}},
		{"List.elem", []Value{MakeInt(-1), ints}},
		{"List.intercalate", []Value{NewList([]Value{MakeInt(0)}), lists}},
		{"List.transpose", []Value{lists}},
		{"Map.unionWith", []Value{add, m, m2}},
		{"Map.fromListWith", []Value{add, pairs}},
		{"Set.fromList", []Value{ints}},
		{"Set.toList", []Value{s}},
		{"Set.union", []Value{s, s2}},
		{"Set.intersection", []Value{s, s2}},
		{"Set.difference", []Value{s, s2}},
		{"Set.isSubsetOf", []Value{s, s}},
		{"Text.unlines", []Value{texts}},
		{"Text.unwords", []Value{texts}},
		{"Text.isAlpha", []Value{letters}},
		{"toText", []Value{m}},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			fn := builtins[tc.fn].value
			checks := 0
			checkHook = func(*Thread) { checks++ }
			defer func() { checkHook = nil }()
			th := &Thread{Loader: p.store}
			if _, err := th.Call(context.Background(), fn, tc.args...); err != nil {
				t.Fatalf("%s: %v", tc.fn, err)
			}
			total := checks
			if total < 6 {
				t.Fatalf("%s made %d checks", tc.fn, total)
			}
			checks = 0
			checkHook = func(th *Thread) {
				checks++
				if checks == total/2 {
					th.Cancel("test")
				}
			}
			th = &Thread{Loader: p.store}
			_, err := th.Call(context.Background(), fn, tc.args...)
			if !errors.Is(err, ErrCanceled) {
				t.Fatalf("%s canceled at check %d of %d: %v", tc.fn, total/2, total, err)
			}
		})
	}
}

// A Set travels as the constructor value it is: it comes back equal and
// prints the same, and a "set" built by hand on the wire with a field
// that is not a Map is refused by the Set builtins with a runtime error
// (and still prints, as the constructor it is).
func TestSetOverTheWire(t *testing.T) {
	p := newProgram(t, "")
	for _, expr := range []string{"Set.empty", "Set.fromList [3, 1, 2]", `Set.fromList [(1, "a"), (0, "b")]`, "Some (Set.fromList [Set.singleton 1])"} {
		v, err := p.eval(t, nil, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		v2 := roundTrip(t, v)
		if c, err := Compare(v, v2); err != nil || c != 0 || Show(v2, nil) != Show(v, nil) {
			t.Errorf("%s came back as %s", Show(v, nil), Show(v2, nil))
		}
	}
	bad, err := FromWire(&dag.VData{Type: dag.TypeRef{Builtin: "Set"}, Ctor: 0, Fields: []dag.Value{&dag.VInt{V: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := Show(bad, nil); got != "Set#0 7" {
		t.Errorf("malformed set prints as %q", got)
	}
	th := p.thread()
	_, err = th.Call(context.Background(), builtins["Set.size"].value, bad)
	var re *RuntimeError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "expected a Set") {
		t.Fatalf("Set.size of a malformed set: %v", err)
	}
}
