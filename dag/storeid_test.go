package dag

import (
	"context"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// absentDS is a datastore whose PutIfAbsent finds the key already made
// by another process: StoreID must take that one, not its own.
type absentDS struct {
	datastore.Batching
	calls int
}

func (d *absentDS) PutIfAbsent(ctx context.Context, key datastore.Key, value []byte) ([]byte, error) {
	d.calls++
	return []byte("madebyanotherprocess"), nil
}

func TestStoreIDTakesTheFirstWritten(t *testing.T) {
	ds := &absentDS{Batching: dssync.MutexWrap(datastore.NewMapDatastore())}
	id, err := NewStore(ds).StoreID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if id != "madebyanotherprocess" || ds.calls != 1 {
		t.Fatalf("StoreID = %q after %d PutIfAbsent calls; want the other process's ID from one call", id, ds.calls)
	}
}
