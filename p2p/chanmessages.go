package p2p

import (
	"github.com/unode-dev/unode/dag"
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
	// Value is dag.EncodeValue of the message.
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

// DecodeChanMessage decodes and validates a channel message.
func DecodeChanMessage(data []byte) (*ChanMessage, error) {
	m := &ChanMessage{}
	if err := decodeMessage(data, MaxChanMessageSize, m, "channel message"); err != nil {
		return nil, err
	}
	if m.Seq == 0 {
		return nil, badMessage("channel message: sequence number 0")
	}
	if len(m.Channel) != channelIDLen {
		return nil, badMessage("channel message: channel ID of %d bytes (want %d)", len(m.Channel), channelIDLen)
	}
	if len(m.Value) == 0 || len(m.Value) > dag.MaxValueSize {
		return nil, badMessage("channel message: value of %d bytes (want 1 to %d)", len(m.Value), dag.MaxValueSize)
	}
	if !m.Sync && (len(m.Deps) > 0 || len(m.Absent) > 0) {
		return nil, badMessage("channel message: dependency or absent list without sync")
	}
	if len(m.Deps)%digestLen != 0 || len(m.Deps)/digestLen > MaxSyncBlocks {
		return nil, badMessage("channel message: dependency list of %d bytes (want a multiple of %d, at most %d entries)", len(m.Deps), digestLen, MaxSyncBlocks)
	}
	if len(m.Absent)%digestLen != 0 || len(m.Absent)/digestLen > MaxAbsentRoots {
		return nil, badMessage("channel message: absent list of %d bytes (want a multiple of %d, at most %d entries)", len(m.Absent), digestLen, MaxAbsentRoots)
	}
	return m, nil
}

// EncodeChanReply encodes a channel reply.
func EncodeChanReply(r *ChanReply) ([]byte, error) { return encodeMessage(r) }

// DecodeChanReply decodes and validates a channel reply.
func DecodeChanReply(data []byte) (*ChanReply, error) {
	r := &ChanReply{}
	if err := decodeMessage(data, MaxChanReplySize, r, "channel reply"); err != nil {
		return nil, err
	}
	if r.Seq == 0 {
		return nil, badMessage("channel reply: sequence number 0")
	}
	n := 0
	for _, set := range []bool{len(r.Need) > 0, r.Ready, r.Taken > 0, r.Error != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, badMessage("channel reply with %d of need, ready, taken, error (want exactly one)", n)
	}
	switch {
	case len(r.Need) > 0:
		if len(r.Need) > (MaxSyncBlocks+7)/8 || popCount(r.Need) == 0 {
			return nil, badMessage("channel reply: need bitmap of %d bytes asking for %d blocks", len(r.Need), popCount(r.Need))
		}
	case r.Error != nil:
		if err := r.Error.validate(); err != nil {
			return nil, err
		}
	}
	return r, nil
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
