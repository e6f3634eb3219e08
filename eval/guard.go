package eval

import (
	"sync/atomic"

	"github.com/unode-dev/unode/dag"
)

// Run-time capability checks. A node running code that another node sent
// sets Thread.CheckBuiltin and Thread.CheckDef from the sandbox it grants.
// The node checks everything the code names before it runs; these hooks
// cover what is reached dynamically, from values read from node data or
// returned by other nodes, and they cost nothing on the hot paths:
//
//   - Code is compiled in units (one definition, or one expression or
//     value's closure code), and a unit records the builtins it names.
//     The builtins of a unit are checked once per thread before its code
//     can run: a definition's on its first use by reference (with
//     CheckDef), an evaluated expression's by Eval, a value's when it
//     enters the thread (Call's arguments, Data.get, await, at).
//   - A builtin applied as a value (List.map Int.negate ...) is checked
//     when applied, once per thread.
//
// Values enter a thread only through Call and the effect builtins that
// return what a Host produced, so every unit that can run on a thread has
// been checked. Answers are remembered for the thread's life.

// A codeUnit is code compiled together: a definition (owner set) or an
// expression or wire value's closure code. builtins lists the builtins
// its terms name, each once.
type codeUnit struct {
	owner    *dag.DefRef
	sent     *sentCode // code from the wire (remote_errors.go)
	builtins []*builtinDesc
	seen     map[*builtinDesc]bool
}

// builtin resolves a builtin the code names and records it in the unit.
func (s *scope) builtin(name string) *builtinDesc {
	d := lookupBuiltin(name)
	u := s.c.unit
	if u.seen == nil {
		// A few builtins, as most units name: found by a scan, with no
		// map until there are more.
		for _, e := range u.builtins {
			if e == d {
				return d
			}
		}
		if len(u.builtins) < unitMemoBuiltins {
			u.builtins = append(u.builtins, d)
			return d
		}
		u.seen = make(map[*builtinDesc]bool, 2*unitMemoBuiltins)
		for _, e := range u.builtins {
			u.seen[e] = true
		}
	}
	if !u.seen[d] {
		u.seen[d] = true
		u.builtins = append(u.builtins, d)
	}
	return d
}

func (th *Thread) guarded() bool { return th.CheckBuiltin != nil || th.CheckDef != nil }

// guard asks CheckBuiltin about a builtin applied as a value.
func (th *Thread) guard(d *builtinDesc) {
	if th.CheckBuiltin != nil {
		th.checkBuiltin(d)
	}
}

func (th *Thread) checkBuiltin(d *builtinDesc) {
	if d.id < len(th.builtinOK) && th.builtinOK[d.id] {
		return
	}
	if err := th.CheckBuiltin(d.name); err != nil {
		panic(&RuntimeError{Msg: err.Error(), Stack: th.backtrace(), Err: err})
	}
	if d.id >= len(th.builtinOK) {
		ok := make([]bool, len(builtins))
		copy(ok, th.builtinOK)
		th.builtinOK = ok
	}
	th.builtinOK[d.id] = true
}

// checkUnit asks CheckBuiltin about every builtin of a unit. Each
// builtin's answer is remembered in builtinOK, so a unit of a few
// builtins is checked again by as many slice reads, cheaper than a map
// lookup: only units of more are remembered in unitOK (a warm call's
// thread then makes no map for its units).
func (th *Thread) checkUnit(u *codeUnit) {
	if u == nil || th.CheckBuiltin == nil || len(u.builtins) == 0 {
		return
	}
	small := len(u.builtins) <= unitMemoBuiltins
	if !small && th.unitOK[u] {
		return
	}
	for _, d := range u.builtins {
		th.checkBuiltin(d)
	}
	if small {
		return
	}
	if th.unitOK == nil {
		th.unitOK = map[*codeUnit]bool{}
	}
	th.unitOK[u] = true
}

// unitMemoBuiltins is the most builtins a unit may name and still be
// checked again builtin by builtin rather than remembered (checkUnit).
const unitMemoBuiltins = 8

// guardDef asks CheckDef about a definition used by reference, and
// CheckBuiltin about the builtins its code names.
func (th *Thread) guardDef(dc *defCode) {
	if th.CheckDef != nil || th.CheckBuiltin != nil {
		th.checkDef(dc)
	}
}

