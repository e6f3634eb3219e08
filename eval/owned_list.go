package eval

import "github.com/unode-dev/unode/dag"

// Prefix reversal in place (issue 12, fannkuch-redux's flips):
//
//	flips q n = match q with
//	  | 1 :: _ -> n
//	  | k :: _ -> flips (List.reverse (List.take k q) ++ List.drop k q) (n + 1)
//
// builds a new list for every flip, and the old one is dropped at once:
// q is only looked at by the match and taken apart by the flip that
// replaces it. When the compiler proves that of a parameter of a
// top-level function (ownedParams), the flip in the self tail call is
// compiled to reverse the list in place if the list is one that such a
// flip built for this very argument slot. Values stay immutable for
// everyone who can see them: nobody else can see that list.
//
// The proof is syntactic, over the function's body: every use of the
// parameter is either the scrutinee of a match whose patterns bind no
// part of the list (elements may be bound: they are values of their
// own), or the list of both List.take and List.drop in that flip, as the
// argument for the same parameter of a saturated self call in tail
// position. No closure, let, call or constructor sees the list, so once
// the flip has made its result the parameter's list is dead.
//
// At run time the flip marks the list it built (Thread.owned); the next
// activation reverses in place only if its parameter holds that very
// list, after every operand is evaluated. A list a caller passed in is
// never the marked one: the mark is only ever a list built by such a
// flip and handed straight into the argument slot, which no code can
// read except the allowed uses. Any other flip, any caught failure and
// the end of an evaluation move or clear the mark, which only makes the
// next flip build a new list. Fuel is charged exactly as for the three
// builtins; memory is charged for what is allocated, so a flip in place
// charges none.

// ownedParams reports, for each parameter of the top-level function lam
// (member of its definition block), whether flips of it may reuse its
// list as above.
func ownedParams(lam *dag.Lam, member int) []bool {
	var own []bool
	for pos := 0; pos < lam.Arity; pos++ {
		d := lam.Arity - 1 - pos
		if linearUses(lam.Body, d, true, member, lam.Arity, pos) {
			if own == nil {
				own = make([]bool, lam.Arity)
			}
			own[pos] = true
		}
	}
	return own
}

// linearUses reports whether every use of the variable at de Bruijn
// index d in t is an allowed one (see above); tail says whether t is in
// tail position of the function's body.
func linearUses(t dag.Term, d int, tail bool, member, arity, pos int) bool {
	switch t := t.(type) {
	case *dag.Var:
		return t.Index != d
	case *dag.Lam:
		return linearUses(t.Body, d+t.Arity, false, member, arity, pos)
	case *dag.Delay:
		return linearUses(t.Body, d, false, member, arity, pos)
	case *dag.App:
		if f, ok := t.Fn.(*dag.Self); ok && tail && f.Member == member && len(t.Args) == arity {
			for j, a := range t.Args {
				if j == pos {
					if kt, kd, ok := flipShape(a, d); ok {
						if !linearUses(kt, d, false, member, arity, pos) || !linearUses(kd, d, false, member, arity, pos) {
							return false
						}
						continue
					}
				}
				if !linearUses(a, d, false, member, arity, pos) {
					return false
				}
			}
			return true
		}
		if !linearUses(t.Fn, d, false, member, arity, pos) {
			return false
		}
		for _, a := range t.Args {
			if !linearUses(a, d, false, member, arity, pos) {
				return false
			}
		}
		return true
	case *dag.Let:
		return linearUses(t.Value, d, false, member, arity, pos) && linearUses(t.Body, d+1, tail, member, arity, pos)
	case *dag.LetRec:
		return linearUses(t.Value, d+1, false, member, arity, pos) && linearUses(t.Body, d+1, tail, member, arity, pos)
	case *dag.If:
		return linearUses(t.Cond, d, false, member, arity, pos) && linearUses(t.Then, d, tail, member, arity, pos) &&
			linearUses(t.Else, d, tail, member, arity, pos)
	case *dag.Match:
		if v, ok := t.Scrutinee.(*dag.Var); ok && v.Index == d {
			for _, a := range t.Arms {
				if !listPatKeepsNothing(a.Pat) {
					return false
				}
			}
		} else if !linearUses(t.Scrutinee, d, false, member, arity, pos) {
			return false
		}
		for _, a := range t.Arms {
			if !linearUses(a.Body, d+patVars(a.Pat), tail, member, arity, pos) {
				return false
			}
		}
		return true
	case *dag.Tuple:
		for _, e := range t.Elems {
			if !linearUses(e, d, false, member, arity, pos) {
				return false
			}
		}
		return true
	case *dag.List:
		for _, e := range t.Elems {
			if !linearUses(e, d, false, member, arity, pos) {
				return false
			}
		}
		return true
	case *dag.Force:
		return linearUses(t.X, d, false, member, arity, pos)
	case *dag.Ref, *dag.Self, *dag.Builtin, *dag.Ctor, *dag.Int, *dag.Float, *dag.Text, *dag.Bool, *dag.Bytes, *dag.Unit:
		return true
	}
	return false // a term this proof does not know: assume the worst
}

