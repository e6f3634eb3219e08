package dag

import (
	"maps"
	"slices"
	"testing"
)

// A chunked list of closures is code: ScanStoredBlock reads from each of
// its element leaves the builtins and definitions their values name, as
// Refs.AddBlock does, so that a sandbox's link check of the closure of a
// thunk's chunk roots sees them (p2p's summarize) without reading the
// value.
func TestScanStoredChunkNamesCode(t *testing.T) {
	def := codecRef("secret", 0)
	elems := make([]Value, 0, 30000)
	for i := range 30000 {
		var v Value = &VClosure{Code: &Lam{Arity: 1, Body: &App{Fn: &Builtin{Name: "Data.get"}, Args: []Term{&Text{V: "k"}}}}}
		switch i % 3 {
		case 1:
			v = &VDef{Def: def}
		case 2:
			v = &VBuiltin{Name: "Op.add", Args: []Value{&VInt{V: int64(i)}}}
		}
		elems = append(elems, v)
	}
	ev, err := EncodeValueChunked(&VList{Elems: elems})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Chunks) < 2 {
		t.Fatalf("%d chunks, want a chunked list", len(ev.Chunks))
	}
	leaves := 0
	for _, b := range ev.Chunks {
		sc, err := ScanStoredBlock(b.Data)
		if err != nil {
			t.Fatal(err)
		}
		r := NewRefs()
		if err := r.AddBlock(b.Data); err != nil {
			t.Fatal(err)
		}
		wantB := slices.Sorted(maps.Keys(r.Builtins))
		if len(wantB) == 0 {
			wantB = nil
		}
		gotB := sc.Builtins
		if len(gotB) == 0 {
			gotB = nil
		}
		if !slices.Equal(gotB, wantB) || len(sc.Defs) != len(r.Defs) {
			t.Fatalf("chunk %s: scan %v %v, AddBlock %v %v", b.CID, sc.Builtins, sc.Defs, wantB, r.Defs)
		}
		links, err := Links(b.Data)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sc.Links, links) || !slices.Equal(sc.Needed, links) {
			t.Fatalf("chunk %s: links %v needed %v, want %v", b.CID, sc.Links, sc.Needed, links)
		}
		if len(r.Builtins) > 0 {
			leaves++
			if !slices.Contains(sc.Builtins, "Data.get") || !slices.Contains(sc.Builtins, "Op.add") {
				t.Fatalf("leaf %s: builtins %v", b.CID, sc.Builtins)
			}
			if len(sc.Defs) != 1 || !sc.Defs[0].Equals(def.CID) {
				t.Fatalf("leaf %s: defs %v, want %s", b.CID, sc.Defs, def.CID)
			}
		}
	}
	if leaves == 0 {
		t.Fatal("no element leaf named code")
	}
}
