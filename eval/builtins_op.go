package eval

import (
	"cmp"
	"math"

	"github.com/unode-dev/unode/dag"
)

// Operators. dag.Compile turns `a + b` into Op.add a b, and so on.
// + - * / % work on two Ints or two Floats; Int arithmetic is checked
// (overflow and division by zero are runtime errors). / on Ints truncates
// toward zero and % takes the sign of the dividend (as in Go and C).
// Comparisons work on any two comparable values of the same kind (see
// Compare); ++ joins Text, Bytes or Lists; :: conses onto a List.

func init() {
	def2("Op.add", "a + b (Int or Float; Int overflow is an error)", opAdd)
	def2("Op.sub", "a - b", opSub)
	def2("Op.mul", "a * b", opMul)
	def2("Op.div", "a / b (Int: truncated; division by zero is an error)", opDiv)
	def2("Op.mod", "a % b (Int: remainder with the sign of a)", opMod)
	def1("Op.negate", "-a", opNegate)
	def2("Op.eq", "a == b (structural; functions cannot be compared)", func(th *Thread, a, b Value) Value {
		return MakeBool(th.compareOp("==", a, b) == 0)
	})
	def2("Op.neq", "a != b", func(th *Thread, a, b Value) Value {
		return MakeBool(th.compareOp("!=", a, b) != 0)
	})
	def2("Op.lt", "a < b", func(th *Thread, a, b Value) Value {
		return MakeBool(th.compareOp("<", a, b) < 0)
	})
	def2("Op.le", "a <= b", func(th *Thread, a, b Value) Value {
		return MakeBool(th.compareOp("<=", a, b) <= 0)
	})
	def2("Op.gt", "a > b", func(th *Thread, a, b Value) Value {
		return MakeBool(th.compareOp(">", a, b) > 0)
	})
	def2("Op.ge", "a >= b", func(th *Thread, a, b Value) Value {
		return MakeBool(th.compareOp(">=", a, b) >= 0)
	})
	def2("Op.append", "a ++ b (Text, Bytes or List)", opAppend)
	def2("Op.cons", "x :: xs", func(th *Thread, x, xs Value) Value {
		return th.cons(x, th.argList("::", xs))
	})
	def2("Op.and", "a && b (both evaluated; the compiler short-circuits)", func(th *Thread, a, b Value) Value {
		return MakeBool(th.argBool("&&", a) && th.argBool("&&", b))
	})
	def2("Op.or", "a || b (both evaluated; the compiler short-circuits)", func(th *Thread, a, b Value) Value {
		return MakeBool(th.argBool("||", a) || th.argBool("||", b))
	})
	def2("Op.pipe", "x |> f = f x", func(th *Thread, x, f Value) Value {
		return th.call1(f, x)
	}).ho()
	def1("not", "Boolean negation", func(th *Thread, a Value) Value {
		return MakeBool(!th.argBool("not", a))
	})
	def1("fst", "The first element of a pair", func(th *Thread, a Value) Value {
		return th.argTuple("fst", a, 2)[0]
	})
	def1("snd", "The second element of a pair", func(th *Thread, a Value) Value {
		return th.argTuple("snd", a, 2)[1]
	})
	def1("identity", "identity x = x", func(_ *Thread, a Value) Value { return a })
}

func (th *Thread) mismatch(op string, a, b Value) {
	th.fail("cannot apply %s to %s and %s", op, describe(a), describe(b))
}

func (th *Thread) overflow(op string, x, y int64) {
	th.fail("Int overflow in %d %s %d", x, op, y)
}

func addInt(th *Thread, x, y int64) Value {
	s := x + y
	if (s > x) != (y > 0) {
		th.overflow("+", x, y)
	}
	return MakeInt(s)
}

func subInt(th *Thread, x, y int64) Value {
	s := x - y
	if (s < x) != (y > 0) {
		th.overflow("-", x, y)
	}
	return MakeInt(s)
}

func mulInt(th *Thread, x, y int64) Value {
	p, ok := mulOK(x, y)
	if !ok {
		th.overflow("*", x, y)
	}
	return MakeInt(p)
}

func divInt(th *Thread, x, y int64) Value {
	if y == 0 {
		th.fail("division by zero")
	}
	if x == math.MinInt64 && y == -1 {
		th.overflow("/", x, y)
	}
	return MakeInt(x / y)
}

