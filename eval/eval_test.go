package eval

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unode-dev/unode/dag"
)

// program is a compiled source file ready to evaluate expressions in.
type program struct {
	store *dag.Store
	c     *dag.Compiled
	names *testNames
}

func newProgram(t testing.TB, src string) *program {
	t.Helper()
	s, c := loadProgram(t, "test.u", []byte(src))
	return &program{store: s, c: c, names: newTestNames(c.Names)}
}

func (p *program) thread() *Thread {
	return &Thread{Loader: p.store, Names: p.names, Host: NewLocalHost("local")}
}

// eval evaluates expr on th (a fresh thread if nil).
func (p *program) eval(t testing.TB, th *Thread, expr string) (Value, error) {
	t.Helper()
	if th == nil {
		th = p.thread()
	}
	return th.Eval(context.Background(), compileExpr(t, p.c, expr))
}

func (p *program) show(t testing.TB, expr string) string {
	t.Helper()
	v, err := p.eval(t, nil, expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return Show(v, p.names)
}

func wantBudget(t *testing.T, err error, which string) {
	t.Helper()
	var be *BudgetError
	if !errors.As(err, &be) || !errors.Is(err, ErrBudget) {
		t.Fatalf("got %v, want a %s budget error", err, which)
	}
	if be.Which != which {
		t.Fatalf("got %q budget error (%v), want %q", be.Which, err, which)
	}
}

const budgetProgram = `
f n = f (n + 1) + 1
loop n = loop (n + 1)
double xs = double (xs ++ xs)
count n acc = if n == 0 then acc else count (n - 1) (acc + 1)
build n = if n == 0 then [] else n :: build (n - 1)
`

func TestBudgetDepth(t *testing.T) {
	p := newProgram(t, budgetProgram)
	// Default limits: the non-tail recursion must stop on depth, not
	// overflow the Go stack (which would kill the test binary).
	th := p.thread()
	_, err := p.eval(t, th, "f 0")
	wantBudget(t, err, BudgetDepth)
	if th.MaxDepthSeen() > DefaultMaxDepth {
		t.Fatalf("depth %d passed the limit %d", th.MaxDepthSeen(), DefaultMaxDepth)
	}
	// The thread stays usable after a budget error.
	if v, err := p.eval(t, th, "1 + 1"); err != nil || v != MakeInt(2) {
		t.Fatalf("after depth error: %v, %v", v, err)
	}
}

func TestBudgetFuel(t *testing.T) {
	p := newProgram(t, budgetProgram)
	th := p.thread()
	th.Fuel = 10_000_000
	_, err := p.eval(t, th, "loop 0")
	wantBudget(t, err, BudgetFuel)
	if th.Steps() < 10_000_000 {
		t.Fatalf("stopped after %d steps", th.Steps())
	}
	if th.MaxDepthSeen() > 10 {
		t.Fatalf("a tail-recursive loop reached depth %d", th.MaxDepthSeen())
	}
}

func TestBudgetMemory(t *testing.T) {
	p := newProgram(t, budgetProgram)
	// Default limits: a billion-element list is refused before it is
	// allocated.
	_, err := p.eval(t, nil, "List.range 0 1000000000")
	wantBudget(t, err, BudgetMemory)
	th := p.thread()
	th.MaxMemory = 100 << 20
	_, err = p.eval(t, th, "double [1]")
	wantBudget(t, err, BudgetMemory)
	if th.MemoryUsed() > 100<<20 {
		t.Fatalf("charged %d bytes past the limit", th.MemoryUsed())
	}
	_, err = p.eval(t, nil, `Text.repeat 100000000000 "x"`)
	wantBudget(t, err, BudgetMemory)
}

func TestBudgetTime(t *testing.T) {
	p := newProgram(t, budgetProgram)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.thread().Eval(ctx, compileExpr(t, p.c, "loop 0"))
	wantBudget(t, err, BudgetTime)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stopped after %v", d)
	}
}

