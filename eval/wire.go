package eval

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/unode-dev/unode/dag"
)

// DefFn is a top-level function definition received as a value (a
// dag.VDef) before its code was loaded. Applying it loads the definition
// through the thread's Loader.
type DefFn struct{ dc *defCode }

func (*DefFn) Type() string     { return "function" }
func (f *DefFn) String() string { return "<function>" }

// Ref is the definition's reference.
func (f *DefFn) Ref() dag.DefRef { return f.dc.ref }

// ToWire converts a value to its wire form. Closures become their code (a
// *dag.Lam or *dag.Delay whose free variables are renumbered to index the
// captured environment, which holds only what the body uses, and whose
// references to its own definition block are made absolute) plus that
// environment; top-level functions become references (dag.VDef).
// Futures and clusters cannot be sent.
//
// The wire form has no sharing: a value reached twice is written twice.
// ToWire first measures a lower bound of the encoded size without
// allocating (wireSize), stopping as soon as it passes dag.MaxValueSize,
// which dag.EncodeValue would refuse anyway, and then returns an error
// wrapping dag.ErrTooLarge: a value with much shared structure (a tower
// of pairs) is refused after a few MB worth of values visited instead of
// expanded. Code running on a Thread uses Thread.ToWire, which also
// charges the evaluation's budgets.
func ToWire(v Value) (w dag.Value, err error) {
	// Large parts travel as chunk blocks (dag.EncodeValueChunked), so
	// the bound is the chunked value's, not one message's.
	if size, nodes, _ := wireSize(nil, v, dag.MaxChunkedBytes); size > dag.MaxChunkedBytes || nodes > MaxWireNodes {
		return nil, errValueTooBig(dag.MaxChunkedBytes)
	}
	e := &wireEnc{limit: dag.MaxChunkedBytes}
	defer e.recover(&err)
	return e.value(v, 0), nil
}

func errValueTooBig(limit int64) error {
	return &dag.EncodeError{Msg: fmt.Sprintf("value expands beyond %d bytes once encoded", limit), Err: dag.ErrTooLarge}
}

// ToWire converts v to its wire form like the package's ToWire, for
// sending on behalf of the evaluation running on th (a thunk for at, a
// result, a message). The encoded size is bounded by the thread's
// MaxResultBytes and by dag.MaxValueSize, and it is measured before
// anything is allocated, by a walk that stops as soon as the bound is
// passed: a value with much shared structure is refused after visiting
// about limit/2 values, having allocated nothing. Within an evaluation
// the walk polls for cancellation, and the conversion is charged to the
// evaluation's fuel (one unit per 8 values) and memory (its wire form)
// before it allocates. Past a limit it returns a *BudgetError naming
// "result" (the size), "memory" or "fuel", or a *CanceledError. Outside
// an evaluation (a result sent after Call returned) only the size is
// bounded.
func (th *Thread) ToWire(v Value) (w dag.Value, err error) {
	limit := min(th.MaxResultBytesOrDefault(), dag.MaxChunkedBytes) // large parts as chunks
	e := &wireEnc{limit: limit, result: true}
	defer e.recover(&err)
	var poll *Thread
	if th.running > 0 {
		poll = th
	}
	size, nodes, mem := wireSize(poll, v, limit)
	if size > limit || nodes > MaxWireNodes {
		return nil, &BudgetError{Which: BudgetResult, Limit: limit}
	}
	if th.running > 0 {
		th.charge(nodes / 8)
		th.alloc(mem)
		e.th = th
	}
	return e.value(v, 0), nil
}

// wireEnc is one conversion to the wire form, of a value whose size
// wireSize has measured; it keeps its own lower bound of the encoded
// size as a second line of defence.
type wireEnc struct {
	th     *Thread // polled for cancellation; nil for none
	size   int64   // lower bound on the encoded bytes so far
	limit  int64   // on size
	result bool    // past limit: a "result" budget error, not ErrTooLarge
}

