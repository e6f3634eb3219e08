package eval

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/unode-dev/unode/dag"
)

// Terms are compiled once into trees of Go closures. A function's locals
// (parameters, let and pattern variables) live in slots of a window of
// the thread's value stack: the binder at de Bruijn index i is slot
// nbind-1-i, where nbind counts the binders in scope inside the function.
// A lambda captures only the outer variables its body uses, copied into
// the closure's env in increasing de Bruijn order (flat closures). A
// recursive local function (LetRec) finds itself at env[0].
//
// Code in tail position does not call: it leaves the callee and the
// arguments on the thread and returns nil, and Thread.run loops. Any
// other code returns a non-nil Value.

// code evaluates one term in a frame.
type code func(th *Thread, fr *frame) Value

// funcCode is a compiled function body.
type funcCode struct {
	arity  int
	nslots int
	body   code
	// term is the source *dag.Lam or *dag.Delay (nil for the body of a
	// top-level value or an evaluated expression).
	term dag.Term
	// caps[k] is the outer de Bruijn index (seen from where the lambda
	// appears) of env[k].
	caps []int
	// rec: env[0] is the closure itself (a LetRec function using its
	// own name).
	rec bool
	// owner is the definition this code is part of (nil for expressions
	// and decoded closures).
	owner *dag.DefRef
	// isDef: the code is a top-level function definition itself; it is
	// sent as a reference (dag.VDef), not as code.
	isDef bool
	// name names frames without an owner in backtraces (builtins).
	name string
	// unit is what was compiled together with this code (see guard.go).
	unit *codeUnit
	// node is term's number in dag.Preorder of its unit (-1 if unknown),
	// for relocating remote runtime errors (remote_errors.go).
	node int32

	wireOnce sync.Once
	wire     dag.Term
	wireErr  error
	// wireNodes counts the terms of wire, for estimates of the encoded
	// size of a closure.
	wireNodes int64
}

// defCode is the compiled form of a top-level definition, shared by all
// threads of the process (a DefRef names the same term everywhere).
type defCode struct {
	ref  dag.DefRef
	mu   sync.Mutex
	body atomic.Pointer[defBody]
	// checked is the guardID of the last thread whose checks of the
	// definition passed (guard.go, checkDef).
	checked atomic.Uint64
	// used, slot and weight are the registry's (defs.go): used since
	// its hand last passed, the index in its ring (-1: not in it), the
	// compiled code's weight charged to it.
	used   atomic.Bool
	slot   int
	weight int64
}

type defBody struct {
	fn    *Closure  // the definition is a function: its closure
	thunk *funcCode // otherwise: code for its value, memoized per thread
	unit  *codeUnit
	// weight is how many term nodes were compiled: what the registry
	// (defs.go) bounds.
	weight int64
}

func (th *Thread) defBody(dc *defCode) *defBody {
	if b := dc.body.Load(); b != nil {
		return b
	}
	return th.loadDef(dc)
}

func (th *Thread) loadDef(dc *defCode) *defBody {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if b := dc.body.Load(); b != nil {
		return b
	}
	if th.Loader == nil {
		th.fail("cannot load %s: no Loader", dc.ref)
	}
	t, err := th.Loader.LoadTerm(th.Context(), dc.ref)
	if err != nil {
		th.failErr(err, "loading %s", dc.ref)
	}
	b, err := compileDef(dc.ref, t)
	if err != nil {
		panic(err)
	}
	dc.body.Store(b)
	defs.compiled(dc, b.weight)
	return b
}

type inProgressValue struct{ Unit }

var inProgress Value = &inProgressValue{}

// defValue is the value of a top-level definition: the shared closure of a
// function, or the memoized value of anything else.
func (th *Thread) defValue(dc *defCode) Value {
	b := th.defBody(dc)
	if b.fn != nil {
		return b.fn
	}
	if v, ok := th.globals[dc]; ok {
		if v == inProgress {
			th.fail("the value of %s depends on itself", th.refName(dc.ref))
		}
		return v
	}
	return th.evalGlobal(dc, b)
}

func (th *Thread) evalGlobal(dc *defCode, b *defBody) Value {
	if th.globals == nil {
		th.globals = make(map[*defCode]Value)
	}
	th.globals[dc] = inProgress
	defer func() {
		if th.globals[dc] == inProgress {
			delete(th.globals, dc)
		}
	}()
	v := th.run(&Closure{fc: b.thunk}, th.sp, 0, 1)
	th.globals[dc] = v
	return v
}

func (th *Thread) refName(ref dag.DefRef) string {
	if dn, ok := th.Names.(DefNamer); ok {
		if n := dn.DefName(ref); n != "" {
			return n
		}
	}
	return ref.String()
}

// compiler holds what is common to one definition's compilation.
type compiler struct {
	owner *dag.DefRef
	unit  *codeUnit
	// nodes numbers the compiled term's nodes as dag.Preorder does, so
	// that code that can fail records where it is (see site). Sites
	// number themselves only when an error asks (nodeIndex); the
	// functions, whose numbers remote errors read, are numbered when
	// compilation ends (number).
	nodes *nodeIndex
	pend  []*funcCode
	sites []site // a slab the sites are cut from
	src   *siteSrc
	// nest counts the functions being compiled (function).
	nest int
	// sent is set for code from the wire (remote_errors.go).
	sent *sentCode
	// defLam is the definition's own lambda, when it is a function.
	defLam *dag.Lam
}

func newCompiler(owner *dag.DefRef, t dag.Term) *compiler {
	c := &compiler{owner: owner, unit: &codeUnit{owner: owner}}
	if t != nil {
		c.nodes = &nodeIndex{root: t}
	}
	return c
}

