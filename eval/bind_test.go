package eval

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/unode-dev/unode/dag"
)

// Issue 7, "budgets that always bind": comparison, encoding, printing and
// every builtin whose work grows with its input are charged and checked
// as they go; shared structure costs its distinct parts; what an
// evaluation leaves pending is bounded and released when it ends.

// hangLimit only detects a hang: no test asserts how long anything takes.
const hangLimit = 30 * time.Second

// noHang runs f in a goroutine and fails the test if it has not returned
// within hangLimit (the goroutine is left behind: the test has failed).
func noHang[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(hangLimit):
		t.Fatalf("%s: still running after %v", what, hangLimit)
	}
	var zero T
	return zero
}

// towerLets is the expression of issue 7 case 2: two towers of n levels
// of pairs built separately, a0 = 1, a1 = (a0, a0), ..., then expr on
// them (A and B name the top levels). pair makes one level from the
// level below: x is the tower's own level below, y always a's.
func towerLets(n int, pair, leafA, leafB, expr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "let a0 = %s; b0 = %s", leafA, leafB)
	level := func(own string, i int) string {
		s := strings.ReplaceAll(pair, "x", fmt.Sprintf("%s%d", own, i-1))
		return strings.ReplaceAll(s, "y", fmt.Sprintf("a%d", i-1))
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "; a%d = %s; b%d = %s", i, level("a", i), i, level("b", i))
	}
	b.WriteString(" in ")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(expr, "A", fmt.Sprintf("a%d", n)), "B", fmt.Sprintf("b%d", n)))
	return b.String()
}

const towerProgram = `
type Two = Two Int Int

mk n = if n == 0 then 1 else let x = mk (n - 1) in (x, x)
mkList n = if n == 0 then 1 else let x = mkList (n - 1) in [x, x]
twice x = let y = x in '(x, y)
`

// Towers built in Go: a value of n levels, each a pair of the level
// below, whose expansion has 2^n leaves. (Returned from an evaluation,
// a tower fails the result budget.)
func tupleTower(n int) Value {
	v := MakeInt(1)
	for range n {
		v = newTuple2(v, v)
	}
	return v
}

func listTower(n int) Value {
	v := MakeInt(1)
	for range n {
		v = NewList([]Value{v, v})
	}
	return v
}

// closureTower: thunks capturing the level below twice (twice x =
// '(x, y) with y = x).
func closureTower(t *testing.T, p *program, n int) Value {
	t.Helper()
	v, err := p.eval(t, nil, "twice 1")
	if err != nil {
		t.Fatal(err)
	}
	c := v.(*Closure)
	if len(c.env) != 2 {
		t.Fatalf("twice captures %d values", len(c.env))
	}
	for range n {
		c = &Closure{fc: c.fc, env: []Value{c, c}}
	}
	return c
}

