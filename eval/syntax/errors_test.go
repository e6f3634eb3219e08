package syntax

import (
	"errors"
	"strings"
	"testing"
)

// errorTests give a source and the error it must produce: the position
// prefix and a fragment of the message.
var errorTests = []struct {
	name string
	src  string
	expr bool   // parse with ParseExpr instead of ParseFile
	want string // "line:col: fragment" (the file name is added)
}{
	// Unclosed brackets.
	{"unclosed paren at EOF", "f = (1 + 2", false, `1:11: expected "," or ")" to close the "(" at 1:5, found end of input`},
	{"unclosed paren before decl", "f = (1 + 2\ng = 3", false, `1:11: expected "," or ")" to close the "(" at 1:5, found the end of the declaration (line 2 starts in column 1`},
	{"unclosed bracket", "f = [1, 2", false, `1:10: expected "," or "]" to close the "[" at 1:5, found end of input`},
	{"missing comma", "f = [1 2 3", false, `1:11: expected "," or "]"`},
	{"tuple trailing comma", "f = (1,)", false, `1:8: expected an expression, found ")"`},
	{"stray close", "f = 1)", false, `1:6: expected end of declaration, found ")"`},
	{"unclosed paren pattern", "f = match x with | (a, b -> 1", false, `1:26: expected "," or ")" to close the "(" at 1:20, found "->"`},

	// Let.
	{"missing in at EOF", "f = let a = 1", false, `1:14: expected "in" after let bindings, found end of input`},
	{"missing in offside", "f =\n  let a = 1\n  a + 1", false, `3:3: expected "in" after let bindings, found "a" (this line starts in column 3, not right of the let bindings at column 7`},
	{"bindings without separator", "f = let a = 1 b = 2 in a", false, `1:17: expected "in" after let bindings, found "=" (separate bindings with ";"`},
	{"in in column 1", "f =\n  let a = 1\nin a", false, `2:12: expected "in" after let bindings, found the end of the declaration (line 3 starts in column 1`},
	{"binding name", "f = let 1 = 2 in 3", false, `1:9: expected a binding name or a pattern after "let", found "1"`},
	{"binding qualified name", "f = let a.b = 2 in 3", false, `1:9: let binding name "a.b" must be a plain lower-case name`},
	{"binding missing eq", "f = let a in 3", false, `1:11: expected a parameter name or "=" in let binding a, found "in"`},
	{"offside arms", "f =\n  let r = match x with\n  | A -> 1\n  in r", false, `3:3: expected "|" to start a match arm, found "|" (this line starts in column 3, not right of the let bindings at column 7`},
	{"offside binding value", "f =\n  let r =\n    1\n  in r", false, `3:5: expected an expression, found "1" (this line starts in column 5, not right of the let bindings at column 7`},

	// If and match.
	{"missing then", "f = if x 1 else 2", false, `1:12: expected "then" after the condition of "if", found "else"`},
	{"missing else", "f = if x then 1", false, `1:16: expected "else" after the "then" branch, found end of input`},
	{"missing with", "f = match x | A -> 1", false, `1:13: expected "with" after the expression of "match", found "|"`},
	{"missing bar", "f = match x with A -> 1", false, `1:18: expected "|" to start a match arm, found "A"`},
	{"missing arrow", "f = match x with | A 1", false, `1:23: expected "->" after the pattern, found end of input`},
	{"arms in column 1", "f = match x with\n| A -> 1", false, `1:17: expected "|" to start a match arm, found the end of the declaration`},
	{"qualified var pattern", "f = match x with | List.map -> 1", false, `1:20: expected a pattern, found "List.map" (only constructor names may be qualified)`},
	{"minus pattern", "f = match x with | - x -> 1", false, `1:22: expected a number after "-" in a pattern, found "x"`},
	{"bad pattern", "f = match x with | + -> 1", false, `1:20: expected a pattern, found "+"`},

	// Operators.
	{"chained comparison", "f = a < b < c", false, `1:11: comparison operators do not chain: found "<" after "<"; add parentheses`},
	{"chained equality", "f = a == b != c", false, `1:12: comparison operators do not chain`},
	{"lambda as argument", "f = List.map x -> x xs", false, `1:16: expected end of declaration, found "->" (lambda parameters must be plain names`},
	{"dangling operator", "f = 1 +", false, `1:8: expected an expression, found end of input`},
	{"empty body", "f =", false, `1:4: expected an expression, found end of input`},

	// Lexical errors.
	{"bad char", "f = 1 $ 2", false, `1:7: unexpected character '$'`},
	{"single amp", "f = a & b", false, `1:7: unexpected character '&' (logical and is "&&")`},
	{"single colon", "f = a : b", false, `1:7: unexpected character ':' (the cons operator is "::")`},
	{"dot", "f = List. map", false, `1:9: unexpected character '.'`},
	{"backslash lambda", `f = \x -> x`, false, "1:5: unexpected character `\\` (a lambda is written `x -> body`, with no backslash)"},
	{"non-ascii ident", "f = é", false, `1:5: unexpected character 'é'`},
	{"control char", "f = \x01", false, `1:5: unexpected character '\x01'`},
	{"invalid utf8", "f = \"\xff\"", false, `1:6: invalid UTF-8 byte 0xff in source`},
	{"invalid utf8 line 2", "f = 1\ng = \"ab\xc3\"", false, `2:8: invalid UTF-8`},
	{"unterminated string", "f = \"abc", false, `1:5: unterminated text literal`},
	{"string over newline", "f = \"ab\n  cd\"", false, `1:5: unterminated text literal: expected a closing " before the end of the line`},
	{"backslash at eof", "f = \"ab\\", false, `1:5: unterminated text literal`},
	{"bad escape", `f = "a\qb"`, false, `1:7: invalid escape \q in text literal`},
	{"surrogate escape", `f = "\u{D800}"`, false, `1:6: invalid \u escape`},
	{"big escape", `f = "\u{110000}"`, false, `1:6: invalid \u escape`},
	{"empty escape", `f = "\u{}"`, false, `1:6: invalid \u escape`},
	{"long escape", `f = "\u{0000041}"`, false, `1:6: invalid \u escape`},
	{"brace-less escape", `f = "\u0041"`, false, `1:6: invalid \u escape`},
	{"odd bytes", "f = 0xs123", false, `1:5: bytes literal needs an even number of hex digits, found 3`},
	{"bad bytes digit", "f = 0xs0g", false, `1:9: invalid character 'g' in bytes literal`},
	{"bare 0x", "f = 0x", false, `1:7: expected hex digits after 0x`},
	{"number glued to name", "f = 12abc", false, `1:7: invalid character 'a' in number literal`},
	{"bad hex digit", "f = 0x1g", false, `1:8: invalid character 'g' in number literal`},
	{"int overflow", "f = 9223372036854775808", false, `1:5: integer literal 9223372036854775808 is out of range (Int is 64-bit`},
	{"negative int overflow", "f = -9223372036854775809", false, `1:5: integer literal -9223372036854775809 is out of range`},
	{"huge int", "f = 99999999999999999999999999", false, `1:5: integer literal 99999999999999999999999999 is out of range`},
	{"hex overflow", "f = 0x8000000000000000", false, `1:5: integer literal 0x8000000000000000 is out of range`},
	{"pattern int overflow", "f = match x with | 9223372036854775808 -> 1", false, `1:20: integer literal 9223372036854775808 is out of range`},
	{"float overflow", "f = 1e400", false, `1:5: float literal 1e400 is out of range`},
	{"bare hash", "f = # x", false, `1:6: expected a CID after #`},
	{"hash without index", "f = #abc#", false, `1:10: expected a member index (digits) after #abc#`},
	{"hash index too big", "f = #abc#99999999999", false, `1:10: member index in hash reference is larger than`},
	{"long ident", "f = " + strings.Repeat("a", MaxIdentLen+1), false, `1:5: identifier is 1025 bytes long`},
	{"lexical error in column 1", "f = 1\n$ = 2", false, `2:1: unexpected character '$'`},

	// Declarations and layout.
	{"first decl indented", " f = 1", false, `1:2: a top-level declaration must start in column 1, found "f" in column 2`},
	{"indented second decl", "f = 1\n g = 2", false, `2:4: expected end of declaration, found "=" (a new declaration must start in column 1`},
	{"continuation in column 1", "f = 1\n+ 2", false, `2:1: expected a declaration ("name params = ..." or "type Name = ..."), found "+" (a line starting in column 1 begins a new declaration; indent continuation lines)`},
	{"capital def", "Foo = 1", false, `1:1: definition name "Foo" must start with a lower-case letter`},
	{"capital param", "f X = 1", false, `1:3: parameter "X" must be a plain lower-case name`},
	{"qualified param", "f a.b = 1", false, `1:3: parameter "a.b" must be a plain lower-case name`},
	{"missing eq", "f x", false, `1:4: expected parameter name or "=" in definition of f, found end of input`},
	{"keyword decl", "in = 1", false, `1:1: expected a declaration`},
	{"type lower name", "type maybe = X", false, `1:6: expected a capitalised type name after "type", found "maybe"`},
	{"type param", "type T A = X", false, `1:8: type parameter "A" must be a plain lower-case name`},
	{"type missing eq", "type T a", false, `1:9: expected a type parameter or "=" in declaration of type T, found end of input`},
	{"type lower ctor", "type T = x", false, `1:10: expected a constructor name (capitalised, unqualified), found "x"`},
	{"type qualified ctor", "type T = A.B", false, `1:10: expected a constructor name`},
	{"type trailing bar", "type T = A |", false, `1:13: expected a constructor name (capitalised, unqualified), found end of input`},
	{"type bad field", "type T = A 1", false, `1:12: expected end of declaration, found "1"`},
	{"type unclosed", "type T = A (a -> b", false, `1:19: expected ")" to close the "(" at 1:12, found end of input`},
	{"type empty parens arrow", "type T = A (-> b)", false, `1:13: expected a type, found "->"`},

	// ParseExpr.
	{"expr trailing", "1 2 )", true, `1:5: expected end of expression, found ")"`},
	{"expr empty", "", true, `1:1: expected an expression, found end of input`},
	{"expr only comment", "-- nothing", true, `1:1: expected an expression, found end of input`},
	{"expr column 1 is fine but let rule applies", "let a = 1\nb", true, `2:1: expected "in" after let bindings, found "b"`},
}

