package eval

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"strings"

	"github.com/unode-dev/unode/dag"
)

// Compare is the total order on comparable values used by Map, List.sort
// and the comparison operators. It returns -1, 0 or +1.
//
// Values of different kinds order by kind: Unit < Bool < Int < Float <
// Text < Bytes < Tuple < List < Map < Data < Node < Channel < Cluster.
// Within a kind: false < true; Ints and Floats numerically, with -0.0 ==
// 0.0 and NaN equal to itself and above +Inf; Text and Bytes bytewise
// (for UTF-8 text that is code point order); tuples, lists and maps
// lexicographically (maps as their sorted entry lists); Data by type
// reference, then constructor index, then fields; nodes by peer ID.
// Functions and futures have no order: comparing one is an error.
func Compare(a, b Value) (c int, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r)
			}
			err = e
		}
	}()
	cm := comparer{limit: maxCompareWork}
	return cm.top(a, b), nil
}

// Equal reports whether Compare(a, b) == 0.
func Equal(a, b Value) (bool, error) {
	c, err := Compare(a, b)
	return c == 0, err
}

// compare compares for the language, charging fuel as it goes: one unit
// per 8 values visited, none for a comparison of at most 8.
func (th *Thread) compare(a, b Value) int {
	// Fast paths for the usual map keys and sort elements.
	switch x := a.(type) {
	case Int:
		if y, ok := b.(Int); ok {
			return cmp.Compare(x, y)
		}
	case Text:
		if y, ok := b.(Text); ok {
			return strings.Compare(string(x), string(y))
		}
	}
	cm := th.comparer()
	c := cm.top(a, b)
	cm.finish(true)
	return c
}

// comparer returns a comparer charging th (or, for a scratch thread
// that accounts nothing, one bounded by maxCompareWork instead).
func (th *Thread) comparer() comparer {
	if th.scratch {
		return comparer{limit: maxCompareWork}
	}
	return comparer{th: th}
}

// comparer carries the accounting of one or more structural comparisons
// (a sort makes many with one comparer, so its fuel is the total work).
//
// Work is the number of values visited; it is charged to the thread's
// fuel every compareChunk values (one unit per 8), so a long comparison
// stops at the fuel budget, and at cancellation or the deadline, while
// it runs. A comparison without a thread stops at limit instead.
//
// Shared structure: once a comparison has visited memoStart values, it
// remembers the pairs of composite values (by pointer identity) it has
// found equal, and treats a remembered pair as equal at once. So the
// work is proportional to the distinct pairs met, not to the expansion
// of the sharing: `a32 == b32` for two towers of 32 levels of pairs
// visits a few hundred values, not 2^33. The memo depends only on the
// values' structure and sharing, which the program made, so the fuel
// charged is deterministic. Remembered pairs are charged to the memory
// budget (sizeMemoEntry each).
type comparer struct {
	th    *Thread
	limit int64 // without a thread: the most work allowed; 0 for none
	work  int64 // values visited, over every comparison made
	paid  int64 // work already charged to fuel, a multiple of 8
	next  int64 // work at which slow runs next
	start int64 // work when the current top-level comparison began
	memo  map[pairKey]struct{}
}

type pairKey struct{ a, b Value }

// top makes one top-level comparison.
func (c *comparer) top(a, b Value) int {
	c.start = c.work
	c.memo = nil
	if c.next == 0 {
		c.next = compareChunk
	}
	return c.values(a, b, 0)
}

// tick counts one value visited.
func (c *comparer) tick() {
	c.work++
	if c.work >= c.next {
		c.slow()
	}
}

// slow runs every compareChunk values: charge the fuel, check the work
// limit, start the memo once the comparison is big.
func (c *comparer) slow() {
	c.next = c.work + compareChunk
	if c.th != nil {
		n := (c.work - c.paid) &^ 7
		c.paid += n
		c.th.charge(n / 8)
	}
	if c.limit > 0 && c.work > c.limit {
		panic(&BudgetError{Which: BudgetFuel, Limit: c.limit})
	}
	if c.memo == nil && c.work-c.start > memoStart {
		c.memo = map[pairKey]struct{}{}
	}
}

// finish charges the rest of the work. A single comparison of at most 8
// values costs nothing (single is false for a sort's total).
func (c *comparer) finish(single bool) {
	if c.th == nil || (single && c.work <= 8) {
		return
	}
	if n := (c.work - c.paid) / 8; n > 0 {
		c.paid += n * 8
		c.th.charge(n)
	}
}

// remember records that a and b, composite values, are equal.
func (c *comparer) remember(a, b Value) {
	if c.th != nil {
		c.th.alloc(sizeMemoEntry)
	}
	c.memo[pairKey{a, b}] = struct{}{}
}

// composite reports whether v is a value the memo may key on: a
// comparable pointer to a structure that can be shared.
func composite(v Value) bool {
	switch v.(type) {
	case *Tuple, *List, *Map, *Data:
		return true
	}
	return false
}

