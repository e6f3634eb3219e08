package eval

import "github.com/unode-dev/unode/dag"

// Two-arm list matches in one test (issue 12's fourth round: the loops
// of spectral-norm's dotA and n-body's pullAll and velocities):
//
//	match u with
//	  | [] -> acc
//	  | x :: rest -> ...
//
// tried each arm's pattern through its own closure, each asking again
// whether the value is a list. When the two arms are [] and a cons of
// variables or _ (in either order), the value is asked once and the arms
// are tried in their order, one step each as before; a value that is not
// a list fails as before.

// matchList compiles such a match, or returns nil.
func (s *scope) matchList(t *dag.Match, tail bool, nest int) code {
	if len(t.Arms) != 2 {
		return nil
	}
	emptyFirst := true
	pe, pc := t.Arms[0].Pat, t.Arms[1].Pat
	ae, ac := t.Arms[0].Body, t.Arms[1].Body
	if _, ok := pe.(*dag.PCons); ok {
		emptyFirst = false
		pe, pc, ae, ac = pc, pe, ac, ae
	}
	if l, ok := pe.(*dag.PList); !ok || len(l.Elems) != 0 {
		return nil
	}
	cons, ok := pc.(*dag.PCons)
	if !ok {
		return nil
	}
	next := s.nbind
	idx := varSlots([]dag.Pattern{cons.Head, cons.Tail}, &next)
	if idx == nil {
		return nil
	}
	h, tl := idx[0], idx[1]
	scrut := s.expr(t.Scrutinee, false, nest+1)
	at := s.site(t)
	// The arms are compiled in their order, as match does.
	var empty, nonEmpty code
	compileCons := func() {
		nv := next - s.nbind
		s.bind(nv)
		nonEmpty = s.expr(ac, tail, nest+1)
		s.unbind(nv)
	}
	if emptyFirst {
		empty = s.expr(ae, tail, nest+1)
		compileCons()
	} else {
		compileCons()
		empty = s.expr(ae, tail, nest+1)
	}
	bindCons := func(th *Thread, x *List, slots []Value) {
		if h >= 0 {
			slots[h] = x.At(0)
		}
		if tl >= 0 {
			slots[tl] = th.tail(x)
		}
	}
	if emptyFirst {
		return func(th *Thread, fr *frame) Value {
			v := scrut(th, fr)
			x, ok := v.(*List)
			th.step()
			if ok && x.n == 0 {
				return empty(th, fr)
			}
			th.step()
			if ok {
				bindCons(th, x, fr.slots)
				return nonEmpty(th, fr)
			}
			th.at = at
			th.noMatch(v)
			return nil
		}
	}
	return func(th *Thread, fr *frame) Value {
		v := scrut(th, fr)
		x, ok := v.(*List)
		th.step()
		if ok && x.n > 0 {
			bindCons(th, x, fr.slots)
			return nonEmpty(th, fr)
		}
		th.step()
		if ok {
			return empty(th, fr)
		}
		th.at = at
		th.noMatch(v)
		return nil
	}
}
