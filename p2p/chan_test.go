package p2p

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Channels across nodes (issue 9): /unode/chan/1.0.0 between real libp2p
// hosts on loopback. The attacks are in chan_attack_test.go, the
// benchmark in chan_bench_test.go.

// newChan makes a channel of n created by n itself (so n's own
// evaluations may listen on it).
func newChan(t testing.TB, n *Node) *eval.Channel {
	t.Helper()
	ch, err := n.net.NewChannel(nil)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// listenChan registers a listener of n's own on ch; the caller keeps the
// future (listeners are weak).
func listenChan(t testing.TB, n *Node, ch *eval.Channel) *eval.Future {
	t.Helper()
	f := n.net.Listen(nil, ch)
	if _, errv, ok := f.Result(); ok && errv != nil {
		t.Fatalf("listen: %s", show(errv))
	}
	return f
}

// sendFrom sends v on ch to node to as n's own code would: send (ack
// false) or deliver.
func sendFrom(n *Node, to *Node, ch *eval.Channel, v eval.Value, ack bool) *eval.Future {
	th := n.cb.newThread(Budget{})
	return n.net.Send(th, nodeValue(to), ch, v, ack)
}

// awaitFuture waits for f (a bound only against a hang).
func awaitFuture(t testing.TB, f *eval.Future) (v, errv eval.Value) {
	t.Helper()
	select {
	case <-f.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("future still pending after 30 s")
	}
	v, errv, _ = f.Result()
	return v, errv
}

// pingPongSource: serve answers n messages on c by sending each back on
// back (at a); ping sends 0 .. n-1 to c at b, each once the answer to
// the previous one came back, and checks every answer. Each side listens
// before it lets the other side send: nothing is buffered.
const pingPongSource = `
pong a l c back k = if k == 0 then 0 else (let v = await l; l2 = listen c; u = send a back v in pong a l2 c back (k - 1))
serve a c back n = pong a (listen c) c back n
ping b c back i n = if i == n then i else (let l = listen back; u = send b c i; v = await l in if v == i then ping b c back (i + 1) n else 0 - 1)
pingD b c back i n = if i == n then i else (let l = listen back; d = await (deliver b c i); v = await l in if v == i then pingD b c back (i + 1) n else 0 - 1)
`

// TestChanPingPong is issue 9's acceptance 1 between two nodes in one
// process (TestE2EChanPingPong runs it between two daemons): 10,000
// round trips over channels with send, and 10,000 with deliver (1,000
// each with -short), every message in order and none lost.
func TestChanPingPong(t *testing.T) {
	ctx := testCtx(t)
	n := int64(10_000)
	if testing.Short() {
		n = 1_000
	}
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	addSource(t, a, pingPongSource)
	addSource(t, b, pingPongSource)
	for _, fn := range []string{"ping", "pingD"} {
		c, back := newChan(t, b), newChan(t, a)
		before := b.net.LocalHost.Listening()
		served := make(chan error, 1)
		go func() {
			v, _, err := call(ctx, b, "serve", nodeValue(a), c, back, eval.MakeInt(n))
			if err == nil && show(v) != "0" {
				err = errors.New("serve returned " + show(v))
			}
			served <- err
		}()
		waitFor(t, "b to listen", func() bool { return b.net.LocalHost.Listening() > before })
		start := time.Now()
		v, _, err := call(ctx, a, fn, nodeValue(b), c, back, eval.MakeInt(0), eval.MakeInt(n))
		if err != nil || show(v) != show(eval.MakeInt(n)) {
			t.Fatalf("%s: %v, %v; want %d", fn, v, err, n)
		}
		t.Logf("%s: %d round trips in %v (%v each)", fn, n, time.Since(start), time.Since(start)/time.Duration(n))
		if err := <-served; err != nil {
			t.Fatalf("%s: serve: %v", fn, err)
		}
	}
	sa, sb := a.ChanStats(), b.ChanStats()
	if sb.Taken < 2*n || sa.Taken < 2*n || sa.Delivered < n || sb.DroppedNoListener != 0 || sa.DroppedNoListener != 0 {
		t.Errorf("stats: a %+v, b %+v", sa, sb)
	}
}

// TestChanOrder: messages from one node to another keep their order on
// each channel, also when the receiver drops some (it listens again only
// after taking each), and a message on one channel comes after those
// sent before it on others.
func TestChanOrder(t *testing.T) {
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	c1, c2 := newChan(t, b), newChan(t, b)
	const total = 2000
	got := make([][]int64, 2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, ch := range []*eval.Channel{c1, c2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f := b.net.Listen(nil, ch)
				select {
				case <-f.Done():
				case <-stop:
					return
				}
				v, _, _ := f.Result()
				got[i] = append(got[i], int64(v.(eval.Int)))
			}
		}()
	}
	waitFor(t, "b to listen", func() bool { return b.net.LocalHost.Listening() == 2 })
	for i := range int64(total) {
		ch := c1
		if i%2 == 1 {
			ch = c2
		}
		if f := sendFrom(a, b, ch, eval.MakeInt(i), false); f != nil {
			t.Fatalf("send: %v", f)
		}
	}
	// A deliver on a third channel comes after them all: once it is
	// taken, everything before it has been taken or dropped.
	c3 := newChan(t, b)
	last := listenChan(t, b, c3)
	if _, errv := awaitFuture(t, sendFrom(a, b, c3, eval.MakeInt(total), true)); errv != nil {
		t.Fatalf("last deliver: %s", show(errv))
	}
	awaitFuture(t, last)
	close(stop)
	b.net.LocalHost.DeliverLocal(c1.ID, eval.MakeInt(-1)) // wake the listeners
	b.net.LocalHost.DeliverLocal(c2.ID, eval.MakeInt(-1))
	wg.Wait()
	n := 0
	for i := range got {
		prev := int64(-1)
		for _, v := range got[i] {
			if v == -1 {
				continue
			}
			if v <= prev || v%2 != int64(i) {
				t.Fatalf("channel %d: message %d after %d: out of order (%v...)", i+1, v, prev, got[i][:min(len(got[i]), 20)])
			}
			prev = v
			n++
		}
	}
	st := b.ChanStats()
	t.Logf("%d of %d messages taken in order, %d dropped with no listener", n, total, st.DroppedNoListener)
	if n == 0 || int64(n)+st.DroppedNoListener < total {
		t.Errorf("took %d, dropped %d of %d", n, st.DroppedNoListener, total)
	}
}