// nodeIndex numbers the nodes of a term as dag.Preorder does (a node
// reached twice, shared, has its first number). It is made on first
// use: a map of every node costs more than the rest of a small
// definition's compilation, and only a runtime error's position needs
// the numbers of sites.
type nodeIndex struct {
	root dag.Term
	once sync.Once
	num  map[dag.Term]int32
}

// of is t's number, or -1 if t is not a node of the term.
func (x *nodeIndex) of(t dag.Term) int32 {
	if t == x.root {
		return 0 // Preorder visits the root first
	}
	x.once.Do(func() {
		x.num = map[dag.Term]int32{}
		var n int32
		dag.Preorder(x.root, func(t dag.Term) {
			if _, dup := x.num[t]; !dup {
				x.num[t] = n
			}
			n++
		})
	})
	if n, ok := x.num[t]; ok {
		return n
	}
	return -1
}

// number gives the functions compiled their terms' numbers. A
// definition's own lambda is its root, number 0, so most definitions
// need no index of their nodes.
func (c *compiler) number() {
	for _, fc := range c.pend {
		fc.node = c.nodes.of(fc.term)
	}
	c.pend = nil
}

// site is a place in compiled code that can fail: the definition it is
// part of (nil for an evaluated expression) and its node number in
// dag.Preorder. Code sets Thread.at to its site just before it calls or
// fails, never on a fast path that cannot fail (one store per call, none
// per arithmetic step); each call records in the callee's frame the site
// it was made from. A runtime error turns those sites into source
// positions through the thread's Names (DefPositioner), so positions
// never enter the code or its hash.
type site struct {
	*siteSrc
	term dag.Term // the node
}

// siteSrc is what the sites of one compilation share.
type siteSrc struct {
	owner *dag.DefRef
	// nodes numbers the code's nodes, on first use (nil for code from
	// the wire).
	nodes *nodeIndex
	// Code from the wire (sent) numbers its nodes only when an error
	// needs it too (remote_errors.go).
	sent *sentCode
}

// placed reports whether the site is a node of its code: a site made
// for a term the compiler made up has no position, as if it were nil.
func (s *site) placed() bool {
	return s != nil && (s.nodes == nil || s.nodes.of(s.term) >= 0)
}

// number is the site's node number (-1 for code from the wire: see
// sentCode.node).
func (s *site) number() int32 {
	if s.nodes != nil {
		return s.nodes.of(s.term)
	}
	return -1
}

// scope is a function being compiled.
type scope struct {
	c     *compiler
	fc    *funcCode
	nbind int
	capOf map[int]int // outer de Bruijn index -> env index
	// own marks the parameters whose flips may reuse their list (a
	// top-level function's body only; owned_list.go).
	own []bool
	// freg maps the slots of let-bound numbers kept in registers to
	// their register; nfreg counts the registers in use (raw_let.go).
	freg  map[int]int
	nfreg int
}

func malformed(format string, args ...any) {
	panic(&MalformedError{Msg: fmt.Sprintf(format, args...)})
}

func catchMalformed(err *error) {
	if r := recover(); r != nil {
		e, ok := r.(*MalformedError)
		if !ok {
			panic(r)
		}
		*err = e
	}
}

// compileTop compiles a closed expression as a thunk.
func compileTop(t dag.Term) (fc *funcCode, err error) {
	defer catchMalformed(&err)
	if t == nil {
		malformed("nil term")
	}
	if fv := freeVars(t, 0); len(fv) > 0 {
		malformed("expression has a free variable (index %d)", fv[0])
	}
	c := newCompiler(nil, t)
	return c.function(0, t, nil, nil, false), nil
}

// compileDef compiles a top-level definition.
func compileDef(ref dag.DefRef, t dag.Term) (b *defBody, err error) {
	defer catchMalformed(&err)
	if t == nil {
		malformed("nil term in %s", ref)
	}
	fv, nodes := freeVarsCount(t, 0)
	if len(fv) > 0 {
		malformed("definition %s has a free variable (index %d)", ref, fv[0])
	}
	c := newCompiler(&ref, t)
	if lam, ok := t.(*dag.Lam); ok {
		checkArity(lam)
		c.defLam = lam
		fc := c.function(lam.Arity, lam.Body, lam, nil, false)
		fc.isDef = true
		return &defBody{fn: &Closure{fc: fc}, unit: c.unit, weight: nodes}, nil
	}
	fc := c.function(0, t, nil, nil, false)
	return &defBody{thunk: fc, unit: c.unit, weight: nodes}, nil
}

func checkArity(l *dag.Lam) {
	if l.Arity < 1 || l.Arity > maxArity {
		malformed("lambda of arity %d", l.Arity)
	}
}

// function compiles a function body. caps are the outer indices its env
// holds; rec means env[0] is the function itself.
func (c *compiler) function(arity int, body, term dag.Term, caps []int, rec bool) *funcCode {
	fc := &funcCode{arity: arity, nslots: arity, term: term, caps: caps, rec: rec, owner: c.owner, unit: c.unit, node: -1}
	if term != nil && c.nodes != nil {
		c.pend = append(c.pend, fc)
	}
	// The outermost function numbers what its compilation left pending,
	// before any of its code can run.
	c.nest++
	defer func() {
		if c.nest--; c.nest == 0 {
			c.number()
		}
	}()
	s := &scope{c: c, fc: fc, nbind: arity, capOf: capsOf(caps)}
	if lam, ok := term.(*dag.Lam); ok && c.owner != nil && c.defLam == lam {
		s.own = ownedParams(lam, c.owner.Member)
	}
	fc.body = s.expr(body, true, 0)
	return fc
}

