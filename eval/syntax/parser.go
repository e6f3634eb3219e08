package syntax

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseFile parses a source file. On error it returns an ErrorList sorted by
// position, holding one error per broken declaration (up to MaxErrors), and
// a File with the declarations that did parse.
func ParseFile(filename string, src []byte) (*File, error) {
	if err := checkSource(filename, src); err != nil {
		return nil, err
	}
	p := newParser(filename, src, true)
	f := p.parseFile()
	if len(p.errs) > 0 {
		p.errs.Sort()
		return f, p.errs
	}
	return f, nil
}

// ParseExpr parses a single expression, as typed at `unode eval`. There are
// no declarations, so a line starting in column 1 is an ordinary
// continuation; the let layout rule still applies. Errors are an ErrorList.
func ParseExpr(filename string, src []byte) (Expr, error) {
	if err := checkSource(filename, src); err != nil {
		return nil, err
	}
	p := newParser(filename, src, false)
	e := p.parseTopExpr()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return e, nil
}

// checkSource enforces MaxSourceSize and valid UTF-8 before lexing, so
// the lexer can copy text literal bytes as they are and the formatter
// can print every Text value the parser produces.
func checkSource(filename string, src []byte) error {
	if len(src) > MaxSourceSize {
		return ErrorList{{Pos: Pos{File: filename, Line: 1, Col: 1},
			Msg: fmt.Sprintf("source is %d bytes; the limit is %d", len(src), MaxSourceSize)}}
	}
	if utf8.Valid(src) {
		return nil
	}
	line, lineOff := 1, 0
	for off := 0; off < len(src); {
		r, size := utf8.DecodeRune(src[off:])
		if r == utf8.RuneError && size <= 1 {
			return ErrorList{{Pos: Pos{File: filename, Line: line, Col: off - lineOff + 1},
				Msg: fmt.Sprintf("invalid UTF-8 byte 0x%02x in source", src[off])}}
		}
		if r == '\n' {
			line, lineOff = line+1, off+1
		}
		off += size
	}
	return nil // unreachable: utf8.Valid said there is a bad byte
}

// bailout is panicked by parser.fail to abandon the current declaration;
// parseDeclOrSkip recovers it. Any other panic is a bug and propagates.
type bailout struct{}

type parser struct {
	file     string
	lx       lexer
	tok      token
	fileMode bool // lines starting in column 1 begin declarations
	// stops is the stack of layout columns: the column of the first
	// binding of each enclosing let whose bindings are being parsed, or 0
	// inside brackets, where layout is suspended. A token that starts a
	// line at or left of the innermost stop ends the current binding.
	stops     []int
	depth     int // current nesting, bounded by MaxNestingDepth
	declStart int // offset of the first token of the current declaration
	// prevLine and prevEnd locate the end of the previous token: an error
	// at the end of a declaration points there, not at the next one.
	prevLine, prevEnd int
	errs              ErrorList
	// sections counts the enclosing parentheses that may be a left
	// section `(e op)` (see atSection).
	sections int
}

func newParser(filename string, src []byte, fileMode bool) *parser {
	p := &parser{file: filename, lx: newLexer(src), fileMode: fileMode, declStart: -1}
	p.next()
	return p
}

func (p *parser) next() {
	p.prevLine, p.prevEnd = p.tok.line, p.tok.endCol
	p.tok = p.lx.next()
}

func (p *parser) posOf(t token) Pos { return Pos{File: p.file, Line: t.line, Col: t.col} }
func (p *parser) pos() Pos          { return p.posOf(p.tok) }

// kindOf applies the layout rule to a token: a token that starts a line in
// column 1 ends the declaration (tEnd), and one that starts a line at or
// left of the innermost let-binding column ends the binding (tOffside).
// Everything else keeps its lexical kind.
func (p *parser) kindOf(t *token) tokKind {
	if t.bol && t.kind != tEOF {
		if p.fileMode && t.col == 1 && t.off != p.declStart {
			return tEnd
		}
		if n := len(p.stops); n > 0 && p.stops[n-1] > 0 && t.col <= p.stops[n-1] {
			return tOffside
		}
	}
	return t.kind
}

// kind is the layout-aware kind of the current token.
func (p *parser) kind() tokKind { return p.kindOf(&p.tok) }

// atDeclEnd reports whether the current token begins a new declaration.
func (p *parser) atDeclEnd() bool { return p.kind() == tEnd }

// fail records an error and abandons the current declaration.
func (p *parser) fail(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
	panic(bailout{})
}

