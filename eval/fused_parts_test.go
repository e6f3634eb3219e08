package eval

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Tests of the fused forms added for issue 12's suite: unboxed Int
// arithmetic, List.take / List.drop parts joined without views, and
// tuples handed from a function's tail to the match that called it.
// Each fused expression is run beside the same expression written so
// that nothing fuses (the operand bound by a let first): both must give
// the same value, the same error and the same fuel.

const partsProgram = `
evalA i j = 1.0 / Int.toFloat ((i + j) * (i + j + 1) / 2 + i + 1)
evalAU i j =
  let
    a = i + j
    b = i + j
    c = b + 1
    d = a * c
    e = d / 2
    f = e + i
    g = f + 1
    h = Int.toFloat g
  in 1.0 / h
poly x = (x * x + 3) * (x - 1) / 2 % 1000
polyU x =
  let
    a = x * x
    b = a + 3
    c = x - 1
    d = b * c
    e = d / 2
  in e % 1000
rotate k p = match p with
  | x :: rest -> List.take (k - 1) rest ++ (x :: List.drop (k - 1) rest)
rotateU k p = match p with
  | x :: rest ->
    let
      a = List.take (k - 1) rest
      d = List.drop (k - 1) rest
      c = x :: d
    in a ++ c
flip k q = List.reverse (List.take k q) ++ List.drop k q
flipU k q = let d = List.drop k q in List.reverse (List.take k q) ++ d
dropApp k xs ys = List.drop k xs ++ ys
dropAppU k xs ys = let d = List.drop k xs in d ++ ys
appTake k xs ys = xs ++ List.take k ys
appTakeU k xs ys = let t = List.take k ys in xs ++ t
consTake x k xs = x :: List.take k xs
consTakeU x k xs = let t = List.take k xs in x :: t
rot2 j x k xs ys = List.drop j xs ++ (x :: List.take k ys)
rot2U j x k xs ys =
  let
    a = List.drop j xs
    t = List.take k ys
    c = x :: t
  in a ++ c

divmod a b = (a / b, a % b)
triple a = if a > 0 then (a, a + 1, a + 2) else triple (a + 10)
notTuple a = a
pairOrNot a = if a > 0 then (a, a) else a
sumDivmod a b = match divmod a b with
  | (q, r) -> q + r
sumDivmodU a b = let t = divmod a b in match t with
  | (q, r) -> q + r
sumTriple a = match triple a with
  | (x, y, z) -> x + y + z
sumTripleU a = let t = triple a in match t with
  | (x, y, z) -> x + y + z
-- A call in the arguments returns a pair of the same size: it must be
-- built, as it is not what the match receives.
nested a = match divmod (match divmod a 7 with | (q, r) -> q * 10 + r) 3 with
  | (q, r) -> q * 100 + r
keepPair a = match pairOrNot a with
  | (x, y) -> x + y
  | _ -> 0 - 1
wrongSize a = match divmod a 2 with
  | (x, y, z) -> x
inner a = let p = divmod a 3 in match divmod a 5 with
  | (q, r) -> (p, q, r)
`