// capsOf maps the outer indices a function's env holds to their env
// index; nil (no map made) for a function that captures nothing, as a
// top-level definition does.
func capsOf(caps []int) map[int]int {
	if len(caps) == 0 {
		return nil
	}
	m := make(map[int]int, len(caps))
	for k, j := range caps {
		m[j] = k
	}
	return m
}

func (s *scope) bind(n int) {
	s.nbind += n
	if s.nbind > s.fc.nslots {
		s.fc.nslots = s.nbind
	}
}

func (s *scope) unbind(n int) { s.nbind -= n }

// locate returns the location of de Bruijn index i: a slot (>= 0) or an
// env index k encoded as -(k+1).
func (s *scope) locate(i int) int {
	if i < s.nbind {
		return s.nbind - 1 - i
	}
	k, ok := s.capOf[i-s.nbind]
	if !ok {
		malformed("unbound variable (index %d)", i)
	}
	return -(k + 1)
}

func constCode(v Value) code {
	return func(*Thread, *frame) Value { return v }
}

// expr compiles t. tail says whether t is in tail position; nest is the
// number of Go calls between the function's body and t, used to weigh
// calls made from t (see Thread.MaxDepth).
func (s *scope) expr(t dag.Term, tail bool, nest int) code {
	return s.exprNode(t, tail, nest)
}

// site is where t is, or nil when its position cannot be known.
func (s *scope) site(t dag.Term) *site {
	c := s.c
	if c.nodes == nil || t == nil {
		if c.sent != nil {
			return &site{siteSrc: c.siteSrc(), term: t}
		}
		return nil
	}
	if len(c.sites) == cap(c.sites) {
		c.sites = make([]site, 0, 16)
	}
	c.sites = append(c.sites, site{siteSrc: c.siteSrc(), term: t})
	return &c.sites[len(c.sites)-1]
}

func (c *compiler) siteSrc() *siteSrc {
	if c.src == nil {
		c.src = &siteSrc{owner: c.owner, nodes: c.nodes, sent: c.sent}
	}
	return c.src
}

func (s *scope) exprNode(t dag.Term, tail bool, nest int) code {
	switch t := t.(type) {
	case *dag.Var:
		loc := s.locate(t.Index)
		if r, ok := s.freg[loc]; ok && loc >= 0 {
			return regVar(loc, r)
		}
		if loc >= 0 {
			return func(_ *Thread, fr *frame) Value { return fr.slots[loc] }
		}
		k := -loc - 1
		return func(_ *Thread, fr *frame) Value { return fr.env[k] }
	case *dag.Ref:
		dc := defFor(t.Def)
		return func(th *Thread, _ *frame) Value {
			th.guardDef(dc)
			return th.defValue(dc)
		}
	case *dag.Self:
		dc := s.selfDef(t)
		if t.Member != s.c.owner.Member {
			// Another member of a cycle block: a unit of its own.
			return func(th *Thread, _ *frame) Value {
				th.guardDef(dc)
				return th.defValue(dc)
			}
		}
		return func(th *Thread, _ *frame) Value { return th.defValue(dc) }
	case *dag.Builtin:
		desc := s.builtin(t.Name)
		if desc.arity == 0 {
			f := desc.fn
			return func(th *Thread, _ *frame) Value {
				th.step()
				return f(th, nil)
			}
		}
		return constCode(desc.value)
	case *dag.Ctor:
		d := s.ctor(t)
		if d.arity == 0 {
			return constCode(d.nullary)
		}
		return constCode(d.fn)
	case *dag.Int:
		return constCode(MakeInt(t.V))
	case *dag.Float:
		return constCode(Float(t.V))
	case *dag.Text:
		return constCode(Text(t.V))
	case *dag.Bool:
		return constCode(MakeBool(t.V))
	case *dag.Bytes:
		return constCode(Bytes(t.V))
	case *dag.Unit:
		return constCode(UnitValue)
	case *dag.Lam:
		checkArity(t)
		return s.lambda(t.Arity, t.Body, t, false)
	case *dag.Delay:
		return s.lambda(0, t.Body, t, false)
	case *dag.App:
		if tail && rawish(t) && floatish(t) {
			return s.rawTail(t, nest)
		}
		return s.app(t, tail, nest)
	case *dag.Let:
		if c := s.rawLets(t, tail, nest); c != nil {
			return c
		}
		// A chain of lets runs in one Go frame: let a = 1; b = 2 in e
		// is Let(1, Let(2, e)).
		type binding struct {
			slot int
			val  code
		}
		var bs []binding
		var next dag.Term = t
		for {
			l, ok := next.(*dag.Let)
			if !ok {
				break
			}
			bs = append(bs, binding{slot: s.nbind, val: s.expr(l.Value, false, nest+1)})
			s.bind(1)
			next = l.Body
		}
		body := s.expr(next, tail, nest+1)
		s.unbind(len(bs))
		if len(bs) == 1 {
			slot, val := bs[0].slot, bs[0].val
			return func(th *Thread, fr *frame) Value {
				fr.slots[slot] = val(th, fr)
				return body(th, fr)
			}
		}
		return func(th *Thread, fr *frame) Value {
			for _, b := range bs {
				fr.slots[b.slot] = b.val(th, fr)
			}
			return body(th, fr)
		}
	case *dag.LetRec:
		lam, ok := t.Value.(*dag.Lam)
		if !ok {
			malformed("letrec value is not a lambda")
		}
		checkArity(lam)
		slot := s.nbind
		s.bind(1)
		mk := s.lambda(lam.Arity, lam.Body, lam, true)
		body := s.expr(t.Body, tail, nest+1)
		s.unbind(1)
		return func(th *Thread, fr *frame) Value {
			fr.slots[slot] = mk(th, fr)
			return body(th, fr)
		}
	case *dag.If:
		cond := s.cond(t.Cond, s.site(t), nest+1)
		then := s.expr(t.Then, tail, nest+1)
		els := s.expr(t.Else, tail, nest+1)
		return func(th *Thread, fr *frame) Value {
			if cond(th, fr) {
				return then(th, fr)
			}
			return els(th, fr)
		}
	case *dag.Match:
		return s.match(t, tail, nest)
	case *dag.Tuple:
		if len(t.Elems) < 2 {
			malformed("tuple of %d elements", len(t.Elems))
		}
		elems := s.exprs(t.Elems, nest+1)
		k := len(elems)
		if len(elems) == 2 {
			a, b := elems[0], elems[1]
			if tail {
				return func(th *Thread, fr *frame) Value {
					x := a(th, fr)
					y := b(th, fr)
					if th.retFp == th.fp && th.retK == 2 {
						th.ret[0], th.ret[1] = x, y
						return tupleRet
					}
					th.alloc(sizeTuple + 2*sizeSlot)
					return newTuple2(x, y)
				}
			}
			return func(th *Thread, fr *frame) Value {
				x := a(th, fr)
				y := b(th, fr)
				th.alloc(sizeTuple + 2*sizeSlot)
				return newTuple2(x, y)
			}
		}
		if tail && k <= maxTupleRet {
			return func(th *Thread, fr *frame) Value {
				var vs [maxTupleRet]Value
				for i, e := range elems {
					vs[i] = e(th, fr)
				}
				if th.retFp == th.fp && th.retK == k {
					th.ret = vs
					return tupleRet
				}
				th.alloc(sizeTuple + int64(k)*sizeSlot)
				return &Tuple{Elems: append([]Value(nil), vs[:k]...)}
			}
		}
		return func(th *Thread, fr *frame) Value {
			th.alloc(sizeTuple + int64(len(elems))*sizeSlot)
			vs := make([]Value, len(elems))
			for i, e := range elems {
				vs[i] = e(th, fr)
			}
			return &Tuple{Elems: vs}
		}
	case *dag.List:
		if len(t.Elems) == 0 {
			return constCode(emptyList)
		}
		elems := s.exprs(t.Elems, nest+1)
		return func(th *Thread, fr *frame) Value {
			l, vs := th.makeList(len(elems))
			for i, e := range elems {
				vs[i] = e(th, fr)
			}
			return l
		}
	case *dag.Force:
		x := s.expr(t.X, false, nest+1)
		at := s.site(t)
		if tail {
			return func(th *Thread, fr *frame) Value {
				th.tcFn = x(th, fr)
				th.tcBase, th.tcN = th.sp, 0
				th.at = at
				return nil
			}
		}
		w := 1 + nest
		return func(th *Thread, fr *frame) Value {
			f := x(th, fr)
			th.at = at
			return th.run(f, th.sp, 0, w)
		}
	case nil:
		malformed("nil term")
	}
	malformed("unknown term %T", t)
	return nil
}

