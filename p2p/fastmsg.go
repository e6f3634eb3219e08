package p2p

import (
	"math"
	"unicode/utf8"
)

// A direct codec for the messages of every warm call (EvalRequest, and
// EvalReply with a result or a need), beside the general CBOR codec of
// messages.go, which the reflection-driven library makes a large part
// of a small call's work.
//
// Encoding writes exactly the bytes the general encoder writes (core
// deterministic CBOR: shortest heads, keys in ascending order, empty
// optional fields left out); a message with a part this codec does not
// write (a nil element of a list, a nil required field) goes to the
// general encoder. Decoding takes only the canonical form of these
// shapes, a subset of what the general decoder takes, and decodes it to
// what the general decoder would: anything else (another key order, a
// longer head, an unknown key, a negative number, an error reply...) is
// left to the general decoder, which accepts or refuses it as before,
// with its own messages. TestFastMessages* check both halves.

// ---- encoding ----

func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

const (
	majUint  = 0
	majNeg   = 1
	majBytes = 2
	majText  = 3
	majArray = 4
	majMap   = 5
)

func appendBytesField(b []byte, key byte, v []byte) []byte {
	b = append(b, key)
	b = appendHead(b, majBytes, uint64(len(v)))
	return append(b, v...)
}

func appendTextField(b []byte, key byte, v string) []byte {
	b = append(b, key)
	b = appendHead(b, majText, uint64(len(v)))
	return append(b, v...)
}

func appendIntField(b []byte, key byte, v int64) []byte {
	b = append(b, key)
	if v < 0 {
		return appendHead(b, majNeg, uint64(-(v + 1)))
	}
	return appendHead(b, majUint, uint64(v))
}

