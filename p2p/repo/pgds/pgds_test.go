package pgds_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dstest "github.com/ipfs/go-datastore/test"
	"github.com/jackc/pgx/v5"

	"github.com/unode-dev/unode/p2p/repo/pgds"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// hangBound is how long a call may take before a test calls it hung. Only
// a hang detector: no test asserts how fast anything is.
const hangBound = 30 * time.Second

func open(t *testing.T, url string, opts pgds.Options) *pgds.Datastore {
	t.Helper()
	d, err := pgds.New(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newStore(t *testing.T) *pgds.Datastore {
	t.Helper()
	return open(t, pgtest.Shared(t).NewDatabase(t), pgds.Options{})
}

// TestSuite is go-datastore's own conformance suite against a real
// server: SubtestAll runs the basic tests (put/get, not-founds, prefixes,
// orders, limits, filters, many keys, sizes, sync, and every combination
// of offset, limit, filter, order and prefix) and, the datastore being
// Batching, the batch tests (RunBatchTest, RunBatchDeleteTest,
// RunBatchPutAndDeleteTest).
//
// The suite's element count is its minimum, 20, for time: the
// combinations test puts 4 x ElemCount keys in each of ~400 subtests, one
// round trip each. UNODE_PGDS_ELEMS=100 runs it at go-datastore's default.
func TestSuite(t *testing.T) {
	old := dstest.ElemCount
	dstest.ElemCount = 20
	if n, err := strconv.Atoi(os.Getenv("UNODE_PGDS_ELEMS")); err == nil && n >= 20 {
		dstest.ElemCount = n
	}
	defer func() { dstest.ElemCount = old }()
	dstest.SubtestAll(t, newStore(t))
}

// TestQueryAgainstMap compares queries over pages (thousands of keys, so
// several pages each) with go-datastore's in-memory MapDatastore holding
// the same entries: prefixes that are, and are not, path boundaries, both
// key orders, offsets and limits that cross page boundaries, keys only
// with and without sizes, a filter and an order done in memory.
func TestQueryAgainstMap(t *testing.T) {
	ctx := t.Context()
	d := newStore(t)
	ref := ds.NewMapDatastore()
	b, err := d.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put := func(k string, v []byte) {
		if err := b.Put(ctx, ds.RawKey(k), v); err != nil {
			t.Fatal(err)
		}
		ref.Put(ctx, ds.RawKey(k), v)
	}
	for i := range 2500 {
		put(fmt.Sprintf("/p/%05d", i), []byte(strconv.Itoa(i*7919%2500)))
	}
	for _, k := range []string{"/p", "/pq", "/p0", "/p.", "/q/1", "/a/b/c", "/p/sub/x"} {
		put(k, []byte(k))
	}
	put("/empty/value", nil)
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	queries := []query.Query{
		{},
		{Prefix: "/p"},
		{Prefix: "/p/"},
		{Prefix: "p"},
		{Prefix: "/"},
		{Prefix: "/pq"},
		{Prefix: "/nothing"},
		{Prefix: "/p", Orders: []query.Order{query.OrderByKey{}}},
		{Prefix: "/p", Orders: []query.Order{query.OrderByKeyDescending{}}},
		{Prefix: "/p", Orders: []query.Order{&query.OrderByKeyDescending{}}, Offset: 1100, Limit: 1200},
		{Prefix: "/p", Orders: []query.Order{query.OrderByKey{}}, Offset: 999, Limit: 1001},
		{Prefix: "/p", Offset: 2400},
		{Limit: 1},
		{Prefix: "/p", KeysOnly: true},
		{Prefix: "/p", KeysOnly: true, ReturnsSizes: true, Orders: []query.Order{query.OrderByKeyDescending{}}},
		{Prefix: "/p", Filters: []query.Filter{query.FilterKeyCompare{Op: query.GreaterThan, Key: "/p/02000"}}, Offset: 10, Limit: 100},
		{Prefix: "/p", Orders: []query.Order{query.OrderByValue{}, query.OrderByKey{}}, Offset: 5, Limit: 50},
		{Prefix: "/empty"},
	}
	for _, q := range queries {
		t.Run(strings.ReplaceAll(q.String(), " ", "_"), func(t *testing.T) {
			got := rest(t, d, q)
			want := rest(t, ref, q)
			if len(q.Orders) == 0 {
				// Unordered: MapDatastore's order is the map's.
				query.Sort([]query.Order{query.OrderByKey{}}, want)
				if q.Offset != 0 || q.Limit != 0 {
					// Which entries an unordered slice holds is the
					// datastore's choice; only its length is defined.
					if len(got) != len(want) {
						t.Fatalf("%d entries, want %d", len(got), len(want))
					}
					return
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d entries, want %d", len(got), len(want))
			}
			for i := range got {
				g, w := got[i], want[i]
				if q.KeysOnly {
					w.Value = nil
					if !q.ReturnsSizes {
						w.Size = -1
					}
				}
				if g.Key != w.Key || !bytes.Equal(g.Value, w.Value) || q.KeysOnly && g.Value != nil || g.Size != w.Size {
					t.Fatalf("entry %d = {%s %q %d}, want {%s %q %d}", i, g.Key, g.Value, g.Size, w.Key, w.Value, w.Size)
				}
			}
		})
	}
}

func rest(t *testing.T, d ds.Datastore, q query.Query) []query.Entry {
	t.Helper()
	res, err := d.Query(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestQueryUsesStoreBetweenResults: a caller that reads and writes the
// datastore between the results of a query (dag's closure check, the
// evictor) does not deadlock on a pool of one connection, because a query
// holds its connection only while a page is read. A query that streamed
// one statement's rows would hold the only connection until its last
// row, and the first Get would wait for ever.
func TestQueryUsesStoreBetweenResults(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), hangBound)
	defer cancel()
	d := open(t, pgtest.Shared(t).NewDatabase(t), pgds.Options{MaxConns: 1})
	b, _ := d.Batch(ctx)
	for i := range 2100 {
		b.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%04d", i)), []byte{byte(i)})
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for e, err := range ds.QueryIter(ctx, d, query.Query{Prefix: "/k", KeysOnly: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Get(ctx, ds.RawKey(e.Key)); err != nil {
			t.Fatalf("Get %s between results: %v", e.Key, err)
		}
		if n%500 == 0 {
			if err := d.Put(ctx, ds.NewKey("/other/"+strconv.Itoa(n)), []byte("x")); err != nil {
				t.Fatalf("Put between results: %v", err)
			}
		}
		n++
	}
	if n != 2100 {
		t.Errorf("%d keys, want 2100", n)
	}
}

// TestBatchAtomic: another client never sees part of a committed batch,
// and a batch one of whose writes the server refuses leaves nothing
// behind (and the datastore keeps working).
func TestBatchAtomic(t *testing.T) {
	ctx := t.Context()
	url := pgtest.Shared(t).NewDatabase(t)
	writer := open(t, url, pgds.Options{})
	reader := open(t, url, pgds.Options{})

	const batches, size = 30, 200
	done, stop := make(chan struct{}), make(chan struct{})
	var torn []string
	go func() {
		defer close(done)
		for i := range batches {
			first := ds.NewKey(fmt.Sprintf("/b%d/%03d", i, 0))
			last := ds.NewKey(fmt.Sprintf("/b%d/%03d", i, size-1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				// The batch writes in key order: had it no
				// transaction, first would be visible before last.
				hf, err := reader.Has(ctx, first)
				if err != nil {
					t.Error(err)
					return
				}
				hl, err := reader.Has(ctx, last)
				if err != nil {
					t.Error(err)
					return
				}
				if hf && !hl {
					torn = append(torn, first.String())
				}
				if hf {
					break
				}
			}
		}
	}()
	for i := range batches {
		b, _ := writer.Batch(ctx)
		for j := range size {
			b.Put(ctx, ds.NewKey(fmt.Sprintf("/b%d/%03d", i, j)), []byte("v"))
		}
		if err := b.Commit(ctx); err != nil {
			close(stop)
			<-done
			t.Fatal(err)
		}
	}
	<-done
	if len(torn) > 0 {
		t.Errorf("saw the first key of %d batches without their last: %v", len(torn), torn)
	}

	// The server refuses one write of a batch (a constraint this test
	// adds): none of the batch is stored.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER TABLE datastore ADD CONSTRAINT not_bad CHECK (key <> '\x2f626164'::bytea)`); err != nil { // "/bad"
		t.Fatal(err)
	}
	b, _ := writer.Batch(ctx)
	for _, k := range []string{"/a", "/bad", "/z"} {
		b.Put(ctx, ds.NewKey(k), []byte("v"))
	}
	err = b.Commit(ctx)
	var pe *pgds.Error
	if !errors.As(err, &pe) || pe.Op != "batch" || !strings.Contains(err.Error(), "not_bad") {
		t.Fatalf("commit of a batch with a refused write: %v", err)
	}
	for _, k := range []string{"/a", "/z"} {
		if have, err := writer.Has(ctx, ds.NewKey(k)); err != nil || have {
			t.Errorf("%s after the failed batch: %v, %v; want absent", k, have, err)
		}
	}
	if err := writer.Put(ctx, ds.NewKey("/after"), []byte("ok")); err != nil {
		t.Errorf("put after a failed batch: %v", err)
	}
}

// TestConcurrentBatches: writers committing batches over the same keys at
// once all succeed (the writes go in key order, so their row locks cannot
// deadlock), and every key ends with one of the values written.
func TestConcurrentBatches(t *testing.T) {
	ctx := t.Context()
	d := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 20 {
				b, _ := d.Batch(ctx)
				for _, j := range r.Perm(50) {
					b.Put(ctx, ds.NewKey(fmt.Sprintf("/shared/%02d", j)), []byte{byte(w)})
				}
				if err := b.Commit(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(rest(t, d, query.Query{Prefix: "/shared", KeysOnly: true})); n != 50 {
		t.Errorf("%d keys, want 50", n)
	}
}

// TestConcurrentNew: processes opening one fresh database at once all
// succeed, though PostgreSQL's CREATE TABLE IF NOT EXISTS can fail one of
// two racing creators with a unique violation.
func TestConcurrentNew(t *testing.T) {
	for round := range 3 {
		url := pgtest.Shared(t).NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				d, err := pgds.New(t.Context(), url, pgds.Options{MaxConns: 1})
				if err == nil {
					d.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, opener %d: %v", round, i, err)
			}
		}
	}
}

// TestPutIfAbsent: of writers adding one key at once, exactly one value is
// stored and every writer is told that one.
func TestPutIfAbsent(t *testing.T) {
	ctx := t.Context()
	d := newStore(t)
	key := ds.NewKey("/meta/id")
	got := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			v, err := d.PutIfAbsent(ctx, key, []byte("id-"+strconv.Itoa(i)))
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	stored, err := d.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if !bytes.Equal(v, stored) {
			t.Errorf("writer %d was told %q; stored %q", i, v, stored)
		}
	}
}

// TestServerDownAndBack: with the server stopped (an immediate shutdown,
// as a crash), every kind of call fails promptly with an error naming the
// store, and once the server is back the same Datastore serves them again
// with what was committed before, without being reopened.
func TestServerDownAndBack(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	d := open(t, url, pgds.Options{MaxConns: 4})
	ctx, cancel := context.WithTimeout(t.Context(), 4*hangBound)
	defer cancel()
	if err := d.Put(ctx, ds.NewKey("/kept"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Warm the pool, so that stale connections are there to be found.
	for range 3 {
		if _, err := d.Get(ctx, ds.NewKey("/kept")); err != nil {
			t.Fatal(err)
		}
	}

	calls := map[string]func(context.Context) error{
		"get": func(ctx context.Context) error { _, err := d.Get(ctx, ds.NewKey("/kept")); return err },
		"has": func(ctx context.Context) error { _, err := d.Has(ctx, ds.NewKey("/kept")); return err },
		"size": func(ctx context.Context) error {
			_, err := d.GetSize(ctx, ds.NewKey("/kept"))
			return err
		},
		"put":    func(ctx context.Context) error { return d.Put(ctx, ds.NewKey("/new"), []byte("n")) },
		"delete": func(ctx context.Context) error { return d.Delete(ctx, ds.NewKey("/gone")) },
		"batch": func(ctx context.Context) error {
			b, _ := d.Batch(ctx)
			b.Put(ctx, ds.NewKey("/batched"), []byte("b"))
			return b.Commit(ctx)
		},
		"query": func(ctx context.Context) error {
			_, err := rest2(ctx, d, query.Query{Prefix: "/"})
			return err
		},
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range calls {
			if !yield(k) {
				return
			}
		}
	})

	srv.Stop()
	for _, name := range names {
		cctx, ccancel := context.WithTimeout(ctx, hangBound)
		err := calls[name](cctx)
		if cctx.Err() != nil {
			t.Errorf("%s with the server down: hung until the context expired", name)
		}
		ccancel()
		var pe *pgds.Error
		if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), d.Name()) {
			t.Errorf("%s with the server down: %v; want an error naming %s", name, err, d.Name())
		}
	}

	srv.Restart(t)
	for _, name := range names {
		if err := calls[name](ctx); err != nil {
			t.Errorf("%s after the server came back: %v", name, err)
		}
	}
	if v, err := d.Get(ctx, ds.NewKey("/kept")); err != nil || string(v) != "v" {
		t.Errorf("/kept after the restart: %q, %v", v, err)
	}

	// A restart between two calls, none made while it was down: the
	// pool's connections are all dead, and recently used (the pool pings
	// only those idle for a second). The next calls still succeed: a
	// call whose connection turns out dead is sent again on a new one.
	for _, name := range names {
		// Fill the pool (MaxConns 4) with live connections.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := rest2(ctx, d, query.Query{Prefix: "/"}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		srv.Restart(t)
		if err := calls[name](ctx); err != nil {
			t.Errorf("%s just after a restart: %v", name, err)
		}
	}
}

func rest2(ctx context.Context, d ds.Datastore, q query.Query) ([]query.Entry, error) {
	res, err := d.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return res.Rest()
}

// TestHungServerBoundedByContext: a server that accepts nothing and
// answers nothing (frozen) makes a call fail when the caller's context
// expires, naming the store; and serves again once it thaws.
func TestHungServerBoundedByContext(t *testing.T) {
	srv := pgtest.Start(t)
	d := open(t, srv.NewDatabase(t), pgds.Options{})
	if err := d.Put(t.Context(), ds.NewKey("/x"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	srv.Pause(t)
	paused := true
	defer func() {
		if paused {
			srv.Resume(t)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := d.Get(ctx, ds.NewKey("/x")); errc <- err }()
	select {
	case err := <-errc:
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), d.Name()) {
			t.Errorf("get from a frozen server: %v; want the context's deadline, naming %s", err, d.Name())
		}
	case <-time.After(hangBound):
		t.Fatal("get from a frozen server outlived its context")
	}
	srv.Resume(t)
	paused = false
	ctx2, cancel2 := context.WithTimeout(t.Context(), hangBound)
	defer cancel2()
	if v, err := d.Get(ctx2, ds.NewKey("/x")); err != nil || string(v) != "1" {
		t.Errorf("get after the server thawed: %q, %v", v, err)
	}
}

// TestErrors: what callers see for a bad URL (no password in the
// message), a bad table name or pool size, a key over MaxKeySize, and any
// call after Close.
func TestErrors(t *testing.T) {
	ctx := t.Context()
	_, err := pgds.New(ctx, "postgres://user:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=bogus", pgds.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL: %v; want an error without the password", err)
	}
	_, err = pgds.New(ctx, "postgres://user:s3cret@127.0.0.1:1/db?sslmode=disable", pgds.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1/db") {
		t.Errorf("no server: %v; want an error naming 127.0.0.1:1/db without the password", err)
	}
	for _, o := range []pgds.Options{{Table: "Bad-Name"}, {Table: `x"; DROP TABLE y; --`}, {MaxConns: -1}, {MaxConns: 2, MinConns: 3}} {
		if _, err := pgds.New(ctx, "postgres://u@127.0.0.1:1/db", o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}

	d := newStore(t)
	long := ds.NewKey("/" + strings.Repeat("k", pgds.MaxKeySize))
	if err := d.Put(ctx, long, []byte("v")); !errors.Is(err, pgds.ErrKeyTooLong) {
		t.Errorf("put of a long key: %v", err)
	}
	b, _ := d.Batch(ctx)
	if err := b.Put(ctx, long, []byte("v")); !errors.Is(err, pgds.ErrKeyTooLong) {
		t.Errorf("batch put of a long key: %v", err)
	}
	if _, err := d.Get(ctx, long); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("get of a long key: %v", err)
	}
	if n, err := d.GetSize(ctx, ds.NewKey("/missing")); n != -1 || !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("size of a missing key: %d, %v", n, err)
	}
	d.Close()
	if _, err := d.Get(ctx, ds.NewKey("/x")); !errors.Is(err, pgds.ErrClosed) {
		t.Errorf("get after close: %v", err)
	}
	if _, err := d.Query(ctx, query.Query{}); !errors.Is(err, pgds.ErrClosed) {
		t.Errorf("query after close: %v", err)
	}
}

// TestTables: two datastores in one database under different tables do
// not see each other's keys.
func TestTables(t *testing.T) {
	ctx := t.Context()
	url := pgtest.Shared(t).NewDatabase(t)
	a := open(t, url, pgds.Options{Table: "a"})
	b := open(t, url, pgds.Options{Table: "b_2"})
	if err := a.Put(ctx, ds.NewKey("/k"), []byte("a")); err != nil {
		t.Fatal(err)
	}
	if have, err := b.Has(ctx, ds.NewKey("/k")); err != nil || have {
		t.Errorf("b has a's key: %v, %v", have, err)
	}
}

// TestDeps keeps pgds independent of unode (DESIGN.md, "As it grows"): it
// could be published on its own.
func TestDeps(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if strings.HasPrefix(path, "github.com/unode-dev/unode/") && !strings.HasPrefix(path, "github.com/unode-dev/unode/p2p/repo/pgds") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
