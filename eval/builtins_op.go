package eval

import (
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
	if x == 0 || y == 0 {
		return MakeInt(0)
	}
	p := x * y
	if p/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
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
	case "Op.div":
		return boxRaw(s.arithRaw(name, ts, at, nest))
	case "Op.append":
		return s.reverseAppend(ts, at, nest)
	default:
		return nil
	}
	a := s.expr(ts[0], false, nest+1)
	if lit, ok := ts[1].(*dag.Int); ok {
		k := lit.V
		kv := MakeInt(k)
		switch name {
		case "Op.add":
			return func(th *Thread, fr *frame) Value {
				x := a(th, fr)
				th.step()
				if xi, ok := x.(Int); ok {
					if s := int64(xi) + k; (s > int64(xi)) == (k > 0) {
						return MakeInt(s)
					}
				}
				th.at = at
				return opAdd(th, x, kv)
			}
		case "Op.sub":
			return func(th *Thread, fr *frame) Value {
				x := a(th, fr)
				th.step()
				if xi, ok := x.(Int); ok {
					if s := int64(xi) - k; (s < int64(xi)) == (k > 0) {
						return MakeInt(s)
					}
				}
				th.at = at
				return opSub(th, x, kv)
			}
		}
	}
	if rawish(ts[0]) || rawish(ts[1]) {
		// Nested arithmetic: pass Floats between the operations
		// unboxed.
		return boxRaw(s.arithRaw(name, ts, at, nest))
	}
	b := s.expr(ts[1], false, nest+1)
	switch name {
	case "Op.add":
		return func(th *Thread, fr *frame) Value {
			x := a(th, fr)
			y := b(th, fr)
			th.step()
			if xi, ok := x.(Int); ok {
				if yi, ok := y.(Int); ok {
					if s := xi + yi; (s > xi) == (yi > 0) {
						return MakeInt(int64(s))
					}
				}
			}
			th.at = at
			return opAdd(th, x, y)
		}
	case "Op.sub":
		return func(th *Thread, fr *frame) Value {
			x := a(th, fr)
			y := b(th, fr)
			th.step()
			if xi, ok := x.(Int); ok {
				if yi, ok := y.(Int); ok {
					if s := xi - yi; (s < xi) == (yi > 0) {
						return MakeInt(int64(s))
					}
				}
			}
			th.at = at
			return opSub(th, x, y)
		}
	}
	return func(th *Thread, fr *frame) Value {
		x := a(th, fr)
		y := b(th, fr)
		th.step()
		th.at = at
		return opMul(th, x, y)
	}
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
	x := s.expr(app.Args[0], false, nest+1)
	if lit, ok := app.Args[1].(*dag.Int); ok {
		k := Int(lit.V)
		kv := MakeInt(lit.V)
		return func(th *Thread, fr *frame) bool {
			a := x(th, fr)
			th.step()
			if ai, ok := a.(Int); ok {
				switch {
				case ai < k:
					return test(-1)
				case ai > k:
					return test(1)
				}
				return test(0)
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
				switch {
				case ai < bi:
					return test(-1)
				case ai > bi:
					return test(1)
				}
				return test(0)
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
// arithmetic operation (not Int loop arithmetic with a literal), a Float
// literal or a Float function. Only then is fusing worth its indirection.
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
		case len(t.Args) == 2 && (b.Name == "Op.add" || b.Name == "Op.sub"):
			return !isIntLit(t.Args[1])
		case len(t.Args) == 2 && (b.Name == "Op.mul" || b.Name == "Op.div"):
			return !isIntLit(t.Args[0]) && !isIntLit(t.Args[1]) || b.Name == "Op.div"
		case len(t.Args) == 1:
			return floatFns1[b.Name] != nil || b.Name == "Int.toFloat"
		}
	}
	return false
}

// rawCode evaluates an expression that may be a Float without boxing
// it: a Float result comes back as (f, nil), anything else as (0, v).
// Nested arithmetic on Floats (x * x + y * y) thus boxes only the
// outermost result. Fuel and failure sites are those of the boxed code.
type rawCode func(th *Thread, fr *frame) (float64, Value)

func boxRaw(r rawCode) code {
	return func(th *Thread, fr *frame) Value {
		f, v := r(th, fr)
		if v == nil {
			return th.boxFloat(f)
		}
		return v
	}
}

