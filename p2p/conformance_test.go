package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Conformance vectors (docs/conformance/): request bytes and the reply
// bytes a node answers them with, for /unode/status, /unode/eval and
// /unode/blocks, against a node whose key, store and blocks are fixed, so
// that every byte is reproducible. Another implementation replays them
// (as a client: its encoder must produce the "send" bytes; as a server:
// it must answer them with the "recv" bytes) — see the README there.
//
// TestConformanceVectors replays the file against a real node over a
// real libp2p stream and compares every reply byte for byte; with
// -update it regenerates the file from the node instead:
//
//	go test ./p2p -run TestConformanceVectors -update
var updateVectors = flag.Bool("update", false, "rewrite docs/conformance/vectors.json and builtins.json from a live node")

const (
	vectorsPath  = "../docs/conformance/vectors.json"
	builtinsPath = "../docs/conformance/builtins.json"
)

// The vector file's layout (README.md describes it for implementers).
type vectorFile struct {
	About   string       `json:"about"`
	Version int          `json:"version"`
	Node    vectorServer `json:"node"`
	Client  vectorPeer   `json:"client"`
	// ClientBlocks are blocks the client holds and the node does not
	// (what the sync vectors send).
	ClientBlocks []vectorBlock `json:"clientBlocks"`
	Vectors      []vector      `json:"vectors"`
}

type vectorPeer struct {
	KeySeed    string `json:"keySeed"`    // hex: the 32-byte Ed25519 seed
	PrivateKey string `json:"privateKey"` // hex: libp2p's protobuf PrivateKey (crypto.MarshalPrivateKey)
	PeerID     string `json:"peerID"`
}

type vectorServer struct {
	vectorPeer
	StoreID     string        `json:"storeID"`     // /meta/storeid
	StoreSecret string        `json:"storeSecret"` // hex, /meta/storesecret
	Policy      string        `json:"policy"`      // the default sandbox, in `unode policy set-default` syntax
	Blocks      []vectorBlock `json:"blocks"`
}

type vectorBlock struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	CID       string `json:"cid"`
	Published bool   `json:"published,omitempty"`
	Data      string `json:"data"` // hex of the DAG-CBOR block
}

type vector struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	About    string `json:"about"`
	Steps    []step `json:"steps"`
	// End is how the node ends the stream after the last step: "eof"
	// (it closed it) or "reset".
	End string `json:"end"`
}

// step is one thing on the stream: bytes the client writes, one frame
// the node answers, or the client closing its write side.
type step struct {
	Send       string `json:"send,omitempty"` // hex, written as is (frames, or garbage)
	Recv       string `json:"recv,omitempty"` // hex of one whole frame, length prefix included
	CloseWrite bool   `json:"closeWrite,omitempty"`
	// Compare says what of Recv another implementation must match:
	// "bytes" (all), "result" (all but the usage figures, keys 4 and 5
	// of the result), "error" (the error's code, which, CID and name;
	// its message is informative).
	Compare string `json:"compare,omitempty"`
	// Diag is the frame's CBOR in diagnostic notation (RFC 8949 §8),
	// embedded blocks and values shown as <<...>>, floats with their
	// width (_3 = 64-bit).
	Diag string `json:"diag,omitempty"`
}

// conformanceSetup is the fixed node the vectors run against.
type conformanceSetup struct {
	serverSeed, clientSeed []byte
	storeID                string
	storeSecret            []byte
	serverBlocks           []setupDef
	clientBlocks           []setupDef
}

type setupDef struct {
	name, src string
	published bool
	block     dag.Block // filled by build
}

func seedOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func newConformanceSetup(t *testing.T) *conformanceSetup {
	cs := &conformanceSetup{
		serverSeed:  seedOf("unode conformance node"),
		clientSeed:  seedOf("unode conformance client"),
		storeID:     "aaaqeayeaudaocajbifqydiob4", // base32 of bytes 0..15
		storeSecret: seedOf("unode conformance store secret"),
		serverBlocks: []setupDef{
			{name: "double", src: "double x = x * 2\n", published: true},
			{name: "quad", src: "double x = x * 2\nquad x = double (double x)\n", published: true},
			{name: "secret", src: "secret x = x + 1\n"},
		},
		clientBlocks: []setupDef{{name: "triple", src: "triple x = x * 3\n"}},
	}
	for _, list := range [][]setupDef{cs.serverBlocks, cs.clientBlocks} {
		for i := range list {
			list[i].block = scratchBlock(t, list[i].src, list[i].name)
		}
	}
	return cs
}

