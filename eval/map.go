package eval

import (
	"fmt"
	"strings"
)

// Map is an immutable map ordered by Compare on keys: a weight-balanced
// binary tree (Adams; the parameters of Haskell's Data.Map). Insert,
// delete and lookup are O(log n) and share all untouched nodes with the
// original. Iteration is in key order, so no hash or insertion order can
// leak into a program.
type Map struct{ root *mapNode }

type mapNode struct {
	k, v Value
	l, r *mapNode
	size int
	// edit is the transient that made the node and may still change it
	// in place (nil for a node of a persistent map; see mapEdit).
	edit *mapEdit
}

func (*Map) Type() string     { return "Map" }
func (m *Map) String() string { return Show(m, nil) }

// Len is the number of entries.
func (m *Map) Len() int { return m.root.len() }

var emptyMap = &Map{}

func (t *mapNode) len() int {
	if t == nil {
		return 0
	}
	return t.size
}

const (
	mapDelta = 3
	mapRatio = 2
)

// Memory of map nodes. Insert and delete copy the O(log n) nodes on the
// path to the key and share the rest; when the old version of the map is
// dropped (a fold that inserts keys one by one), the old path is garbage
// and what the program holds grows by one node per insert. Charging every
// copied node in full made a 100k-key fold cost 150 MB for a map of 9 MB.
// So a node the operation adds (mapNew) is charged in full, and a node
// that rebuilds a path or rebalances (mapBin) is charged sizeMapCopy: a
// program that keeps every version of a map holds at most
// sizeMapNode/sizeMapCopy times what it was charged for those copies, a
// bounded factor, while the usual fold is charged close to its size. The
// copies' time is charged as fuel (the insert's log n).

// mapBin builds a node that copies or rebalances existing entries.
func (th *Thread) mapBin(k, v Value, l, r *mapNode) *mapNode {
	th.alloc(sizeMapCopy)
	return &mapNode{k: k, v: v, l: l, r: r, size: l.len() + r.len() + 1}
}

// mapNew builds a node for an entry the map did not have.
func (th *Thread) mapNew(k, v Value, l, r *mapNode) *mapNode {
	th.alloc(sizeMapNode)
	return &mapNode{k: k, v: v, l: l, r: r, size: l.len() + r.len() + 1}
}

func (th *Thread) mapBalance(k, v Value, l, r *mapNode) *mapNode {
	sl, sr := l.len(), r.len()
	switch {
	case sl+sr <= 1:
	case sr > mapDelta*sl:
		if r.l.len() < mapRatio*r.r.len() {
			return th.mapBin(r.k, r.v, th.mapBin(k, v, l, r.l), r.r)
		}
		rl := r.l
		return th.mapBin(rl.k, rl.v, th.mapBin(k, v, l, rl.l), th.mapBin(r.k, r.v, rl.r, r.r))
	case sl > mapDelta*sr:
		if l.r.len() < mapRatio*l.l.len() {
			return th.mapBin(l.k, l.v, l.l, th.mapBin(k, v, l.r, r))
		}
		lr := l.r
		return th.mapBin(lr.k, lr.v, th.mapBin(l.k, l.v, l.l, lr.l), th.mapBin(k, v, lr.r, r))
	}
	return th.mapBin(k, v, l, r)
}

// lookup returns the value for k.
func (th *Thread) mapLookup(t *mapNode, k Value) (Value, bool) {
	// The usual keys compare inline (as compare's own fast paths do).
	switch kk := k.(type) {
	case Int:
		for t != nil {
			y, ok := t.k.(Int)
			if !ok {
				break
			}
			switch {
			case kk < y:
				t = t.l
			case kk > y:
				t = t.r
			default:
				return t.v, true
			}
		}
	case Text:
		for t != nil {
			y, ok := t.k.(Text)
			if !ok {
				break
			}
			switch c := strings.Compare(string(kk), string(y)); {
			case c < 0:
				t = t.l
			case c > 0:
				t = t.r
			default:
				return t.v, true
			}
		}
	}
	for t != nil {
		c := th.compare(k, t.k)
		switch {
		case c < 0:
			t = t.l
		case c > 0:
			t = t.r
		default:
			return t.v, true
		}
	}
	return nil, false
}