// errText is the Err value of a failed future.
func errText(t testing.TB, f *eval.Future) string {
	t.Helper()
	if f == nil {
		t.Fatal("no future")
	}
	v, errv := awaitFuture(t, f)
	if errv == nil {
		t.Fatalf("succeeded with %s, want a failure", show(v))
	}
	return show(errv)
}

// TestChanDeliverFailures is the rest of acceptance 1: a deliver to a
// node with no listener fails on the node's answer, a deliver refused by
// the receiver's policy fails Denied, a deliver to a stopped node fails
// (unreachable) well within its timeout, and sends to nowhere return at
// once and are counted as dropped. Each reason is its own Err.
func TestChanDeliverFailures(t *testing.T) {
	a, b := newOpenNode(t), newOpenNode(t)
	strict := newTestNode(t) // the default policy: pure code, no channels
	connectAll(t, a, b, strict)
	ch := newChan(t, b)

	// Taken: () once a listener took it.
	l := listenChan(t, b, ch)
	if v, errv := awaitFuture(t, sendFrom(a, b, ch, eval.Text("hi"), true)); errv != nil || v != eval.UnitValue {
		t.Fatalf("deliver with a listener: %v, %v", v, errv)
	}
	if v, _ := awaitFuture(t, l); show(v) != `"hi"` {
		t.Fatalf("listener got %s", show(v))
	}

	// No listener: the receiver's answer, one round trip.
	start := time.Now()
	got := errText(t, sendFrom(a, b, ch, eval.MakeInt(1), true))
	t.Logf("deliver with no listener failed after %v: %s", time.Since(start), got)
	if !strings.HasPrefix(got, "Msg ") || !strings.Contains(got, "no listener on the channel") {
		t.Errorf("no listener: %s", got)
	}
	waitFor(t, "the drop to be counted", func() bool { return b.ChanStats().DroppedNoListener == 1 })

	// A send to nowhere returns at once and is counted.
	if f := sendFrom(a, b, ch, eval.MakeInt(2), false); f != nil {
		t.Fatalf("send returned %v", f)
	}
	waitFor(t, "the dropped send to be counted", func() bool { return b.ChanStats().DroppedNoListener == 2 })

	// A channel of another node sent to this one: nobody there listens.
	if got := errText(t, sendFrom(a, strict, ch, eval.MakeInt(3), true)); !strings.Contains(got, "no listener") {
		t.Errorf("another node's channel: %s", got)
	}

	// Refused: strict's policy gives a the default sandbox, without
	// channels.
	sc := newChan(t, strict)
	keep := listenChan(t, strict, sc)
	if got := errText(t, sendFrom(a, strict, sc, eval.MakeInt(4), true)); !strings.HasPrefix(got, "Err.Denied") || !strings.Contains(got, "deliver") {
		t.Errorf("refused: %s", got)
	}
	if f := sendFrom(a, strict, sc, eval.MakeInt(5), false); f != nil {
		t.Fatalf("refused send returned %v", f)
	}
	waitFor(t, "the refusals to be counted", func() bool { return strict.ChanStats().Refused == 2 })
	if _, _, ok := keep.Result(); ok {
		t.Errorf("a refused message reached the listener")
	}

	// A stopped node: unreachable, long before the deliver's timeout.
	b.Close()
	start = time.Now()
	got = errText(t, sendFrom(a, b, ch, eval.MakeInt(6), true))
	if !strings.HasPrefix(got, "Msg ") || !strings.Contains(got, "unreachable") {
		t.Errorf("stopped node: %s", got)
	}
	t.Logf("deliver to a stopped node failed after %v: %s", time.Since(start), got)
	startSend := time.Now()
	if f := sendFrom(a, b, ch, eval.MakeInt(7), false); f != nil {
		t.Fatalf("send to a stopped node returned %v", f)
	}
	t.Logf("send to a stopped node returned after %v", time.Since(startSend))
	waitFor(t, "the lost send to be counted", func() bool { return a.ChanStats().DroppedUnreachable >= 1 })
	if st := a.ChanStats(); st.Failed != 4 || st.Delivered != 1 {
		t.Errorf("a's stats: %+v (want 4 failed, 1 delivered)", st)
	}
}

