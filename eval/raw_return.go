package eval

import "github.com/unode-dev/unode/dag"

// Numbers returned to arithmetic unboxed (issue 12's fourth round,
// spectral-norm's dotA):
//
//	evalA i j = 1.0 / Int.toFloat ((i + j) * (i + j + 1) / 2 + i + 1)
//	dotA ... = ... dotA trans i (j + 1) rest (acc + (if trans then evalA j i else evalA i j) * x)
//
// boxed evalA's Float to return it, and the arithmetic around the call
// unboxed it at once. A call of a definition made as an operand of
// arithmetic (a raw call) sets Thread.rawFp to the frame the callee runs
// in, as a match sets retFp for tuples (tail calls run in the same
// frame); arithmetic in tail position in that frame then leaves its
// number in rawF instead of boxing it and returns the marker rawRet,
// which only that call site sees. Any other frame boxes as before. Fuel
// and failures are those of the boxed code: the same operations run.
// An if among the operands is compiled as arithmetic too, so that the
// calls in its branches are raw calls.

// Only arithmetic that makes a Float (a Float literal, a Float function
// or Int.toFloat among its operations) hands its result back so: an Int
// result is boxed without allocating when small, and for Int code such
// as fib's the handover costs more than the box.

var rawRet Value = &rawRetMarker{}

// floatish reports whether arithmetic t has a Float literal, a Float
// function or Int.toFloat among its operations.
func floatish(t dag.Term) bool {
	switch t := t.(type) {
	case *dag.Float:
		return true
	case *dag.App:
		b, ok := t.Fn.(*dag.Builtin)
		if !ok {
			return false
		}
		switch {
		case len(t.Args) == 1:
			return floatFns1[b.Name] != nil || b.Name == "Int.toFloat"
		case len(t.Args) == 2 && isArith(b.Name):
			return floatish(t.Args[0]) || floatish(t.Args[1])
		}
	}
	return false
}

type rawRetMarker struct{ Unit }

// rawTail compiles arithmetic t (rawish, an application) in tail
// position.
func (s *scope) rawTail(t *dag.App, nest int) code {
	r := s.raw(t, nest)
	return func(th *Thread, fr *frame) Value {
		f, v := r(th, fr)
		switch v.(type) {
		case nil:
			if th.rawFp == th.fp {
				th.rawF, th.rawIsInt = f, false
				return rawRet
			}
			return th.boxFloat(f)
		case *rawIntMarker:
			if th.rawFp == th.fp {
				th.rawF, th.rawIsInt = f, true
				return rawRet
			}
			return MakeInt(fbits(f))
		}
		return v
	}
}

// rawCall compiles a call of a definition as a rawCode, or returns nil
// for any other application. It is the nested call app compiles, with
// rawFp set around it.
func (s *scope) rawCall(t *dag.App, nest int) rawCode {
	switch t.Fn.(type) {
	case *dag.Ref, *dag.Self:
	default:
		return nil
	}
	fn := s.expr(t.Fn, false, nest+1) // a checked reference, as everywhere
	args := s.exprs(t.Args, nest+1)
	at := s.site(t)
	n := len(args)
	w := 1 + nest
	return func(th *Thread, fr *frame) (float64, Value) {
		f := fn(th, fr)
		base := th.sp
		for _, a := range args {
			th.push(a(th, fr))
		}
		th.at = at
		sfp := th.rawFp
		th.rawFp = th.fp + 1
		v := th.run(f, base, n, w)
		th.rawFp = sfp
		if _, ok := v.(*rawRetMarker); ok {
			if th.rawIsInt {
				return th.rawF, rawInt
			}
			return th.rawF, nil
		}
		return unraw(v)
	}
}

// rawIf compiles an if among the operands of arithmetic.
func (s *scope) rawIf(t *dag.If, nest int) rawCode {
	cond := s.cond(t.Cond, s.site(t), nest+1)
	then, els := s.raw(t.Then, nest+1), s.raw(t.Else, nest+1)
	return func(th *Thread, fr *frame) (float64, Value) {
		if cond(th, fr) {
			return then(th, fr)
		}
		return els(th, fr)
	}
}
