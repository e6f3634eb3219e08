package dag

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

func newMemStore(t testing.TB) (*Store, datastore.Batching) {
	t.Helper()
	ds := dssync.MutexWrap(datastore.NewMapDatastore())
	return NewStore(ds), ds
}

// termBlock makes a one-member term block whose term refers to deps.
func termBlock(t testing.TB, label string, deps ...cid.Cid) Block {
	t.Helper()
	var tm Term = &Text{V: label}
	for _, d := range deps {
		tm = &App{Fn: &Ref{Def: DefRef{CID: d}}, Args: []Term{tm}}
	}
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}})
	if err != nil {
		t.Fatal(err)
	}
	return NewBlock(data)
}

func wantComplete(t *testing.T, s *Store, want bool, bs ...Block) {
	t.Helper()
	for _, b := range bs {
		got, err := s.IsComplete(context.Background(), b.CID)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("IsComplete(%s) = %v, want %v", b.CID, got, want)
		}
	}
}

func TestNewBlockCID(t *testing.T) {
	b := NewBlock([]byte{0xa0})
	p := b.CID.Prefix()
	if p.Version != 1 || p.Codec != 0x71 || p.MhType != 0x12 || p.MhLength != 32 {
		t.Errorf("prefix %+v", p)
	}
	if !b.CID.Equals(SumCID([]byte{0xa0})) {
		t.Error("SumCID differs from NewBlock")
	}
}

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	b := termBlock(t, "leaf")
	if ok, _ := s.Has(ctx, b.CID); ok {
		t.Fatal("Has before Put")
	}
	if _, err := s.Get(ctx, b.CID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Put: %v", err)
	}
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, b); err != nil { // idempotent
		t.Fatal(err)
	}
	got, err := s.Get(ctx, b.CID)
	if err != nil || string(got) != string(b.Data) {
		t.Fatalf("Get = %x, %v", got, err)
	}
	if ok, _ := s.Has(ctx, b.CID); !ok {
		t.Fatal("Has after Put")
	}
	wantComplete(t, s, false, b) // Put alone does not mark complete

	// Corrupt one byte: refused with the original CID.
	bad := append([]byte(nil), b.Data...)
	bad[len(bad)-1] ^= 1
	err = s.PutVerified(ctx, b.CID, bad)
	var hm *HashMismatchError
	if !errors.As(err, &hm) || !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("corrupt Put: %v", err)
	}
	if !hm.Want.Equals(b.CID) || !hm.Got.Equals(SumCID(bad)) {
		t.Errorf("mismatch error %+v", hm)
	}
	if err := s.AddBlocks(ctx, []Block{{CID: b.CID, Data: bad}}); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("corrupt AddBlocks: %v", err)
	}
	got, _ = s.Get(ctx, b.CID)
	if string(got) != string(b.Data) {
		t.Error("corrupt block overwrote the good one")
	}

	// Not DAG-CBOR, wrong CID kind, too large.
	junk := []byte{0xff}
	if err := s.Put(ctx, NewBlock(junk)); !errors.Is(err, ErrMalformed) {
		t.Errorf("junk Put: %v", err)
	}
	raw := cid.NewCidV1(cid.Raw, b.CID.Hash())
	if err := s.PutVerified(ctx, raw, b.Data); !errors.Is(err, ErrUnsupportedCID) {
		t.Errorf("raw CID Put: %v", err)
	}
	if ok, _ := s.Has(ctx, raw); ok {
		t.Error("Has(raw CID with the same multihash) = true")
	}
	big := make([]byte, MaxBlockSize+1)
	if err := s.Put(ctx, NewBlock(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big Put: %v", err)
	}
}

