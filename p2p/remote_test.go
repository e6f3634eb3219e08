package p2p

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Acceptance tests of issue 3, with real libp2p hosts on loopback. They
// never assert times: waits poll for a state with a generous bound.

const chainProgram = "f = f19\nrunAt n x = at n '(f x)\n"

// 1. A runs `at B '(f x)` where f has a 20-deep chain of dependencies B
// has never seen: the right value, exactly the blocks B lacked, one extra
// round trip; the same call again sends nothing. C held half the chain,
// published, and receives only the other half (a private copy would be
// asked for: see TestPrivateBlockProbes).
func TestAtSyncsExactlyWhatIsMissing(t *testing.T) {
	ctx := testCtx(t)
	a, b, c := newTestNode(t), newTestNode(t), newTestNode(t)
	connectAll(t, a, b, c)
	addSource(t, a, chainSource("f", 20)+chainProgram)
	addSource(t, c, chainSource("f", 10))
	if _, err := c.Codebase().Publish(ctx, "f9"); err != nil {
		t.Fatal(err)
	}

	want, err := a.EvalAt(ctx, a.ID().String(), "f 5", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, _ := a.store.LookupName(ctx, "f")
	closure, err := a.store.ClosureOf(ctx, ref.Def.CID)
	if err != nil {
		t.Fatal(err)
	}
	if len(closure) != 21 {
		t.Fatalf("closure of f has %d blocks, want 21", len(closure))
	}
	lacking := func(n *Node) (blocks int, bytes int64) {
		for _, id := range closure {
			if ok, _ := n.store.IsComplete(ctx, id); !ok {
				data, _ := a.store.Get(ctx, id)
				blocks++
				bytes += int64(len(data))
			}
		}
		return blocks, bytes
	}

	for _, tc := range []struct {
		callee     *Node
		wantBlocks int
	}{{b, 21}, {c, 11}} {
		blocks, bytes := lacking(tc.callee)
		if blocks != tc.wantBlocks {
			t.Fatalf("callee lacks %d blocks before the call, want %d", blocks, tc.wantBlocks)
		}
		v, st, err := call(ctx, a, "runAt", nodeValue(tc.callee), eval.MakeInt(5))
		if err != nil {
			t.Fatal(err)
		}
		if show(v) != want.Text {
			t.Errorf("at %s: got %s, want %s", tc.callee.ID(), show(v), want.Text)
		}
		if st.Blocks != blocks || st.Bytes != bytes || st.RoundTrips != 1 {
			t.Errorf("cold call synced %+v, want {Blocks:%d Bytes:%d RoundTrips:1}", st, blocks, bytes)
		}
		if n, _ := lacking(tc.callee); n != 0 {
			t.Errorf("callee still lacks %d blocks", n)
		}
		v, st, err = call(ctx, a, "runAt", nodeValue(tc.callee), eval.MakeInt(5))
		if err != nil {
			t.Fatal(err)
		}
		if show(v) != want.Text || st != (SyncStats{}) {
			t.Errorf("warm call: %s, synced %+v, want %s and nothing", show(v), st, want.Text)
		}
	}

	// The Go API reports the same figures.
	d := newTestNode(t)
	connectAll(t, a, d)
	res, err := a.EvalAt(ctx, d.ID().String(), "f 5", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != want.Text || res.Sync.Blocks != 21 || res.Sync.RoundTrips != 1 {
		t.Errorf("EvalAt: %s %+v", res.Text, res.Sync)
	}
}

// 2. Closures with free variables (locals and a function value) run
// remotely; a remote thunk calls `at C` in turn; a remote call returns
// closures that A applies locally.
func TestClosuresTravel(t *testing.T) {
	ctx := testCtx(t)
	a, b, c := newTestNode(t), newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b, c)
	addSource(t, a, chainSource("f", 5)+`f = f4
mkAdder k = x -> x + k
shipped n = let a = 7; inc = mkAdder a; g = x -> inc x * a in at n '(g 5)
nested b c = at b '((at c '(f 3)) + 1)
retClosure n = let h = at n '(mkAdder 100) in h 5
retRec n = let count = at n '(let go k acc = if k == 0 then acc else go (k - 1) (acc + 2) in go) in count 10 0
`)
	fv, err := a.EvalAt(ctx, a.ID().String(), "f 3 + 1", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn   string
		args []eval.Value
		want string
	}{
		{"shipped", []eval.Value{nodeValue(b)}, "84"},
		{"nested", []eval.Value{nodeValue(b), nodeValue(c)}, fv.Text},
		{"retClosure", []eval.Value{nodeValue(b)}, "105"},
		{"retRec", []eval.Value{nodeValue(b)}, "20"},
	} {
		v, _, err := call(ctx, a, tc.fn, tc.args...)
		if err != nil {
			t.Errorf("%s: %v", tc.fn, err)
			continue
		}
		if show(v) != tc.want {
			t.Errorf("%s = %s, want %s", tc.fn, show(v), tc.want)
		}
	}
	// The nested call ran on C, shipped there by B.
	if c.ForeignStats().Succeeded != 1 || b.SyncTotals().Blocks == 0 {
		t.Errorf("nested at: C ran %+v, B synced %+v", c.ForeignStats(), b.SyncTotals())
	}
	// Node.fromText names a node in source, as the CLI would.
	src := `match Node.fromText "` + b.Addrs()[0].String() + `" with
  | Some n -> at n '(mkAdder 1 41)
  | None -> 0`
	res, err := a.EvalAt(ctx, a.ID().String(), src, Budget{})
	if err != nil || res.Text != "42" {
		t.Errorf("at (Node.fromText ...) = %v, %v", res, err)
	}
}

const combinators = `
slowUnless fast = if here == fast then 1 else await (listen channel)
raceAt ns fast = await (race ns '(slowUnless fast))
fallbackAt ns = await (fallback ns '(f 2))
quorumAt ns = await (quorum 2 ns '(f 4))
hang = await (listen channel)
awaitBang n = await! (timeout 30000 (at' n '(hang)))
`

// 3. fallback skips a dead node; race returns the first answer and the
// loser's evaluation is canceled on the loser; quorum agrees; await! of
// a node that disappears mid-evaluation is an Err and nothing hangs.
func TestCombinators(t *testing.T) {
	ctx := testCtx(t)
	a, b, c, dead := newOpenNode(t), newOpenNode(t), newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b, c, dead)
	addSource(t, a, chainSource("f", 5)+"f = f4\n"+combinators)
	dead.Close()
	f2, _ := a.EvalAt(ctx, a.ID().String(), "f 2", Budget{})
	f4, _ := a.EvalAt(ctx, a.ID().String(), "f 4", Budget{})

	v, _, err := call(ctx, a, "fallbackAt", eval.NewList([]eval.Value{nodeValue(dead), nodeValue(b)}))
	if err != nil || show(v) != f2.Text {
		t.Errorf("fallback [dead, B] = %v, %v; want %s", v, err, f2.Text)
	}

	// B answers only once C is evaluating, so that there is an
	// evaluation on C to cancel.
	hook := func() {
		if !pollUntil(func() bool { return c.ForeignStats().Running == 1 }) {
			t.Error("C did not start evaluating")
		}
	}
	b.evalHook.Store(&hook)
	v, _, err = call(ctx, a, "raceAt", eval.NewList([]eval.Value{nodeValue(c), nodeValue(b)}), nodeValue(b))
	if err != nil || show(v) != "1" {
		t.Errorf("race [C, B] = %v, %v; want 1", v, err)
	}
	waitFor(t, "the loser's evaluation to be canceled", func() bool { return c.ForeignStats().Canceled == 1 })
	if st := c.ForeignStats(); st.Running != 0 || st.Succeeded != 0 {
		t.Errorf("loser stats %+v", st)
	}

	b.evalHook.Store(nil)
	v, _, err = call(ctx, a, "quorumAt", eval.NewList([]eval.Value{nodeValue(a), nodeValue(b), nodeValue(c)}))
	if err != nil || show(v) != f4.Text {
		t.Errorf("quorum 2 [A, B, C] = %v, %v; want %s", v, err, f4.Text)
	}

	d := newOpenNode(t)
	connectAll(t, a, d)
	type outcome struct {
		v   eval.Value
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		v, _, err := call(ctx, a, "awaitBang", nodeValue(d))
		done <- outcome{v, err}
	}()
	waitFor(t, "D to start evaluating", func() bool { return d.ForeignStats().Running == 1 })
	if err := d.Close(); err != nil {
		t.Logf("closing D: %v", err)
	}
	select {
	case o := <-done:
		if o.err != nil || !strings.HasPrefix(show(o.v), "Left (Msg ") {
			t.Errorf("await! of a vanished node = %v, %v; want Left (Msg ...)", o.v, o.err)
		}
	case <-ctx.Done():
		t.Fatal("await! hangs after the callee closed")
	}
	if st := d.ForeignStats(); st.Canceled != 1 || st.Running != 0 {
		t.Errorf("closed node's stats %+v", st)
	}
}

