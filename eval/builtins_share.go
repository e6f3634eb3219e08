package eval

import (
	"fmt"
	"unsafe"

	"github.com/unode-dev/unode/dag"
)

// share and force: sharing made explicit for the wire (the seed's "A
// related question is how to handle sharing").
//
// The default wire form writes a value reached twice twice (ToWire). share
// v walks v, finds the parts of it that are reached more than once (the
// same object in memory: a Text or Bytes of at least minShareBytes, a
// tuple, a list, a constructor value, a map, a closure), and returns a
// thunk whose code rebuilds v with one `let` per shared part:
//
//	share (x, x)  ~>  '(let a = x in (a, a))
//
// Parts with nothing shared inside them travel as the thunk's captured
// environment, which the encoder writes once each, however many times
// the code refers to them; parts that contain shared parts are rebuilt by
// the code (a tuple, list, constructor application, Map.fromList of the
// entries, a lambda whose captured variables are the rebuilt parts).
// Forcing the thunk (force, or !) evaluates the lets, so the value it
// returns shares exactly what v shared, on whichever node forces it. The
// thunk's result is equal to v: pure code cannot tell them apart, only the
// size of the encoding differs.
//
// share charges one unit of fuel per value it visits and per term it
// builds, polls for cancellation as it goes, and charges its tables, the
// code and the environment to the memory budget before it allocates them.

// shareKey identifies a value in memory: the object for tuples,
// constructor values, maps and closures; the bytes and length for Text
// and Bytes (a string boxed twice is still one string); the buffer and
// range for lists (two views of one range are one list).
type shareKey struct {
	p    unsafe.Pointer
	a, b int
	kind uint8
}

const (
	shareText uint8 = iota + 1
	shareBytes
	shareTuple
	shareList
	shareData
	shareMap
	shareClosure
	sharePartial
)

// The classes of a part of the value, decided children first.
const (
	// classSlot: nothing inside is shared; the part travels whole in
	// the thunk's environment (once, whatever its number of uses).
	classSlot uint8 = iota
	// classInline: used once, with shared parts inside; rebuilt where
	// it is used.
	classInline
	// classBound: rebuilt once by a let, and used through its variable.
	classBound
)

type shareNode struct {
	v     Value
	kids  []Value // the parts it is built from; nil for a leaf
	refs  int32
	class uint8
	depth int32 // of an inline part: the nesting of inline parts under it
	bind  int32 // classBound: the let's index, in order of the lets
	slot  int32 // classSlot: the environment slot, or -1 before its first use
}

// shareKeyOf returns the key of a value share may find twice; ok is false
// for scalars, small texts and everything else that costs less than a
// reference to it.
func shareKeyOf(v Value) (k shareKey, ok bool) {
	switch x := v.(type) {
	case Text:
		if len(x) < minShareBytes {
			return k, false
		}
		return shareKey{p: unsafe.Pointer(unsafe.StringData(string(x))), a: len(x), kind: shareText}, true
	case Bytes:
		if len(x) < minShareBytes {
			return k, false
		}
		return shareKey{p: unsafe.Pointer(unsafe.StringData(string(x))), a: len(x), kind: shareBytes}, true
	case *Tuple:
		return shareKey{p: unsafe.Pointer(x), kind: shareTuple}, true
	case *List:
		if x.n == 0 {
			return k, false
		}
		return shareKey{p: unsafe.Pointer(x.buf), a: x.off, b: x.n, kind: shareList}, true
	case *Data:
		if len(x.Fields) == 0 {
			return k, false
		}
		return shareKey{p: unsafe.Pointer(x), kind: shareData}, true
	case *Map:
		if x.root == nil {
			return k, false
		}
		return shareKey{p: unsafe.Pointer(x), kind: shareMap}, true
	case *Closure:
		if len(x.env) == 0 {
			return k, false
		}
		return shareKey{p: unsafe.Pointer(x), kind: shareClosure}, true
	case *Partial:
		return shareKey{p: unsafe.Pointer(x), kind: sharePartial}, true
	}
	return k, false
}

// shareKids returns the parts a value is rebuilt from, or nil for a value
// share sends whole (a leaf: text, bytes, a recursive or unsendable
// closure, a partial application). A map's entries are listed key, value,
// key, value, ...; their slots are charged first.
func (th *Thread) shareKids(v Value) []Value {
	switch x := v.(type) {
	case *Tuple:
		return x.Elems
	case *List:
		return x.Elems()
	case *Data:
		return x.Fields
	case *Map:
		n := x.Len()
		th.checkCount(int64(2*n), sizeSlot)
		th.alloc(int64(2*n) * sizeSlot)
		kids := make([]Value, 0, 2*n)
		x.root.each(func(k, v Value) bool {
			th.poll()
			kids = append(kids, k, v)
			return true
		})
		return kids
	case *Closure:
		if x.fc.rec || x.fc.isDef {
			return nil
		}
		if _, err := x.fc.wireCode(); err != nil {
			return nil
		}
		return x.env
	}
	return nil
}