func TestBudgetResult(t *testing.T) {
	p := newProgram(t, budgetProgram)
	th := p.thread()
	th.MaxResultBytes = 1000
	_, err := p.eval(t, th, "List.range 0 1000")
	wantBudget(t, err, BudgetResult)
	if _, err := p.eval(t, th, "List.length (List.range 0 1000)"); err != nil {
		t.Fatal(err)
	}
}

func TestCancel(t *testing.T) {
	p := newProgram(t, budgetProgram)
	th := p.thread()
	go func() {
		time.Sleep(20 * time.Millisecond)
		th.Cancel("user pressed ^C")
	}()
	_, err := p.eval(t, th, "loop 0")
	if !errors.Is(err, ErrCanceled) || !strings.Contains(err.Error(), "user pressed ^C") {
		t.Fatalf("got %v, want cancellation", err)
	}
	// Canceling a context (rather than a deadline) is a cancellation too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	_, err = p.thread().Eval(ctx, compileExpr(t, p.c, "loop 0"))
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want cancellation", err)
	}
}

func TestCancelWhileAwaiting(t *testing.T) {
	th := &Thread{Host: blockingHost{}}
	go func() {
		time.Sleep(20 * time.Millisecond)
		th.Cancel("stop")
	}()
	term := tapp(tb("await"), tapp(tb("at'"), tb("here"), &dag.Delay{Body: ti(1)}))
	_, err := th.Eval(context.Background(), term)
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("got %v, want cancellation", err)
	}
}

// blockingHost never completes a remote evaluation.
type blockingHost struct{}

func (blockingHost) Here(*Thread) (*Node, error) { return &Node{ID: "me"}, nil }
func (blockingHost) Spawn(*Thread, *Node, Value) *Future {
	return NewFuture()
}

func TestTailCallsConstantDepth(t *testing.T) {
	p := newProgram(t, budgetProgram+`
isEven n = if n == 0 then true else isOdd (n - 1)
isOdd n = if n == 0 then false else isEven (n - 1)
viaMatch n acc = match n with
  | 0 -> acc
  | _ -> viaMatch (n - 1) (acc + 2)
viaLet n = let go i = if i == 0 then "done" else go (i - 1) in go n
viaForce n = if n == 0 then 0 else !('(viaForce (n - 1)))
`)
	for _, tc := range []struct{ expr, want string }{
		{"count 10000000 0", "10000000"},
		{"isEven 1000001", "false"},
		{"viaMatch 1000000 0", "2000000"},
		{"viaLet 1000000", `"done"`},
		{"viaForce 1000000", "0"},
		{"List.foldl (acc x -> acc + x) 0 (List.range 0 1000000)", "499999500000"},
	} {
		th := p.thread()
		th.MaxDepth = 100
		v, err := p.eval(t, th, tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := Show(v, nil); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.expr, got, tc.want)
		}
		if th.MaxDepthSeen() > 20 {
			t.Errorf("%s reached depth %d", tc.expr, th.MaxDepthSeen())
		}
	}
}

// TestDepthStackUsage measures the Go stack used per unit of depth, the
// figure DefaultMaxDepth in limits.go is derived from.
func TestDepthStackUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("deep recursion")
	}
	p := newProgram(t, `
f n = if n == 0 then Test.stackProbe 0 else f (n - 1) + 1
g n = if n == 0 then Test.stackProbe 0 else 1 + (2 + (3 + (4 + (g (n - 1) + 5))))
h n = match n with
  | 0 -> Test.stackProbe 0
  | _ -> List.sum (List.map (x -> h (n - 1)) [1])
`)
	for _, expr := range []string{"f 150000", "g 40000", "h 50000"} {
		// Run in a fresh goroutine, whose stack starts small, and read
		// the stack in use at the deepest point.
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		th := p.thread()
		term := compileExpr(t, p.c, expr)
		errc := make(chan error)
		go func() {
			_, err := th.Eval(context.Background(), term)
			errc <- err
		}()
		if err := <-errc; err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		probe.mu.Lock()
		perUnit := float64(probe.stack-before.StackInuse) / float64(probe.depth)
		probe.mu.Unlock()
		worst := perUnit * DefaultMaxDepth / (1 << 20)
		t.Logf("%s: depth %d, at most %.0f bytes of Go stack per depth unit; DefaultMaxDepth (%d) => <= %.0f MB",
			expr, probe.depth, perUnit, DefaultMaxDepth, worst)
		if worst > 256 {
			t.Errorf("DefaultMaxDepth allows about %.0f MB of Go stack; want < 256 MB", worst)
		}
	}
}

