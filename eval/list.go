package eval

import "sync/atomic"

// List is an immutable list with O(1) length, indexing, head/tail views,
// and amortised O(1) cons (x :: xs) and snoc (xs ++ [x]).
//
// A List is a view [off, off+n) of a shared buffer. The buffer records the
// region [lo, hi) that some view has claimed; the slots outside it are
// free headroom. Consing onto a view that starts exactly at lo claims slot
// lo-1 with a compare-and-swap and writes the new head there, so building
// a list from the back (the usual recursive pattern) never copies. A cons
// onto any other view (an older version of the list, a tail, a list with
// no headroom) copies into a fresh buffer with headroom proportional to
// the length. Appending at hi works the same way. Slots inside [lo, hi)
// are never written again, so every view stays immutable and views may
// be shared between goroutines.
type List struct {
	buf *listBuf
	off int
	n   int
}

type listBuf struct {
	data   []Value
	lo, hi atomic.Int64
}

func (*List) Type() string     { return "List" }
func (l *List) String() string { return Show(l, nil) }
func (l *List) Len() int       { return l.n }
func (l *List) At(i int) Value { return l.buf.data[l.off+i] }
func (l *List) last() Value    { return l.buf.data[l.off+l.n-1] }
func (l *List) isEmpty() bool  { return l.n == 0 }
func (l *List) view(i, j int) *List {
	if i == j {
		return emptyList
	}
	return &List{buf: l.buf, off: l.off + i, n: j - i}
}

// Elems returns the elements. The slice must not be modified.
func (l *List) Elems() []Value {
	if l.n == 0 {
		return nil
	}
	e := l.off + l.n
	return l.buf.data[l.off:e:e]
}

var emptyList = &List{}

// NewList builds a list from elems without budget accounting (for Go
// callers). The list takes ownership of elems.
func NewList(elems []Value) *List {
	if len(elems) == 0 {
		return emptyList
	}
	b := &listBuf{data: elems}
	b.hi.Store(int64(len(elems)))
	return &List{buf: b, n: len(elems)}
}

// listOf charges for and wraps elems, which the list takes over.
func (th *Thread) listOf(elems []Value) *List {
	if len(elems) == 0 {
		return emptyList
	}
	th.alloc(sizeList + sizeListBuf + int64(cap(elems))*sizeSlot)
	return NewList(elems)
}

// newListBuf allocates a buffer of capacity c holding n elements at
// offset off (the caller fills them) and returns the view.
func (th *Thread) newListBuf(c, off, n int) *List {
	th.alloc(sizeList + sizeListBuf + int64(c)*sizeSlot)
	b := &listBuf{data: make([]Value, c)}
	b.lo.Store(int64(off))
	b.hi.Store(int64(off + n))
	return &List{buf: b, off: off, n: n}
}

// makeList returns a fresh list of n elements for the caller to fill
// through Elems (no headroom).
func (th *Thread) makeList(n int) (*List, []Value) {
	if n == 0 {
		return emptyList, nil
	}
	th.checkAlloc(int64(n) * sizeSlot)
	l := th.newListBuf(n, 0, n)
	return l, l.buf.data
}

func headroom(n int) int {
	if n < 4 {
		return 4
	}
	return n
}

// cons returns x :: l.
func (th *Thread) cons(x Value, l *List) *List {
	if b := l.buf; b != nil && l.off > 0 && b.lo.CompareAndSwap(int64(l.off), int64(l.off-1)) {
		th.alloc(sizeList)
		b.data[l.off-1] = x
		return &List{buf: b, off: l.off - 1, n: l.n + 1}
	}
	room := headroom(l.n)
	th.checkAlloc(int64(l.n+room) * sizeSlot)
	nl := th.newListBuf(l.n+1+room, room, l.n+1)
	nl.buf.data[room] = x
	copy(nl.buf.data[room+1:], l.Elems())
	return nl
}

// snoc returns l ++ [x].
func (th *Thread) snoc(l *List, x Value) *List {
	if b := l.buf; b != nil {
		end := l.off + l.n
		if end < len(b.data) && b.hi.CompareAndSwap(int64(end), int64(end+1)) {
			th.alloc(sizeList)
			b.data[end] = x
			return &List{buf: b, off: l.off, n: l.n + 1}
		}
	}
	room := headroom(l.n)
	th.checkAlloc(int64(l.n+room) * sizeSlot)
	nl := th.newListBuf(l.n+1+room, 0, l.n+1)
	copy(nl.buf.data, l.Elems())
	nl.buf.data[l.n] = x
	return nl
}

// appendLists returns a ++ b, extending a's buffer at the back or b's at
// the front when that space is free.
func (th *Thread) appendLists(a, b *List) *List {
	if a.n == 0 {
		return b
	}
	if b.n == 0 {
		return a
	}
	th.charge(int64(a.n+b.n) / 8)
	if ab := a.buf; ab != nil {
		end := a.off + a.n
		if end+b.n <= len(ab.data) && ab.hi.CompareAndSwap(int64(end), int64(end+b.n)) {
			th.alloc(sizeList)
			copy(ab.data[end:], b.Elems())
			return &List{buf: ab, off: a.off, n: a.n + b.n}
		}
	}
	if bb := b.buf; bb != nil && b.off >= a.n && bb.lo.CompareAndSwap(int64(b.off), int64(b.off-a.n)) {
		th.alloc(sizeList)
		copy(bb.data[b.off-a.n:], a.Elems())
		return &List{buf: bb, off: b.off - a.n, n: a.n + b.n}
	}
	n := a.n + b.n
	room := headroom(n)
	th.checkAlloc(int64(n+room) * sizeSlot)
	nl := th.newListBuf(n+room, 0, n)
	copy(nl.buf.data, a.Elems())
	copy(nl.buf.data[a.n:], b.Elems())
	return nl
}

// tail returns the list without its first element (l must be non-empty).
func (th *Thread) tail(l *List) *List {
	if l.n == 1 {
		return emptyList
	}
	th.alloc(sizeList)
	return &List{buf: l.buf, off: l.off + 1, n: l.n - 1}
}
