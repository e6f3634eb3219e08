package eval

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// refInsertT is the recursive transient insert mapInsertT replaced: the
// iterative one must give the same tree and charge the same memory.
func (th *Thread) refInsertT(t *mapNode, k, v Value, e *mapEdit) *mapNode {
	if t == nil {
		th.alloc(sizeMapNode)
		return &mapNode{k: k, v: v, size: 1, edit: e}
	}
	c := th.compare(k, t.k)
	n := th.refOwn(t, e)
	switch {
	case c < 0:
		n.l = th.refInsertT(n.l, k, v, e)
	case c > 0:
		n.r = th.refInsertT(n.r, k, v, e)
	default:
		n.v = v
		return n
	}
	n.fixSize()
	return th.refBalanceT(n, e)
}

func (th *Thread) refOwn(t *mapNode, e *mapEdit) *mapNode {
	if t.edit == e {
		return t
	}
	th.alloc(sizeMapCopy)
	n := *t
	n.edit = e
	return &n
}

// refBalanceT is mapBalanceT with refOwn (no index upkeep).
func (th *Thread) refBalanceT(n *mapNode, e *mapEdit) *mapNode {
	saved := e.text
	e.text = nil
	defer func() { e.text = saved }()
	return th.mapBalanceT(n, e)
}

// shape renders a tree with its sizes, so two trees render alike exactly
// when they have the same shape, keys, values and sizes.
func shape(t *mapNode) string {
	if t == nil {
		return "."
	}
	return fmt.Sprintf("(%s %s=%s/%d %s)", shape(t.l), Show(t.k, nil), Show(t.v, nil), t.size, shape(t.r))
}

// balanced checks the weight-balance invariant and the sizes.
func balanced(t *mapNode) bool {
	if t == nil {
		return true
	}
	sl, sr := t.l.len(), t.r.len()
	if t.size != sl+sr+1 {
		return false
	}
	if sl+sr > 1 && (sl > mapDelta*sr || sr > mapDelta*sl) {
		return false
	}
	return balanced(t.l) && balanced(t.r)
}

func randomKey(r *rand.Rand, kind int) Value {
	switch kind {
	case 0:
		return MakeInt(int64(r.Intn(400)) - 100)
	case 1:
		return Text(strings.Repeat(string(rune('a'+r.Intn(6))), 1+r.Intn(3)) + fmt.Sprint(r.Intn(20)))
	default: // mixed: Ints, Texts and tuples in one map
		switch r.Intn(3) {
		case 0:
			return MakeInt(int64(r.Intn(50)))
		case 1:
			return Text(fmt.Sprint("k", r.Intn(50)))
		}
		return newTuple2(MakeInt(int64(r.Intn(5))), Text(fmt.Sprint(r.Intn(5))))
	}
}

// The iterative transient insert (and its index) builds the tree the
// recursive one builds, with the same charges, from an empty map and from
// a shared start map, which stays unchanged.
func TestMapInsertTMatchesRecursive(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for round := range 300 {
		kind := round % 3
		th1, th2 := scratchThread(), scratchThread()
		// A persistent start map (empty in a third of the rounds).
		var base *mapNode
		if round%3 != 0 {
			for range r.Intn(60) {
				base = th1.mapInsert(base, randomKey(r, kind), MakeInt(int64(r.Intn(9))), nil, false)
			}
		}
		before := shape(base)
		e1, e2 := newMapEdit(base), &mapEdit{}
		t1, t2 := base, base
		m1, m2 := th1.mem, th2.mem
		for i := range 1 + r.Intn(300) {
			k, v := randomKey(r, kind), MakeInt(int64(i))
			if n := e1.find(k); n != nil { // as foldInsert does
				if th1.compare(n.k, k) != 0 {
					t.Fatalf("round %d: index gives %s for %s", round, Show(n.k, nil), Show(k, nil))
				}
				n.v = v
			} else {
				if e1.absent(k) {
					if _, ok := th1.mapLookup(t1, k); ok {
						t.Fatalf("round %d: %s absent, but in the tree", round, Show(k, nil))
					}
				}
				t1 = th1.mapInsertT(t1, k, v, e1)
			}
			t2 = th2.refInsertT(t2, k, v, e2)
			if th1.mem-m1 != th2.mem-m2 {
				t.Fatalf("round %d insert %d: charged %d, recursive %d", round, i, th1.mem-m1, th2.mem-m2)
			}
		}
		if s1, s2 := shape(t1), shape(t2); s1 != s2 {
			t.Fatalf("round %d: tree\n%s\nrecursive\n%s", round, s1, s2)
		}
		if !balanced(t1) {
			t.Fatalf("round %d: not balanced: %s", round, shape(t1))
		}
		if shape(base) != before {
			t.Fatalf("round %d: the start map changed", round)
		}
		// The index holds only nodes of the tree that e1 owns, each under
		// its key, and (unless made late) all the Text-keyed ones;
		// foreign counts the nodes e1 does not own.
		owned, texts := 0, 0
		inTree := map[*mapNode]bool{}
		var walk func(n *mapNode)
		walk = func(n *mapNode) {
			if n == nil {
				return
			}
			inTree[n] = true
			if n.edit == e1 {
				owned++
				if s, ok := n.k.(Text); ok {
					texts++
					if !e1.partial && e1.text[string(s)] != n {
						t.Fatalf("round %d: index misses %q", round, s)
					}
				}
			}
			walk(n.l)
			walk(n.r)
		}
		walk(t1)
		for s, n := range e1.text {
			if !inTree[n] || n.edit != e1 || n.k != Value(Text(s)) {
				t.Fatalf("round %d: index entry %q is not the tree's", round, s)
			}
		}
		if !e1.partial && texts != len(e1.text) || e1.foreign != t1.len()-owned {
			t.Fatalf("round %d: index %d of %d Text nodes, foreign %d of %d", round, len(e1.text), texts, e1.foreign, t1.len()-owned)
		}
		if kind == 1 && e1.partial {
			t.Fatalf("round %d: a Text-only fold made a partial index", round)
		}
	}
}

