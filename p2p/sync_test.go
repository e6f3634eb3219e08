package p2p

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

func newTestCodebase(t *testing.T, src string) *Codebase {
	t.Helper()
	cb := NewCodebase(dssync.MutexWrap(datastore.NewMapDatastore()))
	if src != "" {
		if _, err := cb.Add(context.Background(), "t.u", []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	return cb
}

func defCID(t *testing.T, cb *Codebase, name string) cid.Cid {
	t.Helper()
	ref, ok, err := cb.Store().LookupName(context.Background(), name)
	if err != nil || !ok {
		t.Fatalf("no %s: %v", name, err)
	}
	return ref.Def.CID
}

// planDeps lists the closure deps-first and prunes whole sub-DAGs below a
// block the peer is known to hold.
func TestPlanDeps(t *testing.T) {
	ctx := context.Background()
	cb := newTestCodebase(t, chainSource("f", 6))
	top := defCID(t, cb, "f5")
	all, err := planDeps(ctx, cb.Store(), []cid.Cid{top}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closure, _ := cb.Store().ClosureOf(ctx, top)
	if len(all) != 6 || !all[5].Equals(top) || !all[0].Equals(defCID(t, cb, "f0")) {
		t.Fatalf("planDeps = %v, want f0..f5", all)
	}
	for i := range all {
		if !all[i].Equals(closure[i]) {
			t.Fatalf("planDeps order differs from ClosureOf")
		}
	}
	f3 := defCID(t, cb, "f3")
	some, err := planDeps(ctx, cb.Store(), []cid.Cid{top}, func(c cid.Cid) bool { return c.Equals(f3) })
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != 2 { // f4, f5: f3 and everything below it are covered
		t.Fatalf("with f3 known: %v", some)
	}
	none, err := planDeps(ctx, cb.Store(), []cid.Cid{top}, func(cid.Cid) bool { return true })
	if err != nil || len(none) != 0 {
		t.Fatalf("all known: %v, %v", none, err)
	}
	// A block the caller lacks is not listed: the callee must hold it
	// (a private implementation, called by CID at its owner).
	other := newTestCodebase(t, "")
	if absent, err := planDeps(ctx, other.Store(), []cid.Cid{top}, nil); err != nil || len(absent) != 0 {
		t.Fatalf("absent root: %v, %v", absent, err)
	}
}

// neededOf asks for what is neither complete nor stored.
func TestNeededOf(t *testing.T) {
	ctx := context.Background()
	src := newTestCodebase(t, chainSource("f", 4))
	deps, _ := planDeps(ctx, src.Store(), []cid.Cid{defCID(t, src, "f3")}, nil)
	dst := newTestCodebase(t, chainSource("f", 2)) // has f0, f1
	idx, err := neededOf(ctx, dst.Store(), deps)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 2 || idx[0] != 2 || idx[1] != 3 {
		t.Fatalf("needed %v, want [2 3]", idx)
	}
	bits := bitmapFor(len(deps), idx)
	back, err := bitsSet(bits, len(deps))
	if err != nil || len(back) != 2 || back[0] != 2 || back[1] != 3 {
		t.Fatalf("bitmap round trip: %v %v", back, err)
	}
	if _, err := bitsSet([]byte{0x80}, 4); err == nil {
		t.Error("a bit past the list was accepted")
	}
	if _, err := bitsSet([]byte{0x01, 0x00}, 4); err == nil {
		t.Error("a bitmap of the wrong length was accepted")
	}
}

// Result blocks: only what the caller cannot have travels, and the caller
// accepts only blocks the result refers to.
func TestResultBlocks(t *testing.T) {
	ctx := context.Background()
	callee := newTestCodebase(t, chainSource("f", 3)+"s0 x = x + 100\ns1 x = s0 x * 2\ns2 x = s1 x - 3\n")
	caller := newTestCodebase(t, chainSource("f", 3))
	fRoot, sRoot := defCID(t, callee, "f2"), defCID(t, callee, "s2")
	result := dag.ValueLinks(&dag.VTuple{Elems: []dag.Value{
		&dag.VDef{Def: dag.DefRef{CID: fRoot}}, &dag.VDef{Def: dag.DefRef{CID: sRoot}}}})
	bs, err := resultBlocks(ctx, callee.Store(), result, []cid.Cid{fRoot}, nil, MaxReplySize, nil)
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for _, b := range bs {
		blocks = append(blocks, b.Data)
	}
	if len(blocks) != 3 { // s0, s1, s2; f's closure was the thunk's
		t.Fatalf("%d result blocks, want 3", len(blocks))
	}
	if err := acceptResultBlocks(ctx, caller.Store(), result, blocks, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := caller.Store().IsComplete(ctx, sRoot); !ok {
		t.Error("s2 not complete at the caller")
	}
	stray := scratchBlock(t, "w = 5\n", "w")
	if err := acceptResultBlocks(ctx, newTestCodebase(t, "").Store(), result, append(blocks, stray.Data), nil); err == nil {
		t.Error("a block the result does not refer to was accepted")
	}
	if err := acceptResultBlocks(ctx, newTestCodebase(t, "").Store(), result, blocks[1:], nil); !errors.Is(err, dag.ErrMissing) {
		t.Errorf("an incomplete result was accepted: %v", err)
	}
	none, err := resultBlocks(ctx, callee.Store(), result, []cid.Cid{fRoot, sRoot}, nil, MaxReplySize, nil)
	if err != nil || len(none) != 0 {
		t.Errorf("covered result: %d blocks, %v", len(none), err)
	}
}

// A result that refers to the callee's published code brings that code
// along, and the caller can run it; its private code stays home.
func TestResultCarriesCalleeCode(t *testing.T) {
	ctx := testCtx(t)
	a, b := newTestNode(t), newOpenNode(t)
	connectAll(t, a, b)
	if _, err := b.Codebase().AddWith(ctx, "b.u", []byte("secret x = x * 42 + 1\nhidden x = x - 1\n"), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Codebase().Publish(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EvalAt(ctx, b.ID().String(), `Data.put "fn" secret`, Budget{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EvalAt(ctx, b.ID().String(), `Data.put "private" hidden`, Budget{}); err != nil {
		t.Fatal(err)
	}
	addSource(t, a, "useAt n k = match at n '(Data.get k) with\n  | Some g -> g 2\n  | None -> 0\n")
	v, _, err := call(ctx, a, "useAt", nodeValue(b), eval.Text("fn"))
	if err != nil || show(v) != "85" {
		t.Fatalf("useAt = %v, %v; want 85", v, err)
	}
	_, _, err = call(ctx, a, "useAt", nodeValue(b), eval.Text("private"))
	if err == nil || !strings.Contains(err.Error(), "Err.Denied") || !strings.Contains(err.Error(), "private to this node") {
		t.Fatalf("a result carrying private code: %v", err)
	}

	// Code A sent B goes back to A, but not to C.
	addSource(t, a, "mine x = x + 1000\nsendMine n = at n '(Data.put \"a\" mine)\n")
	if _, _, err := call(ctx, a, "sendMine", nodeValue(b)); err == nil {
		t.Fatal("a foreign Data.put was allowed") // openSandbox reads only
	}
	ref, _, _ := a.store.LookupName(ctx, "mine")
	if _, err := a.EvalAt(ctx, b.ID().String(), "#"+ref.Def.CID.String()+" 1", Budget{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EvalAt(ctx, b.ID().String(), `Data.put "a" #`+ref.Def.CID.String(), Budget{}); err != nil {
		t.Fatal(err)
	}
	if v, _, err := call(ctx, a, "useAt", nodeValue(b), eval.Text("a")); err != nil || show(v) != "1002" {
		t.Errorf("A's own code back to A: %v, %v", v, err)
	}
	c := newTestNode(t)
	connectAll(t, c, b)
	addSource(t, c, "useAt n k = match at n '(Data.get k) with\n  | Some g -> g 2\n  | None -> 0\n")
	if _, _, err := call(ctx, c, "useAt", nodeValue(b), eval.Text("a")); err == nil || !strings.Contains(err.Error(), "private to this node") {
		t.Errorf("A's code to C: %v", err)
	}
}

// A stale record (the peer lost its blocks) costs one retry with a full
// list, not a failure.
func TestStaleRecordRetries(t *testing.T) {
	ctx := testCtx(t)
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := newTestNode(t)
	b := newTestNode(t, WithIdentity(key))
	connectAll(t, a, b)
	addSource(t, a, chainSource("f", 8)+"f = f7\nrunAt n x = at n '(f x)\n")
	if _, st, err := call(ctx, a, "runAt", nodeValue(b), eval.MakeInt(1)); err != nil || st.Blocks != 9 {
		t.Fatalf("first call: %+v, %v", st, err)
	}
	b.Close()
	// Until A sees the old connection go, connecting to B2 would find
	// it "already connected" and dial nothing; the call would then go
	// to B's dead address.
	waitUntil(t, func() error {
		if a.host.Network().Connectedness(b.ID()) == network.Connected {
			return errors.New("a still holds its connection to b")
		}
		return nil
	})
	b2 := newTestNode(t, WithIdentity(key))
	connectAll(t, a, b2)
	// A's record says B holds everything; B2 (same peer ID) holds nothing.
	_, st, err := call(ctx, a, "runAt", nodeValue(b2), eval.MakeInt(1))
	if err != nil {
		t.Fatal(err)
	}
	// The callee asks for the root f (1) and then lacks what is below
	// it, so the caller forgets its record and calls again (2) with a
	// full list, of which the callee asks for the rest (3).
	if st.Blocks != 9 || st.RoundTrips != 3 {
		t.Errorf("after a stale record: %+v, want 9 blocks in 3 extra round trips", st)
	}
}

func TestPeerRecordsAreBounded(t *testing.T) {
	s := newCIDSet(2)
	a, b, c := defCIDs(t, 3)
	s.add(a)
	s.add(b)
	s.has(a) // a is now the most recent
	s.add(c)
	if !s.has(a) || s.has(b) || !s.has(c) || s.len() != 2 {
		t.Errorf("LRU kept the wrong entries")
	}
	book := newPeerBook(1)
	r1 := book.get("p1")
	r1.learn(a)
	book.get("p2")
	if _, ok := book.lookup("p1"); ok {
		t.Error("the book kept more peers than its bound")
	}
}

func defCIDs(t *testing.T, n int) (cid.Cid, cid.Cid, cid.Cid) {
	cb := newTestCodebase(t, chainSource("f", n))
	return defCID(t, cb, "f0"), defCID(t, cb, "f1"), defCID(t, cb, "f2")
}

// A digest prefix that resolves at the callee to a block other than the
// caller's (a collision) shows as that block missing there, and costs
// one retry with the full list, never a wrong block.
func TestPrefixCollisionRetries(t *testing.T) {
	ctx := testCtx(t)
	a, b := newTestNode(t), newTestNode(t)
	connectAll(t, a, b)
	addSource(t, a, chainSource("f", 8)+"f = f7\nrunAt n x = at n '(f x)\n")
	addSource(t, b, "g x = x * 3\n")
	if _, err := b.Codebase().Publish(ctx, "g"); err != nil { // shareable: a private g would be asked for
		t.Fatal(err)
	}
	f3, _ := dag.DigestPrefix(defCID(t, a.cb, "f3"))
	g := defCID(t, b.cb, "g")
	hook := func(p uint64, c cid.Cid, ok bool) (cid.Cid, bool) {
		if p == f3 {
			return g, true // b "holds" f3: it holds g, with f3's prefix
		}
		return c, ok
	}
	b.resolveHook.Store(&hook)
	v, st, err := call(ctx, a, "runAt", nodeValue(b), eval.MakeInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if want, _, _ := call(ctx, a, "f", eval.MakeInt(1)); show(v) != show(want) {
		t.Errorf("result %s, want %s", show(v), show(want))
	}
	// The callee asks for all but f3 (1), lacks f3, so the caller calls
	// again (2) with full digests, and the callee asks for f3 (3) and
	// for f0..f2 again: it could not tell them, below the hole, from
	// blocks the thunk does not need, and kept none of them.
	if st.Blocks != 12 || st.RoundTrips != 3 {
		t.Errorf("after a prefix collision: %+v, want 12 blocks in 3 extra round trips", st)
	}
	if ok, _ := b.store.IsComplete(ctx, defCID(t, a.cb, "f")); !ok {
		t.Error("the callee does not hold the closure")
	}
}

// The compact list: a callee resolves the prefixes against every block
// it holds, those stored after it first resolved some included, and is
// asked for exactly the rest.
func TestPrefixListSyncsExactly(t *testing.T) {
	ctx := testCtx(t)
	a, b := newTestNode(t), newTestNode(t)
	connectAll(t, a, b)
	addSource(t, a, chainSource("f", 8)+"f = f7\nrunAt n x = at n '(f x)\n"+
		chainSource("h", 3)+"runH n x = at n '(h2 x)\n")
	if _, st, err := call(ctx, a, "runH", nodeValue(b), eval.MakeInt(1)); err != nil || st.Blocks != 3 {
		t.Fatalf("first call: %+v, %v", st, err)
	}
	// f0..f4, the same blocks as a's, published so they are shareable
	// with a (a private copy would be asked for again: case 11).
	addSource(t, b, chainSource("f", 5))
	if _, err := b.Codebase().Publish(ctx, "f4"); err != nil {
		t.Fatal(err)
	}
	_, st, err := call(ctx, a, "runAt", nodeValue(b), eval.MakeInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != 4 || st.RoundTrips != 1 { // f5, f6, f7, f
		t.Errorf("sync: %+v, want 4 blocks in 1 extra round trip", st)
	}
}
