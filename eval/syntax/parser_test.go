package syntax

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exprTests are parsed with ParseExpr; want is the tree as dump prints it.
var exprTests = []struct {
	src, want string
}{
	// Atoms and literals.
	{`x`, `x`},
	{`List.map`, `List.map`},
	{`Maybe.Just`, `Maybe.Just`},
	{`at'`, `at'`},
	{`x''`, `x''`},
	{`await!`, `await!`},
	{`here!`, `here!`},
	{`_`, `_`},
	{`42`, `42`},
	{`007`, `7`},
	{`0x2a`, `42`},
	{`0xFF`, `255`},
	{`0x7fffffffffffffff`, `9223372036854775807`},
	{`9223372036854775807`, `9223372036854775807`},
	{`-9223372036854775808`, `-9223372036854775808`},
	{`-0x8000000000000000`, `-9223372036854775808`},
	{`1.5`, `1.5f`},
	{`1e3`, `1000f`},
	{`1E3`, `1000f`},
	{`2.0e-3`, `0.002f`},
	{`1.5e+3`, `1500f`},
	{`-0.0`, `-0f`},
	{`1e-400`, `0f`},
	{`"hi"`, `"hi"`},
	{`""`, `""`},
	{`"a\nb\tc\rd\\e\"f\0g"`, `"a\nb\tc\rd\\e\"f\x00g"`},
	{`"\u{1F600}"`, `"😀"`},
	{`"\u{e9}t\u{E9}"`, `"été"`},
	{`"héllo -- not a comment"`, `"héllo -- not a comment"`},
	{`0xs0a1b`, `0xs0a1b`},
	{`0xsFF00`, `0xsff00`},
	{`0xs`, `0xs`},
	{`true`, `true`},
	{`false`, `false`},
	{`()`, `()`},
	{`( )`, `()`},
	{`(x)`, `x`},
	{`((x))`, `x`},
	{`(1, 2)`, `(tuple 1 2)`},
	{`(1, "a", true)`, `(tuple 1 "a" true)`},
	{`((1, 2), 3)`, `(tuple (tuple 1 2) 3)`},
	{`[]`, `(list)`},
	{`[1, 2, 3]`, `(list 1 2 3)`},
	{`[1, 2, 3,]`, `(list 1 2 3)`},
	{"[\n 1,\n 2,\n]", `(list 1 2)`},
	{`[[1], []]`, `(list (list 1) (list))`},
	{`#bafyabc`, `#bafyabc`},
	{`#bafyabc#2`, `#bafyabc#2`},
	{`#bafyabc#0 x`, `(app #bafyabc#0 x)`},

	// Comments.
	{"x -- a comment", `x`},
	{"-- lead\nx -- trail\n-- end", `x`},
	{"f -- c\n  y", `(app f y)`},

	// Application.
	{`f x`, `(app f x)`},
	{`f x y z`, `(app f x y z)`},
	{`f (g x) y`, `(app f (app g x) y)`},
	{`(f x) y`, `(app (app f x) y)`},
	{`f [1] (2, 3) "s" 0xs00 #c`, `(app f (list 1) (tuple 2 3) "s" 0xs00 #c)`},
	{`List.map await fs`, `(app List.map await fs)`},

	// Delay and force bind tighter than application.
	{`'x`, `(delay x)`},
	{`'(f x)`, `(delay (app f x))`},
	{`'f x`, `(app (delay f) x)`},
	{`!t`, `(force t)`},
	{`!t x`, `(app (force t) x)`},
	{`!(f x)`, `(force (app f x))`},
	{`f !x 'y`, `(app f (force x) (delay y))`},
	{`!!x`, `(force (force x))`},
	{`'!x`, `(delay (force x))`},
	{`at' n '(fib 25)`, `(app at' n (delay (app fib 25)))`},
	{`await! f`, `(app await! f)`},
	{`x!=y`, `(!= x y)`},
	{`x != !y`, `(!= x (force y))`},

	// Unary minus.
	{`-5`, `-5`},
	{`- 5`, `-5`},
	{`-1.5`, `-1.5f`},
	{`-x`, `(neg x)`},
	{`-(5)`, `(neg 5)`},
	{`-f x`, `(neg (app f x))`},
	{`- -x`, `(neg (neg x))`},
	{`-5 x`, `(app -5 x)`},
	{`a - 5`, `(- a 5)`},
	{`a - -5`, `(- a -5)`},
	{`f -1`, `(- f 1)`},
	{`f (-1)`, `(app f -1)`},
	{`-x * y`, `(* (neg x) y)`},
	{`a * -b`, `(* a (neg b))`},

	// Precedence and associativity.
	{`1 + 2 * 3`, `(+ 1 (* 2 3))`},
	{`1 * 2 + 3`, `(+ (* 1 2) 3)`},
	{`1 - 2 - 3`, `(- (- 1 2) 3)`},
	{`8 / 4 / 2`, `(/ (/ 8 4) 2)`},
	{`7 % 3 * 2`, `(* (% 7 3) 2)`},
	{`(1 + 2) * 3`, `(* (+ 1 2) 3)`},
	{`1 :: 2 :: []`, `(:: 1 (:: 2 (list)))`},
	{`a ++ b ++ c`, `(++ a (++ b c))`},
	{`x :: xs ++ ys`, `(:: x (++ xs ys))`},
	{`(x :: xs) ++ ys`, `(++ (:: x xs) ys)`},
	{`a + 1 :: xs`, `(:: (+ a 1) xs)`},
	{`a == b + 1`, `(== a (+ b 1))`},
	{`a < b && b <= c`, `(&& (< a b) (<= b c))`},
	{`a > b || c >= d`, `(|| (> a b) (>= c d))`},
	{`a || b && c`, `(|| a (&& b c))`},
	{`a && b && c`, `(&& a (&& b c))`},
	{`a || b || c`, `(|| a (|| b c))`},
	{`x |> f |> g`, `(|> (|> x f) g)`},
	{`f 10 |> Int.toText`, `(|> (app f 10) Int.toText)`},
	{`a || b |> f`, `(|> (|| a b) f)`},
	{`f x + g y`, `(+ (app f x) (app g y))`},
	{`fib (n - 1) + fib (n - 2)`, `(+ (app fib (- n 1)) (app fib (- n 2)))`},
	{`(a == b) == c`, `(== (== a b) c)`},

	// Lambdas.
	{`x -> x`, `(fn [x] x)`},
	{`x y -> x + y`, `(fn [x y] (+ x y))`},
	{`_ -> 1`, `(fn [_] 1)`},
	{`x -> y -> x`, `(fn [x] (fn [y] x))`},
	{`List.map (n -> at' n '(fib 25)) nodes`, `(app List.map (fn [n] (app at' n (delay (app fib 25)))) nodes)`},
	{`xs |> x -> x + 1`, `(|> xs (fn [x] (+ x 1)))`},
	{`(x -> x) 1`, `(app (fn [x] x) 1)`},
	{`f (x -> x, y -> y)`, `(app f (tuple (fn [x] x) (fn [y] y)))`},

	// Let.
	{`let a = 1 in a`, `(let [(a 1)] a)`},
	{`let a = 1; b = 2 in a + b`, `(let [(a 1) (b 2)] (+ a b))`},
	{`let a = 1; b = 2; in a`, `(let [(a 1) (b 2)] a)`},
	{`let f x = x + 1 in f 2`, `(let [(f [x] (+ x 1))] (app f 2))`},
	{`let f x y = x in f`, `(let [(f [x y] x)] f)`},
	{"let a = 1\n    b = 2\nin a", `(let [(a 1) (b 2)] a)`},
	{"let\n  a = 1\n  b = a + 2\n  f x = x * b\nin f 10 |> Int.toText",
		`(let [(a 1) (b (+ a 2)) (f [x] (* x b))] (|> (app f 10) Int.toText))`},
	{"let\n  a = f\n    1\n    2\n  b = 3\nin a", `(let [(a (app f 1 2)) (b 3)] a)`},
	{"let\n  a = (f\n 1)\n  b = 3\nin a", `(let [(a (app f 1)) (b 3)] a)`},
	{"let\n  a = [1,\n2]\nin a", `(let [(a (list 1 2))] a)`},
	{"let a = 1 in\nlet b = 2 in\na + b", `(let [(a 1)] (let [(b 2)] (+ a b)))`},
	{"let a = let b = 1 in b in a", `(let [(a (let [(b 1)] b))] a)`},
	{"let\n  f = let a = 1\n          b = 2\n      in a + b\n  g = 3\nin f + g",
		`(let [(f (let [(a 1) (b 2)] (+ a b))) (g 3)] (+ f g))`},
	{"let\n  y = match x with\n    | A -> 1\n    | B -> 2\n  z = 3\nin y",
		`(let [(y (match x (A -> 1) (B -> 2))) (z 3)] y)`},
	{"let a = x -> x; b = 2 in a", `(let [(a (fn [x] x)) (b 2)] a)`},
	{"let a = 1 in a + 1", `(let [(a 1)] (+ a 1))`},
	{"1 + let a = 1 in a", `(+ 1 (let [(a 1)] a))`},
	{"let a = 1\n    in a", `(let [(a 1)] a)`},

	// If.
	{`if c then a else b`, `(if c a b)`},
	{`if n < 2 then n else fib (n - 1) + fib (n - 2)`, `(if (< n 2) n (+ (app fib (- n 1)) (app fib (- n 2))))`},
	{`if a then b else if c then d else e`, `(if a b (if c d e))`},
	{`if if a then b else c then d else e`, `(if (if a b c) d e)`},
	{`1 + if c then 1 else 2 + 3`, `(+ 1 (if c 1 (+ 2 3)))`},
	{"if c\n  then a\n  else b", `(if c a b)`},

	// Match, with every pattern kind.
	{`match x with | A -> 1`, `(match x (A -> 1))`},
	{"match s with\n  | Circle r -> 3.14159 * r * r\n  | Rect w h -> w * h",
		`(match s ((Circle r) -> (* (* 3.14159f r) r)) ((Rect w h) -> (* w h)))`},
	{`match xs with | [] -> acc | x :: rest -> go rest (acc + x)`,
		`(match xs ((plist) -> acc) ((:: x rest) -> (app go rest (+ acc x))))`},
	{`match p with | [a, b] -> a | [a, b,] -> b | [_] -> 0`,
		`(match p ((plist a b) -> a) ((plist a b) -> b) ((plist _) -> 0))`},
	{`match n with | 0 -> a | -1 -> b | 0x10 -> c | 1.5 -> d | -2.5 -> e`,
		`(match n ((lit 0) -> a) ((lit -1) -> b) ((lit 16) -> c) ((lit 1.5f) -> d) ((lit -2.5f) -> e))`},
	{`match t with | "x" -> 1 | true -> 2 | false -> 3 | () -> 4 | 0xsab -> 5`,
		`(match t ((lit "x") -> 1) ((lit true) -> 2) ((lit false) -> 3) ((lit ()) -> 4) ((lit 0xsab) -> 5))`},
	{`match t with | (a, b) -> a | (a, (b, _)) -> b`,
		`(match t ((ptuple a b) -> a) ((ptuple a (ptuple b _)) -> b))`},
	{`match t with | _ -> 0`, `(match t (_ -> 0))`},
	{`match t with | Just (Just x) -> x | Just Nothing -> 0 | Nothing -> 1`,
		`(match t ((Just (Just x)) -> x) ((Just Nothing) -> 0) (Nothing -> 1))`},
	{`match t with | Cons2 a (Cons2 b rest) -> a | Maybe.Just _ -> b`,
		`(match t ((Cons2 a (Cons2 b rest)) -> a) ((Maybe.Just _) -> b))`},
	{`match t with | Just -1 -> a | Just (-1) -> b`, `(match t ((Just (lit -1)) -> a) ((Just (lit -1)) -> b))`},
	{`match t with | a :: b :: rest -> a`, `(match t ((:: a (:: b rest)) -> a))`},
	{`match t with | (a :: b) :: rest -> a`, `(match t ((:: (:: a b) rest) -> a))`},
	{`match t with | Just x :: rest -> x`, `(match t ((:: (Just x) rest) -> x))`},
	{`match t with | (x) -> x`, `(match t (x -> x))`},
	{`match t with | #bafyabc#1 x -> x | #bafyabc -> 0`, `(match t ((#bafyabc#1 x) -> x) (#bafyabc -> 0))`},
	{"match x with\n| A -> 1\n| B -> 2", `(match x (A -> 1) (B -> 2))`},
	{`match x with | A -> (match y with | B -> 1) | C -> 2`, `(match x (A -> (match y (B -> 1))) (C -> 2))`},
	{`match x with | A -> match y with | B -> 1 | C -> 2`, `(match x (A -> (match y (B -> 1) (C -> 2))))`},
	{`match f x with | A -> x -> x | B -> y`, `(match (app f x) (A -> (fn [x] x)) (B -> y))`},
	{`match x with | A -> if c then 1 else 2 | B -> 3`, `(match x (A -> (if c 1 2)) (B -> 3))`},
}

