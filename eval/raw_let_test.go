package eval

import "testing"

// Tests of let-bound numbers kept in registers (raw_let.go). Each
// function is run beside the same one with a lambda in its let chain
// (z = u -> u), which keeps every binding boxed: same value, same
// error, same fuel.
const rawLetProgram = `
type P = P Float Float


dist a b = match (a, b) with
  | (P ax ay, P bx by) ->
    let
      dx = ax - bx
      dy = ay - by
      d2 = dx * dx + dy * dy
    in (P dx dy, Float.sqrt d2 * d2, d2)
distU a b = match (a, b) with
  | (P ax ay, P bx by) ->
    let
      z = u -> u
      dx = ax - bx
      dy = ay - by
      d2 = dx * dx + dy * dy
    in (P dx dy, Float.sqrt d2 * d2, d2)

-- Ints, mixed kinds, a boxed use twice, nested chains, if and match
ints i j =
  let
    a = i + j
    b = a * a
    c = if b > 10 then (let d = b - 10 in d * a) else b + 1
  in (a, b, c, [a, a], match a with | 3 -> b | _ -> c)
intsU i j =
  let
    z = u -> u
    a = i + j
    b = a * a
    c = if b > 10 then (let d = b - 10 in d * a) else b + 1
  in (a, b, c, [a, a], match a with | 3 -> b | _ -> c)

-- a binding that is not a number, or fails
mixed x y =
  let
    a = x + y
    b = a + a
  in (b, a)
mixedU x y =
  let
    z = u -> u
    a = x + y
    b = a + a
  in (b, a)

-- a lambda whose chain runs once per element, with a register
-- reused by a chain after it
energy xs = List.foldl (e x -> let d = x - 1.5 in let s = d * d in e + s) 0.0 xs
energyU xs = List.foldl (e x -> let d = x - 1.5; z = u -> u in let s = d * d in e + s) 0.0 xs
twice x = (let a = x * 2.0 in a + 1.0, let b = x * 3.0 in b + a0 x)
twiceU x = (let a = x * 2.0; z = u -> u in a + 1.0, let b = x * 3.0; z = u -> u in b + a0 x)
a0 x = let c = x + 0.5 in c * c
`

func TestRawLetsAgree(t *testing.T) {
	p := newProgram(t, rawLetProgram)
	pairs := [][2]string{
		{"dist (P 1.0 2.0) (P 4.0 6.5)", "distU (P 1.0 2.0) (P 4.0 6.5)"},
		{"dist (P 1.0 2.0) (P 1.0 2.0)", "distU (P 1.0 2.0) (P 1.0 2.0)"},
		{"ints 1 2", "intsU 1 2"},
		{"ints 5 6", "intsU 5 6"},
		{"ints 0 1", "intsU 0 1"},
		{"mixed 1.5 2.0", "mixedU 1.5 2.0"},
		{"mixed 1 2", "mixedU 1 2"},
		{"energy [1.0, 2.0, 3.5]", "energyU [1.0, 2.0, 3.5]"},
		{"twice 2.5", "twiceU 2.5"},
		{"List.map twice [1.0, 2.0]", "List.map twiceU [1.0, 2.0]"},
		// Failures: the same error either way.
		{"dist (P 1.0 2.0) 3", "distU (P 1.0 2.0) 3"},
		{"ints 9223372036854775807 1", "intsU 9223372036854775807 1"},
		{"ints 3037000499 1", "intsU 3037000499 1"},
		{`mixed "a" "b"`, `mixedU "a" "b"`},
		{`mixed 1 2.0`, `mixedU 1 2.0`},
		{"mixed [1] 2", "mixedU [1] 2"},
		{"energy [1.0, 2]", "energyU [1.0, 2]"},
	}
	spellingsAgree(t, p, pairs)
	// Known values, so that both spellings being wrong alike shows.
	for expr, want := range map[string]string{
		"dist (P 1.0 2.0) (P 4.0 6.5)": "(P (-3.0) (-4.5), 158.19356221098255, 29.25)",
		"ints 5 6":                     "(11, 121, 1221, [11, 11], 1221)",
		"ints 1 2":                     "(3, 9, 10, [3, 3], 9)",
		"mixed 1.5 2.0":                "(7.0, 3.5)",
		"twice 2.5":                    "(6.0, 16.5)",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}