func (s *scope) exprs(ts []dag.Term, nest int) []code {
	cs := make([]code, len(ts))
	for i, t := range ts {
		cs[i] = s.expr(t, false, nest)
	}
	return cs
}

func (s *scope) selfDef(t *dag.Self) *defCode {
	if s.c.owner == nil {
		malformed("self reference outside a definition block")
	}
	return defFor(dag.DefRef{CID: s.c.owner.CID, Member: t.Member})
}

func (s *scope) ctor(t *dag.Ctor) *ctorDesc {
	if t.Arity < 0 || t.Arity > maxArity || t.Index < 0 {
		malformed("constructor with arity %d, index %d", t.Arity, t.Index)
	}
	return internCtor(t.Type, t.Index, t.Arity)
}

// lambda compiles a closure-creating expression.
func (s *scope) lambda(arity int, body, term dag.Term, rec bool) code {
	caps := freeVars(body, arity)
	rec = rec && len(caps) > 0 && caps[0] == 0
	srcs := make([]int, len(caps))
	for k, j := range caps {
		if rec && k == 0 {
			continue
		}
		srcs[k] = s.locate(j)
	}
	fc := s.c.function(arity, body, term, caps, rec)
	return s.closureCode(fc, srcs, rec)
}

// lambdaWith compiles a closure over the same captured values as the
// lambda (arity, body), but whose code mk compiles in the lambda's scope.
func (s *scope) lambdaWith(arity int, body, term dag.Term, mk func(ls *scope) code) code {
	caps := freeVars(body, arity)
	srcs := make([]int, len(caps))
	for k, j := range caps {
		srcs[k] = s.locate(j)
	}
	c := s.c
	fc := &funcCode{arity: arity, nslots: arity, term: term, caps: caps, owner: c.owner, unit: c.unit}
	ls := &scope{c: c, fc: fc, nbind: arity, capOf: capsOf(caps)}
	fc.body = mk(ls)
	return s.closureCode(fc, srcs, false)
}