// A canceled context cancels the remote evaluation.
func TestCancelReachesCallee(t *testing.T) {
	ctx := testCtx(t)
	a, b := newTestNode(t), newOpenNode(t)
	connectAll(t, a, b)
	addSource(t, a, "hang = await (listen channel)\n")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := a.EvalAt(cctx, b.ID().String(), "hang", Budget{})
		errc <- err
	}()
	waitFor(t, "B to start evaluating", func() bool { return b.ForeignStats().Running == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("EvalAt after cancel: %v", err)
	}
	waitFor(t, "B to cancel", func() bool { return b.ForeignStats().Canceled == 1 })
}

// 4. Two nodes sharing one datastore exchange no blocks, whether or not
// the caller knows the callee's StoreID yet.
func TestSharedStoreSkipsSync(t *testing.T) {
	ctx := testCtx(t)
	ds := dssync.MutexWrap(datastore.NewMapDatastore())
	a := newTestNode(t, WithDatastore(ds))
	b := newTestNode(t, WithDatastore(ds))
	if a.StoreID() != b.StoreID() {
		t.Fatalf("store IDs differ: %s %s", a.StoreID(), b.StoreID())
	}
	addSource(t, a, chainSource("f", 20)+chainProgram)
	// No Connect: A has not exchanged status with B; the address is in the target.
	res, err := a.EvalAt(ctx, b.Addrs()[0].String(), "f 5", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sync != (SyncStats{}) {
		t.Errorf("first call synced %+v", res.Sync)
	}
	if r, _ := a.peers.lookup(b.ID()); r.store() != a.StoreID() {
		t.Errorf("A did not learn B's StoreID from the reply")
	}
	_, st, err := call(ctx, a, "runAt", nodeValue(b), eval.MakeInt(5))
	if err != nil || st != (SyncStats{}) {
		t.Errorf("at B synced %+v, %v", st, err)
	}
	// And after a status exchange.
	c := newTestNode(t, WithDatastore(ds))
	connectAll(t, a, c)
	if r, _ := a.peers.lookup(c.ID()); r.store() != a.StoreID() {
		t.Errorf("status exchange did not give C's StoreID")
	}
	_, st, err = call(ctx, a, "runAt", nodeValue(c), eval.MakeInt(5))
	if err != nil || st != (SyncStats{}) {
		t.Errorf("at C synced %+v, %v", st, err)
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond until it holds, failing the test after a bound
// that is only there to keep a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// pollUntil polls cond for up to 30 s; it may be used off the test
// goroutine.
func pollUntil(cond func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// scratchBlock compiles one definition in a scratch codebase and returns
// its block.
func scratchBlock(t *testing.T, src, name string) dag.Block {
	t.Helper()
	cb := NewCodebase(dssync.MutexWrap(datastore.NewMapDatastore()))
	if _, err := cb.Add(context.Background(), "scratch.u", []byte(src)); err != nil {
		t.Fatal(err)
	}
	ref, _, err := cb.Store().LookupName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := cb.Store().Get(context.Background(), ref.Def.CID)
	if err != nil {
		t.Fatal(err)
	}
	return dag.Block{CID: ref.Def.CID, Data: data}
}

// thunkCalling is the encoded thunk '(def 2).
func thunkCalling(t *testing.T, def cid.Cid) []byte {
	t.Helper()
	data, err := dag.EncodeValue(&dag.VClosure{Code: &dag.Delay{Body: &dag.App{
		Fn: &dag.Ref{Def: dag.DefRef{CID: def}}, Args: []dag.Term{&dag.Int{V: 2}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// RunAt adds a file here and runs its main there; Status reports a
// peer's StoreID; Peers lists the connection.
func TestRunAtAndStatus(t *testing.T) {
	ctx := testCtx(t)
	a, b := newTestNode(t), newTestNode(t)
	connectAll(t, a, b)
	res, err := a.RunAt(ctx, b.Addrs()[0].String(), "prog.u", []byte("helper x = x * 2\nmain = helper 21\n"), Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "42" || res.Sync.Blocks != 2 || res.Sync.RoundTrips != 1 {
		t.Errorf("RunAt = %s %+v", res.Text, res.Sync)
	}
	st, err := a.Status(ctx, b.ID())
	if err != nil || st.Store != b.StoreID() || st.Version != ProtocolVersion {
		t.Errorf("Status = %+v, %v", st, err)
	}
	if ps := a.Peers(); len(ps) != 1 || ps[0].ID != b.ID().String() || len(ps[0].Addrs) == 0 {
		t.Errorf("Peers = %+v", ps)
	}
	if _, err := a.EvalAt(ctx, "not a peer", "1", Budget{}); err == nil {
		t.Error("a bad target was accepted")
	}
	if _, err := a.Connect(ctx, b.ID().String()); err == nil {
		t.Error("Connect without an address was accepted")
	}
}
