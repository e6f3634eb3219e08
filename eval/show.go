package eval

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Show prints v in source syntax: 55, -2, 13.0, 0.1, "x\n", true, (),
// 0xs0aff, (1, "a"), [1, 2, 3], Map.fromList [(1, "a")], Map.empty,
// Set.fromList [1, 2], Set.empty,
// Some (Just 1), None. Constructor names come from names (nil is
// allowed); builtin types name their own constructors, and an unnamed
// constructor prints as its hash reference #<type cid>#<index> (or
// #<cid>#<member>#<index> for a member of a cycle of types). Values that
// have no source form print in angle brackets: <function>, <future>,
// <node 12D3Koo...>, <channel 0a1b...>, <cluster "name">. Show never
// fails: structures nested deeper than the interpreter's limit print as
// "...", and output past 256 MiB (a value with much shared structure,
// whose expansion is what prints) is cut and ends in "...".
func Show(v Value, names Namer) string {
	return showLimit(v, names, maxShowBytes)
}

// showBrief is Show cut to a length suitable for an error message.
func showBrief(v Value, names Namer) string {
	return showLimit(v, names, 200)
}

func showLimit(v Value, names Namer, limit int) string {
	p := printer{names: names, limit: limit}
	p.value(v, false, 0)
	if p.cut {
		return p.b.String() + "..."
	}
	return p.b.String()
}

type printer struct {
	b     strings.Builder
	names Namer
	limit int // bytes
	cut   bool
	// th, when set, is charged one unit of fuel per 8 values printed
	// and polled for cancellation (toText).
	th *Thread
	n  int
}

// toText prints v as Show does with no names, charging th: fuel as it
// goes and for the text's length, and memory for the text. The output
// is bounded by what memory is left, so a value with much shared
// structure fails the memory budget instead of printing its expansion.
func (th *Thread) toText(v Value) Value {
	limit := int64(maxShowBytes)
	left := th.maxMem - th.mem - sizeText
	if left < limit {
		limit = max(left, 0)
	}
	p := printer{limit: int(limit), th: th}
	p.value(v, false, 0)
	if p.cut && limit < maxShowBytes {
		panic(&BudgetError{Which: BudgetMemory, Limit: th.maxMem})
	}
	s := p.b.String()
	if p.cut {
		s += "..."
	}
	th.chargeLen(len(s))
	return th.text(s)
}

func init() {
	def1("toText", "toText v: v as text, as Show prints it (a Text is quoted; constructors of user types print as their hash reference #cid#index, since names are local)", func(th *Thread, v Value) Value {
		return th.toText(v)
	})
	def2("Debug.trace", "Debug.trace label v = v; the program running the evaluation receives label and v as text (eval.Thread.Trace); foreign code, and runs whose program sets no receiver, print nothing; it never changes the result or what is charged", func(th *Thread, label, v Value) Value {
		l := th.argText("Debug.trace", label)
		if th.Trace != nil {
			th.Trace(l, showLimit(v, th.Names, traceShowBytes))
		}
		return v
	})
}

func (p *printer) full() bool {
	if p.b.Len() >= p.limit {
		p.cut = true
	}
	return p.cut
}

func (p *printer) s(s string) { p.b.WriteString(s) }

// room is how many more bytes fit the limit.
func (p *printer) room() int { return max(p.limit-p.b.Len(), 0) }