func (cs *conformanceSetup) def(name string) dag.Block {
	for _, d := range append(append([]setupDef(nil), cs.serverBlocks...), cs.clientBlocks...) {
		if d.name == name {
			return d.block
		}
	}
	panic("no definition " + name)
}

func keyOf(t *testing.T, seed []byte) crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func peerOf(t *testing.T, seed []byte) vectorPeer {
	k := keyOf(t, seed)
	raw, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return vectorPeer{KeySeed: hex.EncodeToString(seed), PrivateKey: hex.EncodeToString(raw), PeerID: id.String()}
}

// policy is the node's default sandbox: pure code calling only the
// setup's double, quad and triple, with small budgets.
func (cs *conformanceSetup) policy() string {
	return fmt.Sprintf("--allow pure --allow-code %s --allow-code %s --allow-code %s --fuel 100000 --memory 16MiB --time 10s --result 64KiB",
		cs.def("double").CID, cs.def("quad").CID, cs.def("triple").CID)
}

// startServer starts the fixed node on a fresh datastore: the setup's
// store ID and secret, its blocks (published as marked), its policy.
// Every vector gets its own, so that none depends on what another left.
func (cs *conformanceSetup) startServer(t *testing.T) *Node {
	ctx := testCtx(t)
	ds := memDatastore()
	if err := ds.Put(ctx, datastore.NewKey("/meta/storeid"), []byte(cs.storeID)); err != nil {
		t.Fatal(err)
	}
	if err := ds.Put(ctx, datastore.NewKey("/meta/storesecret"), cs.storeSecret); err != nil {
		t.Fatal(err)
	}
	cb := NewCodebase(ds)
	for _, d := range cs.serverBlocks {
		if _, err := cb.AddWith(ctx, d.name+".u", []byte(d.src), AddOptions{Publish: d.published}); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := capabilities.ParseSandbox(cs.policy())
	if err != nil {
		t.Fatal(err)
	}
	return newTestNode(t, WithIdentity(keyOf(t, cs.serverSeed)), WithDatastore(ds),
		WithPolicy(&capabilities.Policy{Default: sb}), WithDHTMode(DHTOff))
}

// startClient is a bare libp2p host with the client's key: what another
// implementation's node is to this one.
func (cs *conformanceSetup) startClient(t *testing.T) host.Host {
	h, err := libp2p.New(libp2p.Identity(keyOf(t, cs.clientSeed)), libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// ---- the vectors ----

// vectorSpec is a vector before it runs: what the client does, with
// the replies to be recorded.
type vectorSpec struct {
	name, protocol, about string
	steps                 []specStep
}

type specStep struct {
	send       []byte
	recv       string // compare mode; "" for a send or closeWrite
	closeWrite bool
}

func sendFrame(msg []byte) specStep {
	return specStep{send: append(binary.AppendUvarint(nil, uint64(len(msg))), msg...)}
}
func sendRaw(b []byte) specStep     { return specStep{send: b} }
func recvFrame(cmp string) specStep { return specStep{recv: cmp} }

var closeWrite = specStep{closeWrite: true}

func mustEnc(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encodeMessage(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func thunkOf(t *testing.T, body dag.Term) []byte { return encodedThunk(t, body) }

func callDef(c cid.Cid, args ...dag.Term) dag.Term {
	return &dag.App{Fn: &dag.Ref{Def: dag.DefRef{CID: c}}, Args: args}
}

func builtinApp(name string, args ...dag.Term) dag.Term {
	return &dag.App{Fn: &dag.Builtin{Name: name}, Args: args}
}

func rootsOf(t *testing.T, cs ...cid.Cid) []byte {
	d, err := digestsOf(cs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (cs *conformanceSetup) specs(t *testing.T) []vectorSpec {
	const clientStore = "conformance-client"
	status := mustEnc(t, &StatusMessage{Version: ProtocolVersion, Store: clientStore})
	quad, secret, triple := cs.def("quad"), cs.def("secret"), cs.def("triple")

	floatThunk := thunkOf(t, builtinApp("Op.add", &dag.Float{V: 1.5}, &dag.Float{V: 0.5}))
	// What a JavaScript DAG-CBOR encoder makes of the Float 2.0: the
	// integer 2. The bytes differ, so does the CID, and the node refuses
	// it (docs/protocol.md, "Integral floats").
	goodFloat := thunkOf(t, &dag.Float{V: 2})
	intFloat := bytes.Replace(goodFloat, []byte{0xfb, 0x40, 0, 0, 0, 0, 0, 0, 0}, []byte{0x02}, 1)
	if bytes.Equal(intFloat, goodFloat) {
		t.Fatal("the Float 2.0 is not where the vector expects it")
	}
	notThunk, err := dag.EncodeValue(&dag.VInt{V: 3})
	if err != nil {
		t.Fatal(err)
	}
	sum := dag.Term(&dag.Int{V: 1})
	for i := int64(2); i <= 8; i++ {
		sum = builtinApp("Op.add", sum, &dag.Int{V: i})
	}

	return []vectorSpec{
		// /unode/status/1.0.0
		{name: "status", protocol: string(ProtocolStatus),
			about: "The client's status (version 1, a StoreID as text); the node answers with its own: version, StoreID, and its store proof (load and clusters are omitted when zero/empty).",
			steps: []specStep{sendFrame(status), recvFrame("bytes")}},
		{name: "status-store-as-bytes", protocol: string(ProtocolStatus),
			about: "The StoreID sent as a byte string instead of text: the node answers an error reply {6: error} with code invalid naming key 2, and closes (it used to reset the stream).",
			steps: []specStep{sendFrame(mustEnc(t, map[int]any{1: 1, 2: []byte(clientStore)})), recvFrame("error")}},
		{name: "status-no-version", protocol: string(ProtocolStatus),
			about: "A status without key 1 (version): error reply, code invalid.",
			steps: []specStep{sendFrame(mustEnc(t, map[int]any{2: clientStore})), recvFrame("error")}},
		{name: "status-unknown-key", protocol: string(ProtocolStatus),
			about: "A status with a key the protocol does not define (9): error reply, code invalid; decoders reject unknown keys.",
			steps: []specStep{sendFrame(mustEnc(t, map[int]any{1: 1, 2: clientStore, 9: true})), recvFrame("error")}},
		{name: "status-not-a-frame", protocol: string(ProtocolStatus),
			about: "Ten 0xff bytes: no varint length can be read from them, so there is no message to answer; the node resets the stream.",
			steps: []specStep{sendRaw(bytes.Repeat([]byte{0xff}, 10)), closeWrite}},
		{name: "status-truncated", protocol: string(ProtocolStatus),
			about: "A length prefix of 16 and 3 bytes, then the client closes its side: the stream ended inside a frame; reset.",
			steps: []specStep{sendRaw([]byte{16, 0xa2, 0x01, 0x01}), closeWrite}},

		// /unode/eval/1.0.0
		{name: "eval-pure", protocol: string(ProtocolEval),
			about: "The thunk '(1 + 2): a closure whose code is Delay(App(Builtin \"Op.add\", Int 1, Int 2)), no links, so no dependency list. Result {1: value Int 3, 3: StoreID, 4: fuel used, 6: store proof}; memory (5) is omitted when 0.",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, builtinApp("Op.add", &dag.Int{V: 1}, &dag.Int{V: 2}))})), recvFrame("result")}},
		{name: "eval-float", protocol: string(ProtocolEval),
			about: "'(1.5 + 0.5): the result is the Float 2.0, written as a 64-bit float (fb 4000000000000000), never as the integer 2.",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: floatThunk})), recvFrame("result")}},
		{name: "eval-float-as-integer", protocol: string(ProtocolEval),
			about: "The thunk '2.0 with the Float term written [6, 2] (an integer, as JavaScript encoders write 2.0) instead of [6, 2.0]: not the block format; error invalid.",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: intFloat})), recvFrame("error")}},
		{name: "eval-known-code", protocol: string(ProtocolEval),
			about: "'(quad 5), quad published at the node: the node holds the root and its closure, so it answers the result at once (no need, no blocks). The thunk links quad; a caller that is not sure lists nothing for a root (roots are never listed).",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, callDef(quad.CID, &dag.Int{V: 5})), Store: clientStore})), recvFrame("result")}},
		{name: "eval-sync", protocol: string(ProtocolEval),
			about: "'(triple 21), triple held by the client only: the node answers need {1: h'01'} (bit 0: the only entry, the root), the client sends BlocksMessage {1: [triple's block]}, the node answers the result 63.",
			steps: []specStep{
				sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, callDef(triple.CID, &dag.Int{V: 21})), Store: clientStore})),
				recvFrame("bytes"),
				sendFrame(mustEnc(t, &BlocksMessage{Blocks: [][]byte{triple.Data}})),
				recvFrame("result")}},
		{name: "eval-missing", protocol: string(ProtocolEval),
			about: "As eval-sync, but the client closes its side instead of sending the block: error missing, with the block's binary CID in key 3.",
			steps: []specStep{
				sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, callDef(triple.CID, &dag.Int{V: 21})), Store: clientStore})),
				recvFrame("bytes"),
				closeWrite,
				recvFrame("error")}},
		{name: "eval-denied-definition", protocol: string(ProtocolEval),
			about: "'(secret 1): the policy lets strangers call only double, quad and triple. Error denied, which (2) \"definition\", and the refused CID as text in name (5), not in key 3.",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, callDef(secret.CID, &dag.Int{V: 1}))})), recvFrame("error")}},
		{name: "eval-denied-builtin", protocol: string(ProtocolEval),
			about: "'(Data.get \"k\"): the data group is not allowed. Error denied, which \"builtin\", name \"Data.get\".",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, builtinApp("Data.get", &dag.Text{V: "k"}))})), recvFrame("error")}},
		{name: "eval-unknown-builtin", protocol: string(ProtocolEval),
			about: "'(No.such 1): a builtin name that is not in builtins.json makes the thunk invalid (a known one outside the sandbox is denied, as eval-denied-builtin).",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, builtinApp("No.such", &dag.Int{V: 1}))})), recvFrame("error")}},
		{name: "eval-budget", protocol: string(ProtocolEval),
			about: "'(1 + 2 + ... + 8) asking for a budget of 3 fuel (key 3: {1: 3}): error budget, which \"fuel\".",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: thunkOf(t, sum), Budget: &WireBudget{Fuel: 3}})), recvFrame("error")}},
		{name: "eval-not-a-thunk", protocol: string(ProtocolEval),
			about: "A thunk field holding the value Int 3 rather than a closure of no arguments: error invalid.",
			steps: []specStep{sendFrame(mustEnc(t, &EvalRequest{Thunk: notThunk})), recvFrame("error")}},
		{name: "eval-store-as-bytes", protocol: string(ProtocolEval),
			about: "The StoreID (key 2) as a byte string: error invalid naming key 2.",
			steps: []specStep{sendFrame(mustEnc(t, map[int]any{1: thunkOf(t, &dag.Int{V: 1}), 2: []byte(clientStore)})), recvFrame("error")}},
		{name: "eval-unknown-key", protocol: string(ProtocolEval),
			about: "A request with an undefined key (9): error invalid.",
			steps: []specStep{sendFrame(mustEnc(t, map[int]any{1: thunkOf(t, &dag.Int{V: 1}), 9: 0})), recvFrame("error")}},
		{name: "eval-too-large", protocol: string(ProtocolEval),
			about: "A length prefix one byte over MaxRequestSize, and no body: the node answers invalid without reading further, and closes.",
			steps: []specStep{sendRaw(binary.AppendUvarint(nil, MaxRequestSize+1)), recvFrame("error")}},

		// /unode/blocks/1.0.0
		{name: "blocks-fetch", protocol: string(ProtocolBlocks),
			about: "Fetch quad's closure: the node lists its digests parents first (quad, then double), the client asks for both (need {1: h'03'}), the node sends them in list order in one BlocksMessage, and closes.",
			steps: []specStep{
				sendFrame(mustEnc(t, &FetchRequest{Roots: rootsOf(t, quad.CID)})),
				recvFrame("bytes"),
				sendFrame(mustEnc(t, &FetchNeed{Bits: []byte{0x03}})),
				recvFrame("bytes")}},
		{name: "blocks-have-all", protocol: string(ProtocolBlocks),
			about: "As blocks-fetch, but the client holds everything listed: it closes its side instead of sending a need, and the node closes.",
			steps: []specStep{sendFrame(mustEnc(t, &FetchRequest{Roots: rootsOf(t, quad.CID)})), recvFrame("bytes"), closeWrite}},
		{name: "blocks-private", protocol: string(ProtocolBlocks),
			about: "Fetch secret, which the node holds but did not publish: error missing with the CID in key 3, exactly as for a block it does not hold (blocks-absent).",
			steps: []specStep{sendFrame(mustEnc(t, &FetchRequest{Roots: rootsOf(t, secret.CID)})), recvFrame("bytes")}},
		{name: "blocks-absent", protocol: string(ProtocolBlocks),
			about: "Fetch triple, which the node does not hold: the same answer as blocks-private.",
			steps: []specStep{sendFrame(mustEnc(t, &FetchRequest{Roots: rootsOf(t, triple.CID)})), recvFrame("bytes")}},
		{name: "blocks-bad-roots", protocol: string(ProtocolBlocks),
			about: "Roots of 31 bytes (not a whole number of 32-byte digests): error reply {2: error}, code invalid (it used to reset the stream).",
			steps: []specStep{sendFrame(mustEnc(t, &FetchRequest{Roots: rootsOf(t, quad.CID)[:31]})), recvFrame("error")}},
		{name: "blocks-roots-as-cids", protocol: string(ProtocolBlocks),
			about: "Roots sent as an array of binary CIDs instead of concatenated digests: error reply, code invalid naming key 1.",
			steps: []specStep{sendFrame(mustEnc(t, map[int]any{1: [][]byte{quad.CID.Bytes()}})), recvFrame("error")}},
		{name: "blocks-bad-need", protocol: string(ProtocolBlocks),
			about: "A need bitmap of 2 bytes for a list of 2 entries (it must be ceil(2/8) = 1 byte): in place of the blocks, an error reply {2: error}, code invalid.",
			steps: []specStep{
				sendFrame(mustEnc(t, &FetchRequest{Roots: rootsOf(t, quad.CID)})),
				recvFrame("bytes"),
				sendFrame(mustEnc(t, &FetchNeed{Bits: []byte{0x03, 0x00}})),
				recvFrame("error")}},
	}
}