// checkDef runs a definition's checks, once per thread while nothing
// else uses the definition. The answer is remembered in the definition
// itself (defCode.checked: the id of the last thread that passed them),
// a load and a compare with no map for a thread that uses a thousand
// definitions once each, as a freshly sent closure does. Another
// thread's checks take the slot over, and a thread whose slot was
// taken checks again: more asking, never less. So that threads taking
// turns on the same definitions do not check on every use, a thread
// that has checked more than defChecksUnlisted times remembers what
// passed in defOK as well.
func (th *Thread) checkDef(dc *defCode) {
	id := th.guardID
	if id == 0 {
		id = guardIDs.Add(1)
		th.guardID = id
	}
	if dc.checked.Load() == id || th.defOK[dc] {
		return
	}
	if th.CheckDef != nil {
		if err := th.CheckDef(dc.ref); err != nil {
			panic(&RuntimeError{Msg: err.Error(), Stack: th.backtrace(), Err: err})
		}
	}
	th.checkUnit(th.defBody(dc).unit)
	dc.checked.Store(id)
	if th.defChecks++; th.defChecks > defChecksUnlisted {
		if th.defOK == nil {
			th.defOK = map[*defCode]bool{}
		}
		th.defOK[dc] = true
	}
}

// guardIDs numbers the threads that check definitions (Thread.guardID),
// never twice in a process, so a definition's checked slot names one
// thread only.
var guardIDs atomic.Uint64

// admit checks the code a value brings into the thread: the units of its
// closures and the builtins it holds as values. Definitions it holds by
// reference (DefFn) are checked when applied. The walk uses an explicit
// stack, so deep values cost no Go stack, and visits each shared part of
// the value once (see codeWalk), so its work is that of the distinct
// parts, however much the value shares; it polls for cancellation.
func (th *Thread) admit(v Value) {
	if !th.guarded() || !holdsCode(v) {
		return
	}
	if c, ok := v.(*Closure); ok && !envHoldsCode(c) {
		// A closure over scalars alone (a warm call's thunk): the walk
		// would visit it alone, so its unit is checked without one.
		th.poll()
		th.checkUnit(c.fc.unit)
		return
	}
	w := codeWalk{th: th}
	w.walk(v, func(x Value) {
		switch x := x.(type) {
		case *Closure:
			th.checkUnit(x.fc.unit)
		case *Builtin:
			th.guard(x.desc)
		}
	})
}

// codeWalk visits the parts of a value that may hold code. Past
// memoStart parts it remembers the composite parts it has visited (by
// pointer identity) and skips them when reached again, so a value with
// much shared structure costs its distinct parts, not its expansion.
type codeWalk struct {
	th    *Thread // polled for cancellation; nil for none
	n     int
	seen  map[Value]struct{}
	stack []Value
}

func (w *codeWalk) push(vs ...Value) {
	for _, e := range vs {
		if holdsCode(e) {
			w.stack = append(w.stack, e)
		}
	}
}

func (w *codeWalk) walk(v Value, visit func(Value)) {
	w.stack = append(w.stack[:0], v)
	for len(w.stack) > 0 {
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		if w.th != nil {
			w.th.poll()
		}
		w.n++
		if w.seen == nil && w.n > memoStart {
			w.seen = map[Value]struct{}{}
		}
		if w.seen != nil {
			switch v.(type) {
			case *Closure, *Partial, *Tuple, *List, *Map, *Data:
				if _, ok := w.seen[v]; ok {
					continue
				}
				w.seen[v] = struct{}{}
			}
		}
		visit(v)
		switch x := v.(type) {
		case *Closure:
			for k, e := range x.env {
				if x.fc.rec && k == 0 {
					continue // the closure itself
				}
				w.push(e)
			}
		case *Partial:
			w.push(x.Fn)
			w.push(x.Args...)
		case *Tuple:
			w.push(x.Elems...)
		case *List:
			w.push(x.Elems()...)
		case *Map:
			var it mapIter
			it.init(x.root)
			for t := it.next(); t != nil; t = it.next() {
				w.push(t.k, t.v)
			}
		case *Data:
			w.push(x.Fields...)
		}
	}
}

// envHoldsCode reports whether c's environment has a part that may
// hold code, as codeWalk would push it (the closure itself left out).
func envHoldsCode(c *Closure) bool {
	for k, e := range c.env {
		if c.fc.rec && k == 0 {
			continue
		}
		if holdsCode(e) {
			return true
		}
	}
	return false
}

// holdsCode reports whether v may hold code (scalars, nodes and channels
// cannot).
func holdsCode(v Value) bool {
	switch v.(type) {
	case *Closure, *Builtin, *Partial, *Tuple, *List, *Map, *Data:
		return true
	}
	return false
}

// CodeOwners returns the definitions whose code the closures in v carry
// inline: closures made by running a definition (a lambda inside it),
// each definition once. Top-level functions travel by reference and
// closures decoded from the wire have no owner, so neither is listed.
// The p2p node uses it to keep private code from leaving in values.
func CodeOwners(v Value) []dag.DefRef {
	if !holdsCode(v) {
		return nil // a scalar result: nothing to walk
	}
	var out []dag.DefRef
	seen := map[dag.DefRef]bool{}
	var w codeWalk
	w.walk(v, func(x Value) {
		if c, ok := x.(*Closure); ok {
			if o := c.fc.owner; o != nil && !(c.fc.isDef && len(c.env) == 0) && !seen[*o] {
				seen[*o] = true
				out = append(out, *o)
			}
		}
	})
	return out
}
