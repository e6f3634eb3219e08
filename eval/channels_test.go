package eval

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Channels on one node (issue 9): the seed's lower-level API semantics
// as LocalHost implements them. p2p carries the same registry across
// nodes (DeliverLocal).

// chanEval evaluates expr on a fresh thread of h under a context whose
// deadline is far away, so that an effect that waited for the time budget
// would be caught by noHang instead of ending quietly.
func chanEval(t *testing.T, p *program, h *LocalHost, expr string) (Value, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	th := &Thread{Loader: p.store, Names: p.names, Host: h}
	r := noHang(t, expr, func() result {
		v, err := th.Eval(ctx, compileExpr(t, p.c, expr))
		return result{v, err}
	})
	return r.get()
}

// The single-node report: a deliver before any listen must fail
// at once with "no listener", and a send before any listen must return
// at once; neither waits for the time budget, and the message is not
// kept for a later listen (no buffering).
func TestDeliverAndSendBeforeListen(t *testing.T) {
	p := newProgram(t, "")
	h := NewLocalHost("local")
	for _, c := range []struct{ expr, want string }{
		{`let c = channel in await! (deliver here c 1)`, `Left (Msg "no listener on the channel")`},
		{`let c = channel in let u = send here c 1 in 7`, `7`},
		// Not buffered: a listen after the message does not see it.
		{`let c = channel in let d = deliver here c 1 in let f = listen c in (await! d, await! (timeout 20 f))`,
			`(Left (Msg "no listener on the channel"), Left Timeout)`},
		{`let c = channel in let u = send here c 1 in await! (timeout 20 (listen c))`, `Left Timeout`},
		// A channel of another node sent here has no listener here, and
		// another node is unreachable from a LocalHost.
		{`match Node.fromText "elsewhere" with | Some n -> await! (deliver here (requests n) 1) | None -> Right ()`,
			`Left (Msg "no listener on the channel")`},
		{`match Node.fromText "elsewhere" with | Some n -> (let c = channel in await! (deliver n c 1)) | None -> Right ()`,
			`Left (Msg "node elsewhere is unreachable (local host local has no network)")`},
		{`match Node.fromText "elsewhere" with | Some n -> (let c = channel in send n c 1) | None -> ()`, `()`},
	} {
		v, err := chanEval(t, p, h, c.expr)
		if err != nil || Show(v, p.names) != c.want {
			t.Errorf("%s = %v, %v; want %s", c.expr, v, err, c.want)
		}
	}
	// await (not await!) raises at once, with the reason as the cause.
	_, err := chanEval(t, p, h, `let c = channel in await (deliver here c 1)`)
	if !errors.Is(err, ErrNoListener) {
		t.Errorf("await (deliver ...) with no listener: %v, want ErrNoListener", err)
	}
	if n := h.Listening(); n != 0 {
		t.Errorf("%d listeners left", n)
	}
}