// expected reports that the current token is not what the grammar needs
// here. If the token is a lexical error, that error is reported instead:
// it is the real problem. hint, if not empty, is appended in parentheses.
func (p *parser) expected(what string, hint ...string) {
	t := p.tok
	k := p.kind()
	if k == tIllegal {
		p.fail(Pos{File: p.file, Line: t.line, Col: t.errCol}, "%s", t.text)
	}
	found := tokenString(t.kind, t.text)
	pos := p.posOf(t)
	var hints []string
	switch k {
	case tEnd:
		found = "the end of the declaration"
		hints = append(hints, fmt.Sprintf("line %d starts in column 1, which begins a new declaration; indent continuation lines", t.line))
		pos = p.prevPos()
	case tEOF:
		pos = p.prevPos()
	case tOffside:
		hints = append(hints, fmt.Sprintf("this line starts in column %d, not right of the let bindings at column %d, so it ends the binding; indent it further",
			t.col, p.stops[len(p.stops)-1]))
	}
	hints = append(hints, hint...)
	msg := fmt.Sprintf("expected %s, found %s", what, found)
	if len(hints) > 0 {
		msg += " (" + strings.Join(hints, "; ") + ")"
	}
	p.fail(pos, "%s", msg)
}

// prevPos is the position just past the previous token (or 1:1 at the
// start of the input).
func (p *parser) prevPos() Pos {
	if p.prevLine == 0 {
		return Pos{File: p.file, Line: 1, Col: 1}
	}
	return Pos{File: p.file, Line: p.prevLine, Col: p.prevEnd}
}

