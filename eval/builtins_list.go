package eval

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/unode-dev/unode/dag"
)

// Lists. Functions come first and the list last, so that partial
// application and |> read naturally: xs |> List.map f |> List.filter p.
// Operations that may find nothing (head, last, at, find, maximum, ...)
// return an Optional.

// sortValues sorts by Compare, stably. Lists of only Ints or only Texts
// take a faster unstable sort: equal Ints (or Texts) are identical, so
// the result is the same. Either way the sort stops at cancellation and
// the deadline while it runs: the comparisons of the general path charge
// fuel as they go, and the fast paths sort and merge in runs that poll.
func (th *Thread) sortValues(vs []Value) {
	ints := make([]int64, 0, len(vs))
	for _, v := range vs {
		x, ok := v.(Int)
		if !ok {
			break
		}
		ints = append(ints, int64(x))
	}
	if len(ints) == len(vs) {
		sortOrdered(th, ints)
		for i, x := range ints {
			vs[i] = MakeInt(x)
		}
		return
	}
	ints = nil
	texts := make([]string, 0, len(vs))
	for _, v := range vs {
		x, ok := v.(Text)
		if !ok {
			break
		}
		texts = append(texts, string(x))
	}
	if len(texts) == len(vs) {
		sortOrdered(th, texts)
		for i, x := range texts {
			vs[i] = Text(x)
		}
		return
	}
	cm := th.comparer()
	slices.SortStableFunc(vs, func(a, b Value) int { return cm.top(a, b) })
	cm.finish(false)
}

// sortRun is the length of the runs sortOrdered sorts without a check:
// a few milliseconds of work.
const sortRun = 1 << 16

