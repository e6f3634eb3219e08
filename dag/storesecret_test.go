package dag

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// Stores over one datastore (many at once, or opened later) have one
// secret; another datastore has another. A proof is bound to its
// claimant, and is the documented HMAC (docs/protocol.md, "Shared
// stores"), so another implementation can compute it.
func TestStoreSecret(t *testing.T) {
	ctx := context.Background()
	_, ds := newMemStore(t)
	alice, bob := []byte("peer-alice"), []byte("peer-bob")
	proofs := make([][]byte, 16)
	var wg sync.WaitGroup
	for i := range proofs {
		wg.Go(func() {
			k, err := NewStore(ds).StoreSecret(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			proofs[i] = k.Prove(alice)
		})
	}
	wg.Wait()
	for _, p := range proofs {
		if !bytes.Equal(p, proofs[0]) {
			t.Fatalf("Stores over one datastore prove differently: %x", proofs)
		}
	}
	raw, err := ds.Get(ctx, datastore.NewKey("/meta/storesecret"))
	if err != nil || len(raw) != StoreSecretLen {
		t.Fatalf("stored secret: %d bytes, %v", len(raw), err)
	}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("unode store proof v1"))
	m.Write(alice)
	if !bytes.Equal(m.Sum(nil), proofs[0]) {
		t.Error("Prove is not HMAC-SHA256(secret, \"unode store proof v1\" || claimant)")
	}

	k, err := NewStore(ds).StoreSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Verify(alice, proofs[0]) {
		t.Error("a proof does not verify")
	}
	if k.Verify(bob, proofs[0]) {
		t.Error("alice's proof verifies for bob")
	}
	if k.Verify(alice, proofs[0][:StoreProofLen-1]) || k.Verify(alice, nil) || k.Verify(alice, make([]byte, StoreProofLen)) {
		t.Error("a truncated, empty or zero proof verifies")
	}
	if (*StoreSecret)(nil).Verify(alice, proofs[0]) {
		t.Error("a nil secret verifies")
	}
	if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, k); bytes.Contains([]byte(s), raw) || bytes.Contains([]byte(s), []byte(fmt.Sprint(raw))) {
		t.Errorf("the secret shows in formatting: %s", s)
	}

	other, _ := newMemStore(t)
	ko, err := other.StoreSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ko.Verify(alice, proofs[0]) {
		t.Error("another datastore's secret verifies the proof")
	}
}

// A secret another process stored first (PutIfAbsent finds it) is the
// one taken; a value of the wrong length is an error, not a weak secret.
func TestStoreSecretTakesTheFirstWritten(t *testing.T) {
	ctx := context.Background()
	theirs := bytes.Repeat([]byte{7}, StoreSecretLen)
	ds := &firstWrittenDS{Batching: dssync.MutexWrap(datastore.NewMapDatastore()), value: theirs}
	k, err := NewStore(ds).StoreSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, theirs)
	m.Write([]byte(storeProofLabel + "x"))
	if ds.calls != 1 || !k.Verify([]byte("x"), m.Sum(nil)) {
		t.Fatalf("after %d PutIfAbsent calls the secret is not the other process's", ds.calls)
	}

	ds = &firstWrittenDS{Batching: dssync.MutexWrap(datastore.NewMapDatastore()), value: []byte("short")}
	if _, err := NewStore(ds).StoreSecret(ctx); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}

// firstWrittenDS is a datastore whose PutIfAbsent finds value already
// stored by another process.
type firstWrittenDS struct {
	datastore.Batching
	value []byte
	calls int
}

func (d *firstWrittenDS) PutIfAbsent(ctx context.Context, key datastore.Key, value []byte) ([]byte, error) {
	d.calls++
	return d.value, nil
}

// The secret survives a reopen of the on-disk engine.
func TestStoreSecretPersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*StoreSecret, func()) {
		ds, err := pebbleds.NewDatastore(dir)
		if err != nil {
			t.Fatal(err)
		}
		k, err := NewStore(ds).StoreSecret(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return k, func() { ds.Close() }
	}
	k1, done := open()
	proof := k1.Prove([]byte("p"))
	done()
	k2, done := open()
	defer done()
	if !k2.Verify([]byte("p"), proof) {
		t.Error("the secret changed across a reopen")
	}
}
