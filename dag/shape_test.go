package dag_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// shapeSrc groups lambda parameters and nests lets in ways the compiler
// merges; each definition is shown as written, and its merged twin (the
// decompiler's default) hashes the same.
var shapeSrc = []struct{ src, merged string }{
	{"f = x y -> z -> let w = x + y in let v = w * z in v",
		"f x y z =\n  let\n    w = x + y\n    v = w * z\n  in v"},
	{"g1 x = y -> z -> x + y + z", "g1 x y z = x + y + z"},
	{"g2 = x -> y -> z -> x + y + z", "g2 x y z = x + y + z"},
	{"g3 = x y z -> x + y + z", "g3 x y z = x + y + z"},
	{"g4 xs = List.map (a -> b -> a + b) xs", "g4 xs = List.map (a b -> a + b) xs"},
	{"l1 = let a = 1 in let b = 2 in let c = 3 in a + b + c",
		"l1 =\n  let\n    a = 1\n    b = 2\n    c = 3\n  in a + b + c"},
	{"l2 =\n  let\n    a = 1\n    b = 2\n  in let c = 3 in a + b + c",
		"l2 =\n  let\n    a = 1\n    b = 2\n    c = 3\n  in a + b + c"},
	{"l3 =\n  let\n    f = x -> y -> x + y\n    g = a b -> a\n  in f 1 (g 2 3)",
		"l3 =\n  let\n    f x y = x + y\n    g a b = a\n  in f 1 (g 2 3)"},
	{"l4 n = let go = i -> if i == 0 then 0 else go (i - 1) in go n",
		"l4 n = let go i = if i == 0 then 0 else go (i - 1) in go n"},
	{"l5 n =\n  let\n    go i = if i == 0 then 0 else go (i - 1)\n  in let m = go n in m",
		"l5 n =\n  let\n    go i = if i == 0 then 0 else go (i - 1)\n    m = go n\n  in m"},
	// A break after the 7th parameter is not kept: the default merges it.
	{"p8 a b c d e f g = h -> a", "p8 a b c d e f g h = a"},
	{"p7 a b c d e f = g -> h -> a", "p7 a b c d e f g h = a"},
}

// shapeWant is what show prints where it is not the source itself.
var shapeWant = map[string]string{
	"p8": "p8 a b c d e f g h = a",
	"p7": "p7 a b c d e f = g h -> a",
}

func TestShowSourceShape(t *testing.T) {
	var src, merged strings.Builder
	for _, d := range shapeSrc {
		src.WriteString(d.src + "\n\n")
		merged.WriteString(d.merged + "\n\n")
	}
	c := compileSrc(t, src.String())
	cm := compileSrc(t, merged.String())
	ctx := context.Background()
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	if err := s.AddBlocks(ctx, c.Blocks); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNames(ctx, c.Names, c.Hints); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPositions(ctx, c.Positions); err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	for _, d := range shapeSrc {
		name, _, _ := strings.Cut(d.src, " ")
		ref := refOf(t, c, name)
		if m := refOf(t, cm, name); m != ref {
			t.Errorf("%s: the grouping changed the hash: %v, merged %v", name, ref, m)
		}
		term, err := s.LoadTerm(ctx, ref.Def)
		if err != nil {
			t.Fatal(err)
		}
		hints, err := s.HintsFor(ctx, ref.Def, name)
		if err != nil {
			t.Fatal(err)
		}
		forms, err := s.Forms(ctx, ref.Def, name)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := shapeWant[name]
		if !ok {
			want = d.src
		}
		got := syntax.FormatDecl(dag.DecompileDefForms(name, term, hints, forms, dag.Naming{}))
		if got != want {
			t.Errorf("show %s:\n%s\nwant\n%s", name, got, want)
		}
		shown.WriteString(got + "\n\n")
		// Without a record (a peer's code): the default, unchanged.
		if got := syntax.FormatDecl(dag.DecompileDefForms(name, term, hints, nil, dag.Naming{})); got != d.merged {
			t.Errorf("show %s without forms:\n%s\nwant\n%s", name, got, d.merged)
		}
		// The merged source has nothing to record.
		if mf, _ := s.Forms(ctx, refOf(t, cm, name).Def, name+"_merged"); mf != nil {
			t.Errorf("%s: forms for a name never added: %v", name, mf)
		}
	}
	for _, p := range cm.Positions {
		if p.Forms != nil {
			t.Errorf("merged %s records forms %v", p.Name, p.Forms)
		}
	}
	// What show prints is the same code.
	c2 := compileSrc(t, shown.String())
	for _, d := range shapeSrc {
		name, _, _ := strings.Cut(d.src, " ")
		if a, b := refOf(t, c, name), refOf(t, c2, name); a != b {
			t.Errorf("%s: shown source hashes to %v, not %v", name, b, a)
		}
	}
}

