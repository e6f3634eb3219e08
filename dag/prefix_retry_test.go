package dag

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

// downDS is a datastore whose queries fail while down is set: a database
// store whose server is away.
type downDS struct {
	datastore.Batching
	down atomic.Bool
}

var errServerDown = errors.New("server down")

func (d *downDS) Query(ctx context.Context, q query.Query) (query.Results, error) {
	if d.down.Load() {
		return nil, errServerDown
	}
	return d.Batching.Query(ctx, q)
}

// TestResolvePrefixAfterStoreOutage: the prefix index's first scan fails
// while the store is down; once it is back, lookups work. (The index used
// to keep the first scan's error for good: every call from a peer that
// listed blocks by prefix failed with "indexing blocks: ..." until the
// daemon was restarted, long after the database had come back.)
func TestResolvePrefixAfterStoreOutage(t *testing.T) {
	ctx := context.Background()
	ds := &downDS{Batching: dssync.MutexWrap(datastore.NewMapDatastore())}
	s := NewStore(ds)
	a, b := termBlock(t, "a"), termBlock(t, "b")
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	pa, _ := DigestPrefix(a.CID)
	pb, _ := DigestPrefix(b.CID)

	ds.down.Store(true)
	if _, _, err := s.ResolvePrefix(ctx, pa); !errors.Is(err, errServerDown) {
		t.Fatalf("ResolvePrefix with the store down = %v; want its error", err)
	}
	// Written while the index is half made: found all the same.
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	ds.down.Store(false)
	for _, c := range []struct {
		name   string
		prefix uint64
		want   Block
	}{{"a", pa, a}, {"b", pb, b}} {
		got, ok, err := s.ResolvePrefix(ctx, c.prefix)
		if err != nil || !ok || !got.Equals(c.want.CID) {
			t.Errorf("%s after the store came back: %v %v %v", c.name, got, ok, err)
		}
	}
}
