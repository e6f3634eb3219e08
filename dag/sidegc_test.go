package dag

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
)

// NumForms lets the external tests try every known form.
const NumForms = numForms

// sideRecords returns the forms, per-name hints and per-definition hints
// kept for r under name.
func sideRecords(t *testing.T, s *Store, r DefRef, name string) (forms []Form, named, def []string) {
	t.Helper()
	ctx := context.Background()
	forms, err := s.Forms(ctx, r, name)
	if err != nil {
		t.Fatal(err)
	}
	named, err = s.readHints(ctx, r, hintsNameKey(r, name))
	if err != nil {
		t.Fatal(err)
	}
	if def, err = s.Hints(ctx, r); err != nil {
		t.Fatal(err)
	}
	return forms, named, def
}

// addNamed binds name to r with hints and a form table, as an add does.
func addNamed(t *testing.T, s *Store, name string, r DefRef, hints []string, forms []Form) {
	t.Helper()
	ctx := context.Background()
	if err := s.SetNames(ctx, []NameEntry{{Name: name, Ref: NameRef{Kind: KindTerm, Def: r}}},
		[]DefHints{{Def: r, Names: hints, Name: name}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPositions(ctx, []DefPositions{{Def: r, Name: name, Forms: forms}}); err != nil {
		t.Fatal(err)
	}
}

// Hints are kept per name: two names of one definition each keep the
// local names written under them, and the per-definition record (the
// latest) answers for a name with none.
func TestHintsForName(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	d := codecRef("total", 0)
	addNamed(t, s, "total", d, []string{"xs", "acc", "x"}, nil)
	addNamed(t, s, "sum2", d, []string{"ys", "s", "y"}, nil)
	for name, want := range map[string][]string{
		"total": {"xs", "acc", "x"},
		"sum2":  {"ys", "s", "y"},
		"":      {"ys", "s", "y"}, // shown by CID with no name: the latest
		"other": {"ys", "s", "y"}, // a name with no record of its own
		"a/b":   {"ys", "s", "y"}, // no key can hold it
	} {
		got, err := s.HintsFor(ctx, d, name)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("HintsFor(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	// An empty record is a record: a definition without locals does not
	// borrow another name's.
	e := codecRef("e", 0)
	addNamed(t, s, "withLocals", e, []string{"a"}, nil)
	addNamed(t, s, "none", e, []string{}, nil)
	if got, _ := s.HintsFor(ctx, e, "withLocals"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("withLocals: %q", got)
	}
	if got, _ := s.HintsFor(ctx, e, "none"); got == nil || len(got) != 0 {
		t.Errorf("none: %q, want an empty record", got)
	}
}

// Rebinding a name to another definition and removing it delete the
// name's records for its old definition, in the one write that changes
// the binding; other names of that definition keep theirs.
func TestPerNameRecordsFollowBinding(t *testing.T) {
	ctx := context.Background()
	_, mem := newMemStore(t)
	w := &writeCounter{Batching: mem}
	s := NewStore(w)
	old, next := codecRef("old", 0), codecRef("next", 1)
	forms := []Form{FormOr}
	addNamed(t, s, "f", old, []string{"a"}, forms)
	addNamed(t, s, "g", old, []string{"b"}, forms)

	before := w.writes()
	if err := s.SetNames(ctx, []NameEntry{{Name: "f", Ref: NameRef{Kind: KindTerm, Def: next}}},
		[]DefHints{{Def: next, Names: []string{"c"}, Name: "f"}}); err != nil {
		t.Fatal(err)
	}
	if n := w.writes() - before; n != 1 {
		t.Errorf("rebinding f made %d writes, want 1 (binding and record deletes together)", n)
	}
	if f, h, _ := sideRecords(t, s, old, "f"); f != nil || h != nil {
		t.Errorf("f's records for its old definition remain: forms %v, hints %q", f, h)
	}
	if f, h, _ := sideRecords(t, s, old, "g"); !slices.Equal(f, forms) || !slices.Equal(h, []string{"b"}) {
		t.Errorf("g lost its records: forms %v, hints %q", f, h)
	}
	if h, _ := s.HintsFor(ctx, next, "f"); !slices.Equal(h, []string{"c"}) {
		t.Errorf("f's new hints = %q", h)
	}
	// Binding a name to the definition it has keeps its records.
	addNamed(t, s, "g", old, []string{"b"}, forms)
	if f, _, _ := sideRecords(t, s, old, "g"); !slices.Equal(f, forms) {
		t.Errorf("re-adding g as it was dropped its forms: %v", f)
	}

	before = w.writes()
	if err := s.DeleteName(ctx, "g", KindTerm); err != nil {
		t.Fatal(err)
	}
	if n := w.writes() - before; n != 1 {
		t.Errorf("rm g made %d writes, want 1", n)
	}
	if _, ok, _ := s.LookupName(ctx, "g"); ok {
		t.Error("g is still bound")
	}
	if f, h, def := sideRecords(t, s, old, "g"); f != nil || h != nil || def == nil {
		t.Errorf("after rm g: forms %v, hints %q, definition's hints %q (kept: the definition stays)", f, h, def)
	}
}

// failingCommits is a datastore whose batches never commit: a crash
// before the write lands.
type failingCommits struct{ datastore.Batching }

var errCrash = errors.New("crash")

func (f failingCommits) Batch(ctx context.Context) (datastore.Batch, error) {
	b, err := f.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return failingBatch{b}, nil
}

type failingBatch struct{ datastore.Batch }

func (failingBatch) Commit(context.Context) error { return errCrash }

// A rebinding or rm that does not land leaves the old binding with all
// its records: they are one batch, so there is no state between.
func TestPerNameRecordsCrash(t *testing.T) {
	ctx := context.Background()
	good, mem := newMemStore(t)
	old, next := codecRef("old", 0), codecRef("next", 0)
	forms := []Form{FormDefault, FormPipe}
	addNamed(t, good, "f", old, []string{"a"}, forms)
	crashing := NewStore(failingCommits{mem})
	check := func(what string) {
		t.Helper()
		ref, ok, err := good.LookupName(ctx, "f")
		if err != nil || !ok || ref.Def != old {
			t.Errorf("after a failed %s: f = %v, %v, %v", what, ref, ok, err)
		}
		if f, h, _ := sideRecords(t, good, old, "f"); !slices.Equal(f, forms) || !slices.Equal(h, []string{"a"}) {
			t.Errorf("after a failed %s: forms %v, hints %q", what, f, h)
		}
	}
	err := crashing.SetNames(ctx, []NameEntry{{Name: "f", Ref: NameRef{Kind: KindTerm, Def: next}}}, nil)
	if !errors.Is(err, errCrash) {
		t.Fatalf("SetNames = %v", err)
	}
	check("rebinding")
	if err := crashing.DeleteName(ctx, "f", KindTerm); !errors.Is(err, errCrash) {
		t.Fatalf("DeleteName = %v", err)
	}
	check("rm")
}

// DropSideRecords deletes what describes a definition no longer stored,
// and per-name records of a name bound elsewhere, and nothing live.
func TestDropSideRecords(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	kept := termBlock(t, "kept")
	gone := termBlock(t, "gone")
	if err := s.AddBlocks(ctx, []Block{kept, gone}); err != nil {
		t.Fatal(err)
	}
	k, g := DefRef{CID: kept.CID}, DefRef{CID: gone.CID}
	forms := []Form{FormAnd}
	addNamed(t, s, "k", k, []string{"x"}, forms)
	addNamed(t, s, "g", g, []string{"y"}, forms)
	if err := s.SetPositions(ctx, []DefPositions{{Def: k, Name: "scratch", Forms: forms}}); err != nil {
		t.Fatal(err) // forms for a name never bound (an older scratch run)
	}
	if err := s.Evict(ctx, []cid.Cid{gone.CID}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteName(ctx, "g", KindTerm); err != nil {
		t.Fatal(err)
	}
	n, err := s.DropSideRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// gone: its hints and positions (g's per-name records went with rm);
	// kept: the forms under "scratch".
	if n != 3 {
		t.Errorf("dropped %d records, want 3", n)
	}
	if f, h, def := sideRecords(t, s, g, "g"); f != nil || h != nil || def != nil {
		t.Errorf("records of the evicted definition remain: %v %q %q", f, h, def)
	}
	if p, _ := s.Positions(ctx, g); p != nil {
		t.Errorf("positions of the evicted definition remain: %v", p)
	}
	if f, _ := s.Forms(ctx, k, "scratch"); f != nil {
		t.Errorf("forms of an unbound name remain: %v", f)
	}
	if f, h, def := sideRecords(t, s, k, "k"); !slices.Equal(f, forms) || !slices.Equal(h, []string{"x"}) || def == nil {
		t.Errorf("live records dropped: %v %q %q", f, h, def)
	}
	if n, err := s.DropSideRecords(ctx); n != 0 || err != nil {
		t.Errorf("second pass dropped %d, %v", n, err)
	}
}