// ---- running them ----

// runVector runs one vector's steps against a fresh node. With want nil
// it records the replies; otherwise it compares them with want's.
func (cs *conformanceSetup) runVector(t *testing.T, spec vectorSpec, want *vector) vector {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	server := cs.startServer(t)
	client := cs.startClient(t)
	if err := client.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := client.NewStream(ctx, server.ID(), protocol.ID(spec.protocol))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(20 * time.Second))
	fc := newFrameConn(s, nil)
	out := vector{Name: spec.name, Protocol: spec.protocol, About: spec.about}
	for i, st := range spec.steps {
		switch {
		case st.send != nil:
			if _, err := s.Write(st.send); err != nil {
				t.Fatalf("%s: step %d: writing: %v", spec.name, i, err)
			}
			out.Steps = append(out.Steps, step{Send: hex.EncodeToString(st.send), Diag: diagFrame(st.send)})
		case st.closeWrite:
			if err := s.CloseWrite(); err != nil {
				t.Fatalf("%s: step %d: closing: %v", spec.name, i, err)
			}
			out.Steps = append(out.Steps, step{CloseWrite: true})
		default:
			body, _, err := fc.readFrame(MaxReplySize)
			if err != nil {
				t.Fatalf("%s: step %d: reading the node's reply: %v", spec.name, i, err)
			}
			frame := append(binary.AppendUvarint(nil, uint64(len(body))), body...)
			out.Steps = append(out.Steps, step{Recv: hex.EncodeToString(frame), Compare: st.recv, Diag: diagFrame(frame)})
		}
		if want != nil && i < len(want.Steps) && out.Steps[i].Recv != want.Steps[i].Recv {
			t.Errorf("%s: step %d: the node answered\n  %s\n  (%s)\nwant\n  %s\n  (%s)", spec.name, i,
				out.Steps[i].Recv, out.Steps[i].Diag, want.Steps[i].Recv, want.Steps[i].Diag)
		}
	}
	out.End = streamEnd(t, s)
	return out
}

