package syntax

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The formatter prints an AST as source that parses back to the same tree
// (positions aside). It adds only the parentheses precedence requires and
// lays out let, match and long if expressions on several lines, indented so
// that the layout rule reads them back the same way.
//
// It accepts any tree the parser can produce. Trees built by hand print
// faithfully too, with these exceptions, which have no source syntax: a
// FloatLit that is NaN or infinite prints as a division (`(0.0 / 0.0)`), a
// TextLit holding invalid UTF-8 prints U+FFFD for the bad bytes, names that
// are not valid identifiers print as they are, a Tuple or PTuple with
// fewer than two elements prints as a parenthesised expression or unit,
// a Match marked Let that is not one arm with a tuple, list, cons or
// constructor pattern prints as a plain match, and a TypeDecl without
// constructors prints as `type T =`.

// lineWidth is how long a type declaration or if may get before it is
// split over lines; shortLet is the same for a one-binding let, which is
// harder to read on one line.
const (
	lineWidth = 80
	shortLet  = 60
)

// FormatFile prints a file: its declarations separated by blank lines.
func FormatFile(f *File) string {
	var b strings.Builder
	for i, d := range f.Decls {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(FormatDecl(d))
		b.WriteString("\n")
	}
	return b.String()
}

// FormatDecl prints one declaration, starting in column 1, without a
// trailing newline.
func FormatDecl(d Decl) string {
	switch d := d.(type) {
	case *TypeDecl:
		return formatTypeDecl(d)
	case *DefDecl:
		head := joinNames(d.Name, d.Params) + " ="
		body := formatExpr(d.Body, fctx{ind: 2})
		if isLetBlock(d.Body) && strings.Contains(body, "\n") {
			return head + "\n  " + body
		}
		return head + " " + body
	}
	return fmt.Sprintf("-- unknown declaration %T", d)
}

// FormatExpr prints an expression. The result parses back with ParseExpr;
// its continuation lines are indented relative to column 1.
func FormatExpr(e Expr) string { return formatExpr(e, fctx{}) }

// FormatPattern prints a match pattern.
func FormatPattern(p Pattern) string { return formatPat(p, 0) }

// FormatType prints a type expression.
func FormatType(t TypeExpr) string { return formatType(t, 0) }

func joinNames(name string, params []string) string {
	if len(params) == 0 {
		return name
	}
	return name + " " + strings.Join(params, " ")
}

func formatTypeDecl(d *TypeDecl) string {
	head := "type " + joinNames(d.Name, d.Params)
	ctors := make([]string, len(d.Ctors))
	for i, c := range d.Ctors {
		var b strings.Builder
		b.WriteString(c.Name)
		for _, f := range c.Fields {
			b.WriteString(" ")
			b.WriteString(formatType(f, typePrecAtom))
		}
		ctors[i] = b.String()
	}
	line := head + " = " + strings.Join(ctors, " | ")
	if len(line) <= lineWidth {
		return line
	}
	return head + "\n  = " + strings.Join(ctors, "\n  | ")
}

// ---- types ----

const (
	typePrecFun  = 0
	typePrecApp  = 1
	typePrecAtom = 2
)

func typePrec(t TypeExpr) int {
	switch t.(type) {
	case *TypeFun:
		return typePrecFun
	case *TypeApp:
		return typePrecApp
	}
	return typePrecAtom
}

func formatType(t TypeExpr, prec int) string {
	if typePrec(t) < prec {
		return "(" + formatType(t, 0) + ")"
	}
	switch t := t.(type) {
	case *TypeName:
		return t.Name
	case *TypeApp:
		var b strings.Builder
		b.WriteString(formatType(t.Fn, typePrecAtom))
		for _, a := range t.Args {
			b.WriteString(" ")
			b.WriteString(formatType(a, typePrecAtom))
		}
		return b.String()
	case *TypeFun:
		return formatType(t.Arg, typePrecApp) + " -> " + formatType(t.Res, typePrecFun)
	case *TypeTuple:
		elems := make([]string, len(t.Elems))
		for i, e := range t.Elems {
			elems[i] = formatType(e, 0)
		}
		return "(" + strings.Join(elems, ", ") + ")"
	}
	return fmt.Sprintf("<%T>", t)
}

// ---- patterns ----

const (
	patPrecCons = 0
	patPrecCtor = 1 // a constructor with arguments, or a negative literal
	patPrecAtom = 2
)

func patPrec(p Pattern) int {
	switch p := p.(type) {
	case *PCons:
		return patPrecCons
	case *PCtor:
		if len(p.Args) > 0 {
			return patPrecCtor
		}
	case *PLit:
		if exprPrec(p.Lit) < precAtom {
			return patPrecCtor
		}
	}
	return patPrecAtom
}