// TestChanErrorsMatchErr: each reason is a distinct Err, as at failures
// are (eval.ErrValue), and a *ChanError matches the sentinels.
func TestChanErrorsMatchErr(t *testing.T) {
	p := "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	for _, tc := range []struct {
		err      *ChanError
		sentinel error
		want     string
	}{
		{chanErrorFromWire(p, callErrorFromWire(p, &WireError{Code: string(CodeMsg), Which: whichNoListener})), eval.ErrNoListener, `Msg "deliver to 12D3…kSCVe2Xo: no listener on the channel"`},
		{&ChanError{Peer: p, Reason: ChanUnreachable, Msg: "connection refused"}, ErrChanUnreachable, `Msg "deliver to`},
		{chanErrorFromWire(p, callErrorFromWire(p, &WireError{Code: string(CodeDenied), Which: "builtin", Name: "deliver", Msg: "builtin deliver is outside the sandbox"})), eval.ErrDenied, `Err.Denied`},
		{&ChanError{Peer: p, Reason: ChanTimeout}, eval.ErrTimeout, `Timeout`},
		{chanErrorFromWire(p, callErrorFromWire(p, &WireError{Code: string(CodeMissing)})), eval.ErrMissing, `Err.Missing`},
		{chanErrorFromWire(p, callErrorFromWire(p, &WireError{Code: string(CodeBudget), Which: "disk"})), eval.ErrBudget, `Err.BudgetExceeded "disk"`},
	} {
		if !errors.Is(tc.err, tc.sentinel) {
			t.Errorf("%v does not match %v", tc.err, tc.sentinel)
		}
		if got := show(eval.ErrValue(tc.err)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("Err of %v = %s, want %s...", tc.err, got, tc.want)
		}
	}
}

