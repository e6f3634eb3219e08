package eval

import (
	"strings"
	"testing"
)

// Tests of the compiler's fused forms (float arithmetic, match on a
// tuple, reverse-and-append, transient map folds): each must give what
// the unfused builtins give, fail the same way, and stay deterministic.

const fusedProgram = `
sq x = x * x + 1.5 * x - 0.25 / x
mixed x = x * 2.0 + 1
norm x y = Float.sqrt (x * x + y * y)
pairUp a b = match (a, b) with
  | (0, y) -> y
  | (x, 0) -> x
  | (x, y) -> x + y
pairNone a b = match (a, b) with
  | (0, _) -> 0
flipPrefix k xs = List.reverse (List.take k xs) ++ List.drop k xs
revApp xs ys = List.reverse xs ++ ys
build n = List.foldl (m i -> Map.insert (i * 7 % 101) i m) Map.empty (List.range 0 n)
count ws = List.foldl (m w -> Map.insertWith (+) w 1 m) Map.empty ws
onto base n = List.foldl (m i -> Map.insert i (i * i) m) base (List.range 0 n)
selfRef n = List.foldl (m i -> Map.insert i (Map.size m) m) Map.empty (List.range 0 n)
`

func TestFusedFloatArithmetic(t *testing.T) {
	p := newProgram(t, fusedProgram)
	for expr, want := range map[string]string{
		"sq 2.0":                "6.875",
		"norm 3.0 4.0":          "5.0",
		"sq 2":                  "", // Int arithmetic fails at / (0.25 / 2)
		"1.0 + 2.0 * 3.0 - 1.0": "6.0",
		"7 * 6 + 1 - 2":         "41",
	} {
		v, err := p.eval(t, nil, expr)
		if want == "" {
			if err == nil {
				t.Errorf("%s = %s, want an error", expr, Show(v, nil))
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got := Show(v, nil); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	_, err := p.eval(t, nil, "mixed 1.0")
	if err == nil || !strings.Contains(err.Error(), "cannot apply + to") {
		t.Fatalf("mixed 1.0: %v, want a + mismatch", err)
	}
	_, err = p.eval(t, nil, "norm 3 4")
	if err == nil || !strings.Contains(err.Error(), "Float.sqrt") {
		t.Fatalf("norm 3 4: %v, want a Float.sqrt argument error", err)
	}
}

// A Float boxed in a slab stays correct after the slab fills and the
// values made before are still in use.
func TestFloatSlabValues(t *testing.T) {
	p := newProgram(t, `floats n = List.map (i -> Int.toFloat i * 0.5 + 0.25) (List.range 0 n)
total xs = List.foldl (a x -> a + x * 2.0) 0.0 xs`)
	if got := p.show(t, "total (floats 1000)"); got != "500000.0" {
		t.Fatalf("total = %s", got)
	}
	if got := p.show(t, "List.take 3 (List.drop 40 (floats 100))"); got != "[20.25, 20.75, 21.25]" {
		t.Fatalf("slab values = %s", got)
	}
}

func TestFusedMatchTuple(t *testing.T) {
	p := newProgram(t, fusedProgram)
	for expr, want := range map[string]string{
		"pairUp 0 5": "5", "pairUp 4 0": "4", "pairUp 2 3": "5", "pairNone 0 9": "0",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	_, err := p.eval(t, nil, "pairNone 1 2")
	if err == nil || !strings.Contains(err.Error(), "no pattern matched (1, 2)") {
		t.Fatalf("pairNone 1 2: %v", err)
	}
}

func TestFusedReverseAppend(t *testing.T) {
	p := newProgram(t, fusedProgram)
	for expr, want := range map[string]string{
		"flipPrefix 3 [1, 2, 3, 4, 5]": "[3, 2, 1, 4, 5]",
		"flipPrefix 9 [1, 2, 3]":       "[3, 2, 1]",
		"flipPrefix 0 [1, 2]":          "[1, 2]",
		"revApp [] [1]":                "[1]",
		"revApp [1, 2] []":             "[2, 1]",
		// The result is a list of its own: consing onto it leaves the
		// argument alone.
		"let xs = [1, 2, 3] in let ys = flipPrefix 2 xs in (0 :: ys, xs)": "([0, 2, 1, 3], [1, 2, 3])",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	if _, err := p.eval(t, nil, `revApp [1] "x"`); err == nil || !strings.Contains(err.Error(), "cannot apply ++") {
		t.Fatalf(`revApp [1] "x": %v`, err)
	}
	if _, err := p.eval(t, nil, `revApp "x" [1]`); err == nil || !strings.Contains(err.Error(), "List.reverse") {
		t.Fatalf(`revApp "x" [1]: %v`, err)
	}
}

// A transient fold must not change the map it starts from, and must give
// the map the persistent inserts give.
func TestFusedMapFold(t *testing.T) {
	p := newProgram(t, fusedProgram)
	if got := p.show(t, "Map.size (build 1000)"); got != "101" {
		t.Fatalf("build: %s", got)
	}
	if got := p.show(t, "build 1000 == Map.fromList (List.map (i -> (i * 7 % 101, i + 101 * ((999 - i) / 101))) (List.range 0 101))"); got != "true" {
		t.Fatalf("build differs from fromList: %s", got)
	}
	if got := p.show(t, `Map.toList (count ["b", "a", "b", "c", "b", "a"])`); got != `[("a", 2), ("b", 3), ("c", 1)]` {
		t.Fatalf("count: %s", got)
	}
	// The start map is shared: it must be intact afterwards.
	got := p.show(t, "let base = Map.fromList [(1, 100), (50, 5000), (200, 1)] in let m = onto base 100 in (Map.toList base, Map.size m, Map.lookup 50 m, Map.lookup 200 m)")
	if want := "([(1, 100), (50, 5000), (200, 1)], 101, Some 2500, Some 1)"; got != want {
		t.Fatalf("onto: %s, want %s", got, want)
	}
	// Folding twice onto the same result of a fold: the first fold's
	// nodes belong to a finished transient and must be copied.
	got = p.show(t, "let a = build 300 in let b = onto a 50 in let c = onto a 10 in (Map.size a, Map.size b, Map.size c, Map.lookup 3 a, Map.lookup 3 b)")
	if want := "(101, 101, 101, Some 289, Some 9)"; got != want {
		t.Fatalf("refold: %s, want %s", got, want)
	}
	// A lambda that reads its accumulator is not fused, and is right.
	if got := p.show(t, "Map.toList (selfRef 3)"); got != "[(0, 0), (1, 1), (2, 2)]" {
		t.Fatalf("selfRef: %s", got)
	}
	// Not a Map, not a List: the unfused errors.
	if _, err := p.eval(t, nil, "List.foldl (m i -> Map.insert i i m) 0 [1]"); err == nil || !strings.Contains(err.Error(), "Map.insert") {
		t.Fatalf("fold onto 0: %v", err)
	}
	if v, err := p.eval(t, nil, "List.foldl (m i -> Map.insert i i m) 0 []"); err != nil || v != MakeInt(0) {
		t.Fatalf("empty fold onto 0: %v %v", v, err)
	}
	if _, err := p.eval(t, nil, "List.foldl (m i -> Map.insert (x -> x) i m) Map.empty [1, 2]"); err == nil {
		t.Fatal("function key: no error")
	}
}

// The fused fold is charged what it allocates: one node per key, not a
// copied path per insert, and the same on every run.
func TestMemoryChargeFusedFold(t *testing.T) {
	p := newProgram(t, fusedProgram)
	var first int64
	for i := range 2 {
		th := p.thread()
		if _, err := p.eval(t, th, "Map.size (onto Map.empty 10000)"); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = th.MemoryUsed()
		} else if th.MemoryUsed() != first {
			t.Fatalf("charged %d, then %d", first, th.MemoryUsed())
		}
	}
	if first > 10000*sizeMapNode+10000*2*sizeSlot+1<<16 {
		t.Fatalf("10k-key fold charged %d bytes", first)
	}
	t.Logf("10k-key fused fold: %d bytes", first)
}
