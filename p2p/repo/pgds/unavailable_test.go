package pgds_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/jackc/pgx/v5"

	"github.com/unode-dev/unode/p2p/repo/pgds"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// TestStoreUnavailable: Error.StoreUnavailable tells a server that cannot
// be reached (stopped, as a crash) from one that answered and refused the
// statement (its table dropped) and from the caller's own mistake (a key
// too long), so that a caller that must not show the store's address
// (the error's text names it) can still say which. The Datastore says it
// is shared by processes.
func TestStoreUnavailable(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	d := open(t, url, pgds.Options{MaxConns: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 4*hangBound)
	defer cancel()
	if !d.SharedByProcesses() {
		t.Error("SharedByProcesses = false")
	}
	key := ds.NewKey("/k")
	if err := d.Put(ctx, key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	unavailable := func(what string, err error) bool {
		t.Helper()
		var pe *pgds.Error
		if !errors.As(err, &pe) {
			t.Fatalf("%s: %v; want a *pgds.Error", what, err)
		}
		return pe.StoreUnavailable()
	}

	srv.Stop()
	if _, err := d.Get(ctx, key); !unavailable("get with the server down", err) {
		t.Errorf("get with the server down: %v; want it unavailable", err)
	}
	b, _ := d.Batch(ctx)
	b.Put(ctx, key, []byte("w"))
	if err := b.Commit(ctx); !unavailable("batch with the server down", err) {
		t.Errorf("batch with the server down: %v; want it unavailable", err)
	}
	srv.Restart(t)

	long := ds.NewKey("/" + strings.Repeat("k", pgds.MaxKeySize))
	if err := d.Put(ctx, long, []byte("v")); unavailable("a long key", err) {
		t.Errorf("a key too long: %v reads as the store unavailable", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP TABLE "+pgds.DefaultTable); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, key); unavailable("get from a dropped table", err) {
		t.Errorf("get from a dropped table: %v reads as the store unavailable", err)
	}
}