// TestChanClosureSyncsOnce is issue 9's acceptance 4: a closure sent on
// a channel, using code only the sender has, runs on the receiver after
// one sync (one need, the closure's blocks); a second closure over the
// same code syncs nothing.
func TestChanClosureSyncsOnce(t *testing.T) {
	ctx := testCtx(t)
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	addSource(t, a, "secret x = x * 7 + 1\nmkf k = y -> secret y + k\ngive n c k = await (deliver n c (mkf k))\n")
	addSource(t, b, "recv c = (await (listen c)) 6\n")
	secret, ok, err := a.store.LookupName(ctx, "secret")
	if err != nil || !ok {
		t.Fatal(err)
	}
	if has, _ := b.store.Has(ctx, secret.Def.CID); has {
		t.Fatal("b holds a's code before the test")
	}
	for i, k := range []int64{100, 200} {
		ch := newChan(t, b)
		got := make(chan string, 1)
		go func() {
			v, _, err := call(ctx, b, "recv", ch)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- show(v)
		}()
		waitFor(t, "b to listen", func() bool { return b.net.LocalHost.Listening() == 1 })
		if _, _, err := call(ctx, a, "give", nodeValue(b), ch, eval.MakeInt(k)); err != nil {
			t.Fatalf("give: %v", err)
		}
		if want := show(eval.MakeInt(6*7 + 1 + k)); <-got != want {
			t.Fatalf("closure %d ran on b as %s, want %s", i, <-got, want)
		}
		st := a.ChanStats()
		t.Logf("after closure %d: %d syncs, %d blocks sent", i, st.Syncs, st.BlocksSent)
		if st.Syncs != 1 || st.BlocksSent < 2 {
			t.Errorf("after closure %d: %d syncs, %d blocks; want 1 sync bringing mkf and secret", i, st.Syncs, st.BlocksSent)
		}
	}
	if has, _ := b.store.Has(ctx, secret.Def.CID); !has {
		t.Error("b does not hold the code it ran")
	}
	if st := b.ChanStats(); st.Taken != 2 || st.Rejected != 0 {
		t.Errorf("b's stats: %+v", st)
	}
}

// deliverThunk is '(await! (deliver n c v)) for a channel c of node n.
func deliverThunk(ch *eval.Channel, node string, v dag.Term) dag.Value {
	body := &dag.App{Fn: &dag.Builtin{Name: "await!"}, Args: []dag.Term{
		&dag.App{Fn: &dag.Builtin{Name: "deliver"}, Args: []dag.Term{&dag.Var{Index: 1}, &dag.Var{Index: 0}, v}}}}
	return &dag.VClosure{Code: &dag.Delay{Body: body}, Env: []dag.Value{&dag.VChannel{ID: ch.ID, Node: ch.Node}, &dag.VNode{ID: node}}}
}

// sendThunk is '(send n c v).
func sendThunk(ch *eval.Channel, node string, v dag.Term) dag.Value {
	body := &dag.App{Fn: &dag.Builtin{Name: "send"}, Args: []dag.Term{&dag.Var{Index: 1}, &dag.Var{Index: 0}, v}}
	return &dag.VClosure{Code: &dag.Delay{Body: body}, Env: []dag.Value{&dag.VChannel{ID: ch.ID, Node: ch.Node}, &dag.VNode{ID: node}}}
}