// listPatKeepsNothing reports whether matching a list against p binds
// neither the list nor a part of it (a tail): elements may be bound.
func listPatKeepsNothing(p dag.Pattern) bool {
	switch p := p.(type) {
	case *dag.PWild, *dag.PLit, *dag.PList, *dag.PCtor, *dag.PTuple:
		// PList, PCtor and PTuple bind elements or fields, never the
		// list (a PCtor or PTuple does not match a list at all).
		return true
	case *dag.PCons:
		return listPatKeepsNothing(p.Tail)
	}
	return false
}

// flipShape reports whether t is List.reverse (List.take kt (var d)) ++
// List.drop kd (var d), and returns kt and kd.
func flipShape(t dag.Term, d int) (kt, kd dag.Term, ok bool) {
	app, isApp := t.(*dag.App)
	if !isApp || len(app.Args) != 2 || !isBuiltin(app.Fn, "Op.append") {
		return nil, nil, false
	}
	rev, isApp := app.Args[0].(*dag.App)
	if !isApp || len(rev.Args) != 1 || !isBuiltin(rev.Fn, "List.reverse") {
		return nil, nil, false
	}
	take, isApp := rev.Args[0].(*dag.App)
	if !isApp || len(take.Args) != 2 || !isBuiltin(take.Fn, "List.take") || !isVar(take.Args[1], d) {
		return nil, nil, false
	}
	drop, isApp := app.Args[1].(*dag.App)
	if !isApp || len(drop.Args) != 2 || !isBuiltin(drop.Fn, "List.drop") || !isVar(drop.Args[1], d) {
		return nil, nil, false
	}
	return take.Args[0], drop.Args[0], true
}

func isBuiltin(t dag.Term, name string) bool {
	b, ok := t.(*dag.Builtin)
	return ok && b.Name == name
}

func isVar(t dag.Term, d int) bool {
	v, ok := t.(*dag.Var)
	return ok && v.Index == d
}

// selfArgs compiles the arguments of a saturated self call in tail
// position, a flip of an owned parameter (see ownedParams) as
// ownedFlip.
func (s *scope) selfArgs(ts []dag.Term, nest int) []code {
	cs := make([]code, len(ts))
	for j, t := range ts {
		if s.own != nil && len(ts) == s.fc.arity && s.own[j] {
			if _, _, ok := flipShape(t, s.nbind-1-j); ok {
				cs[j] = s.ownedFlip(t.(*dag.App), j, nest)
				continue
			}
		}
		cs[j] = s.expr(t, false, nest)
	}
	return cs
}

// ownedFlip compiles List.reverse (List.take k q) ++ List.drop k q, q the
// parameter in slot, reversing q's list in place when it is the list the
// same flip built for this slot (Thread.owned), else as reverseAppend
// does; the list it builds is marked. Fuel is the builtins' either way.
func (s *scope) ownedFlip(app *dag.App, slot, nest int) code {
	s.builtin("Op.append")
	s.builtin("List.reverse")
	rev := app.Args[0].(*dag.App)
	atRev, at := s.site(rev), s.site(app)
	seg := s.listPart(rev.Args[0], nest+2)
	y := s.listPart(app.Args[1], nest+1)
	return func(th *Thread, fr *frame) Value {
		al, ai, aj, _ := seg(th, fr)
		th.step()
		th.at = atRev
		th.chargeLen(aj - ai)
		yl, yi, yj, _ := y(th, fr)
		th.step()
		th.at = at
		n := aj - ai + yj - yi
		if al == th.owned && yl == al && ai == 0 && aj == yi && yj == al.n && aj > 0 && fr.slots[slot] == Value(al) {
			// The list only this slot holds, built by this flip: the
			// result is its first aj elements reversed, in place.
			if yj > yi {
				th.charge(int64(n) / 8)
			}
			d := al.Elems()
			for i := range aj {
				th.poll()
				if j := aj - 1 - i; i < j {
					d[i], d[j] = d[j], d[i]
				}
			}
			if al.next.Load() != nil {
				// A tail a match made and nobody kept.
				al.next.Store(nil)
			}
			return al
		}
		a := al.Elems()[ai:aj]
		if len(a) == 0 {
			// As reverseAppend: [] ++ the dropped part, a view of q (or
			// q itself), not a new list; it is not marked.
			return opAppend(th, emptyList, th.partView(yl, yi, yj))
		}
		r := reversedThen(th, a, yl.Elems()[yi:yj])
		th.owned = r
		return r
	}
}
