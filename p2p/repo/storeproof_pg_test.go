package repo_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo/pgds"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// Two nodes on one PostgreSQL store through two datastores (two pools,
// as two daemons on two machines have) find the same StoreID and secret
// there, prove to each other that they share the store, and call each
// other with no sync. The secret is stored like any key: 32 bytes back
// from the table as they went in. (The e2e tests run real daemons.)
func TestPostgresNodesProveSharing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := pgtest.Shared(t).NewDatabase(t)
	open := func() *pgds.Datastore {
		d, err := pgds.New(ctx, url, pgds.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	d1, d2 := open(), open()
	node := func(d *pgds.Datastore) *p2p.Node {
		n, err := p2p.New(ctx, p2p.WithDatastore(d), p2p.WithDHTMode(p2p.DHTOff), p2p.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a, b := node(d1), node(d2)
	if a.StoreID() != b.StoreID() {
		t.Fatalf("StoreIDs %s and %s on one database", a.StoreID(), b.StoreID())
	}
	s1, err := d1.Get(ctx, datastore.NewKey("/meta/storesecret"))
	if err != nil || len(s1) != dag.StoreSecretLen {
		t.Fatalf("the secret in the table: %d bytes, %v", len(s1), err)
	}
	if s2, err := d2.Get(ctx, datastore.NewKey("/meta/storesecret")); err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("the two datastores read different secrets (%v)", err)
	}

	if _, err := a.Codebase().Add(ctx, "f.u", []byte("f0 x = x + 1\nf1 x = f0 (x * 2)\nf2 x = f1 (x + 3)\n")); err != nil {
		t.Fatal(err)
	}
	// No status first: b learns from a's request, a from b's reply.
	res, err := a.EvalAt(ctx, b.Addrs()[0].String(), "f2 1", p2p.Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sync != (p2p.SyncStats{}) {
		t.Errorf("a call between nodes on one PostgreSQL store synced %+v", res.Sync)
	}
	for _, c := range []struct{ from, to *p2p.Node }{{a, b}, {b, a}} {
		st, err := c.from.Status(ctx, c.to.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !st.SameStore {
			t.Errorf("%s does not take %s for a node of its store: %+v", c.from.ID(), c.to.ID(), st)
		}
	}
}