var probe struct {
	mu    sync.Mutex
	stack uint64
	depth int
}

func init() {
	def1("Test.stackProbe", "test only: record Go stack use", func(th *Thread, a Value) Value {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		probe.mu.Lock()
		probe.stack, probe.depth = ms.StackInuse, th.depth
		probe.mu.Unlock()
		return a
	})
}

func TestDeterminism(t *testing.T) {
	p := newProgram(t, `
work n = let m = List.foldl (acc i -> Map.insertWith Int.add (i * 7919 % 101) i acc) Map.empty (List.range 0 n)
  in (Map.toList m, List.sort (Map.values m), Text.join "," (List.map Int.toText (Map.keys m)), Float.pow 1.1 (Int.toFloat n))
`)
	var first string
	var steps, mem int64
	for i := 0; i < 3; i++ {
		th := p.thread()
		v, err := p.eval(t, th, "work 5000")
		if err != nil {
			t.Fatal(err)
		}
		s := Show(v, nil)
		if i == 0 {
			first, steps, mem = s, th.Steps(), th.MemoryUsed()
			continue
		}
		if s != first || th.Steps() != steps || th.MemoryUsed() != mem {
			t.Fatalf("run %d differs: steps %d vs %d, memory %d vs %d", i, th.Steps(), steps, th.MemoryUsed(), mem)
		}
	}
	// Maps built in different orders are identical, down to their encoding.
	a, _ := p.eval(t, nil, "Map.fromList [(3, 1), (1, 2), (2, 3)]")
	b, _ := p.eval(t, nil, "Map.insert 1 2 (Map.insert 3 1 (Map.insert 2 3 Map.empty))")
	wa, _ := ToWire(a)
	wb, _ := ToWire(b)
	ea, err := dag.EncodeValue(wa)
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := dag.EncodeValue(wb)
	if string(ea) != string(eb) {
		t.Fatal("equal maps encode differently")
	}
}

