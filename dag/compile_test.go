package dag_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

func compileSrc(t *testing.T, src string) *dag.Compiled {
	t.Helper()
	f, err := syntax.ParseFile("test.u", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	c, err := dag.Compile(f, dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	return c
}

func refOf(t *testing.T, c *dag.Compiled, name string) dag.NameRef {
	t.Helper()
	r, ok := c.Lookup(name)
	if !ok {
		r, ok = c.LookupType(name)
	}
	if !ok {
		t.Fatalf("%s not declared", name)
	}
	return r
}

// sameRefs checks that names in a map to the same references as the
// corresponding names in b.
func sameRefs(t *testing.T, a, b *dag.Compiled, names map[string]string) {
	t.Helper()
	for na, nb := range names {
		ra, rb := refOf(t, a, na), refOf(t, b, nb)
		if ra != rb {
			t.Errorf("%s = %v but %s = %v; want equal", na, ra, nb, rb)
		}
	}
}

const baseSrc = `
type Maybe a = Nothing | Just a

fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)

isEven n = if n == 0 then true else isOdd (n - 1)
isOdd n = if n == 0 then false else isEven (n - 1)

double x = x * 2
quad x = double (double x)

safeHead xs = match xs with
  | [] -> Nothing
  | x :: _ -> Just x

sumTo n =
  let go i acc = if i > n then acc else go (i + 1) (acc + i)
  in go 1 0
`

func TestRenameReformatReorderKeepCIDs(t *testing.T) {
	base := compileSrc(t, baseSrc)
	// Every definition and every local renamed, constructors and the type
	// renamed, reformatted (extra parentheses, layout, comments) and the
	// declarations in another order.
	renamed := compileSrc(t, `
-- the same program, renamed and shuffled
sumUpTo limit =
  let
    loop k total = if k > limit then total else loop (k + 1) (total + k)
  in
    loop 1 0

odd' m = if m == 0 then false else even' (m - 1)

first ys = match ys with
  | [] -> None'
  | (y :: _) -> Some' y

timesFour v = twice (twice v)
twice y = (y * 2)

type Opt t = None' | Some' t

fibonacci k =
  if (k < 2)
  then k
  else (fibonacci (k - 1)) + (fibonacci (k - 2))

even' m = if m == 0 then true else odd' (m - 1)
`)
	sameRefs(t, base, renamed, map[string]string{
		"Maybe": "Opt", "Nothing": "None'", "Just": "Some'",
		"fib": "fibonacci", "isEven": "even'", "isOdd": "odd'",
		"double": "twice", "quad": "timesFour", "safeHead": "first", "sumTo": "sumUpTo",
	})
}

func TestLambdaAndApplicationNormalization(t *testing.T) {
	a := compileSrc(t, "f x y = x + y\ng = f 1 2\n")
	b := compileSrc(t, "f = x -> y -> x + y\ng = (f 1) 2\n")
	c := compileSrc(t, "f x = y -> x + y\ng = 1 |> f |> (h -> h 2)\n")
	sameRefs(t, a, b, map[string]string{"f": "f", "g": "g"})
	sameRefs(t, a, c, map[string]string{"f": "f"})
}

func TestChangedBodyChangesDependents(t *testing.T) {
	a := compileSrc(t, "double x = x * 2\nquad x = double (double x)\nother = 1\n")
	b := compileSrc(t, "double x = x * 3\nquad x = double (double x)\nother = 1\n")
	for _, n := range []string{"double", "quad"} {
		if refOf(t, a, n) == refOf(t, b, n) {
			t.Errorf("%s kept its CID after double's body changed", n)
		}
	}
	if refOf(t, a, "other") != refOf(t, b, "other") {
		t.Errorf("an unrelated definition changed CID")
	}
	// Changing one member of a cycle changes every member.
	c1 := compileSrc(t, "isEven n = if n == 0 then true else isOdd (n - 1)\nisOdd n = if n == 0 then false else isEven (n - 1)\n")
	c2 := compileSrc(t, "isEven n = if n == 0 then true else isOdd (n - 1)\nisOdd n = if n == 1 then true else isEven (n - 1)\n")
	if refOf(t, c1, "isEven").Def.CID == refOf(t, c2, "isEven").Def.CID {
		t.Errorf("changing isOdd did not change the cycle block")
	}
}

func TestCycleOrderIsStructural(t *testing.T) {
	// Members alike up to which member they call: the tie-break must not
	// depend on names or declaration order.
	srcs := []string{
		"a x = b x + c x\nb x = a (x - 1)\nc x = a (x - 2)\n",
		"c x = a (x - 2)\nb x = a (x - 1)\na x = b x + c x\n",
		"p x = q x + r x\nr x = p (x - 2)\nq x = p (x - 1)\n",
	}
	var got []*dag.Compiled
	for _, s := range srcs {
		got = append(got, compileSrc(t, s))
	}
	sameRefs(t, got[0], got[1], map[string]string{"a": "a", "b": "b", "c": "c"})
	sameRefs(t, got[0], got[2], map[string]string{"a": "p", "b": "q", "c": "r"})
	// A fully symmetric cycle: renaming swaps nothing observable.
	s1 := compileSrc(t, "ping n = if n == 0 then 0 else pong (n - 1)\npong n = if n == 0 then 0 else ping (n - 1)\n")
	s2 := compileSrc(t, "pong n = if n == 0 then 0 else ping (n - 1)\nping n = if n == 0 then 0 else pong (n - 1)\n")
	if refOf(t, s1, "ping").Def.CID != refOf(t, s2, "ping").Def.CID {
		t.Errorf("symmetric cycle hashed differently when reordered")
	}
	// Mutually recursive types.
	t1 := compileSrc(t, "type Tree = Leaf Int | Node Forest\ntype Forest = Nil | Cons Tree Forest\n")
	t2 := compileSrc(t, "type Woods = Empty | More Plant Woods\ntype Plant = Tip Int | Branch Woods\n")
	sameRefs(t, t1, t2, map[string]string{"Tree": "Plant", "Forest": "Woods", "Leaf": "Tip", "Cons": "More"})
}

// Golden CIDs: an accidental change to the block format, the term
// encoding or the normalization fails here. Update them only with a
// deliberate, documented format change.
func TestGoldenCIDs(t *testing.T) {
	c := compileSrc(t, baseSrc)
	golden := map[string]string{
		"fib":      "",
		"isEven":   "",
		"Maybe":    "",
		"safeHead": "",
		"sumTo":    "",
	}
	data, err := os.ReadFile(filepath.Join("testdata", "golden_cids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, ref, ok := strings.Cut(line, " ")
		if ok {
			golden[name] = ref
		}
	}
	for name, want := range golden {
		got := refOf(t, c, name).Def.String()
		if got != want {
			t.Errorf("%s: CID %s, golden %s", name, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"f x = y\n", "test.u:1:7: unknown name y"},
		{"f = Nope 1\n", "unknown name Nope"},
		{"type T = A | B\nf x = match x with\n  | A y -> y\n", "takes 0 arguments"},
		{"f x = 1\nf y = 2\n", "declared twice"},
		{"type T a = A b\n", "type variable b"},
		{"f x = match x with\n  | (a, a) -> a\n", "bound twice"},
		{"f x x = x\n", "parameter x is declared twice"},
	}
	for _, tc := range cases {
		f, err := syntax.ParseFile("test.u", []byte(tc.src))
		if err != nil {
			t.Fatalf("parse %q: %v", tc.src, err)
		}
		_, err = dag.Compile(f, dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compile %q: error %v, want it to contain %q", tc.src, err, tc.want)
		}
		var list syntax.ErrorList
		if err != nil && !errors.As(err, &list) {
			t.Errorf("compile %q: error %T is not a syntax.ErrorList", tc.src, err)
		}
	}
}

// TestDecompileRoundTrip decompiles every definition of the example
// programs, prints it, parses it again and checks the CID is unchanged.
func TestDecompileRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "eval", "testdata", "*.u"))
	files = append(files, "inline")
	checked := 0
	defer func() {
		if checked < 10 {
			t.Errorf("only %d programs were round-tripped; the example corpus is missing", checked)
		}
	}()
	for _, file := range files {
		src := []byte(baseSrc)
		if file != "inline" {
			var err error
			if src, err = os.ReadFile(file); err != nil {
				t.Fatal(err)
			}
		}
		f, err := syntax.ParseFile(file, src)
		if err != nil {
			continue // error fixtures
		}
		opts := dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor}
		c, err := dag.Compile(f, opts)
		if err != nil {
			continue
		}
		// Decompile everything into one file, with names restored.
		terms := map[dag.DefRef]dag.Term{}
		types := map[dag.DefRef]*dag.DataDecl{}
		for _, b := range c.Blocks {
			if kind, _ := dag.BlockKind(b.Data); kind == "type" {
				tb, err := dag.DecodeTypeBlock(b.Data)
				if err != nil {
					t.Fatal(err)
				}
				for i, m := range tb.Members {
					types[dag.DefRef{CID: b.CID, Member: i}] = m
				}
				continue
			}
			tb, err := dag.DecodeTermBlock(b.Data)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range tb.Members {
				terms[dag.DefRef{CID: b.CID, Member: i}] = m
			}
		}
		nameOf := map[dag.NameRef]string{}
		for _, e := range c.Names {
			if _, ok := nameOf[e.Ref]; !ok || len(e.Name) < len(nameOf[e.Ref]) {
				nameOf[e.Ref] = e.Name
			}
		}
		ctorName := func(tr dag.TypeRef, i int) string {
			if tr.Builtin != "" {
				return eval.BuiltinCtorName(tr, i)
			}
			for ref, n := range nameOf {
				if ref.Kind == dag.KindCtor && ref.Def == tr.Def && ref.Ctor == i {
					return n
				}
			}
			return ""
		}
		hints := map[dag.DefRef][]string{}
		for _, h := range c.Hints {
			hints[h.Def] = h.Names
		}
		var out strings.Builder
		for _, e := range c.Names {
			switch e.Ref.Kind {
			case dag.KindTerm:
				block := e.Ref.Def.CID
				n := dag.Naming{
					Def: func(r dag.DefRef) string { return nameOf[dag.NameRef{Kind: dag.KindTerm, Def: r}] },
					Self: func(m int) string {
						return nameOf[dag.NameRef{Kind: dag.KindTerm, Def: dag.DefRef{CID: block, Member: m}}]
					},
					Ctor: ctorName,
				}
				out.WriteString(syntax.FormatDecl(dag.DecompileDef(e.Name, terms[e.Ref.Def], hints[e.Ref.Def], n)) + "\n\n")
			case dag.KindType:
				dd := types[e.Ref.Def]
				var cn []string
				for i := range dd.Ctors {
					cn = append(cn, ctorName(dag.TypeRef{Def: e.Ref.Def}, i))
				}
				block := e.Ref.Def.CID
				n := dag.Naming{
					Type: func(r dag.DefRef) string { return nameOf[dag.NameRef{Kind: dag.KindType, Def: r}] },
					Self: func(m int) string {
						return nameOf[dag.NameRef{Kind: dag.KindType, Def: dag.DefRef{CID: block, Member: m}}]
					},
				}
				out.WriteString(syntax.FormatDecl(dag.DecompileType(e.Name, dd, cn, n)) + "\n\n")
			}
		}
		f2, err := syntax.ParseFile(file+" (decompiled)", []byte(out.String()))
		if err != nil {
			t.Errorf("%s: decompiled source does not parse: %v\n%s", file, err, out.String())
			continue
		}
		c2, err := dag.Compile(f2, opts)
		if err != nil {
			t.Errorf("%s: decompiled source does not compile: %v\n%s", file, err, out.String())
			continue
		}
		checked++
		for _, e := range c.Names {
			r2, ok := c2.Lookup(e.Name)
			if e.Ref.Kind == dag.KindType {
				r2, ok = c2.LookupType(e.Name)
			}
			if !ok || r2 != e.Ref {
				t.Errorf("%s: %s changed CID after decompile/print/parse: %v -> %v\n%s", file, e.Name, e.Ref, r2, out.String())
			}
		}
	}
}
