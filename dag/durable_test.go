package dag

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ipfs/go-datastore"
)

// writeCounter counts the writes that reach a datastore: single puts and
// deletes, and batch commits. On a synced datastore each is one fsync.
type writeCounter struct {
	datastore.Batching
	mu      sync.Mutex
	puts    int
	commits int
	// order records, per commit or put, the keys it wrote.
	order [][]string
}

func (w *writeCounter) Put(ctx context.Context, k datastore.Key, v []byte) error {
	w.mu.Lock()
	w.puts++
	w.order = append(w.order, []string{k.String()})
	w.mu.Unlock()
	return w.Batching.Put(ctx, k, v)
}

func (w *writeCounter) Batch(ctx context.Context) (datastore.Batch, error) {
	b, err := w.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &countedBatch{Batch: b, w: w}, nil
}

func (w *writeCounter) writes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.puts + w.commits
}

type countedBatch struct {
	datastore.Batch
	w    *writeCounter
	keys []string
}

func (b *countedBatch) Put(ctx context.Context, k datastore.Key, v []byte) error {
	b.keys = append(b.keys, k.String())
	return b.Batch.Put(ctx, k, v)
}

func (b *countedBatch) Commit(ctx context.Context) error {
	b.w.mu.Lock()
	b.w.commits++
	b.w.order = append(b.w.order, b.keys)
	b.w.mu.Unlock()
	return b.Batch.Commit(ctx)
}

// TestAddBlocksIsTwoWrites is issue 7's case 1 for `add`: storing a chain
// of 5,000 definitions is two datastore writes (the blocks, then their
// markers), not one per marker, so that synced writes stay cheap; and
// the markers come after the blocks they describe.
func TestAddBlocksIsTwoWrites(t *testing.T) {
	ctx := context.Background()
	_, mem := newMemStore(t)
	w := &writeCounter{Batching: mem}
	s := NewStore(w)
	chain := []Block{termBlock(t, "c0")}
	for i := 1; i < 5000; i++ {
		chain = append(chain, termBlock(t, fmt.Sprint("c", i), chain[i-1].CID))
	}
	if err := s.AddBlocks(ctx, chain); err != nil {
		t.Fatal(err)
	}
	wantComplete(t, s, true, chain...)
	if n := w.writes(); n != 2 {
		t.Fatalf("AddBlocks of %d blocks made %d writes, want 2", len(chain), n)
	}
	if len(w.order[0]) != 5000 || len(w.order[1]) != 5000 ||
		w.order[0][0][:len(prefixBlocks)] != prefixBlocks || w.order[1][0][:len(prefixComplete)] != prefixComplete {
		t.Errorf("writes: %d keys then %d keys; want the blocks, then the markers", len(w.order[0]), len(w.order[1]))
	}
	if n, err := s.CheckCompleteMarkers(ctx); err != nil || n != 5000 {
		t.Errorf("CheckCompleteMarkers = %d, %v", n, err)
	}

	// Blocks that arrived in pieces are marked in one write too.
	_, mem2 := newMemStore(t)
	w2 := &writeCounter{Batching: mem2}
	s2 := NewStore(w2)
	for i := len(chain) - 1; i >= len(chain)-100; i-- {
		if err := s2.Put(ctx, chain[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.AddBlocks(ctx, chain[:len(chain)-100]); err != nil {
		t.Fatal(err)
	}
	before := w2.writes()
	if err := s2.MarkClosureComplete(ctx, chain[len(chain)-1].CID); err != nil {
		t.Fatal(err)
	}
	if n := w2.writes() - before; n != 1 {
		t.Errorf("MarkClosureComplete of 100 blocks made %d writes, want 1", n)
	}
	wantComplete(t, s2, true, chain...)
}

// TestSetNames: names and hints in one write, all checked first.
func TestSetNames(t *testing.T) {
	ctx := context.Background()
	_, mem := newMemStore(t)
	w := &writeCounter{Batching: mem}
	s := NewStore(w)
	var names []NameEntry
	var hints []DefHints
	for i := range 1000 {
		r := codecRef(fmt.Sprint("d", i), 0)
		names = append(names, NameEntry{Name: fmt.Sprint("d", i), Ref: NameRef{Kind: KindTerm, Def: r}})
		hints = append(hints, DefHints{Def: r, Names: []string{"x"}})
	}
	names = append(names, NameEntry{Name: "T", Ref: NameRef{Kind: KindType, Def: codecRef("T", 0)}})
	if err := s.SetNames(ctx, names, hints); err != nil {
		t.Fatal(err)
	}
	if n := w.writes(); n != 1 {
		t.Errorf("SetNames of %d names and %d hints made %d writes, want 1", len(names), len(hints), n)
	}
	if ref, ok, err := s.LookupName(ctx, "d999"); err != nil || !ok || ref != names[999].Ref {
		t.Errorf("d999 = %v, %v, %v", ref, ok, err)
	}
	if ref, ok, _ := s.LookupType(ctx, "T"); !ok || ref.Kind != KindType {
		t.Errorf("T = %v, %v", ref, ok)
	}
	if h, err := s.Hints(ctx, hints[5].Def); err != nil || len(h) != 1 || h[0] != "x" {
		t.Errorf("hints = %v, %v", h, err)
	}
	// One bad name: nothing is written.
	before := w.writes()
	bad := []NameEntry{{Name: "ok", Ref: names[0].Ref}, {Name: "a/b", Ref: names[0].Ref}}
	if err := s.SetNames(ctx, bad, nil); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetNames with a bad name = %v", err)
	}
	if _, ok, _ := s.LookupName(ctx, "ok"); ok || w.writes() != before {
		t.Error("SetNames wrote something before failing")
	}
}

// TestCheckCompleteMarkers finds a marker whose closure is not stored.
func TestCheckCompleteMarkers(t *testing.T) {
	ctx := context.Background()
	s, ds := newMemStore(t)
	leaf := termBlock(t, "leaf")
	root := termBlock(t, "root", leaf.CID)
	if err := s.AddBlocks(ctx, []Block{leaf, root}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CheckCompleteMarkers(ctx); n != 2 || err != nil {
		t.Fatalf("CheckCompleteMarkers = %d, %v", n, err)
	}
	// What a crash between unordered writes could leave: the leaf's
	// marker gone, the root's kept.
	if err := ds.Delete(ctx, completeKey(leaf.CID)); err != nil {
		t.Fatal(err)
	}
	var me *MissingError
	if _, err := s.CheckCompleteMarkers(ctx); !errors.As(err, &me) || !me.CIDs[0].Equals(leaf.CID) {
		t.Errorf("CheckCompleteMarkers after losing a marker = %v", err)
	}
	if err := ds.Delete(ctx, blockKey(leaf.CID)); err != nil {
		t.Fatal(err)
	}
	if err := ds.Put(ctx, completeKey(leaf.CID), []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckCompleteMarkers(ctx); !errors.As(err, &me) || !me.CIDs[0].Equals(leaf.CID) {
		t.Errorf("CheckCompleteMarkers with a marker and no block = %v", err)
	}
}