func (p *parser) enter() {
	p.depth++
	if p.depth > MaxNestingDepth {
		p.fail(p.pos(), "nested too deeply (more than %d levels)", MaxNestingDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// ---- declarations ----

func (p *parser) parseFile() *File {
	f := &File{Name: p.file}
	for p.tok.kind != tEOF {
		if len(p.errs) >= MaxErrors {
			p.errs = append(p.errs, &Error{Pos: p.pos(), Msg: fmt.Sprintf("too many errors (more than %d); giving up", MaxErrors)})
			break
		}
		if d := p.parseDeclOrSkip(); d != nil {
			f.Decls = append(f.Decls, d)
		}
	}
	return f
}

// parseDeclOrSkip parses one declaration. After an error it skips to the
// next line that starts in column 1, so that each broken declaration
// produces one error and the rest of the file is still checked.
func (p *parser) parseDeclOrSkip() (d Decl) {
	p.declStart, p.depth, p.stops, p.sections = p.tok.off, 0, p.stops[:0], 0
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			d = nil
			p.stops = p.stops[:0]
			for p.tok.kind != tEOF && p.kind() != tEnd {
				p.next()
			}
		}
	}()
	return p.parseDecl()
}

// continuationKinds are tokens that cannot start a declaration but often
// start a continuation line; finding one in column 1 gets a hint.
var continuationKinds = map[tokKind]bool{
	tBar: true, tIn: true, tThen: true, tElse: true, tWith: true, tArrow: true,
	tEq: true, tRParen: true, tRBrack: true, tComma: true, tSemi: true,
	tPipe: true, tOrOr: true, tAndAnd: true, tEqEq: true, tNotEq: true, tLt: true,
	tLe: true, tGt: true, tGe: true, tCons: true, tAppend: true, tPlus: true,
	tMinus: true, tStar: true, tSlash: true, tPercent: true,
}

func (p *parser) parseDecl() Decl {
	if p.tok.col != 1 {
		p.fail(p.pos(), "a top-level declaration must start in column 1, found %s in column %d",
			tokenString(p.tok.kind, p.tok.text), p.tok.col)
	}
	var d Decl
	switch p.tok.kind {
	case tType:
		d = p.parseTypeDecl()
	case tIdent:
		d = p.parseDefDecl()
	default:
		if continuationKinds[p.tok.kind] {
			p.expected(`a declaration ("name params = ..." or "type Name = ...")`,
				"a line starting in column 1 begins a new declaration; indent continuation lines")
		}
		p.expected(`a declaration ("name params = ..." or "type Name = ...")`)
	}
	p.expectEnd("end of declaration")
	return d
}

// expectEnd requires the declaration (or standalone expression) to be
// over, with hints for the usual reasons it is not.
func (p *parser) expectEnd(what string) {
	switch p.kind() {
	case tEOF, tEnd:
		return
	case tEq:
		p.expected(what, "a new declaration must start in column 1; in a let, separate bindings with \";\" or a new line")
	case tArrow:
		p.expected(what, "lambda parameters must be plain names; put a lambda passed as an argument in parentheses")
	case tOffside:
		p.expected(what, "a let binding is followed by another binding or by \"in\"")
	}
	p.expected(what)
}

// isCtorName reports whether a (possibly qualified) name is a constructor
// or type name: its last segment starts with an upper-case letter.
func isCtorName(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	return last != "" && 'A' <= last[0] && last[0] <= 'Z'
}

// isPlainName reports whether name can be bound as a variable: not
// qualified and not a constructor name.
func isPlainName(name string) bool {
	return !strings.Contains(name, ".") && !isCtorName(name)
}

func (p *parser) parseDefDecl() *DefDecl {
	d := &DefDecl{Pos: p.pos(), Name: p.tok.text}
	if isCtorName(d.Name) {
		p.fail(d.Pos, "definition name %q must start with a lower-case letter or _ (capitalised names are constructors and types)", d.Name)
	}
	p.next()
	d.Params = p.parseParams(`parameter name or "=" in definition of ` + d.Name)
	p.next() // =
	d.Body = p.parseExpr()
	return d
}

// parseParams reads plain names up to "=" (left current).
func (p *parser) parseParams(what string) []string {
	var params []string
	for p.kind() == tIdent {
		if !isPlainName(p.tok.text) {
			p.fail(p.pos(), "parameter %q must be a plain lower-case name", p.tok.text)
		}
		params = append(params, p.tok.text)
		p.next()
	}
	if p.kind() != tEq {
		p.expected(what)
	}
	return params
}

func (p *parser) parseTypeDecl() *TypeDecl {
	d := &TypeDecl{Pos: p.pos()}
	p.next()
	if p.kind() != tIdent || !isCtorName(p.tok.text) {
		p.expected(`a capitalised type name after "type"`)
	}
	d.Name = p.tok.text
	p.next()
	for p.kind() == tIdent {
		if !isPlainName(p.tok.text) {
			p.fail(p.pos(), "type parameter %q must be a plain lower-case name", p.tok.text)
		}
		d.Params = append(d.Params, p.tok.text)
		p.next()
	}
	if p.kind() != tEq {
		p.expected(`a type parameter or "=" in declaration of type ` + d.Name)
	}
	p.next()
	if p.kind() == tBar { // optional leading bar, for one constructor per line
		p.next()
	}
	for {
		d.Ctors = append(d.Ctors, p.parseCtorDecl())
		if p.kind() != tBar {
			break
		}
		p.next()
	}
	return d
}

func (p *parser) parseCtorDecl() *CtorDecl {
	if p.kind() != tIdent || !isCtorName(p.tok.text) || strings.Contains(p.tok.text, ".") {
		p.expected("a constructor name (capitalised, unqualified)")
	}
	c := &CtorDecl{Pos: p.pos(), Name: p.tok.text}
	p.next()
	for startsTypeAtom(p.kind()) {
		c.Fields = append(c.Fields, p.parseTypeAtom())
	}
	return c
}

// ---- types ----

func startsTypeAtom(k tokKind) bool {
	return k == tIdent || k == tHash || k == tLParen || k == tIllegal
}

// parseType parses `btype (-> type)?`, right-associative.
func (p *parser) parseType() TypeExpr {
	p.enter()
	var starts []Pos
	var ts []TypeExpr
	for {
		starts = append(starts, p.pos())
		ts = append(ts, p.parseTypeApp())
		if p.kind() != tArrow {
			break
		}
		p.next()
		p.enter() // each arrow nests the tree one level deeper
	}
	t := ts[len(ts)-1]
	for i := len(ts) - 2; i >= 0; i-- {
		t = &TypeFun{Pos: starts[i], Arg: ts[i], Res: t}
	}
	p.depth -= len(ts) // the enter calls above
	return t
}

func (p *parser) parseTypeApp() TypeExpr {
	start := p.pos()
	fn := p.parseTypeAtom()
	var args []TypeExpr
	for startsTypeAtom(p.kind()) {
		args = append(args, p.parseTypeAtom())
	}
	if len(args) == 0 {
		return fn
	}
	return &TypeApp{Pos: start, Fn: fn, Args: args}
}

func (p *parser) parseTypeAtom() TypeExpr {
	pos := p.pos()
	switch p.kind() {
	case tIdent:
		name := p.tok.text
		p.next()
		return &TypeName{Pos: pos, Name: name}
	case tHash:
		name := hashText(p.tok.val, p.tok.index)
		p.next()
		return &TypeName{Pos: pos, Name: name}
	case tLParen:
		open := p.tok
		p.next()
		if p.kind() == tRParen {
			p.next()
			return &TypeTuple{Pos: pos}
		}
		t := p.parseType()
		if p.kind() == tComma {
			tt := &TypeTuple{Pos: pos, Elems: []TypeExpr{t}}
			for p.kind() == tComma {
				p.next()
				tt.Elems = append(tt.Elems, p.parseType())
			}
			t = tt
		}
		p.closeBracket(tRParen, open)
		return t
	}
	p.expected("a type")
	return nil
}

// closeBracket consumes the bracket closing open, or reports where open was.
func (p *parser) closeBracket(k tokKind, open token) {
	if p.kind() != k {
		p.expected(fmt.Sprintf("%s to close the %q at %d:%d", kindString(k), open.text, open.line, open.col))
	}
	p.next()
}

func hashText(cid string, index int) string {
	if index < 0 {
		return "#" + cid
	}
	return "#" + cid + "#" + strconv.Itoa(index)
}

// ---- expressions ----

// parseTopExpr parses the whole input of ParseExpr.
func (p *parser) parseTopExpr() (e Expr) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			e = nil
		}
	}()
	e = p.parseExpr()
	p.expectEnd("end of expression")
	return e
}