func formatPat(p Pattern, prec int) string {
	if patPrec(p) < prec {
		return "(" + formatPat(p, 0) + ")"
	}
	switch p := p.(type) {
	case *PVar:
		return p.Name
	case *PWild:
		return "_"
	case *PLit:
		return formatExpr(p.Lit, fctx{prec: precUnary})
	case *PCtor:
		var b strings.Builder
		b.WriteString(p.Name)
		for _, a := range p.Args {
			b.WriteString(" ")
			b.WriteString(formatPat(a, patPrecAtom))
		}
		return b.String()
	case *PTuple:
		return "(" + formatPats(p.Elems) + ")"
	case *PList:
		return "[" + formatPats(p.Elems) + "]"
	case *PCons:
		return formatPat(p.Head, patPrecCtor) + " :: " + formatPat(p.Tail, patPrecCons)
	}
	return fmt.Sprintf("<%T>", p)
}

func formatPats(ps []Pattern) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = formatPat(p, 0)
	}
	return strings.Join(s, ", ")
}

// ---- expressions ----

// fctx says where an expression is being printed.
type fctx struct {
	// ind is the indentation (in spaces) of any line the expression
	// starts. Nested lines are always indented at least this far, which is
	// what keeps them right of the let bindings they belong to.
	ind int
	// prec is the lowest precedence printable here without parentheses.
	// 0 means a full-expression slot, where a block (lambda, let, if,
	// match) may stand bare: what follows it there is a terminator (in,
	// then, else, with, ",", ")", "]", ";", a new binding or declaration).
	prec int
	// bar is set when a "|" follows (the expression is a match arm body
	// other than the last): a match at the end of the expression would
	// take the following arms as its own, so it needs parentheses.
	bar bool
}

// exprPrec is the precedence of an expression's outermost form.
func exprPrec(e Expr) int {
	switch e := e.(type) {
	case *Lambda:
		if isSection(e) {
			return precAtom
		}
		return 0
	case *Let, *If, *Match:
		return 0
	case *BinOp:
		return binOpLevel(e.Op)
	case *Neg:
		return precUnary
	case *IntLit:
		if e.Value < 0 {
			return precUnary
		}
	case *FloatLit:
		if math.Signbit(e.Value) || math.IsInf(e.Value, 0) || math.IsNaN(e.Value) {
			return precUnary
		}
	case *App:
		return precApp
	case *Delay, *Force:
		return precPrefix
	}
	return precAtom
}

var opTokens = map[string]tokKind{}

func init() {
	for _, op := range operators {
		if opLevel(op.kind) > 0 {
			opTokens[op.text] = op.kind
		}
	}
}

// binOpLevel is the precedence level of an operator; an unknown operator
// (only in a hand-built tree) is treated as the loosest.
func binOpLevel(op string) int {
	if l := opLevel(opTokens[op]); l > 0 {
		return l
	}
	return precPipe
}

func formatExpr(e Expr, c fctx) string {
	p := exprPrec(e)
	if p < c.prec || p == 0 && c.bar && isMatch(e) {
		return "(" + formatExpr(e, fctx{ind: c.ind}) + ")"
	}
	switch e := e.(type) {
	case *Ident:
		return e.Name
	case *HashRef:
		return hashText(e.CID, e.Index)
	case *IntLit:
		return strconv.FormatInt(e.Value, 10)
	case *FloatLit:
		return formatFloat(e.Value)
	case *TextLit:
		return quoteText(e.Value)
	case *BoolLit:
		return strconv.FormatBool(e.Value)
	case *BytesLit:
		return "0xs" + hex.EncodeToString(e.Value)
	case *UnitLit:
		return "()"
	case *Tuple:
		return "(" + formatExprs(e.Elems, c.ind) + ")"
	case *List:
		return "[" + formatExprs(e.Elems, c.ind) + "]"
	case *Lambda:
		if sec, ok := formatSection(e, c); ok {
			return sec
		}
		return strings.Join(e.Params, " ") + " -> " + formatExpr(e.Body, fctx{ind: c.ind, bar: c.bar})
	case *App:
		var b strings.Builder
		// The function is printed at prefix level: `(f a) b` is a
		// different tree from `f a b`.
		b.WriteString(formatExpr(e.Fn, fctx{ind: c.ind + 2, prec: precPrefix}))
		for _, a := range e.Args {
			b.WriteString(" ")
			b.WriteString(formatExpr(a, fctx{ind: c.ind + 2, prec: precPrefix}))
		}
		return b.String()
	case *BinOp:
		return formatBinOp(e, c)
	case *Neg:
		x := formatExpr(e.X, fctx{ind: c.ind, prec: precApp})
		if x != "" && isDigit(x[0]) {
			// -(5) is Neg(5), while -5 would read back as IntLit(-5).
			x = "(" + x + ")"
		}
		return "-" + x
	case *Delay:
		return "'" + formatExpr(e.Body, fctx{ind: c.ind, prec: precPrefix})
	case *Force:
		return "!" + formatExpr(e.X, fctx{ind: c.ind, prec: precPrefix})
	case *Let:
		return formatLet(e, c)
	case *If:
		return formatIf(e, c)
	case *Match:
		if letPattern(e) {
			return formatLet(e, c)
		}
		return formatMatch(e, c)
	}
	return fmt.Sprintf("<%T>", e)
}

