package eval

import (
	"math"
	"strconv"
	"strings"
)

func init() {
	// Int
	def2("Int.add", "Checked addition", func(th *Thread, a, b Value) Value {
		return addInt(th, th.argInt("Int.add", a), th.argInt("Int.add", b))
	})
	def2("Int.sub", "Checked subtraction", func(th *Thread, a, b Value) Value {
		return subInt(th, th.argInt("Int.sub", a), th.argInt("Int.sub", b))
	})
	def2("Int.mul", "Checked multiplication", func(th *Thread, a, b Value) Value {
		return mulInt(th, th.argInt("Int.mul", a), th.argInt("Int.mul", b))
	})
	def2("Int.div", "Division truncated toward zero; division by zero is an error", func(th *Thread, a, b Value) Value {
		return divInt(th, th.argInt("Int.div", a), th.argInt("Int.div", b))
	})
	def2("Int.mod", "Remainder of Int.div (sign of the dividend)", func(th *Thread, a, b Value) Value {
		return modInt(th, th.argInt("Int.mod", a), th.argInt("Int.mod", b))
	})
	def1("Int.negate", "Checked negation", func(th *Thread, a Value) Value {
		return negInt(th, th.argInt("Int.negate", a))
	})
	def1("Int.abs", "Absolute value (Int.abs Int.minValue is an error)", func(th *Thread, a Value) Value {
		x := th.argInt("Int.abs", a)
		if x < 0 {
			return negInt(th, x)
		}
		return a
	})
	def1("Int.signum", "-1, 0 or 1", func(th *Thread, a Value) Value {
		x := th.argInt("Int.signum", a)
		switch {
		case x < 0:
			return MakeInt(-1)
		case x > 0:
			return MakeInt(1)
		}
		return MakeInt(0)
	})
	def2("Int.min", "The smaller of two Ints", func(th *Thread, a, b Value) Value {
		return MakeInt(min(th.argInt("Int.min", a), th.argInt("Int.min", b)))
	})
	def2("Int.max", "The larger of two Ints", func(th *Thread, a, b Value) Value {
		return MakeInt(max(th.argInt("Int.max", a), th.argInt("Int.max", b)))
	})
	def2("Int.pow", "Int.pow base exponent (exponent >= 0; overflow is an error)", func(th *Thread, a, b Value) Value {
		x, n := th.argInt("Int.pow", a), th.argInt("Int.pow", b)
		if n < 0 {
			th.fail("Int.pow: negative exponent %d", n)
		}
		// An overflow names the call, not the squaring step that hit it
		// (issue 13).
		base, exp := x, n
		mul := func(p, q int64) int64 {
			if p == 0 || q == 0 {
				return 0
			}
			r := p * q
			if r/q != p || (p == -1 && q == math.MinInt64) || (q == -1 && p == math.MinInt64) {
				th.fail("Int overflow in Int.pow %d %d (the result does not fit in 64 bits)", base, exp)
			}
			return r
		}
		r := int64(1)
		for n > 0 {
			th.step()
			if n&1 == 1 {
				r = mul(r, x)
			}
			n >>= 1
			if n > 0 {
				x = mul(x, x)
			}
		}
		return MakeInt(r)
	})
	def2("Int.gcd", "Greatest common divisor (non-negative)", func(th *Thread, a, b Value) Value {
		x, y := th.argInt("Int.gcd", a), th.argInt("Int.gcd", b)
		for y != 0 {
			th.step()
			x, y = y, x%y
		}
		if x < 0 {
			return negInt(th, x)
		}
		return MakeInt(x)
	})
	def1("Int.isEven", "Whether the Int is even", func(th *Thread, a Value) Value {
		return MakeBool(th.argInt("Int.isEven", a)%2 == 0)
	})
	def1("Int.isOdd", "Whether the Int is odd", func(th *Thread, a Value) Value {
		return MakeBool(th.argInt("Int.isOdd", a)%2 != 0)
	})
	def1("Int.toText", "Decimal text", func(th *Thread, a Value) Value {
		return th.text(strconv.FormatInt(th.argInt("Int.toText", a), 10))
	})
	def1("Int.fromText", "Parse decimal text (optional sign): Some n or None", func(th *Thread, a Value) Value {
		s := th.argText("Int.fromText", a)
		th.charge(int64(len(s)) / 8)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return noneValue
		}
		return th.some(MakeInt(n))
	})
	def1("Int.toFloat", "The nearest Float", func(th *Thread, a Value) Value {
		return Float(float64(th.argInt("Int.toFloat", a)))
	})
	def2("Int.compare", "-1, 0 or 1 as a < b, a == b, a > b", func(th *Thread, a, b Value) Value {
		x, y := th.argInt("Int.compare", a), th.argInt("Int.compare", b)
		switch {
		case x < y:
			return MakeInt(-1)
		case x > y:
			return MakeInt(1)
		}
		return MakeInt(0)
	})
	def0("Int.maxValue", "The largest Int, 2^63 - 1", func(*Thread) Value { return MakeInt(math.MaxInt64) })
	def0("Int.minValue", "The smallest Int, -2^63", func(*Thread) Value { return MakeInt(math.MinInt64) })

	// Float
	f2 := func(name, doc string, op func(x, y float64) float64) {
		def2(name, doc, func(th *Thread, a, b Value) Value {
			return Float(op(th.argFloat(name, a), th.argFloat(name, b)))
		})
	}
	f1 := func(name, doc string, op func(x float64) float64) {
		floatFns1[name] = op
		def1(name, doc, func(th *Thread, a Value) Value {
			return Float(op(th.argFloat(name, a)))
		})
	}
	f2("Float.add", "IEEE addition", func(x, y float64) float64 { return x + y })
	f2("Float.sub", "IEEE subtraction", func(x, y float64) float64 { return x - y })
	f2("Float.mul", "IEEE multiplication", func(x, y float64) float64 { return x * y })
	f2("Float.div", "IEEE division (x / 0.0 is an infinity or NaN)", func(x, y float64) float64 { return x / y })
	f2("Float.min", "The smaller (NaN if either is NaN)", math.Min)
	f2("Float.max", "The larger (NaN if either is NaN)", math.Max)
	f2("Float.pow", "Float.pow base exponent (portable, bit-identical on every platform)", detPow)
	f1("Float.negate", "Negation", func(x float64) float64 { return -x })
	f1("Float.abs", "Absolute value", math.Abs)
	f1("Float.sqrt", "Square root (correctly rounded)", math.Sqrt)
	f1("Float.exp", "e^x (portable, bit-identical on every platform)", detExp)
	f1("Float.log", "Natural logarithm (portable, bit-identical on every platform)", detLog)
	f1("Float.floor", "Largest integral Float <= x", math.Floor)
	f1("Float.ceil", "Smallest integral Float >= x", math.Ceil)
	f1("Float.round", "Nearest integral Float, halves away from zero", math.Round)
	f1("Float.truncate", "Integral part, toward zero", math.Trunc)
	def1("Float.isNaN", "Whether x is NaN", func(th *Thread, a Value) Value {
		return MakeBool(math.IsNaN(th.argFloat("Float.isNaN", a)))
	})
	def1("Float.isInfinite", "Whether x is an infinity", func(th *Thread, a Value) Value {
		return MakeBool(math.IsInf(th.argFloat("Float.isInfinite", a), 0))
	})
	def1("Float.toInt", "Truncate toward zero; NaN, infinities and out-of-range values are errors", func(th *Thread, a Value) Value {
		x := math.Trunc(th.argFloat("Float.toInt", a))
		if math.IsNaN(x) || x < -(1<<63) || x >= 1<<63 {
			th.fail("Float.toInt: %s is out of the Int range", FormatFloat(x))
		}
		return MakeInt(int64(x))
	})
	def1("Float.fromInt", "The nearest Float", func(th *Thread, a Value) Value {
		return Float(float64(th.argInt("Float.fromInt", a)))
	})
	def1("Float.toText", "Shortest text that reads back as the same Float (13.0, 0.1, 1.0e16, NaN)", func(th *Thread, a Value) Value {
		return th.text(FormatFloat(th.argFloat("Float.toText", a)))
	})
	def1("Float.fromText", "Parse a decimal Float (also NaN, Infinity, -Infinity): Some x or None", func(th *Thread, a Value) Value {
		s := th.argText("Float.fromText", a)
		th.charge(int64(len(s)) / 8)
		switch s {
		case "NaN":
			return th.some(Float(math.NaN()))
		case "Infinity":
			return th.some(Float(math.Inf(1)))
		case "-Infinity":
			return th.some(Float(math.Inf(-1)))
		}
		if strings.ContainsAny(s, "xXpP_") || strings.EqualFold(strings.TrimLeft(s, "+-"), "inf") ||
			strings.EqualFold(strings.TrimLeft(s, "+-"), "infinity") || strings.EqualFold(s, "nan") {
			return noneValue
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return noneValue
		}
		return th.some(Float(x))
	})
	def2("Float.compare", "-1, 0 or 1 in the total order (NaN above everything)", func(th *Thread, a, b Value) Value {
		return MakeInt(int64(compareFloat(th.argFloat("Float.compare", a), th.argFloat("Float.compare", b))))
	})
	def0("Float.pi", "π", func(*Thread) Value { return Float(math.Pi) })
	def0("Float.e", "e", func(*Thread) Value { return Float(math.E) })
}

