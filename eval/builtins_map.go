package eval

import (
	"slices"

	"github.com/unode-dev/unode/dag"
)

// Maps are ordered by Compare on keys; keys may be any comparable value.
// Functions come first and the map last. Map.union is left-biased.

func init() {
	def0("Map.empty", "The empty map", func(*Thread) Value { return emptyMap })
	def2("Map.singleton", "Map.singleton k v", func(th *Thread, k, v Value) Value {
		return th.newMap(th.mapInsert(nil, k, v, nil, false))
	})
	def1("Map.fromList", "A map from a list of (key, value) pairs; the last value for a key wins", func(th *Thread, l Value) Value {
		ps := th.argList("Map.fromList", l).Elems()
		th.charge(sortCost(len(ps)))
		th.checkCount(int64(len(ps)), 2*sizeSlot)
		type kv struct{ k, v Value }
		es := make([]kv, len(ps))
		for i, p := range ps {
			th.poll()
			e := th.argTuple("Map.fromList", p, 2)
			es[i] = kv{e[0], e[1]}
		}
		cm := th.comparer()
		slices.SortStableFunc(es, func(a, b kv) int { return cm.top(a.k, b.k) })
		cm.finish(false)
		keys := make([]Value, 0, len(es))
		vals := make([]Value, 0, len(es))
		for i, e := range es {
			th.poll()
			if i+1 < len(es) && th.compare(e.k, es[i+1].k) == 0 {
				continue // a later pair has the same key
			}
			keys = append(keys, e.k)
			vals = append(vals, e.v)
		}
		return th.mapFromSorted(keys, vals)
	})
	def1("Map.toList", "The (key, value) pairs in key order", func(th *Thread, m Value) Value {
		x := th.argMap("Map.toList", m)
		th.chargeLen(x.Len())
		l, out := th.makeList(x.Len())
		i := 0
		x.root.each(func(k, v Value) bool {
			th.poll()
			out[i] = th.tuple2(k, v)
			i++
			return true
		})
		return l
	})
	def1("Map.keys", "The keys in order", func(th *Thread, m Value) Value {
		x := th.argMap("Map.keys", m)
		th.chargeLen(x.Len())
		l, out := th.makeList(x.Len())
		i := 0
		x.root.each(func(k, _ Value) bool {
			th.poll()
			out[i] = k
			i++
			return true
		})
		return l
	})
	def1("Map.values", "The values in key order", func(th *Thread, m Value) Value {
		x := th.argMap("Map.values", m)
		th.chargeLen(x.Len())
		l, out := th.makeList(x.Len())
		i := 0
		x.root.each(func(_, v Value) bool {
			th.poll()
			out[i] = v
			i++
			return true
		})
		return l
	})
	def1("Map.size", "Number of entries", func(th *Thread, m Value) Value {
		return MakeInt(int64(th.argMap("Map.size", m).Len()))
	})
	def1("Map.isEmpty", "Whether the map has no entries", func(th *Thread, m Value) Value {
		return MakeBool(th.argMap("Map.isEmpty", m).Len() == 0)
	})
	def3("Map.insert", "Map.insert k v m: m with k set to v", func(th *Thread, k, v, m Value) Value {
		x := th.argMap("Map.insert", m)
		th.charge(int64(bitsLen(x.Len())))
		return th.newMap(th.mapInsert(x.root, k, v, nil, false))
	})
	def4("Map.insertWith", "Map.insertWith f k v m: like insert, but an existing value old becomes f old v", func(th *Thread, f, k, v, m Value) Value {
		x := th.argMap("Map.insertWith", m)
		th.charge(int64(bitsLen(x.Len())))
		// Call f before walking the tree, so the callback does not run
		// under the tree recursion's Go frames.
		if old, ok := th.mapLookup(x.root, k); ok {
			v = th.call2(f, old, v)
		}
		return th.newMap(th.mapInsert(x.root, k, v, nil, false))
	}).ho()
	def3("Map.adjust", "Map.adjust f k m: m with the value at k (if any) replaced by f of it", func(th *Thread, f, k, m Value) Value {
		x := th.argMap("Map.adjust", m)
		th.charge(int64(bitsLen(x.Len())))
		old, ok := th.mapLookup(x.root, k)
		if !ok {
			return x
		}
		return th.newMap(th.mapInsert(x.root, k, th.call1(f, old), nil, false))
	}).ho()
	def2("Map.lookup", "Map.lookup k m: Some value, or None", func(th *Thread, k, m Value) Value {
		x := th.argMap("Map.lookup", m)
		th.charge(int64(bitsLen(x.Len())))
		if v, ok := th.mapLookup(x.root, k); ok {
			return th.some(v)
		}
		return noneValue
	})
	def3("Map.findWithDefault", "Map.findWithDefault d k m: the value at k, or d", func(th *Thread, d, k, m Value) Value {
		x := th.argMap("Map.findWithDefault", m)
		th.charge(int64(bitsLen(x.Len())))
		if v, ok := th.mapLookup(x.root, k); ok {
			return v
		}
		return d
	})
	def2("Map.member", "Map.member k m: whether k has a value", func(th *Thread, k, m Value) Value {
		x := th.argMap("Map.member", m)
		th.charge(int64(bitsLen(x.Len())))
		_, ok := th.mapLookup(x.root, k)
		return MakeBool(ok)
	})
	def2("Map.delete", "Map.delete k m: m without k", func(th *Thread, k, m Value) Value {
		x := th.argMap("Map.delete", m)
		th.charge(int64(bitsLen(x.Len())))
		r := th.mapDelete(x.root, k)
		if r == x.root {
			return x
		}
		return th.newMap(r)
	})
	def2("Map.union", "Map.union a b: all entries of both; a's value wins for a key in both", func(th *Thread, a, b Value) Value {
		x, y := th.argMap("Map.union", a), th.argMap("Map.union", b)
		if x.Len() >= y.Len() {
			t := x.root
			th.charge(int64(y.Len() * bitsLen(x.Len()+y.Len())))
			y.root.each(func(k, v Value) bool {
				th.poll()
				t = th.mapInsert(t, k, v, nil, true)
				return true
			})
			return th.newMap(t)
		}
		t := y.root
		th.charge(int64(x.Len() * bitsLen(x.Len()+y.Len())))
		x.root.each(func(k, v Value) bool {
			th.poll()
			t = th.mapInsert(t, k, v, nil, false)
			return true
		})
		return th.newMap(t)
	})
	def3("Map.foldl", "Map.foldl f acc m: f (... (f acc k0 v0) ...) kn vn, in key order", func(th *Thread, f, acc, m Value) Value {
		th.argMap("Map.foldl", m).root.each(func(k, v Value) bool {
			acc = th.call3(f, acc, k, v)
			return true
		})
		return acc
	}).ho()
	def3("Map.foldr", "Map.foldr f z m: f k0 v0 (... (f kn vn z)), in key order", func(th *Thread, f, acc, m Value) Value {
		keys, vals := th.argMap("Map.foldr", m).Entries()
		for i := len(keys) - 1; i >= 0; i-- {
			acc = th.call3(f, keys[i], vals[i], acc)
		}
		return acc
	}).ho()
	def2("Map.map", "Map.map f m: f applied to every value", func(th *Thread, f, m Value) Value {
		keys, vals := th.argMap("Map.map", m).Entries()
		for i, v := range vals {
			vals[i] = th.call1(f, v)
		}
		return th.mapFromSorted(keys, vals)
	}).ho()
	def2("Map.mapWithKey", "Map.mapWithKey f m: every value v at k becomes f k v", func(th *Thread, f, m Value) Value {
		keys, vals := th.argMap("Map.mapWithKey", m).Entries()
		for i, v := range vals {
			vals[i] = th.call2(f, keys[i], v)
		}
		return th.mapFromSorted(keys, vals)
	}).ho()
	def2("Map.filter", "Map.filter p m: the entries whose value p holds for", func(th *Thread, p, m Value) Value {
		keys, vals := th.argMap("Map.filter", m).Entries()
		var ks, vs []Value
		for i, v := range vals {
			if th.truthy("Map.filter", p, v) {
				ks, vs = append(ks, keys[i]), append(vs, v)
			}
		}
		return th.mapFromSorted(ks, vs)
	}).ho()
	def2("Map.filterWithKey", "Map.filterWithKey p m: the entries for which p k v holds", func(th *Thread, p, m Value) Value {
		keys, vals := th.argMap("Map.filterWithKey", m).Entries()
		var ks, vs []Value
		for i, v := range vals {
			if th.argBool("Map.filterWithKey (predicate result)", th.call2(p, keys[i], v)) {
				ks, vs = append(ks, keys[i]), append(vs, v)
			}
		}
		return th.mapFromSorted(ks, vs)
	}).ho()

	// Optional
	def2("Optional.map", "Optional.map f o: Some (f x) for Some x, None for None", func(th *Thread, f, o Value) Value {
		if x, ok := th.argOptional("Optional.map", o); ok {
			return th.some(th.call1(f, x))
		}
		return noneValue
	}).ho()
	def2("Optional.flatMap", "Optional.flatMap f o: f x for Some x, None for None", func(th *Thread, f, o Value) Value {
		if x, ok := th.argOptional("Optional.flatMap", o); ok {
			r := th.call1(f, x)
			th.argOptional("Optional.flatMap (result)", r)
			return r
		}
		return noneValue
	}).ho()
	def2("Optional.withDefault", "Optional.withDefault d o: x for Some x, d for None", func(th *Thread, d, o Value) Value {
		if x, ok := th.argOptional("Optional.withDefault", o); ok {
			return x
		}
		return d
	})
	def2("Optional.orElse", "Optional.orElse b a: a if it is Some, else b", func(th *Thread, b, a Value) Value {
		if _, ok := th.argOptional("Optional.orElse", a); ok {
			return a
		}
		th.argOptional("Optional.orElse", b)
		return b
	})
	def1("Optional.isSome", "Whether it is Some", func(th *Thread, o Value) Value {
		_, ok := th.argOptional("Optional.isSome", o)
		return MakeBool(ok)
	})
	def1("Optional.isNone", "Whether it is None", func(th *Thread, o Value) Value {
		_, ok := th.argOptional("Optional.isNone", o)
		return MakeBool(!ok)
	})
	def1("Optional.toList", "[x] for Some x, [] for None", func(th *Thread, o Value) Value {
		if x, ok := th.argOptional("Optional.toList", o); ok {
			l, out := th.makeList(1)
			out[0] = x
			return l
		}
		return emptyList
	})

	// Either
	def2("Either.map", "Either.map f e: Right (f x) for Right x; a Left is unchanged", func(th *Thread, f, e Value) Value {
		if x, right := th.argEither("Either.map", e); right {
			return th.right(th.call1(f, x))
		}
		return e
	}).ho()
	def2("Either.mapLeft", "Either.mapLeft f e: Left (f x) for Left x; a Right is unchanged", func(th *Thread, f, e Value) Value {
		if x, right := th.argEither("Either.mapLeft", e); !right {
			return th.left(th.call1(f, x))
		}
		return e
	}).ho()
	def2("Either.flatMap", "Either.flatMap f e: f x for Right x; a Left is unchanged", func(th *Thread, f, e Value) Value {
		if x, right := th.argEither("Either.flatMap", e); right {
			return th.call1(f, x)
		}
		return e
	}).ho()
	def3("Either.fold", "Either.fold f g e: f x for Left x, g y for Right y", func(th *Thread, f, g, e Value) Value {
		if x, right := th.argEither("Either.fold", e); right {
			return th.call1(g, x)
		} else {
			return th.call1(f, x)
		}
	}).ho()
	def1("Either.isLeft", "Whether it is Left", func(th *Thread, e Value) Value {
		_, right := th.argEither("Either.isLeft", e)
		return MakeBool(!right)
	})
	def1("Either.isRight", "Whether it is Right", func(th *Thread, e Value) Value {
		_, right := th.argEither("Either.isRight", e)
		return MakeBool(right)
	})
	def2("Either.withDefault", "Either.withDefault d e: y for Right y, d for a Left", func(th *Thread, d, e Value) Value {
		if x, right := th.argEither("Either.withDefault", e); right {
			return x
		}
		return d
	})
}