// mapInsert inserts or replaces k. With combine != nil and k present, the
// new value is combine(old) instead (combine must not call back into the
// language: it would run under the recursion's Go frames); with keep set,
// an existing entry is left alone.
func (th *Thread) mapInsert(t *mapNode, k, v Value, combine func(old Value) Value, keep bool) *mapNode {
	if t == nil {
		return th.mapNew(k, v, nil, nil)
	}
	c := th.compare(k, t.k)
	switch {
	case c < 0:
		return th.mapBalance(t.k, t.v, th.mapInsert(t.l, k, v, combine, keep), t.r)
	case c > 0:
		return th.mapBalance(t.k, t.v, t.l, th.mapInsert(t.r, k, v, combine, keep))
	}
	if keep {
		return t
	}
	if combine != nil {
		v = combine(t.v)
	}
	th.alloc(sizeMapCopy) // replaces t: the map does not grow
	return &mapNode{k: t.k, v: v, l: t.l, r: t.r, size: t.size}
}

func (th *Thread) mapDelete(t *mapNode, k Value) *mapNode {
	if t == nil {
		return nil
	}
	c := th.compare(k, t.k)
	switch {
	case c < 0:
		l := th.mapDelete(t.l, k)
		if l == t.l {
			return t
		}
		return th.mapBalance(t.k, t.v, l, t.r)
	case c > 0:
		r := th.mapDelete(t.r, k)
		if r == t.r {
			return t
		}
		return th.mapBalance(t.k, t.v, t.l, r)
	}
	return th.mapGlue(t.l, t.r)
}

func (th *Thread) mapGlue(l, r *mapNode) *mapNode {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.size > r.size:
		k, v, l2 := th.mapDeleteMax(l)
		return th.mapBalance(k, v, l2, r)
	default:
		k, v, r2 := th.mapDeleteMin(r)
		return th.mapBalance(k, v, l, r2)
	}
}

func (th *Thread) mapDeleteMin(t *mapNode) (Value, Value, *mapNode) {
	if t.l == nil {
		return t.k, t.v, t.r
	}
	k, v, l := th.mapDeleteMin(t.l)
	return k, v, th.mapBalance(t.k, t.v, l, t.r)
}

func (th *Thread) mapDeleteMax(t *mapNode) (Value, Value, *mapNode) {
	if t.r == nil {
		return t.k, t.v, t.l
	}
	k, v, r := th.mapDeleteMax(t.r)
	return k, v, th.mapBalance(t.k, t.v, t.l, r)
}

// mapBuild builds a perfectly balanced tree from entries sorted by key
// with no duplicates.
func (th *Thread) mapBuild(keys, vals []Value) *mapNode {
	if len(keys) == 0 {
		return nil
	}
	th.poll()
	m := len(keys) / 2
	return th.mapNew(keys[m], vals[m], th.mapBuild(keys[:m], vals[:m]), th.mapBuild(keys[m+1:], vals[m+1:]))
}

// each calls f on every entry in key order until f returns false.
func (t *mapNode) each(f func(k, v Value) bool) bool {
	for t != nil {
		if !t.l.each(f) || !f(t.k, t.v) {
			return false
		}
		t = t.r
	}
	return true
}

// Entries returns the keys and values in key order.
func (m *Map) Entries() (keys, vals []Value) {
	n := m.Len()
	keys, vals = make([]Value, 0, n), make([]Value, 0, n)
	m.root.each(func(k, v Value) bool {
		keys = append(keys, k)
		vals = append(vals, v)
		return true
	})
	return keys, vals
}

// mapFromSorted builds a map from entries already sorted by key, without
// duplicate keys.
func (th *Thread) mapFromSorted(keys, vals []Value) *Map {
	if len(keys) == 0 {
		return emptyMap
	}
	th.alloc(sizeMap)
	return &Map{root: th.mapBuild(keys, vals)}
}

