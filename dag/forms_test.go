package dag_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// formsSrc declares pairs of definitions that normalize to the same
// term (same CID) but are spelled differently; each must come back from
// the store as written.
const formsSrc = `
orOp a b = a || b
orIf a b = if a then true else b
andOp a b = a && b
andIf a b = if a then b else false
orFalse a = a || false
andTrue a = a && true
pipe xs = xs |> List.map (x -> x + 1) |> List.sum
nested xs = List.sum (List.map (x -> x + 1) xs)
call a b = Op.add a b
plus a b = a + b
negCall x = Op.negate x
neg x = -x
inc = (+ 1)
incLam = y -> y + 1
from10 = (10 -)
sub = (-)
both = (::)
lets p = let (a, b) = p; c = a + b in c * 2
matches p = match p with
  | (a, b) -> let c = a + b in c * 2
local xs = let f = (* 2); g y = y - 1 in List.map f (List.map g xs)
`

// formsWant is what show prints for each, with the forms recorded.
var formsWant = map[string]string{
	"orOp":    "orOp a b = a || b",
	"orIf":    "orIf a b = if a then true else b",
	"andOp":   "andOp a b = a && b",
	"andIf":   "andIf a b = if a then b else false",
	"orFalse": "orFalse a = a || false",
	"andTrue": "andTrue a = a && true",
	"pipe":    "pipe xs = xs |> List.map (x -> x + 1) |> List.sum",
	"nested":  "nested xs = List.sum (List.map (x -> x + 1) xs)",
	"call":    "call a b = Op.add a b",
	"plus":    "plus a b = a + b",
	"negCall": "negCall x = Op.negate x",
	"neg":     "neg x = -x",
	"inc":     "inc = (+ 1)",
	"incLam":  "incLam = y -> y + 1",
	"from10":  "from10 = (10 -)",
	"sub":     "sub = (-)",
	"both":    "both = (::)",
	"lets":    "lets p =\n  let\n    (a, b) = p\n    c = a + b\n  in c * 2",
	"matches": "matches p = match p with\n  | (a, b) -> let c = a + b in c * 2",
	"local":   "local xs =\n  let\n    f = (* 2)\n    g y = y - 1\n  in List.map f (List.map g xs)",
}

// formsDefault is what show prints for code with no record (a peer's):
// the decompiler's one spelling of each term.
var formsDefault = map[string]string{
	"orIf":    "orIf a b = a || b",
	"andIf":   "andIf a b = a && b",
	"orFalse": "orFalse a = a && true",
	"pipe":    "pipe xs = List.sum (List.map (x -> x + 1) xs)",
	"call":    "call a b = a + b",
	"negCall": "negCall x = -x",
	"inc":     "inc x1 = x1 + 1", // a section's parameter has no source name
	"incLam":  "incLam y = y + 1",
	"from10":  "from10 x1 = 10 - x1",
	"sub":     "sub x1 x2 = x1 - x2",
	"both":    "both x1 x2 = x1 :: x2",
	"lets":    "lets p = match p with\n  | (a, b) -> let c = a + b in c * 2",
	"local":   "local xs =\n  let\n    f x1 = x1 * 2\n    g y = y - 1\n  in List.map f (List.map g xs)",
}