// node accounts for one node of the wire form, before it is allocated:
// enc is a lower bound on its encoded bytes beyond the node itself.
func (e *wireEnc) node(enc int64) {
	e.size += wireNodeBytes + enc
	if e.size > e.limit {
		if e.result {
			panic(&BudgetError{Which: BudgetResult, Limit: e.limit})
		}
		panic(errValueTooBig(e.limit))
	}
	if e.th != nil {
		e.th.poll()
	}
}

// recover turns the panics of a conversion into its error.
func (e *wireEnc) recover(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if re, ok := r.(runtime.Error); ok {
		panic(re)
	}
	x, ok := r.(error)
	if !ok {
		panic(r)
	}
	*err = x
}

var errTooDeep = fmt.Errorf("value nested more than %d levels deep", maxValueDepth)

func (e *wireEnc) value(v Value, depth int) dag.Value {
	if depth > maxValueDepth {
		panic(errTooDeep)
	}
	// Loop down the last field of constructors, so that long
	// right-nested data converts in constant Go stack.
	var root dag.Value
	hole := &root
	for {
		d, ok := v.(*Data)
		if !ok {
			*hole = e.one(v, depth)
			return root
		}
		n := len(d.Fields)
		e.node(int64(n))
		fields := make([]dag.Value, n)
		for i := 0; i < n-1; i++ {
			fields[i] = e.value(d.Fields[i], depth+1)
		}
		*hole = &dag.VData{Type: d.ctor.typ, Ctor: d.ctor.index, Fields: fields}
		if n == 0 {
			return root
		}
		hole = &fields[n-1]
		v = d.Fields[n-1]
	}
}

func (e *wireEnc) values(vs []Value, depth int) []dag.Value {
	out := make([]dag.Value, len(vs))
	for i, v := range vs {
		out[i] = e.value(v, depth+1)
	}
	return out
}

func (e *wireEnc) one(v Value, depth int) dag.Value {
	switch x := v.(type) {
	case Int:
		e.node(1)
		return &dag.VInt{V: int64(x)}
	case Float:
		e.node(8)
		return &dag.VFloat{V: float64(x)}
	case Text:
		e.node(int64(len(x)))
		return &dag.VText{V: string(x)}
	case Bool:
		e.node(1)
		return &dag.VBool{V: bool(x)}
	case Bytes:
		e.node(int64(len(x)))
		return &dag.VBytes{V: []byte(x)}
	case Unit:
		e.node(0)
		return &dag.VUnit{}
	case *Tuple:
		e.node(0)
		return &dag.VTuple{Elems: e.values(x.Elems, depth)}
	case *List:
		e.node(0)
		return &dag.VList{Elems: e.values(x.Elems(), depth)}
	case *Map:
		n := int64(x.Len())
		e.node(0)
		ks, vs := make([]dag.Value, 0, n), make([]dag.Value, 0, n)
		var it mapIter
		it.init(x.root)
		for t := it.next(); t != nil; t = it.next() {
			ks = append(ks, e.value(t.k, depth+1))
			vs = append(vs, e.value(t.v, depth+1))
		}
		return &dag.VMap{Keys: ks, Vals: vs}
	case *Closure:
		return e.closure(x, depth)
	case *DefFn:
		e.node(int64(x.dc.ref.CID.ByteLen()))
		return &dag.VDef{Def: x.dc.ref}
	case *Builtin:
		e.node(int64(len(x.desc.name)))
		return &dag.VBuiltin{Name: x.desc.name}
	case *CtorFn:
		e.node(2)
		return &dag.VCtorFn{Type: x.ctor.typ, Index: x.ctor.index, Arity: x.ctor.arity}
	case *Partial:
		e.node(0)
		switch f := x.Fn.(type) {
		case *Builtin:
			e.node(int64(len(f.desc.name)))
			return &dag.VBuiltin{Name: f.desc.name, Args: e.values(x.Args, depth)}
		case *CtorFn:
			e.node(2)
			return &dag.VCtorFn{Type: f.ctor.typ, Index: f.ctor.index, Arity: f.ctor.arity, Args: e.values(x.Args, depth)}
		}
		fn := e.value(x.Fn, depth+1)
		return &dag.VPartial{Fn: fn, Args: e.values(x.Args, depth)}
	case *Node:
		e.node(int64(len(x.ID)))
		return &dag.VNode{ID: x.ID, Addrs: append([]string(nil), x.Addrs...)}
	case *Channel:
		e.node(int64(len(x.ID) + len(x.Node)))
		return &dag.VChannel{ID: append([]byte(nil), x.ID...), Node: x.Node}
	}
	panic(fmt.Errorf("%s cannot be sent", describe(v)))
}

