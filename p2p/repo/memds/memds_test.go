package memds_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dstest "github.com/ipfs/go-datastore/test"

	"github.com/unode-dev/unode/p2p/repo/memds"
)

// TestSuite is go-datastore's own conformance suite at its default size:
// put/get, not-founds, prefixes, orders, limits, filters, many keys,
// sizes, sync, every combination of offset, limit, filter, order and
// prefix (which the suite itself leaves out under the race detector) and,
// the datastore being Batching, the batch tests.
func TestSuite(t *testing.T) {
	dstest.SubtestAll(t, memds.New())
}

// TestBatchSuite runs go-datastore's batch tests each on a fresh store,
// not after the others as SubtestAll does.
func TestBatchSuite(t *testing.T) {
	for name, f := range map[string]func(*testing.T, datastore.Batching){
		"RunBatchTest":             dstest.RunBatchTest,
		"RunBatchDeleteTest":       dstest.RunBatchDeleteTest,
		"RunBatchPutAndDeleteTest": dstest.RunBatchPutAndDeleteTest,
	} {
		t.Run(name, func(t *testing.T) { f(t, memds.New()) })
	}
}

// TestBatchLaterWriteWins: within a batch the last write of a key is the
// one applied, whichever kinds the writes are, and nothing is visible
// before Commit.
func TestBatchLaterWriteWins(t *testing.T) {
	ctx := t.Context()
	d := memds.New()
	k := func(s string) datastore.Key { return datastore.NewKey(s) }
	if err := d.Put(ctx, k("/del-put"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, k("/put-del"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	b, err := d.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		del      bool
		key, val string
	}{
		{false, "/put-del", "new"}, {true, "/put-del", ""},
		{true, "/del-put", ""}, {false, "/del-put", "new"},
		{false, "/put-put", "first"}, {false, "/put-put", "second"},
		{true, "/absent", ""},
	}
	for _, s := range steps {
		if s.del {
			err = b.Delete(ctx, k(s.key))
		} else {
			err = b.Put(ctx, k(s.key), []byte(s.val))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := d.Has(ctx, k("/put-put")); ok {
		t.Fatal("a batch's Put is visible before Commit")
	}
	if v, _ := d.Get(ctx, k("/del-put")); string(v) != "old" {
		t.Fatalf("before Commit /del-put = %q, want the old value", v)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/del-put": "new", "/put-put": "second"}
	for _, key := range []string{"/put-del", "/del-put", "/put-put", "/absent"} {
		v, err := d.Get(ctx, k(key))
		w, present := want[key]
		switch {
		case !present && err != datastore.ErrNotFound:
			t.Errorf("%s: got %q, %v; want ErrNotFound", key, v, err)
		case present && (err != nil || string(v) != w):
			t.Errorf("%s: got %q, %v; want %q", key, v, err, w)
		}
	}
}

// TestBatchReuse: Commit empties the batch, so a batch written again after
// a Commit applies only its new writes (and does not undo a write made to
// the store in between).
func TestBatchReuse(t *testing.T) {
	ctx := t.Context()
	d := memds.New()
	b, _ := d.Batch(ctx)
	a, c := datastore.NewKey("/a"), datastore.NewKey("/c")
	if err := b.Put(ctx, a, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, c, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.Has(ctx, a); ok {
		t.Error("the second Commit applied the first's Put again")
	}
	if v, err := d.Get(ctx, c); err != nil || string(v) != "2" {
		t.Errorf("/c = %q, %v; want \"2\"", v, err)
	}
	if n, err := d.GetSize(ctx, c); err != nil || n != 1 {
		t.Errorf("GetSize(/c) = %d, %v; want 1", n, err)
	}
	if n, err := d.GetSize(ctx, a); err != datastore.ErrNotFound || n != -1 {
		t.Errorf("GetSize(/a) = %d, %v; want -1, ErrNotFound", n, err)
	}
}

// TestQueryAgainstMap compares queries with go-datastore's MapDatastore
// holding the same entries, after the same random puts and deletes:
// prefixes that are and are not path boundaries or clean keys, both key
// orders, a value order, a filter, offsets and limits, keys only, sizes.
// Without an order the two may return entries in different orders (and,
// with an offset or a limit, different ones), so those compare as sets or
// by count.
func TestQueryAgainstMap(t *testing.T) {
	ctx := t.Context()
	d, ref := memds.New(), datastore.NewMapDatastore()
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "ab", "b", "a/b", "a/bc", "c/d/e"}
	for i := range 3000 {
		key := datastore.NewKey("/" + parts[r.IntN(len(parts))] + "/" + strconv.Itoa(r.IntN(400)))
		del, v := r.IntN(4) == 0, []byte(strconv.Itoa(i))
		// The reference straight, memds half straight and half through
		// a batch.
		if del {
			ref.Delete(ctx, key)
		} else {
			ref.Put(ctx, key, v)
		}
		var err error
		switch b, _ := d.Batch(ctx); {
		case r.IntN(2) == 0 && del:
			err = d.Delete(ctx, key)
		case del:
			if err = b.Delete(ctx, key); err == nil {
				err = b.Commit(ctx)
			}
		case r.IntN(2) == 0:
			err = d.Put(ctx, key, v)
		default:
			if err = b.Put(ctx, key, v); err == nil {
				err = b.Commit(ctx)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	prefixes := []string{"", "/", "/a", "a", "/a/", "/ab", "/a/b", "/a//b", "/c/d", "/c/d/e", "/nothing", "/a/b/.."}
	orders := map[string][]query.Order{
		"none": nil,
		"asc":  {query.OrderByKey{}},
		"desc": {query.OrderByKeyDescending{}},
		"val":  {query.OrderByValue{}, query.OrderByKey{}},
	}
	filters := map[string][]query.Filter{
		"none":  nil,
		"value": {query.FilterValueCompare{Op: query.GreaterThan, Value: []byte("2")}},
		"key":   {query.FilterKeyCompare{Op: query.NotEqual, Key: "/a/7"}},
	}
	for _, p := range prefixes {
		for on, o := range orders {
			for fn, f := range filters {
				for _, ol := range [][2]int{{0, 0}, {3, 0}, {0, 5}, {7, 11}, {10000, 0}} {
					for _, keysOnly := range []bool{false, true} {
						q := query.Query{Prefix: p, Orders: o, Filters: f, Offset: ol[0], Limit: ol[1], KeysOnly: keysOnly, ReturnsSizes: true}
						name := fmt.Sprintf("prefix=%q order=%s filter=%s offset=%d limit=%d keysOnly=%v", p, on, fn, ol[0], ol[1], keysOnly)
						got, want := rest(t, d, q), rest(t, ref, q)
						if o == nil {
							if ol != [2]int{} {
								if len(got) != len(want) {
									t.Errorf("%s: %d entries, want %d", name, len(got), len(want))
								}
								continue
							}
							sortEntries(got)
							sortEntries(want)
						}
						if !slices.EqualFunc(got, want, sameEntry) {
							t.Errorf("%s:\n got %v\nwant %v", name, got, want)
						}
					}
				}
			}
		}
	}
}

func rest(t *testing.T, d datastore.Datastore, q query.Query) []query.Entry {
	t.Helper()
	res, err := d.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Query(); got.Prefix != q.Prefix || got.Limit != q.Limit || got.Offset != q.Offset {
		t.Fatalf("Results.Query() = %+v, want the query asked %+v", got, q)
	}
	return es
}

func sortEntries(es []query.Entry) {
	slices.SortFunc(es, func(a, b query.Entry) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
}

func sameEntry(a, b query.Entry) bool {
	return a.Key == b.Key && string(a.Value) == string(b.Value) && (a.Value == nil) == (b.Value == nil) && a.Size == b.Size
}

// TestQueryIsASnapshot: a query's results are the entries stored when it
// was made, however the store changes while they are read.
func TestQueryIsASnapshot(t *testing.T) {
	ctx := t.Context()
	d := memds.New()
	for i := range 100 {
		d.Put(ctx, datastore.NewKey("/s/"+strconv.Itoa(i)), []byte("v"))
	}
	res, err := d.Query(ctx, query.Query{Prefix: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		d.Delete(ctx, datastore.NewKey("/s/"+strconv.Itoa(i)))
		d.Put(ctx, datastore.NewKey("/s/new"+strconv.Itoa(i)), []byte("v"))
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 100 {
		t.Fatalf("%d entries, want the 100 there at the query", len(es))
	}
	for _, e := range es {
		if _, err := strconv.Atoi(e.Key[len("/s/"):]); err != nil {
			t.Fatalf("entry %s was written after the query", e.Key)
		}
	}
}

// TestConcurrentBatchesAtomic (meant for -race): writers commit batches
// that each replace all of a group's keys with a new generation (Puts of
// the new keys, Deletes of the old ones), while readers query, get and
// check. A reader must see every group whole, with groupSize keys of one
// generation: a Commit applied in pieces, or a query snapshot taken in
// pieces, would show a mixture.
func TestConcurrentBatchesAtomic(t *testing.T) {
	ctx := t.Context()
	d := memds.New()
	const writers, readers, groupSize, gens = 4, 4, 8, 300
	key := func(w, gen, i int) datastore.Key {
		return datastore.NewKey(fmt.Sprintf("/g/%d/%d/%d", w, gen, i))
	}
	// Generation 0 of every group, before anyone reads.
	for w := range writers {
		b, _ := d.Batch(ctx)
		for i := range groupSize {
			b.Put(ctx, key(w, 0, i), []byte(strconv.Itoa(0)))
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for gen := 1; gen <= gens; gen++ {
				b, err := d.Batch(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range groupSize {
					b.Put(ctx, key(w, gen, i), []byte(strconv.Itoa(gen)))
					b.Delete(ctx, key(w, gen-1, i))
				}
				if err := b.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var rg sync.WaitGroup
	for range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					if n > 0 {
						return
					}
				default:
				}
				es := rest(t, d, query.Query{Prefix: "/g", Orders: []query.Order{query.OrderByKey{}}})
				if len(es) != writers*groupSize {
					t.Errorf("a query saw %d keys, want %d", len(es), writers*groupSize)
					return
				}
				gen := map[string]string{}
				for _, e := range es {
					var w, g, i int
					if _, err := fmt.Sscanf(e.Key, "/g/%d/%d/%d", &w, &g, &i); err != nil {
						t.Errorf("key %s: %v", e.Key, err)
						return
					}
					if string(e.Value) != strconv.Itoa(g) {
						t.Errorf("%s holds %q", e.Key, e.Value)
						return
					}
					ws := strconv.Itoa(w)
					if old, ok := gen[ws]; ok && old != string(e.Value) {
						t.Errorf("group %d seen at generations %s and %s at once", w, old, e.Value)
						return
					}
					gen[ws] = string(e.Value)
				}
				// Point reads alongside (for the race detector: Has,
				// Get and GetSize against Commit).
				w := n % writers
				d.Has(ctx, key(w, n%gens, 0))
				d.Get(ctx, key(w, n%gens, 1))
				d.GetSize(ctx, key(w, n%gens, 2))
			}
		}()
	}
	wg.Wait()
	close(done)
	rg.Wait()
	for w := range writers {
		for i := range groupSize {
			if v, err := d.Get(ctx, key(w, gens, i)); err != nil || string(v) != strconv.Itoa(gens) {
				t.Fatalf("after the writers, %s = %q, %v", key(w, gens, i), v, err)
			}
		}
	}
}

// TestBigBatchInOrder: a batch of thousands of random Puts and Deletes of
// a few hundred keys (so many writes of each key, spread over the batch's
// chunks) ends as the same writes made one by one to a MapDatastore.
func TestBigBatchInOrder(t *testing.T) {
	ctx := t.Context()
	d, ref := memds.New(), datastore.NewMapDatastore()
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 3 {
		b, _ := d.Batch(ctx)
		for i := range 5000 + round {
			key := datastore.NewKey("/k/" + strconv.Itoa(r.IntN(300)))
			if r.IntN(3) == 0 {
				b.Delete(ctx, key)
				ref.Delete(ctx, key)
			} else {
				v := []byte(strconv.Itoa(round*10000 + i))
				b.Put(ctx, key, v)
				ref.Put(ctx, key, v)
			}
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		q := query.Query{Orders: []query.Order{query.OrderByKey{}}}
		got, want := rest(t, d, q), rest(t, ref, q)
		if !slices.EqualFunc(got, want, sameEntry) {
			t.Fatalf("round %d: after the batch the store holds %d entries, %d one by one (or other values)", round, len(got), len(want))
		}
	}
}
