package p2p

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// Decode errors a peer can act on. A client written in another language
// from docs/protocol.md sees the message of an `invalid` error reply and
// nothing else, so it must name the field by its wire key and the
// protocol's name for it, and say what the spec wants there, rather than
// the Go struct field and type the CBOR library reports:
//
//	status message: key 2 (store) is a byte string, want a text string
//
// instead of "cbor: cannot unmarshal byte string into Go struct field
// p2p.StatusMessage.Store of type string".

// describeDecodeError rewrites a CBOR decode error of message v (a
// pointer to one of the message structs), decoded from data, in the
// protocol's terms; other errors keep their text.
func describeDecodeError(v any, data []byte, err error) string {
	top := reflect.TypeOf(v)
	for top.Kind() == reflect.Pointer {
		top = top.Elem()
	}
	var ufe *cbor.UnknownFieldError
	if errors.As(err, &ufe) {
		if keys := undefinedKeys(top, data); len(keys) > 0 {
			return "key " + strings.Join(keys, ", ") + " is not defined for this message (decoders reject unknown keys)"
		}
		return err.Error()
	}
	var ute *cbor.UnmarshalTypeError
	if !errors.As(err, &ute) || ute.StructFieldName == "" {
		return err.Error()
	}
	// The library names the field "<package>.<struct>.<key>": the
	// message's top-level field, even when what failed is inside it.
	parts := strings.Split(ute.StructFieldName, ".")
	if len(parts) < 3 || parts[len(parts)-2] != top.Name() {
		return err.Error()
	}
	key := parts[len(parts)-1]
	f, ok := fieldByKey(top, key)
	if !ok {
		return err.Error()
	}
	found := cborTypeName(ute.CBORType)
	// What the field holds, not the element of it the library stumbled
	// on (an array where a byte string belongs).
	if t, ok := topLevelType(data, key); ok {
		found = t
	}
	field := "key " + key + " (" + lowerFirst(f.Name) + ")"
	if want := wantName(f.Type.String()); found != want {
		return field + " is " + article(found) + ", want " + article(want)
	}
	// The field has the right type; something inside it does not (the
	// library reports the outer field only).
	return field + " holds " + article(cborTypeName(ute.CBORType)) + " where " + article(wantName(ute.GoType)) + " belongs"
}

// itemType records the CBOR major type of a value and skips it: the
// library hands UnmarshalCBOR a slice of the message, so nothing is
// copied.
type itemType struct{ major byte }

func (t *itemType) UnmarshalCBOR(b []byte) error {
	if len(b) > 0 {
		t.major = b[0] >> 5
	}
	return nil
}

// describeDecMode reads a message's top level only to describe an error
// (on the error path, for every malformed request a peer sends): within
// the bounds of msgDecMode, and without keeping any of it.
var describeDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  8,
		MaxArrayElements: MaxSyncBlocks,
		MaxMapPairs:      16,
	}.DecMode()
	if err != nil {
		panic("p2p: cbor decode options: " + err.Error())
	}
	return dm
}()

// topLevelMap reads data as a map of integer keys and the major types
// of their values.
func topLevelMap(data []byte) (map[uint64]itemType, bool) {
	var m map[uint64]itemType
	if err := describeDecMode.Unmarshal(data, &m); err != nil {
		return nil, false
	}
	return m, true
}

// topLevelType is the CBOR type of the value under key in data.
func topLevelType(data []byte, key string) (string, bool) {
	k, err := strconv.ParseUint(key, 10, 64)
	if err != nil {
		return "", false
	}
	m, ok := topLevelMap(data)
	if !ok {
		return "", false
	}
	t, ok := m[k]
	if !ok {
		return "", false
	}
	names := []string{"integer", "integer", "byte string", "text string", "array", "map", "tag", "simple value or float"}
	return names[t.major], true
}

// undefinedKeys lists the keys of data that no field of st has.
func undefinedKeys(st reflect.Type, data []byte) []string {
	m, ok := topLevelMap(data)
	if !ok {
		return nil
	}
	var out []string
	for k := range m {
		if _, ok := fieldByKey(st, strconv.FormatUint(k, 10)); !ok {
			out = append(out, strconv.FormatUint(k, 10))
		}
	}
	slices.Sort(out)
	return out
}

