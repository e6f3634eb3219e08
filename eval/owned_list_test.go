package eval

import "testing"

// Tests of prefix reversal in place (owned_list.go): a flip may reuse
// only a list nobody else can see. Each function below is run beside
// one written so that nothing is reused (the dropped part bound by a
// let first, which makes q used outside the allowed forms): same value,
// same error, same fuel. The others use q in ways that must turn the
// reuse off; if the proof let one through, an earlier version of the
// list would be seen changed.
const ownedProgram = `
flips q n = match q with
  | 1 :: _ -> n
  | k :: _ -> flips (List.reverse (List.take k q) ++ List.drop k q) (n + 1)
flipsU q n = match q with
  | 1 :: _ -> n
  | k :: _ -> let t = List.take k q in flipsU (List.reverse t ++ List.drop k q) (n + 1)
flipsB q n = match q with
  | 1 :: _ -> n
  | k :: _ -> if n > 20 then n else flipsB (List.reverse (List.take k q) ++ List.drop k q) (n + 1)
flipsBU q n = match q with
  | 1 :: _ -> n
  | k :: _ -> if n > 20 then n else let t = List.take k q in flipsBU (List.reverse t ++ List.drop k q) (n + 1)

-- the heads seen, and the final list's elements: the list in place
-- must be the list a new one would be
snap q acc = match q with
  | [1, b, c, d, e] -> (b, c, d, e, acc)
  | k :: _ :: _ -> snap (List.reverse (List.take k q) ++ List.drop k q) (k :: acc)
snapU q acc = match q with
  | [1, b, c, d, e] -> (b, c, d, e, acc)
  | k :: _ :: _ -> let t = List.take k q in snapU (List.reverse t ++ List.drop k q) (k :: acc)

-- different counts for take and drop: not a prefix reversal
skew q n = match q with
  | 1 :: _ -> n
  | k :: _ -> if n > 20 then n else skew (List.reverse (List.take k q) ++ List.drop (k - 1) q) (n + 1)
skewU q n = match q with
  | 1 :: _ -> n
  | k :: _ -> if n > 20 then n else let t = List.take k q in skewU (List.reverse t ++ List.drop (k - 1) q) (n + 1)

-- q returned: not reusable
flipsN q c = if c == 0 then q else match q with
  | k :: _ -> flipsN (List.reverse (List.take k q) ++ List.drop k q) (c - 1)
flipsRet q n = match q with
  | 1 :: _ -> (n, q)
  | k :: _ -> flipsRet (List.reverse (List.take k q) ++ List.drop k q) (n + 1)
-- q captured by a closure
flipsK q fs = match q with
  | 1 :: _ -> fs
  | k :: _ -> flipsK (List.reverse (List.take k q) ++ List.drop k q) ((u -> q) :: fs)
-- q's tail bound
flipsT q acc = match q with
  | 1 :: rest -> rest :: acc
  | k :: rest -> flipsT (List.reverse (List.take k q) ++ List.drop k q) (rest :: acc)
-- q bound whole by the pattern
flipsV q acc = match q with
  | [] -> acc
  | l -> match l with
    | 1 :: _ -> l :: acc
    | k :: _ -> flipsV (List.reverse (List.take k q) ++ List.drop k q) (l :: acc)
-- the self call not in tail position
flipsNT q n = match q with
  | 1 :: _ -> [n]
  | k :: _ -> List.take 1 q ++ flipsNT (List.reverse (List.take k q) ++ List.drop k q) (n + 1)
-- q kept in the other argument
flipsA q acc = match q with
  | 1 :: _ -> acc
  | k :: _ -> flipsA (List.reverse (List.take k q) ++ List.drop k q) (q :: acc)
-- q kept through a let
flipsL q acc = match q with
  | 1 :: _ -> acc
  | k :: _ -> let r = q in flipsA (List.reverse (List.take k r) ++ List.drop k r) (r :: acc)
-- the flip's result kept by a nested call before the tail call
flipsM q acc = match q with
  | 1 :: _ -> acc
  | k :: _ -> flipsM (List.reverse (List.take k q) ++ List.drop k q) (flipsN q 0 :: acc)

-- a flip of a list in a Map, a closure and a future
viaMap p = let m = Map.insert 1 p Map.empty in (flips p 0, Map.lookup 1 m, flips p 0)
viaClosure p = let f = u -> p in (flips p 0, f (), snap p [])
viaFuture p = let a = at' here '(snap p []) in let b = at' here '(flips p 0) in (await! a, await! b, p, snap p [])
`

