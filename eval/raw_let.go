package eval

import "github.com/unode-dev/unode/dag"

// Let-bound numbers kept unboxed (issue 12, n-body's pull and energy):
//
//	let dx = ax - bx; ...; d2 = dx * dx + dy * dy + dz * dz
//	    mag = dt / (Float.sqrt d2 * d2)
//	in ...
//
// boxed every intermediate Float to store it in its slot, and unboxed it
// again at each use. When a chain of lets contains no call at all (only
// variables, literals, arithmetic, comparisons, Float functions,
// constructors, tuples, lists, if and match), a binding whose value is
// arithmetic keeps its number in a register of the thread (Thread.fregs)
// instead: nothing but the chain's own code runs between the binding and
// its uses, so no other code can overwrite the register. A use that
// needs the boxed value boxes it then, once, into the slot. A result
// that is not a number (an operand of the wrong kind takes the boxed
// path and fails, as before) is stored in the slot as usual. Fuel is
// unchanged (the same operations run); Floats are not charged memory
// either way.

// maxRawLets bounds the registers one function's chains may use at once.
const maxRawLets = 16

// Register kinds (Thread.ftag).
const (
	regFloat = iota
	regInt
	regBoxed // the value is in the slot
)

// callFree reports whether evaluating t can run no code but its own and
// builtins that call nothing back.
func callFree(t dag.Term) bool {
	switch t := t.(type) {
	case *dag.Var, *dag.Int, *dag.Float, *dag.Text, *dag.Bool, *dag.Bytes, *dag.Unit, *dag.Ctor:
		return true
	case *dag.App:
		switch f := t.Fn.(type) {
		case *dag.Ctor:
		case *dag.Builtin:
			if !pureBuiltin(f.Name, len(t.Args)) {
				return false
			}
		default:
			return false
		}
		for _, a := range t.Args {
			if !callFree(a) {
				return false
			}
		}
		return true
	case *dag.Let:
		return callFree(t.Value) && callFree(t.Body)
	case *dag.If:
		return callFree(t.Cond) && callFree(t.Then) && callFree(t.Else)
	case *dag.Match:
		if !callFree(t.Scrutinee) {
			return false
		}
		for _, a := range t.Arms {
			if !callFree(a.Body) {
				return false
			}
		}
		return true
	case *dag.Tuple:
		for _, e := range t.Elems {
			if !callFree(e) {
				return false
			}
		}
		return true
	case *dag.List:
		for _, e := range t.Elems {
			if !callFree(e) {
				return false
			}
		}
		return true
	}
	return false
}

// pureBuiltin reports whether the builtin name applied to n arguments
// only computes (calls no function value, runs no effect).
func pureBuiltin(name string, n int) bool {
	switch {
	case n == 2 && isArith(name):
		return true
	case n == 1 && (floatFns1[name] != nil || name == "Int.toFloat"):
		return true
	}
	return false
}

// rawBinding reports whether a let's value is arithmetic whose result
// may be kept in a register.
func rawBinding(t dag.Term) bool {
	_, isApp := t.(*dag.App)
	return isApp && rawish(t)
}

// rawLets compiles a call-free chain of lets with registers for its
// arithmetic bindings, or returns nil.
func (s *scope) rawLets(t *dag.Let, tail bool, nest int) code {
	if !callFree(t) {
		return nil
	}
	type binding struct {
		slot, reg int
		val       code
		raw       rawCode
	}
	var bs []binding
	var next dag.Term = t
	nraw := 0
	for {
		l, ok := next.(*dag.Let)
		if !ok {
			break
		}
		b := binding{slot: s.nbind, reg: -1}
		if rawBinding(l.Value) && s.nfreg < maxRawLets {
			b.raw = s.raw(l.Value, nest+1)
			b.reg = s.nfreg
			s.nfreg++
			nraw++
			if s.freg == nil {
				s.freg = map[int]int{}
			}
			s.freg[b.slot] = b.reg
		} else {
			b.val = s.expr(l.Value, false, nest+1)
		}
		bs = append(bs, b)
		s.bind(1)
		next = l.Body
	}
	if nraw == 0 {
		// Nothing to keep unboxed: compile as usual.
		s.unbind(len(bs))
		return nil
	}
	body := s.expr(next, tail, nest+1)
	for _, b := range bs {
		if b.reg >= 0 {
			delete(s.freg, b.slot)
		}
	}
	s.nfreg -= nraw
	s.unbind(len(bs))
	return func(th *Thread, fr *frame) Value {
		for i := range bs {
			b := &bs[i]
			if b.reg < 0 {
				fr.slots[b.slot] = b.val(th, fr)
				continue
			}
			f, v := b.raw(th, fr)
			switch v.(type) {
			case nil:
				th.fregs[b.reg], th.ftag[b.reg] = f, regFloat
			case *rawIntMarker:
				th.fregs[b.reg], th.ftag[b.reg] = f, regInt
			default:
				fr.slots[b.slot], th.ftag[b.reg] = v, regBoxed
			}
		}
		return body(th, fr)
	}
}

// regVar is the boxed read of a variable kept in register r (slot is
// its slot): boxed once, then read from the slot.
func regVar(slot, r int) code {
	return func(th *Thread, fr *frame) Value {
		switch th.ftag[r] {
		case regFloat:
			v := th.boxFloat(th.fregs[r])
			fr.slots[slot], th.ftag[r] = v, regBoxed
			return v
		case regInt:
			v := MakeInt(fbits(th.fregs[r]))
			fr.slots[slot], th.ftag[r] = v, regBoxed
			return v
		}
		return fr.slots[slot]
	}
}

// regVarRaw is the unboxed read of a variable kept in register r.
func regVarRaw(slot, r int) rawCode {
	return func(th *Thread, fr *frame) (float64, Value) {
		switch th.ftag[r] {
		case regFloat:
			return th.fregs[r], nil
		case regInt:
			return th.fregs[r], rawInt
		}
		return unraw(fr.slots[slot])
	}
}