func (th *Thread) newMap(root *mapNode) *Map {
	if root == nil {
		return emptyMap
	}
	th.alloc(sizeMap)
	return &Map{root: root}
}

// NewMap builds a map from keys and values (for Go callers); for a key
// given twice the later value wins. It fails if a key is not comparable.
func NewMap(keys, vals []Value) (m *Map, err error) {
	if len(keys) != len(vals) {
		return nil, fmt.Errorf("NewMap: %d keys, %d values", len(keys), len(vals))
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r)
			}
			m, err = nil, e
		}
	}()
	th := scratchThread()
	var root *mapNode
	for i, k := range keys {
		root = th.mapInsert(root, k, vals[i], nil, false)
	}
	return th.newMap(root), nil
}

// Lookup returns the value for key k.
func (m *Map) Lookup(k Value) (v Value, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, isErr := r.(error)
			if !isErr {
				panic(r)
			}
			err = e
		}
	}()
	v, ok = scratchThread().mapLookup(m.root, k)
	return v, ok, nil
}

// A mapEdit is a transient: a fold that inserts into a map no other code
// can see while the fold runs (see foldInsert in builtins_map.go) changes
// the nodes it made itself in place instead of copying the path to each
// key. Nodes of the map it started from, and of any other map, are copied
// once, on first change. Once the fold returns, nothing uses its mapEdit
// again, so its nodes are as immutable as any other.
type mapEdit struct {
	// text indexes the nodes e owns whose key is a Text, by the key's
	// string; it is made at the first Text key looked up. Every ancestor
	// of a node e owns is e's too (a path is owned top-down and rotations
	// only move owned nodes), so a key found here can have its value set
	// in place with no walk: the walk would copy nothing and change no
	// size. Two Texts compare equal exactly when their strings are equal,
	// so a hit is the tree's answer. The index lives as long as the fold
	// (which drops it at the end) and holds one entry per node the fold
	// allocated and charged, so it is not charged itself.
	text map[string]*mapNode
	// made counts the nodes e made or copied; partial is set when the
	// index was made after some, which it then lacks.
	made    int
	partial bool
	// foreign counts the nodes of the tree that e does not own (those of
	// the map the fold started from, not yet copied). With foreign zero
	// and the index not partial, every Text key of the tree is in the
	// index, so a miss there means the key is absent.
	foreign int
}

// newMapEdit starts a transient over the tree t.
func newMapEdit(t *mapNode) *mapEdit { return &mapEdit{foreign: t.len()} }

// find returns e's node for k from the index, or nil.
func (e *mapEdit) find(k Value) *mapNode {
	s, ok := k.(Text)
	if !ok {
		return nil
	}
	if e.text == nil {
		e.text = map[string]*mapNode{}
		e.partial = e.made > 0
	}
	return e.text[string(s)]
}

// absent reports that k is certainly not in the tree (a Text key missing
// from a complete index).
func (e *mapEdit) absent(k Value) bool {
	_, ok := k.(Text)
	return ok && e.text != nil && !e.partial && e.foreign == 0
}

func (e *mapEdit) note(n *mapNode) {
	e.made++
	if e.text != nil {
		if s, ok := n.k.(Text); ok {
			e.text[string(s)] = n
		}
	}
}

// mapOwn returns t if e made it, or a copy that e owns.
func (th *Thread) mapOwn(t *mapNode, e *mapEdit) *mapNode {
	if t.edit == e {
		return t
	}
	th.alloc(sizeMapCopy)
	n := *t
	n.edit = e
	e.foreign--
	e.note(&n)
	return &n
}

func (t *mapNode) fixSize() { t.size = t.l.len() + t.r.len() + 1 }

// mapPathCap is the depth of path kept on the Go stack by mapInsertT; a
// weight-balanced tree of n nodes is at most about 2.4*log2(n) deep, so
// this covers maps of up to some 100 million keys (a deeper path only
// moves to the heap).
const mapPathCap = 64

