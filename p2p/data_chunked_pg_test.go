package p2p

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p/repo/pgds"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// Chunked node data on a PostgreSQL store (data.go, data_chunks.go;
// p2p/repo/pgds). The tests that need a server start a throwaway one
// (pgtest), and are skipped without PostgreSQL's binaries unless
// $UNODE_REQUIRE_POSTGRES is 1.

// TestMain removes the PostgreSQL servers the tests started.
func TestMain(m *testing.M) { pgtest.Main(m) }

// pgOpen opens a datastore on the database at url, as a daemon does: a
// pool of its own. It is closed when the test ends, if not before.
func pgOpen(t *testing.T, url string) *pgds.Datastore {
	t.Helper()
	d, err := pgds.New(testCtx(t), url, pgds.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// chunkBlocksOf is every chunk block DataPut stores for text, as it
// makes them (the encoding is deterministic).
func chunkBlocksOf(t *testing.T, text string) []dag.Block {
	t.Helper()
	w, err := eval.ToWire(eval.Text(text))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := dag.EncodeValueChunked(w)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Chunks) < 2 {
		t.Fatalf("%d bytes of text make %d chunk blocks, want several", len(text), len(ev.Chunks))
	}
	return ev.Chunks
}

// storedBlocks is the set of block keys in the datastore.
func storedBlocks(t *testing.T, d datastore.Datastore) map[string]bool {
	t.Helper()
	res, err := d.Query(testCtx(t), query.Query{Prefix: "/blocks", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(all))
	for _, e := range all {
		out[e.Key] = true
	}
	return out
}

// dataRootKeys is the keys of the datastore's /datablocks/ records.
func dataRootKeys(t *testing.T, d datastore.Datastore) []string {
	t.Helper()
	res, err := d.Query(testCtx(t), query.Query{Prefix: strings.TrimSuffix(prefixDataBlocks, "/"), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range all {
		out = append(out, e.Key)
	}
	return out
}

// checkClosure is checkInvariant's closure half, for nodes that share
// the store with another process: their books are their own (each loads
// them once and counts what it writes after), so another daemon's
// records need not be in them.
func checkClosure(t *testing.T, n *Node) {
	t.Helper()
	if _, err := n.store.CheckCompleteMarkers(testCtx(t)); err != nil {
		t.Fatalf("closure invariant: %v", err)
	}
}

// expectDataText fails the test unless key reads back as text on n
// (through the Go API and in the language), or is absent when text is
// empty.
func expectDataText(t *testing.T, n *Node, key, text, expr string) {
	t.Helper()
	ctx := testCtx(t)
	v, ok, err := n.cb.DataGet(ctx, key)
	if err != nil {
		t.Fatalf("DataGet %s: %v", key, err)
	}
	if text == "" {
		if ok {
			t.Fatalf("DataGet %s: a value after its delete", key)
		}
		return
	}
	if s, _ := v.(eval.Text); !ok || string(s) != text {
		t.Fatalf("DataGet %s: %v, %T of %d bytes; want the %d bytes put", key, ok, v, len(s), len(text))
	}
	res, err := n.EvalAt(ctx, n.ID().String(), `Data.get "`+key+`" == Some `+expr, Budget{})
	if err != nil || res.Text != "true" {
		t.Fatalf("Data.get %s in the language: %v, %v", key, res, err)
	}
}

// chunksReleased fails the test unless every one of blocks is either
// gone or held only as node data's, unpinned: nothing keeps it for good,
// so a collection may take it once no data key names it.
func chunksReleased(t *testing.T, d datastore.Datastore, blocks []dag.Block) {
	t.Helper()
	ctx := testCtx(t)
	for _, b := range blocks {
		rec, err := d.Get(ctx, markKey(prefixUnpinned, b.CID))
		if errors.Is(err, datastore.ErrNotFound) {
			if ok, err := d.Has(ctx, blockDSKey(b.CID)); err != nil || ok {
				t.Fatalf("chunk %s stored with no unpinned record (pinned for good), %v", b.CID, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, p, _, err := decodeRecord(rec); err != nil || p != dataPeer {
			t.Fatalf("chunk %s recorded for %q, %v; want node data's", b.CID, p, err)
		}
	}
}

// A multi-chunk value put on a node whose store is PostgreSQL reads back
// on that node and, with no sync, on a second node with a datastore (a
// pool) of its own on the same database, as a second daemon has; an
// overwrite and a delete show on both at once and drop the chunks' roots;
// and what is stored survives the server's crash and the stores'
// reopening.
//
// On a store several processes share nothing is evicted (retain.go,
// docs/scaling.md): `repo gc` refuses, so the chunks of an overwritten
// or deleted value stay in the database, held unpinned as node data's,
// until a collection may run. The test checks that they are so held, and
// then that the records the PostgreSQL store kept are what a collection
// needs: a node that is told the database is its alone (as it is once the
// other daemons are stopped) collects exactly the chunks no key names,
// and the store holds then exactly the blocks it held before the first
// put.
func TestDataChunkedPostgres(t *testing.T) {
	ctx := testCtx(t)
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	dA, dB := pgOpen(t, url), pgOpen(t, url)
	a := newTestNode(t, WithDatastore(dA))
	b := newTestNode(t, WithDatastore(dB))
	if a.StoreID() != b.StoreID() {
		t.Fatalf("StoreIDs %s and %s on one database", a.StoreID(), b.StoreID())
	}
	if _, err := a.cb.CollectGarbage(ctx); !errors.Is(err, dag.ErrSharedStore) {
		t.Fatalf("repo gc on PostgreSQL: %v, want dag.ErrSharedStore", err)
	}
	base := storedBlocks(t, dA)

	const (
		overExpr = `(Text.repeat 898779 "hijklmn")`
		keepExpr = `(Text.repeat 700001 "opqrstu")`
	)
	bigText := dataBigText()
	overText := dataOtherText()
	keepText := strings.Repeat("opqrstu", 700001)
	bigChunks, overChunks, keepChunks := chunkBlocksOf(t, bigText), chunkBlocksOf(t, overText), chunkBlocksOf(t, keepText)

	// Put through the language on a; both nodes read it at once.
	if _, err := a.EvalAt(ctx, a.ID().String(), `Data.put "big" `+dataBigTextExpr, Budget{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EvalAt(ctx, b.ID().String(), `Data.put "keep" `+keepExpr, Budget{}); err != nil {
		t.Fatal(err)
	}
	dataChunkRoots(t, a, "big")
	blocks := storedBlocks(t, dA)
	for _, c := range append(append([]dag.Block{}, bigChunks...), keepChunks...) {
		if !blocks[blockDSKey(c.CID).String()] {
			t.Fatalf("chunk %s not in the database", c.CID)
		}
	}
	for _, n := range []*Node{a, b} {
		expectDataText(t, n, "big", bigText, dataBigTextExpr)
		expectDataText(t, n, "keep", keepText, keepExpr)
	}
	checkClosure(t, a)
	checkClosure(t, b)

	// Overwrite on b: a reads the new value, and the old one's chunks are
	// no longer named by any key.
	if err := b.cb.DataPut(ctx, "big", eval.Text(overText)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, b} {
		expectDataText(t, n, "big", overText, overExpr)
	}
	chunksReleased(t, dA, bigChunks)
	if _, err := b.cb.CollectGarbage(ctx); !errors.Is(err, dag.ErrSharedStore) {
		t.Fatalf("repo gc on PostgreSQL: %v, want dag.ErrSharedStore", err)
	}
	expectDataText(t, a, "big", overText, overExpr)

	// Delete on a: neither node finds it; only "keep" names chunks.
	if _, err := a.EvalAt(ctx, a.ID().String(), `Data.delete "big"`, Budget{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, b} {
		expectDataText(t, n, "big", "", "")
	}
	if keys := dataRootKeys(t, dA); len(keys) != 1 || keys[0] != prefixDataBlocks+"keep" {
		t.Fatalf("chunk roots recorded under %v, want %skeep alone", keys, prefixDataBlocks)
	}
	chunksReleased(t, dA, append(append([]dag.Block{}, bigChunks...), overChunks...))
	left := 0
	for k := range storedBlocks(t, dA) {
		if !base[k] {
			left++
		}
	}
	t.Logf("blocks the puts stored, still in the shared database after the overwrite and the delete: %d (%d of them keep's)", left, distinctBlocks(keepChunks))
	checkClosure(t, a)
	checkClosure(t, b)

	// Both daemons stop; the server crashes (an immediate shutdown) and
	// comes back; a daemon opens the store again: "keep" is all there,
	// its chunks in node data's books.
	a.Close()
	b.Close()
	dA.Close()
	dB.Close()
	srv.Restart(t)
	dC := pgOpen(t, url)
	c := newTestNode(t, WithDatastore(dC))
	expectDataText(t, c, "keep", keepText, keepExpr)
	expectDataText(t, c, "big", "", "")
	st, err := c.cb.DiskStat(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Data.Blocks < int64(distinctBlocks(keepChunks)) {
		t.Fatalf("after reopening, node data holds %+v; want at least the %d chunks of keep", st.Data, distinctBlocks(keepChunks))
	}
	checkInvariant(t, c)
	c.Close()
	dC.Close()

	// The database is one daemon's now. Its collection takes the chunks
	// of the overwritten and deleted values and leaves keep's.
	dSole := pgOpen(t, url)
	sole := newTestNode(t, WithDatastore(&processDS{Batching: dSole}))
	gc, err := sole.cb.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := distinctBlocks(bigChunks, overChunks); gc.Blocks != int64(want) {
		t.Errorf("the collection evicted %d blocks, want the %d chunks no key names", gc.Blocks, want)
	}
	expectDataText(t, sole, "keep", keepText, keepExpr)
	checkInvariant(t, sole)
	if err := sole.cb.DataDelete(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if gc, err := sole.cb.CollectGarbage(ctx); err != nil || gc.Blocks != int64(distinctBlocks(keepChunks)) {
		t.Errorf("the collection after deleting keep: %+v, %v; want its %d chunks", gc, err, distinctBlocks(keepChunks))
	}
	if after := storedBlocks(t, dSole); len(after) != len(base) {
		var extra []string
		for k := range after {
			if !base[k] {
				extra = append(extra, k)
			}
		}
		t.Errorf("%d blocks stored before the first put, %d after every key is deleted and collected; left: %v", len(base), len(after), extra)
	}
	if st, err := sole.cb.DiskStat(ctx, -1); err != nil || st.Data != (DiskUsage{}) {
		t.Errorf("node data holds %+v after every key is gone (%v)", st, err)
	}
	checkInvariant(t, sole)
}

// distinctBlocks counts the distinct CIDs of blocks (a value's chunks
// repeat where its text does).
func distinctBlocks(blocks ...[]dag.Block) int {
	seen := map[cid.Cid]bool{}
	for _, bs := range blocks {
		for _, b := range bs {
			seen[b.CID] = true
		}
	}
	return len(seen)
}