// streamEnd reads past the last reply: "eof" when the node closed the
// stream, "reset" when it reset it.
func streamEnd(t *testing.T, s network.Stream) string {
	var b [1]byte
	n, err := s.Read(b[:])
	switch {
	case n > 0:
		t.Errorf("the node sent more than the vector expects (byte %#x)", b[0])
		return "more"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, network.ErrReset):
		return "reset"
	}
	t.Errorf("the stream ended with %v, want EOF or a reset", err)
	return "error"
}

var diagMode = mustDiagMode()

func mustDiagMode() cbor.DiagMode {
	dm, err := cbor.DiagOptions{FloatPrecisionIndicator: true}.DiagMode()
	if err != nil {
		panic(err)
	}
	return dm
}

var hexString = regexp.MustCompile(`h'([0-9a-f]*)'`)

// diagFrame renders a frame's message in diagnostic notation ("" for
// bytes that are not one frame of CBOR). Byte strings that hold a block
// or value envelope (thunks, blocks, results) are shown as <<...>>;
// digests, bitmaps and CIDs stay hex.
func diagFrame(frame []byte) string {
	n, k := binary.Uvarint(frame)
	if k <= 0 || uint64(len(frame)-k) != n || n == 0 {
		return ""
	}
	d, err := diagMode.Diagnose(frame[k:])
	if err != nil {
		return ""
	}
	return hexString.ReplaceAllStringFunc(d, func(h string) string {
		b, err := hex.DecodeString(h[2 : len(h)-1])
		if err != nil || !isEnvelope(b) {
			return h
		}
		inner, err := diagMode.Diagnose(b)
		if err != nil {
			return h
		}
		return "<<" + inner + ">>"
	})
}