// closureCode makes the closure of fc, capturing srcs (slots, or env
// indices as -(k+1)).
func (s *scope) closureCode(fc *funcCode, srcs []int, rec bool) code {
	n := len(srcs)
	switch {
	case n == 0:
		return constCode(&Closure{fc: fc})
	case n == 1 && rec:
		cl := &Closure{fc: fc, env: make([]Value, 1)}
		cl.env[0] = cl
		return constCode(cl)
	}
	size := sizeClosure + int64(n)*sizeSlot
	return func(th *Thread, fr *frame) Value {
		th.alloc(size)
		env := make([]Value, n)
		cl := &Closure{fc: fc, env: env}
		for k, src := range srcs {
			if src >= 0 {
				env[k] = fr.slots[src]
			} else {
				env[k] = fr.env[-src-1]
			}
		}
		if rec {
			env[0] = cl
		}
		return cl
	}
}

// app compiles an application, with fast paths for builtins and
// constructors given all their arguments and for calls of definitions.
func (s *scope) app(t *dag.App, tail bool, nest int) code {
	n := len(t.Args)
	if n == 0 {
		malformed("application without arguments")
	}
	switch f := t.Fn.(type) {
	case *dag.Builtin:
		desc := s.builtin(f.Name)
		if desc.arity == n {
			return s.builtinCall(desc, t.Args, s.site(t), nest)
		}
	case *dag.Ctor:
		d := s.ctor(f)
		if d.arity == n {
			args := s.exprs(t.Args, nest+1)
			if n == 1 {
				a := args[0]
				return func(th *Thread, fr *frame) Value {
					x := a(th, fr)
					th.alloc(sizeData + sizeSlot)
					return newData1(d, x)
				}
			}
			if n == 2 {
				a, b := args[0], args[1]
				return func(th *Thread, fr *frame) Value {
					x := a(th, fr)
					y := b(th, fr)
					th.alloc(sizeData + 2*sizeSlot)
					return newData2(d, x, y)
				}
			}
			return func(th *Thread, fr *frame) Value {
				th.alloc(sizeData + int64(n)*sizeSlot)
				x := newDataN(d, n)
				for i, a := range args {
					x.Fields[i] = a(th, fr)
				}
				return x
			}
		}
	case *dag.Ref:
		dc := defFor(f.Def)
		args := s.exprs(t.Args, nest+1)
		return s.callCode(func(th *Thread, _ *frame) Value {
			th.guardDef(dc)
			return th.defValue(dc)
		}, args, s.site(t), tail, nest)
	case *dag.Self:
		dc := s.selfDef(f)
		var args []code
		if tail && s.own != nil && f.Member == s.c.owner.Member {
			args = s.selfArgs(t.Args, nest+1)
		} else {
			args = s.exprs(t.Args, nest+1)
		}
		if f.Member != s.c.owner.Member {
			return s.callCode(func(th *Thread, _ *frame) Value {
				th.guardDef(dc)
				return th.defValue(dc)
			}, args, s.site(t), tail, nest)
		}
		// Recursion: the code runs only after its definition was reached
		// through a checked reference (see guard.go).
		return s.callCode(func(th *Thread, _ *frame) Value { return th.defValue(dc) }, args, s.site(t), tail, nest)
	}
	fn := s.expr(t.Fn, false, nest+1)
	return s.callCode(fn, s.exprs(t.Args, nest+1), s.site(t), tail, nest)
}

// callCode applies the value of fn to args: a tail call or a nested one.
// The site is set once the arguments are evaluated: it is where the call
// is, for the callee's frame and for a failure to apply.
func (s *scope) callCode(fn code, args []code, at *site, tail bool, nest int) code {
	n := len(args)
	if tail {
		if n == 1 {
			a := args[0]
			return func(th *Thread, fr *frame) Value {
				f := fn(th, fr)
				base := th.sp
				th.push(a(th, fr))
				th.tcFn, th.tcBase, th.tcN = f, base, 1
				th.at = at
				return nil
			}
		}
		return func(th *Thread, fr *frame) Value {
			f := fn(th, fr)
			base := th.sp
			for _, a := range args {
				th.push(a(th, fr))
			}
			th.tcFn, th.tcBase, th.tcN = f, base, n
			th.at = at
			return nil
		}
	}
	w := 1 + nest
	switch n {
	case 1:
		a := args[0]
		return func(th *Thread, fr *frame) Value {
			f := fn(th, fr)
			base := th.sp
			th.push(a(th, fr))
			th.at = at
			return th.run(f, base, 1, w)
		}
	case 2:
		a, b := args[0], args[1]
		return func(th *Thread, fr *frame) Value {
			f := fn(th, fr)
			base := th.sp
			th.push(a(th, fr))
			th.push(b(th, fr))
			th.at = at
			return th.run(f, base, 2, w)
		}
	}
	return func(th *Thread, fr *frame) Value {
		f := fn(th, fr)
		base := th.sp
		for _, a := range args {
			th.push(a(th, fr))
		}
		th.at = at
		return th.run(f, base, n, w)
	}
}

// builtinCall compiles a builtin given exactly its arity.
func (s *scope) builtinCall(desc *builtinDesc, ts []dag.Term, at *site, nest int) code {
	if c := s.opCode(desc.name, ts, at, nest); c != nil {
		return c
	}
	if c := s.foldInsert(desc, ts, at, nest); c != nil {
		return c
	}
	args := s.exprs(ts, nest+1)
	// Builtins that call back into the language run those calls from
	// this nesting; weigh them like a call.
	w := 0
	if desc.higherOrder {
		w = nest + desc.extraDepth
	}
	switch {
	case len(args) == 1 && desc.f1 != nil:
		f, a := desc.f1, args[0]
		return func(th *Thread, fr *frame) Value {
			x := a(th, fr)
			th.step()
			th.at = at
			if w == 0 {
				return f(th, x)
			}
			th.depth += w
			v := f(th, x)
			th.depth -= w
			return v
		}
	case len(args) == 2 && desc.f2 != nil:
		f, a, b := desc.f2, args[0], args[1]
		return func(th *Thread, fr *frame) Value {
			x := a(th, fr)
			y := b(th, fr)
			th.step()
			th.at = at
			if w == 0 {
				return f(th, x, y)
			}
			th.depth += w
			v := f(th, x, y)
			th.depth -= w
			return v
		}
	}
	f, n := desc.fn, len(args)
	return func(th *Thread, fr *frame) Value {
		base := th.sp
		for _, a := range args {
			th.push(a(th, fr))
		}
		th.step()
		th.at = at
		th.depth += w
		v := f(th, th.stack[base:base+n])
		th.depth -= w
		th.sp = base
		return v
	}
}

