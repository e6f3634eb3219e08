package p2p

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// rawCall opens an eval stream from one node's host to another, lets send
// write whatever it likes, and returns the reply.
func rawCall(t *testing.T, from, to *Node, send func(s network.Stream, fc *frameConn) error) *EvalReply {
	t.Helper()
	ctx := testCtx(t)
	s, err := from.host.NewStream(ctx, to.ID(), ProtocolEval)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fc := newFrameConn(s, nil)
	if err := send(s, fc); err != nil {
		t.Fatal(err)
	}
	data, _, err := fc.readFrame(MaxReplySize)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	reply, err := DecodeEvalReply(data)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

func sendRequest(t *testing.T, fc *frameConn, thunk []byte, deps ...cid.Cid) error {
	t.Helper()
	d, err := digestsOf(deps)
	if err != nil {
		t.Fatal(err)
	}
	return fc.writeMessage(&EvalRequest{Thunk: thunk, Store: "raw-client", Deps: d})
}

func wantError(t *testing.T, what string, r *EvalReply, code ErrorCode, text string, c cid.Cid) {
	t.Helper()
	if r.Error == nil {
		t.Errorf("%s: reply %+v, want an error", what, r)
		return
	}
	e := callErrorFromWire("b", r.Error)
	if e.Code != code || !strings.Contains(e.Msg, text) || (c.Defined() && !e.CID.Equals(c)) {
		t.Errorf("%s: got %v (code %s, CID %s), want code %s with %q and CID %s", what, e, e.Code, e.CID, code, text, c)
	}
}

// 5. Bad input: a block whose bytes do not match its CID, an oversized
// message, a truncated stream, a request for a non-existent CID, a
// malformed message. Each gets a typed error, is logged, and the node
// keeps serving.
func TestBadInput(t *testing.T) {
	ctx := testCtx(t)
	logs := &lockedBuffer{}
	a := newTestNode(t)
	b := newTestNode(t, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	connectAll(t, a, b)
	g := scratchBlock(t, "g x = x * 3\n", "g")
	h := scratchBlock(t, "h x = x * 4\n", "h")

	r := rawCall(t, a, b, func(_ network.Stream, fc *frameConn) error {
		if err := sendRequest(t, fc, thunkCalling(t, g.CID), g.CID); err != nil {
			return err
		}
		data, _, err := fc.readFrame(MaxReplySize)
		if err != nil {
			return err
		}
		need, err := DecodeEvalReply(data)
		if err != nil || need.Need == nil {
			t.Fatalf("want a need reply, got %+v, %v", need, err)
		}
		return fc.writeMessage(&BlocksMessage{Blocks: [][]byte{h.Data}})
	})
	wantError(t, "block not matching its CID", r, CodeInvalid, "does not match its CID", g.CID)
	if ok, _ := b.store.Has(ctx, h.CID); ok {
		t.Error("the mismatching block was stored")
	}

	// Listed by digest prefix: the block sent must match the prefix.
	r = rawCall(t, a, b, func(_ network.Stream, fc *frameConn) error {
		p, _ := prefixesOf([]cid.Cid{g.CID})
		if err := fc.writeMessage(&EvalRequest{Thunk: thunkCalling(t, g.CID), Store: "raw-client", Prefixes: p}); err != nil {
			return err
		}
		data, _, err := fc.readFrame(MaxReplySize)
		if err != nil {
			return err
		}
		need, err := DecodeEvalReply(data)
		if err != nil || need.Need == nil {
			t.Fatalf("want a need reply, got %+v, %v", need, err)
		}
		return fc.writeMessage(&BlocksMessage{Blocks: [][]byte{h.Data}})
	})
	wantError(t, "block not matching its prefix", r, CodeInvalid, "does not match its listed digest prefix", h.CID)
	if ok, _ := b.store.Has(ctx, h.CID); ok {
		t.Error("the block not matching its prefix was stored")
	}

	r = rawCall(t, a, b, func(s network.Stream, _ *frameConn) error {
		_, err := s.Write(binary.AppendUvarint(nil, MaxRequestSize+1))
		return err
	})
	wantError(t, "oversized message", r, CodeInvalid, "exceeds the limit", cid.Undef)

	r = rawCall(t, a, b, func(s network.Stream, _ *frameConn) error {
		if _, err := s.Write(append(binary.AppendUvarint(nil, 100), make([]byte, 10)...)); err != nil {
			return err
		}
		return s.CloseWrite()
	})
	wantError(t, "truncated stream", r, CodeInvalid, "truncated", cid.Undef)

	// A request naming a block its sender cannot produce.
	r = rawCall(t, a, b, func(s network.Stream, fc *frameConn) error {
		if err := sendRequest(t, fc, thunkCalling(t, h.CID)); err != nil {
			return err
		}
		if _, _, err := fc.readFrame(MaxReplySize); err != nil { // need h
			return err
		}
		return s.CloseWrite()
	})
	wantError(t, "non-existent root", r, CodeMissing, "", h.CID)
	// A block that links to a block nobody lists or has.
	k := scratchBlock(t, "g x = x * 3\nk x = g x + 7\n", "k")
	gAlone := scratchBlock(t, "g x = x * 3\n", "g")
	if ok, _ := b.store.Has(ctx, gAlone.CID); ok {
		t.Fatal("B has g")
	}
	r = rawCall(t, a, b, func(_ network.Stream, fc *frameConn) error {
		if err := sendRequest(t, fc, thunkCalling(t, k.CID)); err != nil {
			return err
		}
		if _, _, err := fc.readFrame(MaxReplySize); err != nil { // need k
			return err
		}
		return fc.writeMessage(&BlocksMessage{Blocks: [][]byte{k.Data}})
	})
	wantError(t, "non-existent dependency", r, CodeMissing, "", gAlone.CID)

	r = rawCall(t, a, b, func(_ network.Stream, fc *frameConn) error {
		return fc.writeFrame([]byte{0xa1, 0x01, 0x02}) // {1: 2}: a thunk that is no bytes
	})
	wantError(t, "malformed message", r, CodeInvalid, "eval request", cid.Undef)

	// The node keeps serving.
	addSource(t, a, "sq x = x * x\n")
	res, err := a.EvalAt(ctx, b.ID().String(), "sq 12", Budget{})
	if err != nil || res.Text != "144" {
		t.Fatalf("after bad input: %v, %v", res, err)
	}
	// Each handler logs after its reply is out: wait for the last.
	pollUntil(func() bool { return strings.Count(logs.String(), "eval: request failed") >= 7 })
	if n := strings.Count(logs.String(), "eval: request failed"); n != 7 {
		t.Errorf("%d failures logged, want 7:\n%s", n, logs.String())
	}
}

// Typed errors reach Go callers as *CallError and await! as Err values.
func TestTypedErrors(t *testing.T) {
	ctx := testCtx(t)
	a := newTestNode(t)
	b := newOpenNode(t, WithForeignBudget(Budget{Fuel: 10_000}))
	connectAll(t, a, b)
	addSource(t, a, `loop n = if n == 0 then 0 else loop (n - 1)
boom x = 1 / x
tryAt n t = await! (at' n t)
`)
	_, err := a.EvalAt(ctx, b.ID().String(), "loop 1000000", Budget{})
	var be *eval.BudgetError
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeBudget || !errors.As(err, &be) || be.Which != "fuel" {
		t.Errorf("fuel: %v", err)
	}
	_, err = a.EvalAt(ctx, b.ID().String(), "boom 0", Budget{})
	if !errors.As(err, &ce) || ce.Code != CodeMsg || !strings.Contains(ce.Msg, "division by zero") {
		t.Errorf("runtime error: %v", err)
	}
	_, err = a.EvalAt(ctx, b.ID().String(), "loop 1", Budget{Fuel: 3})
	if !errors.As(err, &be) || be.Which != "fuel" {
		t.Errorf("the asked-for budget is not applied: %v", err)
	}

	// The time asked for bounds the callee's evaluation; its typed
	// failure comes back before the caller's own deadline.
	addSource(t, a, "hang = await (listen channel)\n")
	_, err = a.EvalAt(ctx, b.ID().String(), "hang", Budget{Timeout: 300 * time.Millisecond})
	if !(errors.As(err, &be) && be.Which == "time") && !errors.Is(err, eval.ErrTimeout) {
		t.Errorf("time: %v", err)
	}

	// A thunk naming a block neither side holds (the caller may refer
	// to what only the callee holds) is Missing, naming it.
	missing := scratchBlock(t, "q x = x\n", "q").CID
	_, err = a.EvalAt(ctx, b.ID().String(), "#"+missing.String()+" 1", Budget{})
	if !errors.Is(err, eval.ErrMissing) || !errors.As(err, &ce) || !ce.CID.Equals(missing) {
		t.Errorf("missing on both sides: %v", err)
	}

	for _, tc := range []struct{ thunk, want string }{
		{"'(loop 1000000)", `Left (Err.BudgetExceeded "fuel")`},
		{"'(boom 0)", `Left (Msg "`},
		{"'(#" + missing.String() + " 1)", `Left (Err.Missing "`},
	} {
		src := `match Node.fromText "` + b.ID().String() + `" with | Some n -> tryAt n ` + tc.thunk + ` | None -> Left (Msg "no node")`
		res, err := a.EvalAt(ctx, a.ID().String(), src, Budget{})
		if err != nil || !strings.HasPrefix(res.Text, tc.want) {
			t.Errorf("await! %s = %v, %v; want %s...", tc.thunk, res, err, tc.want)
		}
	}

	// Dialing nobody is a Msg.
	dead := newTestNode(t)
	dead.Close()
	_, err = a.EvalAt(ctx, dead.ID().String(), "1", Budget{})
	if !errors.As(err, &ce) || ce.Code != CodeMsg {
		t.Errorf("dead peer: %v", err)
	}
}

func TestCallErrorMatchesEvalSentinels(t *testing.T) {
	for _, tc := range []struct {
		e    *CallError
		want string
	}{
		{&CallError{Code: CodeTimeout}, "Timeout"},
		{&CallError{Code: CodeDenied, Msg: "no"}, `Err.Denied "denied: no"`},
		{&CallError{Code: CodeBudget, Which: "memory"}, `Err.BudgetExceeded "memory"`},
		{&CallError{Code: CodeMissing, CID: scratchBlock(t, "z = 1\n", "z").CID}, `Err.Missing "missing block bafy`},
		{&CallError{Code: CodeMsg, Msg: "boom"}, `Msg "boom"`},
		{&CallError{Code: CodeInvalid, Msg: "bad"}, `Msg "protocol violation: bad"`},
	} {
		if got := eval.Show(eval.ErrValue(tc.e), nil); !strings.HasPrefix(got, tc.want) {
			t.Errorf("ErrValue(%v) = %s, want %s", tc.e, got, tc.want)
		}
		w, err := EncodeEvalReply(&EvalReply{Error: tc.e.wire()})
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeEvalReply(w)
		if err != nil {
			t.Fatal(err)
		}
		back := callErrorFromWire("", r.Error)
		if back.Error() != tc.e.Error() {
			t.Errorf("round trip: %v, want %v", back, tc.e)
		}
	}
	if !errors.Is(&CallError{Code: CodeMissing}, dag.ErrMissing) || !errors.Is(&CallError{Code: CodeMsg}, ErrRemote) {
		t.Error("sentinels")
	}
}