// fileTests are parsed with ParseFile.
var fileTests = []struct {
	src, want string
}{
	{"x = 1", `(def x [] 1)`},
	{"f x y = x", `(def f [x y] x)`},
	{"Stats.mean xs = xs", `(def Stats.mean [xs] xs)`},
	{"at'' x = x", `(def at'' [x] x)`},
	{"f x =\n  x\n\ng y =\n  y", "(def f [x] x)\n(def g [y] y)"},
	{"f = 1\n  + 2\n-- comment in column 1\n  -- indented comment\n  * 3", `(def f [] (+ 1 (* 2 3)))`},
	{"\n\n-- leading comment\n\nf = 1\n\n\n", `(def f [] 1)`},
	{"f = 1\r\ng = 2\r\n", "(def f [] 1)\n(def g [] 2)"},
	{"\xEF\xBB\xBFf = 1", `(def f [] 1)`},
	{"f =\n\tg", `(def f [] g)`},
	{"type Maybe a = Nothing | Just a", `(type Maybe [a] (Nothing) (Just a))`},
	{"type Shape = Circle Float | Rect Float Float", `(type Shape [] (Circle Float) (Rect Float Float))`},
	{"type List2 a = Nil2 | Cons2 a (List2 a)", `(type List2 [a] (Nil2) (Cons2 a (tapp List2 a)))`},
	{"type Fn a b = Fn (a -> b)", `(type Fn [a b] (Fn (-> a b)))`},
	{"type P a b = P (a, b) ()", `(type P [a b] (P (ttuple a b) (ttuple)))`},
	{"type T a = T (a -> a -> a) ((a -> a) -> a)", `(type T [a] (T (-> a (-> a a)) (-> (-> a a) a)))`},
	{"type T = T (Map Text (List Int)) (Either Err Int)", `(type T [] (T (tapp Map Text (tapp List Int)) (tapp Either Err Int)))`},
	{"type T = T (Optional.T a) #bafyx#1", `(type T [] (T (tapp Optional.T a) #bafyx#1))`},
	{"type T = T ((f a) b) (a)", `(type T [] (T (tapp (tapp f a) b) a))`},
	{"type Shape\n  = Circle Float\n  | Rect Float Float", `(type Shape [] (Circle Float) (Rect Float Float))`},
	{"type Shape =\n  | Circle Float\n  | Rect Float Float", `(type Shape [] (Circle Float) (Rect Float Float))`},
	{"type Geo.Point = Point Float Float", `(type Geo.Point [] (Point Float Float))`},
	{"area s = match s with\n  | Circle r -> 3.14159 * r * r\n  | Rect w h -> w * h\nnext = 1",
		"(def area [s] (match s ((Circle r) -> (* (* 3.14159f r) r)) ((Rect w h) -> (* w h))))\n(def next [] 1)"},
	{"main =\n  let\n    a = 1\n    b = a + 2\n    f x = x * b\n  in f 10 |> Int.toText",
		`(def main [] (let [(a 1) (b (+ a 2)) (f [x] (* x b))] (|> (app f 10) Int.toText)))`},
	{"sumAt nodes =\n  let fs = List.map (n -> at' n '(fib 25)) nodes\n  in List.sum (List.map await fs)",
		`(def sumAt [nodes] (let [(fs (app List.map (fn [n] (app at' n (delay (app fib 25)))) nodes))] (app List.sum (app List.map await fs))))`},
}

