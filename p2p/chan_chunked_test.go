package p2p

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Large values on channels (issue 11): a message whose value is over
// the inline limit (dag.MaxValueSize) travels chunked, its chunks synced
// like the code a message refers to (chanproto.go, docs/protocol.md
// "/unode/chan/1.0.0").

// bigChanText is a Text of n bytes whose 256 KiB leaves all differ, so
// that every chunk is sent (a repeating text would have a few distinct
// ones).
func bigChanText(n int) string {
	r := rand.New(rand.NewPCG(11, uint64(n)))
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// chunkRootOf is the root of the chunk tree text is sent as.
func chunkRootOf(t *testing.T, text string) (root dag.Block, chunks int) {
	t.Helper()
	ev, err := dag.EncodeValueChunked(&dag.VText{V: text})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Links) != 1 || len(ev.Chunks) == 0 {
		t.Fatalf("%d links, %d chunks: want one chunk root", len(ev.Links), len(ev.Chunks))
	}
	for _, b := range ev.Chunks {
		if b.CID.Equals(ev.Links[0]) {
			return b, len(ev.Chunks)
		}
	}
	t.Fatal("no chunk is the root")
	return dag.Block{}, 0
}

// deliverBig delivers text from a to b's channel ch, with b listening,
// and returns what b's listener took.
func deliverBig(t *testing.T, a, b *Node, text string) string {
	t.Helper()
	ch := newChan(t, b)
	l := listenChan(t, b, ch)
	if v, errv := awaitFuture(t, sendFrom(a, b, ch, eval.Text(text), true)); errv != nil || v != eval.UnitValue {
		t.Fatalf("deliver of %d bytes: %v, %s", len(text), v, show(errv))
	}
	v, errv := awaitFuture(t, l)
	if errv != nil {
		t.Fatalf("listener: %s", show(errv))
	}
	got, ok := v.(eval.Text)
	if !ok {
		t.Fatalf("listener took a %T", v)
	}
	return string(got)
}

// TestChanChunkedDeliver: a 6 MiB Text delivered across two nodes
// arrives equal, its chunks sent once, after one sync answer.
func TestChanChunkedDeliver(t *testing.T) {
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	text := bigChanText(6 << 20)
	root, chunks := chunkRootOf(t, text)
	if got := deliverBig(t, a, b, text); got != text {
		t.Fatalf("the listener took %d bytes, not the %d sent (or other bytes)", len(got), len(text))
	}
	st := a.ChanStats()
	if st.Syncs != 1 || st.BlocksSent != int64(chunks) || st.Delivered != 1 {
		t.Fatalf("sender's stats %+v: want 1 sync, the %d chunks sent, 1 delivered", st, chunks)
	}
	if ok, err := b.store.Has(testCtx(t), root.CID); err != nil || !ok {
		t.Fatalf("the receiver does not hold the chunk root: %v, %v", ok, err)
	}
}

// TestChanChunkedDeliverTwice: a second deliver of the same large value
// sends no chunk, and asks the receiver nothing (its record says it
// holds them).
func TestChanChunkedDeliverTwice(t *testing.T) {
	a, b := newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b)
	text := bigChanText(6 << 20)
	if got := deliverBig(t, a, b, text); got != text {
		t.Fatalf("first deliver: the listener took %d other bytes", len(got))
	}
	first := a.ChanStats()
	if first.BlocksSent == 0 {
		t.Fatalf("first deliver sent no chunk: %+v", first)
	}
	if got := deliverBig(t, a, b, text); got != text {
		t.Fatalf("second deliver: the listener took %d other bytes", len(got))
	}
	second := a.ChanStats()
	if second.BlocksSent != first.BlocksSent || second.Syncs != first.Syncs {
		t.Fatalf("second deliver of the same value: %d blocks, %d syncs more; want none",
			second.BlocksSent-first.BlocksSent, second.Syncs-first.Syncs)
	}
	if second.Delivered != 2 {
		t.Fatalf("stats %+v: want 2 delivered", second)
	}
}

