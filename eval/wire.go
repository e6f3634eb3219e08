package eval

import (
	"errors"
	"fmt"
	"math"

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
func ToWire(v Value) (dag.Value, error) {
	return toWire(v, 0)
}

var errTooDeep = fmt.Errorf("value nested more than %d levels deep", maxValueDepth)

func toWire(v Value, depth int) (dag.Value, error) {
	if depth > maxValueDepth {
		return nil, errTooDeep
	}
	// Loop down the last field of constructors, so that long
	// right-nested data converts in constant Go stack.
	var root dag.Value
	hole := &root
	for {
		d, ok := v.(*Data)
		if !ok {
			w, err := toWireOne(v, depth)
			if err != nil {
				return nil, err
			}
			*hole = w
			return root, nil
		}
		n := len(d.Fields)
		fields := make([]dag.Value, n)
		for i := 0; i < n-1; i++ {
			f, err := toWire(d.Fields[i], depth+1)
			if err != nil {
				return nil, err
			}
			fields[i] = f
		}
		*hole = &dag.VData{Type: d.ctor.typ, Ctor: d.ctor.index, Fields: fields}
		if n == 0 {
			return root, nil
		}
		hole = &fields[n-1]
		v = d.Fields[n-1]
	}
}

func toWires(vs []Value, depth int) ([]dag.Value, error) {
	out := make([]dag.Value, len(vs))
	for i, v := range vs {
		w, err := toWire(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

func toWireOne(v Value, depth int) (dag.Value, error) {
	switch x := v.(type) {
	case Int:
		return &dag.VInt{V: int64(x)}, nil
	case Float:
		return &dag.VFloat{V: float64(x)}, nil
	case Text:
		return &dag.VText{V: string(x)}, nil
	case Bool:
		return &dag.VBool{V: bool(x)}, nil
	case Bytes:
		return &dag.VBytes{V: []byte(x)}, nil
	case Unit:
		return &dag.VUnit{}, nil
	case *Tuple:
		es, err := toWires(x.Elems, depth)
		if err != nil {
			return nil, err
		}
		return &dag.VTuple{Elems: es}, nil
	case *List:
		es, err := toWires(x.Elems(), depth)
		if err != nil {
			return nil, err
		}
		return &dag.VList{Elems: es}, nil
	case *Map:
		keys, vals := x.Entries()
		ks, err := toWires(keys, depth)
		if err != nil {
			return nil, err
		}
		vs, err := toWires(vals, depth)
		if err != nil {
			return nil, err
		}
		return &dag.VMap{Keys: ks, Vals: vs}, nil
	case *Closure:
		return closureToWire(x, depth)
	case *DefFn:
		return &dag.VDef{Def: x.dc.ref}, nil
	case *Builtin:
		return &dag.VBuiltin{Name: x.desc.name}, nil
	case *CtorFn:
		return &dag.VCtorFn{Type: x.ctor.typ, Index: x.ctor.index, Arity: x.ctor.arity}, nil
	case *Partial:
		args, err := toWires(x.Args, depth)
		if err != nil {
			return nil, err
		}
		switch f := x.Fn.(type) {
		case *Builtin:
			return &dag.VBuiltin{Name: f.desc.name, Args: args}, nil
		case *CtorFn:
			return &dag.VCtorFn{Type: f.ctor.typ, Index: f.ctor.index, Arity: f.ctor.arity, Args: args}, nil
		}
		fn, err := toWire(x.Fn, depth+1)
		if err != nil {
			return nil, err
		}
		return &dag.VPartial{Fn: fn, Args: args}, nil
	case *Node:
		return &dag.VNode{ID: x.ID, Addrs: append([]string(nil), x.Addrs...)}, nil
	case *Channel:
		return &dag.VChannel{ID: append([]byte(nil), x.ID...), Node: x.Node}, nil
	}
	return nil, fmt.Errorf("%s cannot be sent", describe(v))
}

func closureToWire(c *Closure, depth int) (dag.Value, error) {
	fc := c.fc
	if fc.isDef && len(c.env) == 0 {
		return &dag.VDef{Def: *fc.owner}, nil
	}
	code, err := fc.wireCode()
	if err != nil {
		return nil, err
	}
	env := make([]dag.Value, len(c.env))
	for k, v := range c.env {
		if fc.rec && k == 0 {
			env[k] = &dag.VUnit{} // the closure itself, restored on decode
			continue
		}
		w, err := toWire(v, depth+1)
		if err != nil {
			return nil, err
		}
		env[k] = w
	}
	return &dag.VClosure{Code: code, Env: env, Rec: fc.rec}, nil
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
	})
	return fc.wire, fc.wireErr
}

type rewriter struct {
	capOf map[int]int
	owner *dag.DefRef
	err   error
}

// term copies t (under d binders of the closure) with outer variables
// renumbered and Self replaced by absolute references.
func (r *rewriter) term(t dag.Term, d int) dag.Term {
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
	return &Thread{maxMem: math.MaxInt64, maxSteps: math.MaxInt64, checkAt: math.MaxInt64, maxDepth: math.MaxInt}
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
	c := newCompiler(nil)
	return c.function(arity, body, term, caps, rec)
}