func modInt(th *Thread, x, y int64) Value {
	if y == 0 {
		th.fail("division by zero (in %%)")
	}
	if y == -1 {
		return MakeInt(0)
	}
	return MakeInt(x % y)
}

func negInt(th *Thread, x int64) Value {
	if x == math.MinInt64 {
		th.fail("Int overflow in -(%d)", x)
	}
	return MakeInt(-x)
}

func opAdd(th *Thread, a, b Value) Value {
	switch x := a.(type) {
	case Int:
		if y, ok := b.(Int); ok {
			return addInt(th, int64(x), int64(y))
		}
	case Float:
		if y, ok := b.(Float); ok {
			return th.boxFloat(float64(x) + float64(y))
		}
	}
	th.mismatch("+", a, b)
	return nil
}

func opSub(th *Thread, a, b Value) Value {
	switch x := a.(type) {
	case Int:
		if y, ok := b.(Int); ok {
			return subInt(th, int64(x), int64(y))
		}
	case Float:
		if y, ok := b.(Float); ok {
			return th.boxFloat(float64(x) - float64(y))
		}
	}
	th.mismatch("-", a, b)
	return nil
}

func opMul(th *Thread, a, b Value) Value {
	switch x := a.(type) {
	case Int:
		if y, ok := b.(Int); ok {
			return mulInt(th, int64(x), int64(y))
		}
	case Float:
		if y, ok := b.(Float); ok {
			return th.boxFloat(float64(x) * float64(y))
		}
	}
	th.mismatch("*", a, b)
	return nil
}

func opDiv(th *Thread, a, b Value) Value {
	switch x := a.(type) {
	case Int:
		if y, ok := b.(Int); ok {
			return divInt(th, int64(x), int64(y))
		}
	case Float:
		if y, ok := b.(Float); ok {
			return th.boxFloat(float64(x) / float64(y))
		}
	}
	th.mismatch("/", a, b)
	return nil
}

func opMod(th *Thread, a, b Value) Value {
	switch x := a.(type) {
	case Int:
		if y, ok := b.(Int); ok {
			return modInt(th, int64(x), int64(y))
		}
	case Float:
		if y, ok := b.(Float); ok {
			return Float(math.Mod(float64(x), float64(y)))
		}
	}
	th.mismatch("%", a, b)
	return nil
}

func opNegate(th *Thread, a Value) Value {
	switch x := a.(type) {
	case Int:
		return negInt(th, int64(x))
	case Float:
		return Float(-float64(x))
	}
	th.fail("cannot negate %s", describe(a))
	return nil
}

func opAppend(th *Thread, a, b Value) Value {
	switch x := a.(type) {
	case Text:
		if y, ok := b.(Text); ok {
			return Text(th.appendText(string(x), string(y))) // see builtins_text.go
		}
	case Bytes:
		if y, ok := b.(Bytes); ok {
			return Bytes(th.appendText(string(x), string(y)))
		}
	case *List:
		if y, ok := b.(*List); ok {
			return th.appendLists(x, y)
		}
	}
	th.mismatch("++", a, b)
	return nil
}

// compareOp compares two values of the same kind for an operator.
func (th *Thread) compareOp(op string, a, b Value) int {
	if ra, rb := kindRank(a), kindRank(b); ra != rb && ra >= 0 && rb >= 0 {
		th.mismatch(op, a, b)
	}
	return th.compare(a, b)
}

