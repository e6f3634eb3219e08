package p2p

import (
	"errors"
	"testing"
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
		{"status: no store", enc(&StatusMessage{Version: 1}), statusDecoder},
		{"status: version 0", enc(&StatusMessage{Store: "x"}), statusDecoder},
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

func reqDecoder(b []byte) error    { _, err := DecodeEvalRequest(b); return err }
func replyDecoder(b []byte) error  { _, err := DecodeEvalReply(b); return err }
func blocksDecoder(b []byte) error { _, err := DecodeBlocksMessage(b); return err }
func statusDecoder(b []byte) error { _, err := DecodeStatusMessage(b); return err }
