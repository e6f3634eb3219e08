package dag

import (
	"context"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// sharedDS is a datastore that says other processes write it too.
type sharedDS struct{ datastore.Batching }

func (sharedDS) SharedByProcesses() bool { return true }

// TestEvictRefusedOnSharedStore: Evict removes nothing from a store
// several processes share (a definition of another process may rest on
// the block), whoever calls it, and says so with ErrSharedStore.
func TestEvictRefusedOnSharedStore(t *testing.T) {
	ctx := context.Background()
	ds := sharedDS{dssync.MutexWrap(datastore.NewMapDatastore())}
	if !SharedByProcesses(ds) || SharedByProcesses(ds.Batching) {
		t.Fatal("SharedByProcesses does not read the datastore's answer")
	}
	s := NewStore(ds)
	leaf := termBlock(t, "leaf")
	root := termBlock(t, "root", leaf.CID)
	if err := s.AddBlocks(ctx, []Block{leaf, root}); err != nil {
		t.Fatal(err)
	}
	if err := s.Evict(ctx, []cid.Cid{leaf.CID}, nil); !errors.Is(err, ErrSharedStore) {
		t.Fatalf("Evict on a shared store = %v; want ErrSharedStore", err)
	}
	if ok, err := s.IsComplete(ctx, leaf.CID); !ok || err != nil {
		t.Errorf("the leaf after a refused Evict: complete %v, %v", ok, err)
	}
	if n, err := s.CheckCompleteMarkers(ctx); n != 2 || err != nil {
		t.Errorf("CheckCompleteMarkers = %d, %v", n, err)
	}
}