// opCode specializes arithmetic and comparisons on Ints, the operations
// inner loops are made of, when the compiler sees them applied to two
// arguments. Anything else takes the generic path.
// at is the operation's site, set on the slow paths only: the fast ones
// cannot fail (see site in compile.go).
func (s *scope) opCode(name string, ts []dag.Term, at *site, nest int) code {
	if len(ts) != 2 {
		return nil
	}
	switch name {
	case "Op.lt", "Op.le", "Op.gt", "Op.ge", "Op.eq", "Op.neq":
		c := s.condOpAt(&dag.App{Fn: &dag.Builtin{Name: name}, Args: ts}, at, nest)
		return func(th *Thread, fr *frame) Value { return MakeBool(c(th, fr)) }
	case "Op.add", "Op.sub", "Op.mul":
	case "Op.div", "Op.mod":
		return boxRaw(s.arithRaw(name, ts, at, nest))
	case "Op.append":
		if c := s.reverseAppend(ts, at, nest); c != nil {
			return c
		}
		if c := s.consAppend(ts, at, nest); c != nil {
			return c
		}
		return s.partAppend(ts, at, nest)
	case "Op.cons":
		return s.consPart(ts, at, nest)
	default:
		return nil
	}
	o := ariths[name]
	f := arithFns[o]
	a := s.expr(ts[0], false, nest+1)
	if lit, ok := ts[1].(*dag.Int); ok {
		k := lit.V
		kv := MakeInt(k)
		ko := o
		if o == aSub && k != math.MinInt64 {
			ko, k = aAdd, -k // the same result, and overflow, as x - k
		}
		return func(th *Thread, fr *frame) Value {
			x := a(th, fr)
			th.step()
			if xi, ok := x.(Int); ok {
				r, ok := addOK(int64(xi), k)
				if ko != aAdd {
					r, ok = ko.intsOther(int64(xi), k)
				}
				if ok {
					return MakeInt(r)
				}
			}
			th.at = at
			return f(th, x, kv)
		}
	}
	if rawish(ts[0]) || rawish(ts[1]) {
		// Nested arithmetic: pass numbers between the operations
		// unboxed.
		return boxRaw(s.arithRaw(name, ts, at, nest))
	}
	b := s.expr(ts[1], false, nest+1)
	return func(th *Thread, fr *frame) Value {
		x := a(th, fr)
		y := b(th, fr)
		th.step()
		if xi, ok := x.(Int); ok {
			if yi, ok := y.(Int); ok {
				r, ok := addOK(int64(xi), int64(yi))
				if o != aAdd {
					r, ok = o.intsOther(int64(xi), int64(yi))
				}
				if ok {
					return MakeInt(r)
				}
			}
		}
		th.at = at
		return f(th, x, y)
	}
}

// arith names an arithmetic operator in the fused forms.
type arith uint8

const (
	aAdd arith = iota
	aSub
	aMul
	aDiv
	aMod
)

var (
	ariths   = map[string]arith{"Op.add": aAdd, "Op.sub": aSub, "Op.mul": aMul, "Op.div": aDiv, "Op.mod": aMod}
	arithFns = [...]func(*Thread, Value, Value) Value{opAdd, opSub, opMul, opDiv, opMod}
)

// addOK and intsOther give x o y on Ints, or false where the boxed
// operation fails (overflow, division by zero), so that the slow path
// reports it. The fused forms compute + with addOK, which is inlined
// (the literal path turns x - k into x + -k), and call intsOther for the
// rest.
func addOK(x, y int64) (int64, bool) {
	s := x + y
	return s, (s > x) == (y > 0)
}

func (o arith) intsOther(x, y int64) (int64, bool) {
	switch o {
	case aSub:
		s := x - y
		return s, (s < x) == (y > 0)
	case aMul:
		return mulOK(x, y)
	case aDiv:
		if y == 0 || (y == -1 && x == math.MinInt64) {
			return 0, false
		}
		return x / y, true
	}
	switch y {
	case 0:
		return 0, false
	case -1:
		return 0, true
	}
	return x % y, true
}

// condOp compiles a comparison used as a condition straight to a Go bool.
func (s *scope) condOp(t dag.Term, nest int) func(*Thread, *frame) bool {
	return s.condOpAt(t, s.site(t), nest)
}