// Local names are kept per name: a second name for the same definition,
// written with other locals, does not change how the first shows.
func TestShowLocalNamesPerName(t *testing.T) {
	ctx := context.Background()
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	add := func(src string) *dag.Compiled {
		c := compileSrc(t, src)
		if err := s.AddBlocks(ctx, c.Blocks); err != nil {
			t.Fatal(err)
		}
		if err := s.SetNames(ctx, c.Names, c.Hints); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPositions(ctx, c.Positions); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := add("total xs = List.foldl (acc x -> acc + x) 0 xs\n")
	b := add("sum2 ys = List.foldl (s y -> s + y) 0 ys\n")
	ref := refOf(t, a, "total").Def
	if refOf(t, b, "sum2").Def != ref {
		t.Fatal("total and sum2 hash differently")
	}
	term, err := s.LoadTerm(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"total": "total xs = List.foldl (acc x -> acc + x) 0 xs",
		"sum2":  "sum2 ys = List.foldl (s y -> s + y) 0 ys",
	} {
		hints, err := s.HintsFor(ctx, ref, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := syntax.FormatDecl(dag.DecompileDef(name, term, hints, dag.Naming{})); got != want {
			t.Errorf("show %s = %s, want %s", name, got, want)
		}
	}
}

// Any form table, whatever forms it holds where, changes only the
// spelling: the shown source compiles to the same CID.
func TestRandomFormTables(t *testing.T) {
	var src strings.Builder
	src.WriteString(formsSrc)
	for _, d := range shapeSrc {
		src.WriteString(d.src + "\n")
	}
	c := compileSrc(t, src.String())
	rng := rand.New(rand.NewPCG(13, 2))
	for _, e := range c.Names {
		term := termOf(t, c, e.Ref.Def)
		n := 0
		dag.Preorder(term, func(dag.Term) { n++ })
		for range 20 {
			forms := make([]dag.Form, n)
			for i := range forms {
				forms[i] = dag.Form(rng.IntN(int(dag.NumForms) + 2)) // and two unknown
			}
			src := syntax.FormatDecl(dag.DecompileDefForms(e.Name, term, nil, forms, dag.Naming{}))
			if got := refOf(t, compileSrc(t, src+"\n"), e.Name); got != e.Ref {
				t.Fatalf("%s with forms %v: %s compiles to %v, not %v", e.Name, forms, src, got, e.Ref)
			}
		}
	}
}

// FuzzShowRoundTrip: whatever compiles, shown with the records its add
// keeps (forms, per-name hints), compiles back to the same definitions.
func FuzzShowRoundTrip(f *testing.F) {
	f.Add(formsSrc)
	for _, d := range shapeSrc {
		f.Add(d.src + "\n")
	}
	for _, name := range []string{"features.u", "examples.u", "layout.u"} {
		if src, err := os.ReadFile(filepath.Join("..", "eval", "syntax", "testdata", name)); err == nil {
			f.Add(string(src))
		}
	}
	f.Add("v = (x -> y -> x) (a -> let b = a in let c = b in c) (p -> match p with\n  | (u, w) -> z -> u)\n")
	f.Add("v = [x -> y -> x, x y -> x]\nw = v |> List.map (f -> g -> f)\n")
	f.Add("isEven = n -> if n == 0 then true else isOdd (n - 1)\nisOdd n = if n == 0 then false else isEven (n - 1)\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := syntax.ParseFile("fuzz.u", []byte(src))
		if err != nil {
			return
		}
		opts := dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor}
		c, err := dag.Compile(file, opts)
		if err != nil {
			return
		}
		forms := map[string][]dag.Form{}
		for _, p := range c.Positions {
			forms[p.Name] = p.Forms
		}
		hints := map[dag.DefRef][]string{}
		for _, h := range c.Hints {
			hints[h.Def] = h.Names
		}
		var shown strings.Builder
		var names []dag.NameEntry
		for _, e := range c.Names {
			if e.Ref.Kind != dag.KindTerm {
				continue
			}
			term := termOf(t, c, e.Ref.Def)
			nameOf := func(r dag.DefRef) string {
				for _, x := range c.Names {
					if x.Ref.Kind == dag.KindTerm && x.Ref.Def == r {
						return x.Name
					}
				}
				return ""
			}
			self := func(m int) string { return nameOf(dag.DefRef{CID: e.Ref.Def.CID, Member: m}) }
			n := dag.Naming{Def: nameOf, Self: self}
			shown.WriteString(syntax.FormatDecl(dag.DecompileDefForms(e.Name, term, hints[e.Ref.Def], forms[e.Name], n)) + "\n\n")
			names = append(names, e)
		}
		if len(names) == 0 || strings.Contains(src, "type ") {
			return // types and constructors are not shown here
		}
		f2, err := syntax.ParseFile("shown.u", []byte(shown.String()))
		if err != nil {
			t.Fatalf("shown source does not parse: %v\nsource:\n%s\nshown:\n%s", err, src, shown.String())
		}
		c2, err := dag.Compile(f2, opts)
		if err != nil {
			t.Fatalf("shown source does not compile: %v\nsource:\n%s\nshown:\n%s", err, src, shown.String())
		}
		for _, e := range names {
			if r, ok := c2.Lookup(e.Name); !ok || r != e.Ref {
				t.Fatalf("%s shown compiles to %v, not %v\nsource:\n%s\nshown:\n%s", e.Name, r, e.Ref, src, shown.String())
			}
		}
	})
}