// TestChanForeignCodeTargets is the first half of acceptance 5: foreign
// code allowed `channel` but not a third node cannot send or deliver to
// it, while it may to its caller, as with at.
func TestChanForeignCodeTargets(t *testing.T) {
	ctx := testCtx(t)
	a, third := newOpenNode(t), newOpenNode(t)
	b := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{a.ID(): "--allow pure --allow remote --allow channel" + smallBudget})))
	connectAll(t, a, b, third)
	tc := newChan(t, third)
	keep := listenChan(t, third, tc)

	res, err := a.callThunk(ctx, b.ID(), nil, deliverThunk(tc, third.ID().String(), &dag.Int{V: 1}), Budget{})
	if err != nil || !strings.HasPrefix(show(res.value), "Left (Err.Denied") || !strings.Contains(show(res.value), "target") {
		t.Errorf("deliver to a third node: %v, %v; want Left (Err.Denied ...target...)", res, err)
	}
	_, err = a.callThunk(ctx, b.ID(), nil, sendThunk(tc, third.ID().String(), &dag.Int{V: 2}), Budget{})
	wantDenied(t, "send to a third node", err, capabilities.DeniedTarget, third.ID().String())
	if _, _, ok := keep.Result(); ok || third.ChanStats().Received != 0 {
		t.Errorf("a message reached the third node: %+v", third.ChanStats())
	}

	// To its caller it may.
	ac := newChan(t, a)
	got := listenChan(t, a, ac)
	res, err = a.callThunk(ctx, b.ID(), nil, deliverThunk(ac, a.ID().String(), &dag.Int{V: 3}), Budget{})
	if err != nil || show(res.value) != "Right ()" {
		t.Fatalf("deliver to the caller: %v, %v", res, err)
	}
	if v, _ := awaitFuture(t, got); show(v) != "3" {
		t.Errorf("caller got %s", show(v))
	}
}

// TestChanForeignCodeKeepsPrivateCode: a foreign evaluation cannot send
// the node's private code on a channel, inline or as blocks; code the
// caller itself sent it may go back.
func TestChanForeignCodeKeepsPrivateCode(t *testing.T) {
	ctx := testCtx(t)
	a := newOpenNode(t)
	b := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{a.ID(): "--allow pure --allow remote --allow channel" + smallBudget})))
	connectAll(t, a, b)
	addSource(t, b, "private x = x * 3\nleak n c = deliver n c (y -> private y)\n")
	leak, _, _ := b.store.LookupName(ctx, "leak")
	ac := newChan(t, a)
	keep := listenChan(t, a, ac)
	thunk := &dag.VClosure{Code: &dag.Delay{Body: &dag.App{Fn: &dag.Builtin{Name: "await!"}, Args: []dag.Term{
		&dag.App{Fn: &dag.Ref{Def: leak.Def}, Args: []dag.Term{&dag.Var{Index: 1}, &dag.Var{Index: 0}}}}}},
		Env: []dag.Value{&dag.VChannel{ID: ac.ID, Node: ac.Node}, &dag.VNode{ID: a.ID().String()}}}
	// The policy lets a call any code, but the closure leak makes
	// carries b's private code.
	res, err := a.callThunk(ctx, b.ID(), nil, thunk, Budget{})
	if err == nil && !strings.Contains(show(res.value), "private") {
		t.Errorf("leaking private code: %s, want a denial naming private code", show(res.value))
	}
	if err == nil {
		t.Logf("leak: %s", show(res.value))
	}
	if _, _, ok := keep.Result(); ok {
		t.Errorf("b's private code reached a")
	}
}

// TestChanEncodingMatches: the hand-written encoders write exactly what
// the general CBOR encoder (and so the strict decoder) takes.
func TestChanEncodingMatches(t *testing.T) {
	msgs, replies := chanMessages(t)
	big := &ChanMessage{Seq: 1 << 40, Channel: make([]byte, channelIDLen), Value: make([]byte, 70000), Deps: make([]byte, 300*digestLen), Sync: true}
	for _, data := range append(msgs, must(EncodeChanMessage(big))) {
		m, err := DecodeChanMessage(data)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendChanMessage(nil, m); string(got) != string(data) {
			t.Errorf("message %+v: %x, want %x", m, got, data)
		}
	}
	for _, seq := range []uint64{1, 23, 24, 255, 256, 65535, 65536, 1 << 32, 1<<64 - 1} {
		m := &ChanMessage{Seq: seq, Channel: make([]byte, channelIDLen), Value: []byte{1}, Ack: true}
		if got, want := appendChanMessage(nil, m), must(EncodeChanMessage(m)); string(got) != string(want) {
			t.Errorf("seq %d: %x, want %x", seq, got, want)
		}
		replies = append(replies, must(EncodeChanReply(&ChanReply{Seq: seq, Taken: seq})))
	}
	for _, data := range replies {
		r, err := DecodeChanReply(data)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := appendChanReply(nil, r); err != nil || string(got) != string(data) {
			t.Errorf("reply %+v: %x, want %x", r, got, data)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