func TestParseExpr(t *testing.T) {
	for _, tc := range exprTests {
		e, err := ParseExpr("test.u", []byte(tc.src))
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tc.src, err)
			continue
		}
		if got := dump(e); got != tc.want {
			t.Errorf("ParseExpr(%q)\n got %s\nwant %s", tc.src, got, tc.want)
		}
	}
}

func TestParseFile(t *testing.T) {
	for _, tc := range fileTests {
		f, err := ParseFile("test.u", []byte(tc.src))
		if err != nil {
			t.Errorf("ParseFile(%q): %v", tc.src, err)
			continue
		}
		if got := dump(f); got != tc.want {
			t.Errorf("ParseFile(%q)\n got %s\nwant %s", tc.src, got, tc.want)
		}
	}
}

// TestExprsAsDecls runs every expression case again as a declaration body,
// indented, so the file-mode layout rule sees them too.
func TestExprsAsDecls(t *testing.T) {
	for _, tc := range exprTests {
		src := "v =\n  " + strings.ReplaceAll(tc.src, "\n", "\n  ")
		f, err := ParseFile("test.u", []byte(src))
		if err != nil {
			t.Errorf("ParseFile(%q): %v", src, err)
			continue
		}
		if got, want := dump(f), "(def v [] "+tc.want+")"; got != want {
			t.Errorf("ParseFile(%q)\n got %s\nwant %s", src, got, want)
		}
	}
}

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("testdata/*.u")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "errors.u") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseFile(name, src); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestPositions(t *testing.T) {
	src := "-- header\nf x =\n  let a = (b + c) * d\n  in g a\n\ntype T a = K a | L\nh = match x with\n  | Just (y :: ys) -> -1\n"
	f, err := ParseFile("pos.u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	at := func(what string, p Pos, line, col int) {
		t.Helper()
		if p != (Pos{File: "pos.u", Line: line, Col: col}) {
			t.Errorf("%s at %v, want pos.u:%d:%d", what, p, line, col)
		}
	}
	def := f.Decls[0].(*DefDecl)
	at("def", def.Pos, 2, 1)
	let := def.Body.(*Let)
	at("let", let.Pos, 3, 3)
	at("binding", let.Bindings[0].Pos, 3, 7)
	mul := let.Bindings[0].Value.(*BinOp)
	at("(b + c) * d", mul.Pos, 3, 11)
	at("b + c", mul.L.ExprPos(), 3, 12)
	at("d", mul.R.ExprPos(), 3, 21)
	app := let.Body.(*App)
	at("g a", app.Pos, 4, 6)
	at("a", app.Args[0].ExprPos(), 4, 8)

	td := f.Decls[1].(*TypeDecl)
	at("type", td.Pos, 6, 1)
	at("ctor K", td.Ctors[0].Pos, 6, 12)
	at("field a", td.Ctors[0].Fields[0].TypePos(), 6, 14)
	at("ctor L", td.Ctors[1].Pos, 6, 18)

	m := f.Decls[2].(*DefDecl).Body.(*Match)
	at("match", m.Pos, 7, 5)
	arm := m.Arms[0]
	at("arm", arm.Pos, 8, 3)
	pc := arm.Pattern.(*PCtor)
	at("Just", pc.Pos, 8, 5)
	at("y :: ys", pc.Args[0].PatPos(), 8, 11)
	at("-1", arm.Body.ExprPos(), 8, 23)
}