// cond compiles an if condition to a Go bool.
func (s *scope) cond(t dag.Term, at *site, nest int) func(*Thread, *frame) bool {
	if c := s.condOp(t, nest); c != nil {
		return c
	}
	c := s.expr(t, false, nest)
	return func(th *Thread, fr *frame) bool {
		v := c(th, fr)
		b, ok := v.(Bool)
		if !ok {
			th.at = at
			th.fail("if condition is %s, not a Bool", describe(v))
		}
		return bool(b)
	}
}

type armCode struct {
	pat  patCode
	body code
}

func (s *scope) match(t *dag.Match, tail bool, nest int) code {
	if c := s.matchTuple(t, tail, nest); c != nil {
		return c
	}
	if c := s.matchCall(t, tail, nest); c != nil {
		return c
	}
	if c := s.matchList(t, tail, nest); c != nil {
		return c
	}
	scrut := s.expr(t.Scrutinee, false, nest+1)
	at := s.site(t)
	arms := make([]armCode, len(t.Arms))
	for i, a := range t.Arms {
		next := s.nbind
		pat := s.pattern(a.Pat, &next)
		nv := next - s.nbind
		s.bind(nv)
		arms[i] = armCode{pat: pat, body: s.expr(a.Body, tail, nest+1)}
		s.unbind(nv)
	}
	return func(th *Thread, fr *frame) Value {
		v := scrut(th, fr)
		for i := range arms {
			th.step()
			if arms[i].pat(th, v, fr.slots) {
				return arms[i].body(th, fr)
			}
		}
		th.at = at
		th.noMatch(v)
		return nil
	}
}

// matchTuple compiles match (a, b, ...) with | (p, q, ...) -> ... without
// building the tuple, when every arm is a tuple pattern of its size or
// _: the elements are pushed on the value stack and matched there.
func (s *scope) matchTuple(t *dag.Match, tail bool, nest int) code {
	tup, ok := t.Scrutinee.(*dag.Tuple)
	if !ok || len(tup.Elems) < 2 {
		return nil
	}
	k := len(tup.Elems)
	if !s.tupleArms0(t, k) {
		return nil
	}
	elems := s.exprs(tup.Elems, nest+1)
	at := s.site(t)
	arms := s.tupleArms(t, tail, nest)
	return func(th *Thread, fr *frame) Value {
		base := th.sp
		for _, e := range elems {
			th.push(e(th, fr))
		}
		vs := th.stack[base : base+k]
		for i := range arms {
			th.step()
			if !arms[i].match(th, vs, fr.slots) {
				continue
			}
			th.sp = base
			return arms[i].body(th, fr)
		}
		v := &Tuple{Elems: append([]Value(nil), vs...)}
		th.sp = base
		th.at = at
		th.noMatch(v)
		return nil
	}
}

// Tuples returned to a match. A function whose result is a tuple built
// in its tail position, called as the scrutinee of a match whose arms
// are all tuple patterns of that size (match f x with | (a, b) -> ...),
// hands the elements over in Thread.ret instead of building the tuple:
// the call sets retFp to the frame the callee runs in (tail calls run in
// the same frame) and retK to the size, and the tuple code of that frame
// returns the marker tupleRet after filling ret. Any other frame, or a
// tuple of another size, builds the tuple as usual. The memory of a
// tuple not built is not charged; fuel is unchanged.
const maxTupleRet = 4

var tupleRet Value = &tupleRetMarker{}

type tupleRetMarker struct{ Unit }

// tupleArms compiles the arms of a match whose arms are all tuple
// patterns of one size or _ (see tupleArms0).
func (s *scope) tupleArms(t *dag.Match, tail bool, nest int) []tupleArm {
	arms := make([]tupleArm, len(t.Arms))
	for i, a := range t.Arms {
		next := s.nbind
		if p, ok := a.Pat.(*dag.PTuple); ok {
			arms[i].tuple = true
			if arms[i].idx = varSlots(p.Elems, &next); arms[i].idx == nil {
				arms[i].subs = s.patterns(p.Elems, &next)
			}
		}
		nv := next - s.nbind
		s.bind(nv)
		arms[i].body = s.expr(a.Body, tail, nest+1)
		s.unbind(nv)
	}
	return arms
}

type tupleArm struct {
	tuple bool      // a tuple pattern (else _)
	idx   []int     // its slots, when it holds only variables and _
	subs  []patCode // otherwise its element patterns
	body  code
}

// match tests the elements vs against the arm's pattern.
func (a *tupleArm) match(th *Thread, vs []Value, slots []Value) bool {
	if a.idx != nil {
		for j, sl := range a.idx {
			if sl >= 0 {
				slots[sl] = vs[j]
			}
		}
		return true
	}
	for j, sub := range a.subs {
		if !sub(th, vs[j], slots) {
			return false
		}
	}
	return true
}