func (e *wireEnc) closure(c *Closure, depth int) dag.Value {
	fc := c.fc
	if fc.isDef && len(c.env) == 0 {
		e.node(int64(fc.owner.CID.ByteLen()))
		return &dag.VDef{Def: *fc.owner}
	}
	code, err := fc.wireCode()
	if err != nil {
		panic(err)
	}
	// The code is shared by every closure of the function; its encoding
	// is written for each.
	e.node(fc.wireNodes * wireNodeBytes)
	env := make([]dag.Value, len(c.env))
	for k, v := range c.env {
		if fc.rec && k == 0 {
			env[k] = &dag.VUnit{} // the closure itself, restored on decode
			continue
		}
		env[k] = e.value(v, depth+1)
	}
	return &dag.VClosure{Code: code, Env: env, Rec: fc.rec}
}

// chargeWire charges what a host storing v's wire form will spend
// (Data.put), before it does: fuel for the walk and memory for the wire
// form, and it refuses a value whose encoding would exceed
// dag.MaxChunkedBytes (a value over dag.MaxValueSize is stored as
// chunks, whose bytes are charged as memory too). It allocates nothing:
// a value with much shared structure is refused after at most
// MaxChunkedBytes/2 values visited, or sooner by the memory budget.
func (th *Thread) chargeWire(v Value) {
	// Past dag.MaxValueSize the encoded bytes are charged as memory, so
	// the walk need not go past what the budget has left.
	limit := int64(dag.MaxChunkedBytes)
	if left := th.maxMem - th.mem; left < limit {
		limit = max(left, dag.MaxValueSize)
	}
	size, nodes, mem := wireSize(th, v, limit)
	if size > limit && limit < dag.MaxChunkedBytes {
		panic(&BudgetError{Which: BudgetMemory, Limit: th.maxMem})
	}
	if size > dag.MaxChunkedBytes || nodes > MaxWireNodes {
		panic(&RuntimeError{Msg: fmt.Sprintf("the value is too big to store (its encoding exceeds %d bytes)", dag.MaxChunkedBytes),
			Stack: th.backtrace(), Err: dag.ErrTooLarge})
	}
	th.charge(nodes / 8)
	if size > dag.MaxValueSize {
		mem += size // the chunk blocks the host makes of it
	}
	th.alloc(mem)
}

