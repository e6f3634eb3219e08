package eval

import (
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text positions and lengths count Unicode code points, not bytes:
// Text.length "héllo" is 5. Indexes out of range are clamped (take, drop,
// slice) or give None (at, indexOf). Case mapping uses the Unicode tables
// of the Go release the node was built with.

// chargeLen charges fuel for work proportional to n bytes or elements.
func (th *Thread) chargeLen(n int) { th.charge(int64(n) / 8) }

// runeOffset is the byte offset of code point i in s (len(s) past the
// end); i < 0 counts as 0.
func runeOffset(s string, i int64) int {
	if i <= 0 {
		return 0
	}
	for off := range s {
		if i == 0 {
			return off
		}
		i--
	}
	return len(s)
}

func init() {
	def1("Text.length", "Number of code points", func(th *Thread, a Value) Value {
		s := th.argText("Text.length", a)
		th.chargeLen(len(s))
		return MakeInt(int64(utf8.RuneCountInString(s)))
	})
	def1("Text.isEmpty", "Whether the text is empty", func(th *Thread, a Value) Value {
		return MakeBool(th.argText("Text.isEmpty", a) == "")
	})
	def2("Text.concat", "Text.concat a b = a ++ b", func(th *Thread, a, b Value) Value {
		x, y := th.argText("Text.concat", a), th.argText("Text.concat", b)
		th.chargeLen(len(x) + len(y))
		return th.text(x + y)
	})
	def2("Text.join", "Text.join separator texts", func(th *Thread, sep, l Value) Value {
		s := th.argText("Text.join", sep)
		xs := th.argList("Text.join", l).Elems()
		parts := make([]string, len(xs))
		n := 0
		for i, x := range xs {
			parts[i] = th.argText("Text.join", x)
			n += len(parts[i]) + len(s)
		}
		th.chargeLen(n)
		th.checkAlloc(int64(n))
		return th.text(strings.Join(parts, s))
	})
	def2("Text.split", "Text.split separator text (an empty separator splits into code points)", func(th *Thread, sep, t Value) Value {
		s, x := th.argText("Text.split", sep), th.argText("Text.split", t)
		th.chargeLen(len(x))
		parts := strings.Split(x, s)
		l, out := th.makeList(len(parts))
		for i, p := range parts {
			out[i] = th.text(p)
		}
		return l
	})
	def1("Text.lines", "Split at \\n (a final newline does not start an empty line)", func(th *Thread, t Value) Value {
		x := th.argText("Text.lines", t)
		th.chargeLen(len(x))
		x = strings.TrimSuffix(x, "\n")
		if x == "" {
			return emptyList
		}
		parts := strings.Split(x, "\n")
		l, out := th.makeList(len(parts))
		for i, p := range parts {
			out[i] = th.text(strings.TrimSuffix(p, "\r"))
		}
		return l
	})
	def1("Text.words", "Split at runs of white space", func(th *Thread, t Value) Value {
		x := th.argText("Text.words", t)
		th.chargeLen(len(x))
		parts := strings.Fields(x)
		l, out := th.makeList(len(parts))
		for i, p := range parts {
			out[i] = th.text(p)
		}
		return l
	})
	def1("Text.toUpper", "Upper case", func(th *Thread, a Value) Value {
		s := th.argText("Text.toUpper", a)
		th.chargeLen(len(s))
		return th.text(strings.ToUpper(s))
	})
	def1("Text.toLower", "Lower case", func(th *Thread, a Value) Value {
		s := th.argText("Text.toLower", a)
		th.chargeLen(len(s))
		return th.text(strings.ToLower(s))
	})
	def2("Text.contains", "Text.contains part text", func(th *Thread, p, t Value) Value {
		x := th.argText("Text.contains", t)
		th.chargeLen(len(x))
		return MakeBool(strings.Contains(x, th.argText("Text.contains", p)))
	})
	def2("Text.startsWith", "Text.startsWith prefix text", func(th *Thread, p, t Value) Value {
		return MakeBool(strings.HasPrefix(th.argText("Text.startsWith", t), th.argText("Text.startsWith", p)))
	})
	def2("Text.endsWith", "Text.endsWith suffix text", func(th *Thread, p, t Value) Value {
		return MakeBool(strings.HasSuffix(th.argText("Text.endsWith", t), th.argText("Text.endsWith", p)))
	})
	def2("Text.indexOf", "Text.indexOf part text: Some code point index of the first occurrence, or None", func(th *Thread, p, t Value) Value {
		x := th.argText("Text.indexOf", t)
		th.chargeLen(len(x))
		i := strings.Index(x, th.argText("Text.indexOf", p))
		if i < 0 {
			return noneValue
		}
		return th.some(MakeInt(int64(utf8.RuneCountInString(x[:i]))))
	})
	def3("Text.slice", "Text.slice start end text: code points start (inclusive) to end (exclusive), clamped", func(th *Thread, a, b, t Value) Value {
		i, j := th.argInt("Text.slice", a), th.argInt("Text.slice", b)
		x := th.argText("Text.slice", t)
		th.chargeLen(len(x))
		lo := runeOffset(x, i)
		hi := runeOffset(x, j)
		if hi <= lo {
			return Text("")
		}
		return th.text(x[lo:hi])
	})
	def2("Text.take", "Text.take n text: the first n code points", func(th *Thread, n, t Value) Value {
		x := th.argText("Text.take", t)
		k := th.argInt("Text.take", n)
		th.chargeLen(min(len(x), int(max(k, 0))))
		return th.text(x[:runeOffset(x, k)])
	})
	def2("Text.drop", "Text.drop n text: all but the first n code points", func(th *Thread, n, t Value) Value {
		x := th.argText("Text.drop", t)
		k := th.argInt("Text.drop", n)
		th.chargeLen(len(x))
		return th.text(x[runeOffset(x, k):])
	})
	def2("Text.at", "Text.at i text: Some code point i (as a Text), or None", func(th *Thread, n, t Value) Value {
		x := th.argText("Text.at", t)
		k := th.argInt("Text.at", n)
		if k < 0 {
			return noneValue
		}
		th.chargeLen(len(x))
		off := runeOffset(x, k)
		if off >= len(x) {
			return noneValue
		}
		_, size := utf8.DecodeRuneInString(x[off:])
		return th.some(th.text(x[off : off+size]))
	})
	def1("Text.trim", "Remove leading and trailing white space", func(th *Thread, a Value) Value {
		return th.text(strings.TrimSpace(th.argText("Text.trim", a)))
	})
	def1("Text.trimStart", "Remove leading white space", func(th *Thread, a Value) Value {
		return th.text(strings.TrimLeftFunc(th.argText("Text.trimStart", a), unicode.IsSpace))
	})
	def1("Text.trimEnd", "Remove trailing white space", func(th *Thread, a Value) Value {
		return th.text(strings.TrimRightFunc(th.argText("Text.trimEnd", a), unicode.IsSpace))
	})
	def3("Text.replace", "Text.replace old new text: replace every occurrence", func(th *Thread, o, n, t Value) Value {
		x := th.argText("Text.replace", t)
		old, nw := th.argText("Text.replace", o), th.argText("Text.replace", n)
		th.chargeLen(len(x))
		if c := strings.Count(x, old); c > 0 {
			th.checkCount(int64(c), int64(len(nw)+1))
		}
		return th.text(strings.ReplaceAll(x, old, nw))
	})
	def2("Text.repeat", "Text.repeat n text", func(th *Thread, n, t Value) Value {
		k := th.argInt("Text.repeat", n)
		x := th.argText("Text.repeat", t)
		if k <= 0 || x == "" {
			return Text("")
		}
		th.checkCount(k, int64(len(x)))
		th.chargeLen(int(k) * len(x))
		return th.text(strings.Repeat(x, int(k)))
	})
	def1("Text.reverse", "Reverse the code points", func(th *Thread, a Value) Value {
		x := th.argText("Text.reverse", a)
		th.chargeLen(len(x))
		rs := []rune(x)
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
		return th.text(string(rs))
	})
	def1("Text.toChars", "The code points as one-character texts", func(th *Thread, a Value) Value {
		x := th.argText("Text.toChars", a)
		th.chargeLen(len(x))
		l, out := th.makeList(utf8.RuneCountInString(x))
		i := 0
		for off, r := range x {
			out[i] = th.text(x[off : off+utf8.RuneLen(r)])
			i++
		}
		return l
	})
	def1("Text.fromChars", "Concatenate a list of texts", func(th *Thread, l Value) Value {
		var b strings.Builder
		for _, x := range th.argList("Text.fromChars", l).Elems() {
			b.WriteString(th.argText("Text.fromChars", x))
		}
		th.chargeLen(b.Len())
		return th.text(b.String())
	})
	def1("Text.toCodePoints", "The code points as Ints", func(th *Thread, a Value) Value {
		x := th.argText("Text.toCodePoints", a)
		th.chargeLen(len(x))
		l, out := th.makeList(utf8.RuneCountInString(x))
		i := 0
		for _, r := range x {
			out[i] = MakeInt(int64(r))
			i++
		}
		return l
	})
	def1("Text.fromCodePoints", "Text from code points (an invalid code point is an error)", func(th *Thread, l Value) Value {
		var b strings.Builder
		for _, x := range th.argList("Text.fromCodePoints", l).Elems() {
			c := th.argInt("Text.fromCodePoints", x)
			if c < 0 || c > unicode.MaxRune || (c >= 0xD800 && c < 0xE000) {
				th.fail("Text.fromCodePoints: %d is not a code point", c)
			}
			b.WriteRune(rune(c))
		}
		th.chargeLen(b.Len())
		return th.text(b.String())
	})
	def1("Text.toUtf8", "The UTF-8 encoding", func(th *Thread, a Value) Value {
		return th.bytes(th.argText("Text.toUtf8", a))
	})
	def1("Text.fromUtf8", "Some text if the bytes are valid UTF-8, else None", func(th *Thread, a Value) Value {
		b := th.argBytes("Text.fromUtf8", a)
		th.chargeLen(len(b))
		if !utf8.ValidString(b) {
			return noneValue
		}
		return th.some(th.text(b))
	})
	def2("Text.compare", "-1, 0 or 1 in code point order", func(th *Thread, a, b Value) Value {
		return MakeInt(int64(strings.Compare(th.argText("Text.compare", a), th.argText("Text.compare", b))))
	})
	pad := func(name string, left bool) {
		def3(name, name+" width fill text: pad with copies of fill (one code point) to width code points",
			func(th *Thread, w, f, t Value) Value {
				width := th.argInt(name, w)
				fill := th.argText(name, f)
				x := th.argText(name, t)
				if utf8.RuneCountInString(fill) != 1 {
					th.fail("%s: the fill must be one code point, got %s", name, QuoteText(fill))
				}
				n := width - int64(utf8.RuneCountInString(x))
				if n <= 0 {
					return t
				}
				th.checkCount(n, int64(len(fill)))
				th.chargeLen(int(n))
				p := strings.Repeat(fill, int(n))
				if left {
					return th.text(p + x)
				}
				return th.text(x + p)
			})
	}
	pad("Text.padLeft", true)
	pad("Text.padRight", false)

	// Bytes
	def1("Bytes.length", "Number of bytes", func(th *Thread, a Value) Value {
		return MakeInt(int64(len(th.argBytes("Bytes.length", a))))
	})
	def1("Bytes.isEmpty", "Whether there are no bytes", func(th *Thread, a Value) Value {
		return MakeBool(th.argBytes("Bytes.isEmpty", a) == "")
	})
	def2("Bytes.concat", "Bytes.concat a b = a ++ b", func(th *Thread, a, b Value) Value {
		x, y := th.argBytes("Bytes.concat", a), th.argBytes("Bytes.concat", b)
		th.chargeLen(len(x) + len(y))
		return th.bytes(x + y)
	})
	def3("Bytes.slice", "Bytes.slice start end bytes (clamped)", func(th *Thread, a, b, t Value) Value {
		x := th.argBytes("Bytes.slice", t)
		i := clamp(th.argInt("Bytes.slice", a), len(x))
		j := clamp(th.argInt("Bytes.slice", b), len(x))
		if j <= i {
			return Bytes("")
		}
		th.chargeLen(j - i)
		return th.bytes(x[i:j])
	})
	def2("Bytes.take", "Bytes.take n bytes", func(th *Thread, n, t Value) Value {
		x := th.argBytes("Bytes.take", t)
		k := clamp(th.argInt("Bytes.take", n), len(x))
		th.chargeLen(k)
		return th.bytes(x[:k])
	})
	def2("Bytes.drop", "Bytes.drop n bytes", func(th *Thread, n, t Value) Value {
		x := th.argBytes("Bytes.drop", t)
		k := clamp(th.argInt("Bytes.drop", n), len(x))
		th.chargeLen(len(x) - k)
		return th.bytes(x[k:])
	})
	def2("Bytes.at", "Bytes.at i bytes: Some byte (an Int 0-255), or None", func(th *Thread, n, t Value) Value {
		x := th.argBytes("Bytes.at", t)
		k := th.argInt("Bytes.at", n)
		if k < 0 || k >= int64(len(x)) {
			return noneValue
		}
		return th.some(MakeInt(int64(x[k])))
	})
	def1("Bytes.toList", "The bytes as Ints 0-255", func(th *Thread, a Value) Value {
		x := th.argBytes("Bytes.toList", a)
		th.chargeLen(len(x))
		l, out := th.makeList(len(x))
		for i := 0; i < len(x); i++ {
			out[i] = MakeInt(int64(x[i]))
		}
		return l
	})
	def1("Bytes.fromList", "Bytes from Ints 0-255 (others are an error)", func(th *Thread, a Value) Value {
		xs := th.argList("Bytes.fromList", a).Elems()
		th.chargeLen(len(xs))
		b := make([]byte, len(xs))
		for i, x := range xs {
			c := th.argInt("Bytes.fromList", x)
			if c < 0 || c > 255 {
				th.fail("Bytes.fromList: %d is not a byte", c)
			}
			b[i] = byte(c)
		}
		return th.bytes(string(b))
	})
	def1("Bytes.toHex", "Lower-case hexadecimal text", func(th *Thread, a Value) Value {
		x := th.argBytes("Bytes.toHex", a)
		th.chargeLen(len(x))
		return th.text(hex.EncodeToString([]byte(x)))
	})
	def1("Bytes.fromHex", "Some bytes from hexadecimal text, or None", func(th *Thread, a Value) Value {
		x := th.argText("Bytes.fromHex", a)
		th.chargeLen(len(x))
		b, err := hex.DecodeString(x)
		if err != nil {
			return noneValue
		}
		return th.some(th.bytes(string(b)))
	})
}

func clamp(i int64, n int) int {
	switch {
	case i < 0:
		return 0
	case i > int64(n):
		return n
	}
	return int(i)
}
