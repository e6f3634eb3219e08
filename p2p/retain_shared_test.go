package p2p

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Eviction on a store several processes share (retain.go; docs/scaling.md,
// "Several daemons on one PostgreSQL store"). Two processes are two
// datastore values over one map here: each gets its own retainer and
// dag.Store, as two daemons on one database do, and neither sees the
// other's books.

// processDS is one process's handle on a datastore other processes
// write too; shared says whether it tells (as pgds.Datastore does).
type processDS struct {
	datastore.Batching
	shared bool
}

func (d *processDS) SharedByProcesses() bool { return d.shared }

// foreignBlockRelied: node a holds a block a foreign peer sent
// (unpinned, in a's books), and node b, on the same store, adds a
// definition that refers to the block by hash (marked complete over it).
// It returns a, b and the block.
func foreignBlockRelied(t *testing.T, shared bool) (a, b *Node) {
	t.Helper()
	mem := memDatastore()
	a = newTestNode(t, WithDatastore(&processDS{Batching: mem, shared: shared}))
	b = newTestNode(t, WithDatastore(&processDS{Batching: mem, shared: shared}))
	src := programs(t, 1, 1<<10, 1<<10)
	req, entries := requestFor(t, src, "p0")
	if reply := pipeExchange(t, a, freshPeerID(t), req, entries, fromStore(src.Store())); replyError(reply) != nil {
		t.Fatalf("the foreign call: %v", replyError(reply))
	}
	st, err := a.cb.DiskStat(testCtx(t), -1)
	if err != nil || st.Unpinned.Blocks == 0 {
		t.Fatalf("a holds no unpinned block after a foreign call: %+v, %v", st, err)
	}
	p0 := defCID(t, src, "p0")
	addSource(t, b, fmt.Sprintf("mine = #%s + 1\n", p0))
	if ok, err := b.store.IsComplete(testCtx(t), defCID(t, b.cb, "mine")); !ok || err != nil {
		t.Fatalf("b's definition over the foreign block is not complete: %v", err)
	}
	return a, b
}

// TestSharedStoreGCRefused: `repo gc` on a store several processes
// share evicts nothing and says why; the other process's definition
// keeps its closure. The control (the same store not saying it is
// shared) shows what the rule prevents: a's collection takes the block b's
// definition rests on.
func TestSharedStoreGCRefused(t *testing.T) {
	ctx := testCtx(t)
	t.Run("shared", func(t *testing.T) {
		a, b := foreignBlockRelied(t, true)
		res, err := a.cb.CollectGarbage(ctx)
		if !errors.Is(err, dag.ErrSharedStore) || !strings.Contains(err.Error(), "several processes") || res != (GCResult{}) {
			t.Fatalf("CollectGarbage on a shared store = %+v, %v; want dag.ErrSharedStore and nothing removed", res, err)
		}
		// (a's books may count blocks b's add pinned since: books are per
		// process, which is why nothing is evicted by them here.)
		if _, err := a.store.CheckCompleteMarkers(ctx); err != nil {
			t.Fatalf("closure invariant: %v", err)
		}
		if _, err := b.cb.EvalSource(ctx, "t", "mine", Budget{}); err != nil {
			t.Errorf("b's definition after a's refused gc: %v", err)
		}
	})
	t.Run("control: not said to be shared", func(t *testing.T) {
		a, b := foreignBlockRelied(t, false)
		res, err := a.cb.CollectGarbage(ctx)
		if err != nil || res.Blocks == 0 {
			t.Fatalf("CollectGarbage = %+v, %v; want the foreign blocks evicted", res, err)
		}
		if _, err := b.store.CheckCompleteMarkers(ctx); err == nil {
			t.Fatal("the control did not break the invariant: the scenario no longer tests the hazard")
		}
	})
}

// TestSharedStoreQuotaWithoutEviction: on a shared store the disk quota
// still bounds what peers make the node store, but a sync beyond it is
// refused (the disk budget error, saying nothing is evicted there)
// instead of evicting earlier peers' code, which stays whole.
func TestSharedStoreQuotaWithoutEviction(t *testing.T) {
	ctx := testCtx(t)
	owner := newTestNode(t, WithDatastore(&processDS{Batching: memDatastore(), shared: true}))
	const total = 256 << 10
	if err := owner.cb.SetDiskQuota(smallQuota(128<<10, total)); err != nil {
		t.Fatal(err)
	}
	const crowd = 8
	src := programs(t, crowd, 60<<10, 1<<10)
	var kept []int
	refused := 0
	for i := range crowd {
		req, entries := requestFor(t, src, fmt.Sprintf("p%d", i))
		reply := pipeExchange(t, owner, freshPeerID(t), req, entries, fromStore(src.Store()))
		ce := replyError(reply)
		var be *eval.BudgetError
		switch {
		case ce == nil:
			kept = append(kept, i)
		case errors.As(ce, &be) && be.Which == BudgetDisk && strings.Contains(ce.Msg, "several processes share"):
			refused++
		default:
			t.Fatalf("peer %d: %v; want success or the disk budget error of a shared store", i, ce)
		}
		st, err := owner.cb.DiskStat(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		if st.Unpinned.Bytes > total {
			t.Fatalf("after peer %d: %d unpinned bytes, cap %d", i, st.Unpinned.Bytes, total)
		}
		checkInvariant(t, owner)
	}
	if len(kept) == 0 || refused == 0 {
		t.Fatalf("%d calls ran, %d were refused; want both", len(kept), refused)
	}
	for _, i := range kept {
		if ok, _ := owner.store.IsComplete(ctx, defCID(t, src, fmt.Sprintf("p%d", i))); !ok {
			t.Errorf("p%d, stored for an earlier peer, was evicted", i)
		}
	}
}

// TestSharedStoreUnlinkedBlocksStay: blocks a failed sync brought that
// its thunk does not link to are dropped at once on a store of one
// process (TestUnlinkedBlocksAttack); on a shared store they stay, as
// everything else does, charged to the peer that sent them and so
// within its quota, the books agreeing with the records.
func TestSharedStoreUnlinkedBlocksStay(t *testing.T) {
	ctx := testCtx(t)
	owner := newTestNode(t, WithDatastore(&processDS{Batching: memDatastore(), shared: true}))
	attacker := freshPeerID(t)
	blocks := map[cid.Cid][]byte{}
	var deps []cid.Cid
	for range 3 {
		b := randomBlock(t, 4<<10)
		blocks[b.CID] = b.Data
		deps = append(deps, b.CID)
	}
	d, err := digestsOf(deps)
	if err != nil {
		t.Fatal(err)
	}
	req := &EvalRequest{Thunk: encodedThunk(t, &dag.Int{V: 1}), Store: "attacker", Deps: d}
	reply := pipeExchange(t, owner, attacker, req, deps, fromMap(blocks))
	if ce := replyError(reply); ce == nil || ce.Code != CodeInvalid || !strings.Contains(ce.Msg, "does not link to") {
		t.Fatalf("unlinked blocks: %v; want the call refused as not linked", ce)
	}
	st, err := owner.cb.DiskStat(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Peers) != 1 || st.Peers[0].Peer != attacker.String() || st.Peers[0].Blocks != int64(len(deps)) {
		t.Errorf("charged %+v; want the %d blocks charged to the peer that sent them", st.Peers, len(deps))
	}
	checkInvariant(t, owner)
}
