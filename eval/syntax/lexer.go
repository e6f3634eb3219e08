package syntax

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a token.
type tokKind uint8

const (
	tEOF     tokKind = iota
	tIllegal         // a lexical error; token.text holds the message
	tIdent           // possibly qualified: List.map, at', await!
	tHash            // #cid or #cid#n
	tInt             // 42, 0x2a (token.text is the source text)
	tFloat           // 1.5, 1e3
	tText            // "..." (token.val is the decoded value)
	tBytes           // 0xs0a1b (token.val is the decoded value)

	// Keywords.
	tType
	tLet
	tIn
	tIf
	tThen
	tElse
	tMatch
	tWith
	tTrue
	tFalse

	// Punctuation.
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tSemi
	tEq    // =
	tBar   // |
	tArrow // ->
	tQuote // ' (delay)
	tBang  // ! (force)

	// Binary operators.
	tPipe    // |>
	tOrOr    // ||
	tAndAnd  // &&
	tEqEq    // ==
	tNotEq   // !=
	tLt      // <
	tLe      // <=
	tGt      // >
	tGe      // >=
	tCons    // ::
	tAppend  // ++
	tPlus    // +
	tMinus   // -
	tStar    // *
	tSlash   // /
	tPercent // %

	// Virtual kinds produced by the parser's layout rule, never by the
	// lexer: see parser.kindOf.
	tEnd     // a line starting in column 1: the declaration is over
	tOffside // a line indented no deeper than the enclosing let bindings
)

var keywords = map[string]tokKind{
	"type": tType, "let": tLet, "in": tIn, "if": tIf, "then": tThen,
	"else": tElse, "match": tMatch, "with": tWith, "true": tTrue, "false": tFalse,
}

// token is one lexeme. Positions are kept as plain line/col (the file name
// is added when a Pos is built) so that tokens stay small.
type token struct {
	kind tokKind
	line int
	col  int
	off  int  // byte offset of the token's first byte
	bol  bool // first token on its line
	// text is the token's source text; for tIllegal it is the error
	// message instead.
	text string
	// val is the decoded value of a tText or tBytes token, or the CID of
	// a tHash token.
	val string
	// index is the member index of a tHash token, -1 if absent.
	index int
	// errCol is the column a tIllegal token's error points at (an escape
	// inside a string, say); tokens never span lines, so line is shared.
	errCol int
	// endCol is the column just past the token.
	endCol int
}

// lexer turns source bytes into tokens on demand. Its state is a few
// integers, so the parser looks ahead by copying it.
type lexer struct {
	src      []byte
	off      int // next byte to read
	line     int // line of src[off]
	lineOff  int // offset of the first byte of the current line
	lastLine int // line of the previous token, to compute token.bol
}

func newLexer(src []byte) lexer {
	lx := lexer{src: src, line: 1}
	// A UTF-8 byte order mark is not part of the program; skipping it (and
	// counting columns after it) keeps files saved by some editors legal.
	if len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		lx.off, lx.lineOff = 3, 3
	}
	return lx
}

func (lx *lexer) peekByte(i int) byte {
	if lx.off+i < len(lx.src) {
		return lx.src[lx.off+i]
	}
	return 0
}

func isLetter(c byte) bool     { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return isLetter(c) || c == '_' }
func isIdentChar(c byte) bool  { return isLetter(c) || isDigit(c) || c == '_' || c == '\'' }
func isHexDigit(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// skipSpace skips blanks, newlines and `--` comments.
func (lx *lexer) skipSpace() {
	for lx.off < len(lx.src) {
		switch c := lx.src[lx.off]; {
		case c == ' ' || c == '\t' || c == '\r':
			lx.off++
		case c == '\n':
			lx.off++
			lx.line++
			lx.lineOff = lx.off
		case c == '-' && lx.peekByte(1) == '-':
			for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
				lx.off++
			}
		default:
			return
		}
	}
}