// Case 2: comparing two towers of 32 levels (2^33 values once expanded)
// finishes with the right answer, in little fuel, whatever the shape.
func TestTowerComparison(t *testing.T) {
	p := newProgram(t, towerProgram)
	for _, tc := range []struct {
		pair, leafA, leafB, expr, want string
	}{
		{"(x, x)", "1", "1", "A == B", "true"},
		{"(x, x)", "1", "1", "A != B", "false"},
		{"(x, x)", "1", "1", "A < B", "false"},
		{"(x, x)", "1", "2", "A == B", "false"},
		{"(x, x)", "1", "2", "A < B", "true"},
		{"[x, x]", "1", "1", "A == B", "true"},
		{"Two x x", "1", "1", "A == B", "true"},
		{"Some (x, x)", `"a"`, `"a"`, "A == B", "true"},
		{"Map.fromList [(1, x), (2, x)]", "1", "1", "A == B", "true"},
		{"Map.fromList [(x, 1)]", "1", "1", "A == B", "true"},
		{"(x, x)", "1", "1", "Map.size (Map.insert A 1 (Map.insert B 2 Map.empty))", "1"},
		{"(x, x)", "1", "1", "Map.lookup B (Map.singleton A 7)", "Some 7"},
		{"(x, x)", "1", "1", "List.length (List.sort [A, B, A, B])", "4"},
		{"(x, x)", "1", "1", "List.contains A [B]", "true"},
		{"(x, x)", "1", "1", "List.indexOf A [1, B]", "Some 1"},
		{"(x, x)", "1", "1", "List.length (List.dedup [A, B, A])", "1"},
		{"(x, x)", "1", "1", "Map.size (Map.fromList [(A, 1), (B, 2)])", "1"},
		// Only the last leaf differs, and every left child is one value.
		{"(y, x)", "1", "2", "A == B", "false"},
		{"(y, x)", "1", "1", "A == B", "true"},
	} {
		expr := towerLets(32, tc.pair, tc.leafA, tc.leafB, tc.expr)
		th := p.thread()
		th.Fuel = 10_000_000
		v, err := noHang(t, tc.pair+": "+tc.expr, func() result {
			v, err := p.eval(t, th, expr)
			return result{v, err}
		}).get()
		if err != nil {
			t.Errorf("%s with %s: %v", tc.expr, tc.pair, err)
			continue
		}
		if got := Show(v, p.names); got != tc.want {
			t.Errorf("%s with %s = %s, want %s", tc.expr, tc.pair, got, tc.want)
		}
		if th.Steps() > 1_000_000 {
			t.Errorf("%s with %s took %d steps", tc.expr, tc.pair, th.Steps())
		}
	}
	// Towers made by a recursive function, compared after quorum agreed
	// on them (the comparisons of a local quorum run on the thread).
	for _, expr := range []string{
		"mk 40 == mk 40",
		"mkList 40 == mkList 40",
		"(await (quorum 2 [here, here] '(mk 40))) == mk 40",
	} {
		th := p.thread()
		th.Fuel = 10_000_000
		v, err := noHang(t, expr, func() result {
			v, err := p.eval(t, th, expr)
			return result{v, err}
		}).get()
		if err != nil || v != True {
			t.Errorf("%s = %v, %v", expr, v, err)
		}
	}
}

type result struct {
	v   Value
	err error
}

func (r result) get() (Value, error) { return r.v, r.err }

// Compare without a thread: towers compare at once, and a comparison too
// big for the internal cap stops with a budget error.
func TestCompareWithoutThread(t *testing.T) {
	p := newProgram(t, towerProgram)
	a, b := tupleTower(50), tupleTower(50)
	eq := noHang(t, "Equal on towers", func() result {
		eq, err := Equal(a, b)
		return result{MakeBool(eq), err}
	})
	if eq.err != nil || eq.v != True {
		t.Fatalf("Equal(mk 50, mk 50) = %v, %v", eq.v, eq.err)
	}
	// A capped comparer on two big distinct lists: the cap binds.
	xs, _ := p.eval(t, nil, "List.map (i -> (i, [i])) (List.range 0 100000)")
	ys, _ := p.eval(t, nil, "List.map (i -> (i, [i])) (List.range 0 100000)")
	err := func() (err error) {
		defer func() { err, _ = recover().(error) }()
		c := comparer{limit: 10_000}
		c.top(xs, ys)
		return nil
	}()
	var be *BudgetError
	if !errors.As(err, &be) || be.Which != BudgetFuel {
		t.Fatalf("capped comparison: %v, want a fuel budget error", err)
	}
}

