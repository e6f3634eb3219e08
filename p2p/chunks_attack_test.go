package p2p

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Hostile peers and chunked values (issue 11): code in chunks is checked
// at link time, chunk budgets bind before allocation, and received
// chunks count against the sender's disk quota.

// closureList is n closures x -> Data.get "k": code, as a list value.
func closureList(n int) *dag.VList {
	elems := make([]dag.Value, n)
	for i := range elems {
		elems[i] = &dag.VClosure{Code: &dag.Lam{Arity: 1, Body: &dag.App{Fn: &dag.Builtin{Name: "Data.get"}, Args: []dag.Term{&dag.Text{V: "k"}}}}}
	}
	return &dag.VList{Elems: elems}
}

// lengthThunk is '(List.length xs) with xs captured.
func lengthThunk(xs dag.Value) dag.Value {
	return &dag.VClosure{Code: &dag.Delay{Body: &dag.App{Fn: &dag.Builtin{Name: "List.length"}, Args: []dag.Term{&dag.Var{Index: 0}}}}, Env: []dag.Value{xs}}
}

// rawChunkedRequest is a caller's request for a thunk with chunks: the
// chunks that are not roots listed as dependencies, then the roots.
func rawChunkedRequest(t testing.TB, ev *dag.EncodedValue) (*EvalRequest, []cid.Cid, map[cid.Cid][]byte) {
	t.Helper()
	have := map[cid.Cid][]byte{}
	isRoot := map[cid.Cid]bool{}
	for _, l := range ev.Links {
		isRoot[l] = true
	}
	var deps []cid.Cid
	for _, b := range ev.Chunks {
		have[b.CID] = b.Data
		if !isRoot[b.CID] {
			deps = append(deps, b.CID)
		}
	}
	d, err := digestsOf(deps)
	if err != nil {
		t.Fatal(err)
	}
	return &EvalRequest{Thunk: ev.Data, Store: "raw-client", Deps: d}, append(deps, ev.Links...), have
}

