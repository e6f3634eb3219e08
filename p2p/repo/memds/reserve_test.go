package memds_test

import (
	"runtime"
	"slices"
	"strconv"
	"testing"
	"weak"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/unode-dev/unode/p2p/repo/memds"
)

// A batch larger than the store (which makes Commit move the store into
// a map made for both) keeps every entry the store had, applies its own
// writes over them in order, and a later batch, smaller than the store
// now is, writes into that map as well: the store ends as the same
// writes made one by one to a MapDatastore.
func TestReserveKeepsEntries(t *testing.T) {
	ctx := t.Context()
	d, ref := memds.New(), datastore.NewMapDatastore()
	put := func(b datastore.Write, k string, v string) {
		if err := b.Put(ctx, datastore.NewKey(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		ref.Put(ctx, datastore.NewKey(k), []byte(v))
	}
	for i := range 10 {
		put(d, "/old/"+strconv.Itoa(i), "old")
	}
	check := func(when string) {
		t.Helper()
		q := query.Query{Orders: []query.Order{query.OrderByKey{}}}
		got, want := rest(t, d, q), rest(t, ref, q)
		if !slices.EqualFunc(got, want, sameEntry) {
			t.Fatalf("%s: the store holds %d entries, %d one by one (or other values)", when, len(got), len(want))
		}
	}
	for round, n := range []int{500, 100, 3000} {
		b, _ := d.Batch(ctx)
		for i := range n {
			put(b, "/new/"+strconv.Itoa(round)+"/"+strconv.Itoa(i), strconv.Itoa(i))
		}
		// Writes of keys the store had before the batch: an overwrite
		// and a delete, applied after the move.
		put(b, "/old/3", "again")
		b.Delete(ctx, datastore.NewKey("/old/"+strconv.Itoa(4+round)))
		ref.Delete(ctx, datastore.NewKey("/old/"+strconv.Itoa(4+round)))
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		check("round " + strconv.Itoa(round))
	}
}

// A committed batch's chunks go back to be reused without what was
// written through them: once the store no longer holds a value, nothing
// keeps it alive (not a chunk waiting for the next batch).
func TestCommittedChunksKeepNoValues(t *testing.T) {
	ctx := t.Context()
	d := memds.New()
	var held []weak.Pointer[byte]
	b, _ := d.Batch(ctx)
	for i := range 100 { // past the first chunk: into pooled ones
		v := make([]byte, 64)
		held = append(held, weak.Make(&v[0]))
		if err := b.Put(ctx, datastore.NewKey("/k/"+strconv.Itoa(i)), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := d.Delete(ctx, datastore.NewKey("/k/"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	alive := 0
	for _, w := range held {
		if w.Value() != nil {
			alive++
		}
	}
	// The first chunk's 8 went with the batch; a pooled chunk not
	// cleared would keep the other 92.
	if alive > 8 {
		t.Errorf("%d of 100 values deleted from the store are still alive after a GC", alive)
	}
}