func TestFusedPartsAgree(t *testing.T) {
	p := newProgram(t, partsProgram)
	pairs := [][2]string{
		{"evalA 3 4", "evalAU 3 4"},
		{"poly 17", "polyU 17"},
		{"poly (0 - 17)", "polyU (0 - 17)"},
		{"rotate 3 [1, 2, 3, 4, 5]", "rotateU 3 [1, 2, 3, 4, 5]"},
		{"rotate 5 [1, 2, 3, 4, 5]", "rotateU 5 [1, 2, 3, 4, 5]"},
		{"rotate 1 [1, 2, 3]", "rotateU 1 [1, 2, 3]"},
		{"rotate 9 [1, 2]", "rotateU 9 [1, 2]"},
		{"flip 3 [1, 2, 3, 4, 5]", "flipU 3 [1, 2, 3, 4, 5]"},
		{"flip 9 [1, 2, 3]", "flipU 9 [1, 2, 3]"},
		{"dropApp 2 [1, 2, 3] [4]", "dropAppU 2 [1, 2, 3] [4]"},
		{"dropApp 0 [1, 2, 3] [4]", "dropAppU 0 [1, 2, 3] [4]"},
		{"dropApp 5 [1, 2, 3] [4]", "dropAppU 5 [1, 2, 3] [4]"},
		{"dropApp 1 [1, 2] []", "dropAppU 1 [1, 2] []"},
		{"appTake 2 [1] [5, 6, 7]", "appTakeU 2 [1] [5, 6, 7]"},
		{"appTake 0 [1] [5, 6, 7]", "appTakeU 0 [1] [5, 6, 7]"},
		{"appTake 2 [] [5, 6, 7]", "appTakeU 2 [] [5, 6, 7]"},
		{"consTake 0 2 [5, 6, 7]", "consTakeU 0 2 [5, 6, 7]"},
		{"consTake 0 0 [5, 6, 7]", "consTakeU 0 0 [5, 6, 7]"},
		{"rot2 1 0 2 [1, 2, 3] [4, 5, 6]", "rot2U 1 0 2 [1, 2, 3] [4, 5, 6]"},
		{"rot2 0 0 0 [1] []", "rot2U 0 0 0 [1] []"},
		{"rot2 3 0 1 [1, 2, 3] [4]", "rot2U 3 0 1 [1, 2, 3] [4]"},
		{"rot2 1 9 2 [1, 2] (0 :: [5, 6])", "rot2U 1 9 2 [1, 2] (0 :: [5, 6])"},
		{"rot2 0 9 1 ([1, 2] ++ [3]) [7, 8]", "rot2U 0 9 1 ([1, 2] ++ [3]) [7, 8]"},
		{"sumDivmod 17 5", "sumDivmodU 17 5"},
		{"sumTriple 3", "sumTripleU 3"},
		{"sumTriple (0 - 25)", "sumTripleU (0 - 25)"},
		// Failures: the same error either way.
		{"poly 3037000500", "polyU 3037000500"},
		{"evalA 1.0 2", "evalAU 1.0 2"},
		{"1 + 2 * (9223372036854775807 - 1)", "let x = 9223372036854775807 - 1 in 1 + 2 * x"},
		{"(3 + 4) / (2 - 2)", "let d = 2 - 2 in (3 + 4) / d"},
		{"(3 + 4) % (2 - 2)", "let d = 2 - 2 in (3 + 4) % d"},
		{"(3 + 4) % (0 - 1)", "let d = 0 - 1 in (3 + 4) % d"},
		{"(0 - 9223372036854775807 - 1) / (0 - 1)", "let m = 0 - 9223372036854775807 - 1 in let d = 0 - 1 in m / d"},
		{"Int.toFloat (1.5 + 1.0)", "let f = 1.5 + 1.0 in Int.toFloat f"},
		{"(1 + 2) < (1.5 * 2.0)", "let a = 1 + 2 in let b = 1.5 * 2.0 in a < b"},
		{"(1 + 2) + (1.5 * 2.0)", "let a = 1 + 2 in let b = 1.5 * 2.0 in a + b"},
		{`rotate 2 "ab"`, `rotateU 2 "ab"`},
		{`dropApp 1 [1, 2] "x"`, `dropAppU 1 [1, 2] "x"`},
		{`dropApp 1 "xy" [1]`, `dropAppU 1 "xy" [1]`},
		{`consTake 0 "k" [1]`, `consTakeU 0 "k" [1]`},
		{`rot2 1 0 2 "ab" [1]`, `rot2U 1 0 2 "ab" [1]`},
		{`rot2 1 0 "k" [1] [1]`, `rot2U 1 0 "k" [1] [1]`},
		{`rot2 1 0 1 [1] "ab"`, `rot2U 1 0 1 [1] "ab"`},
		{"sumDivmod 1 0", "sumDivmodU 1 0"},
	}
	spellingsAgree(t, p, pairs)
}