// The fuel of a comparison is charged as it goes: two big equal lists
// compared with too little fuel stop at the budget, not after the whole
// comparison (the old code charged work/8 only once it had finished).
func TestCompareChargesAsItGoes(t *testing.T) {
	p := newProgram(t, "")
	th := p.thread()
	xs, err := p.eval(t, th, "List.map (i -> (i, [i, i])) (List.range 0 300000)")
	if err != nil {
		t.Fatal(err)
	}
	ys, _ := p.eval(t, th, "List.map (i -> (i, [i, i])) (List.range 0 300000)")
	th2 := &Thread{Fuel: 50_000}
	_, err = th2.Call(context.Background(), builtins["Op.eq"].value, xs, ys)
	wantBudget(t, err, BudgetFuel)
	if th2.Steps() > 50_000+compareChunk {
		t.Fatalf("the comparison spent %d steps of a 50000 budget", th2.Steps())
	}
	// With fuel to spare the answer is right and the fuel deterministic.
	var steps int64
	for i := range 3 {
		th3 := &Thread{}
		v, err := th3.Call(context.Background(), builtins["Op.eq"].value, xs, ys)
		if err != nil || v != True {
			t.Fatalf("xs == ys = %v, %v", v, err)
		}
		if i > 0 && th3.Steps() != steps {
			t.Fatalf("fuel %d, then %d", steps, th3.Steps())
		}
		steps = th3.Steps()
	}
}

// Fuel stays deterministic with the memo: the same tower comparison costs
// the same on every run.
func TestTowerFuelDeterministic(t *testing.T) {
	p := newProgram(t, towerProgram)
	expr := towerLets(32, "(x, x)", "1", "1", "(A == B, [A] == [B], Map.singleton A 1 == Map.singleton B 1)")
	var steps, mem int64
	for i := range 3 {
		th := p.thread()
		v, err := p.eval(t, th, expr)
		if err != nil || Show(v, nil) != "(true, true, true)" {
			t.Fatalf("%v, %v", v, err)
		}
		if i > 0 && (th.Steps() != steps || th.MemoryUsed() != mem) {
			t.Fatalf("run %d: %d steps, %d bytes; before %d, %d", i, th.Steps(), th.MemoryUsed(), steps, mem)
		}
		steps, mem = th.Steps(), th.MemoryUsed()
	}
}

// Case 3: encoding a tower to send it is refused before anything is
// allocated, by the thread's result budget or by the package bound.
func TestTowerEncodingRefused(t *testing.T) {
	p := newProgram(t, towerProgram)
	for expr, v := range map[string]Value{
		"tuples":   tupleTower(27),
		"lists":    listTower(27),
		"closures": closureTower(t, p, 27),
		"two":      NewList([]Value{tupleTower(26), tupleTower(26)}),
	} {
		th := p.thread()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := th.ToWire(v)
		runtime.ReadMemStats(&after)
		wantBudget(t, err, BudgetResult)
		if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
			t.Errorf("Thread.ToWire(%s) allocated %d bytes before refusing", expr, d)
		}
		runtime.ReadMemStats(&before)
		_, err = ToWire(v)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, dag.ErrTooLarge) {
			t.Errorf("ToWire(%s): %v, want ErrTooLarge", expr, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
			t.Errorf("ToWire(%s) allocated %d bytes before refusing", expr, d)
		}
	}
	// A sandbox's smaller result budget binds first; a value that fits
	// converts, and within an evaluation its wire form is charged.
	th := p.thread()
	small, _ := p.eval(t, th, "List.range 0 100")
	v, _ := p.eval(t, th, "List.range 0 1000")
	th.MaxResultBytes = 1000
	if _, err := th.ToWire(small); err != nil {
		t.Fatalf("100 Ints under a 1000-byte budget: %v", err)
	}
	_, err := th.ToWire(v)
	wantBudget(t, err, BudgetResult)

	h := &wireHost{LocalHost: NewLocalHost("local")}
	th = &Thread{Loader: p.store, Host: h, MaxMemory: 1 << 20}
	_, err = th.Eval(context.Background(), compileExpr(t, p.c, "let x = List.range 0 10000 in at here '(List.length x)"))
	if err != nil {
		t.Fatal(err)
	}
	if h.err != nil || th.MemoryUsed() < h.mem+10000*sizeWireNode {
		t.Fatalf("encoding the thunk: %v; charged %d bytes, %d before it", h.err, th.MemoryUsed(), h.mem)
	}
	// Past the memory budget the encoding fails with "memory".
	th = &Thread{Loader: p.store, Host: h, MaxMemory: 400_000}
	_, err = th.Eval(context.Background(), compileExpr(t, p.c, "let x = List.range 0 10000 in at here '(List.length x)"))
	if err == nil || !errors.As(h.err, new(*BudgetError)) || h.err.(*BudgetError).Which != BudgetMemory {
		t.Fatalf("encoding past the memory budget: %v (host saw %v)", err, h.err)
	}
}

