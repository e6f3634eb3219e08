package syntax_test

import (
	"fmt"

	"github.com/unode-dev/unode/eval/syntax"
)

func ExampleParseFile() {
	src := `-- a comment
fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)

main =
  let
    a = 1
    b = a + 2
  in fib b
`
	f, err := syntax.ParseFile("fib.u", []byte(src))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range f.Decls {
		fmt.Println(d.DeclName(), "at", d.DeclPos())
	}
	// Output:
	// fib at fib.u:2:1
	// main at fib.u:4:1
}

func ExampleParseFile_error() {
	_, err := syntax.ParseFile("bad.u", []byte("main =\n  let a = 1\n  a + 1\n"))
	fmt.Println(err)
	// Output:
	// bad.u:3:3: expected "in" after let bindings, found "a" (this line starts in column 3, not right of the let bindings at column 7, so it ends the binding; indent it further)
}

func ExampleFormatExpr() {
	e, _ := syntax.ParseExpr("expr", []byte(`((1 + 2) * (3 * 4)) :: (xs ++ ys)`))
	fmt.Println(syntax.FormatExpr(e))
	// Output:
	// (1 + 2) * (3 * 4) :: xs ++ ys
}