// matchCall compiles match f x ... with | (p, q) -> ... so that f may
// return the tuple's elements without building it (see tupleRet).
func (s *scope) matchCall(t *dag.Match, tail bool, nest int) code {
	app, ok := t.Scrutinee.(*dag.App)
	if !ok || len(t.Arms) == 0 {
		return nil
	}
	p, ok := t.Arms[0].Pat.(*dag.PTuple)
	if !ok || len(p.Elems) > maxTupleRet {
		return nil
	}
	k := len(p.Elems)
	if !s.tupleArms0(t, k) {
		return nil
	}
	switch app.Fn.(type) {
	case *dag.Builtin, *dag.Ctor:
		return nil
	}
	fn := s.expr(app.Fn, false, nest+2)
	args := s.exprs(app.Args, nest+2)
	callAt := s.site(app)
	w := 2 + nest
	n := len(args)
	at := s.site(t)
	arms := s.tupleArms(t, tail, nest)
	return func(th *Thread, fr *frame) Value {
		f := fn(th, fr)
		base := th.sp
		for _, a := range args {
			th.push(a(th, fr))
		}
		th.at = callAt
		sfp, sk := th.retFp, th.retK
		th.retFp, th.retK = th.fp+1, k
		v := th.run(f, base, n, w)
		th.retFp, th.retK = sfp, sk
		var buf [maxTupleRet]Value
		var vs []Value
		_, handed := v.(*tupleRetMarker)
		if handed {
			// Only the first k were filled; clearing them drops the
			// thread's references without touching the others.
			copy(buf[:k], th.ret[:k])
			clear(th.ret[:k])
			vs = buf[:k]
		} else if x, ok := v.(*Tuple); ok && len(x.Elems) == k {
			vs = x.Elems
		}
		for i := range arms {
			th.step()
			if arms[i].tuple && (vs == nil || !arms[i].match(th, vs, fr.slots)) {
				continue
			}
			return arms[i].body(th, fr)
		}
		if handed {
			v = &Tuple{Elems: append([]Value(nil), vs...)}
		}
		th.at = at
		th.noMatch(v)
		return nil
	}
}