// parseExpr parses a full expression: an operator expression, or a block
// (lambda, let, if, match) that extends as far right as it can.
func (p *parser) parseExpr() Expr {
	p.enter()
	e := p.parseBinary(1)
	p.leave()
	return e
}

type assoc uint8

const (
	assocLeft assoc = iota
	assocRight
	assocNone
)

// Binary operator precedence, lowest first. Levels are 1-based; precUnary
// and above belong to the unary, application and prefix forms.
const (
	precPipe    = 1 // |>
	precOr      = 2 // ||
	precAnd     = 3 // &&
	precCompare = 4 // == != < <= > >=
	precCons    = 5 // :: ++
	precAdd     = 6 // + -
	precMul     = 7 // * / %
	precUnary   = 8 // -x
	precApp     = 9 // f x
	precPrefix  = 10
	precAtom    = 11
)

var levelAssoc = [...]assoc{
	precPipe: assocLeft, precOr: assocRight, precAnd: assocRight,
	precCompare: assocNone, precCons: assocRight, precAdd: assocLeft, precMul: assocLeft,
}

// opLevel is the precedence level of a binary operator token, 0 if the
// token is not one.
func opLevel(k tokKind) int {
	switch k {
	case tPipe:
		return precPipe
	case tOrOr:
		return precOr
	case tAndAnd:
		return precAnd
	case tEqEq, tNotEq, tLt, tLe, tGt, tGe:
		return precCompare
	case tCons, tAppend:
		return precCons
	case tPlus, tMinus:
		return precAdd
	case tStar, tSlash, tPercent:
		return precMul
	}
	return 0
}

// parseBinary parses the operators of one level and above. Chains at one
// level are collected in a loop rather than by recursion, so a long
// `a :: b :: c ...` costs no Go stack; each operator still counts against
// MaxNestingDepth because the tree it builds is that deep.
func (p *parser) parseBinary(level int) Expr {
	if level >= precUnary {
		return p.parseUnary()
	}
	start := p.pos()
	x := p.parseBinary(level + 1)
	if opLevel(p.kind()) != level || p.atSection() {
		return x
	}
	switch levelAssoc[level] {
	case assocLeft:
		n := 0
		for opLevel(p.kind()) == level && !p.atSection() {
			op, opPos := p.tok.text, p.pos()
			p.next()
			p.enter()
			n++
			y := p.parseBinary(level + 1)
			x = &BinOp{Pos: start, Op: op, L: x, R: y, OpPos: opPos}
		}
		p.depth -= n
		return x
	case assocRight:
		starts, xs, ops := []Pos{start}, []Expr{x}, []string(nil)
		var opPos []Pos
		for opLevel(p.kind()) == level && !p.atSection() {
			ops = append(ops, p.tok.text)
			opPos = append(opPos, p.pos())
			p.next()
			p.enter()
			starts = append(starts, p.pos())
			xs = append(xs, p.parseBinary(level+1))
		}
		p.depth -= len(ops)
		r := xs[len(xs)-1]
		for i := len(ops) - 1; i >= 0; i-- {
			r = &BinOp{Pos: starts[i], Op: ops[i], L: xs[i], R: r, OpPos: opPos[i]}
		}
		return r
	default: // non-associative comparisons
		op, opPos := p.tok.text, p.pos()
		p.next()
		p.enter()
		y := p.parseBinary(level + 1)
		p.leave()
		if opLevel(p.kind()) == level {
			p.fail(p.pos(), "comparison operators do not chain: found %q after %q; add parentheses", p.tok.text, op)
		}
		return &BinOp{Pos: start, Op: op, L: x, R: y, OpPos: opPos}
	}
}

// atSection reports whether the current operator is the last token of a
// left section `(e op)`: the binary loops leave it for parseParen.
func (p *parser) atSection() bool {
	return p.sections > 0 && p.peekKind() == tRParen
}