// chainPair is a pair along a right-nested chain, remembered if the
// chain ends equal.
type chainPair struct {
	a, b Value
	work int64 // work when the pair was reached
}

func kindRank(v Value) int {
	switch v.(type) {
	case Unit:
		return 0
	case Bool:
		return 1
	case Int:
		return 2
	case Float:
		return 3
	case Text:
		return 4
	case Bytes:
		return 5
	case *Tuple:
		return 6
	case *List:
		return 7
	case *Map:
		return 8
	case *Data:
		return 9
	case *Node:
		return 10
	case *Channel:
		return 11
	case *Cluster:
		return 12
	}
	return -1
}

func compareFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	// At least one NaN.
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	}
	return -1
}

func compareTypeRef(a, b dag.TypeRef) int {
	if c := strings.Compare(a.Builtin, b.Builtin); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Def.CID.Bytes(), b.Def.CID.Bytes()); c != 0 {
		return c
	}
	return cmp.Compare(a.Def.Member, b.Def.Member)
}

// values compares a and b. It loops instead of recursing on the last
// element of a tuple, list or constructor, so long right-nested
// structures (linked lists written as data types) compare in constant Go
// stack; other nesting is bounded by maxValueDepth.
func (c *comparer) values(a, b Value, depth int) int {
	c.tick()
	// Fast paths for the usual map keys and sort elements.
	switch x := a.(type) {
	case Int:
		if y, ok := b.(Int); ok {
			return cmp.Compare(x, y)
		}
	case Text:
		if y, ok := b.(Text); ok {
			return strings.Compare(string(x), string(y))
		}
	}
	if c.memo != nil {
		return c.memoized(a, b, depth)
	}
	// Without the memo: every comparison until it has visited memoStart
	// values.
	for {
		c.tick()
		ra, rb := orderedKinds(a, b, depth)
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		var xs, ys []Value
		switch x := a.(type) {
		case Unit:
			return 0
		case Bool:
			y := b.(Bool)
			switch {
			case x == y:
				return 0
			case !bool(x):
				return -1
			}
			return 1
		case Int:
			return cmp.Compare(x, b.(Int))
		case Float:
			return compareFloat(float64(x), float64(b.(Float)))
		case Text:
			return strings.Compare(string(x), string(b.(Text)))
		case Bytes:
			return strings.Compare(string(x), string(b.(Bytes)))
		case *Node:
			return strings.Compare(x.ID, b.(*Node).ID)
		case *Channel:
			y := b.(*Channel)
			if c := bytes.Compare(x.ID, y.ID); c != 0 {
				return c
			}
			return strings.Compare(x.Node, y.Node)
		case *Cluster:
			return compareClusters(x, b.(*Cluster))
		case *Map:
			return c.maps(x, b.(*Map), depth)
		case *Tuple:
			xs, ys = x.Elems, b.(*Tuple).Elems
		case *List:
			xs, ys = x.Elems(), b.(*List).Elems()
		case *Data:
			y := b.(*Data)
			if x.ctor != y.ctor {
				if c := compareTypeRef(x.ctor.typ, y.ctor.typ); c != 0 {
					return c
				}
				if c := cmp.Compare(x.ctor.index, y.ctor.index); c != 0 {
					return c
				}
			}
			xs, ys = x.Fields, y.Fields
		}
		n := min(len(xs), len(ys))
		if n == 0 || len(xs) != len(ys) {
			for i := 0; i < n; i++ {
				if v := c.values(xs[i], ys[i], depth+1); v != 0 {
					return v
				}
			}
			return cmp.Compare(len(xs), len(ys))
		}
		for i := 0; i < n-1; i++ {
			if v := c.values(xs[i], ys[i], depth+1); v != 0 {
				return v
			}
		}
		a, b = xs[n-1], ys[n-1]
	}
}

// orderedKinds ranks a and b by kind (kindRank), failing on values
// nested too deep or of a kind with no order.
func orderedKinds(a, b Value, depth int) (ra, rb int) {
	if depth > maxValueDepth {
		panic(&RuntimeError{Msg: fmt.Sprintf("value nested more than %d levels deep", maxValueDepth)})
	}
	ra, rb = kindRank(a), kindRank(b)
	if ra < 0 || rb < 0 {
		bad := a
		if ra >= 0 {
			bad = b
		}
		panic(&RuntimeError{Msg: "cannot compare " + describe(bad)})
	}
	return ra, rb
}