// wireSize estimates, without allocating, what converting v to its wire
// form costs: a lower bound on the encoded bytes (stopping once it
// passes limit), the nodes, and the bytes allocated.
func wireSize(th *Thread, v Value, limit int64) (size, nodes, mem int64) {
	stack := []Value{v}
	add := func(enc, m int64) {
		size += wireNodeBytes + enc
		nodes++
		mem += sizeWireNode + m
	}
	for len(stack) > 0 && size <= limit && nodes <= MaxWireNodes {
		if th != nil {
			th.poll()
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x := v.(type) {
		case Int, Bool:
			add(1, 0)
		case Float:
			add(8, 0)
		case Unit:
			add(0, 0)
		case Text:
			add(int64(len(x)), 0)
		case Bytes:
			add(int64(len(x)), int64(len(x)))
		case *Tuple:
			add(0, int64(len(x.Elems))*sizeSlot)
			stack = append(stack, x.Elems...)
		case *List:
			add(0, int64(x.n)*sizeSlot)
			stack = append(stack, x.Elems()...)
		case *Data:
			add(int64(len(x.Fields)), int64(len(x.Fields))*sizeSlot)
			stack = append(stack, x.Fields...)
		case *Map:
			add(0, 2*int64(x.Len())*sizeSlot)
			var it mapIter
			it.init(x.root)
			for t := it.next(); t != nil; t = it.next() {
				stack = append(stack, t.k, t.v)
			}
		case *Closure:
			if x.fc.isDef && len(x.env) == 0 {
				add(int64(x.fc.owner.CID.ByteLen()), 0)
				continue
			}
			code := int64(0)
			if _, err := x.fc.wireCode(); err == nil {
				code = x.fc.wireNodes * wireNodeBytes
			}
			add(code, int64(len(x.env))*sizeSlot)
			env := x.env
			if x.fc.rec && len(env) > 0 {
				env = env[1:]
			}
			stack = append(stack, env...)
		case *Partial:
			add(0, int64(len(x.Args))*sizeSlot)
			stack = append(stack, x.Fn)
			stack = append(stack, x.Args...)
		case *DefFn:
			add(int64(x.dc.ref.CID.ByteLen()), 0)
		case *Builtin:
			add(int64(len(x.desc.name)), 0)
		case *CtorFn:
			add(2, 0)
		case *Node:
			add(int64(len(x.ID)), int64(len(x.Addrs))*sizeText)
		case *Channel:
			add(int64(len(x.ID)+len(x.Node)), int64(len(x.ID)))
		default:
			add(0, 0)
		}
	}
	return size, nodes, mem
}

// wireCode is the closure's code with free variables renumbered to its
// env and Self made absolute; computed once per function.
func (fc *funcCode) wireCode() (dag.Term, error) {
	fc.wireOnce.Do(func() {
		if fc.term == nil {
			fc.wireErr = errors.New("this function cannot be sent")
			return
		}
		k := make(map[int]int, len(fc.caps))
		for i, j := range fc.caps {
			k[j] = i
		}
		r := &rewriter{capOf: k, owner: fc.owner}
		switch t := fc.term.(type) {
		case *dag.Lam:
			fc.wire = &dag.Lam{Arity: t.Arity, Body: r.term(t.Body, t.Arity)}
		case *dag.Delay:
			fc.wire = &dag.Delay{Body: r.term(t.Body, 0)}
		default:
			r.err = fmt.Errorf("closure code is a %T", t)
		}
		fc.wireErr = r.err
		fc.wireNodes = r.nodes
	})
	return fc.wire, fc.wireErr
}

type rewriter struct {
	capOf map[int]int
	owner *dag.DefRef
	err   error
	nodes int64 // terms copied, for wire size estimates
}

// term copies t (under d binders of the closure) with outer variables
// renumbered and Self replaced by absolute references.
func (r *rewriter) term(t dag.Term, d int) dag.Term {
	r.nodes++
	switch t := t.(type) {
	case *dag.Var:
		if t.Index < d {
			return t
		}
		k, ok := r.capOf[t.Index-d]
		if !ok {
			r.err = fmt.Errorf("free variable %d not captured", t.Index-d)
			return t
		}
		return &dag.Var{Index: d + k}
	case *dag.Self:
		if r.owner == nil {
			r.err = errors.New("self reference outside a definition")
			return t
		}
		return &dag.Ref{Def: dag.DefRef{CID: r.owner.CID, Member: t.Member}}
	case *dag.Lam:
		return &dag.Lam{Arity: t.Arity, Body: r.term(t.Body, d+t.Arity)}
	case *dag.Delay:
		return &dag.Delay{Body: r.term(t.Body, d)}
	case *dag.App:
		args := make([]dag.Term, len(t.Args))
		for i, a := range t.Args {
			args[i] = r.term(a, d)
		}
		return &dag.App{Fn: r.term(t.Fn, d), Args: args}
	case *dag.Let:
		return &dag.Let{Value: r.term(t.Value, d), Body: r.term(t.Body, d+1)}
	case *dag.LetRec:
		return &dag.LetRec{Value: r.term(t.Value, d+1), Body: r.term(t.Body, d+1)}
	case *dag.If:
		return &dag.If{Cond: r.term(t.Cond, d), Then: r.term(t.Then, d), Else: r.term(t.Else, d)}
	case *dag.Match:
		arms := make([]dag.Arm, len(t.Arms))
		for i, a := range t.Arms {
			arms[i] = dag.Arm{Pat: a.Pat, Body: r.term(a.Body, d+patVars(a.Pat))}
		}
		return &dag.Match{Scrutinee: r.term(t.Scrutinee, d), Arms: arms}
	case *dag.Tuple:
		return &dag.Tuple{Elems: r.terms(t.Elems, d)}
	case *dag.List:
		return &dag.List{Elems: r.terms(t.Elems, d)}
	case *dag.Force:
		return &dag.Force{X: r.term(t.X, d)}
	}
	return t // leaves without variables
}

func (r *rewriter) terms(ts []dag.Term, d int) []dag.Term {
	out := make([]dag.Term, len(ts))
	for i, t := range ts {
		out[i] = r.term(t, d)
	}
	return out
}

// FromWire converts a wire value back to a runtime value, compiling
// closure code. It checks what the interpreter relies on (map keys
// strictly increasing, constructor arities, partial applications short
// of their arity, closure code closed over its environment) and returns
// an error for anything malformed.
func FromWire(w dag.Value) (v Value, err error) {
	th := scratchThread()
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r)
			}
			v, err = nil, e
		}
	}()
	return th.fromWire(w, 0), nil
}