// fieldByKey is the field of st whose CBOR key is key.
func fieldByKey(st reflect.Type, key string) (reflect.StructField, bool) {
	for i := range st.NumField() {
		f := st.Field(i)
		if k, _, _ := strings.Cut(f.Tag.Get("cbor"), ","); k == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func lowerFirst(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

// cborTypeName is the CBOR major type as the spec says it.
func cborTypeName(t string) string {
	switch t {
	case "UTF-8 text string":
		return "text string"
	case "positive integer", "negative integer":
		return "integer"
	case "primitives":
		return "simple value or float"
	}
	return t
}

// wantName is what the Go type of a message field is on the wire.
func wantName(goType string) string {
	switch {
	case goType == "string":
		return "text string"
	case goType == "[]uint8":
		return "byte string"
	case goType == "[][]uint8":
		return "array of byte strings"
	case goType == "[]string":
		return "array of text strings"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "integer"
	case strings.HasPrefix(goType, "p2p."), strings.HasPrefix(goType, "*p2p."), strings.HasPrefix(goType, "map["):
		return "map"
	}
	return goType
}

func article(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + s
	}
	return "a " + s
}

// malformedRequest is the error reply to a first message that arrived
// whole but cannot be acted on: over its cap, empty, or not a valid
// message. Nil for everything else — a stream that ended inside a frame,
// a late or silent opener, bytes that are not a frame at all — which the
// status and blocks handlers answer with a reset, as before: there is no
// request to answer, or no one reading.
func malformedRequest(err error) *CallError {
	var tl *FrameTooLargeError
	var me *MessageError
	switch {
	case errors.As(err, &tl):
		return invalid("%v", tl)
	case errors.As(err, &me):
		return invalid("%v", me)
	}
	return nil
}

// Runtime errors on the wire. A program that fails at the callee with a
// runtime error is answered with code "msg", its backtrace as text in
// msg, and, for a caller that has the source, its message alone in
// runtime (key 8) and its active calls in frames (key 7), innermost
// first, each
//
//	{1: name, 2: def, 3: member, 4: node, 5: calls, 6: code, 7: peer}
//
// name is what the callee calls it ("#bafy…", "lambda in #bafy…",
// "thunk in <expr>", a builtin's name); def and member (binary CID, and
// the member of a cycle block, omitted when 0) are the definition whose
// code it ran; code is instead the eval.SentCodeDigest of a closure's
// code as the caller sent it; node is the failing node's number in
// dag.Preorder of that definition's term or that code (absent when
// unknown); calls, omitted when 1, how many nested calls of the same
// definition at the same node the frame stands for; peer, the node the
// call ran on when not the callee (it relayed the error of a third
// node). The caller looks up def and node in its own positions table,
// and code in the closures it sent, to say where in its source each
// call was.

// WireFrame is one frame of a runtime error on the wire.
type WireFrame struct {
	Name   string `cbor:"1,keyasint"`
	Def    []byte `cbor:"2,keyasint,omitempty"`
	Member int64  `cbor:"3,keyasint,omitempty"`
	Node   *int64 `cbor:"4,keyasint,omitempty"`
	Calls  int64  `cbor:"5,keyasint,omitempty"`
	Code   []byte `cbor:"6,keyasint,omitempty"`
	Peer   string `cbor:"7,keyasint,omitempty"`
}

// wireFrames is frames as sent: at most MaxErrorFrames, the innermost
// and the outermost (the caller's own code, usually).
func wireFrames(frames []eval.Frame) []WireFrame {
	if len(frames) > MaxErrorFrames {
		frames = append(slices.Clip(frames[:MaxErrorFrames-1]), frames[len(frames)-1])
	}
	out := make([]WireFrame, len(frames))
	for i, f := range frames {
		w := WireFrame{Name: truncateText(f.Name, MaxErrorFrameName-len("…")), Peer: f.Peer}
		if f.Def != nil && f.Def.CID.Defined() && f.Def.Member >= 0 {
			w.Def, w.Member = f.Def.CID.Bytes(), int64(f.Def.Member)
		} else if len(f.Code) == eval.SentCodeDigestLen {
			w.Code = f.Code
		}
		if f.Node >= 0 && (w.Def != nil || w.Code != nil) {
			n := int64(f.Node)
			w.Node = &n
		}
		if f.Calls > 1 {
			w.Calls = int64(f.Calls)
		}
		out[i] = w
	}
	return out
}

// framesFromWire is the frames of a validated wire error.
func framesFromWire(ws []WireFrame) []eval.Frame {
	out := make([]eval.Frame, len(ws))
	for i, w := range ws {
		f := eval.Frame{Name: w.Name, Calls: max(1, int(w.Calls)), Node: -1, Peer: w.Peer}
		if len(w.Def) > 0 {
			c, _ := cid.Cast(w.Def) // validated
			f.Def = &dag.DefRef{CID: c, Member: int(w.Member)}
		}
		if len(w.Code) > 0 {
			f.Code = slices.Clone(w.Code)
		}
		if w.Node != nil {
			f.Node = int(*w.Node)
		}
		out[i] = f
	}
	return out
}

// maxFramePeer bounds a frame's peer ID text (ours are 52 bytes).
const maxFramePeer = 128

func (e *WireError) validateFrames() error {
	if len(e.Frames) == 0 {
		if e.Runtime != "" {
			return badMessage("error with a runtime message but no frames")
		}
		return nil
	}
	if ErrorCode(e.Code) != CodeMsg {
		return badMessage("frames in an error of code %q (only \"msg\" has them)", e.Code)
	}
	if len(e.Runtime) > MaxErrorTextLen {
		return badMessage("error text too long")
	}
	if len(e.Frames) > MaxErrorFrames {
		return badMessage("error with %d frames (at most %d)", len(e.Frames), MaxErrorFrames)
	}
	for i, f := range e.Frames {
		switch {
		case len(f.Name) > MaxErrorFrameName:
			return badMessage("error frame %d: name of %d bytes (at most %d)", i, len(f.Name), MaxErrorFrameName)
		case len(f.Peer) > maxFramePeer:
			return badMessage("error frame %d: peer of %d bytes", i, len(f.Peer))
		case len(f.Def) > 0 && len(f.Code) > 0:
			return badMessage("error frame %d: both a definition and sent code", i)
		case len(f.Code) > 0 && len(f.Code) != eval.SentCodeDigestLen:
			return badMessage("error frame %d: code digest of %d bytes (want %d)", i, len(f.Code), eval.SentCodeDigestLen)
		case f.Member < 0 || f.Member >= dag.MaxPositions:
			return badMessage("error frame %d: member %d", i, f.Member)
		case f.Node != nil && (*f.Node < 0 || *f.Node >= dag.MaxPositions):
			return badMessage("error frame %d: node %d", i, *f.Node)
		case f.Calls < 0:
			return badMessage("error frame %d: %d calls", i, f.Calls)
		}
		if len(f.Def) > 0 {
			if len(f.Def) > 128 {
				return badMessage("error frame %d: CID of %d bytes", i, len(f.Def))
			}
			if _, err := cid.Cast(f.Def); err != nil {
				return badMessage("error frame %d: CID: %v", i, err)
			}
		}
	}
	return nil
}

// RemoteRuntime makes a callee's runtime error an
// eval.RemoteRuntimeError, so that the caller's await and at report it in
// the caller's source.
func (e *CallError) RemoteRuntime() (msg string, frames []eval.Frame, peer string, ok bool) {
	if e.Code != CodeMsg || len(e.Frames) == 0 {
		return "", nil, "", false
	}
	return e.Runtime, e.Frames, e.Peer, true
}

// relayedRuntime reports whether re is this node's runtime error for the
// runtime error of a call it made to another node (its frames include
// that node's).
func relayedRuntime(re *eval.RuntimeError) bool {
	for _, f := range re.Frames {
		if f.Peer != "" {
			return true
		}
	}
	return false
}

// RelocateCallError puts the runtime error of the closed term t, which this
// node sent to another as its thunk (EvalAt, RunAt), into this node's
// source: an *eval.RuntimeError (wrapping the *CallError) whose frames
// have the names and positions of this node's namespace, pos being t's
// own positions (nil when unknown). Other errors are returned as they
// are, and so is a runtime error of a local evaluation.
func (n *Node) RelocateCallError(ctx context.Context, err error, t dag.Term, pos []syntax.Pos) error {
	if err == nil {
		return nil
	}
	var re *eval.RuntimeError
	if errors.As(err, &re) {
		return err
	}
	if e := eval.RemoteExprError(err, t, pos, newNaming(ctx, n.store)); e != nil {
		return e
	}
	return err
}