// isMatch reports whether e prints as a match (with arms).
func isMatch(e Expr) bool { m, ok := e.(*Match); return ok && !letPattern(m) }

// isLetBlock reports whether e prints as a let.
func isLetBlock(e Expr) bool {
	switch e := e.(type) {
	case *Let:
		return true
	case *Match:
		return letPattern(e)
	}
	return false
}

// letPattern reports whether m prints as the destructuring let it stands
// for: it is marked so and has one arm (letPatternHead prints any
// pattern so that it starts a pattern binding).
func letPattern(m *Match) bool { return m.Let && len(m.Arms) == 1 }

// letPatternHead prints p as the head of a let's pattern binding. The
// parser takes a binding as a pattern when it starts with "(", "[" or a
// constructor name; any other pattern (a name, which would be a plain
// binding, `_`, a literal, a cons, a constructor by hash) is put in
// parentheses, which read back as the same pattern.
func letPatternHead(p Pattern) string {
	head := formatPat(p, 0)
	switch p := p.(type) {
	case *PTuple, *PList:
		return head
	case *PLit:
		if _, unit := p.Lit.(*UnitLit); unit {
			return head
		}
	case *PCtor:
		if isCtorName(p.Name) {
			return head
		}
	}
	return "(" + head + ")"
}

func formatExprs(es []Expr, ind int) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = formatExpr(e, fctx{ind: ind + 2})
	}
	return strings.Join(s, ", ")
}

func formatBinOp(e *BinOp, c fctx) string {
	level := binOpLevel(e.Op)
	lp, rp := level, level+1 // left-associative
	switch levelAssoc[level] {
	case assocRight:
		lp, rp = level+1, level
	case assocNone:
		lp, rp = level+1, level+1
	}
	l := formatExpr(e.L, fctx{ind: c.ind, prec: lp})
	r := formatExpr(e.R, fctx{ind: c.ind, prec: rp})
	return l + " " + e.Op + " " + r
}

// formatLet prints a let: e is a *Let or a destructuring *Match. The
// bindings of the lets it directly holds are printed as one block where
// that reads back as the same tree: a pattern binding and whatever
// binding follows it, a name binding and a pattern binding after it (the
// parser groups only adjacent name bindings into one Let).
func formatLet(e Expr, c fctx) string {
	var heads, values []string
	oneLine := true
	add := func(head string, value Expr) {
		v := formatExpr(value, fctx{ind: c.ind + 4})
		heads = append(heads, head+" = ")
		values = append(values, v)
		oneLine = oneLine && !strings.Contains(v, "\n")
	}
	afterPattern := false
block:
	for {
		switch x := e.(type) {
		case *Let:
			if len(heads) > 0 && !afterPattern {
				break block
			}
			for _, b := range x.Bindings {
				add(joinNames(b.Name, b.Params), b.Value)
			}
			afterPattern = false
			e = x.Body
		case *Match:
			if !letPattern(x) {
				break block
			}
			add(letPatternHead(x.Arms[0].Pattern), x.Scrutinee)
			afterPattern = true
			e = x.Arms[0].Body
		default:
			break block
		}
	}
	body := formatExpr(e, fctx{ind: c.ind, bar: c.bar})
	// A single short binding stays on one line; anything more reads
	// better as a block.
	if len(heads) == 1 && oneLine && !strings.Contains(body, "\n") {
		parts := make([]string, len(heads))
		for i := range heads {
			parts[i] = heads[i] + values[i]
		}
		s := "let " + strings.Join(parts, "; ") + " in " + body
		if c.ind+len(s) <= shortLet {
			return s
		}
	}
	// One binding per line, two spaces in; values are indented two more,
	// right of the binding column, so the layout rule keeps their lines
	// inside the binding.
	var b strings.Builder
	b.WriteString("let")
	for i := range heads {
		b.WriteString("\n")
		b.WriteString(strings.Repeat(" ", c.ind+2))
		b.WriteString(heads[i])
		b.WriteString(values[i])
	}
	b.WriteString("\n")
	b.WriteString(strings.Repeat(" ", c.ind))
	b.WriteString("in ")
	b.WriteString(body)
	return b.String()
}