// sharer is one run of share.
type sharer struct {
	th    *Thread
	index map[shareKey]int32
	nodes []shareNode
	post  []int32 // node indices, children before parents
	lets  []int32 // classBound nodes in let order
	env   []Value // the thunk's environment
}

func (s *sharer) lookup(v Value) int32 {
	k, ok := shareKeyOf(v)
	if !ok {
		return -1
	}
	if j, ok := s.index[k]; ok {
		return j
	}
	return -1
}

// walk finds the distinct parts of v and counts their uses, without
// recursion (a deep value costs no Go stack), visiting each distinct
// part's children once.
func (s *sharer) walk(v Value) int32 {
	th := s.th
	type frame struct {
		n int32
		i int
	}
	var stack []frame
	visit := func(v Value) int32 {
		th.step()
		k, ok := shareKeyOf(v)
		if !ok {
			return -1
		}
		if j, ok := s.index[k]; ok {
			s.nodes[j].refs++
			return j
		}
		th.alloc(sizeShareNode)
		j := int32(len(s.nodes))
		s.index[k] = j
		s.nodes = append(s.nodes, shareNode{v: v, refs: 1, slot: -1})
		s.nodes[j].kids = th.shareKids(v)
		th.alloc(sizeShareFrame)
		stack = append(stack, frame{n: j})
		return j
	}
	root := visit(v)
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		kids := s.nodes[top.n].kids
		if top.i < len(kids) {
			kid := kids[top.i]
			top.i++
			visit(kid)
			continue
		}
		s.post = append(s.post, top.n)
		stack = stack[:len(stack)-1]
	}
	return root
}

// shared reports whether a part is used more than once.
func (n *shareNode) shared() bool { return n.refs > 1 }

// classify decides, children first, how each part travels.
func (s *sharer) classify() {
	for _, j := range s.post {
		s.th.poll()
		n := &s.nodes[j]
		inner := false
		depth := int32(0)
		for _, kid := range n.kids {
			c := s.lookup(kid)
			if c < 0 {
				continue
			}
			cn := &s.nodes[c]
			switch {
			case cn.class == classInline:
				inner = true
				depth = max(depth, cn.depth)
			case cn.class == classBound || cn.shared():
				inner = true
			}
		}
		if !inner {
			n.class = classSlot
			continue
		}
		if _, ok := n.v.(*Closure); ok {
			// A rebuilt closure names its captured values by variable:
			// each must be a let or a slot.
			for _, kid := range n.kids {
				if c := s.lookup(kid); c >= 0 && s.nodes[c].class == classInline {
					s.nodes[c].class = classBound
				}
			}
			depth = 0
		}
		n.depth = depth + 1
		switch {
		case n.shared(), n.depth > maxShareTermDepth:
			n.class = classBound
		default:
			n.class = classInline
		}
	}
	for _, j := range s.post {
		if s.nodes[j].class == classBound {
			s.nodes[j].bind = int32(len(s.lets))
			s.lets = append(s.lets, j)
		}
	}
	if len(s.lets) > maxShareBindings {
		s.th.fail("share: the value has %d shared or deeply nested parts to bind, more than the %d a thunk may hold", len(s.lets), maxShareBindings)
	}
}

// term builds the term giving v, under depth binders (the lets before
// it, and the parameters of rebuilt lambdas around it).
func (s *sharer) term(v Value, depth int) dag.Term {
	th := s.th
	th.step()
	th.alloc(sizeShareTerm)
	j := s.lookup(v)
	if j < 0 {
		switch x := v.(type) {
		case Int:
			return &dag.Int{V: int64(x)}
		case Bool:
			return &dag.Bool{V: bool(x)}
		case Unit:
			return &dag.Unit{}
		case Text:
			return &dag.Text{V: string(x)}
		case Bytes:
			return &dag.Bytes{V: []byte(x)}
		case *Data: // nullary
			return &dag.Ctor{Type: x.ctor.typ, Index: x.ctor.index}
		}
		// Floats (a literal would need NaN's bits), empty lists and
		// maps, functions, nodes, channels: one slot each.
		return &dag.Var{Index: depth + s.newSlot(v)}
	}
	return s.ref(j, depth)
}

func (s *sharer) newSlot(v Value) int {
	s.th.alloc(sizeSlot)
	s.env = append(s.env, v)
	return len(s.env) - 1
}

// ref is how a part is named under depth binders: its let, its slot, or
// its rebuilding code.
func (s *sharer) ref(j int32, depth int) dag.Term {
	n := &s.nodes[j]
	switch n.class {
	case classBound:
		return &dag.Var{Index: depth - 1 - int(n.bind)}
	case classSlot:
		if n.slot < 0 {
			n.slot = int32(s.newSlot(n.v))
		}
		return &dag.Var{Index: depth + int(n.slot)}
	}
	return s.build(j, depth)
}

