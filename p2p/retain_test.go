package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Tests of bounded disk (issue 7, case 6) and of private-block probes
// (case 11). See retain.go.

// randomBlock is a block of about n random bytes (a term block holding
// one Bytes literal): what an attacker makes up. It fits the block
// schema, so that what is tested is what the node does with blocks it
// may store; blocks outside the schema are refused before that
// (schema_attack_test.go).
func randomBlock(t testing.TB, n int) dag.Block {
	t.Helper()
	buf := make([]byte, max(n-48, n/2)) // 48: more than the envelope takes
	rand.Read(buf)
	data, err := dag.EncodeTermBlock(&dag.TermBlock{Members: []dag.Term{&dag.Bytes{V: buf}}})
	if err != nil {
		t.Fatal(err)
	}
	b := dag.NewBlock(data)
	if err := dag.ValidateBlock(b.Data); err != nil {
		t.Fatalf("random block does not fit the schema: %v", err)
	}
	return b
}

// encodedThunk encodes '(body).
func encodedThunk(t testing.TB, body dag.Term) []byte {
	t.Helper()
	data, err := dag.EncodeValue(&dag.VClosure{Code: &dag.Delay{Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// exchange speaks the caller's side of /unode/eval on fc by hand: it
// sends req and, if the callee asks, the blocks it asks for from have
// (entries are the blocks req lists, then the thunk's roots). It returns
// the final reply and how many blocks were asked for. A block have lacks
// ends the caller's side (closeWrite) as a caller that cannot send does.
// Like callOnce, it reads the reply while it sends, and abort stops the
// sending when the callee answered early.
func exchange(t testing.TB, fc *frameConn, req *EvalRequest, entries []cid.Cid, have func(cid.Cid) ([]byte, bool), closeWrite, abort func()) (*EvalReply, int) {
	t.Helper()
	if err := fc.writeMessage(req); err != nil {
		t.Fatalf("sending the request: %v", err)
	}
	decode := func(data []byte, err error) *EvalReply {
		t.Helper()
		if err != nil {
			t.Fatalf("reading the reply: %v", err)
		}
		reply, err := DecodeEvalReply(data)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	data, _, err := fc.readFrame(MaxReplySize)
	reply := decode(data, err)
	if reply.Need == nil {
		return reply, 0
	}
	idx, err := bitsSet(reply.Need.Bits, len(entries))
	if err != nil {
		t.Fatal(err)
	}
	var sending atomic.Bool
	sending.Store(true)
	got := make(chan *frameRead, 1)
	go func() {
		var r frameRead
		r.msg, r.release, r.err = fc.readFrame(MaxReplySize)
		// An answer (or a failed read: the callee reset or closed the
		// stream) while blocks are still going out ends the sending: the
		// callee reads no more, and a writer blocked on flow control
		// would wait for ever.
		if sending.Load() {
			abort()
		}
		got <- &r
	}()
	var batch [][]byte
	size := 0
	send := func() bool {
		if len(batch) == 0 {
			return true
		}
		err := fc.writeMessage(&BlocksMessage{Blocks: batch})
		batch, size = nil, 0
		return err == nil
	}
	for _, i := range idx {
		b, ok := have(entries[i])
		if !ok {
			send()
			closeWrite()
			break
		}
		if len(batch) > 0 && size+len(b) > blocksBatchTarget && !send() {
			break // the callee answered early
		}
		batch = append(batch, b)
		size += len(b) + 9
	}
	send()
	sending.Store(false)
	r := <-got
	return decode(r.msg, r.err), len(idx)
}

// rawExchange runs exchange over a real eval stream from one node to
// another.
func rawExchange(t testing.TB, from, to *Node, req *EvalRequest, entries []cid.Cid, have func(cid.Cid) ([]byte, bool)) (*EvalReply, int) {
	t.Helper()
	s, err := from.host.NewStream(testCtx(t), to.ID(), ProtocolEval)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return exchange(t, newFrameConn(s, nil), req, entries, have, func() { s.CloseWrite() }, func() { s.Reset() })
}

// pipeExchange runs exchange against n.serveEval over an in-memory pipe,
// as peer remote: a peer ID costs nothing, so a test can be a crowd.
func pipeExchange(t testing.TB, n *Node, remote peer.ID, req *EvalRequest, entries []cid.Cid, have func(cid.Cid) ([]byte, bool)) *EvalReply {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.serveEval(testCtx(t), remote, newFrameConn(server, nil), serveHooks{})
		server.Close()
	}()
	reply, _ := exchange(t, newFrameConn(client, nil), req, entries, have, func() { client.Close() }, func() { client.Close() })
	client.Close()
	<-done
	return reply
}

func freshPeerID(t testing.TB) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func fromMap(m map[cid.Cid][]byte) func(cid.Cid) ([]byte, bool) {
	return func(c cid.Cid) ([]byte, bool) { b, ok := m[c]; return b, ok }
}

func fromStore(s *dag.Store) func(cid.Cid) ([]byte, bool) {
	return func(c cid.Cid) ([]byte, bool) {
		b, err := s.Get(context.Background(), c)
		return b, err == nil
	}
}

func replyError(r *EvalReply) *CallError {
	if r.Error == nil {
		return nil
	}
	return callErrorFromWire("", r.Error)
}

// unpinnedRecords counts the /unpinned/ records in n's datastore.
func unpinnedRecords(t testing.TB, ds datastore.Datastore) int {
	t.Helper()
	res, err := ds.Query(context.Background(), query.Query{Prefix: "/unpinned", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// checkInvariant fails the test if some block marked complete lacks part
// of its closure, or the books disagree with the records.
func checkInvariant(t testing.TB, n *Node) {
	t.Helper()
	if _, err := n.store.CheckCompleteMarkers(context.Background()); err != nil {
		t.Fatalf("closure invariant: %v", err)
	}
	st, err := n.cb.DiskStat(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := unpinnedRecords(t, n.cb.ds()); int64(got) != st.Unpinned.Blocks+st.Data.Blocks {
		t.Fatalf("%d unpinned records, the books count %d (and %d of node data)", got, st.Unpinned.Blocks, st.Data.Blocks)
	}
}

// Case 6, the attack as reported: a thunk '(1) listing 100 random 1 MB
// blocks as its dependencies, three times. Before the fix the callee
// asked for them all and kept them (344 MB). Now it takes them only
// while they fit the caller's quota, finds they are not linked from the
// thunk (or runs out of quota), fails the call and keeps nothing.
// -short uses 16 KiB blocks.
func TestUnlinkedBlocksAttack(t *testing.T) {
	ctx := testCtx(t)
	owner, attacker := newTestNode(t), newTestNode(t)
	connectAll(t, owner, attacker)
	addSource(t, owner, "mine x = x + 1\n") // the owner's own, to survive
	before, err := owner.cb.DiskStat(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	size := 1<<20 - 16
	if testing.Short() {
		size = 16 << 10
	}
	for _, n := range []int{10, 100, 100, 100} {
		blocks := map[cid.Cid][]byte{}
		var deps []cid.Cid
		for range n {
			b := randomBlock(t, size)
			blocks[b.CID] = b.Data
			deps = append(deps, b.CID)
		}
		d, err := digestsOf(deps)
		if err != nil {
			t.Fatal(err)
		}
		req := &EvalRequest{Thunk: encodedThunk(t, &dag.Int{V: 1}), Store: "attacker", Deps: d}
		reply, asked := rawExchange(t, attacker, owner, req, deps, fromMap(blocks))
		ce := replyError(reply)
		var be *eval.BudgetError
		switch {
		case ce == nil:
			t.Fatalf("%d unlinked blocks: the call succeeded", n)
		case ce.Code == CodeInvalid && strings.Contains(ce.Msg, "does not link to"):
		case errors.As(ce, &be) && be.Which == BudgetDisk:
		default:
			t.Fatalf("%d unlinked blocks: %v, want invalid (not linked) or a disk budget error", n, ce)
		}
		if asked != n {
			t.Errorf("asked for %d of %d blocks", asked, n)
		}
		for c := range blocks {
			if ok, _ := owner.store.Has(ctx, c); ok {
				t.Fatalf("after %d unlinked blocks (%v): block %s was kept", n, ce, c)
			}
		}
	}
	after, err := owner.cb.DiskStat(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if after.Blocks != before.Blocks || after.Bytes != before.Bytes || after.Unpinned != (DiskUsage{}) {
		t.Errorf("store before %d blocks, %d bytes; after %d, %d, unpinned %+v",
			before.Blocks, before.Bytes, after.Blocks, after.Bytes, after.Unpinned)
	}
	checkInvariant(t, owner)
	if _, err := owner.cb.EvalSource(ctx, "t", "mine 1", Budget{}); err != nil {
		t.Errorf("the owner's code after the attack: %v", err)
	}
}

// bigText is source text of n random letters.
func bigText(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		b[i] = letters[k.Int64()]
	}
	return string(b)
}

// programs is a scratch codebase of count programs p0..p(n-1), each
// with a unique text of each bytes, and all sharing lib (shared bytes):
// real code that a caller may send, whose closures overlap.
func programs(t testing.TB, count, each, shared int) *Codebase {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "lib = \"%s\"\n", bigText(shared))
	for i := range count {
		fmt.Fprintf(&b, "big%d = \"%s\"\np%d = Text.length lib + Text.length big%d\n", i, bigText(each), i, i)
	}
	cb := NewCodebase(memDatastore())
	if _, err := cb.Add(context.Background(), "progs.u", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return cb
}

// requestFor is an eval request for '(p) listing p's closure by full
// digest, and its entries (the list, then the root).
func requestFor(t testing.TB, cb *Codebase, name string) (*EvalRequest, []cid.Cid) {
	t.Helper()
	ref, ok, err := cb.Store().LookupName(context.Background(), name)
	if err != nil || !ok {
		t.Fatalf("no %s: %v", name, err)
	}
	thunk := &dag.VClosure{Code: &dag.Delay{Body: &dag.Ref{Def: ref.Def}}}
	data, err := dag.EncodeValue(thunk)
	if err != nil {
		t.Fatal(err)
	}
	roots := dag.ValueLinks(thunk)
	deps, err := planDeps(context.Background(), cb.Store(), roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps = deps[:len(deps)-1] // the root, last: the thunk names it
	d, err := digestsOf(deps)
	if err != nil {
		t.Fatal(err)
	}
	return &EvalRequest{Thunk: data, Store: "caller-" + name, Deps: d}, append(deps, roots...)
}

func smallQuota(perPeer, total int64) DiskQuota {
	return DiskQuota{
		PerPeer: DiskUsage{Bytes: perPeer, Blocks: 1 << 20, Links: 1 << 20},
		Total:   DiskUsage{Bytes: total, Blocks: 1 << 20, Links: 1 << 20},
	}
}

// Case 6: many calls from one peer stay within its quota (the least
// recently used programs go first, the shared library stays while a
// recent program needs it), and every call still runs; the closure
// invariant holds after every eviction; a program evicted runs again
// (the caller resends it).
func TestDiskQuotaPerPeer(t *testing.T) {
	ctx := testCtx(t)
	owner, caller := newTestNode(t), newTestNode(t)
	connectAll(t, owner, caller)
	const perPeer = 400 << 10
	if err := owner.cb.SetDiskQuota(smallQuota(perPeer, 4<<20)); err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	fmt.Fprintf(&src, "lib = \"%s\"\n", bigText(100<<10))
	const count = 12
	for i := range count {
		fmt.Fprintf(&src, "big%d = \"%s\"\np%d = Text.length lib + Text.length big%d\n", i, bigText(50<<10), i, i)
	}
	addSource(t, caller, src.String())
	at := owner.ID().String()
	for i := range count {
		res, err := caller.EvalAt(ctx, at, fmt.Sprintf("p%d", i), Budget{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if res.Text != fmt.Sprint(150<<10) {
			t.Fatalf("call %d = %s", i, res.Text)
		}
		st, err := owner.cb.DiskStat(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Peers) != 1 || st.Peers[0].Peer != caller.ID().String() || st.Peers[0].Bytes > perPeer {
			t.Fatalf("after call %d: charged %+v, want at most %d bytes to the caller", i, st.Peers, perPeer)
		}
		checkInvariant(t, owner)
	}
	// The latest program is kept whole; the first was evicted.
	p0, p11 := defCID(t, caller.cb, "p0"), defCID(t, caller.cb, "p11")
	if ok, _ := owner.store.IsComplete(ctx, p11); !ok {
		t.Error("the most recent program was evicted")
	}
	if ok, _ := owner.store.Has(ctx, p0); ok {
		t.Error("the least recent program was kept past the quota")
	}
	res, err := caller.EvalAt(ctx, at, "p0", Budget{})
	if err != nil || res.Text != fmt.Sprint(150<<10) {
		t.Errorf("an evicted program again: %v, %v", res, err)
	}
	checkInvariant(t, owner)
}

// Case 6 with a crowd: fresh peer IDs, each within its quota, cannot
// make the node keep more than its cap; the most recent callers' code
// is kept, the invariant holds, and every call runs.
func TestDiskCapFreshPeers(t *testing.T) {
	ctx := testCtx(t)
	owner := newTestNode(t)
	const total = 1 << 20
	if err := owner.cb.SetDiskQuota(smallQuota(512<<10, total)); err != nil {
		t.Fatal(err)
	}
	const crowd = 24
	src := programs(t, crowd, 60<<10, 40<<10)
	for i := range crowd {
		req, entries := requestFor(t, src, fmt.Sprintf("p%d", i))
		reply := pipeExchange(t, owner, freshPeerID(t), req, entries, fromStore(src.Store()))
		if ce := replyError(reply); ce != nil || reply.Result == nil {
			t.Fatalf("peer %d: %v", i, ce)
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
	last := defCID(t, src, fmt.Sprintf("p%d", crowd-1))
	if ok, _ := owner.store.IsComplete(ctx, last); !ok {
		t.Error("the most recent caller's program was evicted")
	}
	if ok, _ := owner.store.Has(ctx, defCID(t, src, "p0")); ok {
		t.Error("the first caller's program was kept past the cap")
	}
}

// A call that does not fit even after eviction fails with a disk budget
// error, and leaves nothing it brought. A real caller gets that error
// while it is still sending (not a timeout: it reads the reply as it
// sends), and await! sees Err.BudgetExceeded "disk".
func TestDiskQuotaTooSmall(t *testing.T) {
	ctx := testCtx(t)
	owner, caller := newTestNode(t), newTestNode(t)
	connectAll(t, owner, caller)
	if err := owner.cb.SetDiskQuota(smallQuota(64<<10, 1<<20)); err != nil {
		t.Fatal(err)
	}
	src := programs(t, 1, 80<<10, 1<<10)
	req, entries := requestFor(t, src, "p0")
	reply := pipeExchange(t, owner, freshPeerID(t), req, entries, fromStore(src.Store()))
	var be *eval.BudgetError
	if ce := replyError(reply); ce == nil || !errors.As(ce, &be) || be.Which != BudgetDisk || !strings.Contains(ce.Msg, "disk") {
		t.Fatalf("a program larger than the quota: %+v, want a disk budget error", ce)
	}
	checkInvariant(t, owner)

	// Many blocks, the first few over the quota: the callee fails the
	// sync early.
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "t%d = \"%s\"\n", i, bigText(30<<10))
	}
	b.WriteString("all = Text.length t0")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, " + Text.length t%d", i)
	}
	b.WriteString("\n")
	addSource(t, caller, b.String())
	_, err := caller.EvalAt(ctx, owner.ID().String(), "all", Budget{})
	if !errors.As(err, &be) || be.Which != BudgetDisk {
		t.Fatalf("an honest call over the quota: %v, want a disk budget error", err)
	}
	if st, _ := owner.cb.DiskStat(ctx, -1); st.Unpinned.Bytes > 64<<10 {
		t.Errorf("the owner kept %+v", st.Unpinned)
	}
	checkInvariant(t, owner)
}

// The owner's blocks are never evicted: what it added (even over blocks
// a peer sent before), what node data refers to, what it fetched or
// got back from its own calls; repo gc removes everything else not in
// use, and the invariant holds.
func TestOwnerBlocksNeverEvicted(t *testing.T) {
	ctx := testCtx(t)
	owner, peerA := newOpenNode(t), newOpenNode(t)
	connectAll(t, owner, peerA)
	src := programs(t, 3, 10<<10, 10<<10)
	for i := range 3 {
		req, entries := requestFor(t, src, fmt.Sprintf("p%d", i))
		if ce := replyError(pipeExchange(t, owner, freshPeerID(t), req, entries, fromStore(src.Store()))); ce != nil {
			t.Fatal(ce)
		}
	}
	st, _ := owner.cb.DiskStat(ctx, -1)
	if st.Unpinned.Blocks != 7 { // lib, big0..2, p0..2
		t.Fatalf("unpinned %+v, want 7 blocks", st.Unpinned)
	}
	// The owner refers to p0 by CID (pinning its closure: p0, big0, lib)
	// and keeps a function calling p1 in its node data (p1, big1).
	p0, p1, p2 := defCID(t, src, "p0"), defCID(t, src, "p1"), defCID(t, src, "p2")
	addSource(t, owner, "mine = #"+p0.String()+" + 1\n")
	if _, err := owner.cb.EvalSource(ctx, "t", `Data.put "kept" (x -> x + #`+p1.String()+`)`, Budget{}); err != nil {
		t.Fatal(err)
	}
	// And gets a function back from its own call: pinned too.
	addSource(t, peerA, "helper x = x * 7\n")
	if _, err := peerA.Codebase().Publish(ctx, "helper"); err != nil {
		t.Fatal(err)
	}
	helper := defCID(t, peerA.cb, "helper")
	if _, err := peerA.cb.EvalSource(ctx, "t", `Data.put "fn" helper`, Budget{}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.EvalAt(ctx, peerA.ID().String(), `Data.get "fn"`, Budget{}); err != nil {
		t.Fatal(err)
	}

	gc, err := owner.cb.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Blocks != 2 { // p2 and big2
		t.Errorf("gc removed %+v, want p2 and big2", gc)
	}
	for _, c := range []cid.Cid{p0, p1, defCID(t, src, "lib"), defCID(t, src, "big0"), defCID(t, src, "big1"), helper, defCID(t, owner.cb, "mine")} {
		if ok, _ := owner.store.IsComplete(ctx, c); !ok {
			t.Errorf("block %s was evicted", c)
		}
	}
	if ok, _ := owner.store.Has(ctx, p2); ok {
		t.Error("p2 survived gc")
	}
	st, _ = owner.cb.DiskStat(ctx, -1)
	if st.Unpinned != (DiskUsage{}) {
		t.Errorf("after gc: unpinned %+v", st.Unpinned)
	}
	checkInvariant(t, owner)
	if r, err := owner.cb.EvalSource(ctx, "t", "mine", Budget{}); err != nil || r.Text != fmt.Sprint(20<<10+1) {
		t.Errorf("mine = %v, %v", r, err)
	}
}

// Blocks a running evaluation uses are not collected under it; once it
// has ended, repo gc removes them.
func TestInUseBlocksSurviveGC(t *testing.T) {
	ctx := testCtx(t)
	owner, caller := newTestNode(t), newTestNode(t)
	connectAll(t, owner, caller)
	addSource(t, caller, chainSource("f", 10)+"f = f9\n")
	var freed []GCResult
	hook := func() {
		res, err := owner.cb.CollectGarbage(context.Background())
		if err != nil {
			t.Error(err)
		}
		freed = append(freed, res)
	}
	owner.evalHook.Store(&hook)
	res, err := caller.EvalAt(ctx, owner.ID().String(), "f 1", Budget{})
	if err != nil {
		t.Fatalf("a call collected under its evaluation: %v", err)
	}
	if len(freed) != 1 || freed[0].Blocks != 0 {
		t.Errorf("gc during the evaluation removed %+v", freed)
	}
	want, _ := caller.cb.EvalSource(ctx, "t", "f 1", Budget{})
	if res.Text != want.Text {
		t.Errorf("f 1 = %s, want %s", res.Text, want.Text)
	}
	owner.evalHook.Store(nil)
	gc, err := owner.cb.CollectGarbage(ctx)
	if err != nil || gc.Blocks != 11 {
		t.Errorf("gc after the call: %+v, %v; want 11 blocks", gc, err)
	}
	checkInvariant(t, owner)
}

// Result blocks of a call a foreign evaluation makes are stored on its
// caller's say-so: unpinned and charged to that caller.
func TestResultBlocksOnBehalfAreUnpinned(t *testing.T) {
	ctx := testCtx(t)
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	addSource(t, a, "lib x = x + 100\n")
	if _, err := a.Codebase().Publish(ctx, "lib"); err != nil {
		t.Fatal(err)
	}
	lib := defCID(t, a.cb, "lib")
	if _, err := a.cb.EvalSource(ctx, "t", `Data.put "f" lib`, Budget{}); err != nil {
		t.Fatal(err)
	}
	// A asks B to ask A for the function in A's data: B receives lib
	// with the result, for A's evaluation.
	expr := `match Node.fromText "` + a.ID().String() + `" with | Some n -> at n '(Data.get "f") | None -> None`
	if _, err := a.EvalAt(ctx, b.ID().String(), expr, Budget{}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.store.IsComplete(ctx, lib); !ok {
		t.Fatal("b did not keep lib")
	}
	st, _ := b.cb.DiskStat(ctx, -1)
	if len(st.Peers) != 1 || st.Peers[0].Peer != a.ID().String() || st.Peers[0].Blocks != 1 {
		t.Errorf("b charged %+v, want lib to a", st.Peers)
	}
	if st, _ := a.cb.DiskStat(ctx, -1); st.Unpinned.Blocks != 0 {
		t.Errorf("a's own call left %+v unpinned", st.Unpinned)
	}
	checkInvariant(t, b)
}

// The books survive a restart: they are rebuilt from the records, so a
// peer does not get a fresh quota by waiting for one, and eviction after
// the restart keeps the invariant.
func TestDiskQuotaSurvivesRestart(t *testing.T) {
	ctx := testCtx(t)
	inner := datastore.NewMapDatastore()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	const perPeer = 300 << 10
	q := smallQuota(perPeer, 4<<20)
	src := programs(t, 8, 60<<10, 20<<10)
	p := freshPeerID(t)
	start := func() *Node {
		n := newTestNode(t, WithIdentity(key), WithDatastore(dssync.MutexWrap(inner)))
		if err := n.cb.SetDiskQuota(q); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n1 := start()
	for i := range 4 {
		req, entries := requestFor(t, src, fmt.Sprintf("p%d", i))
		if ce := replyError(pipeExchange(t, n1, p, req, entries, fromStore(src.Store()))); ce != nil {
			t.Fatal(ce)
		}
	}
	before, _ := n1.cb.DiskStat(ctx, -1)
	n1.Close()

	n2 := start()
	after, _ := n2.cb.DiskStat(ctx, -1)
	if after.Unpinned != before.Unpinned || len(after.Peers) != 1 || after.Peers[0] != before.Peers[0] {
		t.Fatalf("after a restart: %+v %+v, before %+v %+v", after.Unpinned, after.Peers, before.Unpinned, before.Peers)
	}
	for i := 4; i < 8; i++ {
		req, entries := requestFor(t, src, fmt.Sprintf("p%d", i))
		if ce := replyError(pipeExchange(t, n2, p, req, entries, fromStore(src.Store()))); ce != nil {
			t.Fatal(ce)
		}
		st, _ := n2.cb.DiskStat(ctx, -1)
		if st.Peers[0].Bytes > perPeer {
			t.Fatalf("after a restart, call %d: the peer has %d bytes, quota %d", i, st.Peers[0].Bytes, perPeer)
		}
		checkInvariant(t, n2)
	}
}

// Case 11: a probe cannot tell a private block the node holds from one
// it does not hold, on either protocol; an honest caller that holds the
// private block too sends it, and the node keeps its own (private) copy.
func TestPrivateBlockProbes(t *testing.T) {
	ctx := testCtx(t)
	owner, prober := newTestNode(t), newTestNode(t)
	connectAll(t, owner, prober)
	addSource(t, owner, "secretFactor = 117\n")
	held := defCID(t, owner.cb, "secretFactor")
	absent := scratchBlock(t, "secretFactor = 118\n", "secretFactor").CID
	if ok, _ := owner.store.Has(ctx, absent); ok {
		t.Fatal("the absent block is there")
	}
	shape := func(e *CallError) string {
		if e == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%s|%s|%s|%s|cid:%v", e.Code, e.Which, e.Name, e.Msg, e.CID.Defined())
	}

	// /unode/blocks: the same answer.
	var answers []string
	for _, c := range []cid.Cid{held, absent} {
		_, err := prober.Fetch(ctx, owner.ID().String(), c)
		var ce *CallError
		if !errors.As(err, &ce) || !ce.CID.Equals(c) {
			t.Fatalf("fetching %s: %v", c, err)
		}
		answers = append(answers, shape(ce))
	}
	if answers[0] != answers[1] || !strings.HasPrefix(answers[0], string(CodeMissing)) {
		t.Errorf("fetch answers differ: held private %q, absent %q", answers[0], answers[1])
	}

	// /unode/eval: both listed blocks are asked for, and a caller that
	// cannot send them gets the same error.
	answers = answers[:0]
	for _, c := range []cid.Cid{held, absent} {
		d, _ := digestsOf([]cid.Cid{c})
		req := &EvalRequest{Thunk: encodedThunk(t, &dag.Int{V: 1}), Store: "prober", Deps: d}
		reply, asked := rawExchange(t, prober, owner, req, []cid.Cid{c}, fromMap(nil))
		if asked != 1 {
			t.Errorf("listing %s: asked for %d blocks, want it asked for", c, asked)
		}
		ce := replyError(reply)
		if ce == nil || !ce.CID.Equals(c) {
			t.Fatalf("listing %s: %+v", c, reply)
		}
		answers = append(answers, shape(ce))
	}
	if answers[0] != answers[1] {
		t.Errorf("eval answers differ: held private %q, absent %q", answers[0], answers[1])
	}
	// By digest prefix, the same.
	for _, c := range []cid.Cid{held, absent} {
		p, _ := prefixesOf([]cid.Cid{c})
		req := &EvalRequest{Thunk: encodedThunk(t, &dag.Int{V: 1}), Store: "prober", Prefixes: p}
		if _, asked := rawExchange(t, prober, owner, req, []cid.Cid{c}, fromMap(nil)); asked != 1 {
			t.Errorf("listing %s by prefix: asked for %d blocks, want it asked for", c, asked)
		}
	}

	// An honest caller with the same definition sends it; the owner keeps
	// its copy, still private and pinned.
	addSource(t, prober, "secretFactor = 117\nuse = secretFactor * 2\n")
	res, err := prober.EvalAt(ctx, owner.ID().String(), "use", Budget{})
	if err != nil || res.Text != "234" {
		t.Fatalf("use at the owner: %v, %v", res, err)
	}
	if ok, _ := owner.cb.shareable(ctx, held, prober.ID()); ok {
		t.Error("the owner's private block became shareable with the prober")
	}
	if st, _ := owner.cb.DiskStat(ctx, -1); st.Unpinned.Blocks != 1 { // use
		t.Errorf("unpinned %+v, want use alone", st.Unpinned)
	}
	checkInvariant(t, owner)
}