func formatIf(e *If, c fctx) string {
	cond := formatExpr(e.Cond, fctx{ind: c.ind + 2})
	then := formatExpr(e.Then, fctx{ind: c.ind + 2})
	_, chain := e.Else.(*If)
	elseInd := c.ind + 2
	if chain {
		elseInd = c.ind // else if ... stays at this level
	}
	els := formatExpr(e.Else, fctx{ind: elseInd, bar: c.bar})
	s := "if " + cond + " then " + then + " else " + els
	if !strings.Contains(s, "\n") && len(s) <= lineWidth {
		return s
	}
	ind := strings.Repeat(" ", c.ind)
	s = "if " + cond + " then\n" + ind + "  " + then + "\n" + ind + "else"
	if chain {
		return s + " " + els
	}
	return s + "\n" + ind + "  " + els
}

// formatMatch puts every arm on its own line at the context's
// indentation, which is already right of anything the arms must not
// reach (column 1, enclosing let bindings).
func formatMatch(e *Match, c fctx) string {
	var b strings.Builder
	b.WriteString("match ")
	b.WriteString(formatExpr(e.Scrutinee, fctx{ind: c.ind + 4}))
	b.WriteString(" with")
	for i, a := range e.Arms {
		b.WriteString("\n")
		b.WriteString(strings.Repeat(" ", c.ind))
		b.WriteString("| ")
		b.WriteString(formatPat(a.Pattern, 0))
		b.WriteString(" -> ")
		b.WriteString(formatExpr(a.Body, fctx{ind: c.ind + 2, bar: i < len(e.Arms)-1}))
	}
	return b.String()
}

// formatFloat prints the shortest text that parses back to exactly f,
// always with a "." or an exponent so that it reads back as a Float.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "(0.0 / 0.0)"
	case math.IsInf(f, 1):
		return "(1.0 / 0.0)"
	case math.IsInf(f, -1):
		return "(-1.0 / 0.0)"
	}
	abs := math.Abs(f)
	var s string
	if abs == 0 || 1e-4 <= abs && abs < 1e21 {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	} else {
		s = strconv.FormatFloat(f, 'e', -1, 64)
	}
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// quoteText prints a Text literal. Printable characters appear as they
// are; control and other invisible characters (bidi overrides included,
// so the printed source shows what the string holds) use escapes.
func quoteText(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		default:
			if r == utf8.RuneError && size == 1 {
				b.WriteString(`\u{FFFD}`)
			} else if strconv.IsPrint(r) {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, `\u{%X}`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isSection reports whether l is the lambda an operator section parses
// to (see parseParen), so that it prints back as the section.
func isSection(l *Lambda) bool {
	_, ok := sectionParts(l)
	return ok
}

// sectionParts classifies a section lambda: 'b' for (op), 'r' for
// (op e), 'l' for (e op).
func sectionParts(l *Lambda) (byte, bool) {
	b, ok := l.Body.(*BinOp)
	if !ok {
		return 0, false
	}
	isVar := func(e Expr, name string) bool {
		id, ok := e.(*Ident)
		return ok && id.Name == name
	}
	switch {
	case len(l.Params) == 2 && l.Params[0] == sectionL && l.Params[1] == sectionR && isVar(b.L, sectionL) && isVar(b.R, sectionR):
		return 'b', true
	case len(l.Params) == 1 && l.Params[0] == sectionL && isVar(b.L, sectionL) && b.Op != "-":
		return 'r', true
	case len(l.Params) == 1 && l.Params[0] == sectionR && isVar(b.R, sectionR):
		return 'l', true
	}
	return 0, false
}

func formatSection(l *Lambda, c fctx) (string, bool) {
	kind, ok := sectionParts(l)
	if !ok {
		return "", false
	}
	b := l.Body.(*BinOp)
	switch kind {
	case 'b':
		return "(" + b.Op + ")", true
	case 'r':
		return "(" + b.Op + " " + formatExpr(b.R, fctx{ind: c.ind + 2}) + ")", true
	}
	lvl := binOpLevel(b.Op)
	prec := lvl
	if levelAssoc[lvl] != assocLeft {
		prec = lvl + 1
	}
	return "(" + formatExpr(b.L, fctx{ind: c.ind + 2, prec: prec}) + " " + b.Op + ")", true
}