// sortOrdered sorts xs (whose fuel was charged) in runs of sortRun
// elements, then merges the runs pairwise, polling for cancellation
// between runs and while merging, so that a sort of millions of elements
// stops as soon as the evaluation is canceled.
func sortOrdered[T cmp.Ordered](th *Thread, xs []T) {
	n := len(xs)
	if n <= sortRun {
		slices.Sort(xs)
		return
	}
	for lo := 0; lo < n; lo += sortRun {
		slices.Sort(xs[lo:min(lo+sortRun, n)])
		th.check()
	}
	buf := make([]T, n)
	src, dst := xs, buf
	for w := sortRun; w < n; w *= 2 {
		for lo := 0; lo < n; lo += 2 * w {
			mid, hi := min(lo+w, n), min(lo+2*w, n)
			mergeOrdered(th, dst[lo:hi], src[lo:mid], src[mid:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &xs[0] {
		copy(xs, src)
	}
}

// mergeOrdered merges the sorted a and b into dst (len(a)+len(b)).
func mergeOrdered[T cmp.Ordered](th *Thread, dst, a, b []T) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if b[j] < a[i] {
			dst[k] = b[j]
			j++
		} else {
			dst[k] = a[i]
			i++
		}
		k++
		if k%sortRun == 0 {
			th.check()
		}
	}
	k += copy(dst[k:], a[i:])
	copy(dst[k:], b[j:])
}

// sortDepth weighs callbacks made from inside the sort's recursion
// (about 2 log2 n frames of a few hundred bytes; n < 2^40).
const sortDepth = 64

// sortCost is the fuel charged for sorting n elements: n log n.
func sortCost(n int) int64 {
	if n < 2 {
		return 0
	}
	return int64(n) * int64(bits.Len(uint(n)))
}

func init() {
	def1("List.length", "Number of elements", func(th *Thread, l Value) Value {
		return MakeInt(int64(th.argList("List.length", l).n))
	})
	def1("List.isEmpty", "Whether the list is empty", func(th *Thread, l Value) Value {
		return MakeBool(th.argList("List.isEmpty", l).n == 0)
	})
	def1("List.singleton", "[x]", func(th *Thread, x Value) Value {
		l, out := th.makeList(1)
		out[0] = x
		return l
	})
	def2("List.cons", "List.cons x xs = x :: xs", func(th *Thread, x, l Value) Value {
		return th.cons(x, th.argList("List.cons", l))
	})
	def2("List.snoc", "List.snoc xs x = xs ++ [x] (amortised constant time)", func(th *Thread, l, x Value) Value {
		return th.snoc(th.argList("List.snoc", l), x)
	})
	def2("List.append", "List.append xs ys = xs ++ ys", func(th *Thread, a, b Value) Value {
		return th.appendLists(th.argList("List.append", a), th.argList("List.append", b))
	})
	def1("List.head", "Some first element, or None", func(th *Thread, l Value) Value {
		x := th.argList("List.head", l)
		if x.n == 0 {
			return noneValue
		}
		return th.some(x.At(0))
	})
	def1("List.tail", "Some list without its first element, or None", func(th *Thread, l Value) Value {
		x := th.argList("List.tail", l)
		if x.n == 0 {
			return noneValue
		}
		return th.some(th.tail(x))
	})
	def1("List.last", "Some last element, or None", func(th *Thread, l Value) Value {
		x := th.argList("List.last", l)
		if x.n == 0 {
			return noneValue
		}
		return th.some(x.last())
	})
	def1("List.init", "Some list without its last element, or None", func(th *Thread, l Value) Value {
		x := th.argList("List.init", l)
		if x.n == 0 {
			return noneValue
		}
		th.alloc(sizeList)
		return th.some(x.view(0, x.n-1))
	})
	def2("List.at", "List.at i xs: Some element i (from 0), or None", func(th *Thread, i, l Value) Value {
		k := th.argInt("List.at", i)
		x := th.argList("List.at", l)
		if k < 0 || k >= int64(x.n) {
			return noneValue
		}
		return th.some(x.At(int(k)))
	})
	def2("List.take", "List.take n xs: the first n elements", func(th *Thread, n, l Value) Value {
		x := th.argList("List.take", l)
		k := clamp(th.argInt("List.take", n), x.n)
		if k == x.n {
			return x
		}
		th.alloc(sizeList)
		return x.view(0, k)
	})
	def2("List.drop", "List.drop n xs: all but the first n elements", func(th *Thread, n, l Value) Value {
		x := th.argList("List.drop", l)
		k := clamp(th.argInt("List.drop", n), x.n)
		if k == 0 {
			return x
		}
		th.alloc(sizeList)
		return x.view(k, x.n)
	})
	def2("List.splitAt", "List.splitAt n xs = (List.take n xs, List.drop n xs)", func(th *Thread, n, l Value) Value {
		x := th.argList("List.splitAt", l)
		k := clamp(th.argInt("List.splitAt", n), x.n)
		th.alloc(2 * sizeList)
		return th.tuple2(x.view(0, k), x.view(k, x.n))
	})
	def1("List.reverse", "The elements in reverse order", func(th *Thread, l Value) Value {
		xs := th.argList("List.reverse", l).Elems()
		th.chargeLen(len(xs))
		r, out := th.makeList(len(xs))
		for i, x := range xs {
			th.poll()
			out[len(xs)-1-i] = x
		}
		return r
	})
	def2("List.range", "List.range a b = [a, a+1, ..., b-1] (empty if b <= a)", func(th *Thread, a, b Value) Value {
		lo, hi := th.argInt("List.range", a), th.argInt("List.range", b)
		if hi <= lo {
			return emptyList
		}
		n := uint64(hi) - uint64(lo)
		if n > maxListLen {
			panic(&BudgetError{Which: BudgetMemory, Limit: th.maxMem})
		}
		th.checkCount(int64(n), sizeSlot)
		th.chargeLen(int(n))
		l, out := th.makeList(int(n))
		for i := range out {
			th.poll()
			out[i] = MakeInt(lo + int64(i))
		}
		return l
	})
	def2("List.replicate", "List.replicate n x: n copies of x", func(th *Thread, n, x Value) Value {
		k := th.argInt("List.replicate", n)
		if k <= 0 {
			return emptyList
		}
		th.checkCount(k, sizeSlot)
		th.chargeLen(int(k))
		l, out := th.makeList(int(k))
		for i := range out {
			th.poll()
			out[i] = x
		}
		return l
	})
	def2("List.map", "List.map f xs: f applied to every element", func(th *Thread, f, l Value) Value {
		xs := th.argList("List.map", l).Elems()
		r, out := th.makeList(len(xs))
		for i, x := range xs {
			out[i] = th.call1(f, x)
		}
		return r
	}).ho()
	def1("List.indexed", "List.indexed xs: [(0, x0), (1, x1), ...]", func(th *Thread, l Value) Value {
		xs := th.argList("List.indexed", l).Elems()
		th.chargeLen(len(xs))
		r, out := th.makeList(len(xs))
		for i, x := range xs {
			th.poll()
			out[i] = th.tuple2(MakeInt(int64(i)), x)
		}
		return r
	})
	def2("List.filter", "List.filter p xs: the elements for which p is true", func(th *Thread, p, l Value) Value {
		xs := th.argList("List.filter", l).Elems()
		var out []Value
		for _, x := range xs {
			if th.truthy("List.filter", p, x) {
				out = append(out, x)
			}
		}
		return th.listOf(out)
	}).ho()
	def2("List.filterMap", "List.filterMap f xs: the payloads of the Somes f returns", func(th *Thread, f, l Value) Value {
		xs := th.argList("List.filterMap", l).Elems()
		var out []Value
		for _, x := range xs {
			if v, ok := th.argOptional("List.filterMap", th.call1(f, x)); ok {
				out = append(out, v)
			}
		}
		return th.listOf(out)
	}).ho()
	def2("List.partition", "List.partition p xs = (elements where p holds, the others)", func(th *Thread, p, l Value) Value {
		xs := th.argList("List.partition", l).Elems()
		var yes, no []Value
		for _, x := range xs {
			if th.truthy("List.partition", p, x) {
				yes = append(yes, x)
			} else {
				no = append(no, x)
			}
		}
		return th.tuple2(th.listOf(yes), th.listOf(no))
	}).ho()
	def3("List.foldl", "List.foldl f acc xs: f (... (f (f acc x0) x1) ...) xn", func(th *Thread, f, acc, l Value) Value {
		for _, x := range th.argList("List.foldl", l).Elems() {
			acc = th.call2(f, acc, x)
		}
		return acc
	}).ho()
	def3("List.foldr", "List.foldr f z xs: f x0 (f x1 (... (f xn z)))", func(th *Thread, f, acc, l Value) Value {
		xs := th.argList("List.foldr", l).Elems()
		for i := len(xs) - 1; i >= 0; i-- {
			acc = th.call2(f, xs[i], acc)
		}
		return acc
	}).ho()
	def2("List.flatMap", "List.flatMap f xs: the concatenation of f applied to every element", func(th *Thread, f, l Value) Value {
		var out []Value
		for _, x := range th.argList("List.flatMap", l).Elems() {
			ys := th.argList("List.flatMap (result)", th.call1(f, x)).Elems()
			th.chargeLen(len(ys))
			th.checkCount(int64(len(out)+len(ys)), sizeSlot)
			out = append(out, ys...)
		}
		return th.listOf(out)
	}).ho()
	def1("List.concat", "Concatenate a list of lists", func(th *Thread, l Value) Value {
		var out []Value
		for _, x := range th.argList("List.concat", l).Elems() {
			th.poll()
			ys := th.argList("List.concat", x).Elems()
			th.chargeLen(len(ys))
			th.checkCount(int64(len(out)+len(ys)), sizeSlot)
			out = append(out, ys...)
		}
		return th.listOf(out)
	})
	def2("List.any", "Whether p holds for some element", func(th *Thread, p, l Value) Value {
		for _, x := range th.argList("List.any", l).Elems() {
			if th.truthy("List.any", p, x) {
				return True
			}
		}
		return False
	}).ho()
	def2("List.all", "Whether p holds for every element", func(th *Thread, p, l Value) Value {
		for _, x := range th.argList("List.all", l).Elems() {
			if !th.truthy("List.all", p, x) {
				return False
			}
		}
		return True
	}).ho()
	def2("List.count", "How many elements p holds for", func(th *Thread, p, l Value) Value {
		n := 0
		for _, x := range th.argList("List.count", l).Elems() {
			if th.truthy("List.count", p, x) {
				n++
			}
		}
		return MakeInt(int64(n))
	}).ho()
	def2("List.find", "Some first element p holds for, or None", func(th *Thread, p, l Value) Value {
		for _, x := range th.argList("List.find", l).Elems() {
			if th.truthy("List.find", p, x) {
				return th.some(x)
			}
		}
		return noneValue
	}).ho()
	def2("List.takeWhile", "The longest prefix p holds for", func(th *Thread, p, l Value) Value {
		x := th.argList("List.takeWhile", l)
		for i, e := range x.Elems() {
			if !th.truthy("List.takeWhile", p, e) {
				th.alloc(sizeList)
				return x.view(0, i)
			}
		}
		return x
	}).ho()
	def2("List.dropWhile", "The list without the longest prefix p holds for", func(th *Thread, p, l Value) Value {
		x := th.argList("List.dropWhile", l)
		for i, e := range x.Elems() {
			if !th.truthy("List.dropWhile", p, e) {
				th.alloc(sizeList)
				return x.view(i, x.n)
			}
		}
		return emptyList
	}).ho()
	def2("List.contains", "List.contains x xs: whether x is an element (by ==)", func(th *Thread, v, l Value) Value {
		xs := th.argList("List.contains", l).Elems()
		th.chargeLen(len(xs))
		for _, x := range xs {
			th.poll()
			if th.compare(v, x) == 0 {
				return True
			}
		}
		return False
	})
	def2("List.indexOf", "List.indexOf x xs: Some index of the first element == x, or None", func(th *Thread, v, l Value) Value {
		xs := th.argList("List.indexOf", l).Elems()
		th.chargeLen(len(xs))
		for i, x := range xs {
			th.poll()
			if th.compare(v, x) == 0 {
				return th.some(MakeInt(int64(i)))
			}
		}
		return noneValue
	})
	def2("List.zip", "Pairs of corresponding elements, as long as the shorter list", func(th *Thread, a, b Value) Value {
		xs, ys := th.argList("List.zip", a).Elems(), th.argList("List.zip", b).Elems()
		n := min(len(xs), len(ys))
		th.chargeLen(n)
		l, out := th.makeList(n)
		for i := range out {
			th.poll()
			out[i] = th.tuple2(xs[i], ys[i])
		}
		return l
	})
	def3("List.zipWith", "List.zipWith f xs ys: f applied to corresponding elements", func(th *Thread, f, a, b Value) Value {
		xs, ys := th.argList("List.zipWith", a).Elems(), th.argList("List.zipWith", b).Elems()
		n := min(len(xs), len(ys))
		l, out := th.makeList(n)
		for i := range out {
			out[i] = th.call2(f, xs[i], ys[i])
		}
		return l
	}).ho()
	def1("List.unzip", "A list of pairs as a pair of lists", func(th *Thread, l Value) Value {
		ps := th.argList("List.unzip", l).Elems()
		th.chargeLen(len(ps))
		a, xs := th.makeList(len(ps))
		b, ys := th.makeList(len(ps))
		for i, p := range ps {
			th.poll()
			e := th.argTuple("List.unzip", p, 2)
			xs[i], ys[i] = e[0], e[1]
		}
		return th.tuple2(a, b)
	})
	def2("List.intersperse", "List.intersperse sep xs: sep between every two elements", func(th *Thread, sep, l Value) Value {
		xs := th.argList("List.intersperse", l).Elems()
		if len(xs) < 2 {
			return l
		}
		th.chargeLen(len(xs))
		r, out := th.makeList(2*len(xs) - 1)
		for i, x := range xs {
			th.poll()
			if i > 0 {
				out[2*i-1] = sep
			}
			out[2*i] = x
		}
		return r
	})
	def1("List.sum", "Sum of Ints (checked) or of Floats; 0 for []", func(th *Thread, l Value) Value {
		xs := th.argList("List.sum", l).Elems()
		th.chargeLen(len(xs))
		if len(xs) == 0 {
			return MakeInt(0)
		}
		acc := xs[0]
		for _, x := range xs[1:] {
			th.poll()
			acc = opAdd(th, acc, x)
		}
		return acc
	})
	def1("List.product", "Product of Ints (checked) or of Floats; 1 for []", func(th *Thread, l Value) Value {
		xs := th.argList("List.product", l).Elems()
		th.chargeLen(len(xs))
		if len(xs) == 0 {
			return MakeInt(1)
		}
		acc := xs[0]
		for _, x := range xs[1:] {
			th.poll()
			acc = opMul(th, acc, x)
		}
		return acc
	})
	def1("List.maximum", "Some largest element, or None", func(th *Thread, l Value) Value {
		xs := th.argList("List.maximum", l).Elems()
		if len(xs) == 0 {
			return noneValue
		}
		th.chargeLen(len(xs))
		m := xs[0]
		for _, x := range xs[1:] {
			th.poll()
			if th.compare(x, m) > 0 {
				m = x
			}
		}
		return th.some(m)
	})
	def1("List.minimum", "Some smallest element, or None", func(th *Thread, l Value) Value {
		xs := th.argList("List.minimum", l).Elems()
		if len(xs) == 0 {
			return noneValue
		}
		th.chargeLen(len(xs))
		m := xs[0]
		for _, x := range xs[1:] {
			th.poll()
			if th.compare(x, m) < 0 {
				m = x
			}
		}
		return th.some(m)
	})
	def1("List.sort", "Sort by the total order of values (stable)", func(th *Thread, l Value) Value {
		xs := th.argList("List.sort", l).Elems()
		th.charge(sortCost(len(xs)))
		r, out := th.makeList(len(xs))
		copy(out, xs)
		th.sortValues(out)
		return r
	})
	def2("List.sortBy", "List.sortBy cmp xs: stable sort where cmp a b is negative, 0 or positive", func(th *Thread, f, l Value) Value {
		xs := th.argList("List.sortBy", l).Elems()
		th.charge(sortCost(len(xs)))
		r, out := th.makeList(len(xs))
		copy(out, xs)
		slices.SortStableFunc(out, func(a, b Value) int {
			c := th.argInt("List.sortBy (comparison result)", th.call2(f, a, b))
			switch {
			case c < 0:
				return -1
			case c > 0:
				return 1
			}
			return 0
		})
		return r
	}).ho().deep(sortDepth)
	def2("List.sortOn", "List.sortOn key xs: stable sort by key x", func(th *Thread, f, l Value) Value {
		xs := th.argList("List.sortOn", l).Elems()
		th.charge(sortCost(len(xs)))
		type kv struct{ k, v Value }
		th.checkCount(int64(len(xs)), 2*sizeSlot)
		ps := make([]kv, len(xs))
		for i, x := range xs {
			ps[i] = kv{th.call1(f, x), x}
		}
		cm := th.comparer()
		slices.SortStableFunc(ps, func(a, b kv) int { return cm.top(a.k, b.k) })
		cm.finish(false)
		r, out := th.makeList(len(xs))
		for i, p := range ps {
			out[i] = p.v
		}
		return r
	}).ho()
	def1("List.dedup", "Remove duplicates, keeping first occurrences in order", func(th *Thread, l Value) Value {
		xs := th.argList("List.dedup", l).Elems()
		th.charge(sortCost(len(xs)))
		var seen *mapNode
		var out []Value
		for _, x := range xs {
			th.poll()
			if _, ok := th.mapLookup(seen, x); !ok {
				seen = th.mapInsert(seen, x, UnitValue, nil, false)
				out = append(out, x)
			}
		}
		return th.listOf(out)
	})
}

// cmpResult reads the result of a user comparison function (negative, 0
// or positive).
func (th *Thread) cmpResult(name string, v Value) int64 {
	return th.argInt(name+" (comparison result)", v)
}

// Issue 13: what a user reaches for first.
func init() {
	def2("List.groupBy", "List.groupBy eq xs: runs of consecutive elements, each element x joining the run of its first element f while eq f x", func(th *Thread, eq, l Value) Value {
		x := th.argList("List.groupBy", l)
		xs := x.Elems()
		var groups []Value
		for i := 0; i < len(xs); {
			j := i + 1
			for j < len(xs) && th.argBool("List.groupBy (predicate result)", th.call2(eq, xs[i], xs[j])) {
				j++
			}
			th.alloc(sizeList)
			groups = append(groups, x.view(i, j))
			i = j
		}
		return th.listOf(groups)
	}).ho()
	def3("List.scanl", "List.scanl f acc xs = [acc, f acc x0, f (f acc x0) x1, ...] (one longer than xs)", func(th *Thread, f, acc, l Value) Value {
		xs := th.argList("List.scanl", l).Elems()
		r, out := th.makeList(len(xs) + 1)
		out[0] = acc
		for i, x := range xs {
			acc = th.call2(f, acc, x)
			out[i+1] = acc
		}
		return r
	}).ho()
	def3("List.iterate", "List.iterate f n x = [x, f x, f (f x), ...], n elements", func(th *Thread, f, n, x Value) Value {
		k := th.argInt("List.iterate", n)
		if k <= 0 {
			return emptyList
		}
		th.checkCount(k, sizeSlot)
		r, out := th.makeList(int(k))
		out[0] = x
		for i := 1; i < len(out); i++ {
			out[i] = th.call1(f, out[i-1])
		}
		return r
	}).ho()
	def2("List.unfold", "List.unfold f seed: the xs of f seed = Some (x, seed'), f seed' = Some (x', seed''), ... until None (a loop that never ends stops at the fuel budget)", func(th *Thread, f, seed Value) Value {
		var out []Value
		for {
			v, ok := th.argOptional("List.unfold", th.call1(f, seed))
			if !ok {
				return th.listOf(out)
			}
			p := th.argTuple("List.unfold", v, 2)
			th.checkCount(int64(len(out)+1), sizeSlot)
			out = append(out, p[0])
			seed = p[1]
		}
	}).ho()
	def2("List.chunksOf", "List.chunksOf n xs: xs cut into lists of n elements (the last may be shorter); n must be positive", func(th *Thread, n, l Value) Value {
		k := th.argInt("List.chunksOf", n)
		x := th.argList("List.chunksOf", l)
		if k <= 0 {
			th.fail("List.chunksOf: the chunk size must be positive, got %d", k)
		}
		if x.n == 0 {
			return emptyList
		}
		c := (int64(x.n) + k - 1) / k
		th.chargeLen(int(c))
		r, out := th.makeList(int(c))
		for i := range out {
			th.poll()
			lo := int64(i) * k
			th.alloc(sizeList)
			out[i] = x.view(int(lo), int(min(lo+k, int64(x.n))))
		}
		return r
	})
	def3("List.zip3", "Triples of corresponding elements, as long as the shortest list", func(th *Thread, a, b, c Value) Value {
		xs, ys, zs := th.argList("List.zip3", a).Elems(), th.argList("List.zip3", b).Elems(), th.argList("List.zip3", c).Elems()
		n := min(len(xs), len(ys), len(zs))
		th.chargeLen(n)
		l, out := th.makeList(n)
		for i := range out {
			th.poll()
			th.alloc(sizeTuple + 3*sizeSlot)
			out[i] = &Tuple{Elems: []Value{xs[i], ys[i], zs[i]}}
		}
		return l
	})
	def4("List.zipWith3", "List.zipWith3 f xs ys zs: f applied to corresponding elements", func(th *Thread, f, a, b, c Value) Value {
		xs, ys, zs := th.argList("List.zipWith3", a).Elems(), th.argList("List.zipWith3", b).Elems(), th.argList("List.zipWith3", c).Elems()
		n := min(len(xs), len(ys), len(zs))
		l, out := th.makeList(n)
		for i := range out {
			out[i] = th.call3(f, xs[i], ys[i], zs[i])
		}
		return l
	}).ho()
	def2("List.lookup", "List.lookup k pairs: Some v of the first pair (k, v), or None", func(th *Thread, k, l Value) Value {
		ps := th.argList("List.lookup", l).Elems()
		th.chargeLen(len(ps))
		for _, p := range ps {
			th.poll()
			e := th.argTuple("List.lookup", p, 2)
			if th.compare(k, e[0]) == 0 {
				return th.some(e[1])
			}
		}
		return noneValue
	})
	def2("List.findIndex", "List.findIndex p xs: Some index of the first element p holds for, or None", func(th *Thread, p, l Value) Value {
		for i, x := range th.argList("List.findIndex", l).Elems() {
			if th.truthy("List.findIndex", p, x) {
				return th.some(MakeInt(int64(i)))
			}
		}
		return noneValue
	}).ho()
	def2("List.foldl1", "List.foldl1 f xs: Some (f (... (f x0 x1) ...) xn), or None for []", func(th *Thread, f, l Value) Value {
		xs := th.argList("List.foldl1", l).Elems()
		if len(xs) == 0 {
			return noneValue
		}
		acc := xs[0]
		for _, x := range xs[1:] {
			acc = th.call2(f, acc, x)
		}
		return th.some(acc)
	}).ho()
	extremeBy := func(name string, sign int64) {
		def2(name, name+" cmp xs: Some first "+map[int64]string{1: "largest", -1: "smallest"}[sign]+" element by cmp (negative, 0 or positive, as for sortBy), or None", func(th *Thread, f, l Value) Value {
			xs := th.argList(name, l).Elems()
			if len(xs) == 0 {
				return noneValue
			}
			m := xs[0]
			for _, x := range xs[1:] {
				if th.cmpResult(name, th.call2(f, x, m))*sign > 0 {
					m = x
				}
			}
			return th.some(m)
		}).ho()
	}
	extremeBy("List.maximumBy", 1)
	extremeBy("List.minimumBy", -1)
	def2("List.concatMap", "List.concatMap f xs = List.flatMap f xs", builtins["List.flatMap"].f2).ho()
	def2("List.elem", "List.elem x xs = List.contains x xs", builtins["List.contains"].f2)
	def2("List.intercalate", "List.intercalate sep xss: the lists of xss joined with the list sep between them", func(th *Thread, sep, l Value) Value {
		s := th.argList("List.intercalate", sep).Elems()
		var out []Value
		for i, x := range th.argList("List.intercalate", l).Elems() {
			th.poll()
			ys := th.argList("List.intercalate", x).Elems()
			if i > 0 {
				th.chargeLen(len(s))
				th.checkCount(int64(len(out)+len(s)), sizeSlot)
				out = append(out, s...)
			}
			th.chargeLen(len(ys))
			th.checkCount(int64(len(out)+len(ys)), sizeSlot)
			out = append(out, ys...)
		}
		return th.listOf(out)
	})
	def1("List.transpose", "Rows become columns: List.transpose [[1, 2, 3], [4, 5]] = [[1, 4], [2, 5], [3]]", func(th *Thread, l Value) Value {
		rows := th.argList("List.transpose", l).Elems()
		th.chargeLen(len(rows))
		// Row by row, so that the work is the number of elements
		// however ragged the rows are.
		var cols [][]Value
		total := 0
		for _, r := range rows {
			th.poll()
			es := th.argList("List.transpose", r).Elems()
			total += len(es)
			th.chargeLen(len(es))
			th.checkCount(int64(total), 2*sizeSlot)
			for j, e := range es {
				if j == len(cols) {
					cols = append(cols, nil)
				}
				cols[j] = append(cols[j], e)
			}
		}
		res, out := th.makeList(len(cols))
		for j, c := range cols {
			th.poll()
			out[j] = th.listOf(c)
		}
		return res
	})
}

// reverseAppend compiles List.reverse xs ++ ys (and List.reverse
// (List.take k xs) ++ ys, the prefix reversal of permutation code) into
// one list built in one buffer, instead of a view, a reversed copy and
// a joined copy; ys = List.drop k zs is copied without a view. Fuel is
// what the builtins charge; memory is what is allocated. It returns nil
// for any other ++.
func (s *scope) reverseAppend(ts []dag.Term, at *site, nest int) code {
	rev, ok := ts[0].(*dag.App)
	if !ok || len(rev.Args) != 1 {
		return nil
	}
	if b, ok := rev.Fn.(*dag.Builtin); !ok || b.Name != "List.reverse" {
		return nil
	}
	s.builtin("List.reverse")
	seg := s.listSeg(rev.Args[0], "List.reverse", nest+2)
	atRev := s.site(rev)
	y := s.listPart(ts[1], nest+1)
	return func(th *Thread, fr *frame) Value {
		a := seg(th, fr)
		th.step()
		th.at = atRev
		th.chargeLen(len(a))
		yl, yi, yj, yv := y(th, fr)
		th.step()
		th.at = at
		if yl == nil || len(a) == 0 {
			r, out := th.makeList(len(a))
			for i, x := range a {
				th.poll()
				out[len(a)-1-i] = x
			}
			if yl != nil {
				yv = th.partView(yl, yi, yj)
			}
			return opAppend(th, r, yv)
		}
		return reversedThen(th, a, yl.Elems()[yi:yj])
	}
}

// reversedThen builds a reversed followed by ys in one new list, charged
// as List.reverse a ++ ys is (reverseAppend, ownedFlip's copying path).
func reversedThen(th *Thread, a, ys []Value) *List {
	n := len(a) + len(ys)
	if len(ys) > 0 {
		th.charge(int64(n) / 8)
	}
	th.checkCount(int64(n), sizeSlot)
	r, out := th.makeList(n)
	for i, x := range a {
		th.poll()
		out[len(a)-1-i] = x
	}
	copy(out[len(a):], ys)
	return r
}

// partCode evaluates a list operand: the list l and the part
// l.Elems()[i:j] of it that is meant (all of it, or what List.take or
// List.drop would view), or, when the operand is not a list, (nil, 0, 0,
// the value).
type partCode func(th *Thread, fr *frame) (l *List, i, j int, v Value)

// listPart compiles t so that List.take k xs and List.drop k xs give
// their part without making a view; fuel and failures are those of the
// builtins (the view's memory is not charged, as it is not made).
func (s *scope) listPart(t dag.Term, nest int) partCode {
	if app, ok := t.(*dag.App); ok && len(app.Args) == 2 {
		if b, ok := app.Fn.(*dag.Builtin); ok && (b.Name == "List.take" || b.Name == "List.drop") {
			name := b.Name
			take := name == "List.take"
			s.builtin(name)
			kc, xc := s.expr(app.Args[0], false, nest+1), s.expr(app.Args[1], false, nest+1)
			at := s.site(app)
			return func(th *Thread, fr *frame) (*List, int, int, Value) {
				kv := kc(th, fr)
				xv := xc(th, fr)
				th.step()
				th.at = at
				x := th.argList(name, xv)
				k := clamp(th.argInt(name, kv), x.n)
				if take {
					return x, 0, k, nil
				}
				return x, k, x.n, nil
			}
		}
	}
	c := s.expr(t, false, nest)
	return func(th *Thread, fr *frame) (*List, int, int, Value) {
		v := c(th, fr)
		if l, ok := v.(*List); ok {
			return l, 0, l.n, nil
		}
		return nil, 0, 0, v
	}
}

// listSeg compiles t, a list argument of the builtin name, to its
// elements; List.take k xs and List.drop k xs give a part of xs without
// making a view.
func (s *scope) listSeg(t dag.Term, name string, nest int) func(*Thread, *frame) []Value {
	if app, ok := t.(*dag.App); ok && len(app.Args) == 2 {
		if b, ok := app.Fn.(*dag.Builtin); ok && (b.Name == "List.take" || b.Name == "List.drop") {
			p := s.listPart(t, nest)
			return func(th *Thread, fr *frame) []Value {
				l, i, j, _ := p(th, fr)
				return l.Elems()[i:j]
			}
		}
	}
	c := s.expr(t, false, nest)
	return func(th *Thread, fr *frame) []Value {
		return th.argList(name, c(th, fr)).Elems()
	}
}

// isPartApp reports whether t is List.take k xs or List.drop k xs.
func isPartApp(t dag.Term) bool {
	app, ok := t.(*dag.App)
	if !ok || len(app.Args) != 2 {
		return false
	}
	b, ok := app.Fn.(*dag.Builtin)
	return ok && (b.Name == "List.take" || b.Name == "List.drop")
}

// partAppend compiles a ++ b where a or b is List.take or List.drop of a
// list: the parts are joined without making views. It returns nil for
// any other ++.
func (s *scope) partAppend(ts []dag.Term, at *site, nest int) code {
	if !isPartApp(ts[0]) && !isPartApp(ts[1]) {
		return nil
	}
	a, b := s.listPart(ts[0], nest+1), s.listPart(ts[1], nest+1)
	return func(th *Thread, fr *frame) Value {
		al, ai, aj, av := a(th, fr)
		bl, bi, bj, bv := b(th, fr)
		th.step()
		th.at = at
		if al == nil || bl == nil {
			if al != nil {
				av = th.partView(al, ai, aj)
			}
			if bl != nil {
				bv = th.partView(bl, bi, bj)
			}
			return opAppend(th, av, bv)
		}
		return th.appendParts(al, ai, aj, bl, bi, bj)
	}
}

// consPart compiles x :: List.drop k xs (and x :: List.take k xs)
// without making the view. It returns nil for any other ::.
func (s *scope) consPart(ts []dag.Term, at *site, nest int) code {
	if !isPartApp(ts[1]) {
		return nil
	}
	s.builtin("Op.cons")
	x, p := s.expr(ts[0], false, nest+1), s.listPart(ts[1], nest+1)
	return func(th *Thread, fr *frame) Value {
		xv := x(th, fr)
		l, i, j, _ := p(th, fr)
		th.step()
		th.at = at
		return th.consPart(xv, l, i, j)
	}
}

// consAppend compiles List.take j xs ++ (x :: List.drop k ys) (or with
// List.drop and List.take swapped), the rotation of permutation code,
// into one list: the parts and x are written once, into free space at
// the back of the first part's buffer or at the front of the second's
// when there is some (as ++ and :: do), else into one new buffer of
// exactly their length, instead of a cons with headroom and then a view
// of it. Fuel is what the three builtins charge; memory is what is
// allocated. It returns nil for any other ++.
func (s *scope) consAppend(ts []dag.Term, at *site, nest int) code {
	c, ok := ts[1].(*dag.App)
	if !ok || len(c.Args) != 2 || !isBuiltin(c.Fn, "Op.cons") || !isPartApp(c.Args[1]) || !isPartApp(ts[0]) {
		return nil
	}
	s.builtin("Op.cons")
	a := s.listPart(ts[0], nest+1)
	x, p := s.expr(c.Args[0], false, nest+2), s.listPart(c.Args[1], nest+2)
	atCons := s.site(c)
	return func(th *Thread, fr *frame) Value {
		al, ai, aj, _ := a(th, fr)
		xv := x(th, fr)
		dl, di, dj, _ := p(th, fr)
		th.step()
		th.at = atCons
		th.step()
		th.at = at
		na := aj - ai
		if na == 0 {
			return th.consPart(xv, dl, di, dj)
		}
		return th.joinConsParts(al, ai, aj, xv, dl, di, dj)
	}
}

// joinConsParts returns the list of a.Elems()[ai:aj], then x, then
// d.Elems()[di:dj] (ai < aj), fuel charged as appendParts does.
func (th *Thread) joinConsParts(a *List, ai, aj int, x Value, d *List, di, dj int) *List {
	na, nb := aj-ai, 1+dj-di
	th.charge(int64(na+nb) / 8)
	if ab := a.buf; ab != nil {
		end := a.off + aj
		if end+nb <= len(ab.data) && ab.hi.CompareAndSwap(int64(end), int64(end+nb)) {
			th.alloc(sizeList)
			ab.data[end] = x
			copy(ab.data[end+1:], d.Elems()[di:dj])
			return &List{buf: ab, off: a.off + ai, n: na + nb}
		}
	}
	if db, start := d.buf, d.off+di; db != nil && start >= na+1 && db.lo.CompareAndSwap(int64(start), int64(start-na-1)) {
		th.alloc(sizeList)
		copy(db.data[start-na-1:], a.Elems()[ai:aj])
		db.data[start-1] = x
		return &List{buf: db, off: start - na - 1, n: na + nb}
	}
	n := na + nb
	th.checkCount(int64(n), sizeSlot)
	l, out := th.makeList(n)
	copy(out, a.Elems()[ai:aj])
	out[na] = x
	copy(out[na+1:], d.Elems()[di:dj])
	return l
}
