package eval

import (
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Text positions and lengths count Unicode code points, not bytes:
// Text.length "héllo" is 5. Indexes out of range are clamped (take, drop,
// slice) or give None (at, indexOf). Case mapping uses the Unicode tables
// of the Go release the node was built with.

// chargeLen charges fuel for work proportional to n bytes or elements.
func (th *Thread) chargeLen(n int) { th.charge(int64(n) / 8) }

// runeOffset is the byte offset of code point i in s (len(s) past the
// end); i < 0 counts as 0.
func (th *Thread) runeOffset(s string, i int64) int {
	if i <= 0 {
		return 0
	}
	for off := range s {
		if i == 0 {
			return off
		}
		th.poll()
		i--
	}
	return len(s)
}

// Long texts are processed in pieces of about textChunk bytes, with a
// check of cancellation and the deadline between pieces: the fuel of
// these builtins is charged up front, and a piece is well under a
// millisecond of work.
const textChunk = 1 << 20

// chunks calls f on consecutive pieces of s, each of about textChunk
// bytes and starting at a code point boundary (so that counting,
// validating or case-mapping the pieces gives the result for s),
// checking cancellation between them.
func (th *Thread) chunks(s string, f func(part string)) {
	for len(s) > textChunk {
		i := textChunk
		for i > textChunk-utf8.UTFMax && !utf8.RuneStart(s[i]) {
			i--
		}
		f(s[:i])
		s = s[i:]
		th.check()
	}
	f(s)
}

// runeCount is utf8.RuneCountInString in checked pieces.
func (th *Thread) runeCount(s string) int {
	n := 0
	th.chunks(s, func(p string) { n += utf8.RuneCountInString(p) })
	return n
}

// index is strings.Index searched in windows of textChunk bytes, with a
// check between windows.
func (th *Thread) index(s, sub string) int {
	for off := 0; ; off += textChunk {
		end := min(off+textChunk+len(sub)-1, len(s))
		if i := strings.Index(s[off:end], sub); i >= 0 {
			return off + i
		}
		if end == len(s) {
			return -1
		}
		th.check()
	}
}

// repeat is strings.Repeat (whose memory the caller checked), built in
// pieces of about textChunk bytes with a check between them.
func (th *Thread) repeat(x string, k int) string {
	size := k * len(x)
	if size <= textChunk {
		return strings.Repeat(x, k)
	}
	piece := strings.Repeat(x, max(textChunk/len(x), 1))
	var b strings.Builder
	b.Grow(size)
	for b.Len()+len(piece) <= size {
		b.WriteString(piece)
		th.check()
	}
	b.WriteString(piece[:size-b.Len()])
	return b.String()
}

// mapChunks applies a per-code-point mapping (case mapping) in checked
// pieces.
func (th *Thread) mapChunks(s string, f func(string) string) string {
	if len(s) <= textChunk {
		return f(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	th.chunks(s, func(p string) { b.WriteString(f(p)) })
	return b.String()
}

// Appending to text in a loop (acc ++ piece) would copy the whole
// accumulator at every step: quadratic time, and a memory charge that
// counts every intermediate copy. Instead, a text built by ++ that is
// long enough lives at the start of a growable buffer with headroom, and
// appending to the text that ends exactly where the buffer's used part
// ends writes the new bytes in place (amortised O(1) per byte, like
// List.snoc). Bytes inside the used part are never written again, so
// every Text viewing the buffer stays immutable. A Thread remembers its
// last few buffers (textAppendSlots); whether an append takes the fast
// path depends only on the thread's own evaluation history, so the fuel
// and memory charged stay deterministic. A buffer is charged for its
// whole capacity when allocated, so the charge is what is really
// allocated; the old buffer of a grown text is garbage unless an older
// version of the text is still held.
type textBuf struct{ data []byte } // len(data) is the used part

type textAppender struct {
	bufs [textAppendSlots]*textBuf
	next int
	// ending: a reset is registered for the end of the evaluation, so a
	// thread kept between evaluations does not keep its buffers alive
	// (the texts made in them stay valid; they only stop growing in
	// place).
	ending bool
}

// find returns the buffer whose used part is exactly s.
func (a *textAppender) find(s string) *textBuf {
	p := unsafe.StringData(s)
	for _, b := range a.bufs {
		if b != nil && len(b.data) == len(s) && unsafe.SliceData(b.data) == p {
			return b
		}
	}
	return nil
}

// appendText returns x ++ y (for Text and Bytes, whose Values are Go
// strings).
func (th *Thread) appendText(x, y string) string {
	if y == "" {
		return x
	}
	if x == "" {
		return y
	}
	n := int64(len(x)) + int64(len(y))
	if b := th.texts.find(x); b != nil && n <= int64(cap(b.data)) {
		th.charge(int64(len(y)) / 64)
		th.alloc(sizeText)
		b.data = append(b.data, y...)
		return unsafe.String(unsafe.SliceData(b.data), len(b.data))
	}
	th.charge(n / 64)
	if n < textAppendMin {
		th.alloc(sizeText + n)
		return x + y
	}
	c := 2 * n
	th.checkAlloc(c)
	th.alloc(sizeText + c)
	data := make([]byte, 0, c)
	data = append(append(data, x...), y...)
	if !th.texts.ending {
		th.texts.ending = true
		th.OnEnd(func() { th.texts = textAppender{} })
	}
	b := th.texts.find(x)
	if b == nil {
		b = &textBuf{}
		th.texts.bufs[th.texts.next] = b
		th.texts.next = (th.texts.next + 1) % textAppendSlots
	}
	b.data = data
	return unsafe.String(unsafe.SliceData(data), len(data))
}

func init() {
	def1("Text.length", "Number of code points", func(th *Thread, a Value) Value {
		s := th.argText("Text.length", a)
		th.chargeLen(len(s))
		return MakeInt(int64(th.runeCount(s)))
	})
	def1("Text.isEmpty", "Whether the text is empty", func(th *Thread, a Value) Value {
		return MakeBool(th.argText("Text.isEmpty", a) == "")
	})
	def2("Text.concat", "Text.concat a b = a ++ b", func(th *Thread, a, b Value) Value {
		x, y := th.argText("Text.concat", a), th.argText("Text.concat", b)
		return Text(th.appendText(x, y))
	})
	def2("Text.join", "Text.join separator texts", func(th *Thread, sep, l Value) Value {
		s := th.argText("Text.join", sep)
		xs := th.argList("Text.join", l).Elems()
		th.chargeLen(len(xs))
		n := int64(0)
		for _, x := range xs {
			th.poll()
			n += int64(len(th.argText("Text.join", x)) + len(s))
		}
		th.chargeLen(int(min(n, maxListLen)))
		th.checkAlloc(n)
		var b strings.Builder
		b.Grow(int(n))
		for i, x := range xs {
			th.poll()
			if i > 0 {
				b.WriteString(s)
			}
			b.WriteString(string(x.(Text)))
		}
		return th.text(b.String())
	})
	def2("Text.split", "Text.split separator text (an empty separator splits into code points)", func(th *Thread, sep, t Value) Value {
		s, x := th.argText("Text.split", sep), th.argText("Text.split", t)
		th.chargeLen(len(x))
		// Charge the parts before strings.Split allocates them.
		th.checkCount(int64(strings.Count(x, s))+1, sizeSlot+sizeText)
		parts := strings.Split(x, s)
		l, out := th.makeList(len(parts))
		for i, p := range parts {
			th.poll()
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
		th.checkCount(int64(strings.Count(x, "\n"))+1, sizeSlot+sizeText)
		parts := strings.Split(x, "\n")
		l, out := th.makeList(len(parts))
		for i, p := range parts {
			th.poll()
			out[i] = th.text(strings.TrimSuffix(p, "\r"))
		}
		return l
	})
	def1("Text.words", "Split at runs of white space", func(th *Thread, t Value) Value {
		x := th.argText("Text.words", t)
		th.chargeLen(len(x))
		return th.words(x)
	})
	def1("Text.toUpper", "Upper case", func(th *Thread, a Value) Value {
		s := th.argText("Text.toUpper", a)
		th.chargeLen(len(s))
		th.checkAlloc(int64(len(s)))
		return th.text(th.mapChunks(s, strings.ToUpper))
	})
	def1("Text.toLower", "Lower case", func(th *Thread, a Value) Value {
		s := th.argText("Text.toLower", a)
		th.chargeLen(len(s))
		th.checkAlloc(int64(len(s)))
		return th.text(th.mapChunks(s, strings.ToLower))
	})
	def2("Text.contains", "Text.contains part text", func(th *Thread, p, t Value) Value {
		x := th.argText("Text.contains", t)
		th.chargeLen(len(x))
		return MakeBool(th.index(x, th.argText("Text.contains", p)) >= 0)
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
		i := th.index(x, th.argText("Text.indexOf", p))
		if i < 0 {
			return noneValue
		}
		return th.some(MakeInt(int64(th.runeCount(x[:i]))))
	})
	def3("Text.slice", "Text.slice start end text: code points start (inclusive) to end (exclusive), clamped", func(th *Thread, a, b, t Value) Value {
		i, j := th.argInt("Text.slice", a), th.argInt("Text.slice", b)
		x := th.argText("Text.slice", t)
		th.chargeLen(len(x))
		lo := th.runeOffset(x, i)
		hi := th.runeOffset(x, j)
		if hi <= lo {
			return Text("")
		}
		return th.text(x[lo:hi])
	})
	def2("Text.take", "Text.take n text: the first n code points", func(th *Thread, n, t Value) Value {
		x := th.argText("Text.take", t)
		k := th.argInt("Text.take", n)
		th.chargeLen(min(len(x), int(max(k, 0))))
		return th.text(x[:th.runeOffset(x, k)])
	})
	def2("Text.drop", "Text.drop n text: all but the first n code points", func(th *Thread, n, t Value) Value {
		x := th.argText("Text.drop", t)
		k := th.argInt("Text.drop", n)
		th.chargeLen(len(x))
		return th.text(x[th.runeOffset(x, k):])
	})
	def2("Text.at", "Text.at i text: Some code point i (as a Text), or None", func(th *Thread, n, t Value) Value {
		x := th.argText("Text.at", t)
		k := th.argInt("Text.at", n)
		if k < 0 {
			return noneValue
		}
		th.chargeLen(len(x))
		off := th.runeOffset(x, k)
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
		return th.text(th.repeat(x, int(k)))
	})
	def1("Text.reverse", "Reverse the code points", func(th *Thread, a Value) Value {
		x := th.argText("Text.reverse", a)
		th.chargeLen(len(x))
		// Invalid bytes become U+FFFD (3 bytes), as converting to runes
		// does: size the result first.
		n := 0
		for i := 0; i < len(x); {
			th.poll()
			r, size := utf8.DecodeRuneInString(x[i:])
			if r == utf8.RuneError && size == 1 {
				n += 3
			} else {
				n += size
			}
			i += size
		}
		th.checkAlloc(2 * int64(n))
		out := make([]byte, n)
		j := n
		for i := 0; i < len(x); {
			th.poll()
			r, size := utf8.DecodeRuneInString(x[i:])
			if r == utf8.RuneError && size == 1 {
				j -= 3
				utf8.EncodeRune(out[j:], r)
			} else {
				j -= size
				copy(out[j:], x[i:i+size])
			}
			i += size
		}
		return th.text(string(out))
	})
	def1("Text.toChars", "The code points as one-character texts", func(th *Thread, a Value) Value {
		x := th.argText("Text.toChars", a)
		th.chargeLen(len(x))
		l, out := th.makeList(th.runeCount(x))
		i := 0
		for off, r := range x {
			th.poll()
			out[i] = th.text(x[off : off+utf8.RuneLen(r)])
			i++
		}
		return l
	})
	def1("Text.fromChars", "Concatenate a list of texts", func(th *Thread, l Value) Value {
		xs := th.argList("Text.fromChars", l).Elems()
		th.chargeLen(len(xs))
		n := int64(0)
		for _, x := range xs {
			th.poll()
			n += int64(len(th.argText("Text.fromChars", x)))
		}
		th.chargeLen(int(min(n, maxListLen)))
		th.checkAlloc(n)
		var b strings.Builder
		b.Grow(int(n))
		for _, x := range xs {
			th.poll()
			b.WriteString(string(x.(Text)))
		}
		return th.text(b.String())
	})
	def1("Text.toCodePoints", "The code points as Ints", func(th *Thread, a Value) Value {
		x := th.argText("Text.toCodePoints", a)
		th.chargeLen(len(x))
		l, out := th.makeList(th.runeCount(x))
		i := 0
		for _, r := range x {
			th.poll()
			out[i] = MakeInt(int64(r))
			i++
		}
		return l
	})
	def1("Text.fromCodePoints", "Text from code points (an invalid code point is an error)", func(th *Thread, l Value) Value {
		xs := th.argList("Text.fromCodePoints", l).Elems()
		th.chargeLen(len(xs))
		th.checkCount(int64(len(xs)), utf8.UTFMax)
		var b strings.Builder
		for _, x := range xs {
			th.poll()
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
		valid := true
		th.chunks(b, func(p string) { valid = valid && utf8.ValidString(p) })
		if !valid {
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
				n := width - int64(th.runeCount(x))
				if n <= 0 {
					return t
				}
				th.checkCount(n, int64(len(fill)))
				th.chargeLen(int(n))
				p := th.repeat(fill, int(n))
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
		th.checkAlloc(int64(len(x)) + int64(len(y)))
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
			th.poll()
			out[i] = MakeInt(int64(x[i]))
		}
		return l
	})
	def1("Bytes.fromList", "Bytes from Ints 0-255 (others are an error)", func(th *Thread, a Value) Value {
		xs := th.argList("Bytes.fromList", a).Elems()
		th.chargeLen(len(xs))
		th.checkAlloc(int64(len(xs)))
		b := make([]byte, len(xs))
		for i, x := range xs {
			th.poll()
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
		th.checkCount(int64(len(x)), 3) // the copy and the hex
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

// joinTexts joins the texts of a list, each followed by after (or, with
// between set, separated by it), charging the result before building it.
func (th *Thread) joinTexts(name string, l Value, sep string, trailing bool) Value {
	xs := th.argList(name, l).Elems()
	th.chargeLen(len(xs))
	n := int64(0)
	for i, x := range xs {
		th.poll()
		n += int64(len(th.argText(name, x)))
		if trailing || i > 0 {
			n += int64(len(sep))
		}
		th.checkAlloc(n)
	}
	th.charge(n / 8)
	th.alloc(sizeText + n)
	var b strings.Builder
	b.Grow(int(n))
	for i, x := range xs {
		if i&(pollInterval-1) == 0 {
			th.check()
		}
		if !trailing && i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(string(x.(Text)))
		if trailing {
			b.WriteString(sep)
		}
	}
	return Text(b.String())
}

// textClass is a character class test: whether t is non-empty and every
// code point of it is in the class.
func textClass(name, what string, in func(rune) bool) {
	def1(name, "Whether the text is non-empty and every code point is "+what+" (use on one character, as from Text.toChars)", func(th *Thread, t Value) Value {
		x := th.argText(name, t)
		th.chargeLen(len(x))
		if x == "" {
			return False
		}
		for _, r := range x {
			th.poll()
			if !in(r) {
				return False
			}
		}
		return True
	})
}

// Issue 13: what a user reaches for first.
func init() {
	def1("Text.unlines", "Text.unlines ls: each line followed by \\n (the inverse of Text.lines)", func(th *Thread, l Value) Value {
		return th.joinTexts("Text.unlines", l, "\n", true)
	})
	def1("Text.unwords", "Text.unwords ws: the words separated by one space", func(th *Thread, l Value) Value {
		return th.joinTexts("Text.unwords", l, " ", false)
	})
	def2("Text.splitAt", "Text.splitAt n text = (Text.take n text, Text.drop n text)", func(th *Thread, n, t Value) Value {
		x := th.argText("Text.splitAt", t)
		k := th.argInt("Text.splitAt", n)
		th.chargeLen(min(len(x), int(max(k, 0))))
		off := th.runeOffset(x, k)
		th.alloc(2 * sizeText) // both halves share the text's bytes
		return th.tuple2(Text(x[:off]), Text(x[off:]))
	})
	textClass("Text.isDigit", "an ASCII digit 0-9", func(r rune) bool { return r >= '0' && r <= '9' })
	textClass("Text.isAlpha", "a letter", unicode.IsLetter)
	textClass("Text.isAlphaNum", "a letter or a digit", func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
	textClass("Text.isSpace", "white space", unicode.IsSpace)
	textClass("Text.isUpper", "an upper-case letter", unicode.IsUpper)
	textClass("Text.isLower", "a lower-case letter", unicode.IsLower)
	textClass("Text.isPunct", "punctuation", unicode.IsPunct)
}

// words splits s at runs of white space (unicode.IsSpace, as
// strings.Fields), counting the words and checking the budget before it
// allocates: two quick passes over ASCII text, strings.Fields for the
// rest. Each word is charged as th.text charges it.
func (th *Thread) words(s string) Value {
	// A word starts at each non-space byte after a space (or at the
	// start): counted without branches, 4 KiB between polls. A byte
	// outside ASCII sets bit 1 of seen.
	words, prev, seen := 0, byte(1), byte(0)
	for off := 0; off < len(s); off += pollInterval {
		th.poll()
		for _, b := range []byte(s[off:min(off+pollInterval, len(s))]) {
			c := byteClass[b]
			seen |= c
			sp := c & 1
			words += int(prev &^ sp)
			prev = sp
		}
	}
	if seen&2 != 0 {
		return th.wordsUnicode(s)
	}
	th.checkCount(int64(words), sizeSlot+sizeText)
	l, out := th.makeList(words)
	var box textBoxes
	i := 0
	for w := range out {
		th.poll()
		for asciiSpace[s[i]] { // a word is ahead
			i++
		}
		start := i
		for i < len(s) && !asciiSpace[s[i]] {
			i++
		}
		th.alloc(sizeText + int64(i-start))
		out[w] = box.text(s[start:i], words-w)
	}
	return l
}

// wordsUnicode is words for text that is not all ASCII.
func (th *Thread) wordsUnicode(s string) Value {
	words, inWord := 0, false
	for _, r := range s {
		th.poll()
		space := unicode.IsSpace(r)
		if !space && !inWord {
			words++
		}
		inWord = !space
	}
	th.checkCount(int64(words), sizeSlot+sizeText)
	l, out := th.makeList(words)
	var box textBoxes
	for i, p := range strings.Fields(s) {
		th.poll()
		th.alloc(sizeText + int64(len(p)))
		out[i] = box.text(p, words-i)
	}
	return l
}

// byteClass is 1 for the ASCII bytes unicode.IsSpace holds for and 2
// for the bytes outside ASCII.
var byteClass = func() (t [256]byte) {
	for b := range t {
		switch {
		case b >= utf8.RuneSelf:
			t[b] = 2
		case asciiSpace[b]:
			t[b] = 1
		}
	}
	return
}()

// asciiSpace marks the ASCII bytes unicode.IsSpace holds for.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// textBoxes boxes Texts in small slabs: converting a string to an
// interface allocates its 16-byte header each time, one allocation per
// word of a split. A slab lives while any of its Texts does, so a kept
// word holds at most textSlab headers (1 KiB) besides its bytes, which
// share the split text's anyway. The charge stays sizeText per Text.
type textBoxes struct{ slab []Text }

const textSlab = 64

// textTemplate supplies the type word of a boxed Text.
var textTemplate Value = Text("")

// text boxes s; left is how many more Texts the caller will box (at
// least 1), so the last slab is no bigger than needed.
func (b *textBoxes) text(s string, left int) Value {
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]Text, 0, min(left, textSlab))
	}
	b.slab = append(b.slab, Text(s))
	v := textTemplate
	(*ifaceWords)(unsafe.Pointer(&v)).data = unsafe.Pointer(&b.slab[len(b.slab)-1])
	return v
}