// isEnvelope reports whether b is a DAG-CBOR block or value envelope.
func isEnvelope(b []byte) bool {
	var m map[string]cbor.RawMessage
	if cbor.Unmarshal(b, &m) != nil {
		return false
	}
	_, kind := m["kind"]
	_, version := m["unode"]
	return kind && version
}

func (cs *conformanceSetup) file(t *testing.T) *vectorFile {
	f := &vectorFile{
		About:   "unode wire conformance vectors: docs/conformance/README.md says how to use them. Generated by `go test ./p2p -run TestConformanceVectors -update`; do not edit.",
		Version: ProtocolVersion,
		Node: vectorServer{vectorPeer: peerOf(t, cs.serverSeed), StoreID: cs.storeID,
			StoreSecret: hex.EncodeToString(cs.storeSecret), Policy: cs.policy()},
		Client: peerOf(t, cs.clientSeed),
	}
	for _, d := range cs.serverBlocks {
		f.Node.Blocks = append(f.Node.Blocks, vectorBlock{Name: d.name, Source: d.src, CID: d.block.CID.String(), Published: d.published, Data: hex.EncodeToString(d.block.Data)})
	}
	for _, d := range cs.clientBlocks {
		f.ClientBlocks = append(f.ClientBlocks, vectorBlock{Name: d.name, Source: d.src, CID: d.block.CID.String(), Data: hex.EncodeToString(d.block.Data)})
	}
	return f
}