// condOpAt is condOp with the comparison's site, set on the slow paths.
func (s *scope) condOpAt(t dag.Term, at *site, nest int) func(*Thread, *frame) bool {
	app, ok := t.(*dag.App)
	if !ok || len(app.Args) != 2 {
		return nil
	}
	b, ok := app.Fn.(*dag.Builtin)
	if !ok {
		return nil
	}
	var test func(c int) bool
	var op string
	switch b.Name {
	case "Op.lt":
		op, test = "<", func(c int) bool { return c < 0 }
	case "Op.le":
		op, test = "<=", func(c int) bool { return c <= 0 }
	case "Op.gt":
		op, test = ">", func(c int) bool { return c > 0 }
	case "Op.ge":
		op, test = ">=", func(c int) bool { return c >= 0 }
	case "Op.eq":
		op, test = "==", func(c int) bool { return c == 0 }
	case "Op.neq":
		op, test = "!=", func(c int) bool { return c != 0 }
	default:
		return nil
	}
	s.builtin(b.Name) // recorded for the unit's checks
	if rawish(app.Args[0]) || rawish(app.Args[1]) {
		// Compare arithmetic results unboxed.
		x, y := s.raw(app.Args[0], nest+1), s.raw(app.Args[1], nest+1)
		return func(th *Thread, fr *frame) bool {
			a, av := x(th, fr)
			b, bv := y(th, fr)
			th.step()
			if isInt(av) && isInt(bv) {
				ai, bi := fbits(a), fbits(b)
				return test(cmp.Compare(ai, bi))
			}
			if av == nil && bv == nil {
				return test(compareFloat(a, b))
			}
			th.at = at
			return test(th.compareOp(op, reboxed(a, av), reboxed(b, bv)))
		}
	}
	x := s.expr(app.Args[0], false, nest+1)
	if lit, ok := app.Args[1].(*dag.Int); ok {
		k := Int(lit.V)
		kv := MakeInt(lit.V)
		return func(th *Thread, fr *frame) bool {
			a := x(th, fr)
			th.step()
			if ai, ok := a.(Int); ok {
				return test(cmp.Compare(ai, k))
			}
			th.at = at
			return test(th.compareOp(op, a, kv))
		}
	}
	y := s.expr(app.Args[1], false, nest+1)
	return func(th *Thread, fr *frame) bool {
		a := x(th, fr)
		b := y(th, fr)
		th.step()
		if ai, ok := a.(Int); ok {
			if bi, ok := b.(Int); ok {
				return test(cmp.Compare(ai, bi))
			}
		}
		th.at = at
		return test(th.compareOp(op, a, b))
	}
}

func isIntLit(t dag.Term) bool {
	_, ok := t.(*dag.Int)
	return ok
}

// rawish reports whether raw compiles t to more than a boxed leaf: an
// arithmetic operation, a Float literal or a Float function. Only then is
// fusing worth its indirection.
func rawish(t dag.Term) bool {
	switch t := t.(type) {
	case *dag.Float:
		return true
	case *dag.App:
		b, ok := t.Fn.(*dag.Builtin)
		if !ok {
			return false
		}
		switch {
		case len(t.Args) == 2:
			return isArith(b.Name)
		case len(t.Args) == 1:
			return floatFns1[b.Name] != nil || b.Name == "Int.toFloat"
		}
	}
	return false
}

func isArith(name string) bool {
	switch name {
	case "Op.add", "Op.sub", "Op.mul", "Op.div", "Op.mod":
		return true
	}
	return false
}

// rawCode evaluates an expression that may be a number without boxing
// it: a Float result comes back as (f, nil), an Int as (its bits in a
// float64, rawInt), anything else as (0, v) (v may also be a boxed Int or
// Float). Nested arithmetic (x * x + y * y, (i + j) * (i + j + 1) / 2)
// thus boxes only the outermost result. Fuel and failure sites are those
// of the boxed code.
type rawCode func(th *Thread, fr *frame) (float64, Value)

// rawInt marks an Int result of a rawCode. Test for it with isInt (a
// type test, cheaper than comparing interfaces).
var rawInt Value = &rawIntMarker{}

type rawIntMarker struct{ Unit }

func isInt(v Value) bool {
	_, ok := v.(*rawIntMarker)
	return ok
}

func ibits(i int64) float64 { return math.Float64frombits(uint64(i)) }
func fbits(f float64) int64 { return int64(math.Float64bits(f)) }

// unraw is the raw form of a boxed value.
func unraw(v Value) (float64, Value) {
	switch x := v.(type) {
	case Float:
		return float64(x), nil
	case Int:
		return ibits(int64(x)), rawInt
	}
	return 0, v
}

// reboxed is the boxed form of a raw result, for the slow paths.
func reboxed(f float64, v Value) Value {
	switch v.(type) {
	case nil:
		return Float(f)
	case *rawIntMarker:
		return MakeInt(fbits(f))
	}
	return v
}

