package syntax

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// roundTripExpr checks ParseExpr(FormatExpr(e)) == e.
func roundTripExpr(t *testing.T, e Expr, origin string) {
	t.Helper()
	out := FormatExpr(e)
	e2, err := ParseExpr("rt.u", []byte(out))
	if err != nil {
		t.Errorf("%s: formatted expression does not parse: %v\n%s", origin, err, out)
		return
	}
	if d := equalAST(e, e2); d != "" {
		t.Errorf("%s: round trip changed the tree at %s\nformatted:\n%s\nbefore: %s\nafter:  %s", origin, d, out, dump(e), dump(e2))
	}
}

// roundTripFile checks ParseFile(FormatFile(f)) == f.
func roundTripFile(t *testing.T, f *File, origin string) {
	t.Helper()
	out := FormatFile(f)
	f2, err := ParseFile("rt.u", []byte(out))
	if err != nil {
		t.Errorf("%s: formatted file does not parse: %v\n%s", origin, err, out)
		return
	}
	if d := equalAST(f.Decls, f2.Decls); d != "" {
		t.Errorf("%s: round trip changed the tree at %s\nformatted:\n%s", origin, d, out)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, tc := range exprTests {
		e, err := ParseExpr("t.u", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		roundTripExpr(t, e, tc.src)
		// And as a declaration body, which is formatted with indentation.
		roundTripFile(t, &File{Decls: []Decl{&DefDecl{Name: "v", Body: e}}}, tc.src)
	}
	for _, tc := range fileTests {
		f, err := ParseFile("t.u", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		roundTripFile(t, f, tc.src)
	}
	files, _ := filepath.Glob("testdata/*.u")
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseFile(name, src)
		if err != nil {
			continue // error examples
		}
		roundTripFile(t, f, name)
	}
}

// TestFormatIdempotent: formatting formatted source changes nothing.
func TestFormatIdempotent(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.u")
	for _, name := range files {
		src, _ := os.ReadFile(name)
		f, err := ParseFile(name, src)
		if err != nil {
			continue
		}
		once := FormatFile(f)
		f2, err := ParseFile(name, []byte(once))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if twice := FormatFile(f2); twice != once {
			t.Errorf("%s: formatting is not idempotent:\n%s\n----\n%s", name, once, twice)
		}
	}
}

// TestFormatGolden pins the exact output for cases where parentheses and
// layout matter.
// formatGolden pins the exact output for cases where parentheses and
// layout matter.
var formatGolden = []struct{ src, want string }{
	{`(1 + 2) * 3`, `(1 + 2) * 3`},
	{`1 + (2 * 3)`, `1 + 2 * 3`},
	{`(1 - 2) - 3`, `1 - 2 - 3`},
	{`1 - (2 - 3)`, `1 - (2 - 3)`},
	{`(a :: b) :: c`, `(a :: b) :: c`},
	{`a :: (b :: c)`, `a :: b :: c`},
	{`a :: (b ++ c)`, `a :: b ++ c`},
	{`(a ++ b) :: c`, `(a ++ b) :: c`},
	{`(a && b) && c`, `(a && b) && c`},
	{`(a < b) == c`, `(a < b) == c`},
	{`a == (b < c)`, `a == (b < c)`},
	{`(a |> f) |> g`, `a |> f |> g`},
	{`a |> (f |> g)`, `a |> (f |> g)`},
	{`(f x) y`, `(f x) y`},
	{`f (g x) (h)`, `f (g x) h`},
	{`f (-1) (-x) (-1.5)`, `f (-1) (-x) (-1.5)`},
	{`-(5)`, `-(5)`},
	{`-(5 x)`, `-(5 x)`},
	{`-5 x`, `(-5) x`},
	{`- -x`, `-(-x)`},
	{`-(f x)`, `-f x`},
	{`-(x * y)`, `-(x * y)`},
	{`(-x) * y`, `-x * y`},
	{`a - -5`, `a - -5`},
	{`'(f x)`, `'(f x)`},
	{`('f) x`, `'f x`},
	{`!(!x)`, `!!x`},
	{`'(-1)`, `'(-1)`},
	{`(x -> x) 1`, `(x -> x) 1`},
	{`f (x -> x)`, `f (x -> x)`},
	{`x -> (y -> x)`, `x -> y -> x`},
	{`xs |> x -> x`, `xs |> (x -> x)`},
	{`1 + (if c then 1 else 2)`, `1 + (if c then 1 else 2)`},
	{`(if c then 1 else 2) + 1`, `(if c then 1 else 2) + 1`},
	{`(let a = 1 in a) + 1`, `(let a = 1 in a) + 1`},
	{`if (if a then b else c) then d else e`, `if if a then b else c then d else e`},
	{`(1, (2, 3))`, `(1, (2, 3))`},
	{`[(x -> x), 1,]`, `[x -> x, 1]`},
	{`1.0`, `1.0`},
	{`1e3`, `1000.0`},
	{`1e21`, `1e+21`},
	{`0.0001`, `0.0001`},
	{`0.00001`, `1e-05`},
	{`-0.0`, `-0.0`},
	{`0x10`, `16`},
	{`"tab\there \u{1F600} \u{7} \u{202E} \0"`, `"tab\there 😀 \u{7} \u{202E} \0"`},
	{`0xsABcd`, `0xsabcd`},
	{`#bafy#3`, `#bafy#3`},
	{"match x with | A -> 1 | B -> 2", "match x with\n| A -> 1\n| B -> 2"},
	{"match x with | A -> (match y with | B -> 1) | C -> 2",
		"match x with\n| A -> (match y with\n  | B -> 1)\n| C -> 2"},
	{"match x with | C -> 2 | A -> match y with | B -> 1",
		"match x with\n| C -> 2\n| A -> match y with\n  | B -> 1"},
	{"match x with | A -> (z -> match y with | B -> 1) | C -> 2",
		"match x with\n| A -> z -> (match y with\n  | B -> 1)\n| C -> 2"},
	{"match x with | A -> (if c then 1 else match y with | B -> 1) | C -> 2",
		"match x with\n| A -> if c then\n    1\n  else\n    (match y with\n    | B -> 1)\n| C -> 2"},
	{"match x with | A -> if c then (match y with | B -> 1) else 2 | C -> 2",
		"match x with\n| A -> if c then\n    match y with\n    | B -> 1\n  else\n    2\n| C -> 2"},
	{"match p with | Just (-1) -> 1 | (-1) :: xs -> 2 | (a :: b) :: c -> 3 | Just (Just x) -> 4 | (x) -> 5",
		"match p with\n| Just (-1) -> 1\n| -1 :: xs -> 2\n| (a :: b) :: c -> 3\n| Just (Just x) -> 4\n| x -> 5"},
	{"let a = 1; b = 2 in a", "let\n  a = 1\n  b = 2\nin a"},
	{"let f x = x in f", "let f x = x in f"},
	{"let a = (match x with | A -> 1) in a", "let\n  a = match x with\n    | A -> 1\nin a"},
	{"if a then b else if c then d else e", "if a then b else if c then d else e"},
}

func TestFormatGolden(t *testing.T) {
	for _, tc := range formatGolden {
		e, err := ParseExpr("g.u", []byte(tc.src))
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if got := FormatExpr(e); got != tc.want {
			t.Errorf("FormatExpr(%q)\n got %q\nwant %q", tc.src, got, tc.want)
		}
		roundTripExpr(t, e, tc.src)
	}
}

func TestFormatDeclGolden(t *testing.T) {
	src := `type Maybe a = Nothing | Just a
type T a b = T (a -> b) ((a -> b) -> a) (a, b) () (List (Maybe a)) (f a b)
type Big = Aaaaaaaaaaaaaaaaaaa Int Int Int | Bbbbbbbbbbbbbbbbbbbbbbbbbb Text Text | Ccccccccccccccccccc
main =
  let
    a = 1
    b = a + 2
    f x = x * b
  in f 10 |> Int.toText
area s = match s with
  | Circle r -> 3.14159 * r * r
  | Rect w h -> w * h
`
	want := `type Maybe a = Nothing | Just a

type T a b = T (a -> b) ((a -> b) -> a) (a, b) () (List (Maybe a)) (f a b)

type Big
  = Aaaaaaaaaaaaaaaaaaa Int Int Int
  | Bbbbbbbbbbbbbbbbbbbbbbbbbb Text Text
  | Ccccccccccccccccccc

main =
  let
    a = 1
    b = a + 2
    f x = x * b
  in f 10 |> Int.toText

area s = match s with
  | Circle r -> 3.14159 * r * r
  | Rect w h -> w * h
`
	f, err := ParseFile("d.u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatFile(f); got != want {
		t.Errorf("FormatFile:\n%s\nwant:\n%s", got, want)
	}
	if got := FormatType(f.Decls[1].(*TypeDecl).Ctors[0].Fields[1]); got != "(a -> b) -> a" {
		t.Errorf("FormatType = %q", got)
	}
	m := f.Decls[4].(*DefDecl).Body.(*Match)
	if got := FormatPattern(m.Arms[1].Pattern); got != "Rect w h" {
		t.Errorf("FormatPattern = %q", got)
	}
}

// TestFormatHandBuilt covers trees the parser never builds but dag's
// decompiler may: the formatter must still print them faithfully.
func TestFormatHandBuilt(t *testing.T) {
	x := &Ident{Name: "x"}
	cases := []struct {
		e    Expr
		want string
	}{
		{&Neg{X: &IntLit{Value: 5}}, "-(5)"},
		{&Neg{X: &IntLit{Value: -5}}, "-(-5)"},
		{&Neg{X: &FloatLit{Value: 2}}, "-(2.0)"},
		{&App{Fn: x, Args: []Expr{&IntLit{Value: -5}}}, "x (-5)"},
		{&App{Fn: &IntLit{Value: -5}, Args: []Expr{x}}, "(-5) x"},
		{&App{Fn: &App{Fn: x, Args: []Expr{x}}, Args: []Expr{x}}, "(x x) x"},
		{&BinOp{Op: "*", L: &IntLit{Value: -1}, R: &IntLit{Value: -2}}, "-1 * -2"},
		{&Force{X: &IntLit{Value: -1}}, "!(-1)"},
		{&Delay{Body: &Neg{X: x}}, "'(-x)"},
		{&TextLit{Value: "bad\xffbyte"}, `"bad\u{FFFD}byte"`},
		{&FloatLit{Value: math.Inf(1)}, "(1.0 / 0.0)"},
		{&Let{Bindings: []*Binding{{Name: "f", Params: []string{"a"}, Value: &Let{
			Bindings: []*Binding{{Name: "g", Value: &Match{Scrutinee: x, Arms: []*Arm{{Pattern: &PWild{}, Body: x}}}}},
			Body:     &Ident{Name: "g"}}}}, Body: x},
			"let\n  f a = let\n      g = match x with\n        | _ -> x\n    in g\nin x"},
	}
	for _, tc := range cases {
		if got := FormatExpr(tc.e); got != tc.want {
			t.Errorf("FormatExpr(%s)\n got %q\nwant %q", dump(tc.e), got, tc.want)
		}
		if _, isInf := tc.e.(*FloatLit); isInf {
			continue
		}
		if tl, ok := tc.e.(*TextLit); ok && !strings.Contains(tl.Value, "\xff") {
			roundTripExpr(t, tc.e, dump(tc.e))
		} else if !ok {
			roundTripExpr(t, tc.e, dump(tc.e))
		}
	}
}

// TestFormatRandomTrees generates random well-formed trees, including
// shapes the parser never produces, and checks that each formats to
// source that parses back to the same tree, both as an expression and as
// a declaration body.
func TestFormatRandomTrees(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	g := &treeGen{r: rand.New(rand.NewPCG(1, 2))}
	for i := range n {
		e := g.expr(5)
		out := FormatExpr(e)
		e2, err := ParseExpr("rand.u", []byte(out))
		if err != nil {
			t.Fatalf("tree %d: %v\n%s\ntree: %s", i, err, out, dump(e))
		}
		if d := equalAST(e, e2); d != "" {
			t.Fatalf("tree %d: round trip changed %s\n%s\nbefore: %s\nafter:  %s", i, d, out, dump(e), dump(e2))
		}
		f := &File{Decls: []Decl{&DefDecl{Name: "v", Params: []string{"p"}, Body: e}, &DefDecl{Name: "w", Body: &Ident{Name: "v"}}}}
		roundTripFile(t, f, dump(e))
		if t.Failed() {
			t.FailNow()
		}
	}
	if g.lets == 0 {
		t.Errorf("no destructuring let was generated")
	}
}

type treeGen struct {
	r    *rand.Rand
	lets int // destructuring lets generated
}

func (g *treeGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *treeGen) name() string { return g.pick("x", "y", "f", "at'", "await!", "_", "x1") }

func (g *treeGen) names(min int) []string {
	ns := make([]string, min+g.r.IntN(2))
	for i := range ns {
		ns[i] = g.name()
	}
	return ns
}

func (g *treeGen) literal() Expr {
	switch g.r.IntN(8) {
	case 0:
		return &IntLit{Value: g.r.Int64() - math.MaxInt64/2}
	case 1:
		return &IntLit{Value: int64(g.r.IntN(20)) - 10}
	case 2:
		return &FloatLit{Value: []float64{0, math.Copysign(0, -1), 1.5, -2.25, 1e300, -5e-324, 1e21, 123456789}[g.r.IntN(8)]}
	case 3:
		return &TextLit{Value: g.pick("", "a", "q\"uote", "back\\slash", "line\nbreak", "\x00\x1f\u202e", "😀 é")}
	case 4:
		return &BoolLit{Value: g.r.IntN(2) == 0}
	case 5:
		return &BytesLit{Value: []byte(g.pick("", "\x00", "\xff\x10"))}
	case 6:
		return &UnitLit{}
	}
	return &IntLit{Value: math.MinInt64}
}

func (g *treeGen) exprs(min, max, depth int) []Expr {
	es := make([]Expr, min+g.r.IntN(max-min+1))
	for i := range es {
		es[i] = g.expr(depth)
	}
	return es
}

var allOps = []string{"|>", "||", "&&", "==", "!=", "<", "<=", ">", ">=", "::", "++", "+", "-", "*", "/", "%"}

func (g *treeGen) expr(depth int) Expr {
	if depth <= 0 {
		switch g.r.IntN(3) {
		case 0:
			return g.literal()
		case 1:
			return &HashRef{CID: "bafyabc", Index: g.r.IntN(3) - 1}
		}
		return &Ident{Name: g.pick("x", "List.map", "Just", "at'", "here!")}
	}
	d := depth - 1
	switch g.r.IntN(16) {
	case 0:
		return &Tuple{Elems: g.exprs(2, 3, d)}
	case 1:
		return &List{Elems: g.exprs(0, 3, d)}
	case 2:
		return &Lambda{Params: g.names(1), Body: g.expr(d)}
	case 3, 4:
		return &App{Fn: g.expr(d), Args: g.exprs(1, 3, d)}
	case 5, 6:
		return &BinOp{Op: allOps[g.r.IntN(len(allOps))], L: g.expr(d), R: g.expr(d)}
	case 7:
		return &Neg{X: g.expr(d)}
	case 8:
		l := &Let{Body: g.expr(d)}
		for range 1 + g.r.IntN(3) {
			l.Bindings = append(l.Bindings, &Binding{Name: g.name(), Params: g.names(0), Value: g.expr(d)})
		}
		return l
	case 9:
		return &If{Cond: g.expr(d), Then: g.expr(d), Else: g.expr(d)}
	case 10:
		m := &Match{Scrutinee: g.expr(d)}
		for range 1 + g.r.IntN(3) {
			m.Arms = append(m.Arms, &Arm{Pattern: g.pattern(3), Body: g.expr(d)})
		}
		// Half of the one-arm matches whose pattern can be a let
		// binding's are destructuring lets.
		m.Let = true
		m.Let = letPattern(m) && g.r.IntN(2) == 0
		if m.Let {
			g.lets++
		}
		return m
	case 11:
		return &Delay{Body: g.expr(d)}
	case 12:
		return &Force{X: g.expr(d)}
	}
	return g.expr(0)
}

func (g *treeGen) pattern(depth int) Pattern {
	if depth <= 0 {
		switch g.r.IntN(4) {
		case 0:
			return &PVar{Name: g.pick("x", "y'", "z!")}
		case 1:
			return &PWild{}
		case 2:
			return &PCtor{Name: g.pick("Nothing", "Maybe.Nothing", "#bafyabc#1")}
		}
		return &PLit{Lit: g.literal()}
	}
	d := depth - 1
	switch g.r.IntN(5) {
	case 0:
		c := &PCtor{Name: g.pick("Just", "Maybe.Just", "#bafyabc")}
		for range 1 + g.r.IntN(2) {
			c.Args = append(c.Args, g.pattern(d))
		}
		return c
	case 1:
		return &PTuple{Elems: []Pattern{g.pattern(d), g.pattern(d)}}
	case 2:
		l := &PList{}
		for range g.r.IntN(3) {
			l.Elems = append(l.Elems, g.pattern(d))
		}
		return l
	case 3:
		return &PCons{Head: g.pattern(d), Tail: g.pattern(d)}
	}
	return g.pattern(0)
}

// TestFormatLetPatternHeads: a destructuring let whose pattern would not
// start a pattern binding as printed (a unit, a parenthesized name, `_`,
// a literal, a cons) prints so that it reads back as the same let, not
// as a match or a plain binding (FuzzParseFile found `let () = 0 in 0`
// printed as a match).
func TestFormatLetPatternHeads(t *testing.T) {
	for _, src := range []string{
		"let () = 0 in 0",
		"let (x) = 1 in x",
		"let (_) = 1 in 2",
		"let (0) = 0 in 1",
		"let (-1) = 0 in 1",
		"let (\"a\") = \"a\" in 1",
		"let (h :: t) = [1] in h",
		"let [a, b] = [1, 2] in a",
		"let (a, b) = (1, 2) in a",
		"let Some x = Some 1 in x",
		"let (Some x) = Some 1 in x",
	} {
		e, err := ParseExpr("t.u", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		roundTripExpr(t, e, src)
		roundTripFile(t, &File{Decls: []Decl{&DefDecl{Name: "v", Body: e}}}, src)
	}
}
