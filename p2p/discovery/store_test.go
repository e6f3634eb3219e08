package discovery

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-base32"
)

// countingDS counts the writes that reach the datastore: single puts and
// batch commits (each one synced commit on the node's pebble).
type countingDS struct {
	datastore.Batching
	puts, commits atomic.Int64
}

func (c *countingDS) Put(ctx context.Context, k datastore.Key, v []byte) error {
	c.puts.Add(1)
	return c.Batching.Put(ctx, k, v)
}

func (c *countingDS) Batch(ctx context.Context) (datastore.Batch, error) {
	b, err := c.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &countingBatch{Batch: b, c: c}, nil
}

type countingBatch struct {
	datastore.Batch
	c *countingDS
}

func (b *countingBatch) Commit(ctx context.Context) error {
	b.c.commits.Add(1)
	return b.Batch.Commit(ctx)
}

func recordKey(key string, p peer.ID) datastore.Key {
	return datastore.NewKey("/providers/" + base32.RawStdEncoding.EncodeToString([]byte(key)) + "/" + base32.RawStdEncoding.EncodeToString([]byte(p)))
}

func recordValue() []byte {
	buf := make([]byte, binary.MaxVarintLen64)
	return buf[:binary.PutVarint(buf, time.Now().UnixNano())]
}

func testPeer(t testing.TB) peer.ID { return newTestNode(t).id(t) }

func (n *testNode) id(t testing.TB) peer.ID {
	id, err := peer.IDFromPrivateKey(n.key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestProviderStoreBatches: a burst of 500 provider records (ADD_PROVIDERs
// from peers) reaches the datastore in a few batch commits, not 500
// synced puts; reads and per-key queries see the pending records; Close
// commits what is left.
func TestProviderStoreBatches(t *testing.T) {
	ctx := context.Background()
	child := &countingDS{Batching: dssync.MutexWrap(datastore.NewMapDatastore())}
	self := testPeer(t)
	s, err := newProviderStore(ctx, child, self, 1000, 1000, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := testPeer(t)
	for i := range 500 {
		if err := s.Put(ctx, recordKey(fmt.Sprint("k", i), p), recordValue()); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.Has(ctx, recordKey("k7", p)); err != nil || !ok {
		t.Fatalf("a pending record is not seen: %v %v", ok, err)
	}
	res, err := s.Query(ctx, dsq.Query{Prefix: "/providers/" + base32.RawStdEncoding.EncodeToString([]byte("k9"))})
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := res.Rest(); len(all) != 1 {
		t.Fatalf("the query of one key found %d records, want the pending one", len(all))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := child.puts.Load(); got != 0 {
		t.Errorf("%d single (synced) puts reached the datastore, want 0", got)
	}
	if got := child.commits.Load(); got < 1 || got > 5 {
		t.Errorf("%d batch commits for 500 records, want a few", got)
	}
	res, err = child.Query(ctx, dsq.Query{Prefix: "/providers", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := res.Rest(); len(all) != 500 {
		t.Fatalf("%d records stored after Close, want 500", len(all))
	}
	// Counted again from the datastore at the next start.
	s2, err := newProviderStore(ctx, child, self, 1000, 1000, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if s2.held(p) != 500 || s2.count() != 500 {
		t.Fatalf("recounted %d for the peer, %d in all; want 500", s2.held(p), s2.count())
	}
}

// TestProviderStoreQuota: a peer's records beyond its share are refused,
// a refresh of one it holds is not; the node's share bounds all peers
// together, but never this node's own records; a deletion (expiry) frees
// a place.
func TestProviderStoreQuota(t *testing.T) {
	ctx := context.Background()
	child := dssync.MutexWrap(datastore.NewMapDatastore())
	self := testPeer(t)
	s, err := newProviderStore(ctx, child, self, 3, 5, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := testPeer(t), testPeer(t)
	for i := range 3 {
		if err := s.Put(ctx, recordKey(fmt.Sprint("a", i), a), recordValue()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, recordKey("a3", a), recordValue()); !isQuota(err) {
		t.Fatalf("a fourth record of one peer: %v, want a quota error", err)
	}
	if err := s.Put(ctx, recordKey("a0", a), recordValue()); err != nil {
		t.Fatalf("a refresh: %v", err)
	}
	for i := range 2 {
		if err := s.Put(ctx, recordKey(fmt.Sprint("b", i), b), recordValue()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, recordKey("b2", b), recordValue()); !isQuota(err) {
		t.Fatalf("a record over the node's share: %v, want a quota error", err)
	}
	if err := s.Put(ctx, recordKey("mine", self), recordValue()); err != nil {
		t.Fatalf("this node's own record when full: %v", err)
	}
	if err := s.Delete(ctx, recordKey("a1", a)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, recordKey("a3", a), recordValue()); err == nil {
		// The node's share is still full with this node's own record.
		t.Fatalf("a record past the node's share after one expiry")
	}
	if err := s.Delete(ctx, recordKey("mine", self)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, recordKey("a3", a), recordValue()); err != nil {
		t.Fatalf("a record after expiries made room: %v", err)
	}
	if s.held(a) != 3 || s.count() != 5 {
		t.Fatalf("held %d, count %d", s.held(a), s.count())
	}
}