// A message resolves every listener pending on the channel at that
// moment, in one go, and removes them; the next message has none.
func TestMessageResolvesEveryListener(t *testing.T) {
	p := newProgram(t, "")
	h := NewLocalHost("local")
	v, err := chanEval(t, p, h, `let c = channel in
  let fs = [listen c, listen c, listen c] in
  let d = await! (deliver here c 5) in
  let again = await! (deliver here c 6) in
  (d, List.map await fs, again)`)
	if want := `(Right (), [5, 5, 5], Left (Msg "no listener on the channel"))`; err != nil || Show(v, p.names) != want {
		t.Errorf("got %v, %v; want %s", Show(v, p.names), err, want)
	}

	// DeliverLocal, as the p2p handler calls it.
	ch, err := h.NewChannel(nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := []*Future{h.Listen(nil, ch), h.Listen(nil, ch)}
	other := h.Listen(nil, &Channel{ID: []byte("another"), Node: "local"})
	if n := h.DeliverLocal(ch.ID, MakeInt(9)); n != 2 {
		t.Errorf("DeliverLocal took %d, want 2", n)
	}
	for _, f := range fs {
		if v, errv, ok := f.Result(); !ok || errv != nil || v != MakeInt(9) {
			t.Errorf("listener: %v, %v, %v", v, errv, ok)
		}
	}
	if _, _, ok := other.Result(); ok || h.Listening() != 1 {
		t.Errorf("a listener on another channel was touched (%d listening)", h.Listening())
	}
	if n := h.DeliverLocal(ch.ID, MakeInt(10)); n != 0 {
		t.Errorf("second DeliverLocal took %d, want 0 (dropped)", n)
	}
	runtime.KeepAlive(other)
}

// Messages from one sender to one channel arrive in the order sent (on
// one node: each send resolves the listeners of that moment).
func TestChannelOrderOneSender(t *testing.T) {
	p := newProgram(t, "")
	h := NewLocalHost("local")
	v, err := chanEval(t, p, h, `let c = channel in
  List.map (i -> let f = listen c in let u = send here c i in await f) (List.range 0 100) == List.range 0 100`)
	if err != nil || v != True {
		t.Errorf("got %v, %v", v, err)
	}
}

// requests n is n's well-known request channel: one public ID, the same
// for every program; the node's own code listens on it.
func TestRequestsChannel(t *testing.T) {
	p := newProgram(t, "")
	h := NewLocalHost("local")
	id := RequestsChannelID()
	if len(id) != 32 || !IsRequestsChannel(id) || !bytes.Equal(id[16:], make([]byte, 16)) {
		t.Fatalf("requests channel ID %x", id)
	}
	id[0] ^= 1 // a copy: the ID itself cannot be changed
	if IsRequestsChannel(id) || !IsRequestsChannel(RequestsChannelID()) {
		t.Fatal("RequestsChannelID returned the ID itself")
	}
	ch, err := h.NewChannel(nil)
	if err != nil {
		t.Fatal(err)
	}
	if IsRequestsChannel(ch.ID) {
		t.Fatal("a new channel is the requests channel")
	}
	for _, c := range []struct{ expr, want string }{
		{`requests here == requests here`, `true`},
		{`let f = listen (requests here) in let u = send here (requests here) "req" in await f`, `"req"`},
		{`match Node.fromText "elsewhere" with | Some n -> requests n == requests here | None -> true`, `false`},
		{`match Node.fromText "elsewhere" with | Some n -> await! (listen (requests n)) | None -> Right 0`,
			`Left (Msg "cannot listen on a channel of node elsewhere")`},
		// A message for another node's requests channel (same ID) does
		// not reach this node's listeners.
		{`match Node.fromText "elsewhere" with | Some n -> (let f = listen (requests here) in let u = send here (requests n) 1 in await! (timeout 20 f)) | None -> Right 0`,
			`Left Timeout`},
	} {
		v, err := chanEval(t, p, h, c.expr)
		if err != nil || Show(v, p.names) != c.want {
			t.Errorf("%s = %v, %v; want %s", c.expr, v, err, c.want)
		}
	}
	v, err := chanEval(t, p, h, `requests here`)
	if c, ok := v.(*Channel); err != nil || !ok || !IsRequestsChannel(c.ID) || c.Node != "local" {
		t.Fatalf("requests here = %v, %v", v, err)
	}
	// It travels like any channel value.
	w, err := ToWire(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromWire(w)
	if c, ok := back.(*Channel); err != nil || !ok || !IsRequestsChannel(c.ID) || c.Node != "local" {
		t.Fatalf("requests here through the wire form = %v, %v", back, err)
	}
}

// The channel builtins, requests included, are the sandbox group
// `channel`: foreign code needs it for all of them.
func TestChannelBuiltinsGroup(t *testing.T) {
	want := map[string]bool{"channel": true, "send": true, "deliver": true, "listen": true, "requests": true}
	for _, b := range Builtins() {
		if want[b.Name] != (b.Group == "channel") {
			t.Errorf("builtin %s is in group %q", b.Name, b.Group)
		}
		delete(want, b.Name)
	}
	if len(want) != 0 {
		t.Errorf("missing builtins %v", want)
	}
	// A thread whose CheckBuiltin refuses the group cannot reach them,
	// however named.
	p := newProgram(t, "")
	for _, expr := range []string{"channel", "requests here", "let c = channel in 1"} {
		th := &Thread{Loader: p.store, Host: NewLocalHost("local"), CheckBuiltin: func(name string) error {
			if name == "channel" || name == "requests" {
				return ErrDenied
			}
			return nil
		}}
		if _, err := th.Eval(context.Background(), compileExpr(t, p.c, expr)); !errors.Is(err, ErrDenied) {
			t.Errorf("%s with the channel group refused: %v", expr, err)
		}
	}
}

// chanListeners is the number of entries in the registry for one
// channel (test helper).
func (h *LocalHost) chanListeners(id []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.listeners[string(id)])
}

// collectUntil runs the collector until cond holds or a bounded number
// of rounds has passed (cleanups run on their own goroutine after a
// cycle, so each round gives them a moment).
func collectUntil(cond func() bool) (rounds int) {
	for rounds = 1; rounds <= 50; rounds++ {
		runtime.GC()
		if cond() {
			return rounds
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rounds
}

// Acceptance 2: 100,000 abandoned listen futures, made by evaluations
// that keep running (so the end of the evaluation does not release
// them), leave the registry near empty after garbage collection; the
// listeners those evaluations are awaiting survive it and still get
// their message. Under -short, 20,000.
func TestAbandonedListenersCollected(t *testing.T) {
	const evals = 25
	total := 100000
	if testing.Short() {
		total = 20000
	}
	per := total / evals / 2 // per evaluation and per form; below DefaultMaxPending
	p := newProgram(t, "")
	h := NewLocalHost("local")
	stop, err := h.NewChannel(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Half the listens on one channel, half each on a fresh channel; the
	// lists of futures are dropped once counted; then the evaluation
	// waits on the stop channel.
	src := `stop -> let c = channel in
  let a = List.length (List.map (i -> listen c) (List.range 0 N)) in
  let b = List.length (List.map (i -> listen channel) (List.range 0 N)) in
  await (listen stop) + a + b`
	src = strings.ReplaceAll(src, "N", strconv.Itoa(per))
	// The collector is off while the listens are made, so that "before"
	// counts them all (no test here runs in parallel).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var wg sync.WaitGroup
	results := make(chan result, evals)
	for range evals {
		th := &Thread{Loader: p.store, Names: p.names, Host: h}
		fn, err := th.Eval(context.Background(), compileExpr(t, p.c, src))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			v, err := th.Call(context.Background(), fn, stop)
			results <- result{v, err}
		})
	}
	var before int
	waitUntil(t, "the evaluations to wait on the stop channel", func() bool {
		before, _ = h.registrations()
		return h.chanListeners(stop.ID) == evals
	})
	h.mu.Lock()
	made := h.lastListener
	h.mu.Unlock()
	liveBefore := h.Listening()
	rounds := collectUntil(func() bool {
		n, idx := h.registrations()
		return n <= evals+100 && idx <= evals+100
	})
	after, indexed := h.registrations()
	live := h.Listening()
	t.Logf("%d listens made (%d abandoned) by %d running evaluations: before GC %d registry entries (%d live); after %d GC rounds %d entries (%d indexed, %d live)",
		made, made-evals, evals, before, liveBefore, rounds, after, indexed, live)
	if after > evals+100 || indexed > evals+100 {
		t.Errorf("registry not near empty after GC: %d entries, %d indexed", after, indexed)
	}
	if made < uint64(2*per*evals+evals) {
		t.Errorf("only %d listens registered", made)
	}
	// The awaited listeners were not collected: one message resolves all.
	if n := h.chanListeners(stop.ID); n != evals {
		t.Fatalf("%d listeners on the stop channel, want %d", n, evals)
	}
	if n := h.DeliverLocal(stop.ID, MakeInt(1)); n != evals {
		t.Errorf("stop message taken by %d, want %d", n, evals)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || r.v != MakeInt(int64(2*per+1)) {
			t.Errorf("evaluation = %v, %v", r.v, r.err)
		}
	}
	if n, idx := h.registrations(); n != 0 || idx != 0 {
		t.Errorf("after the evaluations ended: %d entries, %d indexed", n, idx)
	}
}

// A listener that is being awaited is never collected: the goroutine
// awaiting it holds it, through any number of collections, and a message
// arriving afterwards resolves it.
func TestAwaitedListenerNotCollected(t *testing.T) {
	p := newProgram(t, "")
	h := NewLocalHost("local")
	ch, err := h.NewChannel(nil)
	if err != nil {
		t.Fatal(err)
	}
	th := &Thread{Loader: p.store, Names: p.names, Host: h}
	fn, err := th.Eval(context.Background(), compileExpr(t, p.c, `c -> await (listen c) + 1`))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() {
		v, err := th.Call(context.Background(), fn, ch)
		done <- result{v, err}
	}()
	waitUntil(t, "the listener", func() bool { return h.Listening() == 1 })
	for range 5 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if n, _ := h.registrations(); n != 1 || h.Listening() != 1 {
		t.Fatalf("after GC: %d entries, %d listening; want 1", n, h.Listening())
	}
	if n := h.DeliverLocal(ch.ID, MakeInt(41)); n != 1 {
		t.Fatalf("DeliverLocal took %d, want 1", n)
	}
	r := noHang(t, "the awaiting evaluation", func() result { return <-done })
	if r.err != nil || r.v != MakeInt(42) {
		t.Errorf("got %v, %v; want 42", r.v, r.err)
	}
	// A future held by Go code outside any evaluation stays too; dropped,
	// it goes.
	f := h.Listen(nil, ch)
	runtime.GC()
	if h.Listening() != 1 {
		t.Fatal("a held listener was collected")
	}
	runtime.KeepAlive(f)
	f = nil
	collectUntil(func() bool { n, _ := h.registrations(); return n == 0 })
	if n, _ := h.registrations(); n != 0 {
		t.Errorf("a dropped listener left %d entries", n)
	}
}

// The end of an evaluation releases its listeners (Msg "canceled") and
// its index, whether or not they were collected first.
func TestListenersReleasedAtEnd(t *testing.T) {
	p := newProgram(t, "")
	h := NewLocalHost("local")
	var held []*Future
	th := &Thread{Loader: p.store, Names: p.names, Host: h}
	fn := &Closure{fc: &funcCode{arity: 0, body: func(th *Thread, _ *frame) Value {
		ch, _ := h.NewChannel(th)
		for i := range 100 {
			f := h.Listen(th, ch)
			if i%2 == 0 {
				held = append(held, f)
			}
		}
		return UnitValue
	}}}
	if _, err := th.Call(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
	if n, idx := h.registrations(); n != 0 || idx != 0 {
		t.Errorf("after the evaluation: %d entries, %d indexed", n, idx)
	}
	for _, f := range held {
		if _, errv, ok := f.Result(); !ok || Show(errv, nil) != `Msg "canceled"` {
			t.Fatalf("held listener after the end: %v, %v", errv, ok)
		}
	}
	for range 3 { // the cleanups of the dropped ones find nothing to remove
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if n, idx := h.registrations(); n != 0 || idx != 0 {
		t.Errorf("after GC: %d entries, %d indexed", n, idx)
	}
}

// waitUntil polls cond until it holds or hangLimit passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v", what, hangLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTimedOutListenTakesNoMessage: a listen under timeout whose time is
// up takes no message. Before, the listener stayed registered after
// timeout had failed its result: a message arriving at that moment was
// taken (its deliver acknowledged) and the program saw Timeout, so the
// message was lost (5 of 1,307 in a run of the channels test plan).
func TestTimedOutListenTakesNoMessage(t *testing.T) {
	h := NewLocalHost("local")
	ch := &Channel{ID: []byte("0123456789abcdef"), Node: "local"}

	// The time is up first: the message is not taken.
	out := timeoutOf(h.Listen(nil, ch), 0)
	<-out.Done()
	if _, errv, _ := out.Result(); Show(errv, nil) != "Timeout" {
		t.Fatalf("timeout 0 (listen c) = %v, want Timeout", errv)
	}
	if taken := h.DeliverLocal(ch.ID, Int(1)); taken != 0 {
		t.Errorf("a message after the timeout was taken by %d listeners", taken)
	}

	// The message first: it is the answer.
	f := h.Listen(nil, ch)
	if taken := h.DeliverLocal(ch.ID, Int(2)); taken != 1 {
		t.Fatalf("taken by %d listeners, want 1", taken)
	}
	if v, errv, _ := timeoutOf(f, 0).Result(); v != Int(2) {
		t.Errorf("timeout of a listen that took 2 = %v, %v", v, errv)
	}

	// Both at once, many times: every message taken is the answer, and
	// every answer was taken.
	var lost, phantom, took int
	for i := range 3000 {
		out := timeoutOf(h.Listen(nil, ch), time.Duration(i%3)*time.Millisecond)
		taken := h.DeliverLocal(ch.ID, Int(i))
		if i%2 == 0 {
			time.Sleep(time.Duration(i%3) * time.Millisecond)
			taken = h.DeliverLocal(ch.ID, Int(i)) + taken
		}
		<-out.Done()
		v, _, _ := out.Result()
		switch {
		case taken > 0 && v != Int(i):
			lost++
		case taken == 0 && v != nil:
			phantom++
		case taken > 0:
			took++
		}
	}
	t.Logf("3000 races: %d messages taken and answered", took)
	if lost > 0 || phantom > 0 {
		t.Errorf("%d messages taken but the program saw Timeout; %d answers nobody took", lost, phantom)
	}
}