// wireHost encodes the thunks it is asked to run, as a network host does.
type wireHost struct {
	*LocalHost
	mem int64
	err error
}

func (h *wireHost) Spawn(th *Thread, n *Node, thunk Value) *Future {
	h.mem = th.MemoryUsed()
	_, h.err = th.ToWire(thunk)
	if h.err != nil {
		f := NewFuture()
		f.Fail(h.err)
		return f
	}
	return h.LocalHost.Spawn(th, n, thunk)
}

// Data.put refuses a value too big to store before the host expands it,
// and charges the wire form of one that fits.
func TestDataPutTower(t *testing.T) {
	p := newProgram(t, towerProgram)
	th := p.thread()
	_, err := noHang(t, "Data.put of a tower", func() result {
		v, err := p.eval(t, th, `Data.put "t" (mk 40)`)
		return result{v, err}
	}).get()
	if !errors.Is(err, dag.ErrTooLarge) {
		t.Fatalf("Data.put of a tower: %v", err)
	}
	th = p.thread()
	if _, err := p.eval(t, th, `Data.put "t" (mk 10)`); err != nil {
		t.Fatal(err)
	}
}

// Printing and sizing a tower stop at their bounds.
func TestTowerShowAndSize(t *testing.T) {
	p := newProgram(t, towerProgram)
	tower := tupleTower(60)
	s := noHang(t, "showLimit", func() string { return showLimit(tower, nil, 1<<20) })
	if len(s) > 1<<20+1024 || !strings.HasSuffix(s, "...") {
		t.Fatalf("showLimit printed %d bytes", len(s))
	}
	if n := valueSize(nil, tower, 1<<20); n <= 1<<20 || n > 1<<20+1024 {
		t.Fatalf("valueSize = %d, want just past the limit", n)
	}
	// As a result it fails the result budget.
	_, err := p.eval(t, nil, "mk 60")
	wantBudget(t, err, BudgetResult)
	// A long text shows cut, without quoting all of it.
	if s := showBrief(Text(strings.Repeat("x", 10_000_000)), nil); len(s) > 300 {
		t.Fatalf("showBrief of a long text: %d bytes", len(s))
	}
}

// Values with shared structure enter a guarded thread, and CodeOwners
// looks at them, in time proportional to their distinct parts.
func TestTowerAdmitAndCodeOwners(t *testing.T) {
	p := newProgram(t, towerProgram)
	v := closureTower(t, p, 60)
	owners := noHang(t, "CodeOwners", func() []dag.DefRef { return CodeOwners(v) })
	if len(owners) != 1 {
		t.Fatalf("CodeOwners = %v", owners)
	}
	asked := map[string]int{}
	th := &Thread{Loader: p.store, CheckBuiltin: denyHook(asked)}
	_, err := noHang(t, "admit", func() result {
		v, err := th.Call(context.Background(), builtins["identity"].value, v)
		return result{v, err}
	}).get()
	if err == nil || !strings.Contains(err.Error(), "result budget") {
		t.Fatalf("a tower of closures as an argument and result: %v", err)
	}

}

