package dag

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
)

// ScanStored of a block AddReceived kept returns the scan made as it was
// received, without walking or copying it: the only allocation left is
// the presence check's key. (Counts, not times.)
func TestScanStoredReceivedAllocs(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	leaf := termBlock(t, "leaf")
	r := Receive(termBlock(t, "user", leaf.CID).Data)
	if err := s.AddBlocks(ctx, []Block{leaf}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddReceived(ctx, []*Received{r}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.cache.scanned(r.CID()); !ok {
		t.Fatal("the received block's scan was not kept")
	}
	want, err := scanStoredGeneral(r.Data())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ScanStored(ctx, r.CID())
	if err != nil {
		t.Fatal(err)
	}
	if d := sameScan(got, want); d != "" {
		t.Fatalf("the kept scan and the general path differ: %s", d)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.ScanStored(ctx, r.CID()); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("ScanStored of a received block: %.1f allocations, want at most 1", n)
	}
}

// The decoded-block cache's own list keeps recency as container/list
// did: a hit moves an entry to the front, eviction takes from the back,
// remove unlinks anywhere, and the count follows.
func TestBlockCacheOrder(t *testing.T) {
	c := newBlockCache(3, 1000)
	k := func(i int) cid.Cid { return codecCID(fmt.Sprint("o", i)) }
	for i := range 3 {
		c.add(k(i), i, 10)
	}
	order := func() []int {
		var out []int
		for e := c.order.root.next; e != &c.order.root; e = e.next {
			out = append(out, e.v.(int))
		}
		return out
	}
	if got := order(); !slices.Equal(got, []int{2, 1, 0}) {
		t.Fatalf("order %v", got)
	}
	c.get(k(0))
	if got := order(); !slices.Equal(got, []int{0, 2, 1}) {
		t.Fatalf("after a hit on 0: %v", got)
	}
	c.add(k(3), 3, 10) // evicts 1, the least recent
	if _, ok := c.get(k(1)); ok || c.order.Len() != 3 {
		t.Fatalf("1 kept (%v) or %d entries", ok, c.order.Len())
	}
	c.remove(k(2))
	if got := order(); !slices.Equal(got, []int{3, 0}) || c.order.Len() != 2 || len(c.byCID) != 2 || c.size != 20 {
		t.Fatalf("after removing 2: %v, %d entries, %d bytes", got, c.order.Len(), c.size)
	}
	c.remove(k(3))
	c.remove(k(0))
	if c.order.back() != nil || c.order.Len() != 0 || c.size != 0 {
		t.Fatalf("emptied: back %v, %d entries, %d bytes", c.order.back(), c.order.Len(), c.size)
	}
	c.add(k(4), 4, 10)
	if got := order(); !slices.Equal(got, []int{4}) {
		t.Fatalf("after emptying and adding: %v", got)
	}
}