// scratchThread accounts nothing: FromWire's input is bounded by the
// decoder's limits.
func scratchThread() *Thread {
	return &Thread{maxMem: math.MaxInt64, maxSteps: math.MaxInt64, checkAt: math.MaxInt64, maxDepth: math.MaxInt, scratch: true}
}

func wireFail(format string, args ...any) {
	panic(&MalformedError{Msg: "value: " + fmt.Sprintf(format, args...)})
}

func (th *Thread) fromWires(ws []dag.Value, depth int) []Value {
	out := make([]Value, len(ws))
	for i, w := range ws {
		out[i] = th.fromWire(w, depth+1)
	}
	return out
}

func (th *Thread) fromWire(w dag.Value, depth int) Value {
	if depth > maxValueDepth {
		panic(errTooDeep)
	}
	switch x := w.(type) {
	case *dag.VInt:
		return MakeInt(x.V)
	case *dag.VFloat:
		return Float(x.V)
	case *dag.VText:
		return Text(x.V)
	case *dag.VBool:
		return MakeBool(x.V)
	case *dag.VBytes:
		return Bytes(x.V)
	case *dag.VUnit:
		return UnitValue
	case *dag.VTuple:
		if len(x.Elems) < 2 {
			wireFail("tuple of %d elements", len(x.Elems))
		}
		return &Tuple{Elems: th.fromWires(x.Elems, depth)}
	case *dag.VList:
		return NewList(th.fromWires(x.Elems, depth))
	case *dag.VMap:
		if len(x.Keys) != len(x.Vals) {
			wireFail("map with %d keys and %d values", len(x.Keys), len(x.Vals))
		}
		keys := th.fromWires(x.Keys, depth)
		vals := th.fromWires(x.Vals, depth)
		for i := 1; i < len(keys); i++ {
			if th.compare(keys[i-1], keys[i]) >= 0 {
				wireFail("map keys out of order")
			}
		}
		return th.mapFromSorted(keys, vals)
	case *dag.VData:
		// Loop down the last field, like toWire.
		var root Value
		var hole *Value = &root
		for {
			if x.Ctor < 0 || len(x.Fields) > maxArity {
				wireFail("constructor %d with %d fields", x.Ctor, len(x.Fields))
			}
			c := internCtor(x.Type, x.Ctor, len(x.Fields))
			if c.arity != len(x.Fields) {
				wireFail("constructor %s#%d has %d fields, not %d", x.Type, x.Ctor, c.arity, len(x.Fields))
			}
			n := len(x.Fields)
			if n == 0 {
				*hole = c.nullary
				return root
			}
			fields := make([]Value, n)
			for i := 0; i < n-1; i++ {
				fields[i] = th.fromWire(x.Fields[i], depth+1)
			}
			*hole = &Data{ctor: c, Fields: fields}
			hole = &fields[n-1]
			next, ok := x.Fields[n-1].(*dag.VData)
			if !ok {
				*hole = th.fromWire(x.Fields[n-1], depth+1)
				return root
			}
			x = next
		}
	case *dag.VClosure:
		return th.closureFromWire(x, depth)
	case *dag.VDef:
		// Always by reference, even when the code is loaded: applying it
		// then goes through Thread.CheckDef.
		return &DefFn{dc: defFor(x.Def)}
	case *dag.VBuiltin:
		d, ok := builtins[x.Name]
		if !ok {
			wireFail("unknown builtin %q", x.Name)
		}
		if d.arity == 0 || len(x.Args) >= d.arity {
			wireFail("builtin %s of arity %d with %d arguments", x.Name, d.arity, len(x.Args))
		}
		if len(x.Args) == 0 {
			return d.value
		}
		return &Partial{Fn: d.value, Args: th.fromWires(x.Args, depth)}
	case *dag.VCtorFn:
		if x.Arity < 1 || x.Arity > maxArity || x.Index < 0 || len(x.Args) >= x.Arity {
			wireFail("constructor function of arity %d with %d arguments", x.Arity, len(x.Args))
		}
		c := internCtor(x.Type, x.Index, x.Arity)
		if c.arity != x.Arity {
			wireFail("constructor %s#%d has arity %d, not %d", x.Type, x.Index, c.arity, x.Arity)
		}
		if len(x.Args) == 0 {
			return c.fn
		}
		return &Partial{Fn: c.fn, Args: th.fromWires(x.Args, depth)}
	case *dag.VPartial:
		if len(x.Args) == 0 {
			wireFail("partial application without arguments")
		}
		fn := th.fromWire(x.Fn, depth+1)
		switch f := fn.(type) {
		case *Closure:
			if len(x.Args) >= f.fc.arity {
				wireFail("closure of arity %d partially applied to %d arguments", f.fc.arity, len(x.Args))
			}
		case *DefFn:
		default:
			wireFail("partial application of %s", describe(fn))
		}
		return &Partial{Fn: fn, Args: th.fromWires(x.Args, depth)}
	case *dag.VNode:
		return &Node{ID: x.ID, Addrs: append([]string(nil), x.Addrs...)}
	case *dag.VChannel:
		return &Channel{ID: append([]byte(nil), x.ID...), Node: x.Node}
	case nil:
		wireFail("nil value")
	}
	wireFail("unknown value %T", w)
	return nil
}