func (p *printer) value(v Value, arg bool, depth int) {
	if p.full() {
		return
	}
	if p.th != nil {
		p.th.poll()
		if p.n++; p.n&7 == 0 {
			p.th.step()
		}
	}
	if depth > maxValueDepth {
		p.s("...")
		return
	}
	switch x := v.(type) {
	case Int:
		if arg && x < 0 {
			p.s("(" + strconv.FormatInt(int64(x), 10) + ")")
			return
		}
		p.s(strconv.FormatInt(int64(x), 10))
	case Float:
		s := FormatFloat(float64(x))
		if arg && s[0] == '-' {
			s = "(" + s + ")"
		}
		p.s(s)
	case Bool:
		if x {
			p.s("true")
		} else {
			p.s("false")
		}
	case Unit:
		p.s("()")
	case Text:
		t := string(x)
		if len(t) > p.room() {
			// Quote only what can show (escapes at most sextuple a byte).
			t = t[:p.room()]
			p.cut = true
		}
		p.s(QuoteText(t))
	case Bytes:
		b := string(x)
		if 2*len(b) > p.room() {
			b = b[:p.room()/2]
			p.cut = true
		}
		p.s("0xs")
		p.s(hex.EncodeToString([]byte(b)))
	case *Tuple:
		p.s("(")
		p.seq(x.Elems, depth)
		p.s(")")
	case *List:
		p.s("[")
		p.seq(x.Elems(), depth)
		p.s("]")
	case *Map:
		if x.Len() == 0 {
			p.s("Map.empty")
			return
		}
		if arg {
			p.s("(")
		}
		p.s("Map.fromList [")
		first := true
		x.root.each(func(k, v Value) bool {
			if !first {
				p.s(", ")
			}
			first = false
			p.s("(")
			p.value(k, false, depth+1)
			p.s(", ")
			p.value(v, false, depth+1)
			p.s(")")
			return !p.full()
		})
		p.s("]")
		if arg {
			p.s(")")
		}
	case *Data:
		if m, ok := setMap(x); ok {
			p.set(m, arg, depth)
			return
		}
		p.data(x, arg, depth)
	case *Closure, *Builtin, *CtorFn, *Partial, *DefFn:
		p.s("<function>")
	case *Future:
		p.s("<future>")
	case *Node:
		p.s("<node " + x.ID + ">")
	case *Channel:
		p.s("<channel " + hex.EncodeToString(x.ID) + ">")
	case *Cluster:
		if x.Owner != nil {
			p.s("<cluster " + QuoteText(x.Name) + " of " + x.Owner.ID + ">")
		} else {
			p.s("<cluster " + QuoteText(x.Name) + ">")
		}
	case nil:
		p.s("<nil>")
	default:
		p.s("<" + v.Type() + ">")
	}
}

// setMap returns the elements of a well-formed set (see set.go).
func setMap(d *Data) (*Map, bool) {
	if d == nil || d.ctor != setCtor || len(d.Fields) != 1 {
		return nil, false
	}
	m, ok := d.Fields[0].(*Map)
	return m, ok
}

// set prints Set.empty or Set.fromList [x0, x1, ...], which reads back
// as the same set.
func (p *printer) set(m *Map, arg bool, depth int) {
	if m.Len() == 0 {
		p.s("Set.empty")
		return
	}
	if arg {
		p.s("(")
	}
	p.s("Set.fromList [")
	first := true
	m.root.each(func(k, _ Value) bool {
		if !first {
			p.s(", ")
		}
		first = false
		p.value(k, false, depth+1)
		return !p.full()
	})
	p.s("]")
	if arg {
		p.s(")")
	}
}

func (p *printer) seq(vs []Value, depth int) {
	for i, e := range vs {
		if i > 0 {
			p.s(", ")
		}
		if p.full() {
			return
		}
		p.value(e, false, depth+1)
	}
}

// data prints a constructor application, looping down the last field so
// that long right-nested values print in constant Go stack.
func (p *printer) data(d *Data, arg bool, depth int) {
	closes := 0
	for !p.full() {
		name := ctorName(d.ctor, p.names)
		n := len(d.Fields)
		if n == 0 {
			p.s(name)
			break
		}
		if arg {
			p.s("(")
			closes++
		}
		p.s(name)
		for _, f := range d.Fields[:n-1] {
			p.s(" ")
			p.value(f, true, depth+1)
		}
		p.s(" ")
		last, ok := d.Fields[n-1].(*Data)
		if _, isSet := setMap(last); !ok || isSet {
			p.value(d.Fields[n-1], true, depth+1)
			break
		}
		d, arg = last, true
	}
	p.s(strings.Repeat(")", closes))
}

func ctorName(c *ctorDesc, names Namer) string {
	if c.name != "" {
		return c.name
	}
	if names != nil {
		if n := names.CtorName(c.typ, c.index); n != "" {
			return n
		}
	}
	return c.typ.String() + "#" + strconv.Itoa(c.index)
}

// FormatFloat prints a Float the way Show does: the shortest decimal that
// reads back as the same float, always with a point or an exponent so it
// stays a Float (13.0, 0.1, 1.0e16, 2.5e-7), and NaN, Infinity, -Infinity.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e16) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "e" + sign + exp
}

