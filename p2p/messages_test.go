package p2p

import (
	"bytes"
	"errors"
	"testing"

	"github.com/unode-dev/unode/capabilities"
)

func TestMessagesRejectBadInput(t *testing.T) {
	enc := func(v any) []byte {
		t.Helper()
		data, err := msgEncMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	good := enc(&EvalRequest{Thunk: []byte{1}})
	for _, tc := range []struct {
		name   string
		data   []byte
		decode func([]byte) error
	}{
		{"request: no thunk", enc(map[int]any{2: "s"}), reqDecoder},
		{"request: deps not a multiple of 32", enc(&EvalRequest{Thunk: []byte{1}, Deps: make([]byte, 31)}), reqDecoder},
		{"request: prefixes not a multiple of 8", enc(&EvalRequest{Thunk: []byte{1}, Prefixes: make([]byte, 12)}), reqDecoder},
		{"request: deps and prefixes", enc(&EvalRequest{Thunk: []byte{1}, Deps: make([]byte, 32), Prefixes: make([]byte, 8)}), reqDecoder},
		{"request: absent not a multiple of 32", enc(&EvalRequest{Thunk: []byte{1}, Absent: make([]byte, 33)}), reqDecoder},
		{"request: too many absent", enc(&EvalRequest{Thunk: []byte{1}, Absent: make([]byte, (MaxAbsentRoots+1)*digestLen)}), reqDecoder},
		{"request: negative budget", enc(&EvalRequest{Thunk: []byte{1}, Budget: &WireBudget{Fuel: -1}}), reqDecoder},
		{"request: unknown key", enc(map[int]any{1: []byte{1}, 9: 1}), reqDecoder},
		{"request: trailing bytes", append(append([]byte(nil), good...), 0), reqDecoder},
		{"request: duplicate key", []byte{0xa2, 0x01, 0x41, 0x01, 0x01, 0x41, 0x02}, reqDecoder},
		{"request: indefinite length", []byte{0xbf, 0x01, 0x41, 0x01, 0xff}, reqDecoder},
		{"request: a tag", []byte{0xa1, 0x01, 0xd8, 0x2a, 0x41, 0x01}, reqDecoder},
		{"reply: empty", enc(map[int]any{}), replyDecoder},
		{"reply: two kinds", enc(&EvalReply{Need: &NeedReply{Bits: []byte{1}}, Error: &WireError{Code: "msg"}}), replyDecoder},
		{"reply: need of nothing", enc(&EvalReply{Need: &NeedReply{Bits: []byte{0}}}), replyDecoder},
		{"reply: unknown error code", enc(&EvalReply{Error: &WireError{Code: "oops"}}), replyDecoder},
		{"reply: bad CID", enc(&EvalReply{Error: &WireError{Code: "missing", CID: []byte{1, 2, 3}}}), replyDecoder},
		{"reply: empty result", enc(&EvalReply{Result: &ResultReply{}}), replyDecoder},
		{"blocks: none", enc(&BlocksMessage{}), blocksDecoder},
		{"blocks: empty block", enc(&BlocksMessage{Blocks: [][]byte{{}}}), blocksDecoder},
		{"request: too many tokens", enc(&EvalRequest{Thunk: []byte{1}, Tokens: make([][]byte, capabilities.MaxPresentedTokens+1)}), reqDecoder},
		{"request: empty token", enc(&EvalRequest{Thunk: []byte{1}, Tokens: [][]byte{{}}}), reqDecoder},
		{"request: huge token", enc(&EvalRequest{Thunk: []byte{1}, Tokens: [][]byte{make([]byte, capabilities.MaxTokenSize+1)}}), reqDecoder},
		{"reply: too many token reports", enc(&EvalReply{Error: &WireError{Code: "denied", Tokens: make([]string, capabilities.MaxPresentedTokens+1)}}), replyDecoder},
		{"fetch: no roots", enc(&FetchRequest{}), fetchReqDecoder},
		{"fetch: roots not digests", enc(&FetchRequest{Roots: make([]byte, 33)}), fetchReqDecoder},
		{"fetch: too many roots", enc(&FetchRequest{Roots: make([]byte, digestLen*(MaxFetchRoots+1))}), fetchReqDecoder},
		{"fetch reply: neither", enc(&FetchReply{}), fetchReplyDecoder},
		{"fetch reply: both", enc(&FetchReply{List: make([]byte, 32), Error: &WireError{Code: "msg"}}), fetchReplyDecoder},
		{"fetch reply: bad error", enc(&FetchReply{Error: &WireError{Code: "nope"}}), fetchReplyDecoder},
		{"fetch need: nothing", enc(&FetchNeed{Bits: []byte{0}}), fetchNeedDecoder},
		{"status: no store", enc(&StatusMessage{Version: 1}), statusDecoder},
		{"status: version 0", enc(&StatusMessage{Store: "x"}), statusDecoder},
		{"status: clusters not digests", enc(&StatusMessage{Version: 1, Store: "x", Clusters: make([]byte, 33)}), statusDecoder},
		{"status: clusters out of order", enc(&StatusMessage{Version: 1, Store: "x", Clusters: append(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32)...)}), statusDecoder},
		{"status: a cluster twice", enc(&StatusMessage{Version: 1, Store: "x", Clusters: make([]byte, 64)}), statusDecoder},
		{"status: too many clusters", enc(&StatusMessage{Version: 1, Store: "x", Clusters: ascendingDigests(MaxStatusClusters + 1)}), statusDecoder},
	} {
		err := tc.decode(tc.data)
		if !errors.Is(err, ErrMalformedMessage) {
			t.Errorf("%s: %v, want a malformed-message error", tc.name, err)
		}
	}
	if _, err := DecodeEvalRequest(good); err != nil {
		t.Errorf("a good request: %v", err)
	}
}

// ascendingDigests returns n distinct digests in ascending order.
func ascendingDigests(n int) []byte {
	out := make([]byte, 0, n*digestLen)
	for i := range n {
		d := make([]byte, digestLen)
		d[0], d[1] = byte(i>>8), byte(i)
		out = append(out, d...)
	}
	return out
}

func reqDecoder(b []byte) error        { _, err := DecodeEvalRequest(b); return err }
func replyDecoder(b []byte) error      { _, err := DecodeEvalReply(b); return err }
func blocksDecoder(b []byte) error     { _, err := DecodeBlocksMessage(b); return err }
func statusDecoder(b []byte) error     { _, err := DecodeStatusMessage(b); return err }
func fetchReqDecoder(b []byte) error   { _, err := DecodeFetchRequest(b); return err }
func fetchReplyDecoder(b []byte) error { _, err := DecodeFetchReply(b); return err }
func fetchNeedDecoder(b []byte) error  { _, err := DecodeFetchNeed(b); return err }