func (th *Thread) closureFromWire(x *dag.VClosure, depth int) Value {
	var arity int
	var body dag.Term
	switch c := x.Code.(type) {
	case *dag.Lam:
		if c.Arity < 1 || c.Arity > maxArity {
			wireFail("lambda of arity %d", c.Arity)
		}
		arity, body = c.Arity, c.Body
	case *dag.Delay:
		body = c.Body
	default:
		wireFail("closure code is a %T", x.Code)
	}
	caps := freeVars(body, arity)
	if len(caps) > 0 && caps[len(caps)-1] >= len(x.Env) {
		wireFail("closure code uses variable %d of an environment of %d", caps[len(caps)-1], len(x.Env))
	}
	rec := x.Rec && len(caps) > 0 && caps[0] == 0
	fc := compileWireCode(arity, body, x.Code, caps, rec)
	env := make([]Value, len(caps))
	cl := &Closure{fc: fc, env: env}
	for k, j := range caps {
		if rec && k == 0 {
			env[0] = cl
			continue
		}
		env[k] = th.fromWire(x.Env[j], depth+1)
	}
	return cl
}

func compileWireCode(arity int, body, term dag.Term, caps []int, rec bool) *funcCode {
	// Code from the wire has no source here, so no positions; its sites
	// say where in the code as sent a failure is (remote_errors.go).
	c := newCompiler(nil, nil)
	c.sent = &sentCode{root: term}
	c.unit.sent = c.sent
	return c.function(arity, body, term, caps, rec)
}