func bitsLen(n int) int {
	b := 1
	for n > 1 {
		n >>= 1
		b++
	}
	return b
}

// mapMin and mapMax return the entry with the least (greatest) key; t is
// not nil.
func mapMin(t *mapNode) *mapNode {
	for t.l != nil {
		t = t.l
	}
	return t
}

func mapMax(t *mapNode) *mapNode {
	for t.r != nil {
		t = t.r
	}
	return t
}

// Issue 13: what a user reaches for first.
func init() {
	def3("Map.alter", "Map.alter f k m: f (Some v) or f None for the value at k; Some w sets k to w, None removes k", func(th *Thread, f, k, m Value) Value {
		x := th.argMap("Map.alter", m)
		th.charge(int64(bitsLen(x.Len())))
		old, had := th.mapLookup(x.root, k)
		var arg Value = noneValue
		if had {
			arg = th.some(old)
		}
		// Call f before rebuilding the path, so the callback does not
		// run under mapInsert's Go frames.
		if v, ok := th.argOptional("Map.alter (result)", th.call1(f, arg)); ok {
			return th.newMap(th.mapInsert(x.root, k, v, nil, false))
		}
		if !had {
			return x
		}
		return th.newMap(th.mapDelete(x.root, k))
	}).ho()
	def3("Map.update", "Map.update f k m: for k present with v, Some w sets it to w and None removes it; m unchanged without k", func(th *Thread, f, k, m Value) Value {
		x := th.argMap("Map.update", m)
		th.charge(int64(bitsLen(x.Len())))
		old, had := th.mapLookup(x.root, k)
		if !had {
			return x
		}
		if v, ok := th.argOptional("Map.update (result)", th.call1(f, old)); ok {
			return th.newMap(th.mapInsert(x.root, k, v, nil, false))
		}
		return th.newMap(th.mapDelete(x.root, k))
	}).ho()
	def2("Map.fromListWith", "Map.fromListWith f pairs: like fromList, but a repeated key's value is f new old, in list order", func(th *Thread, f, l Value) Value {
		ps := th.argList("Map.fromListWith", l).Elems()
		var t *mapNode
		for _, p := range ps {
			e := th.argTuple("Map.fromListWith", p, 2)
			th.charge(int64(bitsLen(t.len())))
			v := e[1]
			if old, ok := th.mapLookup(t, e[0]); ok {
				v = th.call2(f, e[1], old)
			}
			t = th.mapInsert(t, e[0], v, nil, false)
		}
		return th.newMap(t)
	}).ho()
	def3("Map.unionWith", "Map.unionWith f a b: all entries of both; for a key in both, f va vb", func(th *Thread, f, a, b Value) Value {
		x, y := th.argMap("Map.unionWith", a), th.argMap("Map.unionWith", b)
		// Merge the two sorted entry lists, calling f in key order.
		ak, av := x.Entries()
		bk, bv := y.Entries()
		th.chargeLen(len(ak) + len(bk))
		th.checkCount(int64(len(ak)+len(bk)), 2*sizeSlot)
		keys := make([]Value, 0, len(ak)+len(bk))
		vals := make([]Value, 0, len(ak)+len(bk))
		i, j := 0, 0
		for i < len(ak) || j < len(bk) {
			th.poll()
			var c int
			switch {
			case i == len(ak):
				c = 1
			case j == len(bk):
				c = -1
			default:
				c = th.compare(ak[i], bk[j])
			}
			switch {
			case c < 0:
				keys, vals = append(keys, ak[i]), append(vals, av[i])
				i++
			case c > 0:
				keys, vals = append(keys, bk[j]), append(vals, bv[j])
				j++
			default:
				keys, vals = append(keys, ak[i]), append(vals, th.call2(f, av[i], bv[j]))
				i++
				j++
			}
		}
		return th.mapFromSorted(keys, vals)
	}).ho()
	def2("Map.partition", "Map.partition p m = (the entries whose value p holds for, the others)", func(th *Thread, p, m Value) Value {
		keys, vals := th.argMap("Map.partition", m).Entries()
		var yk, yv, nk, nv []Value
		for i, v := range vals {
			if th.truthy("Map.partition", p, v) {
				yk, yv = append(yk, keys[i]), append(yv, v)
			} else {
				nk, nv = append(nk, keys[i]), append(nv, v)
			}
		}
		return th.tuple2(th.mapFromSorted(yk, yv), th.mapFromSorted(nk, nv))
	}).ho()
	def1("Map.lookupMin", "Some (key, value) with the least key, or None", func(th *Thread, m Value) Value {
		x := th.argMap("Map.lookupMin", m)
		if x.root == nil {
			return noneValue
		}
		th.charge(int64(bitsLen(x.Len())))
		e := mapMin(x.root)
		return th.some(th.tuple2(e.k, e.v))
	})
	def1("Map.lookupMax", "Some (key, value) with the greatest key, or None", func(th *Thread, m Value) Value {
		x := th.argMap("Map.lookupMax", m)
		if x.root == nil {
			return noneValue
		}
		th.charge(int64(bitsLen(x.Len())))
		e := mapMax(x.root)
		return th.some(th.tuple2(e.k, e.v))
	})
}

