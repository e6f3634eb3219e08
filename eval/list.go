package eval

import (
	"sync/atomic"
	"unsafe"
)

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
	// next caches the view of the list without its first element: set by
	// cons (the tail is the list consed onto) and by the first tail, so
	// that walking the same list again (x :: rest, over and over) makes
	// no new views.
	next atomic.Pointer[List]
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
	l, b := allocListBuf(c)
	b.lo.Store(int64(off))
	b.hi.Store(int64(off + n))
	l.buf, l.off, l.n = b, off, n
	return l
}

// listBlock is a list's first view, its buffer header and (for small
// buffers) its slots in one allocation.
type listBlock[A any] struct {
	l List
	b listBuf
	d A
}

func newListBlock[A any](c int) (*List, *listBuf) {
	x := &listBlock[A]{}
	x.b.data = unsafe.Slice((*Value)(unsafe.Pointer(&x.d)), c)
	return &x.l, &x.b
}

// allocListBuf allocates a view and a buffer of c slots, in one object
// up to 16 slots (most lists a loop conses, reverses or takes apart are
// short) and in two beyond.
func allocListBuf(c int) (*List, *listBuf) {
	switch c {
	case 1:
		return newListBlock[[1]Value](c)
	case 2:
		return newListBlock[[2]Value](c)
	case 3:
		return newListBlock[[3]Value](c)
	case 4:
		return newListBlock[[4]Value](c)
	case 5:
		return newListBlock[[5]Value](c)
	case 6:
		return newListBlock[[6]Value](c)
	case 7:
		return newListBlock[[7]Value](c)
	case 8:
		return newListBlock[[8]Value](c)
	case 9:
		return newListBlock[[9]Value](c)
	case 10:
		return newListBlock[[10]Value](c)
	case 11:
		return newListBlock[[11]Value](c)
	case 12:
		return newListBlock[[12]Value](c)
	case 13:
		return newListBlock[[13]Value](c)
	case 14:
		return newListBlock[[14]Value](c)
	case 15:
		return newListBlock[[15]Value](c)
	case 16:
		return newListBlock[[16]Value](c)
	}
	x := &listBlock[struct{}]{}
	x.b.data = make([]Value, c)
	return &x.l, &x.b
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
func (th *Thread) cons(x Value, l *List) *List { return th.consPart(x, l, 0, l.n) }

// consPart returns x :: the list of l.Elems()[i:j].
func (th *Thread) consPart(x Value, l *List, i, j int) *List {
	if b, off := l.buf, l.off+i; b != nil && off > 0 && b.lo.CompareAndSwap(int64(off), int64(off-1)) {
		th.alloc(sizeList)
		b.data[off-1] = x
		nl := &List{buf: b, off: off - 1, n: j - i + 1}
		if i == 0 && j == l.n {
			nl.next.Store(l)
		}
		return nl
	}
	n := j - i
	room := headroom(n)
	th.checkAlloc(int64(n+room) * sizeSlot)
	nl := th.newListBuf(n+1+room, room, n+1)
	nl.buf.data[room] = x
	copy(nl.buf.data[room+1:], l.Elems()[i:j])
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
func (th *Thread) appendLists(a, b *List) *List { return th.appendParts(a, 0, a.n, b, 0, b.n) }

// appendParts returns the list of a.Elems()[ai:aj] then b.Elems()[bi:bj]
// (parts that List.take and List.drop would view), as appendLists.
func (th *Thread) appendParts(a *List, ai, aj int, b *List, bi, bj int) *List {
	na, nb := aj-ai, bj-bi
	if na == 0 {
		return th.partView(b, bi, bj)
	}
	if nb == 0 {
		return th.partView(a, ai, aj)
	}
	th.charge(int64(na+nb) / 8)
	if ab := a.buf; ab != nil {
		end := a.off + aj
		if end+nb <= len(ab.data) && ab.hi.CompareAndSwap(int64(end), int64(end+nb)) {
			th.alloc(sizeList)
			copy(ab.data[end:], b.Elems()[bi:bj])
			return &List{buf: ab, off: a.off + ai, n: na + nb}
		}
	}
	if bb, start := b.buf, b.off+bi; bb != nil && start >= na && bb.lo.CompareAndSwap(int64(start), int64(start-na)) {
		th.alloc(sizeList)
		copy(bb.data[start-na:], a.Elems()[ai:aj])
		return &List{buf: bb, off: start - na, n: na + nb}
	}
	return th.joinParts(a.Elems()[ai:aj], b.Elems()[bi:bj])
}

// partView is the list of l.Elems()[i:j], as List.take or List.drop
// returns it.
func (th *Thread) partView(l *List, i, j int) *List {
	switch {
	case i == 0 && j == l.n:
		return l
	case i == j:
		return emptyList
	}
	th.alloc(sizeList)
	return l.view(i, j)
}

// joinParts returns a new list of the elements of a then b, with
// headroom at the back.
func (th *Thread) joinParts(a, b []Value) *List {
	n := len(a) + len(b)
	room := headroom(n)
	th.checkAlloc(int64(n+room) * sizeSlot)
	nl := th.newListBuf(n+room, 0, n)
	copy(nl.buf.data, a)
	copy(nl.buf.data[len(a):], b)
	return nl
}

// tail returns the list without its first element (l must be non-empty).
// It is charged a view whether or not the view was cached (by another
// walk, maybe on another thread), so that charges stay deterministic.
func (th *Thread) tail(l *List) *List {
	if l.n == 1 {
		return emptyList
	}
	th.alloc(sizeList)
	if t := l.next.Load(); t != nil {
		return t
	}
	t := &List{buf: l.buf, off: l.off + 1, n: l.n - 1}
	l.next.Store(t)
	return t
}