func TestOwnedFlipAgree(t *testing.T) {
	p := newProgram(t, ownedProgram)
	pairs := [][2]string{
		{"flips [3, 1, 2, 4] 0", "flipsU [3, 1, 2, 4] 0"},
		{"flips [4, 2, 5, 1, 3] 0", "flipsU [4, 2, 5, 1, 3] 0"},
		{"flips [5, 4, 3, 2, 1] 0", "flipsU [5, 4, 3, 2, 1] 0"},
		{"flips [6, 1, 5, 7, 8, 3, 2, 4] 0", "flipsU [6, 1, 5, 7, 8, 3, 2, 4] 0"},
		{"flips [2, 5, 1, 4, 3] 0", "flipsU [2, 5, 1, 4, 3] 0"},
		{"flips [1] 0", "flipsU [1] 0"},
		{"snap [4, 2, 5, 1, 3] []", "snapU [4, 2, 5, 1, 3] []"},
		{"snap [3, 5, 2, 4, 1] []", "snapU [3, 5, 2, 4, 1] []"},
		{"snap [5, 3, 4, 1, 2] []", "snapU [5, 3, 4, 1, 2] []"},
		{"skew [3, 1, 2, 4] 0", "skewU [3, 1, 2, 4] 0"},
		{"skew [4, 2, 5, 1, 3] 0", "skewU [4, 2, 5, 1, 3] 0"},
		// Counts past the end, and zero or below: the same result.
		{"flips [9, 1, 2] 0", "flipsU [9, 1, 2] 0"},
		{"snap [9, 1, 2, 3, 4] []", "snapU [9, 1, 2, 3, 4] []"},
		// Failures: the same error either way.
		{"flipsB [0, 1, 2] 0", "flipsBU [0, 1, 2] 0"},
		{"flipsB [2, 3, 0, 1] 0", "flipsBU [2, 3, 0, 1] 0"},
		{"flipsB [3, 1, 0 - 2, 4] 0", "flipsBU [3, 1, 0 - 2, 4] 0"},
		{"flipsB [6, 1, 5, 7, 8, 3, 2, 4] 0", "flipsBU [6, 1, 5, 7, 8, 3, 2, 4] 0"},
		{"flips [] 0", "flipsU [] 0"},
		{`flips "x" 0`, `flipsU "x" 0`},
		{`flips [2, "a", 1] 0`, `flipsU [2, "a", 1] 0`},
		{`flips [3, 1, "a"] 0`, `flipsU [3, 1, "a"] 0`},
	}
	spellingsAgree(t, p, pairs)
}

