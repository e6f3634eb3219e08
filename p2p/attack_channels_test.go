package p2p

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Issue 7, case 4: channel IDs were a node-wide counter shared by the
// owner and every foreign caller, so a peer holding only `pure remote
// channel` listened on the owner's next channel and received its data,
// and two peers whose sandboxes allowed no targets talked through an
// agreed channel ID.

// channelThunk is '(f c args...) for a builtin f and a channel c (send
// and deliver: '(f n c args...), n the channel's node); for
// listen and deliver, whose results are futures, it awaits the future
// (listen: the thunk returns await! (timeout 50 (listen c)), an Either).
func channelThunk(f string, ch *eval.Channel, args ...dag.Term) dag.Value {
	lead := []dag.Term{&dag.Var{Index: 0}}
	if f == "send" || f == "deliver" {
		lead = []dag.Term{&dag.Var{Index: 1}, &dag.Var{Index: 0}} // node, channel
	}
	var body dag.Term = &dag.App{Fn: &dag.Builtin{Name: f}, Args: append(lead, args...)}
	switch f {
	case "deliver":
		body = &dag.App{Fn: &dag.Builtin{Name: "await"}, Args: []dag.Term{body}}
	case "listen":
		// A refusal is Left (Err.Denied ..), a listener that nobody
		// answers Left Timeout.
		body = &dag.App{Fn: &dag.Builtin{Name: "await!"}, Args: []dag.Term{
			&dag.App{Fn: &dag.Builtin{Name: "timeout"}, Args: []dag.Term{&dag.Int{V: 50}, body}}}}
	}
	return &dag.VClosure{Code: &dag.Delay{Body: body}, Env: []dag.Value{&dag.VChannel{ID: ch.ID, Node: ch.Node}, &dag.VNode{ID: ch.Node}}}
}

// newChannelAt makes a channel in an evaluation run by the given node
// (locally when at is the node itself, else as a foreign caller of at).
func newChannelAt(t *testing.T, by, at *Node) *eval.Channel {
	t.Helper()
	ctx := testCtx(t)
	var v eval.Value
	if by == at {
		res, err := by.Codebase().EvalSource(ctx, "t", "channel", Budget{})
		if err != nil {
			t.Fatal(err)
		}
		v = res.Value
	} else {
		thunk := &dag.VClosure{Code: &dag.Delay{Body: &dag.Builtin{Name: "channel"}}}
		res, err := by.callThunk(ctx, at.ID(), nil, thunk, Budget{})
		if err != nil {
			t.Fatalf("channel at %s: %v", at.ID(), err)
		}
		v = res.value
	}
	ch, ok := v.(*eval.Channel)
	if !ok {
		t.Fatalf("channel gave %v", v)
	}
	return ch
}

func wantChannelDenial(t *testing.T, what string, res *callResult, err error) {
	t.Helper()
	if err == nil && res != nil && strings.HasPrefix(show(res.value), "Left (Err.Denied") && strings.Contains(show(res.value), "channel") {
		return
	}
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeDenied || ce.Which != capabilities.DeniedChannel {
		t.Fatalf("%s: %v; want a channel denial", what, err)
	}
}

func TestChannelsAreUnguessableCapabilities(t *testing.T) {
	ctx := testCtx(t)
	a, b := newTestNode(t), newTestNode(t)
	pol := policyOf(t, map[peer.ID]string{
		a.ID(): "--allow pure --allow remote --allow channel" + smallBudget,
		b.ID(): "--allow pure --allow remote --allow channel" + smallBudget,
	})
	owner := newTestNode(t, WithPolicy(pol))
	connectAll(t, owner, a, b)

	// Random 128-bit IDs with a creator tag: no counter to guess.
	c1, c2 := newChannelAt(t, owner, owner), newChannelAt(t, owner, owner)
	if len(c1.ID) != channelIDLen || bytes.Equal(c1.ID[:channelRandomLen], c2.ID[:channelRandomLen]) {
		t.Fatalf("channel IDs %x and %x", c1.ID, c2.ID)
	}
	if bytes.Equal(c1.ID[:8], c2.ID[:8]) {
		t.Fatalf("channel IDs share a prefix: %x, %x", c1.ID, c2.ID)
	}

	// A foreign caller that knows (or guessed) the owner's channel may
	// not listen on it, nor on a forged or truncated ID.
	res, err := a.callThunk(ctx, owner.ID(), nil, channelThunk("listen", c1), Budget{})
	wantChannelDenial(t, "listen on the owner's channel", res, err)
	forged := &eval.Channel{ID: append(append([]byte(nil), c1.ID[:channelRandomLen]...), make([]byte, channelTagLen)...), Node: c1.Node}
	res, err = a.callThunk(ctx, owner.ID(), nil, channelThunk("listen", forged), Budget{})
	wantChannelDenial(t, "listen with a forged tag", res, err)
	counter := &eval.Channel{ID: []byte{0, 0, 0, 0, 0, 0, 0, 2}, Node: c1.Node}
	res, err = a.callThunk(ctx, owner.ID(), nil, channelThunk("listen", counter), Budget{})
	wantChannelDenial(t, "listen on a counter ID", res, err)

	// Nor on another peer's: b's channel is b's alone to listen on, and
	// a, whose sandbox allows no target but itself, cannot pass data to
	// b through it.
	cb := newChannelAt(t, b, owner)
	res, err = a.callThunk(ctx, owner.ID(), nil, channelThunk("listen", cb), Budget{})
	wantChannelDenial(t, "listen on another peer's channel", res, err)
	res, err = a.callThunk(ctx, owner.ID(), nil, channelThunk("deliver", cb, &dag.Int{V: 123456}), Budget{})
	wantChannelDenial(t, "deliver to another peer's channel", res, err)
	res, err = a.callThunk(ctx, owner.ID(), nil, channelThunk("send", cb, &dag.Int{V: 123456}), Budget{})
	wantChannelDenial(t, "send to another peer's channel", res, err)

	// What stays allowed: a caller listens on its own channel; the
	// owner's code listens on the owner's; anyone who was given a
	// channel may send to the owner's (the ID is the capability).
	res, err = b.callThunk(ctx, owner.ID(), nil, channelThunk("listen", cb), Budget{})
	if err != nil || show(res.value) != "Left Timeout" {
		t.Fatalf("listen on its own channel: %v, %v; want Left Timeout", res, err)
	}
	if _, err := a.callThunk(ctx, owner.ID(), nil, channelThunk("send", c1, &dag.Int{V: 1}), Budget{}); err != nil {
		t.Fatalf("send to the owner's channel: %v", err)
	}
	if _, err := owner.Codebase().EvalSource(ctx, "t", "let c = channel in let f = listen c in let u = send here c 7 in await f", Budget{}); err != nil {
		t.Fatalf("the owner's own channel: %v", err)
	}
}
