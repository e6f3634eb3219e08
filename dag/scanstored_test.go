package dag

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/p2p/repo/memds"
)

// sameScan reports how two scans differ ("" if they read the same: nil
// and empty lists alike, since every reader only ranges over them).
func sameScan(a, b *StoredScan) string {
	switch {
	case !slices.Equal(a.Builtins, b.Builtins):
		return fmt.Sprintf("builtins %v, %v", a.Builtins, b.Builtins)
	case (a.Builtins == nil) != (b.Builtins == nil):
		// nil means "not a term block or element leaf": keep it exact.
		return fmt.Sprintf("builtins nil: %v, %v", a.Builtins == nil, b.Builtins == nil)
	case !slices.EqualFunc(a.Links, b.Links, cid.Cid.Equals):
		return fmt.Sprintf("links %v, %v", a.Links, b.Links)
	case !slices.EqualFunc(a.Needed, b.Needed, cid.Cid.Equals):
		return fmt.Sprintf("needed %v, %v", a.Needed, b.Needed)
	case !slices.EqualFunc(a.Defs, b.Defs, cid.Cid.Equals):
		return fmt.Sprintf("defs %v, %v", a.Defs, b.Defs)
	}
	return ""
}

// checkStoredScanAgrees: a block fastBlock takes, ScanStoredBlock reads as
// the general path does, and its links and needed links are what the
// independent scanners (Links, NeededLinks) find. It returns whether
// the one pass read it.
func checkStoredScanAgrees(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	_, _, fast = fastBlock(data)
	general, gerr := scanStoredGeneral(data)
	got, err := ScanStoredBlock(data)
	if !fast {
		// The general path itself: same answer, errors included.
		if (gerr == nil) != (err == nil) || gerr != nil && gerr.Error() != err.Error() {
			t.Fatalf("%x: ScanStoredBlock: %v, general path: %v", data, err, gerr)
		}
		if gerr == nil {
			if d := sameScan(got, general); d != "" {
				t.Fatalf("%x: ScanStoredBlock and the general path differ: %s", data, d)
			}
		}
		return false
	}
	if gerr != nil || err != nil {
		t.Fatalf("%x: the one pass takes it; ScanStoredBlock: %v, general path: %v", data, err, gerr)
	}
	if d := sameScan(got, general); d != "" {
		t.Fatalf("%x: the one pass and the general path differ: %s", data, d)
	}
	links, lerr := Links(data)
	needed, nerr := NeededLinks(data)
	if lerr != nil || nerr != nil || !slices.EqualFunc(links, got.Links, cid.Cid.Equals) || !slices.EqualFunc(needed, got.Needed, cid.Cid.Equals) {
		t.Fatalf("%x: scan links %v needed %v; Links %v (%v), NeededLinks %v (%v)", data, got.Links, got.Needed, links, lerr, needed, nerr)
	}
	return true
}

// checkReceivedScan stores data as a received block and checks that
// ScanStored reads it from the decoded-block cache (when the one pass
// decoded it), and reads what the general path reads.
func checkReceivedScan(t *testing.T, data []byte) {
	t.Helper()
	ctx := context.Background()
	s, _ := newMemStore(t)
	r := Receive(data)
	if err := r.Check(); err != nil {
		return // never stored
	}
	if err := s.AddReceived(ctx, []*Received{r}); err != nil {
		t.Fatalf("%x: AddReceived: %v", data, err)
	}
	_, cached := s.cache.scanned(r.CID())
	if _, _, fast := fastBlock(data); cached != fast {
		t.Fatalf("%x: kept for ScanStored: %v; decoded by the one pass: %v", data, cached, fast)
	}
	got, err := s.ScanStored(ctx, r.CID())
	if err != nil {
		t.Fatalf("%x: ScanStored: %v", data, err)
	}
	general, err := scanStoredGeneral(data)
	if err != nil {
		t.Fatalf("%x: a checked block the general path cannot scan: %v", data, err)
	}
	if d := sameScan(got, general); d != "" {
		t.Fatalf("%x: ScanStored of the received block and the general path differ: %s", data, d)
	}
}