// next returns the next token. Errors come back as tIllegal tokens so the
// parser reports them where it meets them, with its own recovery.
func (lx *lexer) next() token {
	lx.skipSpace()
	t := token{line: lx.line, col: lx.off - lx.lineOff + 1, off: lx.off, index: -1}
	t.bol = t.line != lx.lastLine
	lx.lastLine = t.line
	if lx.off >= len(lx.src) {
		t.kind = tEOF
		return t
	}
	c := lx.src[lx.off]
	switch {
	case isIdentStart(c):
		lx.ident(&t)
	case isDigit(c):
		lx.number(&t)
	case c == '"':
		lx.text(&t)
	case c == '#':
		lx.hash(&t)
	default:
		lx.operator(&t)
	}
	if t.kind != tIllegal && t.text == "" {
		t.text = string(lx.src[t.off:lx.off])
	}
	t.endCol = t.col + (lx.off - t.off)
	return t
}

func (lx *lexer) fail(t *token, errOff int, format string, args ...any) {
	t.kind = tIllegal
	t.text = fmt.Sprintf(format, args...)
	t.errCol = t.col + (errOff - t.off)
}

// ident scans a possibly qualified identifier: segments of letters, digits,
// `_` and `'` joined by `.` with no spaces, optionally ending in one `!`
// attached to the last segment (`await!`). The `!` is not taken when `=`
// follows, so `x!=y` is `x != y`.
func (lx *lexer) ident(t *token) {
	for {
		for lx.off < len(lx.src) && isIdentChar(lx.src[lx.off]) {
			lx.off++
		}
		if lx.peekByte(0) == '.' && isIdentStart(lx.peekByte(1)) {
			lx.off++
			continue
		}
		break
	}
	if lx.peekByte(0) == '!' && lx.peekByte(1) != '=' {
		lx.off++
	}
	name := string(lx.src[t.off:lx.off])
	if len(name) > MaxIdentLen {
		lx.fail(t, t.off, "identifier is %d bytes long; the limit is %d", len(name), MaxIdentLen)
		return
	}
	t.text = name
	if k, ok := keywords[name]; ok {
		t.kind = k
		return
	}
	t.kind = tIdent
}

// number scans 42, 0x2A, 1.5, 1e3, 2.0e-3 and the bytes literal 0xs0a1b.
// The value of a number is computed by the parser, which knows whether a
// minus sign precedes it (-9223372036854775808 is a valid Int).
func (lx *lexer) number(t *token) {
	if lx.peekByte(0) == '0' && lx.peekByte(1) == 'x' {
		if lx.peekByte(2) == 's' {
			lx.bytes(t)
			return
		}
		lx.off += 2
		start := lx.off
		for lx.off < len(lx.src) && isHexDigit(lx.src[lx.off]) {
			lx.off++
		}
		if lx.off == start {
			lx.fail(t, lx.off, "expected hex digits after 0x")
			lx.skipIdentChars()
			return
		}
		t.kind = tInt
		lx.checkNumberEnd(t, "number")
		return
	}
	t.kind = tInt
	lx.digits()
	if lx.peekByte(0) == '.' && isDigit(lx.peekByte(1)) {
		lx.off++
		lx.digits()
		t.kind = tFloat
	}
	if c := lx.peekByte(0); c == 'e' || c == 'E' {
		d := lx.peekByte(1)
		if isDigit(d) || (d == '+' || d == '-') && isDigit(lx.peekByte(2)) {
			lx.off += 2
			lx.digits()
			t.kind = tFloat
		}
	}
	lx.checkNumberEnd(t, "number")
}

func (lx *lexer) digits() {
	for lx.off < len(lx.src) && isDigit(lx.src[lx.off]) {
		lx.off++
	}
}

func (lx *lexer) skipIdentChars() {
	for lx.off < len(lx.src) && isIdentChar(lx.src[lx.off]) {
		lx.off++
	}
}