// QuoteText quotes s as a Text literal with the language's escapes.
func QuoteText(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == 0:
			b.WriteString(`\0`)
		case r < 0x20 || r == 0x7f || (r == utf8.RuneError && size == 1):
			b.WriteString(`\u{` + strconv.FormatInt(int64(r), 16) + `}`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ToJSON converts v to a value encoding/json can marshal: Int to int64,
// Float to float64 (NaN and infinities as the strings Show prints), Text
// to string, Bool to bool, Unit to nil, Bytes to {"bytes": "<hex>"},
// tuples and lists to arrays, a Map to an array of [key, value] pairs in
// key order, a constructor to {"ctor": name, "fields": [...]} ("fields"
// omitted when empty; a constructor without a name is {"cid": type
// block, "member": its member if not 0, "index": constructor index}
// instead of "ctor"), a node to {"node": id}, and other values to the
// string Show prints. Names may be nil.
func ToJSON(v Value, names Namer) any {
	return toJSON(v, names, 0)
}

func toJSON(v Value, names Namer, depth int) any {
	if depth > maxValueDepth {
		return "..."
	}
	list := func(vs []Value) []any {
		out := make([]any, len(vs))
		for i, e := range vs {
			out[i] = toJSON(e, names, depth+1)
		}
		return out
	}
	switch x := v.(type) {
	case Int:
		return int64(x)
	case Float:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return FormatFloat(float64(x))
		}
		return float64(x)
	case Text:
		return string(x)
	case Bool:
		return bool(x)
	case Unit:
		return nil
	case Bytes:
		return map[string]any{"bytes": hex.EncodeToString([]byte(x))}
	case *Tuple:
		return list(x.Elems)
	case *List:
		return list(x.Elems())
	case *Map:
		out := make([]any, 0, x.Len())
		x.root.each(func(k, v Value) bool {
			out = append(out, []any{toJSON(k, names, depth+1), toJSON(v, names, depth+1)})
			return true
		})
		return out
	case *Data:
		if sm, ok := setMap(x); ok {
			return list(setElems(sm))
		}
		m := map[string]any{}
		if n := ctorName(x.ctor, names); x.ctor.typ.Builtin != "" || !strings.HasPrefix(n, "#") {
			m["ctor"] = n
		} else {
			// No name: the type's block by CID (a plain string, as
			// everywhere in JSON), its member, and the constructor.
			m["cid"] = x.ctor.typ.Def.CID.String()
			if x.ctor.typ.Def.Member != 0 {
				m["member"] = x.ctor.typ.Def.Member
			}
			m["index"] = x.ctor.index
		}
		if len(x.Fields) > 0 {
			m["fields"] = list(x.Fields)
		}
		return m
	case *Node:
		return map[string]any{"node": x.ID}
	}
	return Show(v, names)
}

// valueSize estimates the bytes v occupies, as the memory budget counts
// them, stopping early once the estimate passes limit (so its work is at
// most limit/16 values). Shared substructure is counted each time it is
// reached, which is what it costs to send or print. With a thread it
// polls for cancellation as it goes.
func valueSize(th *Thread, v Value, limit int64) int64 {
	var size int64
	stack := []Value{v}
	for len(stack) > 0 && size <= limit {
		if th != nil {
			th.poll()
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		size += sizeSlot
		switch x := v.(type) {
		case Text:
			size += int64(len(x))
		case Bytes:
			size += int64(len(x))
		case *Tuple:
			size += sizeTuple
			stack = append(stack, x.Elems...)
		case *List:
			size += sizeList + sizeListBuf
			stack = append(stack, x.Elems()...)
		case *Data:
			size += sizeData
			stack = append(stack, x.Fields...)
		case *Map:
			size += sizeMap
			x.root.each(func(k, v Value) bool {
				size += sizeMapNode
				stack = append(stack, k, v)
				return size <= limit
			})
		case *Closure:
			size += sizeClosure
			env := x.env
			if x.fc.rec {
				env = env[1:] // env[0] is the closure itself
			}
			stack = append(stack, env...)
		case *Partial:
			size += sizePartial
			stack = append(stack, x.Fn)
			stack = append(stack, x.Args...)
		case *Node:
			size += sizeNode + int64(len(x.ID))
		case *Channel:
			size += sizeChannel + int64(len(x.ID))
		}
	}
	return size
}
