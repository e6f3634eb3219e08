package p2p

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Wire messages of /unode/chan/1.0.0 (docs/protocol.md,
// "/unode/chan/1.0.0"), with the conventions of messages.go: CBOR maps
// with small integer keys, one varint-length-prefixed frame each, decoded
// strictly and checked field by field before the handler acts on them.

// ChanMessage is one message on a channel stream (sender to receiver).
type ChanMessage struct {
	// Seq numbers the stream's messages 1, 2, 3, ...: replies name the
	// message they answer by it, and a gap is a protocol violation.
	Seq uint64 `cbor:"1,keyasint"`
	// Channel is the ID of the channel at the receiver (channelIDLen
	// bytes: a channel some principal created there, or a node's
	// requests channel).
	Channel []byte `cbor:"2,keyasint"`
	// Value is dag.EncodeValue of the message, or, for a value too
	// large to go inline, its chunked encoding (dag.EncodeValueChunked:
	// chunk references, whose chunks are synced like code).
	Value []byte `cbor:"3,keyasint"`
	// Ack asks for a reply once the message was taken by a listener (or
	// why it was not): deliver sets it, send does not.
	Ack bool `cbor:"4,keyasint,omitempty"`
	// Sync asks the receiver, before it takes any further message, to
	// answer with the entries it lacks (ChanReply.Need) or with Ready:
	// the sender does not know that the receiver holds the code the
	// value refers to. The entries are Deps, then the value's links
	// (dag.ValueLinks, sorted), as in an eval request.
	Sync bool `cbor:"5,keyasint,omitempty"`
	// Deps lists, dependencies first, the blocks of the closure of the
	// value's links that the sender holds and does not know the
	// receiver to hold, not repeating the links: concatenated sha2-256
	// digests, as EvalRequest.Deps. Only with Sync.
	Deps []byte `cbor:"6,keyasint,omitempty"`
	// Absent lists the blocks the value's closure names that the sender
	// does not hold (EvalRequest.Absent): the receiver never asks for
	// them. Only with Sync.
	Absent []byte `cbor:"7,keyasint,omitempty"`
}

// ChanReply is the receiver's answer about one message: exactly one of
// Need, Ready, Taken and Error.
type ChanReply struct {
	// Seq is the message's.
	Seq uint64 `cbor:"1,keyasint"`
	// Need answers Sync: bit i set means the receiver lacks entry i; the
	// sender sends exactly those blocks (BlocksMessages) next on the
	// stream.
	Need []byte `cbor:"2,keyasint,omitempty"`
	// Ready answers Sync: the receiver lacks none of the entries.
	Ready bool `cbor:"3,keyasint,omitempty"`
	// Taken answers Ack: how many listeners took the message (at least
	// one).
	Taken uint64 `cbor:"4,keyasint,omitempty"`
	// Error says why the message was not taken (see docs/protocol.md):
	// code "msg" with which "no-listener", "denied" (the receiver's
	// policy refuses the sender), "missing", "budget", "timeout",
	// "invalid".
	Error *WireError `cbor:"5,keyasint,omitempty"`
}

// whichNoListener is the WireError.Which of a message that no listener
// took.
const whichNoListener = "no-listener"

// EncodeChanMessage encodes a channel message.
func EncodeChanMessage(m *ChanMessage) ([]byte, error) { return encodeMessage(m) }

// DecodeChanMessage decodes and validates a channel message. Its byte
// fields may share data's memory.
func DecodeChanMessage(data []byte) (*ChanMessage, error) {
	m := &ChanMessage{}
	if err := decodeChanMessage(data, m); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeChanMessage is DecodeChanMessage into m (a stream reuses one).
func decodeChanMessage(data []byte, m *ChanMessage) error {
	*m = ChanMessage{}
	if len(data) > MaxChanMessageSize || !parseChanMessage(data, m) {
		*m = ChanMessage{}
		if err := decodeMessage(data, MaxChanMessageSize, m, "channel message"); err != nil {
			return err
		}
	}
	if m.Seq == 0 {
		return badMessage("channel message: sequence number 0")
	}
	if len(m.Channel) != channelIDLen {
		return badMessage("channel message: channel ID of %d bytes (want %d)", len(m.Channel), channelIDLen)
	}
	if len(m.Value) == 0 || len(m.Value) > dag.MaxValueSize {
		return badMessage("channel message: value of %d bytes (want 1 to %d)", len(m.Value), dag.MaxValueSize)
	}
	if !m.Sync && (len(m.Deps) > 0 || len(m.Absent) > 0) {
		return badMessage("channel message: dependency or absent list without sync")
	}
	if len(m.Deps)%digestLen != 0 || len(m.Deps)/digestLen > MaxSyncBlocks {
		return badMessage("channel message: dependency list of %d bytes (want a multiple of %d, at most %d entries)", len(m.Deps), digestLen, MaxSyncBlocks)
	}
	if len(m.Absent)%digestLen != 0 || len(m.Absent)/digestLen > MaxAbsentRoots {
		return badMessage("channel message: absent list of %d bytes (want a multiple of %d, at most %d entries)", len(m.Absent), digestLen, MaxAbsentRoots)
	}
	return nil
}

// EncodeChanReply encodes a channel reply.
func EncodeChanReply(r *ChanReply) ([]byte, error) { return encodeMessage(r) }

// DecodeChanReply decodes and validates a channel reply. Its Need may
// share data's memory.
func DecodeChanReply(data []byte) (*ChanReply, error) {
	r := &ChanReply{}
	if err := decodeChanReply(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeChanReply is DecodeChanReply into r (a stream reuses one).
func decodeChanReply(data []byte, r *ChanReply) error {
	*r = ChanReply{}
	if len(data) > MaxChanReplySize || !parseChanReply(data, r) {
		*r = ChanReply{}
		if err := decodeMessage(data, MaxChanReplySize, r, "channel reply"); err != nil {
			return err
		}
	}
	if r.Seq == 0 {
		return badMessage("channel reply: sequence number 0")
	}
	n := 0
	for _, set := range []bool{len(r.Need) > 0, r.Ready, r.Taken > 0, r.Error != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return badMessage("channel reply with %d of need, ready, taken, error (want exactly one)", n)
	}
	switch {
	case len(r.Need) > 0:
		if len(r.Need) > (MaxSyncBlocks+7)/8 || popCount(r.Need) == 0 {
			return badMessage("channel reply: need bitmap of %d bytes asking for %d blocks", len(r.Need), popCount(r.Need))
		}
	case r.Error != nil:
		if err := r.Error.validate(); err != nil {
			return err
		}
	}
	return nil
}

// appendChanMessage appends the encoding of m to b: the same bytes as
// EncodeChanMessage (CBOR core deterministic encoding: a map of its set
// fields in key order), written without reflection, since a small
// message's encoding was a measurable part of a deliver's round trip.
// TestChanEncodingMatches checks it against EncodeChanMessage.
func appendChanMessage(b []byte, m *ChanMessage) []byte {
	n := uint64(3)
	for _, set := range []bool{m.Ack, m.Sync, len(m.Deps) > 0, len(m.Absent) > 0} {
		if set {
			n++
		}
	}
	b = appendCBORHead(b, 5, n)
	b = appendCBORHead(appendCBORHead(b, 0, 1), 0, m.Seq)
	b = append(appendCBORHead(appendCBORHead(b, 0, 2), 2, uint64(len(m.Channel))), m.Channel...)
	b = append(appendCBORHead(appendCBORHead(b, 0, 3), 2, uint64(len(m.Value))), m.Value...)
	if m.Ack {
		b = append(appendCBORHead(b, 0, 4), 0xf5)
	}
	if m.Sync {
		b = append(appendCBORHead(b, 0, 5), 0xf5)
	}
	if len(m.Deps) > 0 {
		b = append(appendCBORHead(appendCBORHead(b, 0, 6), 2, uint64(len(m.Deps))), m.Deps...)
	}
	if len(m.Absent) > 0 {
		b = append(appendCBORHead(appendCBORHead(b, 0, 7), 2, uint64(len(m.Absent))), m.Absent...)
	}
	return b
}

// appendChanReply appends the encoding of r (as EncodeChanReply) to b;
// a reply carrying an error is encoded the general way.
func appendChanReply(b []byte, r *ChanReply) ([]byte, error) {
	if r.Error != nil {
		data, err := EncodeChanReply(r)
		return append(b, data...), err
	}
	n := uint64(1)
	for _, set := range []bool{len(r.Need) > 0, r.Ready, r.Taken > 0} {
		if set {
			n++
		}
	}
	b = appendCBORHead(b, 5, n)
	b = appendCBORHead(appendCBORHead(b, 0, 1), 0, r.Seq)
	if len(r.Need) > 0 {
		b = append(appendCBORHead(appendCBORHead(b, 0, 2), 2, uint64(len(r.Need))), r.Need...)
	}
	if r.Ready {
		b = append(appendCBORHead(b, 0, 3), 0xf5)
	}
	if r.Taken > 0 {
		b = appendCBORHead(appendCBORHead(b, 0, 4), 0, r.Taken)
	}
	return b, nil
}

// appendCBORHead appends the head of a CBOR item of major type major
// with argument v, in its shortest form.
func appendCBORHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= 0xff:
		return append(b, m|24, byte(v))
	case v <= 0xffff:
		return append(b, m|25, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(b, m|26, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, m|27, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// parseChanMessage and parseChanReply decode, without reflection, the
// encodings appendChanMessage and appendChanReply write (canonical CBOR:
// a definite map of known keys in increasing order, heads in their
// shortest form, nothing after it), since decoding a small message
// through the general decoder was a measurable part of a deliver's round
// trip. They return false for anything else, which the general, strict
// decoder (decodeMessage) then decodes or refuses as before: what they
// accept is a subset of what it accepts, decoded to the same message
// (FuzzChanFastDecode checks both), and the same validation follows. The
// byte fields they return share data's memory.
func parseChanMessage(data []byte, m *ChanMessage) bool {
	p := cborParser{b: data}
	n, ok := p.head(5)
	if !ok || n > 7 {
		return false
	}
	last := uint64(0)
	for range n {
		k, ok := p.head(0)
		if !ok || k <= last {
			return false
		}
		last = k
		switch k {
		case 1:
			m.Seq, ok = p.head(0)
		case 2:
			m.Channel, ok = p.bytes()
		case 3:
			m.Value, ok = p.bytes()
		case 4:
			m.Ack, ok = p.bool()
		case 5:
			m.Sync, ok = p.bool()
		case 6:
			m.Deps, ok = p.bytes()
		case 7:
			m.Absent, ok = p.bytes()
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return p.done()
}

func parseChanReply(data []byte, r *ChanReply) bool {
	p := cborParser{b: data}
	n, ok := p.head(5)
	if !ok || n > 4 {
		return false
	}
	last := uint64(0)
	for range n {
		k, ok := p.head(0)
		if !ok || k <= last {
			return false
		}
		last = k
		switch k {
		case 1:
			r.Seq, ok = p.head(0)
		case 2:
			r.Need, ok = p.bytes()
		case 3:
			r.Ready, ok = p.bool()
		case 4:
			r.Taken, ok = p.head(0)
		default:
			return false // an error (5) takes the general decoder
		}
		if !ok {
			return false
		}
	}
	return p.done()
}

// cborParser reads CBOR items from b; every method returns false for
// anything but the item it expects, in its shortest form.
type cborParser struct{ b []byte }

// head reads the head of an item of major type major, and its argument.
func (p *cborParser) head(major byte) (uint64, bool) {
	if len(p.b) == 0 || p.b[0]>>5 != major {
		return 0, false
	}
	info := p.b[0] & 0x1f
	var v uint64
	var k int
	switch {
	case info < 24:
		v, k = uint64(info), 1
	case info == 24 && len(p.b) >= 2:
		v, k = uint64(p.b[1]), 2
		if v < 24 {
			return 0, false
		}
	case info == 25 && len(p.b) >= 3:
		v, k = uint64(binary.BigEndian.Uint16(p.b[1:])), 3
		if v <= 0xff {
			return 0, false
		}
	case info == 26 && len(p.b) >= 5:
		v, k = uint64(binary.BigEndian.Uint32(p.b[1:])), 5
		if v <= 0xffff {
			return 0, false
		}
	case info == 27 && len(p.b) >= 9:
		v, k = binary.BigEndian.Uint64(p.b[1:]), 9
		if v <= 0xffffffff {
			return 0, false
		}
	default:
		return 0, false
	}
	p.b = p.b[k:]
	return v, true
}

// bytes reads a definite-length byte string.
func (p *cborParser) bytes() ([]byte, bool) {
	n, ok := p.head(2)
	if !ok || n > uint64(len(p.b)) {
		return nil, false
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v, true
}

// bool reads true or false.
func (p *cborParser) bool() (bool, bool) {
	if len(p.b) == 0 || (p.b[0] != 0xf4 && p.b[0] != 0xf5) {
		return false, false
	}
	v := p.b[0] == 0xf5
	p.b = p.b[1:]
	return v, true
}

// done reports whether all of b was read.
func (p *cborParser) done() bool { return len(p.b) == 0 }

// ---- message values ----

// encodeChanValue is dag.EncodeValue(w) and dag.ValueLinks(w). A value
// that is a lone scalar (unit, a boolean, an integer, a short text: what
// most messages carry) is encoded without dag's general encoder, which
// builds a generic tree and encodes it by reflection and was the largest
// part of a small send: its encoding is dag's envelope, taken from dag
// itself (scalarEnvelope), followed by the scalar's [tag, x], and it has
// no links. TestChanScalarEncoding checks the bytes against dag's.
func encodeChanValue(w dag.Value) ([]byte, []cid.Cid, error) {
	if data := appendScalarValue(nil, w); data != nil {
		return data, nil, nil
	}
	data, err := dag.EncodeValue(w)
	if err != nil {
		return nil, nil, err
	}
	return data, dag.ValueLinks(w), nil
}

// maxScalarText bounds the texts encoded by appendScalarValue; longer
// ones take dag's encoder, whose size checks they need.
const maxScalarText = 4 << 10

// appendScalarValue appends dag.EncodeValue(w) to b if w is a scalar it
// encodes (nil otherwise: the caller uses dag's encoder).
func appendScalarValue(b []byte, w dag.Value) []byte {
	env := scalarEnv()
	if !env.ok {
		return nil
	}
	if b == nil {
		n := 0
		if t, ok := w.(*dag.VText); ok {
			n = len(t.V)
		}
		b = make([]byte, 0, len(env.prefix)+12+n)
	}
	return env.append(b, w)
}

// chanValueFromWire is eval.FromWire(w); a lone scalar, the usual
// message, is converted here as eval converts it, without the scratch
// evaluation state eval.FromWire allocates for each value (the largest
// allocation of a small message's receipt). TestChanScalarEncoding
// checks it against eval.FromWire.
func chanValueFromWire(w dag.Value) (eval.Value, error) {
	switch x := w.(type) {
	case *dag.VUnit:
		return eval.UnitValue, nil
	case *dag.VBool:
		return eval.MakeBool(x.V), nil
	case *dag.VInt:
		return eval.MakeInt(x.V), nil
	case *dag.VText:
		return eval.Text(x.V), nil
	}
	return eval.FromWire(w)
}

// scalarEnvelope is what appendScalarValue needs of dag's encoding of a
// value: the bytes before the value's own array (the envelope's map, the
// value key), and the one-byte tags of the scalars.
type scalarEnvelope struct {
	ok                           bool // derived and checked
	prefix                       []byte
	unit, boolean, integer, text byte
}

var scalarEnv = sync.OnceValue(deriveScalarEnvelope)

// deriveScalarEnvelope learns the envelope and the tags from dag's
// encoding of a few values, then checks it reproduces dag's encoding of
// more; if dag's format is not of that shape, ok is false and every value
// takes dag's encoder.
func deriveScalarEnvelope() *scalarEnvelope {
	env := &scalarEnvelope{}
	enc := func(v dag.Value) []byte {
		data, err := dag.EncodeValue(v)
		if err != nil {
			return nil
		}
		return data
	}
	// dag's [tag] or [tag, x], with a one-byte tag, ends the encoding.
	u := enc(&dag.VUnit{})
	if len(u) < 2 || u[len(u)-2] != 0x81 || u[len(u)-1] >= 24 {
		return env
	}
	env.prefix, env.unit = u[:len(u)-2:len(u)-2], u[len(u)-1]
	tagOf := func(v dag.Value, item byte) (byte, bool) {
		d := enc(v)
		p := len(env.prefix)
		if len(d) != p+3 || !bytes.Equal(d[:p], env.prefix) || d[p] != 0x82 || d[p+1] >= 24 || d[p+2] != item {
			return 0, false
		}
		return d[p+1], true
	}
	var ok1, ok2, ok3 bool
	env.integer, ok1 = tagOf(&dag.VInt{V: 0}, 0x00)
	env.boolean, ok2 = tagOf(&dag.VBool{V: false}, 0xf4)
	env.text, ok3 = tagOf(&dag.VText{V: ""}, 0x60)
	if !ok1 || !ok2 || !ok3 {
		return env
	}
	env.ok = true
	for _, v := range scalarProbes() {
		if got := env.append(nil, v); got == nil || !bytes.Equal(got, enc(v)) {
			env.ok = false
			return env
		}
	}
	return env
}

// scalarProbes are values whose encoding by appendScalarValue must be
// dag's (deriveScalarEnvelope, TestChanScalarEncoding).
func scalarProbes() []dag.Value {
	vs := []dag.Value{&dag.VUnit{}, &dag.VBool{V: true}, &dag.VBool{V: false}}
	for _, i := range []int64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64, -1, -24, -25, -256, -257, -65537, -1 << 32, math.MinInt64} {
		vs = append(vs, &dag.VInt{V: i})
	}
	for _, n := range []int{0, 1, 23, 24, 255, 256, maxScalarText} {
		vs = append(vs, &dag.VText{V: strings.Repeat("x", n)})
	}
	return append(vs, &dag.VText{V: "naïve ✓ 文字"})
}

func (env *scalarEnvelope) append(b []byte, w dag.Value) []byte {
	switch w := w.(type) {
	case *dag.VUnit:
		return append(append(b, env.prefix...), 0x81, env.unit)
	case *dag.VBool:
		x := byte(0xf4)
		if w.V {
			x = 0xf5
		}
		return append(append(b, env.prefix...), 0x82, env.boolean, x)
	case *dag.VInt:
		b = append(append(b, env.prefix...), 0x82, env.integer)
		if w.V >= 0 {
			return appendCBORHead(b, 0, uint64(w.V))
		}
		return appendCBORHead(b, 1, uint64(^w.V))
	case *dag.VText:
		if len(w.V) > maxScalarText || !utf8.ValidString(w.V) {
			return nil // dag's encoder says why
		}
		b = appendCBORHead(append(append(b, env.prefix...), 0x82, env.text), 3, uint64(len(w.V)))
		return append(b, w.V...)
	}
	return nil
}
