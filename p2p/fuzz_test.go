package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
)

// Fuzz targets for every wire message decoder, and for the callee's
// handler fed raw bytes (framed and unframed), seeded from real messages.
// Run one with: go test ./p2p -run='^$' -fuzz='^FuzzDecodeEvalRequest$' -fuzztime=30s

// realMessages returns encodings of real messages of each kind.
func realMessages(tb testing.TB) (requests, replies, blocks, statuses [][]byte) {
	tb.Helper()
	ctx := context.Background()
	cb := newFuzzCodebase(tb)
	if _, err := cb.Add(ctx, "seed.u", []byte(chainSource("f", 3)+"mk k = x -> x + k\n")); err != nil {
		tb.Fatal(err)
	}
	top, _, _ := cb.Store().LookupName(ctx, "f2")
	deps, err := planDeps(ctx, cb.Store(), []cid.Cid{top.Def.CID}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	digests, _ := digestsOf(deps)
	prefixes, _ := prefixesOf(deps)
	thunk, err := dag.EncodeValue(&dag.VClosure{
		Code: &dag.Delay{Body: &dag.App{Fn: &dag.Ref{Def: top.Def}, Args: []dag.Term{&dag.Var{Index: 0}}}},
		Env:  []dag.Value{&dag.VInt{V: 7}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	var raw [][]byte
	for _, c := range deps {
		data, _ := cb.Store().Get(ctx, c)
		raw = append(raw, data)
	}
	result, _ := dag.EncodeValue(&dag.VList{Elems: []dag.Value{&dag.VText{V: "ok"}, &dag.VDef{Def: top.Def}}})
	enc := func(v any) []byte {
		data, err := encodeMessage(v)
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	tok, chain := fuzzTokens(tb)
	requests = [][]byte{
		enc(&EvalRequest{Thunk: thunk, Store: "abc", Deps: digests, Budget: &WireBudget{Fuel: 1000, TimeoutMs: 50}}),
		enc(&EvalRequest{Thunk: thunk}),
		enc(&EvalRequest{Thunk: thunk, Tokens: [][]byte{tok, chain}}),
		enc(&EvalRequest{Thunk: thunk, Store: "abc", Prefixes: prefixes}), // the compact list
		// Code the caller names without holding it.
		enc(&EvalRequest{Thunk: thunk, Store: "abc", Prefixes: prefixes, Absent: digests[:digestLen]}),
		// A caller proving it shares the store.
		enc(&EvalRequest{Thunk: thunk, Store: "abc", StoreProof: digests[:StoreProofLen]}),
	}
	replies = [][]byte{
		enc(&EvalReply{Need: &NeedReply{Bits: bitmapFor(len(deps), []int{0, 2})}}),
		enc(&EvalReply{Result: &ResultReply{Value: result, Blocks: raw, Store: "xyz", Fuel: 12, Memory: 34}}),
		enc(&EvalReply{Result: &ResultReply{Value: result, Store: "xyz", StoreProof: digests[:StoreProofLen]}}),
		enc(&EvalReply{Error: (&CallError{Code: CodeMissing, CID: top.Def.CID, Msg: "x"}).wire()}),
		enc(&EvalReply{Error: (&CallError{Code: CodeBudget, Which: "fuel"}).wire()}),
		enc(&EvalReply{Error: (&CallError{Code: CodeDenied, Which: "builtin", Name: "Int.sub", Msg: "x",
			Tokens: []string{"token 0: abc: token expired"}}).wire()}),
	}
	blocks = [][]byte{enc(&BlocksMessage{Blocks: raw})}
	two := append(bytes.Repeat([]byte{1}, digestLen), bytes.Repeat([]byte{2}, digestLen)...)
	statuses = [][]byte{
		enc(&StatusMessage{Version: 1, Store: "abcdef", Load: 250}),
		enc(&StatusMessage{Version: 1, Store: "abcdef", StoreProof: digests[:StoreProofLen]}),
		enc(&StatusMessage{Version: 1, Store: "abcdef", Clusters: two}),                                         // a member of two clusters
		enc(&StatusMessage{Version: 1, Store: "abcdef", Clusters: append(two[digestLen:], two[:digestLen]...)}), // out of order
	}
	return
}

// fuzzTokens returns a real token and a real two-link chain.
func fuzzTokens(tb testing.TB) (tok, chain []byte) {
	tb.Helper()
	keys := make([]crypto.PrivKey, 3)
	ids := make([]peer.ID, 3)
	for i := range keys {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		keys[i] = k
		ids[i], _ = peer.IDFromPrivateKey(k)
	}
	sb, err := capabilities.ParseSandbox("--allow pure --allow data.read:health/ --fuel 1000")
	if err != nil {
		tb.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	root, err := capabilities.Issue(keys[0], capabilities.Claims{Audience: ids[1], Sandbox: sb, Expires: exp})
	if err != nil {
		tb.Fatal(err)
	}
	child, err := root.Delegate(keys[1], capabilities.Claims{Audience: ids[2], Sandbox: sb, Expires: exp})
	if err != nil {
		tb.Fatal(err)
	}
	return root.Bytes(), child.Bytes()
}

// fetchMessages returns encodings of real fetch messages.
func fetchMessages(tb testing.TB) (requests, replies, needs [][]byte) {
	tb.Helper()
	d := make([]byte, 2*digestLen)
	d[0], d[digestLen] = 1, 2
	enc := func(v any) []byte {
		data, err := encodeMessage(v)
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	requests = [][]byte{enc(&FetchRequest{Roots: d})}
	replies = [][]byte{enc(&FetchReply{List: d}), enc(&FetchReply{Error: (&CallError{Code: CodeDenied, Which: DeniedPrivate, Name: "x"}).wire()})}
	needs = [][]byte{enc(&FetchNeed{Bits: []byte{2}})}
	return
}

func FuzzDecodeFetchRequest(f *testing.F) {
	req, _, _ := fetchMessages(f)
	fuzzDecoder(f, req, DecodeFetchRequest, EncodeFetchRequest)
}

func FuzzDecodeFetchReply(f *testing.F) {
	_, rep, _ := fetchMessages(f)
	fuzzDecoder(f, rep, DecodeFetchReply, EncodeFetchReply)
}

func FuzzDecodeFetchNeed(f *testing.F) {
	_, _, need := fetchMessages(f)
	fuzzDecoder(f, need, DecodeFetchNeed, EncodeFetchNeed)
}

func newFuzzCodebase(tb testing.TB) *Codebase {
	tb.Helper()
	return NewCodebase(memDatastore())
}

func fuzzDecoder[T any](f *testing.F, seeds [][]byte, decode func([]byte) (T, error), encode func(T) ([]byte, error)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(data)
		if err != nil {
			return
		}
		again, err := encode(m)
		if err != nil {
			t.Fatalf("re-encoding a decoded message: %v", err)
		}
		if _, err := decode(again); err != nil {
			t.Fatalf("decoding a re-encoded message: %v", err)
		}
	})
}

func FuzzDecodeEvalRequest(f *testing.F) {
	req, _, _, _ := realMessages(f)
	fuzzDecoder(f, req, DecodeEvalRequest, EncodeEvalRequest)
}

func FuzzDecodeEvalReply(f *testing.F) {
	_, rep, _, _ := realMessages(f)
	fuzzDecoder(f, rep, DecodeEvalReply, EncodeEvalReply)
}

func FuzzDecodeBlocksMessage(f *testing.F) {
	_, _, blk, _ := realMessages(f)
	fuzzDecoder(f, blk, DecodeBlocksMessage, EncodeBlocksMessage)
}

func FuzzDecodeStatusMessage(f *testing.F) {
	_, _, _, st := realMessages(f)
	fuzzDecoder(f, st, DecodeStatusMessage, EncodeStatusMessage)
}

var (
	fuzzNodeOnce sync.Once
	fuzzNode     *Node
	fuzzNodeErr  error
)

// FuzzServeEval feeds raw bytes to the callee's side of the eval
// protocol: it must answer or give up, never panic or hang, whatever the
// bytes (the node's budget caps bound any evaluation they smuggle in).
func FuzzServeEval(f *testing.F) {
	req, _, blk, _ := realMessages(f)
	frame := func(msgs ...[]byte) []byte {
		var out []byte
		for _, m := range msgs {
			out = binary.AppendUvarint(out, uint64(len(m)))
			out = append(out, m...)
		}
		return out
	}
	f.Add(frame(req[0], blk[0])) // a whole cold exchange
	f.Add(frame(req[1]))
	f.Add(frame(req[2])) // with tokens
	f.Add(req[0])        // unframed
	f.Add(binary.AppendUvarint(nil, MaxRequestSize+1))
	f.Add(append(binary.AppendUvarint(nil, 100), 1, 2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzNodeOnce.Do(func() {
			fuzzNode, fuzzNodeErr = New(context.Background(),
				WithForeignBudget(Budget{Fuel: 100_000, MaxMemory: 16 << 20, Timeout: 2 * time.Second}))
		})
		if fuzzNodeErr != nil {
			t.Fatal(fuzzNodeErr)
		}
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}
		fuzzNode.serveEval(context.Background(), "", newFrameConn(rw, nil), serveHooks{})
	})
}

// chanMessages returns encodings of real channel messages and replies.
func chanMessages(tb testing.TB) (msgs, replies [][]byte) {
	tb.Helper()
	enc := func(v any) []byte {
		data, err := encodeMessage(v)
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	id := bytes.Repeat([]byte{7}, channelIDLen)
	small, _ := dag.EncodeValue(&dag.VInt{V: 42})
	closure, _ := dag.EncodeValue(&dag.VClosure{Code: &dag.Lam{Arity: 1, Body: &dag.Var{Index: 0}}})
	d := bytes.Repeat([]byte{1}, 2*digestLen)
	msgs = [][]byte{
		enc(&ChanMessage{Seq: 1, Channel: id, Value: small}),
		enc(&ChanMessage{Seq: 2, Channel: id, Value: small, Ack: true}),
		enc(&ChanMessage{Seq: 3, Channel: id, Value: closure, Ack: true, Sync: true, Deps: d, Absent: d[:digestLen]}),
	}
	replies = [][]byte{
		enc(&ChanReply{Seq: 1, Taken: 1}),
		enc(&ChanReply{Seq: 2, Ready: true}),
		enc(&ChanReply{Seq: 3, Need: []byte{3}}),
		enc(&ChanReply{Seq: 4, Error: &WireError{Code: string(CodeMsg), Which: whichNoListener, Msg: "no listener on the channel"}}),
	}
	return msgs, replies
}

// The channel decoders' fuzzers also check that the hand-written
// encoders write what the general one does.
func FuzzDecodeChanMessage(f *testing.F) {
	msgs, _ := chanMessages(f)
	fuzzDecoder(f, msgs, DecodeChanMessage, func(m *ChanMessage) ([]byte, error) {
		data, err := EncodeChanMessage(m)
		if err == nil && !bytes.Equal(appendChanMessage(nil, m), data) {
			err = fmt.Errorf("appendChanMessage(%+v) differs from EncodeChanMessage", m)
		}
		return data, err
	})
}

func FuzzDecodeChanReply(f *testing.F) {
	_, replies := chanMessages(f)
	fuzzDecoder(f, replies, DecodeChanReply, func(r *ChanReply) ([]byte, error) {
		data, err := EncodeChanReply(r)
		if fast, ferr := appendChanReply(nil, r); err == nil && (ferr != nil || !bytes.Equal(fast, data)) {
			err = fmt.Errorf("appendChanReply(%+v) differs from EncodeChanReply", r)
		}
		return data, err
	})
}

// FuzzServeChan feeds raw bytes to the receiver's side of the channel
// protocol as one stream from a sender its policy allows: it must take
// the messages or give up, never panic or hang, whatever the bytes.
func FuzzServeChan(f *testing.F) {
	msgs, _ := chanMessages(f)
	frame := func(ms ...[]byte) []byte {
		var out []byte
		for _, m := range ms {
			out = binary.AppendUvarint(out, uint64(len(m)))
			out = append(out, m...)
		}
		return out
	}
	_, _, blk, _ := realMessages(f)
	f.Add(frame(msgs[0], msgs[1]))
	f.Add(frame(msgs[0], msgs[1], msgs[2], blk[0])) // a sync and its blocks
	f.Add(frame(msgs[1], msgs[0]))                  // out of order
	f.Add(msgs[0])                                  // unframed
	f.Add(binary.AppendUvarint(nil, MaxChanMessageSize+1))
	f.Add(append(binary.AppendUvarint(nil, 100), 1, 2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzChanOnce.Do(func() {
			fuzzChanNode, fuzzChanErr = New(context.Background(), WithPolicy(openPolicy()))
			k, _, err := crypto.GenerateEd25519Key(rand.Reader)
			if err == nil {
				fuzzChanPeer, err = peer.IDFromPrivateKey(k)
			}
			if fuzzChanErr == nil {
				fuzzChanErr = err
			}
		})
		if fuzzChanErr != nil {
			t.Fatal(fuzzChanErr)
		}
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}
		// The sender is a peer the policy lets use channels (every one,
		// here): what it sends gets past the policy to the decoders,
		// the sync and the listeners.
		fuzzChanNode.serveChan(context.Background(), fuzzChanPeer, newFrameConn(rw, nil), func() error { return nil }, nil, nil)
	})
}

var (
	fuzzChanOnce sync.Once
	fuzzChanNode *Node
	fuzzChanErr  error
	fuzzChanPeer peer.ID // the sender: a fresh peer
)