func TestErrorListCap(t *testing.T) {
	var src strings.Builder
	for i := range MaxShownErrors + 3 {
		fmt.Fprintf(&src, "f%d = (\n", i)
	}
	_, err := ParseFile("m.u", []byte(src.String()))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxShownErrors+1 || lines[MaxShownErrors] != "(and 3 more errors)" {
		t.Errorf("Error() has %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestErrorListBehaviour(t *testing.T) {
	_, err := ParseFile("m.u", []byte("a = (\nb = 1\nc = if x 1\nd = 2\n"))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err is %T, want ErrorList", err)
	}
	if len(list) != 2 {
		t.Fatalf("got %d errors, want 2: %v", len(list), list.Full())
	}
	if list[0].Pos.Line != 1 || list[1].Pos.Line != 3 {
		t.Errorf("errors not sorted or misplaced:\n%s", list.Full())
	}
	// Every error is shown, one per line, not only the first (issue 13).
	if got, want := err.Error(), list[0].Error()+"\n"+list[1].Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var first *Error
	if !errors.As(err, &first) || first != list[0] {
		t.Errorf("errors.As(*Error) did not find the first error")
	}
	// The declarations around the broken ones still parse.
	f, _ := ParseFile("m.u", []byte("a = (\nb = 1\nc = if x 1\nd = 2\n"))
	if got := dump(f); got != "(def b [] 1)\n(def d [] 2)" {
		t.Errorf("partial file = %s", got)
	}
}

func TestTooManyErrors(t *testing.T) {
	src := strings.Repeat("x = (\n", 2*MaxErrors)
	_, err := ParseFile("many.u", []byte(src))
	list := err.(ErrorList)
	if len(list) != MaxErrors+1 || !strings.Contains(list[len(list)-1].Msg, "too many errors") {
		t.Errorf("got %d errors, last %v", len(list), list[len(list)-1])
	}
}

func TestSourceTooLarge(t *testing.T) {
	src := make([]byte, MaxSourceSize+1)
	for i := range src {
		src[i] = ' '
	}
	if _, err := ParseFile("big.u", src); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("err = %v", err)
	}
	if _, err := ParseExpr("big.u", src); err == nil {
		t.Errorf("ParseExpr accepted an oversized source")
	}
}

