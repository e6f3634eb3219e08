package eval

import (
	"slices"

	"github.com/unode-dev/unode/dag"
)

// Set is a persistent set ordered by Compare: a builtin data type (type
// "Set", one constructor) whose single field is a Map from the elements
// to (). Being a constructor value, a set is compared, hashed, printed
// and sent over the wire like any other, with no new wire form; the
// constructor has no source name, so code builds and takes sets apart
// only through the Set builtins. A set decoded from the wire is checked
// when a builtin uses it (argSet).
var (
	setType   = dag.TypeRef{Builtin: "Set"}
	setCtor   = internCtor(setType, 0, 1)
	emptySetV = &Data{ctor: setCtor, Fields: []Value{emptyMap}}
)

// sizeSetBox is the constructor value around a set's map.
const sizeSetBox = sizeData + sizeSlot

func (th *Thread) argSet(name string, v Value) *Map {
	if d, ok := v.(*Data); ok && d.ctor == setCtor && len(d.Fields) == 1 {
		if m, ok := d.Fields[0].(*Map); ok {
			return m
		}
	}
	th.fail("%s: expected a Set, got %s", name, describe(v))
	return nil
}

// setOf wraps a map of elements as a set.
func (th *Thread) setOf(m *Map) Value {
	if m.root == nil {
		return emptySetV
	}
	th.alloc(sizeSetBox)
	return &Data{ctor: setCtor, Fields: []Value{m}}
}

func (th *Thread) setFromRoot(t *mapNode) Value { return th.setOf(th.newMap(t)) }

// setFromValues builds a set from any elements: sorted, then deduplicated.
func (th *Thread) setFromValues(xs []Value) Value {
	th.charge(sortCost(len(xs)))
	th.checkCount(int64(len(xs)), sizeSlot)
	es := slices.Clone(xs)
	cm := th.comparer()
	slices.SortStableFunc(es, func(a, b Value) int { return cm.top(a, b) })
	cm.finish(false)
	keys := make([]Value, 0, len(es))
	for i, e := range es {
		th.poll()
		if i > 0 && th.compare(es[i-1], e) == 0 {
			continue
		}
		keys = append(keys, e)
	}
	vals := make([]Value, len(keys))
	for i := range vals {
		vals[i] = UnitValue
	}
	return th.setOf(th.mapFromSorted(keys, vals))
}

// setElems is the elements in order.
func setElems(m *Map) []Value {
	keys := make([]Value, 0, m.Len())
	m.root.each(func(k, _ Value) bool {
		keys = append(keys, k)
		return true
	})
	return keys
}

// setFromSorted builds a set from distinct sorted elements.
func (th *Thread) setFromSorted(keys []Value) Value {
	vals := make([]Value, len(keys))
	for i := range vals {
		vals[i] = UnitValue
	}
	return th.setOf(th.mapFromSorted(keys, vals))
}

