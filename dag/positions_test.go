package dag

import (
	"context"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/eval/syntax"
)

// Compile records, beside the blocks, where each application, match, if
// and force of a definition was written, indexed in Preorder; the store
// keeps the tables outside the blocks.
func TestCompilePositions(t *testing.T) {
	src := "f x =\n  if x then g 1 else match x with\n    | _ -> !g\n" + "g y = y + 1\n"
	f, err := syntax.ParseFile("p.u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(f, CompileOptions{IsBuiltin: func(n string) bool { return n == "Op.add" }})
	if err != nil {
		t.Fatal(err)
	}
	fr, _ := c.Lookup("f")
	var table []syntax.Pos
	for _, p := range c.Positions {
		if p.Def == fr.Def {
			table = p.Pos
		}
	}
	s := NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	ctx := context.Background()
	if err := s.AddBlocks(ctx, c.Blocks); err != nil {
		t.Fatal(err)
	}
	term, err := s.LoadTerm(ctx, fr.Def)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	i := 0
	Preorder(term, func(x Term) {
		if i < len(table) && table[i].Line != 0 {
			got = append(got, describeTerm(x)+"@"+table[i].String())
		}
		i++
	})
	want := "If@p.u:2:3 App@p.u:2:13 Match@p.u:2:22 Force@p.u:3:12"
	if i != len(table) || joinSp(got) != want {
		t.Errorf("%d nodes, table of %d: %s\nwant %s", i, len(table), joinSp(got), want)
	}
	// The table round-trips through the store.
	if err := s.SetPositions(ctx, c.Positions); err != nil {
		t.Fatal(err)
	}
	back, err := s.Positions(ctx, fr.Def)
	if err != nil || len(back) != len(table) {
		t.Fatalf("Positions: %v, %d entries", err, len(back))
	}
	for i := range back {
		if back[i] != table[i] {
			t.Errorf("entry %d: %v, want %v", i, back[i], table[i])
		}
	}
	if none, err := s.Positions(ctx, DefRef{CID: c.Blocks[0].CID, Member: 7}); none != nil || err != nil {
		t.Errorf("absent table: %v, %v", none, err)
	}
}

func describeTerm(t Term) string {
	switch t.(type) {
	case *If:
		return "If"
	case *App:
		return "App"
	case *Match:
		return "Match"
	case *Force:
		return "Force"
	}
	return "?"
}

func joinSp(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
