package eval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/unode-dev/unode/dag"
)

// denyHook returns a CheckBuiltin that denies the named builtins and
// counts the questions it was asked.
func denyHook(asked map[string]int, denied ...string) func(string) error {
	return func(name string) error {
		asked[name]++
		for _, d := range denied {
			if name == d {
				return fmt.Errorf("%w: builtin %s", ErrDenied, name)
			}
		}
		return nil
	}
}

// The run-time checks see every builtin however it is reached, once per
// thread, and a refusal is a runtime error matching ErrDenied.
func TestCheckBuiltin(t *testing.T) {
	ctx := context.Background()
	dec := testRef("dec")
	loopRef := testRef("loop")
	loader := memLoader{
		dec: tlam(1, top("sub", tv(0), ti(1))),
		// loop n acc = if n == 0 then acc else loop (n - 1) (acc + 1), without Op.sub.
		loopRef: tlam(2, &dag.If{Cond: top("eq", tv(1), ti(0)), Then: tv(0),
			Else: tapp(tself(), top("add", tv(1), ti(-1)), top("add", tv(0), ti(1)))}),
	}
	host := NewLocalHost("me")
	newThread := func(asked map[string]int) *Thread {
		return &Thread{Loader: loader, Host: host, CheckBuiltin: denyHook(asked, "Int.sub", "Op.sub")}
	}
	for _, tc := range []struct {
		name string
		term dag.Term
	}{
		{"a builtin named in the expression", tapp(tb("Int.sub"), ti(3), ti(1))},
		{"an operator", top("sub", ti(3), ti(1))},
		{"a builtin passed as a value", tapp(tb("List.map"), tapp(tb("Int.sub"), ti(1)), &dag.List{Elems: []dag.Term{ti(1)}})},
		{"a definition that uses it", tapp(tref(dec), ti(3))},
	} {
		_, err := newThread(map[string]int{}).Eval(ctx, tc.term)
		var re *RuntimeError
		if !errors.Is(err, ErrDenied) || !errors.As(err, &re) {
			t.Errorf("%s: %v, want a denial", tc.name, err)
		}
	}

	// Allowed builtins are asked about once, however often they run.
	asked := map[string]int{}
	v, err := newThread(asked).Eval(ctx, tapp(tref(loopRef), ti(1000), ti(0)))
	if err != nil || Show(v, nil) != "1000" {
		t.Fatalf("loop = %v, %v", v, err)
	}
	if asked["Op.add"] != 1 || asked["Op.eq"] != 1 {
		t.Errorf("asked %v, want each builtin once", asked)
	}

	// Code read from node data is checked when it enters the thread.
	th := &Thread{Loader: loader, Host: host}
	closure, err := th.Eval(ctx, tlam(1, top("sub", tv(0), ti(1))))
	if err != nil {
		t.Fatal(err)
	}
	w, err := ToWire(closure)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := FromWire(w)
	if err != nil {
		t.Fatal(err)
	}
	host.DataPut(nil, "fn", stored)
	get := &dag.Match{Scrutinee: tapp(tb("Data.get"), &dag.Text{V: "fn"}), Arms: []dag.Arm{
		{Pat: &dag.PCtor{Type: dag.TypeRef{Builtin: "Optional"}, Index: 1, Args: []dag.Pattern{&dag.PVar{}}}, Body: tapp(tv(0), ti(5))},
		{Pat: &dag.PWild{}, Body: ti(0)},
	}}
	if _, err := newThread(map[string]int{}).Eval(ctx, get); !errors.Is(err, ErrDenied) {
		t.Errorf("a subtracting function from data: %v", err)
	}
	if v, err := (&Thread{Loader: loader, Host: host}).Eval(ctx, get); err != nil || Show(v, nil) != "4" {
		t.Errorf("without the hook: %v, %v", v, err)
	}
	// And so is a value passed to Call.
	if _, err := newThread(map[string]int{}).Call(ctx, stored, MakeInt(5)); !errors.Is(err, ErrDenied) {
		t.Errorf("Call of a subtracting function: %v", err)
	}
}

// CheckDef is asked before a definition is used by reference (in code
// or as a value from elsewhere), not again for its own recursion.
func TestCheckDef(t *testing.T) {
	ctx := context.Background()
	fib, secret := testRef("fib"), testRef("secret")
	loader := memLoader{fib: fibTerm(), secret: tlam(1, top("mul", tv(0), ti(42)))}
	asked := map[dag.DefRef]int{}
	th := &Thread{Loader: loader, CheckDef: func(r dag.DefRef) error {
		asked[r]++
		if r == secret {
			return fmt.Errorf("%w: definition %s", ErrDenied, r)
		}
		return nil
	}}
	v, err := th.Eval(ctx, tapp(tref(fib), ti(15)))
	if err != nil || Show(v, nil) != "610" || asked[fib] != 1 {
		t.Errorf("fib 15 = %v, %v; asked %v", v, err, asked)
	}
	if _, err := th.Eval(ctx, tapp(tref(secret), ti(1))); !errors.Is(err, ErrDenied) {
		t.Errorf("a denied definition: %v", err)
	}
	// A reference received as a value (VDef), even to code already
	// loaded by another thread.
	if _, err := (&Thread{Loader: loader}).Eval(ctx, tapp(tref(secret), ti(1))); err != nil {
		t.Fatal(err)
	}
	fn, err := FromWire(&dag.VDef{Def: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := th.Call(ctx, fn, MakeInt(1)); !errors.Is(err, ErrDenied) {
		t.Errorf("a denied definition received as a value: %v", err)
	}
}

// CodeOwners names the definitions whose code a value carries inline.
func TestCodeOwners(t *testing.T) {
	ctx := context.Background()
	mk, dec := testRef("mk"), testRef("dec2")
	loader := memLoader{mk: tlam(1, tlam(1, top("add", tv(0), tv(1)))), dec: tlam(1, top("sub", tv(0), ti(1)))}
	th := &Thread{Loader: loader}
	v, err := th.Eval(ctx, &dag.Tuple{Elems: []dag.Term{tapp(tref(mk), ti(1)), tref(dec), ti(3)}})
	if err != nil {
		t.Fatal(err)
	}
	// mk 1 is mk's inner lambda, carried inline; dec travels by
	// reference.
	if owners := CodeOwners(v); len(owners) != 1 || owners[0] != mk {
		t.Errorf("owners of (mk 1, dec, 3) = %v, want mk", owners)
	}
	w, err := ToWire(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromWire(w)
	if err != nil {
		t.Fatal(err)
	}
	if owners := CodeOwners(back); len(owners) != 0 {
		t.Errorf("owners of a value from the wire = %v, want none", owners)
	}
}

// Node.fixed names a node, and fails on text that names none.
func TestNodeFixed(t *testing.T) {
	ctx := context.Background()
	th := &Thread{Host: NewLocalHost("me")}
	v, err := th.Eval(ctx, dag.FixedNode("12D3KooWabc"))
	if n, ok := v.(*Node); err != nil || !ok || n.ID != "12D3KooWabc" {
		t.Errorf("Node.fixed = %v, %v", v, err)
	}
	if _, err := th.Eval(ctx, dag.FixedNode("two words")); err == nil || !strings.Contains(err.Error(), "does not name a node") {
		t.Errorf("Node.fixed of a bad ID: %v", err)
	}
}