func TestOverflow(t *testing.T) {
	p := newProgram(t, "")
	for _, expr := range []string{
		"Int.maxValue + 1", "Int.minValue - 1", "Int.maxValue * 2", "Int.minValue * -1",
		"-Int.minValue", "Int.minValue / -1", "Int.abs Int.minValue", "Int.pow 10 19",
		"List.sum [Int.maxValue, 1]", "List.product [Int.maxValue, 2]", "Int.maxValue + 1 - 1",
		"Int.add Int.maxValue 1", "Int.sub Int.minValue 1", "Int.mul 4611686018427387904 2",
		"Int.negate Int.minValue", "Int.minValue - Int.maxValue",
	} {
		_, err := p.eval(t, nil, expr)
		if !errors.Is(err, ErrRuntime) || !strings.Contains(err.Error(), "overflow") {
			t.Errorf("%s: got %v, want an overflow error", expr, err)
		}
	}
	for expr, want := range map[string]string{
		"Int.maxValue + Int.minValue":    "-1",
		"Int.minValue + 1":               "-9223372036854775807",
		"4611686018427387904 * -2":       "-9223372036854775808",
		"-4611686018427387904 * 2":       "-9223372036854775808",
		"Int.maxValue - Int.maxValue":    "0",
		"Int.minValue / 1":               "-9223372036854775808",
		"-3037000499 * 3037000499":       "-9223372030926249001",
		"List.sum [Int.maxValue, 1, -1]": "overflow",
	} {
		v, err := p.eval(t, nil, expr)
		got := ""
		if err != nil {
			got = "overflow"
			if !strings.Contains(err.Error(), "overflow") {
				got = err.Error()
			}
		} else {
			got = Show(v, nil)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}

func TestPartialApplication(t *testing.T) {
	p := newProgram(t, `
type P = Pt Int Int Int
add3 a b c = a + b + c
mk = add3 1
pair a b = (a, b)
curried a = b -> c -> a + b + c
`)
	for expr, want := range map[string]string{
		"mk 2 3":                           "6",
		"(mk 2) 3":                         "6",
		"add3 1 2 3":                       "6",
		"((add3 1) 2) 3":                   "6",
		"List.map (add3 1 2) [1, 2]":       "[4, 5]",
		"List.map (Pt 1 2) [3]":            "[Pt 1 2 3]",
		"(Pt 1) 2 3":                       "Pt 1 2 3",
		"List.map (Int.add 1) [1, 2]":      "[2, 3]",
		"(List.map (x -> x * 2)) [1]":      "[2]",
		"List.foldl Int.add 0 [1, 2, 3]":   "6",
		"(List.foldl Int.add) 0 [1, 2, 3]": "6",
		"curried 1 2 3":                    "6",
		"(curried 1 2) 3":                  "6",
		"(x -> y -> x - y) 10 3":           "7",
		"Some":                             "<function>",
		"add3 1 2":                         "<function>",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}

func TestRuntimeErrors(t *testing.T) {
	p := newProgram(t, `
type C = R | G
name c = match c with
  | R -> "r"
outer c = "<" ++ name c ++ ">"
`)
	_, err := p.eval(t, nil, "outer G")
	var re *RuntimeError
	if !errors.As(err, &re) || !errors.Is(err, ErrRuntime) {
		t.Fatalf("got %v", err)
	}
	if re.Msg != "no pattern matched G" {
		t.Errorf("message %q", re.Msg)
	}
	if len(re.Stack) < 2 || re.Stack[0] != "name" || re.Stack[1] != "outer" {
		t.Errorf("stack %q", re.Stack)
	}
	if !strings.Contains(re.Backtrace(), "\tin name\n\tin outer") {
		t.Errorf("backtrace %q", re.Backtrace())
	}
	// Without names, definitions are named by reference.
	th := &Thread{Loader: p.store}
	_, err = th.Eval(context.Background(), compileExpr(t, p.c, "outer G"))
	if !errors.As(err, &re) || !strings.HasPrefix(re.Stack[0], "#bafy") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(re.Msg, "no pattern matched #bafy") {
		t.Errorf("unnamed constructor shown as %q", re.Msg)
	}
	// A missing definition is a runtime error wrapping the loader's.
	th = &Thread{Loader: memLoader{}}
	_, err = th.Eval(context.Background(), tapp(tref(testRef("nowhere")), ti(1)))
	if !errors.Is(err, ErrRuntime) || !strings.Contains(err.Error(), "no definition") {
		t.Fatalf("got %v", err)
	}
	// Effects need a host.
	_, err = (&Thread{}).Eval(context.Background(), tb("here"))
	if !errors.Is(err, ErrRuntime) || !strings.Contains(err.Error(), "no Host") {
		t.Fatalf("got %v", err)
	}
}

func TestMalformedTerms(t *testing.T) {
	for name, term := range map[string]dag.Term{
		"free variable":   tv(0),
		"unknown builtin": tb("No.such"),
		"empty app":       &dag.App{Fn: tb("not")},
		"self":            &dag.Self{},
		"nil":             nil,
		"zero arity lam":  &dag.Lam{Arity: 0, Body: ti(1)},
		"letrec value":    &dag.LetRec{Value: ti(1), Body: ti(2)},
		"short tuple":     &dag.Tuple{Elems: []dag.Term{ti(1)}},
		"bad var in lam":  tlam(1, tv(1)),
	} {
		_, err := (&Thread{}).Eval(context.Background(), term)
		var me *MalformedError
		if !errors.As(err, &me) {
			t.Errorf("%s: got %v, want a MalformedError", name, err)
		}
	}
}

func TestCallAndReentrancy(t *testing.T) {
	p := newProgram(t, `
inc x = x + 1
boom x = x / 0
`)
	th := p.thread()
	f, err := p.eval(t, th, "inc")
	if err != nil {
		t.Fatal(err)
	}
	v, err := th.Call(context.Background(), f, MakeInt(41))
	if err != nil || v != MakeInt(42) {
		t.Fatalf("Call = %v, %v", v, err)
	}
	add, _ := p.eval(t, th, "Int.add")
	v, err = th.Call(context.Background(), add, MakeInt(1), MakeInt(2))
	if err != nil || v != MakeInt(3) {
		t.Fatalf("Call builtin = %v, %v", v, err)
	}
	// A host evaluating locally with Force gets runtime errors back and
	// the outer evaluation continues.
	v, err = p.eval(t, th, `await! (at' here '(boom 1))`)
	if err != nil || Show(v, nil) != `Left (Msg "division by zero")` {
		t.Fatalf("got %v, %v", v, err)
	}
	if _, err := th.Force(f); err == nil {
		t.Fatal("Force outside an evaluation succeeded")
	}
}

func TestShow(t *testing.T) {
	ref := testRef("T")
	typ := dag.TypeRef{Def: ref}
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{MakeInt(55), "55"},
		{MakeInt(-2), "-2"},
		{Float(13), "13.0"},
		{Float(0.1), "0.1"},
		{Float(-0.5), "-0.5"},
		{Float(1e16), "1.0e16"},
		{Float(1.5e-7), "1.5e-7"},
		{Float(123456.789), "123456.789"},
		{Text("x"), `"x"`},
		{Text("a\"\\\n\t\r\x00\x07é"), `"a\"\\\n\t\r\0\u{7}é"`},
		{True, "true"},
		{UnitValue, "()"},
		{Bytes("\x0a\xff"), "0xs0aff"},
		{Bytes(""), "0xs"},
		{NewList([]Value{MakeInt(1), MakeInt(2), MakeInt(3)}), "[1, 2, 3]"},
		{NewList(nil), "[]"},
		{&Tuple{Elems: []Value{True, Text("x")}}, `(true, "x")`},
		{Some(Some(MakeInt(1))), "Some (Some 1)"},
		{Some(MakeInt(-1)), "Some (-1)"},
		{Some(Float(-1)), "Some (-1.0)"},
		{None(), "None"},
		{Left(Text("e")), `Left "e"`},
		{NewData(typ, 1, MakeInt(1)), "#" + ref.CID.String() + "#1 1"},
		{NewData(dag.TypeRef{Def: dag.DefRef{CID: ref.CID, Member: 2}}, 0), "#" + ref.CID.String() + "#2#0"},
		{&Node{ID: "12D3KooWabc"}, "<node 12D3KooWabc>"},
		{shareValue(), "<function>"},
		{NewFuture(), "<future>"},
		{&Channel{ID: []byte{1, 2}}, "<channel 0102>"},
	} {
		if got := Show(tc.v, nil); got != tc.want {
			t.Errorf("Show = %s, want %s", got, tc.want)
		}
	}
	names := namerFunc(func(dag.TypeRef, int) string { return "Just" })
	if got := Show(NewData(typ, 1, NewData(typ, 1, MakeInt(1))), names); got != "Just (Just 1)" {
		t.Errorf("named: %s", got)
	}
	// A long right-nested value prints without deep recursion.
	var v Value = NewData(typ, 0)
	for i := 0; i < 1_000_000; i++ {
		v = NewData(typ, 1, MakeInt(1), v)
	}
	if s := Show(v, names); !strings.HasSuffix(strings.TrimRight(s, ")"), " 1 Just") || strings.Count(s, "(") != 999_999 || strings.Count(s, ")") != 999_999 {
		t.Errorf("long value printed as %.40s...%s (%d parens)", s, s[len(s)-20:], strings.Count(s, "("))
	}
	if c, err := Compare(v, v); err != nil || c != 0 {
		t.Errorf("Compare(long, long) = %d, %v", c, err)
	}
}

type namerFunc func(dag.TypeRef, int) string

func (f namerFunc) CtorName(t dag.TypeRef, i int) string { return f(t, i) }

func shareValue() Value { return &Closure{fc: shareCode, env: []Value{MakeInt(1)}} }

func TestToJSON(t *testing.T) {
	v := &Tuple{Elems: []Value{MakeInt(1), Float(0.5), Text("x"), True, UnitValue, Bytes("\x01"),
		NewList([]Value{Some(MakeInt(2)), None()}), Float(math.NaN()), &Node{ID: "n1"},
		mustMap(NewMap([]Value{Text("k")}, []Value{MakeInt(1)}))}}
	got, err := json.Marshal(ToJSON(v, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `[1,0.5,"x",true,null,{"bytes":"01"},[{"ctor":"Some","fields":[2]},{"ctor":"None"}],"NaN",{"node":"n1"},[["k",1]]]`
	if string(got) != want {
		t.Errorf("ToJSON = %s\nwant     %s", got, want)
	}
}

func mustMap(m *Map, err error) *Map {
	if err != nil {
		panic(err)
	}
	return m
}

// TestDeps guards the import direction: the interpreter must never
// depend on the network layer.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps (needed to check the import direction): %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "libp2p") || strings.Contains(dep, "unode/p2p") || strings.Contains(dep, "unode/capabilities") ||
			strings.Contains(dep, "starlark") || strings.Contains(dep, "gopher-lua") {
			t.Errorf("eval depends on %s", dep)
		}
	}
}

// TestBuiltinDocs requires a description and a known capability group for
// every builtin, so that Builtins() can document the library.
func TestBuiltinDocs(t *testing.T) {
	groups := map[string]bool{"pure": true, "remote": true, "channel": true, "cluster": true, "data": true, "ffi": true}
	for _, b := range Builtins() {
		if strings.HasPrefix(b.Name, "Test.") {
			continue
		}
		if b.Doc == "" {
			t.Errorf("%s has no description", b.Name)
		}
		if !groups[b.Group] {
			t.Errorf("%s is in unknown group %q", b.Name, b.Group)
		}
	}
	for _, name := range []string{"None", "Some", "Optional.None", "Optional.Some", "Left", "Right", "Timeout", "Msg",
		"Err.Denied", "Err.BudgetExceeded", "Err.Missing"} {
		if _, _, _, ok := BuiltinCtor(name); !ok {
			t.Errorf("BuiltinCtor(%q) not found", name)
		}
	}
}

// TestHandBuiltTerms runs terms built directly, without the parser: a
// self-recursive definition loaded through a minimal Loader.
func TestHandBuiltTerms(t *testing.T) {
	ref := testRef("fib")
	th := &Thread{Loader: memLoader{ref: fibTerm()}}
	v, err := th.Eval(context.Background(), tapp(tref(ref), ti(20)))
	if err != nil || v != MakeInt(6765) {
		t.Fatalf("fib 20 = %v, %v", v, err)
	}
	// Over- and under-application of a lambda term.
	add := tlam(2, top("add", tv(1), tv(0)))
	v, err = th.Eval(context.Background(), tapp(tapp(add, ti(1)), ti(2)))
	if err != nil || v != MakeInt(3) {
		t.Fatalf("(add 1) 2 = %v, %v", v, err)
	}
}

func TestNewMap(t *testing.T) {
	m, err := NewMap([]Value{MakeInt(2), MakeInt(1), MakeInt(2)}, []Value{Text("a"), Text("b"), Text("c")})
	if err != nil || Show(m, nil) != `Map.fromList [(1, "b"), (2, "c")]` {
		t.Fatalf("NewMap = %v, %v", m, err)
	}
	if v, ok, err := m.Lookup(MakeInt(2)); !ok || err != nil || v != Text("c") {
		t.Fatalf("Lookup = %v, %v, %v", v, ok, err)
	}
	if _, err := NewMap([]Value{shareValue(), shareValue()}, []Value{UnitValue, UnitValue}); err == nil {
		t.Fatal("function keys accepted")
	}
}