func TestErrors(t *testing.T) {
	for _, tc := range errorTests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.expr {
				_, err = ParseExpr("e.u", []byte(tc.src))
			} else {
				_, err = ParseFile("e.u", []byte(tc.src))
			}
			if err == nil {
				t.Fatalf("%q parsed without error", tc.src)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T, want a non-empty ErrorList", err)
			}
			want := "e.u:" + tc.want
			if got := list[0].Error(); !strings.HasPrefix(got, want) {
				t.Errorf("%q:\n got %s\nwant %s...", tc.src, got, want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Pos: Pos{File: "a.u", Line: 3, Col: 7}, Msg: "boom"}
	if e.Error() != "a.u:3:7: boom" {
		t.Errorf("got %q", e.Error())
	}
	e.Pos.File = ""
	if e.Error() != "3:7: boom" {
		t.Errorf("got %q", e.Error())
	}
	if (ErrorList{}).Err() != nil {
		t.Errorf("empty list is not a nil error")
	}
}

// TestDeepNesting feeds inputs nested far beyond MaxNestingDepth: each must
// produce an Error, not a panic or a stack overflow.
func TestDeepNesting(t *testing.T) {
	const n = 100_000
	rep := strings.Repeat
	cases := map[string]string{
		"parens":        "f = " + rep("(", n) + "x" + rep(")", n),
		"unclosed":      "f = " + rep("(", n),
		"brackets":      "f = " + rep("[", n) + rep("]", n),
		"tuples":        "f = " + rep("(1, ", n) + "2" + rep(")", n),
		"minus":         "f = " + rep("- ", n) + "x",
		"delay":         "f = " + rep("'", n) + "x",
		"force":         "f = " + rep("!", n) + "x",
		"lambdas":       "f = " + rep("x -> ", n) + "x",
		"lets":          "f = " + rep("let a = ", n) + "1" + rep(" in a", n),
		"let bodies":    "f = " + rep("let a = 1 in ", n) + "a",
		"ifs":           "f = " + rep("if c then ", n) + "1" + rep(" else 2", n),
		"matches":       "f = " + rep("match x with | _ -> ", n) + "1",
		"cons chain":    "f = " + rep("a :: ", n) + "[]",
		"plus chain":    "f = " + rep("a + ", n) + "a",
		"pipe chain":    "f = a" + rep(" |> f", n),
		"and chain":     "f = " + rep("a && ", n) + "a",
		"app parens":    "f = " + rep("f (", n) + "x" + rep(")", n),
		"pattern paren": "f = match x with | " + rep("(", n) + "a" + rep(")", n) + " -> 1",
		"pattern ctor":  "f = match x with | " + rep("Just (", n) + "a" + rep(")", n) + " -> 1",
		"pattern cons":  "f = match x with | " + rep("a :: ", n) + "b -> 1",
		"pattern list":  "f = match x with | " + rep("[", n) + rep("]", n) + " -> 1",
		"type parens":   "type T = T " + rep("(", n) + "a" + rep(")", n),
		"type arrows":   "type T = T (" + rep("a -> ", n) + "a)",
		"type apps":     "type T = T " + rep("(F ", n) + "a" + rep(")", n),
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFile("deep.u", []byte(src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if !strings.Contains(e.Msg, "nested too deeply") {
				t.Errorf("err = %v", e)
			}
			// The same as an expression.
			body := src[strings.Index(src, "=")+1:]
			if strings.HasPrefix(src, "type") {
				return
			}
			if _, err := ParseExpr("deep.u", []byte(body)); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
				t.Errorf("ParseExpr: err = %v", err)
			}
		})
	}
}

// TestModerateNesting checks that ordinary deep code stays well inside the
// limit: 300 nested parentheses and a 300-element cons chain are fine.
func TestModerateNesting(t *testing.T) {
	for _, src := range []string{
		"f = " + strings.Repeat("(", 300) + "x" + strings.Repeat(")", 300),
		"f = " + strings.Repeat("a :: ", 300) + "[]",
		"f = " + strings.Repeat("a + ", 300) + "a",
		"f = [" + strings.Repeat("1, ", 100_000) + "]",
		"f = g" + strings.Repeat(" x", 100_000),
	} {
		if _, err := ParseFile("ok.u", []byte(src)); err != nil {
			t.Errorf("%.40q...: %v", src, err)
		}
	}
}