// foldInsert compiles List.foldl (m x -> Map.insert k v m) m0 xs, and the
// same with Map.insertWith f k v m, where m is not used in k, v or f: no
// code can see the map between two steps, so the fold builds it as a
// transient (mapEdit), one new node per new key instead of a copied path
// per insert. Fuel is what the unfused fold charges. A fold whose m0 is
// not a Map or xs not a List runs unfused, to fail as it would.
func (s *scope) foldInsert(desc *builtinDesc, ts []dag.Term, at *site, nest int) code {
	if desc.name != "List.foldl" || len(ts) != 3 {
		return nil
	}
	lam, ok := ts[0].(*dag.Lam)
	if !ok || lam.Arity != 2 {
		return nil
	}
	body, ok := lam.Body.(*dag.App)
	if !ok {
		return nil
	}
	b, ok := body.Fn.(*dag.Builtin)
	if !ok {
		return nil
	}
	var fT, kT, vT dag.Term
	switch {
	case b.Name == "Map.insert" && len(body.Args) == 3:
		kT, vT = body.Args[0], body.Args[1]
	case b.Name == "Map.insertWith" && len(body.Args) == 4:
		fT, kT, vT = body.Args[0], body.Args[1], body.Args[2]
	default:
		return nil
	}
	// The accumulator, the lambda's first parameter, is de Bruijn index 1
	// in its body.
	if v, ok := body.Args[len(body.Args)-1].(*dag.Var); !ok || v.Index != 1 {
		return nil
	}
	for _, t := range []dag.Term{fT, kT, vT} {
		if t != nil && slices.Contains(freeVars(t, 0), 1) {
			return nil
		}
	}
	s.builtin(b.Name)
	insAt := s.site(body)
	with := fT != nil
	helper := s.lambdaWith(2, lam.Body, lam, func(ls *scope) code {
		var f code
		if with {
			f = ls.expr(fT, false, 1)
		}
		k, v := ls.expr(kT, false, 1), ls.expr(vT, false, 1)
		return func(th *Thread, fr *frame) Value {
			if f != nil {
				th.foldF = f(th, fr)
			}
			th.foldK = k(th, fr)
			return v(th, fr)
		}
	})
	orig := s.expr(lam, false, nest+1)
	init, list := s.expr(ts[1], false, nest+1), s.expr(ts[2], false, nest+1)
	w := nest + desc.extraDepth
	return func(th *Thread, fr *frame) Value {
		hv := helper(th, fr)
		m0 := init(th, fr)
		xv := list(th, fr)
		th.step()
		th.at = at
		m, ok1 := m0.(*Map)
		xl, ok2 := xv.(*List)
		th.depth += w
		if !ok1 || !ok2 {
			r := desc.fn(th, []Value{orig(th, fr), m0, xv})
			th.depth -= w
			return r
		}
		e := newMapEdit(m.root)
		root := m.root
		for _, x := range xl.Elems() {
			v := th.call2(hv, UnitValue, x)
			k, f := th.foldK, th.foldF
			th.foldK, th.foldF = nil, nil
			th.step() // the call of Map.insert
			th.at = insAt
			th.charge(int64(bitsLen(root.len())))
			// A key already in the index: set its value in place
			// (mapEdit.text says why that is the tree's insert).
			if n := e.find(k); n != nil {
				if with {
					v = th.call2(f, n.v, v)
				}
				n.v = v
				continue
			}
			if with && !e.absent(k) {
				if old, ok := th.mapLookup(root, k); ok {
					v = th.call2(f, old, v)
				}
			}
			root = th.mapInsertT(root, k, v, e)
		}
		th.depth -= w
		// The nodes keep e (as their maker) for as long as the map
		// lives; the index must not live that long.
		e.text = nil
		if root == m.root {
			return m
		}
		return th.newMap(root)
	}
}