// raw compiles t as a rawCode: arithmetic and Float functions directly,
// anything else boxed and unboxed.
func (s *scope) raw(t dag.Term, nest int) rawCode {
	if app, ok := t.(*dag.App); ok {
		if b, ok := app.Fn.(*dag.Builtin); ok {
			switch {
			case len(app.Args) == 2 && (b.Name == "Op.add" || b.Name == "Op.sub" || b.Name == "Op.mul" || b.Name == "Op.div"):
				if _, lit := app.Args[1].(*dag.Int); lit && b.Name != "Op.div" {
					break // Int loop arithmetic: opCode's fast path
				}
				if b.Name == "Op.mul" && isIntLit(app.Args[0]) {
					break
				}
				s.builtin(b.Name)
				return s.arithRaw(b.Name, app.Args, s.site(app), nest)
			case len(app.Args) == 1 && floatFns1[b.Name] != nil:
				desc := s.builtin(b.Name)
				f, a, at := floatFns1[b.Name], s.raw(app.Args[0], nest+1), s.site(app)
				return func(th *Thread, fr *frame) (float64, Value) {
					x, xv := a(th, fr)
					th.step()
					if xv == nil {
						return f(x), nil
					}
					th.at = at
					return 0, desc.f1(th, xv)
				}
			}
		}
	}
	if app, ok := t.(*dag.App); ok && len(app.Args) == 1 {
		if b, ok := app.Fn.(*dag.Builtin); ok && b.Name == "Int.toFloat" {
			desc := s.builtin(b.Name)
			a, at := s.expr(app.Args[0], false, nest+1), s.site(app)
			return func(th *Thread, fr *frame) (float64, Value) {
				x := a(th, fr)
				th.step()
				if i, ok := x.(Int); ok {
					return float64(i), nil
				}
				th.at = at
				return 0, desc.f1(th, x)
			}
		}
	}
	if l, ok := t.(*dag.Float); ok {
		f := l.V
		return func(*Thread, *frame) (float64, Value) { return f, nil }
	}
	c := s.expr(t, false, nest)
	return func(th *Thread, fr *frame) (float64, Value) {
		v := c(th, fr)
		if f, ok := v.(Float); ok {
			return float64(f), nil
		}
		return 0, v
	}
}

// arithRaw compiles a + b, a - b, a * b or a / b on two raw operands.
func (s *scope) arithRaw(name string, ts []dag.Term, at *site, nest int) rawCode {
	a, b := s.raw(ts[0], nest+1), s.raw(ts[1], nest+1)
	switch name {
	case "Op.add":
		return func(th *Thread, fr *frame) (float64, Value) {
			x, xv := a(th, fr)
			y, yv := b(th, fr)
			th.step()
			if xv == nil && yv == nil {
				return x + y, nil
			}
			if xi, ok := xv.(Int); ok {
				if yi, ok := yv.(Int); ok {
					if s := xi + yi; (s > xi) == (yi > 0) {
						return 0, MakeInt(int64(s))
					}
				}
			}
			th.at = at
			return 0, opAdd(th, reboxed(x, xv), reboxed(y, yv))
		}
	case "Op.sub":
		return func(th *Thread, fr *frame) (float64, Value) {
			x, xv := a(th, fr)
			y, yv := b(th, fr)
			th.step()
			if xv == nil && yv == nil {
				return x - y, nil
			}
			if xi, ok := xv.(Int); ok {
				if yi, ok := yv.(Int); ok {
					if s := xi - yi; (s < xi) == (yi > 0) {
						return 0, MakeInt(int64(s))
					}
				}
			}
			th.at = at
			return 0, opSub(th, reboxed(x, xv), reboxed(y, yv))
		}
	case "Op.mul":
		return func(th *Thread, fr *frame) (float64, Value) {
			x, xv := a(th, fr)
			y, yv := b(th, fr)
			th.step()
			if xv == nil && yv == nil {
				return x * y, nil
			}
			th.at = at
			return 0, opMul(th, reboxed(x, xv), reboxed(y, yv))
		}
	}
	// Op.div: the generic builtin call charged one step and set the site.
	return func(th *Thread, fr *frame) (float64, Value) {
		x, xv := a(th, fr)
		y, yv := b(th, fr)
		th.step()
		if xv == nil && yv == nil {
			return x / y, nil
		}
		th.at = at
		return 0, opDiv(th, reboxed(x, xv), reboxed(y, yv))
	}
}

func reboxed(f float64, v Value) Value {
	if v == nil {
		return Float(f)
	}
	return v
}