func appendBytesList(b []byte, key byte, vs [][]byte) []byte {
	b = append(b, key)
	b = appendHead(b, majArray, uint64(len(vs)))
	for _, v := range vs {
		b = appendHead(b, majBytes, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

func countSet(set ...bool) uint64 {
	n := uint64(0)
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

func noNil(vs [][]byte) bool {
	for _, v := range vs {
		if v == nil {
			return false
		}
	}
	return true
}

// fastEncodable reports whether appendMessage writes v.
func fastEncodable(v any) bool {
	switch m := v.(type) {
	case *EvalRequest:
		return m.Thunk != nil && noNil(m.Tokens)
	case *EvalReply:
		switch {
		case m.Need != nil && m.Result == nil && m.Error == nil:
			return m.Need.Bits != nil
		case m.Result != nil && m.Need == nil && m.Error == nil:
			return m.Result.Value != nil && noNil(m.Result.Blocks)
		}
	}
	return false
}

// appendMessage appends v's encoding to b; v is fastEncodable.
func appendMessage(b []byte, v any) []byte {
	switch m := v.(type) {
	case *EvalRequest:
		return appendEvalRequest(b, m)
	case *EvalReply:
		if m.Need != nil {
			b = appendHead(b, majMap, 1)
			b = append(b, 1)
			b = appendHead(b, majMap, 1)
			return appendBytesField(b, 1, m.Need.Bits)
		}
		b = appendHead(b, majMap, 1)
		b = append(b, 2)
		return appendResultReply(b, m.Result)
	}
	panic("p2p: appendMessage of a message it does not encode")
}

func appendEvalRequest(b []byte, r *EvalRequest) []byte {
	b = appendHead(b, majMap, countSet(true, r.Store != "", r.Budget != nil, len(r.Deps) > 0, len(r.Tokens) > 0,
		len(r.Prefixes) > 0, len(r.Absent) > 0, len(r.StoreProof) > 0))
	b = appendBytesField(b, 1, r.Thunk)
	if r.Store != "" {
		b = appendTextField(b, 2, r.Store)
	}
	if w := r.Budget; w != nil {
		b = append(b, 3)
		b = appendHead(b, majMap, countSet(w.Fuel != 0, w.Memory != 0, w.Depth != 0, w.Result != 0, w.TimeoutMs != 0))
		for i, x := range [...]int64{w.Fuel, w.Memory, w.Depth, w.Result, w.TimeoutMs} {
			if x != 0 {
				b = appendIntField(b, byte(i+1), x)
			}
		}
	}
	if len(r.Deps) > 0 {
		b = appendBytesField(b, 4, r.Deps)
	}
	if len(r.Tokens) > 0 {
		b = appendBytesList(b, 5, r.Tokens)
	}
	if len(r.Prefixes) > 0 {
		b = appendBytesField(b, 6, r.Prefixes)
	}
	if len(r.Absent) > 0 {
		b = appendBytesField(b, 7, r.Absent)
	}
	if len(r.StoreProof) > 0 {
		b = appendBytesField(b, 8, r.StoreProof)
	}
	return b
}

func appendResultReply(b []byte, r *ResultReply) []byte {
	b = appendHead(b, majMap, countSet(true, len(r.Blocks) > 0, r.Store != "", r.Fuel != 0, r.Memory != 0,
		len(r.StoreProof) > 0, len(r.Chunks) > 0))
	b = appendBytesField(b, 1, r.Value)
	if len(r.Blocks) > 0 {
		b = appendBytesList(b, 2, r.Blocks)
	}
	if r.Store != "" {
		b = appendTextField(b, 3, r.Store)
	}
	if r.Fuel != 0 {
		b = appendIntField(b, 4, r.Fuel)
	}
	if r.Memory != 0 {
		b = appendIntField(b, 5, r.Memory)
	}
	if len(r.StoreProof) > 0 {
		b = appendBytesField(b, 6, r.StoreProof)
	}
	if len(r.Chunks) > 0 {
		b = appendBytesField(b, 7, r.Chunks)
	}
	return b
}

// ---- decoding ----

// fastReader reads the canonical subset; any other input sets bad.
type fastReader struct {
	data []byte
	pos  int
	bad  bool
	// alias: byte strings are slices of data, not copies (a small
	// frame, see fastAliasFrame).
	alias bool
}

// fastAliasFrame is the largest message whose byte strings the fast
// decoder leaves in the frame's buffer instead of copying them: the
// messages of a warm call (a thunk, a result, a store proof) are a few
// hundred bytes, and what a handler keeps of one then holds at most
// this much of the frame, about what separate copies would take with
// their allocation headers, for one allocation fewer per field. Frames
// from readFrame are buffers of their own, never reused or written to.
// Lists of byte strings (blocks, tokens) are copied whatever the size.
const fastAliasFrame = 512

// head reads a head of the given major type in its shortest form.
func (r *fastReader) head(major byte) uint64 {
	if r.bad || r.pos >= len(r.data) {
		r.bad = true
		return 0
	}
	c := r.data[r.pos]
	if c>>5 != major {
		r.bad = true
		return 0
	}
	r.pos++
	info := c & 31
	if info < 24 {
		return uint64(info)
	}
	var size int
	var min uint64
	switch info {
	case 24:
		size, min = 1, 24
	case 25:
		size, min = 2, math.MaxUint8+1
	case 26:
		size, min = 4, math.MaxUint16+1
	case 27:
		size, min = 8, math.MaxUint32+1
	default:
		r.bad = true
		return 0
	}
	if len(r.data)-r.pos < size {
		r.bad = true
		return 0
	}
	var n uint64
	for _, x := range r.data[r.pos : r.pos+size] {
		n = n<<8 | uint64(x)
	}
	r.pos += size
	if n < min {
		r.bad = true
		return 0
	}
	return n
}

// key reads a map key, which must be above the previous one (keys in
// ascending order: no duplicates) and at most max.
func (r *fastReader) key(prev *uint64, max uint64) uint64 {
	k := r.head(majUint)
	if k <= *prev || k > max {
		r.bad = true
	}
	*prev = k
	return k
}

// bytes reads a byte string into memory of its own (as the general
// decoder does): what a handler keeps of a message (a cached thunk, a
// proof) does not hold on to the whole frame. In a small frame (alias)
// it is a slice of the frame, capacity cut to its length.
func (r *fastReader) bytes() []byte {
	n := r.head(majBytes)
	if r.bad || n > uint64(len(r.data)-r.pos) {
		r.bad = true
		return nil
	}
	b := r.data[r.pos : r.pos+int(n) : r.pos+int(n)]
	if !r.alias {
		b = append([]byte{}, b...)
	}
	r.pos += int(n)
	return b
}

// copiedBytes is bytes, always copied.
func (r *fastReader) copiedBytes() []byte {
	b := r.bytes()
	if r.alias && b != nil {
		b = append([]byte{}, b...)
	}
	return b
}

func (r *fastReader) text() string {
	n := r.head(majText)
	if r.bad || n > uint64(len(r.data)-r.pos) {
		r.bad = true
		return ""
	}
	b := r.data[r.pos : r.pos+int(n)]
	if !utf8.Valid(b) {
		r.bad = true
		return ""
	}
	r.pos += int(n)
	return string(b)
}

// int reads a non-negative integer that fits an int64.
func (r *fastReader) int() int64 {
	n := r.head(majUint)
	if n > math.MaxInt64 {
		r.bad = true
		return 0
	}
	return int64(n)
}

func (r *fastReader) bytesList(max int) [][]byte {
	n := r.head(majArray)
	if r.bad || n > uint64(max) || n > uint64(len(r.data)-r.pos) {
		r.bad = true
		return nil
	}
	out := make([][]byte, n)
	for i := range out {
		if out[i] = r.copiedBytes(); r.bad {
			return nil
		}
	}
	return out
}

// mapLen reads a map head of at most max pairs.
func (r *fastReader) mapLen(max uint64) uint64 {
	n := r.head(majMap)
	if n > max {
		// A count past the shape's keys is not this codec's: 0, so no
		// loop runs over a count a peer chose (2^64 would spin).
		r.bad = true
		return 0
	}
	return n
}

// fastDecode decodes data into v (a fresh *EvalRequest or *EvalReply)
// when it is in the canonical form this codec takes, reporting whether
// it did; v is untouched when it did not.
func fastDecode(data []byte, v any) bool {
	r := &fastReader{data: data, alias: len(data) <= fastAliasFrame}
	switch m := v.(type) {
	case *EvalRequest:
		var x EvalRequest
		r.evalRequest(&x)
		if r.bad || r.pos != len(data) {
			return false
		}
		*m = x
		return true
	case *EvalReply:
		var x EvalReply
		if r.mapLen(1) != 1 {
			return false
		}
		var prev uint64
		switch r.key(&prev, 2) {
		case 1:
			if r.mapLen(1) != 1 {
				return false
			}
			prev = 0
			if r.key(&prev, 1); r.bad {
				return false
			}
			x.Need = &NeedReply{Bits: r.bytes()}
		case 2:
			x.Result = &ResultReply{}
			r.resultReply(x.Result)
		}
		if r.bad || r.pos != len(data) {
			return false
		}
		*m = x
		return true
	}
	return false
}

func (r *fastReader) evalRequest(x *EvalRequest) {
	n := r.mapLen(8)
	var prev uint64
	thunk := false
	for range n {
		switch r.key(&prev, 8) {
		case 1:
			x.Thunk, thunk = r.bytes(), true
		case 2:
			x.Store = r.storeText()
		case 3:
			w := &WireBudget{}
			m := r.mapLen(5)
			var p uint64
			for range m {
				k := r.key(&p, 5)
				v := r.int()
				if r.bad {
					return
				}
				switch k {
				case 1:
					w.Fuel = v
				case 2:
					w.Memory = v
				case 3:
					w.Depth = v
				case 4:
					w.Result = v
				case 5:
					w.TimeoutMs = v
				}
			}
			x.Budget = w
		case 4:
			x.Deps = r.bytes()
		case 5:
			x.Tokens = r.bytesList(MaxSyncBlocks)
		case 6:
			x.Prefixes = r.bytes()
		case 7:
			x.Absent = r.bytes()
		case 8:
			x.StoreProof = r.bytes()
		}
		if r.bad {
			return
		}
	}
	if !thunk {
		r.bad = true // the general decoder says what is missing
	}
}

func (r *fastReader) resultReply(x *ResultReply) {
	n := r.mapLen(7)
	var prev uint64
	value := false
	for range n {
		switch r.key(&prev, 7) {
		case 1:
			x.Value, value = r.bytes(), true
		case 2:
			x.Blocks = r.bytesList(MaxSyncBlocks)
		case 3:
			x.Store = r.storeText()
		case 4:
			x.Fuel = r.int()
		case 5:
			x.Memory = r.int()
		case 6:
			x.StoreProof = r.bytes()
		case 7:
			x.Chunks = r.bytes()
		}
		if r.bad {
			return
		}
	}
	if !value {
		r.bad = true
	}
}
