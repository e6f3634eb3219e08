package p2p

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Issue 9: the node's well-known requests channel (eval.RequestsChannel)
// has a public ID with no creator tag. Only the node's own evaluations
// may listen on it; foreign code that may send to the node's own
// channels may send to it.
func TestRequestsChannelOwnCodeOnly(t *testing.T) {
	ctx := testCtx(t)
	caller := newTestNode(t)
	owner := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{
		caller.ID(): "--allow pure --allow remote --allow channel" + smallBudget,
	})))
	connectAll(t, owner, caller)
	at := owner.ID().String()
	reqs := eval.RequestsChannel(nodeValue(owner))

	// The owner's own code listens on it.
	res, err := owner.Codebase().EvalSource(ctx, "t", "let f = listen (requests here) in let u = send here (requests here) 5 in await f", Budget{})
	if err != nil || res.Text != "5" {
		t.Fatalf("the owner listening on its requests channel: %v, %v", res, err)
	}

	// Foreign code may not, whether it names it or was given it.
	_, err = caller.EvalAt(ctx, at, "await (listen (requests here))", Budget{})
	wantDenied(t, "a foreign listen (requests here)", err, capabilities.DeniedChannel, channelName(reqs), "requests channel")
	r, err := caller.callThunk(ctx, owner.ID(), nil, channelThunk("listen", reqs), Budget{})
	wantChannelDenial(t, "a foreign listen on the requests channel value", r, err)
	if n := owner.net.LocalHost.Listening(); n != 0 {
		t.Fatalf("%d listeners registered by refused listens", n)
	}

	// It may send to it, and the owner's listener gets the message.
	got := make(chan string, 1)
	go func() {
		res, err := owner.Codebase().EvalSource(ctx, "t", "await (listen (requests here))", Budget{})
		if err != nil {
			got <- err.Error()
			return
		}
		got <- res.Text
	}()
	waitFor(t, "the owner's listener", func() bool { return owner.net.LocalHost.Listening() == 1 })
	if _, err := caller.EvalAt(ctx, at, "let u = send here (requests here) 7 in 1", Budget{}); err != nil {
		t.Fatalf("a foreign send to the requests channel: %v", err)
	}
	if s := <-got; s != "7" {
		t.Fatalf("the owner's listener got %s, want 7", s)
	}
}

// The sandbox group `channel` gates every channel builtin for foreign
// code, `requests` included, at link time; `--deny requests` takes just
// that one out of the group.
func TestChannelGroupGatesForeignCode(t *testing.T) {
	ctx := testCtx(t)
	noChan, noReqs := newTestNode(t), newTestNode(t)
	owner := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{
		noChan.ID(): "--allow pure --allow remote" + smallBudget,
		noReqs.ID(): "--allow pure --allow remote --allow channel --deny requests" + smallBudget,
	})))
	connectAll(t, owner, noChan, noReqs)
	at := owner.ID().String()
	reqs := eval.RequestsChannel(nodeValue(owner))

	for _, name := range []string{"channel", "requests"} {
		src := map[string]string{"channel": "let c = channel in 1", "requests": "let c = requests here in 1"}[name]
		_, err := noChan.EvalAt(ctx, at, src, Budget{})
		wantDenied(t, src+" without the channel group", err, capabilities.DeniedBuiltin, name)
	}
	// send, deliver and listen on a channel value the code was given.
	for _, name := range []string{"send", "deliver", "listen"} {
		var args []dag.Term
		if name != "listen" {
			args = []dag.Term{&dag.Int{V: 1}}
		}
		_, err := noChan.callThunk(ctx, owner.ID(), nil, channelThunk(name, reqs, args...), Budget{})
		wantDenied(t, name+" without the channel group", err, capabilities.DeniedBuiltin, name)
	}

	_, err := noReqs.EvalAt(ctx, at, "let c = requests here in 1", Budget{})
	wantDenied(t, "requests denied within the group", err, capabilities.DeniedBuiltin, "requests")
	if res, err := noReqs.EvalAt(ctx, at, "let c = channel in 1", Budget{}); err != nil || res.Text != "1" {
		t.Fatalf("channel with the group: %v, %v", res, err)
	}
}
