package memds_test

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/p2p/repo/memds"
)

// BenchmarkColdBatch is the datastore's part of a cold sync of
// coldBlocks blocks into an empty node (docs/benchmarks.md, "The
// in-memory datastore"): for each block a Has of its key (is it held?),
// then one batch of 4 keys per block (the two records p2p keeps for a
// received block, the block and its complete marker), committed. Each
// iteration does this once on a fresh memds and once on a fresh
// MutexWrap(MapDatastore), the default before memds, in alternating
// order, so that the machine's load falls on both alike; ratio is memds's
// time over the other's (below 1: memds is faster). Run with:
//
//	go test ./p2p/repo/memds -run='^$' -bench=ColdBatch
func BenchmarkColdBatch(b *testing.B) {
	ctx := context.Background()
	keys := coldKeys()
	block := make([]byte, 300) // a typical definition block's size
	record := make([]byte, 24)
	stores := []struct {
		name string
		make func() datastore.Batching
		t    time.Duration
	}{
		{name: "memds", make: func() datastore.Batching { return memds.New() }},
		{name: "mutex-map", make: func() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }},
	}
	run := func(d datastore.Batching) {
		for i := range coldBlocks {
			if ok, err := d.Has(ctx, keys[i][2]); err != nil || ok {
				b.Fatal("a fresh store holds a block", err)
			}
		}
		batch, err := d.Batch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i := range coldBlocks {
			for j, k := range keys[i] {
				v := record
				if j == 2 {
					v = block
				}
				if err := batch.Put(ctx, k, v); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		for j := range stores {
			st := &stores[(n+j)%len(stores)]
			d := st.make()
			start := time.Now()
			run(d)
			st.t += time.Since(start)
		}
		n++
	}
	for _, st := range stores {
		b.ReportMetric(float64(st.t.Nanoseconds())/float64(n*coldBlocks), st.name+"-ns/block")
	}
	b.ReportMetric(float64(stores[0].t)/float64(stores[1].t), "ratio")
}

// coldBlocks is how many blocks BenchmarkColdBatch stores per iteration.
const coldBlocks = 1000

// coldKeys are keys shaped as the cold path's: a prefix, then the base32
// of a sha2-256 multihash, for each block the unpinned and received
// records, the block and its complete marker.
func coldKeys() [][4]datastore.Key {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	keys := make([][4]datastore.Key, coldBlocks)
	for i := range keys {
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		h := sha256.Sum256(seed[:])
		mh := enc.EncodeToString(append([]byte{0x12, 0x20}, h[:]...))
		for j, p := range []string{"/unpinned/", "/received/", "/blocks/", "/complete/"} {
			keys[i][j] = datastore.RawKey(p + mh)
		}
	}
	return keys
}
