package dag_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

const privateSrc = `
secret x = x * 42
impl x = secret x + 1
wrapper x = at here! '(impl x)
mixed x = impl x + at here! '(impl x)
later x = await (at' here! '(secret x))
`

func compileHere(t *testing.T, src, here string) (*dag.Compiled, error) {
	t.Helper()
	f, err := syntax.ParseFile("test.u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return dag.Compile(f, dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor, Here: here})
}

func blockOf(t *testing.T, c *dag.Compiled, name string) dag.Block {
	t.Helper()
	r := refOf(t, c, name)
	for _, b := range c.Blocks {
		if b.CID.Equals(r.Def.CID) {
			return b
		}
	}
	t.Fatalf("no block for %s", name)
	return dag.Block{}
}

// here! compiles to Node.fixed of the adding node; what a thunk sent to
// it refers to is not needed by holders of the definition.
func TestHere(t *testing.T) {
	c, err := compileHere(t, privateSrc, "12D3KooWowner")
	if err != nil {
		t.Fatal(err)
	}
	w := blockOf(t, c, "wrapper")
	tb, err := dag.DecodeTermBlock(w.Data)
	if err != nil {
		t.Fatal(err)
	}
	app := tb.Members[0].(*dag.Lam).Body.(*dag.App)
	if _, id, ok := dag.FixedThunk(app); !ok || id != "12D3KooWowner" {
		t.Fatalf("wrapper's body is %#v, want at (Node.fixed ...) 'e", app)
	}
	impl := refOf(t, c, "impl").Def.CID
	secret := refOf(t, c, "secret").Def.CID
	for _, tc := range []struct {
		name         string
		links, needs []cid.Cid
	}{
		{"wrapper", []cid.Cid{impl}, nil},
		{"mixed", []cid.Cid{impl}, []cid.Cid{impl}},
		{"later", []cid.Cid{secret}, nil},
		{"impl", []cid.Cid{secret}, []cid.Cid{secret}},
	} {
		b := blockOf(t, c, tc.name)
		links, err := dag.Links(b.Data)
		if err != nil || !slices.EqualFunc(links, tc.links, cid.Cid.Equals) {
			t.Errorf("Links(%s) = %v, %v; want %v", tc.name, links, err, tc.links)
		}
		needs, err := dag.NeededLinks(b.Data)
		if err != nil || !slices.EqualFunc(needs, tc.needs, cid.Cid.Equals) {
			t.Errorf("NeededLinks(%s) = %v, %v; want %v", tc.name, needs, err, tc.needs)
		}
	}

	// The CID depends on the adding node, and only where here! is used.
	c2, err := compileHere(t, privateSrc, "12D3KooWother")
	if err != nil {
		t.Fatal(err)
	}
	if refOf(t, c, "wrapper") == refOf(t, c2, "wrapper") {
		t.Error("wrapper has the same CID when added by another node")
	}
	if refOf(t, c, "impl") != refOf(t, c2, "impl") {
		t.Error("impl, which does not use here!, changed CID")
	}
	// Without a node, here! is an error; a local named here! shadows it.
	if _, err := compileHere(t, "w x = at here! '(x)\n", ""); err == nil || !strings.Contains(err.Error(), "here!") {
		t.Errorf("here! without a node: %v", err)
	}
	if _, err := compileHere(t, "w here! = here!\n", ""); err != nil {
		t.Errorf("a parameter named here!: %v", err)
	}

	// A store holds the wrapper complete without the implementation.
	ctx := context.Background()
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	if err := s.AddBlocks(ctx, []dag.Block{w}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsComplete(ctx, w.CID); !ok {
		t.Error("the wrapper is not complete without the implementation")
	}
	if cl, err := s.ClosureOf(ctx, w.CID); err != nil || len(cl) != 1 {
		t.Errorf("ClosureOf(wrapper) = %v, %v", cl, err)
	}
	m := blockOf(t, c, "mixed")
	if err := s.AddBlocks(ctx, []dag.Block{m}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsComplete(ctx, m.CID); ok {
		t.Error("mixed, which calls impl here too, is complete without it")
	}

	// Refs sees everything, fixed thunks included.
	r := dag.NewRefs()
	if err := r.AddBlock(w.Data); err != nil {
		t.Fatal(err)
	}
	if !r.Builtins["at"] || !r.Builtins[dag.FixedNodeBuiltin] || !r.Defs[impl] {
		t.Errorf("Refs of wrapper = %+v", r)
	}
}