// Language level: folds with Text keys onto a shared start map leave it
// unchanged and count as the persistent inserts do, whether a key is new,
// in the start map, or already met in the fold.
func TestFusedMapFoldTextIndex(t *testing.T) {
	p := newProgram(t, fusedProgram+`
countOnto base ws = List.foldl (m w -> Map.insertWith (+) w 1 m) base ws
setOnto base ws = List.foldl (m w -> Map.insert w 0 m) base ws
slow base ws = List.foldl (m w -> Map.insert w (Map.findWithDefault 0 w m + 1) m) base ws
`)
	ws := `["b", "a", "b", "zz", "c", "b", "a", "zz", "q"]`
	for expr, want := range map[string]string{
		`Map.toList (count ` + ws + `)`: `[("a", 2), ("b", 3), ("c", 1), ("q", 1), ("zz", 2)]`,
		`let base = Map.fromList [("b", 10), ("x", 5)] in let m = countOnto base ` + ws + ` in (Map.toList base, Map.toList m)`: `([("b", 10), ("x", 5)], [("a", 2), ("b", 13), ("c", 1), ("q", 1), ("x", 5), ("zz", 2)])`,
		`let base = Map.fromList [("b", 10), ("x", 5)] in countOnto base ` + ws + ` == slow base ` + ws:                         `true`,
		`let a = count ` + ws + ` in let b = countOnto a ["a", "new"] in (Map.toList a, Map.toList b)`:                          `([("a", 2), ("b", 3), ("c", 1), ("q", 1), ("zz", 2)], [("a", 3), ("b", 3), ("c", 1), ("new", 1), ("q", 1), ("zz", 2)])`,
		`Map.toList (setOnto (Map.fromList [("a", 7)]) ["a", "b", "a"])`:                                                        `[("a", 0), ("b", 0)]`,
	} {
		if v, err := p.eval(t, nil, expr); err != nil {
			t.Errorf("%s: %v", expr, err)
		} else if got := Show(v, nil); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}

// The nodes of a fold's map keep their maker, but not its index.
func TestFusedMapFoldDropsIndex(t *testing.T) {
	p := newProgram(t, fusedProgram)
	v, err := p.eval(t, nil, `count ["a", "b", "a", "c"]`)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(*Map)
	if m.root == nil || m.root.edit == nil {
		t.Fatal("not a transient's map")
	}
	if m.root.edit.text != nil {
		t.Fatalf("the map keeps an index of %d keys", len(m.root.edit.text))
	}
}

// Random word folds through the index agree with the same fold written so
// that it is not fused (its lambda reads the accumulator), onto empty and
// shared start maps.
func TestFusedMapFoldTextRandom(t *testing.T) {
	p := newProgram(t, fusedProgram+`
countOnto base ws = List.foldl (m w -> Map.insertWith (a b -> a * 2 + b) w 1 m) base ws
slow base ws = List.foldl (m w -> Map.insert w (Optional.withDefault 1 (Optional.map (a -> a * 2 + 1) (Map.lookup w m))) m) base ws
`)
	r := rand.New(rand.NewSource(4))
	list := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = fmt.Sprintf("%q", strings.Repeat("w", 1+r.Intn(3))+fmt.Sprint(r.Intn(12)))
		}
		return "[" + strings.Join(ws, ", ") + "]"
	}
	for range 60 {
		base := "Map.empty"
		if r.Intn(2) == 0 {
			base = "(countOnto Map.empty " + list(r.Intn(20)) + ")"
		}
		ws := list(r.Intn(80))
		expr := "let b = " + base + " in let b0 = Map.toList b in (Map.toList (countOnto b " + ws + ") == Map.toList (slow b " + ws + "), Map.toList b == b0)"
		if got := p.show(t, expr); got != "(true, true)" {
			t.Fatalf("%s = %s", expr, got)
		}
	}
}