// parseUnary parses unary minus, the block forms, and applications. A minus
// directly before a number literal is part of the literal (`-5` is
// IntLit(-5), the way -9223372036854775808 can be written); `-x` is Neg.
// Blocks are accepted here, not only at the start of an expression, so
// that `xs |> x -> f x` and `1 + if c then 1 else 2` parse as a user
// expects; they extend as far right as they can.
func (p *parser) parseUnary() Expr {
	start := p.pos()
	switch p.kind() {
	case tMinus:
		p.next()
		if k := p.kind(); k == tInt || k == tFloat {
			return p.parseArgs(start, p.parseNumber(start, true))
		}
		p.enter()
		x := p.parseUnary()
		p.leave()
		return &Neg{Pos: start, X: x}
	case tLet:
		return p.parseLet()
	case tIf:
		return p.parseIf()
	case tMatch:
		return p.parseMatch()
	case tIdent:
		if p.atLambda() {
			return p.parseLambda()
		}
	}
	return p.parseArgs(start, p.parsePrefix())
}

// atLambda looks ahead over plain names for the "->" that makes them
// lambda parameters.
func (p *parser) atLambda() bool {
	lx := p.lx // a copy: looking ahead must not move the real lexer
	for t := p.tok; ; t = lx.next() {
		switch p.kindOf(&t) {
		case tIdent:
			if !isPlainName(t.text) {
				return false
			}
		case tArrow:
			return true
		default:
			return false
		}
	}
}

func (p *parser) parseLambda() Expr {
	l := &Lambda{Pos: p.pos()}
	for p.kind() == tIdent {
		l.Params = append(l.Params, p.tok.text)
		p.next()
	}
	p.next() // -> (atLambda saw it)
	l.Body = p.parseExpr()
	return l
}

// startsAtom reports whether a token can begin an application argument.
// tIllegal is included so that a lexical error is reported where it sits.
func startsAtom(k tokKind) bool {
	switch k {
	case tIdent, tHash, tInt, tFloat, tText, tBytes, tTrue, tFalse,
		tLParen, tLBrack, tQuote, tBang, tIllegal:
		return true
	}
	return false
}

// parseArgs parses the arguments applied to fn, if any.
func (p *parser) parseArgs(start Pos, fn Expr) Expr {
	var args []Expr
	for startsAtom(p.kind()) {
		args = append(args, p.parsePrefix())
	}
	if len(args) == 0 {
		return fn
	}
	return &App{Pos: start, Fn: fn, Args: args}
}

// parsePrefix parses `'e` and `!e`, which bind tighter than application.
func (p *parser) parsePrefix() Expr {
	pos := p.pos()
	switch p.kind() {
	case tQuote:
		p.next()
		p.enter()
		x := p.parsePrefix()
		p.leave()
		return &Delay{Pos: pos, Body: x}
	case tBang:
		p.next()
		p.enter()
		x := p.parsePrefix()
		p.leave()
		return &Force{Pos: pos, X: x}
	}
	return p.parseAtom()
}

func (p *parser) parseAtom() Expr {
	t := p.tok
	pos := p.pos()
	switch p.kind() {
	case tIdent:
		p.next()
		return &Ident{Pos: pos, Name: t.text}
	case tHash:
		p.next()
		return &HashRef{Pos: pos, CID: t.val, Index: t.index}
	case tInt, tFloat:
		return p.parseNumber(pos, false)
	case tText:
		p.next()
		return &TextLit{Pos: pos, Value: t.val}
	case tBytes:
		p.next()
		return &BytesLit{Pos: pos, Value: []byte(t.val)}
	case tTrue, tFalse:
		p.next()
		return &BoolLit{Pos: pos, Value: t.kind == tTrue}
	case tLParen:
		return p.parseParen()
	case tLBrack:
		return p.parseList()
	}
	p.expected("an expression")
	return nil
}

// parseNumber converts the current tInt or tFloat token, negated if neg;
// pos is where the literal starts (the minus sign, if any).
func (p *parser) parseNumber(pos Pos, neg bool) Expr {
	t := p.tok
	p.next()
	if t.kind == tFloat {
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil { // only ErrRange: the lexer checked the syntax
			p.fail(pos, "float literal %s is out of range", t.text)
		}
		if neg {
			f = -f
		}
		return &FloatLit{Pos: pos, Value: f}
	}
	v, ok := intValue(t.text, neg)
	if !ok {
		sign := ""
		if neg {
			sign = "-"
		}
		p.fail(pos, "integer literal %s%s is out of range (Int is 64-bit: %d to %d)", sign, t.text, int64(math.MinInt64), int64(math.MaxInt64))
	}
	return &IntLit{Pos: pos, Value: v}
}

