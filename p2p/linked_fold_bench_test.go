package p2p

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// BenchmarkLinkedHas: the sandbox's check of each definition a thread
// reaches (guard's CheckDef) on a link of 100 roots of 10 blocks each,
// as the cold sync benchmark's callee sees it, looking up every linked
// block once per op. The reference, timed in the same loop, is one
// probe of one map holding all of them: has/ref is the cost of a
// lookup in lookups of the ideal one.
func BenchmarkLinkedHas(b *testing.B) {
	const roots, perRoot = 100, 10
	sums := make([]*linkSummary, roots)
	all := map[cid.Cid]struct{}{}
	var order []cid.Cid
	for r := range sums {
		sums[r] = &linkSummary{blocks: map[cid.Cid]struct{}{}}
		for i := range perRoot {
			h, err := mh.Sum([]byte(fmt.Sprint("linked bench ", r, " ", i)), mh.SHA2_256, -1)
			if err != nil {
				b.Fatal(err)
			}
			c := cid.NewCidV1(cid.DagCBOR, h)
			sums[r].blocks[c] = struct{}{}
			all[c] = struct{}{}
			order = append(order, c)
		}
	}
	// Reached in an order unrelated to the roots'.
	for i := range order {
		j := (i * 7919) % len(order)
		order[i], order[j] = order[j], order[i]
	}
	var hasT, refT time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l := &linked{}
		l.addAll(sums)
		t0 := time.Now()
		for _, c := range order {
			if !l.has(c) {
				b.Fatal("a linked block is not found")
			}
		}
		t1 := time.Now()
		for _, c := range order {
			if _, ok := all[c]; !ok {
				b.Fatal("lost")
			}
		}
		hasT += t1.Sub(t0)
		refT += time.Since(t1)
	}
	n := float64(b.N * len(order))
	b.ReportMetric(float64(hasT.Nanoseconds())/n, "has-ns/lookup")
	b.ReportMetric(float64(refT.Nanoseconds())/n, "ref-ns/lookup")
	b.ReportMetric(float64(hasT)/float64(refT), "has/ref")
}
