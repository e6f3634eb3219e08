package syntax

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzzers check the parser's contract on arbitrary input: it never
// panics, every failure is a non-empty ErrorList of positioned errors, and
// whatever parses survives a format/parse round trip unchanged.

func FuzzParseFile(f *testing.F) {
	for _, tc := range fileTests {
		f.Add(tc.src)
	}
	for _, tc := range exprTests {
		f.Add("v =\n  " + strings.ReplaceAll(tc.src, "\n", "\n  "))
	}
	for _, tc := range errorTests {
		if !tc.expr {
			f.Add(tc.src)
		}
	}
	files, _ := filepath.Glob("testdata/*.u")
	for _, name := range files {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(string(src))
		}
	}
	g := &treeGen{r: rand.New(rand.NewPCG(5, 6))}
	for range 100 {
		f.Add(FormatDecl(&DefDecl{Name: "v", Params: []string{"x"}, Body: g.expr(4)}))
	}
	// Sections and let patterns (issue 13).
	f.Add("v = flip (-) 3 (+ 1) (a * b +) (::) (\"<\" ++) (- 1)\n")
	f.Add("v p =\n  let (a, b) = p\n      Pair c d = q\n      [e] = r\n      g = 1\n  in (a, (b |>))\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := ParseFile("fuzz.u", []byte(src))
		if err != nil {
			checkErrorList(t, err)
			return
		}
		out := FormatFile(file)
		file2, err := ParseFile("fuzz.u", []byte(out))
		if err != nil {
			t.Fatalf("formatted file does not parse: %v\nsource:\n%s\nformatted:\n%s", err, src, out)
		}
		if d := equalAST(file.Decls, file2.Decls); d != "" {
			t.Fatalf("round trip changed the tree at %s\nsource:\n%s\nformatted:\n%s", d, src, out)
		}
	})
}

func FuzzParseExpr(f *testing.F) {
	for _, tc := range exprTests {
		f.Add(tc.src)
	}
	for _, tc := range errorTests {
		if tc.expr {
			f.Add(tc.src)
		} else if _, body, ok := strings.Cut(tc.src, "="); ok {
			f.Add(body)
		}
	}
	for _, tc := range formatGolden {
		f.Add(tc.src)
		f.Add(tc.want)
	}
	// Formatted random trees give the mutator nested, well-formed input
	// that byte-level mutation rarely builds on its own.
	g := &treeGen{r: rand.New(rand.NewPCG(3, 4))}
	for range 100 {
		f.Add(FormatExpr(g.expr(4)))
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseExpr("fuzz.u", []byte(src))
		if err != nil {
			checkErrorList(t, err)
			return
		}
		out := FormatExpr(e)
		e2, err := ParseExpr("fuzz.u", []byte(out))
		if err != nil {
			t.Fatalf("formatted expression does not parse: %v\nsource:\n%s\nformatted:\n%s", err, src, out)
		}
		if d := equalAST(e, e2); d != "" {
			t.Fatalf("round trip changed the tree at %s\nsource:\n%s\nformatted:\n%s", d, src, out)
		}
	})
}

func checkErrorList(t *testing.T, err error) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error %v (%T) is not a non-empty ErrorList", err, err)
	}
	for _, e := range list {
		if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.File != "fuzz.u" || e.Msg == "" {
			t.Fatalf("malformed error %#v", e)
		}
	}
}