// storedScanSeeds: fastSeeds, and blocks the one pass leaves to the general
// path or reads specially: thunks sent to fixed nodes (links a holder
// does not need), a chunked literal and its chunks, an element leaf of
// closures, a block with no links, a block with only fixed links.
func storedScanSeeds(t testing.TB) [][]byte {
	out := fastSeeds(t)
	enc := func(ts ...Term) []byte {
		data, err := EncodeTermBlock(&TermBlock{Members: ts})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	a := termBlock(t, "a").CID
	b := termBlock(t, "b").CID
	fixed := func(body Term) Term {
		return &App{Fn: &Builtin{Name: "at"}, Args: []Term{FixedNode("12D3KooWowner"), &Delay{Body: body}}}
	}
	ref := func(c cid.Cid) Term { return &Ref{Def: DefRef{CID: c}} }
	out = append(out,
		enc(fixed(ref(a))),         // only fixed links
		enc(fixed(ref(a)), ref(b)), // one of each
		enc(fixed(ref(a)), &App{Fn: ref(a), Args: []Term{&Builtin{Name: "Int.add"}}}), // both ways
		enc(&App{Fn: &Builtin{Name: "Text.size"}, Args: []Term{&Text{V: "x"}}}),       // no links
	)
	// More builtins than builtinWalker keeps in a slice, some twice.
	var many []Term
	for i := range 3 * builtinWalkerSlice {
		many = append(many, &Builtin{Name: fmt.Sprintf("B.%d", i%(2*builtinWalkerSlice))})
	}
	out = append(out, enc(&App{Fn: &Builtin{Name: "B.0"}, Args: many}))
	data, chunks, err := EncodeTermBlockChunked(&TermBlock{Members: []Term{
		&App{Fn: &Builtin{Name: "Text.size"}, Args: []Term{&Text{V: bigText(ChunkThreshold + 1)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, data)
	for _, c := range chunks {
		out = append(out, c.Data)
	}
	// A list of closures too long to go inline: element leaves whose
	// values name code and builtins.
	var elems []Value
	for i := range 4000 {
		elems = append(elems, &VClosure{Code: &Lam{Arity: 1, Body: &App{Fn: ref(a), Args: []Term{&Builtin{Name: "Int.mul"}, &Int{V: int64(i)}}}}})
	}
	ev, err := EncodeValueChunked(&VList{Elems: elems})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Chunks) == 0 {
		t.Fatal("the list of closures went inline")
	}
	for _, c := range ev.Chunks {
		out = append(out, c.Data)
	}
	return out
}

// TestScanStoredFastMatchesGeneral: every seed is scanned alike by the
// one pass and the general path, and alike again once received and read
// from the decoded-block cache.
func TestScanStoredFastMatchesGeneral(t *testing.T) {
	fast, general := 0, 0
	for _, data := range storedScanSeeds(t) {
		if checkStoredScanAgrees(t, data) {
			fast++
		} else {
			general++
		}
		checkReceivedScan(t, data)
	}
	// Both paths were exercised: chunk blocks and chunked literals go the
	// general way, the rest the one pass.
	if fast < 10 || general < 3 {
		t.Fatalf("%d seeds read by the one pass, %d by the general path", fast, general)
	}
}

// Truncations and random changes of the seeds: what the one pass reads
// of a block it takes is what the general path reads.
func TestScanStoredMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	taken := 0
	for _, data := range storedScanSeeds(t) {
		if len(data) > 4096 {
			continue // the chunks: left to the general path anyway
		}
		for i := range data {
			checkStoredScanAgrees(t, data[:i])
		}
		for range 200 {
			m := slices.Clone(data)
			for range 1 + r.IntN(3) {
				m[r.IntN(len(m))] = byte(r.UintN(256))
			}
			if checkStoredScanAgrees(t, m) {
				taken++
				checkReceivedScan(t, m)
			}
		}
	}
	t.Logf("%d mutations taken by the one pass", taken)
}

// A block collected after it was received is not found, though its
// decoding is still cached by a Store that did not collect it.
func TestScanStoredSeesCollection(t *testing.T) {
	ctx := context.Background()
	s, ds := newMemStore(t)
	r := Receive(termBlock(t, "gone").Data)
	if err := s.AddReceived(ctx, []*Received{r}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ScanStored(ctx, r.CID()); err != nil {
		t.Fatal(err)
	}
	// Another Store over the datastore deletes it: this one's cache
	// still holds the decoded block.
	if err := ds.Delete(ctx, blockKey(r.CID())); err != nil {
		t.Fatal(err)
	}
	if _, key, ok := s.cache.scannedKey(r.CID()); !ok || key != blockKey(r.CID()).String() {
		t.Fatalf("the cache entry went, or has not the block's key (%q): the test does not test the presence check", key)
	}
	if _, err := s.ScanStored(ctx, r.CID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ScanStored of a collected block: %v, want ErrNotFound", err)
	}
}

// A received block's keys are made once (storeKeys) and are the keys
// Has and the writes use: MhKey is mhKey, HasReceived is Has, before and
// after AddReceived, and the cache keeps the block key ScanStored's
// presence check reads.
func TestReceivedKeys(t *testing.T) {
	ctx := context.Background()
	for _, ds := range []datastore.Batching{memds.New(), dssync.MutexWrap(datastore.NewMapDatastore())} {
		s := NewStore(ds)
		r := Receive(termBlock(t, "keyed").Data)
		if err := r.Check(); err != nil {
			t.Fatal(err)
		}
		if got, want := r.MhKey(), mhKey(r.CID()); got != want {
			t.Fatalf("MhKey %q, want %q", got, want)
		}
		for _, stored := range []bool{false, true} {
			if stored {
				if err := s.AddReceived(ctx, []*Received{r}); err != nil {
					t.Fatal(err)
				}
			}
			has, err := s.HasReceived(ctx, r)
			want, err2 := s.Has(ctx, r.CID())
			if err != nil || err2 != nil || has != want || has != stored {
				t.Fatalf("stored %v: HasReceived %v (%v), Has %v (%v)", stored, has, err, want, err2)
			}
		}
		ok, err := ds.Has(ctx, completeKey(r.CID()))
		if err != nil || !ok {
			t.Fatalf("marker under %s: %v %v", completeKey(r.CID()), ok, err)
		}
		if _, key, ok := s.cache.scannedKey(r.CID()); !ok || key != blockKey(r.CID()).String() {
			t.Fatalf("cached key %q, want %q", key, blockKey(r.CID()))
		}
	}
}

// FuzzScanStoredBlock: whatever the one pass takes, ScanStoredBlock
// reads as the general path does.
func FuzzScanStoredBlock(f *testing.F) {
	for _, data := range storedScanSeeds(f) {
		if len(data) <= 4096 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkStoredScanAgrees(t, data) {
			checkReceivedScan(t, data)
		}
	})
}