// tupleArms0 reports whether every arm of t is a tuple pattern of size k
// or _.
func (s *scope) tupleArms0(t *dag.Match, k int) bool {
	for _, a := range t.Arms {
		switch p := a.Pat.(type) {
		case *dag.PWild:
		case *dag.PTuple:
			if len(p.Elems) != k {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// patCode tests v against a pattern, binding variables into slots.
type patCode func(th *Thread, v Value, slots []Value) bool

func (s *scope) pattern(p dag.Pattern, next *int) patCode {
	switch p := p.(type) {
	case *dag.PVar:
		slot := *next
		*next++
		return func(_ *Thread, v Value, slots []Value) bool {
			slots[slot] = v
			return true
		}
	case *dag.PWild:
		return func(*Thread, Value, []Value) bool { return true }
	case *dag.PLit:
		return litPattern(p.Lit)
	case *dag.PCtor:
		if p.Index < 0 {
			malformed("constructor pattern with index %d", p.Index)
		}
		d := internCtor(p.Type, p.Index, len(p.Args))
		if idx := varSlots(p.Args, next); idx != nil {
			// Only variables and _: bind the fields without a call each.
			n := len(idx)
			return func(_ *Thread, v Value, slots []Value) bool {
				x, ok := v.(*Data)
				if !ok || x.ctor != d || len(x.Fields) != n {
					return false
				}
				for i, sl := range idx {
					if sl >= 0 {
						slots[sl] = x.Fields[i]
					}
				}
				return true
			}
		}
		subs := s.patterns(p.Args, next)
		n := len(subs)
		return func(th *Thread, v Value, slots []Value) bool {
			x, ok := v.(*Data)
			if !ok || x.ctor != d || len(x.Fields) != n {
				return false
			}
			for i, sub := range subs {
				if !sub(th, x.Fields[i], slots) {
					return false
				}
			}
			return true
		}
	case *dag.PTuple:
		subs := s.patterns(p.Elems, next)
		n := len(subs)
		return func(th *Thread, v Value, slots []Value) bool {
			x, ok := v.(*Tuple)
			if !ok || len(x.Elems) != n {
				return false
			}
			for i, sub := range subs {
				if !sub(th, x.Elems[i], slots) {
					return false
				}
			}
			return true
		}
	case *dag.PList:
		subs := s.patterns(p.Elems, next)
		n := len(subs)
		return func(th *Thread, v Value, slots []Value) bool {
			x, ok := v.(*List)
			if !ok || x.n != n {
				return false
			}
			for i, sub := range subs {
				if !sub(th, x.At(i), slots) {
					return false
				}
			}
			return true
		}
	case *dag.PCons:
		if idx := varSlots([]dag.Pattern{p.Head, p.Tail}, next); idx != nil {
			h, tl := idx[0], idx[1]
			return func(th *Thread, v Value, slots []Value) bool {
				x, ok := v.(*List)
				if !ok || x.n == 0 {
					return false
				}
				if h >= 0 {
					slots[h] = x.At(0)
				}
				if tl >= 0 {
					slots[tl] = th.tail(x)
				}
				return true
			}
		}
		head := s.pattern(p.Head, next)
		_, wild := p.Tail.(*dag.PWild)
		tail := s.pattern(p.Tail, next)
		return func(th *Thread, v Value, slots []Value) bool {
			x, ok := v.(*List)
			if !ok || x.n == 0 || !head(th, x.At(0), slots) {
				return false
			}
			return wild || tail(th, th.tail(x), slots)
		}
	case nil:
		malformed("nil pattern")
	}
	malformed("unknown pattern %T", p)
	return nil
}

// varSlots returns, when every pattern of ps is a variable or _, the
// slot each binds (-1 for _), numbered as s.patterns would number them;
// otherwise nil.
func varSlots(ps []dag.Pattern, next *int) []int {
	for _, p := range ps {
		switch p.(type) {
		case *dag.PVar, *dag.PWild:
		default:
			return nil
		}
	}
	idx := make([]int, len(ps))
	for i, p := range ps {
		idx[i] = -1
		if _, ok := p.(*dag.PVar); ok {
			idx[i] = *next
			*next++
		}
	}
	return idx
}

func (s *scope) patterns(ps []dag.Pattern, next *int) []patCode {
	out := make([]patCode, len(ps))
	for i, p := range ps {
		out[i] = s.pattern(p, next)
	}
	return out
}

func litPattern(lit dag.Term) patCode {
	switch l := lit.(type) {
	case *dag.Int:
		want := Int(l.V)
		return func(_ *Thread, v Value, _ []Value) bool {
			x, ok := v.(Int)
			return ok && x == want
		}
	case *dag.Float:
		want := float64(l.V)
		return func(_ *Thread, v Value, _ []Value) bool {
			x, ok := v.(Float)
			return ok && compareFloat(float64(x), want) == 0
		}
	case *dag.Text:
		want := Text(l.V)
		return func(_ *Thread, v Value, _ []Value) bool {
			x, ok := v.(Text)
			return ok && x == want
		}
	case *dag.Bool:
		want := Bool(l.V)
		return func(_ *Thread, v Value, _ []Value) bool {
			x, ok := v.(Bool)
			return ok && x == want
		}
	case *dag.Bytes:
		want := Bytes(l.V)
		return func(_ *Thread, v Value, _ []Value) bool {
			x, ok := v.(Bytes)
			return ok && x == want
		}
	case *dag.Unit:
		return func(_ *Thread, v Value, _ []Value) bool {
			_, ok := v.(Unit)
			return ok
		}
	}
	malformed("literal pattern of %T", lit)
	return nil
}

// freeVars returns, sorted, the de Bruijn indices free in t when t sits
// under depth binders, relative to the outside of those binders.
func freeVars(t dag.Term, depth int) []int {
	fv, _ := freeVarsCount(t, depth)
	return fv
}

// freeVarsCount is freeVars, and how many term nodes t has.
func freeVarsCount(t dag.Term, depth int) ([]int, int64) {
	set := map[int]bool{}
	var n int64
	collectFree(t, depth, set, &n)
	out := make([]int, 0, len(set))
	for j := range set {
		out = append(out, j)
	}
	slices.Sort(out)
	return out, n
}

func collectFree(t dag.Term, d int, set map[int]bool, n *int64) {
	*n++
	switch t := t.(type) {
	case *dag.Var:
		if t.Index >= d {
			set[t.Index-d] = true
		}
	case *dag.Lam:
		collectFree(t.Body, d+t.Arity, set, n)
	case *dag.Delay:
		collectFree(t.Body, d, set, n)
	case *dag.App:
		collectFree(t.Fn, d, set, n)
		for _, a := range t.Args {
			collectFree(a, d, set, n)
		}
	case *dag.Let:
		collectFree(t.Value, d, set, n)
		collectFree(t.Body, d+1, set, n)
	case *dag.LetRec:
		collectFree(t.Value, d+1, set, n)
		collectFree(t.Body, d+1, set, n)
	case *dag.If:
		collectFree(t.Cond, d, set, n)
		collectFree(t.Then, d, set, n)
		collectFree(t.Else, d, set, n)
	case *dag.Match:
		collectFree(t.Scrutinee, d, set, n)
		for _, a := range t.Arms {
			collectFree(a.Body, d+patVars(a.Pat), set, n)
		}
	case *dag.Tuple:
		for _, e := range t.Elems {
			collectFree(e, d, set, n)
		}
	case *dag.List:
		for _, e := range t.Elems {
			collectFree(e, d, set, n)
		}
	case *dag.Force:
		collectFree(t.X, d, set, n)
	}
}

// patVars counts the variables a pattern binds.
func patVars(p dag.Pattern) int {
	switch p := p.(type) {
	case *dag.PVar:
		return 1
	case *dag.PCtor:
		n := 0
		for _, a := range p.Args {
			n += patVars(a)
		}
		return n
	case *dag.PTuple:
		n := 0
		for _, a := range p.Elems {
			n += patVars(a)
		}
		return n
	case *dag.PList:
		n := 0
		for _, a := range p.Elems {
			n += patVars(a)
		}
		return n
	case *dag.PCons:
		return patVars(p.Head) + patVars(p.Tail)
	}
	return 0
}

// noMatch fails a match. An under-applied constructor is the usual way to
// get a function where data was expected: name it and count its fields.
func (th *Thread) noMatch(v Value) {
	var c *ctorDesc
	var args []Value
	switch f := v.(type) {
	case *CtorFn:
		c = f.ctor
	case *Partial:
		if cf, ok := f.Fn.(*CtorFn); ok {
			c, args = cf.ctor, f.Args
		}
	}
	if c == nil {
		th.fail("no pattern matched %s", showBrief(v, th.Names))
	}
	name := ctorName(c, th.Names)
	shown := name
	for _, a := range args {
		shown += " " + showBrief(a, th.Names)
	}
	th.fail("no pattern matched: %s is the constructor %s given %d of its %d field%s (a function, not data)",
		shown, name, len(args), c.arity, plural(c.arity))
}