func boxRaw(r rawCode) code {
	return func(th *Thread, fr *frame) Value {
		f, v := r(th, fr)
		switch v.(type) {
		case nil:
			return th.boxFloat(f)
		case *rawIntMarker:
			return MakeInt(fbits(f))
		}
		return v
	}
}

// raw compiles t as a rawCode: arithmetic, Int.toFloat and Float
// functions directly, literals and variables unboxed, anything else
// boxed and unboxed.
func (s *scope) raw(t dag.Term, nest int) rawCode {
	switch t := t.(type) {
	case *dag.Float:
		f := t.V
		return func(*Thread, *frame) (float64, Value) { return f, nil }
	case *dag.Int:
		k := ibits(t.V)
		return func(*Thread, *frame) (float64, Value) { return k, rawInt }
	case *dag.Var:
		loc := s.locate(t.Index)
		if r, ok := s.freg[loc]; ok && loc >= 0 {
			return regVarRaw(loc, r)
		}
		if loc >= 0 {
			return func(_ *Thread, fr *frame) (float64, Value) { return unraw(fr.slots[loc]) }
		}
		k := -loc - 1
		return func(_ *Thread, fr *frame) (float64, Value) { return unraw(fr.env[k]) }
	case *dag.If:
		return s.rawIf(t, nest)
	case *dag.App:
		b, ok := t.Fn.(*dag.Builtin)
		if !ok {
			if r := s.rawCall(t, nest); r != nil {
				return r
			}
			break
		}
		switch {
		case len(t.Args) == 2 && isArith(b.Name):
			s.builtin(b.Name)
			return s.arithRaw(b.Name, t.Args, s.site(t), nest)
		case len(t.Args) == 1 && floatFns1[b.Name] != nil:
			desc := s.builtin(b.Name)
			f, a, at := floatFns1[b.Name], s.raw(t.Args[0], nest+1), s.site(t)
			return func(th *Thread, fr *frame) (float64, Value) {
				x, xv := a(th, fr)
				th.step()
				if xv == nil {
					return f(x), nil
				}
				th.at = at
				return unraw(desc.f1(th, reboxed(x, xv)))
			}
		case len(t.Args) == 1 && b.Name == "Int.toFloat":
			desc := s.builtin(b.Name)
			a, at := s.raw(t.Args[0], nest+1), s.site(t)
			return func(th *Thread, fr *frame) (float64, Value) {
				x, xv := a(th, fr)
				th.step()
				if isInt(xv) {
					return float64(fbits(x)), nil
				}
				th.at = at
				return unraw(desc.f1(th, reboxed(x, xv)))
			}
		}
	}
	c := s.expr(t, false, nest)
	return func(th *Thread, fr *frame) (float64, Value) { return unraw(c(th, fr)) }
}

// arithRaw compiles a + b, a - b, a * b, a / b or a % b on two raw
// operands. Int arithmetic is checked as in addInt and the others: a
// result that would overflow, and division by zero, take the boxed slow
// path, which fails.
func (s *scope) arithRaw(name string, ts []dag.Term, at *site, nest int) rawCode {
	a, b := s.raw(ts[0], nest+1), s.raw(ts[1], nest+1)
	o := ariths[name]
	f := arithFns[o]
	return func(th *Thread, fr *frame) (float64, Value) {
		x, xv := a(th, fr)
		y, yv := b(th, fr)
		th.step()
		if xv == nil && yv == nil {
			switch o {
			case aAdd:
				return x + y, nil
			case aSub:
				return x - y, nil
			case aMul:
				return x * y, nil
			case aDiv:
				return x / y, nil
			}
			return math.Mod(x, y), nil
		}
		if isInt(xv) && isInt(yv) {
			r, ok := addOK(fbits(x), fbits(y))
			if o != aAdd {
				r, ok = o.intsOther(fbits(x), fbits(y))
			}
			if ok {
				return ibits(r), rawInt
			}
		}
		th.at = at
		return unraw(f(th, reboxed(x, xv), reboxed(y, yv)))
	}
}

// mulOK is x * y and whether it did not overflow (as mulInt checks).
func mulOK(x, y int64) (int64, bool) {
	if x == 0 || y == 0 {
		return 0, true
	}
	p := x * y
	if p/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
		return 0, false
	}
	return p, true
}
