package p2p

import (
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func foldTestCID(t *testing.T, i int) cid.Cid {
	t.Helper()
	h, err := mh.Sum([]byte(fmt.Sprint("linked fold ", i)), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, h)
}

// TestLinkedHasFolds: linked.has answers the same before and after the
// shared summaries are folded into the merged set, the fold happens
// once lookups have missed enough, and summaries added afterwards are
// found too.
func TestLinkedHasFolds(t *testing.T) {
	const perSum = 5
	var sums []*linkSummary
	member := map[cid.Cid]bool{}
	next := 0
	mk := func() *linkSummary {
		s := &linkSummary{blocks: map[cid.Cid]struct{}{}}
		for range perSum {
			c := foldTestCID(t, next)
			next++
			s.blocks[c] = struct{}{}
			member[c] = true
		}
		return s
	}
	for range linkedShared + 4 { // some shared, some merged at once
		sums = append(sums, mk())
	}
	var outside []cid.Cid
	for i := range 20 {
		outside = append(outside, foldTestCID(t, 1_000_000+i))
	}
	l := &linked{}
	l.addAll(sums)
	if l.folded {
		t.Fatal("folded before any lookup")
	}
	check := func(when string) {
		t.Helper()
		for c := range member {
			if !l.has(c) {
				t.Fatalf("%s: a linked block is not found", when)
			}
		}
		for _, c := range outside {
			if l.has(c) {
				t.Fatalf("%s: a block not linked is found", when)
			}
		}
	}
	check("before the fold")
	if !l.folded {
		t.Fatalf("not folded after %d lookups (%d probes wasted)", len(member)+len(outside), l.wasted)
	}
	check("after the fold")
	// Added after the fold, below and past linkedShared's count of
	// summaries: found, and the shared ones still are.
	late := mk()
	l.add(late)
	l.add(late) // again: no change
	check("after a late add")
	if len(l.merged) != len(member) {
		t.Fatalf("merged holds %d blocks, want %d (each linked block once)", len(l.merged), len(member))
	}
}

// TestLinkedHasOneSummaryNoFold: with one summary a lookup is one probe
// already; misses do not copy it.
func TestLinkedHasOneSummaryNoFold(t *testing.T) {
	s := &linkSummary{blocks: map[cid.Cid]struct{}{foldTestCID(t, 0): {}}}
	l := &linked{}
	l.add(s)
	for i := range 100 {
		if l.has(foldTestCID(t, i+1)) {
			t.Fatal("a block not linked is found")
		}
	}
	if !l.has(foldTestCID(t, 0)) {
		t.Fatal("the linked block is not found")
	}
	if l.folded || l.merged != nil {
		t.Fatal("a single summary was copied")
	}
}
