package p2p

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

func mustRegister(t *testing.T, n *Node, name string, fn any, opts ...NativeOption) NativeInfo {
	t.Helper()
	info, err := n.Register(testCtx(t), name, fn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// evalHere evaluates src on n itself, as its owner.
func evalHere(t *testing.T, n *Node, src string, b Budget) (string, error) {
	t.Helper()
	res, err := n.Codebase().EvalSource(testCtx(t), "<test>", src, b)
	if err != nil {
		return "", err
	}
	return res.Text, nil
}

func grantFFI(t *testing.T, owner, to *Node, allow string) *capabilities.Token {
	t.Helper()
	sb, err := capabilities.ParseSandbox(allow)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := owner.Grant(testCtx(t), capabilities.Claims{Audience: to.ID(), Sandbox: sb, Expires: time.Now().Add(time.Hour)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestNativeConversions round-trips every supported Go type through a
// native builtin.
func TestNativeConversions(t *testing.T) {
	n := newTestNode(t)
	type celsius float64
	mustRegister(t, n, "Conv.scalars", func(b bool, i int8, u uint16, f float32, c celsius, s string) (string, error) {
		return fmt.Sprintf("%v %d %d %v %v %s", b, i, u, f, c, s), nil
	})
	mustRegister(t, n, "Conv.lists", func(xs []int64, bs []byte, m map[string][]float64) map[string]int {
		out := map[string]int{"xs": len(xs), "bytes": len(bs)}
		for k, v := range m {
			out[k] = len(v)
		}
		return out
	})
	mustRegister(t, n, "Conv.nested", func(ctx context.Context, xss [][]string) [][]string {
		for _, xs := range xss {
			for i := range xs {
				xs[i] = strings.ToUpper(xs[i])
			}
		}
		return xss
	})
	mustRegister(t, n, "Conv.unit", func(x int) {})
	mustRegister(t, n, "Conv.bytes", func(b []byte) []byte { return append(b, '!') })
	for _, c := range []struct{ src, want string }{
		{`Conv.scalars true (0 - 128) 65535 1.5 36.6 "héllo"`, `"true -128 65535 1.5 36.6 héllo"`},
		{`Conv.lists [1, 2, 3] (Bytes.fromList [0, 255]) (Map.fromList [("a", [1.0]), ("b", [])])`, `Map.fromList [("a", 1), ("b", 0), ("bytes", 2), ("xs", 3)]`},
		{`Conv.nested [["a", "b"], [], ["c"]]`, `[["A", "B"], [], ["C"]]`},
		{`Conv.unit 7`, `()`},
		{`Bytes.toList (Conv.bytes (Bytes.fromList [104, 105]))`, `[104, 105, 33]`},
	} {
		got, err := evalHere(t, n, c.src, Budget{})
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
		} else if got != c.want {
			t.Errorf("%s = %s, want %s", c.src, got, c.want)
		}
	}
}

// TestNativeBadValues: values that do not fit the Go parameter, results
// the language cannot hold, and wrong arity fail the call, saying why.
func TestNativeBadValues(t *testing.T) {
	n := newTestNode(t)
	mustRegister(t, n, "Bad.byte", func(b uint8) uint8 { return b })
	mustRegister(t, n, "Bad.list", func(xs []int32) int { return len(xs) })
	mustRegister(t, n, "Bad.utf8", func() string { return "\xff" })
	mustRegister(t, n, "Bad.huge", func() uint64 { return math.MaxUint64 })
	mustRegister(t, n, "Bad.fails", func() (int, error) { return 0, errors.New("sensor offline") })
	for _, c := range []struct{ src, want string }{
		{`Bad.byte 300`, "Bad.byte: argument 1: 300 does not fit Go uint8"},
		{`Bad.byte (0 - 1)`, "Bad.byte: argument 1: -1 does not fit Go uint8"},
		{`Bad.byte "x"`, "Bad.byte: argument 1: expected an Int for Go uint8, got"},
		{`Bad.list [1, 2, 3000000000]`, "Bad.list: argument 1[2]: 3000000000 does not fit Go int32"},
		{`Bad.list [1, 2.0]`, "Bad.list: argument 1[1]: expected an Int for Go int32"},
		{`!Bad.utf8`, "Bad.utf8: result: Go string is not valid UTF-8"},
		{`!Bad.huge`, "Bad.huge: result: 18446744073709551615 does not fit an Int"},
		{`!Bad.fails`, "Bad.fails: sensor offline"},
		{fmt.Sprintf(`Native.call %q "Bad.byte" [1, 2]`, n.ID()), "Bad.byte: takes 1 arguments (as a list), got 2"},
		{fmt.Sprintf(`Native.call %q "Bad.nothing" []`, n.ID()), "has no native builtin Bad.nothing"},
	} {
		_, err := evalHere(t, n, c.src, Budget{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.src, err, c.want)
		}
	}
}

type recursive []recursive

// TestNativeUnsupportedTypes: Register refuses Go types the boundary
// cannot convert, naming them, and malformed or taken names.
func TestNativeUnsupportedTypes(t *testing.T) {
	n := newTestNode(t)
	ctx := testCtx(t)
	for _, c := range []struct {
		name string
		fn   any
		want string
	}{
		{"T.chan", func(c chan int) {}, "parameter 1: unsupported Go type chan int"},
		{"T.ptr", func(int, *int) {}, "parameter 2: unsupported Go type *int"},
		{"T.struct", func() struct{ X int } { return struct{ X int }{} }, "result: unsupported Go type struct"},
		{"T.func", func(f func()) {}, "unsupported Go type func()"},
		{"T.any", func(x any) {}, "unsupported Go type interface {}"},
		{"T.complex", func(x complex128) {}, "unsupported Go type complex128"},
		{"T.mapkey", func(m map[[2]int]int) {}, "unsupported Go type [2]int"},
		{"T.rec", func(r recursive) {}, "recursive Go type"},
		{"T.variadic", func(xs ...int) {}, "variadic"},
		{"T.results", func() (int, int) { return 0, 0 }, "2 results"},
		{"T.notfunc", 42, "want a function"},
		{"T.nil", nil, "nil function"},
		{"nodot", func() {}, "want a qualified name"},
		{"List.mine", func() {}, "module of the language's builtins"},
		{"Native.x", func() {}, "module of the language's builtins"},
		{"T.bad name", func() {}, "each part of the name"},
		{"T..x", func() {}, "empty part"},
	} {
		_, err := n.Register(ctx, c.name, c.fn)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Register %s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	mustRegister(t, n, "T.ok", func() {})
	if _, err := n.Register(ctx, "T.ok", func() {}); !errors.Is(err, ErrNativeRegistered) {
		t.Errorf("second Register: %v, want ErrNativeRegistered", err)
	}
	if _, err := n.Register(ctx, "T.g", func() {}, NativeGroup("not a group")); err == nil {
		t.Error("Register with a malformed group succeeded")
	}
	if got := n.Natives(); len(got) != 1 || got[0].Name != "T.ok" || got[0].Group != "T" || got[0].Node != n.ID() {
		t.Errorf("Natives = %+v", got)
	}
}

// TestNativeRegistryBound: a node holds at most MaxNatives.
func TestNativeRegistryBound(t *testing.T) {
	n := newTestNode(t)
	ctx := testCtx(t)
	for i := range MaxNatives {
		if _, err := n.Register(ctx, fmt.Sprintf("Many.f%d", i), func() {}); err != nil {
			t.Fatalf("native %d: %v", i, err)
		}
	}
	if _, err := n.Register(ctx, "Many.more", func() {}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("native past MaxNatives: %v", err)
	}
}

// TestNativeCopiesAcrossTheBoundary: a native that keeps and changes
// its arguments or its results after returning changes nothing the
// program sees.
func TestNativeCopiesAcrossTheBoundary(t *testing.T) {
	n := newTestNode(t)
	var kept []int64
	var keptBytes []byte
	mustRegister(t, n, "Mut.scribble", func(xs []int64, b []byte) int {
		kept, keptBytes = xs, b
		xs[0], b[0] = 99, 'X'
		return len(xs)
	})
	given := []int64{0}
	mustRegister(t, n, "Mut.give", func() []int64 {
		given[0]++
		return given
	})
	got, err := evalHere(t, n, `let xs = [1, 2, 3]; b = Bytes.fromList [97] in (Mut.scribble xs b, xs, Bytes.toList b)`, Budget{})
	if err != nil || got != "(3, [1, 2, 3], [97])" {
		t.Errorf("scribble = %s, %v", got, err)
	}
	kept[1], keptBytes[0] = 42, 'Y' // after the call: must not reach the language
	got, err = evalHere(t, n, `let a = !Mut.give; b = !Mut.give in (a, b)`, Budget{})
	if err != nil || got != "([1], [2])" {
		t.Errorf("give = %s, %v (a result must be copied when the native returns)", got, err)
	}
}

// TestNativePanicLeavesNodeServing: a panicking native fails the call
// that made it, remotely as locally, and the node goes on serving.
func TestNativePanicLeavesNodeServing(t *testing.T) {
	thermostat, caller := newTestNode(t), newTestNode(t)
	connectAll(t, thermostat, caller)
	var calls atomic.Int64
	info := mustRegister(t, thermostat, "Sensor.temperature", func() float64 { calls.Add(1); return 21.5 })
	raw := mustRegister(t, thermostat, "Sensor.raw", func(ch int) int {
		channels := []int{10, 20}
		return channels[ch] // a driver bug: panics for a channel past the end
	})
	addSource(t, caller, info.Source+raw.Source)
	tok := grantFFI(t, thermostat, caller, "--allow pure --allow ffi:Sensor")
	ctx := testCtx(t)
	at := thermostat.ID().String()
	for range 3 {
		_, err := caller.EvalAt(ctx, at, "Sensor.raw 7", Budget{}, WithTokens(tok))
		var ce *CallError
		if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "native builtin Sensor.raw panicked") || !strings.Contains(ce.Msg, "index out of range") {
			t.Fatalf("panicking native: %v, want the panic as the call's error", err)
		}
		res, err := caller.EvalAt(ctx, at, "(Sensor.raw 1, !Sensor.temperature)", Budget{}, WithTokens(tok))
		if err != nil || res.Text != "(20, 21.5)" {
			t.Fatalf("after a panic: %v, %v", res, err)
		}
	}
	if _, err := evalHere(t, thermostat, "Sensor.raw 2", Budget{}); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("local panicking call: %v", err)
	}
	if calls.Load() != 3 {
		t.Errorf("temperature read %d times, want 3", calls.Load())
	}
}

// TestNativeDenied: foreign code calls a native only with a grant of its
// group; a grant of another group is refused at run time, naming the
// group needed, whether the native exists or not.
func TestNativeDenied(t *testing.T) {
	thermostat, caller := newTestNode(t), newTestNode(t)
	connectAll(t, thermostat, caller)
	var calls atomic.Int64
	info := mustRegister(t, thermostat, "Sensor.temperature", func() float64 { calls.Add(1); return 21.5 })
	mustRegister(t, thermostat, "Door.open", func() bool { return true }, NativeGroup("Locks"))
	addSource(t, caller, info.Source)
	ctx := testCtx(t)
	at := thermostat.ID().String()
	call := func(src string, toks ...*capabilities.Token) (*RemoteResult, *CallError) {
		res, err := caller.EvalAt(ctx, at, src, Budget{}, WithTokens(toks...))
		var ce *CallError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("%s: %v", src, err)
		}
		return res, ce
	}
	if _, ce := call("!Sensor.temperature"); ce == nil || ce.Code != CodeDenied || ce.Name != "Native.call" {
		t.Errorf("no token: %+v", ce)
	}
	other := grantFFI(t, thermostat, caller, "--allow pure --allow ffi:Door")
	if _, ce := call("!Sensor.temperature", other); ce == nil || ce.Code != CodeDenied || ce.Which != capabilities.DeniedFFI || ce.Name != "Sensor.temperature" || !strings.Contains(ce.Msg, "ffi:Sensor") {
		t.Errorf("token for ffi:Door: %+v", ce)
	}
	// The group is the registered one, not the name's first part.
	door := fmt.Sprintf(`Native.call %q "Door.open" []`, at)
	if _, ce := call(door, other); ce == nil || ce.Which != capabilities.DeniedFFI || !strings.Contains(ce.Msg, "ffi:Locks") {
		t.Errorf("Door.open with ffi:Door: %+v", ce)
	}
	if res, ce := call(door, grantFFI(t, thermostat, caller, "--allow pure --allow ffi:Locks")); ce != nil || res.Text != "true" {
		t.Errorf("Door.open with ffi:Locks: %v %+v", res, ce)
	}
	// A name that is not registered is denied too, not reported missing.
	probe := fmt.Sprintf(`Native.call %q "Sensor.secret" []`, at)
	if _, ce := call(probe, other); ce == nil || ce.Which != capabilities.DeniedFFI {
		t.Errorf("probe without the grant: %+v", ce)
	}
	if calls.Load() != 0 {
		t.Errorf("the denied calls read the sensor %d times", calls.Load())
	}
	sensor := grantFFI(t, thermostat, caller, "--allow pure --allow ffi:Sensor")
	if res, ce := call("!Sensor.temperature", sensor); ce != nil || res.Text != "21.5" {
		t.Errorf("with ffi:Sensor: %v %+v", res, ce)
	}
	if _, ce := call(probe, sensor); ce == nil || !strings.Contains(ce.Msg, "has no native builtin Sensor.secret") {
		t.Errorf("missing native with the grant: %+v", ce)
	}
}

// TestNativeElsewhere: called anywhere but on its node, a native fails
// naming its node, without reaching it; at takes the call there.
func TestNativeElsewhere(t *testing.T) {
	sb, err := capabilities.ParseSandbox(openSandbox + " --allow ffi:Sensor")
	if err != nil {
		t.Fatal(err)
	}
	thermostat := newTestNode(t, WithPolicy(&capabilities.Policy{Default: sb}))
	other := newOpenNode(t)
	connectAll(t, thermostat, other)
	info := mustRegister(t, thermostat, "Sensor.temperature", func() float64 { return 19 })
	addSource(t, other, info.Source)
	_, err = evalHere(t, other, "!Sensor.temperature", Budget{})
	var ee *eval.NativeElsewhereError
	if !errors.As(err, &ee) || ee.Node != thermostat.ID().String() || ee.Here != other.ID().String() || !strings.Contains(err.Error(), "at (Node.fixed") {
		t.Fatalf("elsewhere: %v", err)
	}
	// The definition is the same on both nodes.
	otherRef, err := other.Codebase().BlockOf(testCtx(t), "Sensor.temperature")
	if err != nil || otherRef != info.Def {
		t.Errorf("definition on the other node %v (%v), on the thermostat %v", otherRef, err, info.Def)
	}
	got, err := evalHere(t, other, fmt.Sprintf("at (Node.fixed %q) Sensor.temperature", thermostat.ID()), Budget{})
	if err != nil || got != "19.0" {
		t.Errorf("via at: %s, %v", got, err)
	}
}

// TestNativeCancellation: a native's context ends with the evaluation's
// time budget, and an evaluation stops waiting for a native that ignores
// its context.
func TestNativeCancellation(t *testing.T) {
	// The budget is the policy's: a token's joins it, taking the larger
	// of each field.
	short, err := capabilities.ParseSandbox("--allow pure --time 200ms --fuel 1000000 --memory 1MiB --result 1KiB")
	if err != nil {
		t.Fatal(err)
	}
	thermostat, caller := newTestNode(t, WithPolicy(&capabilities.Policy{Default: short})), newTestNode(t)
	connectAll(t, thermostat, caller)
	sawCancel := make(chan error, 1)
	slow := mustRegister(t, thermostat, "Slow.wait", func(ctx context.Context) int {
		<-ctx.Done()
		sawCancel <- ctx.Err()
		return 0
	})
	release := make(chan struct{})
	stuck := mustRegister(t, thermostat, "Slow.stuck", func() int {
		<-release // ignores its context
		return 1
	}, NativeConcurrency(1))
	defer close(release)
	addSource(t, caller, slow.Source+stuck.Source)
	tok := grantFFI(t, thermostat, caller, "--allow pure --allow ffi:Slow")
	ctx := testCtx(t)
	at := thermostat.ID().String()

	_, err = caller.EvalAt(ctx, at, "!Slow.wait", Budget{}, WithTokens(tok))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeBudget {
		t.Fatalf("waiting native: %v, want the time budget exhausted", err)
	}
	if err := <-sawCancel; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.Errorf("native's context ended with %v", err)
	}
	// A native that ignores its context holds its one slot, but the
	// evaluations end anyway: the first waiting for it, the second for
	// the slot.
	for i := range 2 {
		_, err = caller.EvalAt(ctx, at, "!Slow.stuck", Budget{}, WithTokens(tok))
		if !errors.As(err, &ce) || ce.Code != CodeBudget {
			t.Fatalf("stuck native, call %d: %v, want the time budget exhausted", i, err)
		}
	}

	// Thread.Cancel stops a local evaluation waiting on a native.
	started := make(chan struct{})
	mustRegister(t, thermostat, "Slow.block", func(ctx context.Context) int {
		close(started)
		<-ctx.Done()
		return 0
	})
	th := thermostat.cb.newThread(Budget{})
	go func() {
		<-started
		th.Cancel("test")
	}()
	_, err = th.Eval(ctx, mustCompileExpr(t, thermostat, fmt.Sprintf(`Native.call %q "Slow.block" []`, at)))
	var cancel *eval.CanceledError
	if !errors.As(err, &cancel) {
		t.Errorf("canceled thread: %v", err)
	}
}

// TestNativeFuel: each call costs its fuel, so a caller's fuel budget
// bounds the calls it makes.
func TestNativeFuel(t *testing.T) {
	n := newTestNode(t)
	var calls atomic.Int64
	mustRegister(t, n, "Costly.read", func() int { calls.Add(1); return 1 }, NativeFuel(1_000_000))
	res, err := n.Codebase().EvalSource(testCtx(t), "<test>", "List.sum (List.map (i -> !Costly.read) (List.range 0 3))", Budget{})
	if err != nil || res.Stats.Fuel < 3_000_000 {
		t.Fatalf("three calls: %v, fuel %v", err, res)
	}
	calls.Store(0)
	_, err = n.Codebase().EvalSource(testCtx(t), "<test>", "List.sum (List.map (i -> !Costly.read) (List.range 0 100))", Budget{Fuel: 5_500_000})
	var be *eval.BudgetError
	if !errors.As(err, &be) || be.Which != eval.BudgetFuel {
		t.Fatalf("100 calls under 5.5M fuel: %v", err)
	}
	if c := calls.Load(); c > 6 {
		t.Errorf("%d calls made under a budget for 5", c)
	}
}

func mustCompileExpr(t *testing.T, n *Node, src string) dag.Term {
	t.Helper()
	e, err := syntax.ParseExpr("<test>", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	co, ls := n.cb.compileOptions(testCtx(t))
	term, err := dag.CompileExpr(e, co)
	if err := ls.check(err); err != nil {
		t.Fatal(err)
	}
	return term
}