// Every builtin whose work grows with its input stops at a cancellation
// that comes while it runs. checkHook counts the checks an evaluation
// makes, then cancels it at the middle one: a builtin that checks only
// before (or after) its work makes two or three checks in all, finishes,
// and the evaluation succeeds.
func TestCancelInsideBuiltins(t *testing.T) {
	p := newProgram(t, towerProgram)
	mkList := func(expr string) Value {
		v, err := p.eval(t, nil, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	const n = 100_000
	ints := mkList(fmt.Sprintf("List.map (i -> i * 7919 %% 1000003) (List.range 0 %d)", n))
	ints2 := mkList(fmt.Sprintf("List.map (i -> i * 7919 %% 1000003) (List.range 0 %d)", n))
	texts := mkList(fmt.Sprintf("List.map (i -> Int.toText (i * 7919 %% 1000003)) (List.range 0 %d)", n))
	pairs := mkList(fmt.Sprintf("List.map (i -> (i * 7919 %% 1000003, i)) (List.range 0 %d)", n))
	pairs2 := mkList(fmt.Sprintf("List.map (i -> (i * 7919 %% 1000003, i)) (List.range 0 %d)", n))
	lists := mkList(fmt.Sprintf("List.map (i -> [i]) (List.range 0 %d)", n))
	chars := mkList(fmt.Sprintf("List.map (i -> \"é\") (List.range 0 %d)", n))
	codes := mkList(fmt.Sprintf("List.map (i -> 233) (List.range 0 %d)", n))
	bytesl := mkList(fmt.Sprintf("List.map (i -> i %% 256) (List.range 0 %d)", n))
	m := mkList(fmt.Sprintf("Map.fromList (List.map (i -> (i, i)) (List.range 0 %d))", n))
	m2 := mkList(fmt.Sprintf("Map.fromList (List.map (i -> (i + %d, i)) (List.range 0 %d))", n, n/4))
	few := mkList(fmt.Sprintf("List.map (i -> i * 7919 %% 1000003) (List.range 0 %d)", n/4))
	big := Text(strings.Repeat("héllo wörld\n", 600_000))
	tower := tupleTower(40)

	for _, tc := range []struct {
		name string
		fn   string
		args []Value
	}{
		{"range", "List.range", []Value{MakeInt(0), MakeInt(n)}},
		{"replicate", "List.replicate", []Value{MakeInt(n), MakeInt(1)}},
		{"reverse", "List.reverse", []Value{ints}},
		{"indexed", "List.indexed", []Value{ints}},
		{"zip", "List.zip", []Value{ints, ints}},
		{"unzip", "List.unzip", []Value{pairs}},
		{"intersperse", "List.intersperse", []Value{MakeInt(0), ints}},
		{"concat", "List.concat", []Value{lists}},
		{"contains", "List.contains", []Value{MakeInt(-1), ints}},
		{"indexOf", "List.indexOf", []Value{MakeInt(-1), ints}},
		{"sum", "List.sum", []Value{ints}},
		{"maximum", "List.maximum", []Value{ints}},
		{"minimum", "List.minimum", []Value{ints}},
		{"sort ints", "List.sort", []Value{ints}},
		{"sort texts", "List.sort", []Value{texts}},
		{"sort pairs", "List.sort", []Value{pairs}},
		{"dedup", "List.dedup", []Value{few}},
		{"== lists", "Op.eq", []Value{pairs, pairs2}},
		{"== ints", "Op.eq", []Value{ints, ints2}},
		{"Map.fromList", "Map.fromList", []Value{pairs}},
		{"Map.toList", "Map.toList", []Value{m}},
		{"Map.keys", "Map.keys", []Value{m}},
		{"Map.values", "Map.values", []Value{m}},
		{"Map.union", "Map.union", []Value{m, m2}},
		{"== maps", "Op.eq", []Value{m, m}},
		{"Text.length", "Text.length", []Value{big}},
		{"Text.toUpper", "Text.toUpper", []Value{big}},
		{"Text.toLower", "Text.toLower", []Value{big}},
		{"Text.contains", "Text.contains", []Value{Text("zzz"), big}},
		{"Text.indexOf", "Text.indexOf", []Value{Text("zzz"), big}},
		{"Text.repeat", "Text.repeat", []Value{MakeInt(10_000_000), Text("ab")}},
		{"Text.reverse", "Text.reverse", []Value{big}},
		{"Text.toChars", "Text.toChars", []Value{Text(strings.Repeat("é", n))}},
		{"Text.toCodePoints", "Text.toCodePoints", []Value{Text(strings.Repeat("é", n))}},
		{"Text.fromChars", "Text.fromChars", []Value{chars}},
		{"Text.fromCodePoints", "Text.fromCodePoints", []Value{codes}},
		{"Text.join", "Text.join", []Value{Text(","), texts}},
		{"Text.split", "Text.split", []Value{Text("\n"), big}},
		{"Text.lines", "Text.lines", []Value{big}},
		{"Text.words", "Text.words", []Value{big}},
		{"Text.slice", "Text.slice", []Value{MakeInt(0), MakeInt(10_000_000), big}},
		{"Text.fromUtf8", "Text.fromUtf8", []Value{Bytes(big)}},
		{"Text.padLeft", "Text.padLeft", []Value{MakeInt(int64(n) * 50), Text(" "), Text("x")}},
		{"Bytes.toList", "Bytes.toList", []Value{Bytes(strings.Repeat("x", n))}},
		{"Bytes.fromList", "Bytes.fromList", []Value{bytesl}},
		{"result size", "identity", []Value{tower}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn := builtins[tc.fn].value
			checks := 0
			checkHook = func(*Thread) { checks++ }
			defer func() { checkHook = nil }()
			th := &Thread{Loader: p.store}
			th.Call(context.Background(), fn, tc.args...)
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

// Cancellation from another goroutine stops a long comparison: two big
// lists of distinct (unshared) pairs, compared over and over.
func TestCancelLongComparison(t *testing.T) {
	p := newProgram(t, "same xs ys n = if n == 0 then true else if xs == ys then same xs ys (n - 1) else false\n")
	th := p.thread()
	go func() {
		time.Sleep(50 * time.Millisecond)
		th.Cancel("stop")
	}()
	_, err := noHang(t, "canceled comparison", func() result {
		v, err := p.eval(t, th, `let xs = List.map (i -> (i, [i])) (List.range 0 100000) in
  let ys = List.map (i -> (i, [i])) (List.range 0 100000) in
  same xs ys 1000000000`)
		return result{v, err}
	}).get()
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("got %v, want cancellation", err)
	}
}

// Case 5: listen and timeout in loops are bounded per evaluation, and
// what an evaluation leaves pending is released when it ends.
func TestPendingEffectsBoundedAndReleased(t *testing.T) {
	p := newProgram(t, "")
	base := runtime.NumGoroutine()
	h := NewLocalHost("local")
	for _, expr := range []string{
		"let c = channel in List.map (i -> listen c) (List.range 0 200000)",
		"let c = channel in List.map (i -> timeout 100000000 (listen c)) (List.range 0 200000)",
		"List.map (i -> timeout 100000000 (at' here '(1))) (List.range 0 200000)",
	} {
		th := &Thread{Loader: p.store, Host: h}
		_, err := noHang(t, expr, func() result {
			v, err := th.Eval(context.Background(), compileExpr(t, p.c, expr))
			return result{v, err}
		}).get()
		if err != nil {
			var be *BudgetError
			if !errors.As(err, &be) || be.Which != BudgetPending {
				t.Errorf("%s: %v, want a pending budget error", expr, err)
			}
		}
		if n := h.Listening(); n != 0 {
			t.Errorf("%s: %d listeners left", expr, n)
		}
		if th.PendingEffects() != 0 {
			t.Errorf("%s: %d effects left pending", expr, th.PendingEffects())
		}
	}
	// Within the bound: the evaluation succeeds and leaves nothing.
	for _, expr := range []string{
		"let c = channel in List.length (List.map (i -> timeout 100000000 (listen c)) (List.range 0 1000))",
		"let c = channel in let fs = List.map (i -> listen c) (List.range 0 1000) in let u = send here c 1 in List.sum (List.map await fs)",
	} {
		th := &Thread{Loader: p.store, Host: h}
		v, err := th.Eval(context.Background(), compileExpr(t, p.c, expr))
		if err != nil || v != MakeInt(1000) {
			t.Errorf("%s = %v, %v", expr, v, err)
		}
		if n := h.Listening(); n != 0 {
			t.Errorf("%s: %d listeners left", expr, n)
		}
	}
	// A listener that got its message frees its slot: far more listens
	// than the bound, one at a time.
	th := &Thread{Loader: p.store, Host: h}
	v, err := th.Eval(context.Background(), compileExpr(t, p.c,
		"let c = channel in List.sum (List.map (i -> let f = listen c in let u = send here c i in await f) (List.range 0 20000))"))
	if err != nil || v != MakeInt(19999*20000/2) {
		t.Errorf("listen, send, await 20000 times = %v, %v", v, err)
	}
	// Canceled while waiting: released too.
	th = &Thread{Loader: p.store, Host: h}
	go func() {
		time.Sleep(20 * time.Millisecond)
		th.Cancel("stop")
	}()
	_, err = th.Eval(context.Background(), compileExpr(t, p.c,
		"let c = channel in let fs = List.map (i -> timeout 100000000 (listen c)) (List.range 0 100) in await (List.head fs |> Optional.withDefault (listen c))"))
	if !errors.Is(err, ErrCanceled) || h.Listening() != 0 {
		t.Errorf("canceled while listening: %v, %d listeners left", err, h.Listening())
	}
	// No goroutine stays behind (timers and listeners hold none).
	var now int
	for range 200 {
		if now = runtime.NumGoroutine(); now <= base {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if now > base {
		t.Errorf("%d goroutines, %d before", now, base)
	}
}

// The cleanup registry runs once per evaluation, however it ends.
func TestOnEnd(t *testing.T) {
	th := &Thread{}
	var ran []string
	th.OnEnd(func() { ran = append(ran, "early") })
	reg := &Closure{fc: &funcCode{arity: 0, body: func(th *Thread, _ *frame) Value {
		th.OnEnd(func() { ran = append(ran, "a") })
		th.OnEnd(func() { ran = append(ran, "b") })
		th.fail("boom")
		return nil
	}}}
	if _, err := th.Call(context.Background(), reg); err == nil {
		t.Fatal("no error")
	}
	if strings.Join(ran, ",") != "b,a,early" {
		t.Fatalf("ran %v", ran)
	}
	ran = nil
	th.Call(context.Background(), builtins["identity"].value, MakeInt(1))
	if len(ran) != 0 {
		t.Fatalf("ran again: %v", ran)
	}
}

// Case 4 (the local part): channel IDs are 128 random bits.
func TestChannelIDsRandom(t *testing.T) {
	h := NewLocalHost("local")
	seen := map[string]bool{}
	for range 100 {
		c, err := h.NewChannel(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.ID) < 16 || seen[string(c.ID)] {
			t.Fatalf("channel ID %x", c.ID)
		}
		seen[string(c.ID)] = true
	}
	a, _ := h.NewChannel(nil)
	b, _ := h.NewChannel(nil)
	if strings.TrimLeft(fmt.Sprintf("%x", a.ID), "0") == "1" || string(a.ID[:8]) == string(b.ID[:8]) {
		t.Fatalf("channel IDs look like a counter: %x, %x", a.ID, b.ID)
	}
}