// checkNumberEnd rejects `12abc` and `0x1g`: a literal glued to letters is
// a typo, not two tokens.
func (lx *lexer) checkNumberEnd(t *token, what string) {
	if c := lx.peekByte(0); isIdentChar(c) {
		at := lx.off
		lx.skipIdentChars()
		lx.fail(t, at, "invalid character %q in %s literal", rune(c), what)
	}
}

func (lx *lexer) bytes(t *token) {
	lx.off += 3 // 0xs
	start := lx.off
	for lx.off < len(lx.src) && isHexDigit(lx.src[lx.off]) {
		lx.off++
	}
	digits := string(lx.src[start:lx.off])
	t.kind = tBytes
	if lx.checkNumberEnd(t, "bytes"); t.kind == tIllegal {
		return
	}
	if len(digits)%2 != 0 {
		lx.fail(t, t.off, "bytes literal needs an even number of hex digits, found %d", len(digits))
		return
	}
	b, _ := hex.DecodeString(digits) // cannot fail: even count of hex digits
	t.val = string(b)
}

// text scans a text literal. Literals do not span lines: a missing closing
// quote would otherwise swallow the rest of the file.
func (lx *lexer) text(t *token) {
	lx.off++ // opening quote
	var b strings.Builder
	var escErr *token
	for {
		if lx.off >= len(lx.src) || lx.src[lx.off] == '\n' {
			lx.fail(t, t.off, "unterminated text literal: expected a closing \" before the end of the line")
			return
		}
		c := lx.src[lx.off]
		if c == '"' {
			lx.off++
			break
		}
		if c != '\\' {
			// Copy a run of plain bytes at once; the source is valid UTF-8.
			start := lx.off
			for lx.off < len(lx.src) && lx.src[lx.off] != '"' && lx.src[lx.off] != '\\' && lx.src[lx.off] != '\n' {
				lx.off++
			}
			b.Write(lx.src[start:lx.off])
			continue
		}
		escOff := lx.off
		lx.off++
		e := lx.peekByte(0)
		lx.off++
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case '"':
			b.WriteByte('"')
		case '0':
			b.WriteByte(0)
		case 'u':
			r, ok := lx.unicodeEscape()
			if !ok {
				if escErr == nil {
					escErr = &token{}
					*escErr = *t
					lx.fail(escErr, escOff, `invalid \u escape: expected \u{X} with 1 to 6 hex digits naming a Unicode scalar value`)
				}
				continue
			}
			b.WriteRune(r)
		default:
			if e == '\n' || e == 0 && lx.off > len(lx.src) {
				lx.off-- // let the loop report the unterminated literal
				continue
			}
			if escErr == nil {
				escErr = &token{}
				*escErr = *t
				r, _ := utf8.DecodeRune(lx.src[escOff+1:])
				lx.fail(escErr, escOff, `invalid escape \%c in text literal (valid: \n \t \r \\ \" \0 \u{X})`, r)
			}
		}
	}
	if escErr != nil {
		// Report the first bad escape only after finding the closing quote,
		// so that scanning resumes after the literal.
		*t = *escErr
		return
	}
	t.kind = tText
	t.val = b.String()
}

// unicodeEscape reads the `{hex}` part of \u{hex}; lx.off is just past the u.
func (lx *lexer) unicodeEscape() (rune, bool) {
	if lx.peekByte(0) != '{' {
		return 0, false
	}
	lx.off++
	var v rune
	n := 0
	for c := lx.peekByte(0); isHexDigit(c); c = lx.peekByte(0) {
		if n < 7 { // more digits are an error anyway; don't overflow v
			v = v<<4 | rune(hexVal(c))
		}
		n++
		lx.off++
	}
	if lx.peekByte(0) != '}' {
		return 0, false
	}
	lx.off++
	if n == 0 || n > 6 || v > utf8.MaxRune || 0xD800 <= v && v <= 0xDFFF {
		return 0, false
	}
	return v, true
}