func TestShowForms(t *testing.T) {
	f, err := syntax.ParseFile("forms.u", []byte(formsSrc))
	if err != nil {
		t.Fatal(err)
	}
	opts := dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor}
	c, err := dag.Compile(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The spelling is no part of the hash.
	for _, pair := range [][2]string{{"orOp", "orIf"}, {"andOp", "andIf"}, {"orFalse", "andTrue"},
		{"pipe", "nested"}, {"call", "plus"}, {"negCall", "neg"}, {"inc", "incLam"}, {"lets", "matches"}} {
		if a, b := refOf(t, c, pair[0]), refOf(t, c, pair[1]); a != b {
			t.Errorf("%s and %s hash differently: %v, %v", pair[0], pair[1], a, b)
		}
	}
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
	show := func(name string, withForms bool) string {
		t.Helper()
		ref := refOf(t, c, name).Def
		term, err := s.LoadTerm(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		hints, _ := s.HintsFor(ctx, ref, name)
		var forms []dag.Form
		if withForms {
			if forms, err = s.Forms(ctx, ref, name); err != nil {
				t.Fatal(err)
			}
		}
		return syntax.FormatDecl(dag.DecompileDefForms(name, term, hints, forms, dag.Naming{}))
	}
	var shown strings.Builder
	for name, want := range formsWant {
		got := show(name, true)
		if got != want {
			t.Errorf("show %s:\n%s\nwant\n%s", name, got, want)
		}
		shown.WriteString(got + "\n\n")
		def, ok := formsDefault[name]
		if !ok {
			def = want
		}
		if got := show(name, false); got != def {
			t.Errorf("show %s without forms:\n%s\nwant\n%s", name, got, def)
		}
	}
	// What show prints is the same code.
	f2, err := syntax.ParseFile("shown.u", []byte(shown.String()))
	if err != nil {
		t.Fatalf("shown source does not parse: %v\n%s", err, shown.String())
	}
	c2, err := dag.Compile(f2, opts)
	if err != nil {
		t.Fatalf("shown source does not compile: %v\n%s", err, shown.String())
	}
	for name := range formsWant {
		if a, b := refOf(t, c, name), refOf(t, c2, name); a != b {
			t.Errorf("%s: shown source hashes to %v, not %v", name, b, a)
		}
	}
	// Adding a name's source again spelled otherwise replaces its
	// record; a spelling with nothing to record removes it.
	c3 := compileSrc(t, "orIf a b = a || b\npipe xs = List.sum (List.map (x -> x + 1) xs)\n")
	if refOf(t, c3, "pipe") != refOf(t, c, "pipe") || refOf(t, c3, "orIf") != refOf(t, c, "orIf") {
		t.Fatal("re-added definitions hash differently")
	}
	if err := s.SetPositions(ctx, c3.Positions); err != nil {
		t.Fatal(err)
	}
	if got := show("orIf", true); got != "orIf a b = a || b" {
		t.Errorf("after re-adding orIf as ||: %s", got)
	}
	if got := show("pipe", true); got != formsDefault["pipe"] {
		t.Errorf("after re-adding pipe without |>: %s", got)
	}
	// Other names of the same definition keep their spelling.
	if got := show("orOp", true); got != formsWant["orOp"] {
		t.Errorf("orOp: %s", got)
	}
}

// A form table meant for another term changes nothing but spelling:
// whatever it says, the shown source compiles to the same CID.
func TestFormsForOtherTerm(t *testing.T) {
	c := compileSrc(t, formsSrc)
	for _, e := range c.Names {
		term := termOf(t, c, e.Ref.Def)
		for form := dag.Form(1); form <= dag.NumForms; form++ { // and one unknown
			var forms []dag.Form
			n := 0
			dag.Preorder(term, func(dag.Term) { n++ })
			for range n {
				forms = append(forms, form)
			}
			src := syntax.FormatDecl(dag.DecompileDefForms(e.Name, term, nil, forms, dag.Naming{}))
			c2 := compileSrc(t, src+"\n")
			if got := refOf(t, c2, e.Name); got != e.Ref {
				t.Errorf("%s with every node in form %d: %s compiles to %v, not %v", e.Name, form, src, got, e.Ref)
			}
		}
	}
}

func termOf(t *testing.T, c *dag.Compiled, r dag.DefRef) dag.Term {
	t.Helper()
	for _, b := range c.Blocks {
		if b.CID != r.CID {
			continue
		}
		tb, err := dag.DecodeTermBlock(b.Data)
		if err != nil {
			t.Fatal(err)
		}
		return tb.Members[r.Member]
	}
	t.Fatalf("no block for %v", r)
	return nil
}