func TestClosureInvariant(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	leaf := termBlock(t, "leaf")
	mid := termBlock(t, "mid", leaf.CID)
	root := termBlock(t, "root", mid.CID, leaf.CID)

	// root and mid arrive without leaf: stored, not complete.
	if err := s.AddBlocks(ctx, []Block{root, mid}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []Block{root, mid} {
		if ok, _ := s.Has(ctx, b.CID); !ok {
			t.Fatalf("%s not stored", b.CID)
		}
	}
	wantComplete(t, s, false, root, mid)
	err := s.MarkComplete(ctx, mid.CID)
	var me *MissingError
	if !errors.As(err, &me) || !errors.Is(err, ErrMissing) || len(me.CIDs) != 1 || !me.CIDs[0].Equals(leaf.CID) {
		t.Fatalf("MarkComplete(mid) = %v", err)
	}
	if _, err := s.ClosureOf(ctx, root.CID); !errors.Is(err, ErrMissing) {
		t.Fatalf("ClosureOf with a hole: %v", err)
	}
	missing, err := s.MissingFrom(ctx, []cid.Cid{root.CID, leaf.CID, root.CID})
	if err != nil || !reflect.DeepEqual(missing, []cid.Cid{root.CID, leaf.CID}) {
		t.Fatalf("MissingFrom = %v, %v", missing, err)
	}

	// The dependency arrives on its own: it is complete; its parents need
	// MarkComplete (bottom up) or MarkClosureComplete.
	if err := s.AddBlocks(ctx, []Block{leaf}); err != nil {
		t.Fatal(err)
	}
	wantComplete(t, s, true, leaf)
	wantComplete(t, s, false, mid, root)
	if err := s.MarkComplete(ctx, root.CID); !errors.Is(err, ErrMissing) {
		t.Fatalf("MarkComplete(root) before mid: %v", err)
	}
	if err := s.MarkComplete(ctx, mid.CID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkComplete(ctx, root.CID); err != nil {
		t.Fatal(err)
	}
	wantComplete(t, s, true, leaf, mid, root)

	order, err := s.ClosureOf(ctx, root.CID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(order, []cid.Cid{leaf.CID, mid.CID, root.CID}) {
		t.Fatalf("ClosureOf = %v", order)
	}
	missing, err = s.MissingFrom(ctx, []cid.Cid{root.CID, leaf.CID})
	if err != nil || len(missing) != 0 {
		t.Fatalf("MissingFrom after = %v, %v", missing, err)
	}
	if err := s.MarkComplete(ctx, codecCID("absent")); !errors.Is(err, ErrMissing) {
		t.Errorf("MarkComplete(absent) = %v", err)
	}
}

func TestMarkClosureComplete(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	leaf := termBlock(t, "leaf")
	mid := termBlock(t, "mid", leaf.CID)
	root := termBlock(t, "root", mid.CID)
	if err := s.AddBlocks(ctx, []Block{root, mid}); err != nil {
		t.Fatal(err)
	}
	err := s.MarkClosureComplete(ctx, root.CID)
	var me *MissingError
	if !errors.As(err, &me) || len(me.CIDs) != 1 || !me.CIDs[0].Equals(leaf.CID) {
		t.Fatalf("MarkClosureComplete with hole: %v", err)
	}
	if err := s.AddBlocks(ctx, []Block{leaf}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkClosureComplete(ctx, root.CID); err != nil {
		t.Fatal(err)
	}
	wantComplete(t, s, true, leaf, mid, root)
}

// TestAddBlocksOrder: a reversed chain plus a diamond, all in one call, is
// marked complete whatever the order of the slice.
func TestAddBlocksOrder(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	chain := []Block{termBlock(t, "c0")}
	for i := 1; i < 50; i++ {
		chain = append(chain, termBlock(t, "c", chain[i-1].CID))
	}
	a := termBlock(t, "a", chain[49].CID)
	b := termBlock(t, "b", chain[10].CID)
	top := termBlock(t, "top", a.CID, b.CID)
	orphan := termBlock(t, "orphan", codecCID("nowhere"))
	above := termBlock(t, "above orphan", orphan.CID, a.CID)

	var all []Block
	all = append(all, top, above, orphan, b, a)
	for i := len(chain) - 1; i >= 0; i-- {
		all = append(all, chain[i])
	}
	all = append(all, top) // duplicates are fine
	if err := s.AddBlocks(ctx, all); err != nil {
		t.Fatal(err)
	}
	wantComplete(t, s, true, chain...)
	wantComplete(t, s, true, a, b, top)
	wantComplete(t, s, false, orphan, above)

	order, err := s.ClosureOf(ctx, top.CID)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 53 || !order[len(order)-1].Equals(top.CID) {
		t.Fatalf("ClosureOf: %d blocks, last %s", len(order), order[len(order)-1])
	}
	pos := map[cid.Cid]int{}
	for i, c := range order {
		if _, dup := pos[c]; dup {
			t.Fatalf("%s twice", c)
		}
		pos[c] = i
	}
	for _, c := range order {
		data, _ := s.Get(ctx, c)
		links, _ := Links(data)
		for _, l := range links {
			if pos[l] >= pos[c] {
				t.Errorf("%s comes after its user %s", l, c)
			}
		}
	}
	// Deterministic: a second store fed in another order agrees.
	s2, _ := newMemStore(t)
	for i := len(all) - 1; i >= 0; i-- {
		if err := s2.AddBlocks(ctx, all[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	order2, err := s2.ClosureOf(ctx, top.CID)
	if err != nil || !reflect.DeepEqual(order, order2) {
		t.Fatalf("ClosureOf differs between stores: %v", err)
	}
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	tb := &TermBlock{Members: []Term{&Int{V: 1}, &Lam{Arity: 1, Body: &App{Fn: &Self{Member: 0}, Args: []Term{&Var{}}}}}}
	data, err := EncodeTermBlock(tb)
	if err != nil {
		t.Fatal(err)
	}
	tblk := NewBlock(data)
	yb := &TypeBlock{Members: []*DataDecl{{Params: 1, Ctors: [][]TypeTerm{{}, {&TVar{}, &TSelf{}}}}}}
	data, err = EncodeTypeBlock(yb)
	if err != nil {
		t.Fatal(err)
	}
	yblk := NewBlock(data)
	if err := s.AddBlocks(ctx, []Block{tblk, yblk}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				got, err := s.LoadTerm(ctx, DefRef{CID: tblk.CID, Member: 1})
				if err != nil || !reflect.DeepEqual(got, tb.Members[1]) {
					t.Errorf("LoadTerm = %v, %v", got, err)
					return
				}
				d, err := s.LoadType(ctx, DefRef{CID: yblk.CID})
				if err != nil || !reflect.DeepEqual(d, yb.Members[0]) {
					t.Errorf("LoadType = %v, %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := s.LoadTerm(ctx, DefRef{CID: tblk.CID, Member: 2}); !errors.Is(err, ErrNotFound) {
		t.Errorf("member out of range: %v", err)
	}
	if _, err := s.LoadTerm(ctx, DefRef{CID: yblk.CID}); !errors.Is(err, ErrMalformed) {
		t.Errorf("LoadTerm of a type block: %v", err)
	}
	if _, err := s.LoadType(ctx, DefRef{CID: tblk.CID}); !errors.Is(err, ErrMalformed) {
		t.Errorf("LoadType of a term block (cached): %v", err)
	}
	if _, err := s.LoadTerm(ctx, DefRef{CID: codecCID("nope")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadTerm absent: %v", err)
	}
}

func TestBlockCacheEviction(t *testing.T) {
	c := newBlockCache(2, 100)
	k := func(s string) cid.Cid { return codecCID(s) }
	c.add(k("a"), 1, 10)
	c.add(k("b"), 2, 10)
	c.get(k("a"))
	c.add(k("c"), 3, 10) // evicts b (least recent)
	if _, ok := c.get(k("b")); ok {
		t.Error("b not evicted")
	}
	if _, ok := c.get(k("a")); !ok {
		t.Error("a evicted")
	}
	c.add(k("d"), 4, 95) // evicts by size
	if c.size > 100 || c.order.Len() != 1 {
		t.Errorf("size %d, len %d", c.size, c.order.Len())
	}
	c.add(k("e"), 5, 101) // bigger than the cache: not kept
	if _, ok := c.get(k("e")); ok {
		t.Error("oversized entry cached")
	}
}

func TestStoreID(t *testing.T) {
	ctx := context.Background()
	_, ds := newMemStore(t)
	// Many Stores over one fresh datastore, concurrently: one ID.
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := NewStore(ds).StoreID(ctx)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("IDs differ: %q", ids)
		}
	}
	if len(ids[0]) != 26 {
		t.Errorf("ID %q", ids[0])
	}
	other, _ := newMemStore(t)
	if id, _ := other.StoreID(ctx); id == ids[0] {
		t.Error("two datastores share an ID")
	}
}

func TestNames(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	fib := NameRef{Kind: KindTerm, Def: codecRef("fib", 0)}
	maybe := NameRef{Kind: KindType, Def: codecRef("Maybe", 0)}
	just := NameRef{Kind: KindCtor, Def: codecRef("Maybe", 0), Ctor: 1, Arity: 1}
	for name, ref := range map[string]NameRef{"fib": fib, "Maybe": maybe, "Just": just, "Maybe.Just": just, "héllo'": fib} {
		if err := s.SetName(ctx, name, ref); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := s.LookupName(ctx, "Maybe.Just")
	if err != nil || !ok || got != just {
		t.Fatalf("LookupName = %v, %v, %v", got, ok, err)
	}
	if _, ok, err := s.LookupName(ctx, "nope"); ok || err != nil {
		t.Fatalf("LookupName(nope) = %v, %v", ok, err)
	}
	list, err := s.ListNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	if !reflect.DeepEqual(names, []string{"Just", "Maybe", "Maybe.Just", "fib", "héllo'"}) {
		t.Fatalf("ListNames = %v", names)
	}
	of, err := s.NamesOf(ctx, just)
	if err != nil || !reflect.DeepEqual(of, []string{"Just", "Maybe.Just"}) {
		t.Fatalf("NamesOf = %v, %v", of, err)
	}
	// Rebinding replaces; deleting removes.
	if err := s.SetName(ctx, "fib", just); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.LookupName(ctx, "fib"); got != just {
		t.Errorf("rebinding: %v", got)
	}
	// Types have their own namespace: `type Just = Just` binds both.
	if err := s.SetName(ctx, "Just", maybe); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.LookupName(ctx, "Just"); got != just {
		t.Errorf("binding a type named Just replaced the constructor: %v", got)
	}
	if got, ok, _ := s.LookupType(ctx, "Just"); !ok || got != maybe {
		t.Errorf("LookupType(Just) = %v, %v", got, ok)
	}
	if err := s.DeleteName(ctx, "fib", KindTerm); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.LookupName(ctx, "fib"); ok {
		t.Error("deleted name still bound")
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "x\n", "\xff"} {
		if err := s.SetName(ctx, bad, fib); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SetName(%q) = %v", bad, err)
		}
	}
	if err := s.SetName(ctx, "x", NameRef{Kind: KindTerm, Def: codecRef("x", 0), Ctor: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("term with ctor fields: %v", err)
	}
	if err := s.SetName(ctx, "x", NameRef{Kind: 7, Def: codecRef("x", 0)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestHints(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	r := codecRef("f", 1)
	if h, err := s.Hints(ctx, r); h != nil || err != nil {
		t.Fatalf("Hints before = %v, %v", h, err)
	}
	want := []string{"x", "acc", "x'"}
	if err := s.SetHints(ctx, r, want); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Hints(ctx, r); err != nil || !reflect.DeepEqual(h, want) {
		t.Fatalf("Hints = %v, %v", h, err)
	}
	if h, _ := s.Hints(ctx, codecRef("f", 0)); h != nil {
		t.Errorf("member 0 has hints %v", h)
	}
}

// TestPebble runs the store over the default on-disk engine and checks
// that blocks, markers, names and the store ID survive a reopen.
func TestPebble(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ds, err := pebbleds.NewDatastore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(ds)
	leaf := termBlock(t, "leaf")
	root := termBlock(t, "root", leaf.CID)
	if err := s.AddBlocks(ctx, []Block{root, leaf}); err != nil {
		t.Fatal(err)
	}
	wantComplete(t, s, true, leaf, root)
	ref := NameRef{Kind: KindTerm, Def: DefRef{CID: root.CID}}
	if err := s.SetName(ctx, "main", ref); err != nil {
		t.Fatal(err)
	}
	id, err := s.StoreID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}

	ds, err = pebbleds.NewDatastore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	s = NewStore(ds)
	wantComplete(t, s, true, leaf, root)
	if id2, err := s.StoreID(ctx); err != nil || id2 != id {
		t.Errorf("StoreID after reopen = %q, %v; want %q", id2, err, id)
	}
	list, err := s.ListNames(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "main" || list[0].Ref != ref {
		t.Errorf("ListNames = %v, %v", list, err)
	}
	order, err := s.ClosureOf(ctx, root.CID)
	if err != nil || !reflect.DeepEqual(order, []cid.Cid{leaf.CID, root.CID}) {
		t.Errorf("ClosureOf = %v, %v", order, err)
	}
	if _, err := s.LoadTerm(ctx, DefRef{CID: root.CID}); err != nil {
		t.Error(err)
	}
}

// ResolvePrefix finds held blocks by the first 8 bytes of their digest,
// those stored before the index was built and after alike.
func TestResolvePrefix(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	a, b := termBlock(t, "a"), termBlock(t, "b")
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	pa, _ := DigestPrefix(a.CID)
	pb, _ := DigestPrefix(b.CID)
	if c, ok, err := s.ResolvePrefix(ctx, pa); err != nil || !ok || !c.Equals(a.CID) {
		t.Fatalf("a: %v %v %v", c, ok, err)
	}
	if _, ok, _ := s.ResolvePrefix(ctx, pb); ok {
		t.Fatal("b resolved before it was stored")
	}
	if err := s.AddBlocks(ctx, []Block{b}); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := s.ResolvePrefix(ctx, pb); err != nil || !ok || !c.Equals(b.CID) {
		t.Fatalf("b: %v %v %v", c, ok, err)
	}
	// Two blocks with one prefix: neither is the answer.
	fake := cid.NewCidV1(cid.DagCBOR, append([]byte{0x12, 0x20}, append(append([]byte(nil), a.CID.Hash()[2:10]...), make([]byte, 24)...)...))
	s.prefixes.add(fake)
	if _, ok, _ := s.ResolvePrefix(ctx, pa); ok {
		t.Fatal("an ambiguous prefix resolved")
	}
}
