package dag

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// ---- one-pass canonical scan ----

// scanLevel is an array or map being scanned: left counts the items
// still to read (a map's keys and values both), prevKey is the encoded
// key read last in a map.
type scanLevel struct {
	left    uint64
	isMap   bool
	prevKey []byte
}

// scanCanonical checks, in one pass over the bytes and without building
// anything, that data is exactly one item of canonical DAG-CBOR as this
// package writes it, and calls visit on every link. It accepts exactly
// what decoding into the generic form, walkGeneric and re-encoding to
// the same bytes accept (dag's tests check the two against each other):
// definite lengths in their shortest form, integers within int64 when
// negative, 64-bit floats other than NaN and the infinities, false, true
// and null, valid UTF-8 text, text map keys in length-first order without
// duplicates, tag 42 (a link, 0x00 and CID bytes) and no other, arrays
// and maps nested at most MaxNesting deep, within MaxArrayLen elements
// and MaxMapPairs pairs. kind, if not nil, is set to the text value of
// the top-level map's "kind" key (envelopes; BlockKind).
func scanCanonical(data []byte, limit int, visit func(cid.Cid), kind *string) error {
	if len(data) > limit {
		return &DecodeError{Msg: "input is " + strconv.Itoa(len(data)) + " bytes, limit " + strconv.Itoa(limit), Err: ErrTooLarge}
	}
	var buf [16]scanLevel
	stack := buf[:0]
	off := 0
	wantKind := false // the next item is the value of the top-level "kind"
	for {
		if off >= len(data) {
			if off == 0 {
				return malformed("empty input")
			}
			return malformed("unexpected end of data")
		}
		isKey := false
		if n := len(stack); n > 0 && stack[n-1].isMap && stack[n-1].left%2 == 0 {
			isKey = true
		}
		start := off
		ib := data[off]
		major, ai := ib>>5, ib&31
		off++
		if major == 7 {
			if isKey {
				return malformed("map key is not a text string")
			}
			switch ai {
			case 20, 21, 22: // false, true, null
			case 27:
				if len(data)-off < 8 {
					return malformed("unexpected end of data")
				}
				bits := uint64(data[off])<<56 | uint64(data[off+1])<<48 | uint64(data[off+2])<<40 | uint64(data[off+3])<<32 |
					uint64(data[off+4])<<24 | uint64(data[off+5])<<16 | uint64(data[off+6])<<8 | uint64(data[off+7])
				if f := math.Float64frombits(bits); math.IsNaN(f) || math.IsInf(f, 0) {
					return malformed("floating-point NaN and infinities are not allowed")
				}
				off += 8
			case 23, 25, 26:
				return malformed("not the canonical encoding")
			case 31:
				return malformed("unexpected break")
			default:
				return malformed("simple value %d is not allowed in DAG-CBOR", ai)
			}
			wantKind = false
		} else {
			var val uint64
			switch {
			case ai < 24:
				val = uint64(ai)
			case ai <= 27:
				n := 1 << (ai - 24)
				if len(data)-off < n {
					return malformed("unexpected end of data")
				}
				for _, b := range data[off : off+n] {
					val = val<<8 | uint64(b)
				}
				off += n
				if (n == 1 && val < 24) || (n > 1 && val < 1<<(4*n)) {
					return malformed("not the canonical encoding")
				}
			case ai == 31:
				return malformed("indefinite-length items are not allowed")
			default:
				return malformed("invalid additional information %d", ai)
			}
			if isKey && major != 3 {
				return malformed("map key is not a text string")
			}
			switch major {
			case 0:
			case 1:
				if val > math.MaxInt64 {
					return malformed("negative integer out of the int64 range")
				}
			case 2, 3:
				if val > uint64(len(data)-off) {
					return malformed("unexpected end of data")
				}
				s := data[off : off+int(val)]
				off += int(val)
				if major == 3 {
					if !utf8.Valid(s) {
						return malformed("invalid UTF-8 text")
					}
					if wantKind {
						*kind = string(s)
					}
				}
				if isKey {
					top := &stack[len(stack)-1]
					k := data[start:off]
					if top.prevKey != nil {
						switch {
						case len(k) == len(top.prevKey) && bytes.Equal(k, top.prevKey):
							return malformed("duplicate map key %q", s)
						case len(k) < len(top.prevKey) || (len(k) == len(top.prevKey) && bytes.Compare(k, top.prevKey) < 0):
							return malformed("not the canonical encoding")
						}
					}
					top.prevKey = k
					wantKind = kind != nil && len(stack) == 1 && string(s) == fieldKind
					top.left--
					continue // the value follows
				}
			case 4, 5:
				if len(stack) >= MaxNesting {
					return malformed("nesting deeper than %d levels", MaxNesting)
				}
				items := val
				if major == 4 {
					if val > MaxArrayLen {
						return malformed("array of %d elements exceeds the limit of %d", val, MaxArrayLen)
					}
				} else {
					if val > MaxMapPairs {
						return malformed("map of %d pairs exceeds the limit of %d", val, MaxMapPairs)
					}
					items = 2 * val
				}
				if items > uint64(len(data)-off) {
					return malformed("unexpected end of data")
				}
				if items > 0 {
					stack = append(stack, scanLevel{left: items, isMap: major == 5})
					wantKind = false
					continue
				}
			case 6:
				if val != linkTag {
					return malformed("CBOR tag %d (only 42 is allowed)", val)
				}
				// The content: a byte string, 0x00 and CID bytes.
				if off >= len(data) || data[off]>>5 != 2 {
					return malformed("tag 42 content is not 0x00 followed by CID bytes")
				}
				cb := data[off] & 31
				off++
				var n uint64
				switch {
				case cb < 24:
					n = uint64(cb)
				case cb <= 27:
					k := 1 << (cb - 24)
					if len(data)-off < k {
						return malformed("unexpected end of data")
					}
					for _, b := range data[off : off+k] {
						n = n<<8 | uint64(b)
					}
					off += k
					if (k == 1 && n < 24) || (k > 1 && n < 1<<(4*k)) {
						return malformed("not the canonical encoding")
					}
				case cb == 31:
					return malformed("indefinite-length items are not allowed")
				default:
					return malformed("invalid additional information %d", cb)
				}
				if n > uint64(len(data)-off) {
					return malformed("unexpected end of data")
				}
				b := data[off : off+int(n)]
				off += int(n)
				if len(b) < 2 || b[0] != 0 {
					return malformed("tag 42 content is not 0x00 followed by CID bytes")
				}
				c, err := cid.Cast(b[1:])
				if err != nil {
					return malformed("bad CID in link: %v", err)
				}
				if visit != nil {
					visit(c)
				}
			}
			wantKind = false
		}
		// An item ended: close the containers it completes.
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			top.left--
			if top.left > 0 {
				break
			}
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			if off != len(data) {
				return malformed("%d bytes of extraneous data after the item", len(data)-off)
			}
			return nil
		}
	}
}