// hash scans `#cid` and `#cid#n`.
func (lx *lexer) hash(t *token) {
	lx.off++ // #
	start := lx.off
	for lx.off < len(lx.src) && (isLetter(lx.src[lx.off]) || isDigit(lx.src[lx.off])) {
		lx.off++
	}
	if lx.off == start {
		lx.fail(t, start, "expected a CID after #")
		return
	}
	if lx.off-start > MaxHashRefLen {
		lx.fail(t, start, "hash reference is %d characters long; the limit is %d", lx.off-start, MaxHashRefLen)
		return
	}
	t.kind = tHash
	t.val = string(lx.src[start:lx.off])
	if lx.peekByte(0) != '#' {
		return
	}
	lx.off++
	istart := lx.off
	lx.digits()
	if lx.off == istart {
		lx.fail(t, istart, "expected a member index (digits) after #%s#", t.val)
		return
	}
	n, err := strconv.Atoi(string(lx.src[istart:lx.off]))
	if err != nil || n > MaxHashRefIndex {
		lx.fail(t, istart, "member index in hash reference is larger than %d", MaxHashRefIndex)
		return
	}
	t.index = n
	if c := lx.peekByte(0); isIdentChar(c) {
		lx.fail(t, lx.off, "invalid character %q in hash reference", rune(c))
		lx.skipIdentChars()
	}
}

// operators maps every punctuation token, longest first within a leading
// byte so maximal munch is a linear scan.
var operators = []struct {
	text string
	kind tokKind
}{
	{"|>", tPipe}, {"||", tOrOr}, {"|", tBar},
	{"&&", tAndAnd},
	{"==", tEqEq}, {"=", tEq},
	{"!=", tNotEq}, {"!", tBang},
	{"<=", tLe}, {"<", tLt},
	{">=", tGe}, {">", tGt},
	{"::", tCons},
	{"++", tAppend}, {"+", tPlus},
	{"->", tArrow}, {"-", tMinus},
	{"*", tStar}, {"/", tSlash}, {"%", tPercent},
	{"(", tLParen}, {")", tRParen}, {"[", tLBrack}, {"]", tRBrack},
	{",", tComma}, {";", tSemi}, {"'", tQuote},
}

func (lx *lexer) operator(t *token) {
	rest := lx.src[lx.off:]
	for _, op := range operators {
		if len(rest) >= len(op.text) && string(rest[:len(op.text)]) == op.text {
			lx.off += len(op.text)
			t.kind = op.kind
			t.text = op.text
			return
		}
	}
	r, size := utf8.DecodeRune(rest)
	lx.off += size
	switch r {
	case ':':
		lx.fail(t, t.off, `unexpected character ':' (the cons operator is "::")`)
	case '&':
		lx.fail(t, t.off, `unexpected character '&' (logical and is "&&")`)
	case '.':
		lx.fail(t, t.off, "unexpected character '.' (qualified names are written without spaces, like List.map)")
	case '\\':
		// %q would print '\\', which reads as two backslashes.
		lx.fail(t, t.off, "unexpected character `\\` (a lambda is written `x -> body`, with no backslash)")
	default:
		lx.fail(t, t.off, "unexpected character %q", r)
	}
}

// tokenString describes a token for error messages.
func tokenString(k tokKind, text string) string {
	switch k {
	case tEOF:
		return "end of input"
	case tIllegal:
		return "an invalid token"
	case tText:
		return "text literal " + truncate(text)
	}
	return strconv.Quote(truncate(text))
}

func truncate(s string) string {
	const max = 24
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// kindString names a token kind for "expected X" messages.
func kindString(k tokKind) string {
	for kw, kk := range keywords {
		if kk == k {
			return strconv.Quote(kw)
		}
	}
	for _, op := range operators {
		if op.kind == k {
			return strconv.Quote(op.text)
		}
	}
	return fmt.Sprintf("token %d", k)
}