// intValue converts a decimal or 0x hex literal, negated if neg, reporting
// whether it fits in an int64.
func intValue(text string, neg bool) (int64, bool) {
	base := 10
	if strings.HasPrefix(text, "0x") {
		text, base = text[2:], 16
	}
	u, err := strconv.ParseUint(text, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true // -(1<<63) wraps to MinInt64, as wanted
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseParen parses (), (e) and tuples. Layout is suspended inside
// brackets: a bracket says where it ends, so lines inside may be indented
// any way the writer likes.
func (p *parser) parseParen() Expr {
	open := p.tok
	pos := p.pos()
	p.next()
	p.stops = append(p.stops, 0)
	defer func() { p.stops = p.stops[:len(p.stops)-1] }()
	if p.kind() == tRParen {
		p.next()
		return &UnitLit{Pos: pos}
	}
	if k := p.kind(); opLevel(k) > 0 && (k != tMinus || p.peekKind() == tRParen) {
		return p.parseRightSection(open, pos)
	}
	p.sections++
	e := p.parseExpr()
	p.sections--
	if opLevel(p.kind()) > 0 && p.peekKind() == tRParen {
		return p.parseLeftSection(pos, e)
	}
	if p.kind() == tComma {
		tu := &Tuple{Pos: pos, Elems: []Expr{e}}
		for p.kind() == tComma {
			p.next()
			tu.Elems = append(tu.Elems, p.parseExpr())
		}
		e = tu
	}
	if p.kind() != tRParen {
		p.expected(fmt.Sprintf(`"," or ")" to close the "(" at %d:%d`, open.line, open.col))
	}
	p.next()
	return e
}

// Operator sections. `(op)` is `a b -> a op b`, `(op e)` is
// `a -> a op e` and `(e op)` is `b -> e op b`; `(- e)` stays negation,
// as in Haskell. The parameters are named with a character no user name
// can contain, so e can never capture them, and after dag compilation a
// section is the lambda a user would have written (same CID).
const (
	sectionL = "%l"
	sectionR = "%r"
)

// peekKind is the raw kind of the token after the current one.
func (p *parser) peekKind() tokKind {
	lx := p.lx // a copy: looking ahead must not move the real lexer
	return lx.next().kind
}

func (p *parser) parseRightSection(open token, pos Pos) Expr {
	op, opPos := p.tok.text, p.pos()
	p.next()
	if p.kind() == tRParen {
		p.next()
		return &Lambda{Pos: pos, Params: []string{sectionL, sectionR},
			Body: &BinOp{Pos: pos, Op: op, L: &Ident{Pos: pos, Name: sectionL}, R: &Ident{Pos: pos, Name: sectionR}, OpPos: opPos}}
	}
	e := p.parseExpr()
	if p.kind() != tRParen {
		p.expected(fmt.Sprintf(`")" to close the operator section at %d:%d`, open.line, open.col))
	}
	p.next()
	return &Lambda{Pos: pos, Params: []string{sectionL},
		Body: &BinOp{Pos: pos, Op: op, L: &Ident{Pos: pos, Name: sectionL}, R: e, OpPos: opPos}}
}

// parseLeftSection finishes `(e op)`; the current token is op and ")"
// follows. e must bind tighter than op (or equally, for a left
// associative op), so that the section means what it reads as.
func (p *parser) parseLeftSection(pos Pos, e Expr) Expr {
	op, opPos, lvl := p.tok.text, p.pos(), opLevel(p.kind())
	switch x := e.(type) {
	case *Lambda, *Let, *If, *Match:
		p.fail(p.pos(), "the left operand of the section (... %s) extends to it; put it in parentheses", op)
	case *BinOp:
		if xl := binOpLevel(x.Op); xl < lvl || xl == lvl && levelAssoc[lvl] != assocLeft {
			p.fail(p.pos(), "in the section (%s %s), %q binds less tightly than %q; add parentheses", x.Op+" ...", op, x.Op, op)
		}
	}
	p.next()
	p.next() // )
	return &Lambda{Pos: pos, Params: []string{sectionR},
		Body: &BinOp{Pos: pos, Op: op, L: e, R: &Ident{Pos: pos, Name: sectionR}, OpPos: opPos}}
}

func (p *parser) parseList() Expr {
	open := p.tok
	l := &List{Pos: p.pos()}
	p.next()
	p.stops = append(p.stops, 0)
	defer func() { p.stops = p.stops[:len(p.stops)-1] }()
	for p.kind() != tRBrack {
		l.Elems = append(l.Elems, p.parseExpr())
		if p.kind() == tComma {
			p.next()
			continue
		}
		if p.kind() != tRBrack {
			p.expected(fmt.Sprintf(`"," or "]" to close the "[" at %d:%d`, open.line, open.col))
		}
	}
	p.next()
	return l
}

// parseLet parses `let b1; b2 ... in body`. Bindings are separated by ";"
// or by starting a new line in the column of the first binding (see the
// layout rule in doc.go).
func (p *parser) parseLet() Expr {
	l := &Let{Pos: p.pos()}
	p.next()
	if k := p.kind(); k != tIdent && k != tLParen && k != tLBrack {
		p.expected(`a binding name or a pattern after "let"`)
	}
	col := p.tok.col
	p.stops = append(p.stops, col)
	var items []letItem
	for {
		items = append(items, p.parseLetItem())
		raw := p.tok.kind
		if p.atDeclEnd() {
			raw = tEnd
		}
		if raw == tSemi {
			p.next()
			if p.tok.kind == tIn && !p.atDeclEnd() {
				break // a trailing ";" before "in"
			}
			continue
		}
		if raw == tIn {
			break
		}
		if (raw == tIdent || raw == tLParen || raw == tLBrack) && p.tok.bol && p.tok.col == col {
			continue
		}
		if p.kind() == tEq {
			p.expected(`"in" after let bindings`, `separate bindings with ";" or start each on a new line in the column of the first`)
		}
		p.expected(`"in" after let bindings`)
	}
	p.stops = p.stops[:len(p.stops)-1]
	p.next() // in
	return desugarLet(l.Pos, items, p.parseExpr())
}

// letItem is one binding of a let: a name binding, or a pattern
// binding `pat = value` (pat non-nil).
type letItem struct {
	b   *Binding
	pat Pattern
	pos Pos
	val Expr
}

// desugarLet turns the bindings of a let into nested Lets, with each
// pattern binding `let p = e in rest` becoming `match e with | p -> rest`.
// Destructuring is sugar so that the dag form (and every CID) is what the
// equivalent match would give; a value the pattern does not fit fails
// like a match with no arm for it.
func desugarLet(pos Pos, items []letItem, body Expr) Expr {
	var names []*Binding
	flush := func(at Pos) {
		if len(names) > 0 {
			if at.Line == 0 {
				at = names[0].Pos
			}
			body = &Let{Pos: at, Bindings: names, Body: body}
			names = nil
		}
	}
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		if it.pat == nil {
			names = append([]*Binding{it.b}, names...)
			continue
		}
		flush(Pos{})
		body = &Match{Pos: it.pos, Scrutinee: it.val, Arms: []*Arm{{Pos: it.pat.PatPos(), Pattern: it.pat, Body: body}}, Let: true}
	}
	flush(pos)
	return body
}

// parseLetItem parses a name binding or, when the binding starts with
// "(", "[" or a constructor name, a pattern binding `pat = value`.
func (p *parser) parseLetItem() letItem {
	k := p.tok.kind
	if !p.atDeclEnd() && (k == tLParen || k == tLBrack || k == tIdent && isCtorName(p.tok.text)) {
		pos := p.pos()
		// The first token sits at the binding column, which the layout
		// rule reads as offside; the pattern ends at "=" anyway.
		p.stops = append(p.stops, 0)
		pat := p.parsePattern()
		p.stops = p.stops[:len(p.stops)-1]
		if p.kind() != tEq {
			p.expected(`"=" after the pattern of a let binding`)
		}
		p.next()
		return letItem{pat: pat, pos: pos, val: p.parseExpr()}
	}
	b := p.parseBinding()
	return letItem{b: b, pos: b.Pos}
}

// parseBinding parses `name params = value`. The name is read by its raw
// kind: at the start of a line it is offside by design.
func (p *parser) parseBinding() *Binding {
	if p.tok.kind != tIdent || p.atDeclEnd() {
		p.expected("a binding name")
	}
	b := &Binding{Pos: p.pos(), Name: p.tok.text}
	if !isPlainName(b.Name) {
		p.fail(b.Pos, "let binding name %q must be a plain lower-case name", b.Name)
	}
	p.next()
	b.Params = p.parseParams(`a parameter name or "=" in let binding ` + b.Name)
	p.next() // =
	b.Value = p.parseExpr()
	return b
}

func (p *parser) parseIf() Expr {
	e := &If{Pos: p.pos()}
	p.next()
	e.Cond = p.parseExpr()
	if p.kind() != tThen {
		p.expected(`"then" after the condition of "if"`)
	}
	p.next()
	e.Then = p.parseExpr()
	if p.kind() != tElse {
		p.expected(`"else" after the "then" branch`)
	}
	p.next()
	e.Else = p.parseExpr()
	return e
}

func (p *parser) parseMatch() Expr {
	m := &Match{Pos: p.pos()}
	p.next()
	m.Scrutinee = p.parseExpr()
	if p.kind() != tWith {
		p.expected(`"with" after the expression of "match"`)
	}
	p.next()
	if p.kind() != tBar {
		p.expected(`"|" to start a match arm`)
	}
	for p.kind() == tBar {
		a := &Arm{Pos: p.pos()}
		p.next()
		a.Pattern = p.parsePattern()
		if p.kind() != tArrow {
			p.expected(`"->" after the pattern`)
		}
		p.next()
		a.Body = p.parseExpr()
		m.Arms = append(m.Arms, a)
	}
	return m
}

// ---- patterns ----

// parsePattern parses `p :: p :: ...` (right-associative) over
// constructor applications and atoms.
func (p *parser) parsePattern() Pattern {
	p.enter()
	starts, ps := []Pos{p.pos()}, []Pattern{p.parsePatApp()}
	for p.kind() == tCons {
		p.next()
		p.enter()
		starts = append(starts, p.pos())
		ps = append(ps, p.parsePatApp())
	}
	p.depth -= len(ps)
	r := ps[len(ps)-1]
	for i := len(ps) - 2; i >= 0; i-- {
		r = &PCons{Pos: starts[i], Head: ps[i], Tail: r}
	}
	return r
}

func startsPatAtom(k tokKind) bool {
	switch k {
	case tIdent, tHash, tInt, tFloat, tMinus, tText, tBytes, tTrue, tFalse,
		tLParen, tLBrack, tIllegal:
		return true
	}
	return false
}

// ctorPatName returns the constructor name the current token spells, if
// it is one: a capitalised (possibly qualified) name or a hash reference.
func (p *parser) ctorPatName() (string, bool) {
	switch p.kind() {
	case tIdent:
		if isCtorName(p.tok.text) {
			return p.tok.text, true
		}
	case tHash:
		return hashText(p.tok.val, p.tok.index), true
	}
	return "", false
}

func (p *parser) parsePatApp() Pattern {
	name, ok := p.ctorPatName()
	if !ok {
		return p.parsePatAtom()
	}
	c := &PCtor{Pos: p.pos(), Name: name}
	p.next()
	for startsPatAtom(p.kind()) {
		c.Args = append(c.Args, p.parsePatAtom())
	}
	return c
}

func (p *parser) parsePatAtom() Pattern {
	t := p.tok
	pos := p.pos()
	if name, ok := p.ctorPatName(); ok {
		p.next()
		return &PCtor{Pos: pos, Name: name}
	}
	switch p.kind() {
	case tIdent:
		if t.text == "_" {
			p.next()
			return &PWild{Pos: pos}
		}
		if !isPlainName(t.text) {
			p.fail(pos, "expected a pattern, found %q (only constructor names may be qualified)", t.text)
		}
		p.next()
		return &PVar{Pos: pos, Name: t.text}
	case tInt, tFloat:
		return &PLit{Pos: pos, Lit: p.parseNumber(pos, false)}
	case tMinus:
		p.next()
		if k := p.kind(); k != tInt && k != tFloat {
			p.expected(`a number after "-" in a pattern`)
		}
		return &PLit{Pos: pos, Lit: p.parseNumber(pos, true)}
	case tText, tBytes, tTrue, tFalse:
		return &PLit{Pos: pos, Lit: p.parseAtom()}
	case tLParen:
		p.next()
		p.stops = append(p.stops, 0)
		defer func() { p.stops = p.stops[:len(p.stops)-1] }()
		if p.kind() == tRParen {
			p.next()
			return &PLit{Pos: pos, Lit: &UnitLit{Pos: pos}}
		}
		r := p.parsePattern()
		if p.kind() == tComma {
			tp := &PTuple{Pos: pos, Elems: []Pattern{r}}
			for p.kind() == tComma {
				p.next()
				tp.Elems = append(tp.Elems, p.parsePattern())
			}
			r = tp
		}
		if p.kind() != tRParen {
			p.expected(fmt.Sprintf(`"," or ")" to close the "(" at %d:%d`, t.line, t.col))
		}
		p.next()
		return r
	case tLBrack:
		p.next()
		p.stops = append(p.stops, 0)
		defer func() { p.stops = p.stops[:len(p.stops)-1] }()
		l := &PList{Pos: pos}
		for p.kind() != tRBrack {
			l.Elems = append(l.Elems, p.parsePattern())
			if p.kind() == tComma {
				p.next()
				continue
			}
			if p.kind() != tRBrack {
				p.expected(fmt.Sprintf(`"," or "]" to close the "[" at %d:%d`, t.line, t.col))
			}
		}
		p.next()
		return l
	}
	p.expected("a pattern")
	return nil
}