func init() {
	def0("Set.empty", "The empty set", func(*Thread) Value { return emptySetV })
	def1("Set.singleton", "Set.singleton x: the set of x", func(th *Thread, x Value) Value {
		return th.setFromRoot(th.mapInsert(nil, x, UnitValue, nil, false))
	})
	def1("Set.fromList", "The set of a list's elements", func(th *Thread, l Value) Value {
		return th.setFromValues(th.argList("Set.fromList", l).Elems())
	})
	def1("Set.toList", "The elements in increasing order", func(th *Thread, s Value) Value {
		m := th.argSet("Set.toList", s)
		th.chargeLen(m.Len())
		th.checkCount(int64(m.Len()), sizeSlot)
		return th.listOf(setElems(m))
	})
	def1("Set.size", "Number of elements", func(th *Thread, s Value) Value {
		return MakeInt(int64(th.argSet("Set.size", s).Len()))
	})
	def1("Set.isEmpty", "Whether the set is empty", func(th *Thread, s Value) Value {
		return MakeBool(th.argSet("Set.isEmpty", s).Len() == 0)
	})
	def2("Set.insert", "Set.insert x s: s with x", func(th *Thread, x, s Value) Value {
		m := th.argSet("Set.insert", s)
		th.charge(int64(bitsLen(m.Len())))
		t := th.mapInsert(m.root, x, UnitValue, nil, true)
		if t == m.root {
			return s
		}
		return th.setFromRoot(t)
	})
	def2("Set.delete", "Set.delete x s: s without x", func(th *Thread, x, s Value) Value {
		m := th.argSet("Set.delete", s)
		th.charge(int64(bitsLen(m.Len())))
		t := th.mapDelete(m.root, x)
		if t == m.root {
			return s
		}
		return th.setFromRoot(t)
	})
	def2("Set.member", "Set.member x s: whether x is in s", func(th *Thread, x, s Value) Value {
		m := th.argSet("Set.member", s)
		th.charge(int64(bitsLen(m.Len())))
		_, ok := th.mapLookup(m.root, x)
		return MakeBool(ok)
	})
	def2("Set.union", "The elements of either set", func(th *Thread, a, b Value) Value {
		x, y := th.argSet("Set.union", a), th.argSet("Set.union", b)
		if x.Len() < y.Len() {
			x, y, a = y, x, b
		}
		th.charge(int64(y.Len() * bitsLen(x.Len()+y.Len())))
		t := x.root
		y.root.each(func(k, _ Value) bool {
			th.poll()
			t = th.mapInsert(t, k, UnitValue, nil, true)
			return true
		})
		if t == x.root {
			return a
		}
		return th.setFromRoot(t)
	})
	def2("Set.intersection", "The elements of both sets", func(th *Thread, a, b Value) Value {
		x, y := th.argSet("Set.intersection", a), th.argSet("Set.intersection", b)
		if x.Len() > y.Len() {
			x, y = y, x
		}
		th.charge(int64(x.Len() * bitsLen(y.Len())))
		var keys []Value
		x.root.each(func(k, _ Value) bool {
			th.poll()
			if _, ok := th.mapLookup(y.root, k); ok {
				keys = append(keys, k)
			}
			return true
		})
		return th.setFromSorted(keys)
	})
	def2("Set.difference", "Set.difference a b: the elements of a not in b", func(th *Thread, a, b Value) Value {
		x, y := th.argSet("Set.difference", a), th.argSet("Set.difference", b)
		th.charge(int64(x.Len() * bitsLen(y.Len())))
		var keys []Value
		x.root.each(func(k, _ Value) bool {
			th.poll()
			if _, ok := th.mapLookup(y.root, k); !ok {
				keys = append(keys, k)
			}
			return true
		})
		if len(keys) == x.Len() {
			return a
		}
		return th.setFromSorted(keys)
	})
	def2("Set.isSubsetOf", "Set.isSubsetOf a b: whether every element of a is in b", func(th *Thread, a, b Value) Value {
		x, y := th.argSet("Set.isSubsetOf", a), th.argSet("Set.isSubsetOf", b)
		if x.Len() > y.Len() {
			return False
		}
		th.charge(int64(x.Len() * bitsLen(y.Len())))
		ok := x.root.each(func(k, _ Value) bool {
			th.poll()
			_, in := th.mapLookup(y.root, k)
			return in
		})
		return MakeBool(ok)
	})
	def2("Set.filter", "Set.filter p s: the elements p holds for", func(th *Thread, p, s Value) Value {
		var keys []Value
		for _, k := range setElems(th.argSet("Set.filter", s)) {
			if th.truthy("Set.filter", p, k) {
				keys = append(keys, k)
			}
		}
		return th.setFromSorted(keys)
	}).ho()
	def2("Set.partition", "Set.partition p s = (the elements p holds for, the others)", func(th *Thread, p, s Value) Value {
		var yes, no []Value
		for _, k := range setElems(th.argSet("Set.partition", s)) {
			if th.truthy("Set.partition", p, k) {
				yes = append(yes, k)
			} else {
				no = append(no, k)
			}
		}
		return th.tuple2(th.setFromSorted(yes), th.setFromSorted(no))
	}).ho()
	def2("Set.map", "Set.map f s: the set of f x for every element x", func(th *Thread, f, s Value) Value {
		ks := setElems(th.argSet("Set.map", s))
		for i, k := range ks {
			ks[i] = th.call1(f, k)
		}
		return th.setFromValues(ks)
	}).ho()
	def3("Set.foldl", "Set.foldl f acc s: f (... (f acc x0) ...) xn, in increasing order", func(th *Thread, f, acc, s Value) Value {
		for _, k := range setElems(th.argSet("Set.foldl", s)) {
			acc = th.call2(f, acc, k)
		}
		return acc
	}).ho()
	def3("Set.foldr", "Set.foldr f z s: f x0 (... (f xn z)), in increasing order", func(th *Thread, f, acc, s Value) Value {
		ks := setElems(th.argSet("Set.foldr", s))
		for i := len(ks) - 1; i >= 0; i-- {
			acc = th.call2(f, ks[i], acc)
		}
		return acc
	}).ho()
	def1("Set.lookupMin", "Some least element, or None", func(th *Thread, s Value) Value {
		m := th.argSet("Set.lookupMin", s)
		if m.root == nil {
			return noneValue
		}
		th.charge(int64(bitsLen(m.Len())))
		return th.some(mapMin(m.root).k)
	})
	def1("Set.lookupMax", "Some greatest element, or None", func(th *Thread, s Value) Value {
		m := th.argSet("Set.lookupMax", s)
		if m.root == nil {
			return noneValue
		}
		th.charge(int64(bitsLen(m.Len())))
		return th.some(mapMax(m.root).k)
	})
}
