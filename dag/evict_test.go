package dag

import (
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
)

// Evict removes blocks, their markers and the keys the caller names, and
// forgets them in the prefix index and the decoded-block cache; what it
// leaves keeps the closure invariant.
func TestEvict(t *testing.T) {
	ctx := context.Background()
	s, ds := newMemStore(t)
	a := termBlock(t, "a")
	b := termBlock(t, "b", a.CID)
	c := termBlock(t, "c")
	if err := s.AddBlocks(ctx, []Block{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadTerm(ctx, DefRef{CID: b.CID}); err != nil { // cached
		t.Fatal(err)
	}
	pb, _ := DigestPrefix(b.CID)
	if _, ok, _ := s.ResolvePrefix(ctx, pb); !ok {
		t.Fatal("b is not in the prefix index")
	}
	extra := datastore.NewKey("/extra/b")
	ds.Put(ctx, extra, []byte{1})
	err := s.Evict(ctx, []cid.Cid{a.CID, b.CID}, func(x cid.Cid) []datastore.Key {
		if x.Equals(b.CID) {
			return []datastore.Key{extra}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []cid.Cid{a.CID, b.CID} {
		if ok, _ := s.Has(ctx, x); ok {
			t.Errorf("%s still stored", x)
		}
		if ok, _ := s.IsComplete(ctx, x); ok {
			t.Errorf("%s still marked complete", x)
		}
	}
	if ok, _ := ds.Has(ctx, extra); ok {
		t.Error("the extra key stayed")
	}
	if _, ok, _ := s.ResolvePrefix(ctx, pb); ok {
		t.Error("b's prefix still resolves")
	}
	if _, err := s.LoadTerm(ctx, DefRef{CID: b.CID}); err == nil {
		t.Error("b still loads from the cache")
	}
	if n, err := s.CheckCompleteMarkers(ctx); err != nil || n != 1 {
		t.Errorf("after evicting: %d markers, %v", n, err)
	}
	blocks, bytes, err := s.BlockUsage(ctx)
	if err != nil || blocks != 1 || bytes != int64(len(c.Data)) {
		t.Errorf("BlockUsage = %d, %d, %v; want c alone", blocks, bytes, err)
	}
	if err := s.Evict(ctx, []cid.Cid{a.CID}, nil); err != nil {
		t.Errorf("evicting an absent block: %v", err)
	}
}

// LinksUnverified agrees with Links on canonical blocks.
func TestLinksUnverified(t *testing.T) {
	a := termBlock(t, "a")
	b := termBlock(t, "b", a.CID)
	for _, blk := range []Block{a, b} {
		want, err := Links(blk.Data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := LinksUnverified(blk.Data)
		if err != nil || !slices.EqualFunc(got, want, cid.Cid.Equals) {
			t.Errorf("LinksUnverified = %v, %v; want %v", got, err, want)
		}
	}
	if _, err := LinksUnverified([]byte{0xff}); err == nil {
		t.Error("garbage decoded")
	}
}
