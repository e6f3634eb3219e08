package eval

import "testing"

// Tests of numbers returned unboxed to the arithmetic that called
// (raw_return.go). Each expression is run beside one whose calls sit
// under a let (z = u -> u), which makes them ordinary calls whose
// results are boxed: same value, same error, same fuel.
const rawReturnProgram = `
evalA i j = 1.0 / Int.toFloat ((i + j) * (i + j + 1) / 2 + i + 1)
dotA trans i j u acc = match u with
  | [] -> acc
  | x :: rest -> dotA trans i (j + 1) rest (acc + (if trans then evalA j i else evalA i j) * x)
dotU trans i j u acc = match u with
  | [] -> acc
  | x :: rest -> dotU trans i (j + 1) rest (acc + (let z = u -> u in if trans then evalA j i else evalA i j) * x)

-- Int results, recursion, overflow
fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)
fibU n = if n < 2 then n else (let z = u -> u in fibU (n - 1)) + (let z = u -> u in fibU (n - 2))
big n = n * 1000000000000 + 0
bigs n = big n * 1000000 + big n
bigsU n = (let z = u -> u in big n) * 1000000 + (let z = u -> u in big n)

-- a tail call to another function, a tail call to a builtin, a
-- callee whose result is not a number, a partial as the callee
half x = x * 0.5
viaHalf x = half (x + 1.0)
sumAll xs = List.foldl (+) 0.0 xs
text x = "t"
add a b = a + b
add1 = add 1.5
mixed x = viaHalf x * 2.0 + sumAll [x, x] + add1 x
mixedU x = (let z = u -> u in viaHalf x) * 2.0 + (let z = u -> u in sumAll [x, x]) + (let z = u -> u in add1 x)
bad x = text x + 1.0
badU x = (let z = u -> u in text x) + 1.0
-- calls made inside the callee, and from a function a builtin calls
inner x = half x + half (x * 2.0)
nested xs = List.map (x -> inner x * 3.0) xs
nestedU xs = List.map (x -> (let z = u -> u in inner x) * 3.0) xs
`

func TestRawReturnAgree(t *testing.T) {
	p := newProgram(t, rawReturnProgram)
	pairs := [][2]string{
		{"dotA false 3 0 [1.0, 2.0, 3.0, 4.0] 0.0", "dotU false 3 0 [1.0, 2.0, 3.0, 4.0] 0.0"},
		{"dotA true 3 0 [1.0, 2.0, 3.0, 4.0] 0.0", "dotU true 3 0 [1.0, 2.0, 3.0, 4.0] 0.0"},
		{"fib 15", "fibU 15"},
		{"bigs 3", "bigsU 3"},
		{"bigs 9000000", "bigsU 9000000"}, // overflows
		{"mixed 2.0", "mixedU 2.0"},
		{"mixed 2", "mixedU 2"}, // fails inside half
		{"bad 1.0", "badU 1.0"},
		{"nested [1.0, 2.5]", "nestedU [1.0, 2.5]"},
	}
	spellingsAgree(t, p, pairs)
	for expr, want := range map[string]string{
		"fib 15":            "610",
		"bigs 3":            "3000003000000000000",
		"mixed 2.0":         "10.5",
		"nested [1.0, 2.5]": "[4.5, 11.25]",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	if _, err := p.eval(t, nil, "bad 1.0"); err == nil {
		t.Error("bad 1.0 did not fail")
	}
}