// build is the code rebuilding part j from its parts.
func (s *sharer) build(j int32, depth int) dag.Term {
	n := &s.nodes[j]
	terms := func(vs []Value) []dag.Term {
		s.th.alloc(int64(len(vs)) * sizeSlot)
		ts := make([]dag.Term, len(vs))
		for i, v := range vs {
			ts[i] = s.term(v, depth)
		}
		return ts
	}
	switch x := n.v.(type) {
	case *Tuple:
		return &dag.Tuple{Elems: terms(n.kids)}
	case *List:
		return &dag.List{Elems: terms(n.kids)}
	case *Data:
		c := x.ctor
		return &dag.App{Fn: &dag.Ctor{Type: c.typ, Index: c.index, Arity: c.arity}, Args: terms(n.kids)}
	case *Map:
		ts := terms(n.kids)
		s.th.alloc(int64(len(ts)/2) * (sizeSlot + sizeShareTerm))
		pairs := make([]dag.Term, len(ts)/2)
		for i := range pairs {
			pairs[i] = &dag.Tuple{Elems: []dag.Term{ts[2*i], ts[2*i+1]}}
		}
		return &dag.App{Fn: &dag.Builtin{Name: "Map.fromList"}, Args: []dag.Term{&dag.List{Elems: pairs}}}
	case *Closure:
		code, err := x.fc.wireCode()
		if err != nil {
			panic(fmt.Errorf("share: %w", err)) // shareKids left it whole
		}
		capOf := make(map[int]int, len(n.kids))
		for i, kid := range n.kids {
			var t dag.Term
			if c := s.lookup(kid); c >= 0 {
				t = s.ref(c, depth)
			} else {
				t = s.term(kid, depth)
			}
			v, ok := t.(*dag.Var)
			if !ok {
				// A literal: captured through a slot of its own.
				v = &dag.Var{Index: depth + s.newSlot(kid)}
			}
			capOf[i] = v.Index
		}
		s.th.charge(x.fc.wireNodes)
		s.th.alloc(x.fc.wireNodes * sizeShareTerm)
		r := &rewriter{capOf: capOf}
		var t dag.Term
		switch c := code.(type) {
		case *dag.Lam:
			t = &dag.Lam{Arity: c.Arity, Body: r.term(c.Body, c.Arity)}
		case *dag.Delay:
			t = &dag.Delay{Body: r.term(c.Body, 0)}
		}
		if r.err != nil {
			panic(fmt.Errorf("share: %w", r.err))
		}
		return t
	}
	panic(fmt.Errorf("share: cannot rebuild %s", describe(n.v)))
}

// share returns a thunk that rebuilds v with its sharing (see the top of
// this file).
func (th *Thread) share(v Value) Value {
	s := &sharer{th: th, index: map[shareKey]int32{}}
	root := s.walk(v)
	if root >= 0 {
		s.classify()
	}
	if root < 0 || s.nodes[root].class == classSlot {
		// Nothing shared: the plain thunk of v costs nothing more on
		// the wire than v.
		th.alloc(sizeClosure + sizeSlot)
		return &Closure{fc: shareCode, env: []Value{v}}
	}
	m := len(s.lets)
	body := s.term(v, m)
	for i := m - 1; i >= 0; i-- {
		th.alloc(sizeShareTerm)
		body = &dag.Let{Value: s.build(s.lets[i], i), Body: body}
	}
	caps := make([]int, len(s.env))
	for i := range caps {
		caps[i] = i
	}
	fc, err := compileShared(body, caps)
	if err != nil {
		panic(fmt.Errorf("share: %w", err))
	}
	th.checkUnit(fc.unit)
	th.alloc(sizeClosure)
	return &Closure{fc: fc, env: s.env}
}

func compileShared(body dag.Term, caps []int) (fc *funcCode, err error) {
	defer catchMalformed(&err)
	return compileWireCode(0, body, &dag.Delay{Body: body}, caps, false), nil
}

func init() {
	def1("share", "share v: a thunk that rebuilds v with the same sharing: a part of v used twice is sent once", func(th *Thread, v Value) Value {
		return th.share(v)
	})
	def1("force", "force t = !t: the value of a thunk (rebuilds the sharing of a thunk made by share)", func(th *Thread, t Value) Value {
		return th.run(t, th.sp, 0, 1)
	}).ho()
}

// shareCode is the body of share's thunks when nothing is shared: '(x)
// with x captured.
var shareCode = &funcCode{
	arity: 0,
	term:  &dag.Delay{Body: &dag.Var{Index: 0}},
	caps:  []int{0},
	body:  func(_ *Thread, fr *frame) Value { return fr.env[0] },
}
