package p2p

import (
	"context"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// The receiving side of a sync writes a new block's received record
// (shareable's) with its unpinned record, in one batch, before the block:
// once chargeForeignAt returns, both records are there and the block is
// not; once it is stored, the peer that sent it may be sent it back, and
// another peer may not. A block already held gets no record.
func TestReceiveRecordsBeforeBlocks(t *testing.T) {
	ctx := context.Background()
	from, err := peer.Decode("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
	if err != nil {
		t.Fatal(err)
	}
	other, err := peer.Decode("12D3KooWHHzSeKaY8xuZVzkLbKFfvNgPPeKhFBGrMbNzbm5akpqu")
	if err != nil {
		t.Fatal(err)
	}
	datas := coldSyncBlocks(t, false)[:50]
	c := NewCodebase(dssync.MutexWrap(datastore.NewMapDatastore()))
	held := dag.Receive(datas[0])
	if err := held.Check(); err != nil {
		t.Fatal(err)
	}
	if err := c.store.AddReceived(ctx, []*dag.Received{held}); err != nil {
		t.Fatal(err)
	}
	use := c.retainer().newLease()
	defer use.release()
	batch := make([]dag.Block, len(datas))
	links := make([][]cid.Cid, len(datas))
	recv := make([]*dag.Received, len(datas))
	for j, data := range datas {
		rb := dag.Receive(data)
		if err := rb.Check(); err != nil {
			t.Fatal(err)
		}
		batch[j], links[j], recv[j] = rb.Block(), rb.Links(), rb
	}
	store, fresh, err := c.chargeForeignAt(ctx, use, from, batch, links, from)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != len(datas)-1 || len(store) != len(datas)-1 {
		t.Fatalf("%d fresh, %d to store, of %d blocks (one held)", len(fresh), len(store), len(datas))
	}
	for _, x := range fresh {
		for _, prefix := range []string{prefixUnpinned, prefixReceived} {
			if ok, err := c.ds().Has(ctx, markKey(prefix, x)); err != nil || !ok {
				t.Fatalf("%s: no %s record once charged (%v)", x, prefix, err)
			}
		}
		if ok, _ := c.store.Has(ctx, x); ok {
			t.Fatalf("%s stored before its records were written", x)
		}
	}
	if ok, _ := c.ds().Has(ctx, markKey(prefixReceived, held.CID())); ok {
		t.Errorf("a block held already got a received record")
	}
	rs := make([]*dag.Received, len(store))
	for k, j := range store {
		rs[k] = recv[j]
	}
	if err := c.store.AddReceived(ctx, rs); err != nil {
		t.Fatal(err)
	}
	for _, x := range fresh {
		if ok, err := c.shareable(ctx, x, from); err != nil || !ok {
			t.Fatalf("%s: not shareable with the peer that sent it (%v)", x, err)
		}
		if ok, _ := c.shareable(ctx, x, other); ok {
			t.Fatalf("%s: shareable with a peer that did not send it", x)
		}
	}
}