func marshalIndent(t *testing.T, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestConformanceVectors replays docs/conformance/vectors.json against a
// real node over real libp2p streams (a fresh node per vector, set up as
// the file says) and compares every reply byte for byte and how each
// stream ends. It also checks that the file's setup and requests are what
// this version encodes, so the file cannot drift from the code. With
// -update it rewrites the file from the node's answers.
func TestConformanceVectors(t *testing.T) {
	cs := newConformanceSetup(t)
	specs := cs.specs(t)
	if *updateVectors {
		f := cs.file(t)
		for _, sp := range specs {
			f.Vectors = append(f.Vectors, cs.runVector(t, sp, nil))
		}
		if err := os.WriteFile(vectorsPath, marshalIndent(t, f), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	var have vectorFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&have); err != nil {
		t.Fatal(err)
	}
	setup := cs.file(t)
	if got, want := marshalIndent(t, setup.Node), marshalIndent(t, have.Node); !bytes.Equal(got, want) {
		t.Errorf("the file's node setup is not this version's:\n%s\nwant\n%s\n(run with -update if the change is meant)", want, got)
	}
	if !bytes.Equal(marshalIndent(t, setup.Client), marshalIndent(t, have.Client)) || !bytes.Equal(marshalIndent(t, setup.ClientBlocks), marshalIndent(t, have.ClientBlocks)) {
		t.Errorf("the file's client setup is not this version's (run with -update if the change is meant)")
	}
	if len(have.Vectors) != len(specs) {
		t.Fatalf("the file has %d vectors, this version %d (run with -update)", len(have.Vectors), len(specs))
	}
	for i, sp := range specs {
		want := have.Vectors[i]
		t.Run(want.Name, func(t *testing.T) {
			if want.Name != sp.name || want.Protocol != sp.protocol {
				t.Fatalf("vector %d is %s on %s in the file, %s on %s here (run with -update)", i, want.Name, want.Protocol, sp.name, sp.protocol)
			}
			// Replay the file's own bytes, not this version's encoding
			// of the requests: what is checked is the node's answer to
			// exactly what the file says.
			replay := vectorSpec{name: want.Name, protocol: want.Protocol, about: want.About}
			for _, st := range want.Steps {
				switch {
				case st.Send != "":
					b, err := hex.DecodeString(st.Send)
					if err != nil {
						t.Fatal(err)
					}
					replay.steps = append(replay.steps, sendRaw(b))
				case st.CloseWrite:
					replay.steps = append(replay.steps, closeWrite)
				default:
					replay.steps = append(replay.steps, recvFrame(st.Compare))
				}
			}
			got := cs.runVector(t, replay, &want)
			if got.End != want.End {
				t.Errorf("the node ended the stream with %s, want %s", got.End, want.End)
			}
			// The requests must still be what this version encodes.
			var sends []string
			for _, st := range sp.steps {
				if st.send != nil {
					sends = append(sends, hex.EncodeToString(st.send))
				}
			}
			var fileSends []string
			for _, st := range want.Steps {
				if st.Send != "" {
					fileSends = append(fileSends, st.Send)
				}
			}
			if strings.Join(sends, ",") != strings.Join(fileSends, ",") {
				t.Errorf("the file's requests are not what this version encodes (run with -update)")
			}
		})
	}
}

// builtinEntry is one builtin a thunk may name (term [3, name]).
type builtinEntry struct {
	Name  string `json:"name"`
	Arity int    `json:"arity"`
	Group string `json:"group"` // the sandbox group that must allow it
}

// ctorEntry is a constructor of a builtin data type: a Ctor term names
// it by the type's text and its index ([4, "Optional", 1, 1] is Some).
type ctorEntry struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Index int    `json:"index"`
	Arity int    `json:"arity"`
}

// builtinCtorNames are the names of the builtin data types'
// constructors (eval.BuiltinCtor resolves each; the test fails on one it
// no longer knows).
var builtinCtorNames = []string{"None", "Some", "Left", "Right", "Timeout", "Msg", "Err.Denied", "Err.BudgetExceeded", "Err.Missing"}

// TestConformanceBuiltins keeps docs/conformance/builtins.json — the
// builtin names a thunk may reference and the builtin constructors, for
// other implementations — equal to the evaluator's tables (-update
// rewrites it).
func TestConformanceBuiltins(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("{\n  \"about\": \"The builtins a term may name ([3, name]) with their arity and the sandbox group that must allow them, and the constructors of the builtin data types (a Ctor term [4, type, index, arity]). Generated from the evaluator's table by `go test ./p2p -run TestConformanceBuiltins -update`; docs/language.md says what each does.\",\n  \"builtins\": [\n")
	var lines []string
	for _, x := range eval.Builtins() {
		lines = append(lines, jsonLine(t, builtinEntry{Name: x.Name, Arity: x.Arity, Group: x.Group}))
	}
	b.WriteString(strings.Join(lines, ",\n"))
	b.WriteString("\n  ],\n  \"constructors\": [\n")
	lines = nil
	for _, name := range builtinCtorNames {
		typ, index, arity, ok := eval.BuiltinCtor(name)
		if !ok {
			t.Fatalf("eval no longer knows the builtin constructor %s", name)
		}
		lines = append(lines, jsonLine(t, ctorEntry{Name: name, Type: typ.Builtin, Index: index, Arity: arity}))
	}
	b.WriteString(strings.Join(lines, ",\n"))
	b.WriteString("\n  ]\n}\n")
	got := b.Bytes()
	if !json.Valid(got) {
		t.Fatalf("builtins.json is not JSON:\n%s", got)
	}
	if *updateVectors {
		if err := os.WriteFile(builtinsPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(builtinsPath)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not the evaluator's builtin table: run go test ./p2p -run TestConformanceBuiltins -update", builtinsPath)
	}
}

// jsonLine is v as one indented line of JSON.
func jsonLine(t *testing.T, v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return "    " + strings.TrimSpace(b.String())
}