// TestErrorsTestdata runs testdata/errors.u: chunks separated by "---"
// lines, each listing its expected errors as "-- want: L:C: text" comments.
func TestErrorsTestdata(t *testing.T) {
	data, err := os.ReadFile("testdata/errors.u")
	if err != nil {
		t.Fatal(err)
	}
	for i, chunk := range strings.Split(string(data), "\n---\n") {
		var wants []string
		for _, line := range strings.Split(chunk, "\n") {
			if w, ok := strings.CutPrefix(line, "-- want: "); ok {
				wants = append(wants, "chunk.u:"+w)
			}
		}
		_, err := ParseFile("chunk.u", []byte(chunk))
		var got ErrorList
		if err != nil {
			got = err.(ErrorList)
		}
		if len(got) != len(wants) {
			t.Errorf("chunk %d: got %d errors, want %d:\n%s", i, len(got), len(wants), got.Full())
			continue
		}
		for j, w := range wants {
			if !strings.HasPrefix(got[j].Error(), w) {
				t.Errorf("chunk %d error %d:\n got %s\nwant %s...", i, j, got[j], w)
			}
		}
	}
}

func BenchmarkParseFile(b *testing.B) {
	src, err := os.ReadFile("testdata/features.u")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := ParseFile("features.u", src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatFile(b *testing.B) {
	src, _ := os.ReadFile("testdata/features.u")
	f, err := ParseFile("features.u", src)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		FormatFile(f)
	}
}

// Operator sections and let destructuring parse to the lambda and the
// match they stand for, and print back as written (issue 13).
func TestSectionsAndLetPatterns(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"(-)", "(-)"},
		{"flip (-) 3", "flip (-) 3"},
		{"(+ 1)", "(+ 1)"},
		{"(10 -)", "(10 -)"},
		{"(a * b +)", "(a * b +)"},
		{"(::)", "(::)"},
		{`("<" ++)`, `("<" ++)`},
		{"(- 1)", "-1"},
		{"(- x)", "-x"},
		{"(f x |>)", "(f x |>)"},
		{"let (a, b) = p in a", "let (a, b) = p in a"},
		{"let Pair x _ = p in x", "let Pair x _ = p in x"},
		{"let (x :: _) = l in x", "let (x :: _) = l in x"},
		{"let a = 1; (b, c) = p; d = b in d", "let\n  a = 1\n  (b, c) = p\n  d = b\nin d"},
		{"let a = 1 in let b = 2 in b", "let a = 1 in let b = 2 in b"},
		{"match p with\n| (a, b) -> a", "match p with\n| (a, b) -> a"},
	} {
		e, err := ParseExpr("t", []byte(tc.src))
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got := FormatExpr(e); got != tc.want {
			t.Errorf("%s formats as %q, want %q", tc.src, got, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{"(a + b *)", `binds less tightly than "*"`},
		{"(a :: b ::)", `binds less tightly than "::"`},
		{"(x -> x +)", "extends to it"},
		{"(+ 1", `")" to close the operator section`},
		{"let (a, b) in a", `"=" after the pattern of a let binding`},
	} {
		_, err := ParseExpr("t", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
	// Several bindings, pattern and plain, on their own lines.
	src := "f p =\n  let (a, b) = p\n      c = a + b\n      [d] = [c]\n  in d\n"
	f, err := ParseFile("t.u", []byte(src))
	if err != nil {
		t.Fatalf("multi-line let with patterns: %v", err)
	}
	// It prints back as the let it is, and that parses to the same tree.
	out := FormatFile(f)
	if want := "f p =\n  let\n    (a, b) = p\n    c = a + b\n    [d] = [c]\n  in d\n"; out != want {
		t.Errorf("formats as\n%s\nwant\n%s", out, want)
	}
	f2, err := ParseFile("t2.u", []byte(out))
	if err != nil {
		t.Fatalf("formatted let does not parse: %v\n%s", err, out)
	}
	if dump(f) != dump(f2) || !f2.Decls[0].(*DefDecl).Body.(*Match).Let {
		t.Errorf("formatted let parses to another tree:\n%s\n%s", dump(f), dump(f2))
	}
}