// mapInsertT inserts or replaces k in a tree being built by e, changing
// e's nodes in place. It gives the tree the shape mapInsert would give it
// and charges what the recursive insert charged (each node on the path,
// and any a rotation moves, is owned once; a new key adds one node). It
// walks down once, recording the path, and back up: a new key adds one
// to each size on the path, and the sibling's size follows from the two
// sizes at hand, so balance is checked without reading the sibling.
func (th *Thread) mapInsertT(t *mapNode, k, v Value, e *mapEdit) *mapNode {
	var pathBuf [mapPathCap]*mapNode
	var leftBuf [mapPathCap]bool
	path, left := pathBuf[:0], leftBuf[:0]
	n := t
	switch kk := k.(type) {
	case Int:
		for n != nil {
			var c int
			if y, ok := n.k.(Int); ok {
				c = cmpInt(kk, y)
			} else {
				c = th.compare(k, n.k)
			}
			if c == 0 {
				break
			}
			path, left = append(path, n), append(left, c < 0)
			if c < 0 {
				n = n.l
			} else {
				n = n.r
			}
		}
	case Text:
		for n != nil {
			var c int
			if y, ok := n.k.(Text); ok {
				c = strings.Compare(string(kk), string(y))
			} else {
				c = th.compare(k, n.k)
			}
			if c == 0 {
				break
			}
			path, left = append(path, n), append(left, c < 0)
			if c < 0 {
				n = n.l
			} else {
				n = n.r
			}
		}
	default:
		for n != nil {
			c := th.compare(k, n.k)
			if c == 0 {
				break
			}
			path, left = append(path, n), append(left, c < 0)
			if c < 0 {
				n = n.l
			} else {
				n = n.r
			}
		}
	}
	var child *mapNode
	grew := n == nil
	if grew {
		th.alloc(sizeMapNode)
		child = &mapNode{k: k, v: v, size: 1, edit: e}
		e.note(child)
	} else {
		// k is present: no size changes, so the path needs no
		// rebalancing, only owning.
		child = th.mapOwn(n, e)
		child.v = v
	}
	for i := len(path) - 1; i >= 0; i-- {
		p := th.mapOwn(path[i], e)
		c := child
		if left[i] {
			if p.l != c {
				p.l = c
			}
		} else if p.r != c {
			p.r = c
		}
		child = p
		if !grew {
			continue
		}
		p.size++
		// The sizes of c and p give the sibling's.
		sl, sr := c.size, p.size-1-c.size
		if !left[i] {
			sl, sr = sr, sl
		}
		if sl+sr > 1 && (sr > mapDelta*sl || sl > mapDelta*sr) {
			child = th.mapBalanceT(p, e)
		}
	}
	return child
}

func cmpInt(a, b Int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mapBalanceT is mapBalance on a node e owns, rotating in place.
func (th *Thread) mapBalanceT(n *mapNode, e *mapEdit) *mapNode {
	sl, sr := n.l.len(), n.r.len()
	switch {
	case sl+sr <= 1:
	case sr > mapDelta*sl:
		r := th.mapOwn(n.r, e)
		if r.l.len() < mapRatio*r.r.len() {
			n.r = r.l
			n.fixSize()
			r.l = n
			r.fixSize()
			return r
		}
		rl := th.mapOwn(r.l, e)
		n.r = rl.l
		n.fixSize()
		r.l = rl.r
		r.fixSize()
		rl.l, rl.r = n, r
		rl.fixSize()
		return rl
	case sl > mapDelta*sr:
		l := th.mapOwn(n.l, e)
		if l.r.len() < mapRatio*l.l.len() {
			n.l = l.r
			n.fixSize()
			l.r = n
			l.fixSize()
			return l
		}
		lr := th.mapOwn(l.r, e)
		l.r = lr.l
		l.fixSize()
		n.l = lr.r
		n.fixSize()
		lr.l, lr.r = l, n
		lr.fixSize()
		return lr
	}
	return n
}