// A raw peer sends a thunk capturing a chunked list of closures that
// call a builtin its sandbox denies. The link step, over the closure of
// the thunk's chunk roots, refuses it before any chunk is read, with the
// error the same code unchunked gets from serveEval's first check.
func TestChunkedCodeDeniedAtLink(t *testing.T) {
	ctx := testCtx(t)
	a := newTestNode(t)
	b := newTestNode(t, WithPolicy(policyWith(t, "--allow pure --fuel 100000000 --memory 1GiB --time 1m --result 10MiB")))
	connectAll(t, a, b)

	plain, err := dag.EncodeValue(lengthThunk(closureList(3)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rawExchange(t, a, b, &EvalRequest{Thunk: plain, Store: "raw-client"}, nil, fromMap(nil))
	want := replyError(r)
	if want == nil || want.Code != CodeDenied || want.Name != "Data.get" {
		t.Fatalf("unchunked code: %+v, want Data.get denied", want)
	}

	ev, err := dag.EncodeValueChunked(lengthThunk(closureList(30000)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Chunks) < 2 {
		t.Fatalf("%d chunks: the list is not chunked", len(ev.Chunks))
	}
	req, entries, have := rawChunkedRequest(t, ev)
	r, _ = rawExchange(t, a, b, req, entries, fromMap(have))
	got := replyError(r)
	if got == nil || got.Code != want.Code || got.Which != want.Which || got.Name != want.Name || got.Msg != want.Msg {
		t.Fatalf("chunked code: %+v, want the unchunked code's %+v", got, want)
	}

	// The link step itself refuses it: the chunks are here now (the
	// failed call left what its thunk links to), and link reads only
	// their summaries, not the value.
	if err := b.store.AddBlocks(ctx, ev.Chunks); err != nil {
		t.Fatal(err)
	}
	w, err := dag.DecodeValue(ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	bs, ds := thunkRefs(w)
	acc := b.accessFor(ctx, a.ID(), nil)
	if err := acc.chk.CheckLink(bs, ds); err != nil {
		t.Fatalf("the thunk's own references: %v (the closures are in its chunks)", err)
	}
	if _, err := b.link(ctx, acc.chk, bs, ds, ev.Links); err == nil {
		t.Fatal("link allowed a thunk whose chunks hold code calling a denied builtin")
	}
}

// textLengthThunk is '(Text.length t) with t captured.
func textLengthThunk(t dag.Value) dag.Value {
	return &dag.VClosure{Code: &dag.Delay{Body: &dag.App{Fn: &dag.Builtin{Name: "Text.length"}, Args: []dag.Term{&dag.Var{Index: 0}}}}, Env: []dag.Value{t}}
}

// allocated runs f and returns the bytes the process allocated meanwhile.
func allocated(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// A raw peer declares a chunked Text of a gigabyte to a callee whose
// memory budget is 8 MiB: refused with a memory budget error before any
// chunk is asked for, and the node allocates nothing near it.
func TestChunkedThunkOverMemoryBudget(t *testing.T) {
	a := newTestNode(t)
	b := newTestNode(t, WithPolicy(policyWith(t, "--allow pure --fuel 100000000 --memory 8MiB --time 1m --result 10MiB")))
	connectAll(t, a, b)
	fake := dag.NewBlock([]byte("a chunk nobody has")).CID
	data, err := dag.EncodeValue(textLengthThunk(&dag.VChunked{Kind: dag.ChunkText, Count: dag.MaxChunkedBytes, Root: fake}))
	if err != nil {
		t.Fatal(err)
	}
	var r *EvalReply
	var asked int
	alloc := allocated(func() {
		r, asked = rawExchange(t, a, b, &EvalRequest{Thunk: data, Store: "raw-client"}, []cid.Cid{fake}, fromMap(nil))
	})
	ce := replyError(r)
	if ce == nil || ce.Code != CodeBudget || ce.Which != eval.BudgetMemory {
		t.Fatalf("a gigabyte declared under 8 MiB: %+v, want a memory budget error", ce)
	}
	if asked != 0 {
		t.Fatalf("%d chunks asked for before the refusal", asked)
	}
	t.Logf("allocated while refusing a 1 GiB declaration: %d bytes", alloc)
	if alloc > 8<<20 {
		t.Fatalf("%d bytes allocated for a refused thunk", alloc)
	}
}

// The decoded chunks of a thunk are its evaluation's memory: a thunk
// carrying 5 MiB of Text under an 8 MiB budget has 3 MiB left to
// allocate, so a body that allocates 4 MB fails with a memory budget
// error, and the same body without the Text succeeds.
func TestChunkedThunkChargedToMemory(t *testing.T) {
	a := newTestNode(t)
	b := newTestNode(t, WithPolicy(policyWith(t, "--allow pure --fuel 100000000 --memory 8MiB --time 1m --result 10MiB")))
	connectAll(t, a, b)
	thunk := func(captured dag.Value) dag.Value {
		body := &dag.App{Fn: &dag.Builtin{Name: "Text.length"}, Args: []dag.Term{
			&dag.App{Fn: &dag.Builtin{Name: "Text.repeat"}, Args: []dag.Term{&dag.Int{V: 400000}, &dag.Text{V: "0123456789"}}}}}
		return &dag.VClosure{Code: &dag.Delay{Body: body}, Env: []dag.Value{captured}}
	}
	small, err := dag.EncodeValueChunked(thunk(&dag.VText{V: "x"}))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rawExchange(t, a, b, &EvalRequest{Thunk: small.Data, Store: "raw-client"}, nil, fromMap(nil))
	if ce := replyError(r); ce != nil {
		t.Fatalf("the body alone: %v", ce)
	}
	ev, err := dag.EncodeValueChunked(thunk(&dag.VText{V: strings.Repeat("y", 5<<20)}))
	if err != nil {
		t.Fatal(err)
	}
	req, entries, have := rawChunkedRequest(t, ev)
	r, _ = rawExchange(t, a, b, req, entries, fromMap(have))
	if ce := replyError(r); ce == nil || ce.Code != CodeBudget || ce.Which != eval.BudgetMemory {
		t.Fatalf("5 MiB of chunks and 4 MB allocated under 8 MiB: %+v, want a memory budget error", ce)
	}
}

// A hostile callee answers with a result declaring a 60 MB chunked Text:
// within the caller's result budget (64 MiB) but not its memory budget
// (8 MiB), so the caller refuses it with a memory budget error without
// asking for a chunk.
func TestChunkedResultOverCallerMemory(t *testing.T) {
	ctx := testCtx(t)
	a, b := newTestNode(t), newTestNode(t)
	connectAll(t, a, b)
	fake := dag.NewBlock([]byte("a chunk nobody has")).CID
	result, err := dag.EncodeValue(&dag.VChunked{Kind: dag.ChunkText, Count: 60 << 20, Root: fake})
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := digestsOf([]cid.Cid{fake})
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Bool
	done := make(chan struct{})
	b.host.SetStreamHandler(ProtocolEval, func(s network.Stream) {
		defer close(done)
		defer s.Close()
		fc := newFrameConn(s, nil)
		if _, _, err := fc.readFrame(MaxRequestSize); err != nil {
			return
		}
		if err := fc.writeMessage(&EvalReply{Result: &ResultReply{Value: result, Store: "hostile", Chunks: chunks}}); err != nil {
			return
		}
		if msg, _, err := fc.readFrame(MaxStatusSize + 64); err == nil {
			if _, err := DecodeFetchNeed(msg); err == nil {
				asked.Store(true)
			}
		}
	})
	var res *callResult
	alloc := allocated(func() {
		res, err = a.callThunk(ctx, b.ID(), nil, textLengthThunk(&dag.VText{V: "x"}), Budget{Fuel: 1e6, MaxMemory: 8 << 20, MaxResultBytes: 64 << 20})
	})
	<-done
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeBudget || ce.Which != eval.BudgetMemory {
		t.Fatalf("a 60 MB result under an 8 MiB memory budget: %v %v, want a memory budget error", res, err)
	}
	if asked.Load() {
		t.Fatal("the caller asked for the chunks of a result past its memory budget")
	}
	t.Logf("allocated while refusing a 60 MB result: %d bytes", alloc)
	if alloc > 8<<20 {
		t.Fatalf("%d bytes allocated for a refused result", alloc)
	}
}

// digitsSource makes large Text values that share no chunk: the decimal
// numbers from s on, 1.4 MB for 200,000 of them.
const digitsSource = `
digits s k = Text.join "" (List.map Int.toText (List.range s (s + k)))

fetchAt n s k = Text.length (at n '(digits s k))

bounce owner me s k = at owner '(let t = digits s k in at me '(Text.length t))
`

const roomySandbox = "--allow pure --allow remote --fuel 1000000000 --memory 1GiB --time 5m --result 64MiB"

func pinnedBytes(t *testing.T, n *Node) (pinned, unpinned int64) {
	t.Helper()
	st, err := n.cb.DiskStat(testCtx(t), -1)
	if err != nil {
		t.Fatal(err)
	}
	return st.Pinned.Bytes, st.Unpinned.Bytes
}

// Received chunks count against the sender's disk quota. A callee that
// answers this node's calls with many distinct 1.4 MB Texts makes it
// keep at most its quota of their chunks (the least recently used go),
// nothing of them pinned; a result larger than the quota is refused with
// a disk budget error; and honest calls keep working, a repeated result
// sending no chunk while its chunks are retained.
func TestResultChunksWithinQuota(t *testing.T) {
	ctx := testCtx(t)
	owner := newTestNode(t, WithPolicy(policyWith(t, roomySandbox)))
	callee := newTestNode(t, WithPolicy(policyWith(t, roomySandbox)))
	connectAll(t, owner, callee)
	const perPeer = 4 << 20
	if err := owner.cb.SetDiskQuota(smallQuota(perPeer, 64<<20)); err != nil {
		t.Fatal(err)
	}
	addSource(t, owner, digitsSource)
	addSource(t, callee, digitsSource)
	pinned0, _ := pinnedBytes(t, owner)
	const k = 200000
	for i := range 8 {
		s := int64(1000000 + i*k)
		v, _, err := call(ctx, owner, "fetchAt", nodeValue(callee), eval.MakeInt(s), eval.MakeInt(k))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if show(v) != "1400000" {
			t.Fatalf("call %d = %s", i, show(v))
		}
		pinned, unpinned := pinnedBytes(t, owner)
		if pinned-pinned0 > 1<<20 {
			t.Fatalf("call %d: %d bytes pinned by results of the callee's choosing", i, pinned-pinned0)
		}
		if unpinned > perPeer {
			t.Fatalf("call %d: %d unpinned bytes, quota %d", i, unpinned, perPeer)
		}
	}
	checkInvariant(t, owner)
	// The last result is retained: asked again, no chunk comes.
	v, st, err := call(ctx, owner, "fetchAt", nodeValue(callee), eval.MakeInt(1000000+7*k), eval.MakeInt(k))
	if err != nil || show(v) != "1400000" {
		t.Fatalf("the last call again: %v, %v", v, err)
	}
	if st.Blocks != 0 {
		t.Fatalf("the last result again: %d chunks received, want none", st.Blocks)
	}
	// One result past the quota: refused, not kept.
	_, _, err = call(ctx, owner, "fetchAt", nodeValue(callee), eval.MakeInt(1000000), eval.MakeInt(4*k))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeBudget || ce.Which != BudgetDisk {
		t.Fatalf("a 5.6 MB result under a 4 MiB quota: %v, want a disk budget error", err)
	}
	if _, unpinned := pinnedBytes(t, owner); unpinned > perPeer {
		t.Fatalf("%d unpinned bytes after the refusal, quota %d", unpinned, perPeer)
	}
	v, _, err = call(ctx, owner, "fetchAt", nodeValue(callee), eval.MakeInt(5), eval.MakeInt(k))
	if err != nil || show(v) == "" {
		t.Fatalf("an honest call after the refusal: %v, %v", v, err)
	}
	checkInvariant(t, owner)
}

// A foreign evaluation that builds large values here and sends them with
// at makes this node store their chunks on its caller's account:
// unpinned, within the caller's quota, however many distinct values it
// sends; the owner's own definitions stay.
func TestForeignSentChunksWithinQuota(t *testing.T) {
	ctx := testCtx(t)
	owner := newTestNode(t, WithPolicy(policyWith(t, roomySandbox)))
	attacker := newTestNode(t, WithPolicy(policyWith(t, roomySandbox)))
	connectAll(t, owner, attacker)
	const perPeer = 4 << 20
	if err := owner.cb.SetDiskQuota(smallQuota(perPeer, 64<<20)); err != nil {
		t.Fatal(err)
	}
	addSource(t, owner, "mine x = x + 1\n")
	addSource(t, attacker, digitsSource)
	pinned0, _ := pinnedBytes(t, owner)
	const k = 200000
	for i := range 8 {
		s := int64(1000000 + i*k)
		v, _, err := call(ctx, attacker, "bounce", nodeValue(owner), nodeValue(attacker), eval.MakeInt(s), eval.MakeInt(k))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if show(v) != "1400000" {
			t.Fatalf("call %d = %s", i, show(v))
		}
		pinned, unpinned := pinnedBytes(t, owner)
		if pinned-pinned0 > 1<<20 {
			t.Fatalf("call %d: %d bytes pinned by a foreign evaluation's values", i, pinned-pinned0)
		}
		if unpinned > perPeer {
			t.Fatalf("call %d: %d unpinned bytes, quota %d", i, unpinned, perPeer)
		}
	}
	checkInvariant(t, owner)
	if v, _, err := call(ctx, owner, "mine", eval.MakeInt(1)); err != nil || show(v) != "2" {
		t.Fatalf("the owner's own definition: %v, %v", v, err)
	}
}

// The same for a definition: a chunked list of a definition the sandbox
// does not allow is refused at link time like the list unchunked.
func TestChunkedDefDeniedAtLink(t *testing.T) {
	ctx := testCtx(t)
	a := newTestNode(t)
	b := newTestNode(t, WithPolicy(policyWith(t, "--allow pure --allow-code none --fuel 100000000 --memory 1GiB --time 1m --result 10MiB")))
	connectAll(t, a, b)
	addSource(t, b, "f x = x + 1\n")
	ref, ok, err := b.store.LookupName(ctx, "f")
	if err != nil || !ok {
		t.Fatalf("f: %v %v", ok, err)
	}
	defs := func(n int) dag.Value {
		es := make([]dag.Value, n)
		for i := range es {
			es[i] = &dag.VDef{Def: ref.Def}
		}
		return &dag.VList{Elems: es}
	}
	plain, err := dag.EncodeValue(lengthThunk(defs(2)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rawExchange(t, a, b, &EvalRequest{Thunk: plain, Store: "raw-client"}, nil, fromMap(nil))
	want := replyError(r)
	if want == nil || want.Code != CodeDenied || want.Name != ref.Def.CID.String() {
		t.Fatalf("unchunked: %+v, want %s denied", want, ref.Def.CID)
	}
	ev, err := dag.EncodeValueChunked(lengthThunk(defs(30000)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Chunks) < 2 {
		t.Fatalf("%d chunks: the list is not chunked", len(ev.Chunks))
	}
	req, entries, have := rawChunkedRequest(t, ev)
	r, _ = rawExchange(t, a, b, req, entries, fromMap(have))
	got := replyError(r)
	if got == nil || got.Code != want.Code || got.Which != want.Which || got.Name != want.Name || got.Msg != want.Msg {
		t.Fatalf("chunked: %+v, want the unchunked list's %+v", got, want)
	}
}
