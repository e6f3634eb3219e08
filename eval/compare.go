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
	var work int64
	return compareValues(a, b, 0, &work), nil
}

// Equal reports whether Compare(a, b) == 0.
func Equal(a, b Value) (bool, error) {
	c, err := Compare(a, b)
	return c == 0, err
}

// compare compares for the language, charging fuel for big comparisons:
// one unit per 8 values visited beyond the first 8.
func (th *Thread) compare(a, b Value) int {
	var work int64
	c := compareValues(a, b, 0, &work)
	if work > 8 {
		th.charge(work / 8)
	}
	return c
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

// compareValues loops instead of recursing on the last element of a
// tuple, list or constructor, so long right-nested structures (linked
// lists written as data types) compare in constant Go stack; other
// nesting is bounded by maxValueDepth.
// work counts the values visited, for fuel.
func compareValues(a, b Value, depth int, work *int64) int {
	*work++
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
	for {
		*work++
		if depth > maxValueDepth {
			panic(&RuntimeError{Msg: fmt.Sprintf("value nested more than %d levels deep", maxValueDepth)})
		}
		ra, rb := kindRank(a), kindRank(b)
		if ra < 0 || rb < 0 {
			bad := a
			if ra >= 0 {
				bad = b
			}
			panic(&RuntimeError{Msg: "cannot compare " + describe(bad)})
		}
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
			return strings.Compare(x.Name, b.(*Cluster).Name)
		case *Map:
			return compareMaps(x, b.(*Map), depth, work)
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
				if c := compareValues(xs[i], ys[i], depth+1, work); c != 0 {
					return c
				}
			}
			return cmp.Compare(len(xs), len(ys))
		}
		for i := 0; i < n-1; i++ {
			if c := compareValues(xs[i], ys[i], depth+1, work); c != 0 {
				return c
			}
		}
		a, b = xs[n-1], ys[n-1]
	}
}

func compareMaps(x, y *Map, depth int, work *int64) int {
	xk, xv := x.Entries()
	yk, yv := y.Entries()
	for i := 0; i < len(xk) && i < len(yk); i++ {
		if c := compareValues(xk[i], yk[i], depth+1, work); c != 0 {
			return c
		}
		if c := compareValues(xv[i], yv[i], depth+1, work); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(xk), len(yk))
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