// spellingsAgree evaluates each pair of expressions (the same computation
// written so that it takes a special path and so that it does not) and
// fails unless both give the same value, or fail with the same first line
// of error, in the same number of steps.
func spellingsAgree(t *testing.T, p *program, pairs [][2]string) {
	t.Helper()
	for _, pr := range pairs {
		th1, th2 := p.thread(), p.thread()
		v1, err1 := p.eval(t, th1, pr[0])
		v2, err2 := p.eval(t, th2, pr[1])
		switch {
		case (err1 == nil) != (err2 == nil):
			t.Errorf("%s: %v / %v; %s: %v / %v", pr[0], v1, err1, pr[1], v2, err2)
		case err1 != nil:
			m1, m2 := firstLine(err1.Error()), firstLine(err2.Error())
			if m1 != m2 {
				t.Errorf("%s fails with %q, %s with %q", pr[0], m1, pr[1], m2)
			}
		case Show(v1, nil) != Show(v2, nil):
			t.Errorf("%s = %s, %s = %s", pr[0], Show(v1, nil), pr[1], Show(v2, nil))
		}
		if err1 == nil && th1.Steps() != th2.Steps() {
			t.Errorf("%s took %d steps, %s %d", pr[0], th1.Steps(), pr[1], th2.Steps())
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	// The error names the function it is in, which differs between the
	// two spellings.
	if i := strings.LastIndex(s, " (in "); i >= 0 {
		s = s[:i]
	}
	return s
}

func TestFusedPartsShareBuffers(t *testing.T) {
	p := newProgram(t, partsProgram)
	for expr, want := range map[string]string{
		// Two joins onto the same list: each gets its own elements, the
		// list and its parts are unchanged.
		"let xs = [1, 2, 3, 4] in (dropApp 1 xs [8], dropApp 1 xs [9], xs)":               "([2, 3, 4, 8], [2, 3, 4, 9], [1, 2, 3, 4])",
		"let ys = 0 :: [5, 6, 7] in (appTake 2 [1] ys, appTake 3 [2] ys, ys)":             "([1, 0, 5], [2, 0, 5, 6], [0, 5, 6, 7])",
		"let xs = 1 :: [2, 3] in (consTake 8 2 xs, consTake 9 2 xs, consTake 7 3 xs, xs)": "([8, 1, 2], [9, 1, 2], [7, 1, 2, 3], [1, 2, 3])",
		"let p = [1, 2, 3, 4] in let q = rotate 3 p in (q, rotate 3 q, p)":                "([2, 3, 1, 4], [3, 1, 2, 4], [1, 2, 3, 4])",
		// Rotations written into free space of either part's buffer.
		"let a = [1, 2] ++ [3] in (rot2 0 9 1 a [7, 8], rot2 0 8 1 a [6], a)":  "([1, 2, 3, 9, 7], [1, 2, 3, 8, 6], [1, 2, 3])",
		"let d = 0 :: [5, 6] in (rot2 1 9 2 [1, 2] d, rot2 1 8 3 [3, 4] d, d)": "([2, 9, 0, 5], [4, 8, 0, 5, 6], [0, 5, 6])",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}

func TestTupleReturn(t *testing.T) {
	p := newProgram(t, partsProgram)
	for expr, want := range map[string]string{
		"sumDivmod 17 5":     "5",
		"sumTriple (0 - 25)": "18",
		"nested 100":         "4701", // divmod 100 7 = (14, 2); divmod 142 3 = (47, 1)
		"keepPair 4":         "8",
		"keepPair (0 - 4)":   "-1",
		// The pair bound by let is a real tuple, not the handed-over one.
		"inner 17":        "((5, 2), 3, 2)",
		"divmod 17 5":     "(3, 2)",
		"(divmod 9 2, 1)": "((4, 1), 1)",
		"List.map (x -> match divmod x 2 with | (q, r) -> q + r) [5, 6]": "[3, 3]",
		// A function that hands a tuple from inside a fold's callback.
		"List.foldl (acc x -> match divmod (acc + x) 10 with | (q, r) -> q + r) 0 [15, 27, 39]": "9",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	if _, err := p.eval(t, nil, "wrongSize 7"); err == nil || !strings.Contains(err.Error(), "no pattern matched (3, 1)") {
		t.Errorf("wrongSize 7: %v", err)
	}
	if _, err := p.eval(t, nil, "match notTuple 5 with | (a, b) -> a"); err == nil || !strings.Contains(err.Error(), "no pattern matched 5") {
		t.Errorf("match on a non-tuple: %v", err)
	}
}

// A failure caught inside a tuple-returning call must not leave the
// hand-over armed for later, unrelated calls at any depth.
func TestTupleReturnAfterCaughtFailure(t *testing.T) {
	p := newProgram(t, partsProgram+`
risky a = match divmod 10 a with
  | (q, r) -> q + r
caught a = match await! (at' here '(risky a)) with
  | Right v -> v
  | Left e -> 0 - 1
chain n a = if n == 0 then fst (divmod 7 a) else 0 + chain (n - 1) a
after a = (caught 0, List.map (n -> chain n a) (List.range 0 8), chain 0 a, chain 1 a, chain 2 a, chain 3 a, chain 4 a)
`)
	v, err := p.eval(t, nil, "after 2")
	if err != nil {
		t.Fatal(err)
	}
	if got := Show(v, nil); got != "(-1, [3, 3, 3, 3, 3, 3, 3, 3], 3, 3, 3, 3, 3)" {
		t.Errorf("after 2 = %s", got)
	}
}

// Walks of one shared list on several threads at once fill and use its
// cached tails; each must see the whole list (run with -race).
func TestTailCacheConcurrentWalks(t *testing.T) {
	p := newProgram(t, `
sumL xs acc = match xs with
  | [] -> acc
  | x :: rest -> sumL rest (acc + x)
`)
	fn, err := p.eval(t, nil, "sumL")
	if err != nil {
		t.Fatal(err)
	}
	elems := make([]Value, 500)
	for i := range elems {
		elems[i] = MakeInt(int64(i))
	}
	shared := NewList(elems)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			th := p.thread()
			for range 5 {
				v, err := th.Call(context.Background(), fn, shared, MakeInt(0))
				if err == nil && Show(v, nil) != "124750" {
					err = fmt.Errorf("sum = %s", Show(v, nil))
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
