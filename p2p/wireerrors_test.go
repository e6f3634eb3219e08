package p2p

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// TestDecodeErrorsNameWireKeys: a message a client in another language
// got wrong is refused with the wire key, the protocol's field name and
// what the spec wants there, not the Go struct field and type the CBOR
// library reports (which is all an `invalid` reply carried before).
func TestDecodeErrorsNameWireKeys(t *testing.T) {
	thunk := encodedThunk(t, &dag.Int{V: 1})
	for _, c := range []struct {
		name   string
		decode func([]byte) error
		msg    any
		want   string
	}{
		{"status store as bytes", statusDecoder, map[int]any{1: 1, 2: []byte("s")},
			"status message: key 2 (store) is a byte string, want a text string"},
		{"status version as text", statusDecoder, map[int]any{1: "1", 2: "s"},
			"key 1 (version) is a text string, want an integer"},
		{"status unknown key", statusDecoder, map[int]any{1: 1, 2: "s", 7: 1, 9: 2},
			"key 7, 9 is not defined for this message"},
		{"eval store as bytes", func(b []byte) error { _, err := DecodeEvalRequest(b); return err },
			map[int]any{1: thunk, 2: []byte("s")}, "eval request: key 2 (store) is a byte string, want a text string"},
		{"eval budget fuel as text", func(b []byte) error { _, err := DecodeEvalRequest(b); return err },
			map[int]any{1: thunk, 3: map[int]any{1: "lots"}}, "key 3 (budget) holds a text string where an integer belongs"},
		{"eval tokens as one byte string", func(b []byte) error { _, err := DecodeEvalRequest(b); return err },
			map[int]any{1: thunk, 5: []byte{1, 2}}, "key 5 (tokens) is a byte string, want an array of byte strings"},
		{"fetch roots as CIDs", func(b []byte) error { _, err := DecodeFetchRequest(b); return err },
			map[int]any{1: [][]byte{{1, 2}}}, "fetch request: key 1 (roots) is an array, want a byte string"},
	} {
		err := c.decode(mustEnc(t, c.msg))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "Go struct") {
			t.Errorf("%s: the error names Go types: %v", c.name, err)
		}
	}
}

// TestStatusErrorReply: a status the node cannot read is answered with
// an error reply naming what is wrong (not a silent reset), and a node
// whose own status is refused that way reports the peer's reason as a
// typed error.
func TestStatusErrorReply(t *testing.T) {
	ctx := testCtx(t)
	n := newTestNode(t, WithDHTMode(DHTOff))
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.host.Addrs()}); err != nil {
		t.Fatal(err)
	}

	// The node answers a malformed status.
	s, err := h.NewStream(ctx, n.ID(), ProtocolStatus)
	if err != nil {
		t.Fatal(err)
	}
	fc := newFrameConn(s, nil)
	if err := fc.writeMessage(map[int]any{1: 1, 2: []byte("bytes")}); err != nil {
		t.Fatal(err)
	}
	data, _, err := fc.readFrame(MaxStatusSize)
	if err != nil {
		t.Fatalf("the node did not answer a malformed status: %v", err)
	}
	m, err := DecodeStatusMessage(data)
	if err != nil || m.Error == nil || m.Error.Code != string(CodeInvalid) || !strings.Contains(m.Error.Msg, "key 2 (store) is a byte string") {
		t.Fatalf("reply %+v, %v; want an invalid error naming key 2", m, err)
	}
	s.Close()

	// A peer that refuses the node's status: the node's Status says why.
	h.SetStreamHandler(ProtocolStatus, func(s network.Stream) {
		defer s.Close()
		fc := newFrameConn(s, nil)
		if _, _, err := fc.readFrame(MaxStatusSize); err != nil {
			s.Reset()
			return
		}
		fc.writeMessage(&StatusMessage{Error: invalid("status: version 1 is not one I speak").wire()})
	})
	_, err = n.Status(ctx, h.ID())
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeInvalid || !strings.Contains(ce.Msg, "not one I speak") || ce.Peer != h.ID().String() {
		t.Errorf("Status of a peer that refuses it: %v", err)
	}
}