// TestChanChunkedBudgetRefused: a receiver whose memory budget for the
// sender is smaller than the value refuses it with a budget error,
// before it asks for a chunk, and holds none of them.
func TestChanChunkedBudgetRefused(t *testing.T) {
	a := newOpenNode(t)
	c := newTestNode(t, WithPolicy(policyWith(t, "--allow pure --allow channel --allow-target any --fuel 1000000000 --memory 4MiB --time 5m --result 4MiB")))
	connectAll(t, a, c)
	text := bigChanText(6 << 20)
	root, _ := chunkRootOf(t, text)
	ch := newChan(t, c)
	keep := listenChan(t, c, ch)
	got := errText(t, sendFrom(a, c, ch, eval.Text(text), true))
	if !strings.HasPrefix(got, `Err.BudgetExceeded "memory"`) {
		t.Fatalf("deliver over the receiver's budget: %s, want Err.BudgetExceeded \"memory\"", got)
	}
	if _, _, ok := keep.Result(); ok {
		t.Fatal("a refused message reached the listener")
	}
	if st := a.ChanStats(); st.BlocksSent != 0 || st.Failed != 1 {
		t.Fatalf("sender's stats %+v: want no chunk sent, 1 failed", st)
	}
	if st := c.ChanStats(); st.Rejected != 1 || st.Taken != 0 {
		t.Fatalf("receiver's stats %+v: want 1 rejected", st)
	}
	if ok, err := c.store.Has(testCtx(t), root.CID); err != nil || ok {
		t.Fatalf("the receiver holds the chunk root: %v, %v", ok, err)
	}
	// The stream goes on: a small deliver on it is taken.
	ch2 := newChan(t, c)
	l := listenChan(t, c, ch2)
	if v, errv := awaitFuture(t, sendFrom(a, c, ch2, eval.Text("small"), true)); errv != nil || v != eval.UnitValue {
		t.Fatalf("small deliver after the refusal: %v, %s", v, show(errv))
	}
	if v, _ := awaitFuture(t, l); show(v) != `"small"` {
		t.Fatalf("listener took %s", show(v))
	}
}

// TestChanChunkedFromForeignCode: a foreign evaluation may deliver a
// large value it built to its caller: the chunks it makes are charged to
// the caller and, being its, may go to it; the caller takes the value
// whole.
func TestChanChunkedFromForeignCode(t *testing.T) {
	ctx := testCtx(t)
	a := newOpenNode(t)
	// A message is bounded by the sending evaluation's result budget
	// (as what it sends with at): 64 MiB here.
	b := newTestNode(t, WithPolicy(policyWith(t, "--allow pure --allow remote --allow channel --allow-target any --fuel 1000000000 --memory 1GiB --time 5m --result 64MiB")))
	connectAll(t, a, b)
	ac := newChan(t, a)
	got := listenChan(t, a, ac)
	// 600,000 times ten bytes: 6 MB, built at b.
	big := &dag.App{Fn: &dag.Builtin{Name: "Text.repeat"}, Args: []dag.Term{&dag.Int{V: 600_000}, &dag.Text{V: "0123456789"}}}
	res, err := a.callThunk(ctx, b.ID(), nil, deliverThunk(ac, a.ID().String(), big), Budget{})
	if err != nil || show(res.value) != "Right ()" {
		t.Fatalf("deliver of 6 MB from foreign code: %v, %v", show(res.value), err)
	}
	v, errv := awaitFuture(t, got)
	if errv != nil {
		t.Fatalf("listener: %s", show(errv))
	}
	if s, ok := v.(eval.Text); !ok || string(s) != strings.Repeat("0123456789", 600_000) {
		t.Fatalf("the caller took a %T of %d bytes, not the 6 MB text", v, len(show(v)))
	}
	if st := b.ChanStats(); st.Syncs != 1 || st.BlocksSent == 0 {
		t.Fatalf("b's stats %+v: want one sync with chunks", st)
	}
}