// memoized compares with the memo: it looks remembered pairs up, and
// remembers this pair (and every memoStride-th pair down its chain) if
// they are equal and were costly enough.
func (c *comparer) memoized(a, b Value, depth int) (r int) {
	entry := c.work
	rootA, rootB := a, b
	var chain []chainPair
	steps := 0
walk:
	for {
		c.tick()
		ra, rb := orderedKinds(a, b, depth)
		if ra != rb {
			r = cmp.Compare(ra, rb)
			break walk
		}
		if c.memo != nil && ra >= 6 && ra <= 9 { // Tuple, List, Map, Data
			// (An empty memo, the usual case of a big comparison of
			// unshared values, costs no lookup.)
			if len(c.memo) > 0 {
				if _, ok := c.memo[pairKey{a, b}]; ok {
					r = 0
					break walk
				}
			}
			if steps > 0 && steps%memoStride == 0 {
				chain = append(chain, chainPair{a, b, c.work})
			}
			steps++
		}
		var xs, ys []Value
		switch x := a.(type) {
		case Unit:
			r = 0
			break walk
		case Bool:
			y := b.(Bool)
			switch {
			case x == y:
				r = 0
				break walk
			case !bool(x):
				r = -1
				break walk
			}
			r = 1
			break walk
		case Int:
			r = cmp.Compare(x, b.(Int))
			break walk
		case Float:
			r = compareFloat(float64(x), float64(b.(Float)))
			break walk
		case Text:
			r = strings.Compare(string(x), string(b.(Text)))
			break walk
		case Bytes:
			r = strings.Compare(string(x), string(b.(Bytes)))
			break walk
		case *Node:
			r = strings.Compare(x.ID, b.(*Node).ID)
			break walk
		case *Channel:
			y := b.(*Channel)
			if c := bytes.Compare(x.ID, y.ID); c != 0 {
				r = c
				break walk
			}
			r = strings.Compare(x.Node, y.Node)
			break walk
		case *Cluster:
			r = compareClusters(x, b.(*Cluster))
			break walk
		case *Map:
			r = c.maps(x, b.(*Map), depth)
			break walk
		case *Tuple:
			xs, ys = x.Elems, b.(*Tuple).Elems
		case *List:
			xs, ys = x.Elems(), b.(*List).Elems()
		case *Data:
			y := b.(*Data)
			if x.ctor != y.ctor {
				if c := compareTypeRef(x.ctor.typ, y.ctor.typ); c != 0 {
					r = c
					break walk
				}
				if c := cmp.Compare(x.ctor.index, y.ctor.index); c != 0 {
					r = c
					break walk
				}
			}
			xs, ys = x.Fields, y.Fields
		}
		n := min(len(xs), len(ys))
		if n == 0 || len(xs) != len(ys) {
			for i := 0; i < n; i++ {
				if v := c.values(xs[i], ys[i], depth+1); v != 0 {
					r = v
					break walk
				}
			}
			r = cmp.Compare(len(xs), len(ys))
			break walk
		}
		for i := 0; i < n-1; i++ {
			if v := c.values(xs[i], ys[i], depth+1); v != 0 {
				r = v
				break walk
			}
		}
		a, b = xs[n-1], ys[n-1]
	}
	if r == 0 && c.work-entry >= memoMinWork && c.memo != nil {
		if composite(rootA) && composite(rootB) {
			c.remember(rootA, rootB)
		}
		for _, p := range chain {
			if c.work-p.work >= memoMinWork {
				c.remember(p.a, p.b)
			}
		}
	}
	return r
}

// maps compares two maps as their sorted entry lists, walking both trees
// in order without copying their entries.
func (c *comparer) maps(x, y *Map, depth int) int {
	var xi, yi mapIter
	xi.init(x.root)
	yi.init(y.root)
	for {
		p, q := xi.next(), yi.next()
		switch {
		case p == nil && q == nil:
			return 0
		case p == nil:
			return -1
		case q == nil:
			return 1
		}
		if r := c.values(p.k, q.k, depth+1); r != 0 {
			return r
		}
		if r := c.values(p.v, q.v, depth+1); r != 0 {
			return r
		}
	}
}

// mapIter walks a map's tree in key order; its stack holds at most the
// tree's height (logarithmic in its size) of nodes.
type mapIter struct {
	stack []*mapNode
	buf   [24]*mapNode
}

func (it *mapIter) init(t *mapNode) {
	it.stack = it.buf[:0]
	it.left(t)
}

func (it *mapIter) left(t *mapNode) {
	for ; t != nil; t = t.l {
		it.stack = append(it.stack, t)
	}
}

func (it *mapIter) next() *mapNode {
	if len(it.stack) == 0 {
		return nil
	}
	t := it.stack[len(it.stack)-1]
	it.stack = it.stack[:len(it.stack)-1]
	it.left(t.r)
	return t
}

// describe names a value's kind with an article, for error messages:
// "an Int", "a function".
func describe(v Value) string {
	var name string
	switch v.(type) {
	case *Closure, *Builtin, *CtorFn, *Partial, *DefFn:
		name = "function"
	case *Future:
		name = "future"
	case nil:
		return "nothing"
	default:
		name = v.Type()
	}
	if strings.ContainsRune("AEIOUaeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}