// Uses of q that must turn reuse off, and lists others hold: every
// earlier version of a list stays as it was.
func TestOwnedFlipNotShared(t *testing.T) {
	p := newProgram(t, ownedProgram)
	for expr, want := range map[string]string{
		"snap [3, 5, 2, 4, 1] []":                                            "(4, 3, 2, 5, [5, 2, 3])",
		"let l = flipsN [3, 1, 2, 4] 1 in (l, flipsN l 2, l)":                "([2, 1, 3, 4], [1, 2, 3, 4], [2, 1, 3, 4])",
		"flipsRet [3, 5, 2, 4, 1] 0":                                         "(3, [1, 4, 3, 2, 5])",
		"let r = flipsRet [3, 1, 2, 4] 0 in (r, flipsRet [3, 1, 2, 4] 0, r)": "((2, [1, 2, 3, 4]), (2, [1, 2, 3, 4]), (2, [1, 2, 3, 4]))",
		"List.map (f -> f ()) (flipsK [3, 1, 2, 4] [])":                      "[[2, 1, 3, 4], [3, 1, 2, 4]]",
		"flipsT [3, 1, 2, 4] []":                                             "[[2, 3, 4], [1, 3, 4], [1, 2, 4]]",
		"flipsV [3, 1, 2, 4] []":                                             "[[1, 2, 3, 4], [2, 1, 3, 4], [3, 1, 2, 4]]",
		"flipsNT [3, 5, 2, 4, 1] 0":                                          "[3, 2, 5, 3]",
		"flipsA [3, 1, 2, 4] []":                                             "[[2, 1, 3, 4], [3, 1, 2, 4]]",
		"flipsL [3, 1, 2, 4] []":                                             "[[2, 1, 3, 4], [3, 1, 2, 4]]",
		"flipsM [3, 1, 2, 4] []":                                             "[[2, 1, 3, 4], [3, 1, 2, 4]]",
		"let p = [3, 5, 2, 4, 1] in (flips p 0, p, flips p 0, p)":            "(3, [3, 5, 2, 4, 1], 3, [3, 5, 2, 4, 1])",
		"let p = [3, 5, 2, 4, 1] in (snap p [], snap p [], p)":               "((4, 3, 2, 5, [5, 2, 3]), (4, 3, 2, 5, [5, 2, 3]), [3, 5, 2, 4, 1])",
		"viaMap [3, 5, 2, 4, 1]":                                             "(3, Some [3, 5, 2, 4, 1], 3)",
		"viaClosure [3, 5, 2, 4, 1]":                                         "(3, [3, 5, 2, 4, 1], (4, 3, 2, 5, [5, 2, 3]))",
		"viaFuture [3, 5, 2, 4, 1]":                                          "(Right (4, 3, 2, 5, [5, 2, 3]), Right 3, [3, 5, 2, 4, 1], (4, 3, 2, 5, [5, 2, 3]))",
		// A failure caught after a flip built and marked its list.
		"let a = at' here '(flips [3, 1, \"a\"] 0) in (match await! a with | Left e -> 0 | Right v -> v, flips [3, 5, 2, 4, 1] 0)": "(0, 3)",
	} {
		if got := p.show(t, expr); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}

// A flip in place allocates nothing, so a long run of flips is charged
// less memory than one that builds each list; the charge is the same
// on every run.
func TestOwnedFlipMemory(t *testing.T) {
	p := newProgram(t, ownedProgram)
	const perm = "[6, 1, 5, 7, 8, 3, 2, 4]"
	var used []int64
	for range 3 {
		th := p.thread()
		if _, err := p.eval(t, th, "flips "+perm+" 0"); err != nil {
			t.Fatal(err)
		}
		used = append(used, th.MemoryUsed())
	}
	thU := p.thread()
	vU, err := p.eval(t, thU, "flipsU "+perm+" 0")
	if err != nil {
		t.Fatal(err)
	}
	th := p.thread()
	v, _ := p.eval(t, th, "flips "+perm+" 0")
	if Show(v, nil) != Show(vU, nil) {
		t.Fatalf("flips = %s, flipsU = %s", Show(v, nil), Show(vU, nil))
	}
	if n := vU.(Int); n < 3 {
		t.Fatalf("only %d flips: pick a longer permutation", n)
	}
	if th.MemoryUsed() >= thU.MemoryUsed() {
		t.Errorf("flips in place charged %d bytes, building each list %d", th.MemoryUsed(), thU.MemoryUsed())
	}
	for _, u := range used {
		if u != used[0] {
			t.Errorf("memory charged differs between runs: %v", used)
		}
	}
}