// isqrt is the floor of the square root of n >= 0, exactly.
func isqrt(n int64) int64 {
	r := int64(math.Sqrt(float64(n)))
	for r > 0 && r > n/r {
		r--
	}
	for r+1 <= n/(r+1) {
		r++
	}
	return r
}

// Issue 13: what a user reaches for first.
func init() {
	def1("Int.sqrt", "The floor of the square root (a negative argument is an error)", func(th *Thread, a Value) Value {
		x := th.argInt("Int.sqrt", a)
		if x < 0 {
			th.fail("Int.sqrt: negative argument %d", x)
		}
		return MakeInt(isqrt(x))
	})
	def1("Int.toHex", "Hexadecimal text, lower case, with - when negative (255 is \"ff\")", func(th *Thread, a Value) Value {
		return th.text(strconv.FormatInt(th.argInt("Int.toHex", a), 16))
	})
	def1("Int.fromHex", "Some Int from hexadecimal text (an optional - then digits, either case, an optional 0x), or None", func(th *Thread, a Value) Value {
		s := th.argText("Int.fromHex", a)
		th.chargeLen(len(s))
		neg := strings.HasPrefix(s, "-")
		body := strings.TrimPrefix(s, "-")
		if p := strings.ToLower(body[:min(2, len(body))]); p == "0x" {
			body = body[2:]
		}
		if body == "" || strings.ContainsAny(body, "+-_") {
			return noneValue
		}
		if neg {
			body = "-" + body
		}
		n, err := strconv.ParseInt(body, 16, 64)
		if err != nil {
			return noneValue
		}
		return th.some(MakeInt(n))
	})
	def2("Float.toFixed", "Float.toFixed digits x: x in decimal with that many digits after the point, rounded half to even (Float.toFixed 2 3.14159 is \"3.14\"); NaN and the infinities as Float.toText prints them", func(th *Thread, d, a Value) Value {
		n := th.argInt("Float.toFixed", d)
		x := th.argFloat("Float.toFixed", a)
		if n < 0 || n > maxFixedDigits {
			th.fail("Float.toFixed: digits must be 0 to %d, got %d", maxFixedDigits, n)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return th.text(FormatFloat(x))
		}
		return th.text(strconv.FormatFloat(x, 'f', int(n), 64))
	})

	// Unqualified, for any values of one kind (by the order of Compare).
	def2("min", "min a b: the smaller of two values of the same kind (a if equal)", func(th *Thread, a, b Value) Value {
		if th.compareOp("min", a, b) <= 0 {
			return a
		}
		return b
	})
	def2("max", "max a b: the larger of two values of the same kind (a if equal)", func(th *Thread, a, b Value) Value {
		if th.compareOp("max", a, b) >= 0 {
			return a
		}
		return b
	})
	def2("compare", "compare a b: -1, 0 or 1 as a is less than, equal to or greater than b (of the same kind)", func(th *Thread, a, b Value) Value {
		switch c := th.compareOp("compare", a, b); {
		case c < 0:
			return MakeInt(-1)
		case c > 0:
			return MakeInt(1)
		}
		return MakeInt(0)
	})
	intAbs := builtins["Int.abs"].f1
	def1("abs", "Absolute value of an Int (abs Int.minValue is an error) or a Float", func(th *Thread, a Value) Value {
		if x, ok := a.(Float); ok {
			return Float(math.Abs(float64(x)))
		}
		if _, ok := a.(Int); !ok {
			th.fail("abs: expected an Int or a Float, got %s", describe(a))
		}
		return intAbs(th, a)
	})
}

// floatFns1 are the Float -> Float builtins by name, which the compiler
// fuses into float arithmetic (see rawCode in builtins_op.go).
var floatFns1 = map[string]func(float64) float64{}
