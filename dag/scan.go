package dag

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

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

// ---- one-pass typed decoding of blocks ----

// fastMaxDepth bounds the nesting fastReader follows; deeper blocks go
// to the general decoder, whose limits (MaxNesting) are the ones that
// count.
const fastMaxDepth = 512

// fastReader decodes a term or type block straight from its bytes into
// its typed form, in one pass that also checks that the bytes are the
// canonical encoding, that the block is of unode's schema, and collects
// its links. It accepts a subset of what the general path (generic
// decoding, typed decoding, canonical re-encoding; schema.go) accepts:
// blocks exactly as this package writes them, with every link to a
// supported CID and no chunked literal. Anything else makes it give up
// (ok false) without saying why, and the caller runs the general path,
// which decides and names the error. FuzzFastBlock checks that whatever
// it accepts the general path accepts too, decoded alike.
type fastReader struct {
	data  []byte
	off   int
	depth int
	links []cid.Cid
	// cidRoom is where link puts the bytes of the CIDs it makes.
	cidRoom []byte
	bad     bool
	// names collects, when collect is set, the builtins the block's
	// terms name, read as they are decoded (fastBlockScan).
	names   fastNames
	collect bool

	// Nodes come from small arrays, a few allocations for the block
	// rather than one per node: a block's terms live and die together
	// (a TermBlock, cached whole).
	vars     slab[Var]
	refs     slab[Ref]
	builtins slab[Builtin]
	ints     slab[Int]
	floats   slab[Float]
	texts    slab[Text]
	lams     slab[Lam]
	apps     slab[App]
	lets     slab[Let]
	ifs      slab[If]
	matches  slab[Match]
	ctors    slab[Ctor]
	pctors   slab[PCtor]
	plits    slab[PLit]
	lists    slab[List]
	termBuf  buf[Term]
	armBuf   buf[Arm]
	patBuf   buf[Pattern]
	// arenaBlock and arenaMembers, from an arena, are where a block of
	// one definition goes; nil for a block without one.
	arenaBlock   *TermBlock
	arenaMembers []Term
}

// fastArena is the first room of a block's slabs and buffers, in one
// allocation instead of one each: about what a definition of a few
// lines (local bindings, an if or two, a match on an int or on a
// constructor, a dozen calls of builtins, a few Float literals) takes,
// within the 2 KB size class (TestFastArenaSizes). Its nodes live and
// die with the block, as the slabs' do: the arena belongs to one block
// (a message's blocks do not share one, so a cached definition keeps
// only its own). Smaller blocks take a smaller arena (fastArenaMid,
// fastArenaSmall, fastArenaTiny), and the smallest none, so that a one-line
// definition does not take a room it cannot fill; what a block needs
// beyond its arena comes from the slabs' own arrays.
type fastArena struct {
	vars     [10]Var
	refs     [2]Ref
	builtins [12]Builtin
	ints     [10]Int
	floats   [4]Float
	texts    [1]Text
	lams     [2]Lam
	apps     [12]App
	lets     [3]Let
	ifs      [2]If
	matches  [1]Match
	plits    [1]PLit
	pctors   [2]PCtor
	lists    [1]List
	terms    [24]Term
	arms     [4]Arm
	pats     [4]Pattern
	block    TermBlock
	members  [1]Term
	// links is the first room of the block's links (a definition calls
	// one or two others), kept with it as the block's scan is: within
	// the arena's size class (2 KB), no allocation of their own.
	links [2]cid.Cid
}

// fastArenaMinBlock is the size from which a block is decoded into a
// fastArena: the room it holds takes about 400 bytes of block to use.
const fastArenaMinBlock = 384

// fastArenaMid is fastArena for a block of fastMidArenaMinBlock to
// fastArenaMinBlock bytes: what a definition of about 300 bytes takes
// (three local bindings, two ifs, a match on ints, a dozen calls of
// builtins, a text, a list, a call of another definition: the cold
// sync's typical one), within the 1792-byte size class.
type fastArenaMid struct {
	vars     [10]Var
	refs     [1]Ref
	builtins [11]Builtin
	ints     [10]Int
	floats   [2]Float
	texts    [1]Text
	lams     [1]Lam
	apps     [12]App
	lets     [3]Let
	ifs      [2]If
	matches  [1]Match
	plits    [1]PLit
	pctors   [1]PCtor
	lists    [1]List
	terms    [24]Term
	arms     [2]Arm
	pats     [2]Pattern
	block    TermBlock
	members  [1]Term
	links    [1]cid.Cid
}

const fastMidArenaMinBlock = 256

// useMidArena is useArena for a fastArenaMid.
func (r *fastReader) useMidArena(a *fastArenaMid) {
	r.arenaBlock, r.arenaMembers = &a.block, a.members[:]
	r.links = a.links[:0]
	r.vars.use(a.vars[:])
	r.refs.use(a.refs[:])
	r.builtins.use(a.builtins[:])
	r.ints.use(a.ints[:])
	r.floats.use(a.floats[:])
	r.texts.use(a.texts[:])
	r.lams.use(a.lams[:])
	r.apps.use(a.apps[:])
	r.lets.use(a.lets[:])
	r.ifs.use(a.ifs[:])
	r.matches.use(a.matches[:])
	r.plits.use(a.plits[:])
	r.pctors.use(a.pctors[:])
	r.lists.use(a.lists[:])
	r.termBuf.room = a.terms[:]
	r.armBuf.room = a.arms[:]
	r.patBuf.room = a.pats[:]
}

// fastArenaSmall is fastArena for a block of fastSmallArenaMinBlock to
// fastMidArenaMinBlock bytes (a two-line definition: an if, a match, a
// few calls), about 900 bytes.
type fastArenaSmall struct {
	vars     [6]Var
	refs     [1]Ref
	builtins [6]Builtin
	ints     [8]Int
	lams     [1]Lam
	apps     [6]App
	ifs      [1]If
	matches  [1]Match
	plits    [1]PLit
	terms    [12]Term
	arms     [2]Arm
	block    TermBlock
	members  [1]Term
	links    [1]cid.Cid
}

const fastSmallArenaMinBlock = 192

// fastArenaTiny is fastArena for a block of fastTinyArenaMinBlock to
// fastSmallArenaMinBlock bytes: what the cold sync's small definition
// (an if, a match on a call of another definition, three calls of
// builtins; about 170 bytes) takes, and no more, within the 768-byte
// size class (TestFastArenaSizes): such a block in fastArenaSmall left
// a quarter of it unused.
type fastArenaTiny struct {
	vars     [4]Var
	refs     [1]Ref
	builtins [4]Builtin
	ints     [6]Int
	lams     [1]Lam
	apps     [5]App
	ifs      [1]If
	matches  [1]Match
	plits    [1]PLit
	terms    [9]Term
	arms     [2]Arm
	block    TermBlock
	members  [1]Term
	links    [1]cid.Cid
}

const fastTinyArenaMinBlock = 128

// useTinyArena is useArena for a fastArenaTiny.
func (r *fastReader) useTinyArena(a *fastArenaTiny) {
	r.vars.use(a.vars[:])
	r.refs.use(a.refs[:])
	r.builtins.use(a.builtins[:])
	r.ints.use(a.ints[:])
	r.lams.use(a.lams[:])
	r.apps.use(a.apps[:])
	r.ifs.use(a.ifs[:])
	r.matches.use(a.matches[:])
	r.plits.use(a.plits[:])
	r.termBuf.room = a.terms[:]
	r.armBuf.room = a.arms[:]
	r.arenaBlock, r.arenaMembers = &a.block, a.members[:]
	r.links = a.links[:0]
}

// useSmallArena is useArena for a fastArenaSmall.
func (r *fastReader) useSmallArena(a *fastArenaSmall) {
	r.vars.use(a.vars[:])
	r.refs.use(a.refs[:])
	r.builtins.use(a.builtins[:])
	r.ints.use(a.ints[:])
	r.lams.use(a.lams[:])
	r.apps.use(a.apps[:])
	r.ifs.use(a.ifs[:])
	r.matches.use(a.matches[:])
	r.plits.use(a.plits[:])
	r.termBuf.room = a.terms[:]
	r.armBuf.room = a.arms[:]
	r.arenaBlock, r.arenaMembers = &a.block, a.members[:]
	r.links = a.links[:0]
}

// useArena makes a the first room of r's slabs and buffers.
func (r *fastReader) useArena(a *fastArena) {
	r.arenaBlock, r.arenaMembers = &a.block, a.members[:]
	r.links = a.links[:0]
	r.vars.use(a.vars[:])
	r.refs.use(a.refs[:])
	r.builtins.use(a.builtins[:])
	r.ints.use(a.ints[:])
	r.floats.use(a.floats[:])
	r.texts.use(a.texts[:])
	r.lams.use(a.lams[:])
	r.apps.use(a.apps[:])
	r.lets.use(a.lets[:])
	r.ifs.use(a.ifs[:])
	r.matches.use(a.matches[:])
	r.plits.use(a.plits[:])
	r.pctors.use(a.pctors[:])
	r.lists.use(a.lists[:])
	r.termBuf.room = a.terms[:]
	r.armBuf.room = a.arms[:]
	r.patBuf.room = a.pats[:]
}

// slab hands out pointers into arrays it allocates, each twice the last
// (up to 64 values). It counts what it has handed out of its array
// rather than moving a slice along it: a node then costs no pointer
// written (and no write barrier while the collector runs).
type slab[T any] struct {
	room []T
	used int
}

// use makes room the slab's first array.
func (s *slab[T]) use(room []T) { s.room, s.used = room, 0 }

func (s *slab[T]) new() *T {
	if s.used == len(s.room) {
		s.room, s.used = make([]T, min(max(2*len(s.room), 4), 64)), 0
	}
	p := &s.room[s.used]
	s.used++
	return p
}

// buf is where take cuts slices from: room, of which used is taken.
type buf[T any] struct {
	room []T
	used int
}

// take returns a slice of n (its capacity n: appending copies) from b,
// refilled with room for at least n and, like a slab, twice the last
// room (4 at first, up to 32): a typical block has one or two match
// expressions and a dozen arguments, and what is allocated lives as
// long as the block is cached.
func take[T any](b *buf[T], n int) []T {
	if n == 0 {
		return []T{} // empty, not nil, as the general path decodes it
	}
	if len(b.room)-b.used < n {
		b.room, b.used = make([]T, max(n, min(max(2*len(b.room), 4), 32))), 0
	}
	l := b.used
	b.used += n
	return b.room[l : l+n : l+n]
}

// fail marks the block as one for the general path.
func (r *fastReader) fail() { r.bad = true }

// head reads an item's initial byte and argument in their shortest form
// (not major type 7). It returns major 8 on failure.
func (r *fastReader) head() (byte, uint64) {
	if ib, ok := r.short(); ok {
		return ib >> 5, uint64(ib & 31)
	}
	return r.headLong()
}

// short reads an item whose argument is in its initial byte (below 24,
// not major type 7): most of a block's items (tags, indices, small ints,
// short strings and arrays). It returns the initial byte and true, or
// reads nothing and returns false, for the caller to read the item with
// headLong. Small enough to be inlined, so that those items cost no
// call.
func (r *fastReader) short() (byte, bool) {
	if r.off < len(r.data) && !r.bad {
		if ib := r.data[r.off]; ib&31 < 24 && ib < 7<<5 {
			r.off++
			return ib, true
		}
	}
	return 0, false
}

// headLong is head without short's case first: every form, and
// failures.
func (r *fastReader) headLong() (byte, uint64) {
	if r.bad || r.off >= len(r.data) {
		r.fail()
		return 8, 0
	}
	ib := r.data[r.off]
	major, ai := ib>>5, ib&31
	r.off++
	if major == 7 {
		r.fail()
		return 8, 0
	}
	switch {
	case ai < 24:
		return major, uint64(ai)
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(r.data)-r.off < n {
			r.fail()
			return 8, 0
		}
		var val uint64
		for _, b := range r.data[r.off : r.off+n] {
			val = val<<8 | uint64(b)
		}
		r.off += n
		if (n == 1 && val < 24) || (n > 1 && val < 1<<(4*n)) {
			r.fail()
			return 8, 0
		}
		return major, val
	}
	r.fail()
	return 8, 0
}

// count reads a non-negative int (an index, an arity, a member). Small
// enough to be inlined: most are below 24, one byte.
func (r *fastReader) count() int {
	if r.off < len(r.data) && !r.bad {
		if ib := r.data[r.off]; ib < 24 {
			r.off++
			return int(ib)
		}
	}
	return r.countLong()
}

// countLong is count without its first case.
func (r *fastReader) countLong() int {
	if ib, ok := r.short(); ok {
		if ib >= 24 { // not major type 0
			r.fail()
			return 0
		}
		return int(ib)
	}
	major, v := r.headLong()
	if major != 0 || v > math.MaxInt64 || v > math.MaxInt {
		r.fail()
		return 0
	}
	return int(v)
}

// int64v reads any int64.
func (r *fastReader) int64v() int64 {
	major, v := r.head()
	if (major != 0 && major != 1) || v > math.MaxInt64 {
		r.fail()
		return 0
	}
	if major == 1 {
		return -1 - int64(v)
	}
	return int64(v)
}

// strBytes reads a string of major type major (2 or 3) and returns its
// bytes, which alias the input, without checking a text's encoding.
func (r *fastReader) strBytes(major byte) []byte {
	m, n := byte(8), uint64(0)
	if ib, ok := r.short(); ok {
		m, n = ib>>5, uint64(ib&31)
	} else {
		m, n = r.headLong()
	}
	if m != major || n > uint64(len(r.data)-r.off) {
		r.fail()
		return nil
	}
	s := r.data[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// str reads a text (major 3) or byte string (major 2) and returns its
// bytes, which alias the input.
func (r *fastReader) str(major byte) []byte {
	s := r.strBytes(major)
	if major == 3 && !utf8.Valid(s) {
		r.fail()
		return nil
	}
	return s
}

// text reads a text string.
func (r *fastReader) text() string { return string(r.str(3)) }

// name reads a builtin's name (of a term or a type), interned
// (builtinNames). A name the table holds is valid UTF-8 (it was checked
// before it went in): only one it does not hold is checked.
func (r *fastReader) name() string {
	b := r.strBytes(3)
	if s, ok := lookupName(b); ok {
		return s
	}
	if !utf8.Valid(b) {
		r.fail()
		return ""
	}
	return internName(b)
}

// builtinNames holds names of builtins the one-pass decoder has read: a
// block names a dozen builtins, the same few dozen across a codebase,
// and each would otherwise be a string of its own. It is a fixed table,
// two slots for each hash of a name (two names of one hash both stay;
// a third replaces one of them), so a peer sending many names costs
// only misses, and the table never grows.
var builtinNames [1 << builtinNamesBits][2]atomic.Pointer[string]

const builtinNamesBits = 8

// maxInternedName bounds the names builtinNames keeps: builtins' names
// are short, and a long one is a string of its own.
const maxInternedName = 48

// internName returns b as a string, interned when it is short enough.
// b must be valid UTF-8 (every name in the table is: see name).
func internName(b []byte) string {
	if len(b) > maxInternedName {
		return string(b)
	}
	set, h := nameSlots(b)
	var free *atomic.Pointer[string]
	for i := range set {
		p := set[i].Load()
		if p != nil && *p == string(b) {
			return *p
		}
		if p == nil && free == nil {
			free = &set[i]
		}
	}
	if free == nil {
		free = &set[h>>(63-builtinNamesBits)&1] // a bit the set's index does not use
	}
	s := string(b)
	free.Store(&s)
	return s
}

// lookupName returns the interned name b, if the table holds it.
func lookupName(b []byte) (string, bool) {
	if len(b) > maxInternedName {
		return "", false
	}
	set, _ := nameSlots(b)
	for i := range set {
		if p := set[i].Load(); p != nil && *p == string(b) {
			return *p, true
		}
	}
	return "", false
}

// nameSlots is b's slots in builtinNames, and its hash: of its length
// and its first and last 8 bytes (two loads, not a step a byte: a
// block's dozen names each take it).
func nameSlots(b []byte) (*[2]atomic.Pointer[string], uint64) {
	const mul = nameHashMul
	var h uint64
	if len(b) >= 8 {
		h = binary.LittleEndian.Uint64(b) ^ binary.LittleEndian.Uint64(b[len(b)-8:])*mul
	} else {
		for _, x := range b {
			h = h<<8 | uint64(x)
		}
	}
	h = (h ^ uint64(len(b))) * mul
	return &builtinNames[h>>(64-builtinNamesBits)], h
}

// nameHashMul is nameSlots' multiplier (nameSlotsKey's too).
const nameHashMul = 0x9e3779b97f4a7c15

// key reads a map key and requires it to be k.
func (r *fastReader) key(k string) {
	// Bytes equal to k are valid UTF-8 (k is); others fail anyway.
	if s := r.strBytes(3); string(s) != k {
		r.fail()
	}
}

// array reads an array's head: its length, and one more level of
// nesting the caller leaves with r.leave.
func (r *fastReader) array() int { return r.container(4) }

// mapOf reads a map's head and requires n pairs.
func (r *fastReader) mapOf(n int) {
	if r.container(5) != n {
		r.fail()
	}
}

func (r *fastReader) container(major byte) int {
	m, n := byte(8), uint64(0)
	if ib, ok := r.short(); ok {
		m, n = ib>>5, uint64(ib&31)
	} else {
		m, n = r.headLong()
	}
	// Every element takes at least a byte (a map's pairs two).
	if m != major || n > MaxArrayLen || n > uint64(len(r.data)-r.off) {
		r.fail()
		return 0
	}
	r.depth++
	if r.depth > fastMaxDepth {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *fastReader) leave() { r.depth-- }

// canonicalLinkHead is how this package writes a link to a supported
// CID: tag 42, a 37-byte string, 0x00, then CIDv1 dag-cbor sha2-256 of
// 32 bytes.
var canonicalLinkHead = []byte{0xd8, linkTag, 0x58, 37, 0x00, 0x01, 0x71, 0x12, 0x20}

// fastLinkRepeats is how many of a block's links link compares a new
// one with: a definition's links repeat (a type named in each of a
// match's patterns), and a repeated one then costs neither a CID nor a
// place in the links; past that many distinct ones (a block made to link
// many) the rest are kept as they come, so the work stays linear, and
// sortedUnique leaves out their repeats.
const fastLinkRepeats = 8

// link reads a link to a supported CID.
func (r *fastReader) link() cid.Cid {
	const n = 9 + 32
	if r.bad || len(r.data)-r.off < n || !bytes.Equal(r.data[r.off:r.off+9], canonicalLinkHead) {
		r.fail()
		return cid.Undef
	}
	b := r.data[r.off+5 : r.off+n]
	for _, c := range r.links[:min(len(r.links), fastLinkRepeats)] {
		if c.KeyString() == string(b) {
			r.off += n
			return c
		}
	}
	if len(r.cidRoom) < len(b) {
		// Room for the links still to come, up to fastCIDRoom: one
		// allocation for a definition's few, and a CID kept after its
		// block is dropped keeps at most that room with it. Every link
		// to come starts with a 0xd8 (this one counted): counting those
		// bytes is quick and never too few.
		k := min(bytes.Count(r.data[r.off:], canonicalLinkHead[:1]), fastCIDRoom)
		r.cidRoom = make([]byte, k*len(b))
	}
	room := r.cidRoom[:len(b):len(b)]
	r.cidRoom = r.cidRoom[len(b):]
	copy(room, b)
	r.off += n
	c := canonicalCID(room)
	r.links = append(r.links, c)
	return c
}

// fastCIDRoom is how many CIDs link keeps in one array.
const fastCIDRoom = 4

// canonicalCID is cid.Cast of b, a CIDv1 dag-cbor sha2-256 of 32 bytes
// (canonicalLinkHead's last four bytes and the digest), without its
// parsing: any 32 bytes after that prefix are a valid CID, and a Cid is
// its binary form (KeyString), so b as a string is the CID. b becomes
// the CID's: it must not change after. The compile-time check below
// and TestCanonicalCID hold go-cid to that form.
func canonicalCID(b []byte) cid.Cid {
	s := unsafe.String(unsafe.SliceData(b), len(b))
	return *(*cid.Cid)(unsafe.Pointer(&s))
}

// A Cid is exactly a string (its binary form): canonicalCID's cast.
var _ [unsafe.Sizeof(cid.Cid{})]byte = [unsafe.Sizeof("")]byte{}

// float reads a Float literal's value.
func (r *fastReader) float() float64 {
	if r.bad || r.off >= len(r.data) {
		r.fail()
		return 0
	}
	if r.data[r.off] == 0xfb {
		if len(r.data)-r.off < 9 {
			r.fail()
			return 0
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(r.data[r.off+1:]))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			r.fail()
			return 0
		}
		r.off += 9
		return f
	}
	switch string(r.str(3)) {
	case floatNaN:
		return math.NaN()
	case floatPosInf:
		return math.Inf(1)
	case floatNegInf:
		return math.Inf(-1)
	}
	r.fail()
	return 0
}

// boolean reads false or true.
func (r *fastReader) boolean() bool {
	if r.bad || r.off >= len(r.data) {
		r.fail()
		return false
	}
	switch r.data[r.off] {
	case 0xf4:
		r.off++
		return false
	case 0xf5:
		r.off++
		return true
	}
	r.fail()
	return false
}

// defRef reads [.., link, member]'s two fields.
func (r *fastReader) defRef() DefRef {
	c := r.link()
	return DefRef{CID: c, Member: r.count()}
}

// typeRef reads a builtin type's non-empty name or [link, member].
func (r *fastReader) typeRef() TypeRef {
	if r.bad || r.off >= len(r.data) {
		r.fail()
		return TypeRef{}
	}
	if r.data[r.off]>>5 == 3 {
		name := r.name()
		if name == "" {
			r.fail()
		}
		return TypeRef{Builtin: name}
	}
	if r.array() != 2 {
		r.fail()
		return TypeRef{}
	}
	d := r.defRef()
	r.leave()
	return TypeRef{Def: d}
}

// terms reads n terms. A Var, a call's most common argument, is read
// here as term reads it, without a call of term.
func (r *fastReader) terms(n int) []Term {
	ts := take(&r.termBuf, n)
	for i := range ts {
		if off := r.off; len(r.data)-off >= 3 && r.data[off] == 0x82 && r.data[off+1] == tagVar && r.data[off+2] < 24 &&
			!r.bad && r.depth < fastMaxDepth {
			r.off = off + 3
			v := r.vars.new()
			v.Index = int(r.data[off+2])
			ts[i] = v
			continue
		}
		if ts[i] = r.term(); ts[i] == nil {
			return nil
		}
	}
	return ts
}

// tagged reads the head of a term's, a pattern's or a type term's array
// and its tag: the array's length (not 0) and the tag. Most are an array
// of fewer than 24 elements and a tag below 24, two bytes read here at
// once, with the checks container and count make; the rest go the long
// way. The caller leaves the array's level (r.leave) and checks r.bad.
func (r *fastReader) tagged() (n, tag int) {
	if off := r.off; len(r.data)-off >= 2 && !r.bad {
		if h, t := r.data[off], r.data[off+1]; h > 0x80 && h < 0x98 && t < 24 &&
			int(h-0x80) < len(r.data)-off && r.depth < fastMaxDepth {
			r.off = off + 2
			r.depth++
			return int(h - 0x80), int(t)
		}
	}
	if n = r.array(); n == 0 {
		r.fail()
		return 0, 0
	}
	return n, r.count()
}

// term reads one term; nil when the block is for the general path.
func (r *fastReader) term() Term {
	var n, tag int
	if off := r.off; len(r.data)-off >= 3 && !r.bad && r.depth < fastMaxDepth {
		h, x := r.data[off], r.data[off+2]
		// Leaves first: a Var, an Int of one byte and a Builtin are two
		// elements (0x82), their tag and a value in one byte (a name's
		// head): half of a definition's nodes. They are read here
		// without the switch below and the checks after it; what the
		// long way would refuse (a longer form) is left to it.
		switch t := r.data[off+1]; {
		case h == 0x82 && t == tagVar && x < 24:
			r.off = off + 3
			v := r.vars.new()
			v.Index = int(x)
			return v
		case h == 0x82 && t == tagInt && x < 0x40 && x&31 < 24: // major type 0 or 1, in its first byte
			r.off = off + 3
			v := r.ints.new()
			if v.V = int64(x); x >= 0x20 {
				v.V = -1 - int64(x&31)
			}
			return v
		case h == 0x82 && t == tagBuiltin:
			r.off = off + 2
			name := r.builtinName()
			if r.bad {
				return nil
			}
			v := r.builtins.new()
			v.Name = name
			return v
		case h > 0x80 && h < 0x98 && t < 24 && int(h-0x80) < len(r.data)-off:
			// tagged's common case, here without a call.
			r.off = off + 2
			r.depth++
			n, tag = int(h-0x80), int(t)
		default:
			n, tag = r.tagged()
		}
	} else {
		n, tag = r.tagged()
	}
	if r.bad {
		return nil
	}
	var t Term
	switch tag {
	case tagVar:
		if n == 2 {
			v := r.vars.new()
			v.Index = r.count()
			t = v
		}
	case tagRef:
		if n == 3 {
			v := r.refs.new()
			v.Def = r.defRef()
			t = v
		}
	case tagSelf:
		if n == 2 {
			t = &Self{Member: r.count()}
		}
	case tagBuiltin:
		if n == 2 {
			name := r.builtinName()
			v := r.builtins.new()
			v.Name = name
			t = v
		}
	case tagCtor:
		if n == 4 {
			v := r.ctors.new()
			v.Type = r.typeRef()
			v.Index = r.count()
			v.Arity = r.count()
			t = v
		}
	case tagInt:
		if n == 2 {
			v := r.ints.new()
			v.V = r.int64v()
			t = v
		}
	case tagFloat:
		if n == 2 {
			v := r.floats.new()
			v.V = r.float()
			t = v
		}
	case tagText:
		if n == 2 {
			v := r.texts.new()
			v.V = r.text()
			t = v
		}
	case tagBool:
		if n == 2 {
			t = &Bool{V: r.boolean()}
		}
	case tagBytes:
		if n == 2 {
			t = &Bytes{V: append([]byte{}, r.str(2)...)}
		}
	case tagUnit:
		if n == 1 {
			t = &Unit{}
		}
	case tagLam:
		if n == 3 {
			arity := r.count()
			if arity < 1 {
				r.fail()
			}
			v := r.lams.new()
			v.Arity = arity
			v.Body = r.term()
			t = v
		}
	case tagApp:
		if n >= 3 {
			v := r.apps.new()
			if off := r.off; len(r.data)-off >= 3 && r.data[off] == 0x82 && r.data[off+1] == tagBuiltin && r.depth < fastMaxDepth {
				// A call of a builtin (most calls) read as term reads it,
				// without a call of term.
				r.off = off + 2
				name := r.builtinName()
				f := r.builtins.new()
				f.Name = name
				v.Fn = f
			} else {
				v.Fn = r.term()
			}
			v.Args = r.terms(n - 2)
			t = v
		}
	case tagLet:
		if n == 3 {
			v := r.lets.new()
			v.Value = r.term()
			v.Body = r.term()
			t = v
		}
	case tagLetRec:
		if n == 3 {
			v := r.term()
			if _, ok := v.(*Lam); !ok {
				r.fail()
			}
			t = &LetRec{Value: v, Body: r.term()}
		}
	case tagIf:
		if n == 4 {
			v := r.ifs.new()
			v.Cond = r.term()
			v.Then = r.term()
			v.Else = r.term()
			t = v
		}
	case tagMatch:
		if n >= 2 && n%2 == 0 {
			m := r.matches.new()
			m.Scrutinee = r.term()
			m.Arms = take(&r.armBuf, (n-2)/2)[:0]
			for i := 2; i < n && !r.bad; i += 2 {
				p := r.pattern()
				m.Arms = append(m.Arms, Arm{Pat: p, Body: r.term()})
			}
			t = m
		}
	case tagTuple:
		if n >= 3 {
			t = &Tuple{Elems: r.terms(n - 1)}
		}
	case tagList:
		v := r.lists.new()
		v.Elems = r.terms(n - 1)
		t = v
	case tagDelay:
		if n == 2 {
			t = &Delay{Body: r.term()}
		}
	case tagForce:
		if n == 2 {
			t = &Force{X: r.term()}
		}
	}
	// t is nil for chunked literals, and anything malformed.
	r.leave()
	if r.bad || t == nil {
		r.fail()
		return nil
	}
	return t
}

// patterns reads n patterns.
func (r *fastReader) patterns(n int) []Pattern {
	ps := take(&r.patBuf, n)
	for i := range ps {
		if ps[i] = r.pattern(); ps[i] == nil {
			return nil
		}
	}
	return ps
}

func (r *fastReader) pattern() Pattern {
	n, tag := r.tagged()
	if r.bad {
		return nil
	}
	var p Pattern
	switch {
	case tag == ptagVar && n == 1:
		p = &PVar{}
	case tag == ptagWild && n == 1:
		p = &PWild{}
	case tag == ptagLit && n == 2:
		l := r.term()
		if !isLiteral(l) {
			r.fail()
		}
		v := r.plits.new()
		v.Lit = l
		p = v
	case tag == ptagCtor && n >= 3:
		v := r.pctors.new()
		v.Type = r.typeRef()
		v.Index = r.count()
		v.Args = r.patterns(n - 3)
		p = v
	case tag == ptagTuple:
		p = &PTuple{Elems: r.patterns(n - 1)}
	case tag == ptagList:
		p = &PList{Elems: r.patterns(n - 1)}
	case tag == ptagCons && n == 3:
		h := r.pattern()
		p = &PCons{Head: h, Tail: r.pattern()}
	default:
		r.fail()
	}
	r.leave()
	if r.bad {
		return nil
	}
	return p
}

// typeTerms reads n type terms.
func (r *fastReader) typeTerms(n int) []TypeTerm {
	ts := make([]TypeTerm, n)
	for i := range ts {
		if ts[i] = r.typeTerm(); ts[i] == nil {
			return nil
		}
	}
	return ts
}

func (r *fastReader) typeTerm() TypeTerm {
	n, tag := r.tagged()
	if r.bad {
		return nil
	}
	var t TypeTerm
	switch {
	case tag == ttagVar && n == 2:
		t = &TVar{Index: r.count()}
	case tag == ttagRef && n == 3:
		t = &TRef{Def: r.defRef()}
	case tag == ttagSelf && n == 2:
		t = &TSelf{Member: r.count()}
	case tag == ttagBuiltin && n == 2:
		name := r.name()
		if name == "" {
			r.fail()
		}
		t = &TBuiltin{Name: name}
	case tag == ttagApp && n >= 3:
		if ts := r.typeTerms(n - 1); ts != nil {
			t = &TApp{Fn: ts[0], Args: ts[1:]}
		}
	case tag == ttagFun && n == 3:
		a := r.typeTerm()
		t = &TFun{Arg: a, Res: r.typeTerm()}
	case tag == ttagTuple:
		t = &TTuple{Elems: r.typeTerms(n - 1)}
	default:
		r.fail()
	}
	r.leave()
	if r.bad {
		return nil
	}
	return t
}

// block reads a whole term or type block: *TermBlock or *TypeBlock.
func (r *fastReader) block() any {
	if len(r.data) > MaxBlockSize {
		r.fail()
		return nil
	}
	// {"kind": ..., "unode": 1, "members": [...]}, keys in canonical
	// (length-first) order.
	r.mapOf(3)
	r.key(fieldKind)
	kind := r.str(3)
	r.key(fieldVersion)
	if r.count() != formatVersion {
		r.fail()
	}
	r.key(fieldMembers)
	n := r.array()
	if n == 0 || r.bad {
		r.fail()
		return nil
	}
	var out any
	switch string(kind) {
	case TermBlockKind:
		switch {
		case len(r.data) >= fastArenaMinBlock:
			r.useArena(new(fastArena))
		case len(r.data) >= fastMidArenaMinBlock:
			r.useMidArena(new(fastArenaMid))
		case len(r.data) >= fastSmallArenaMinBlock:
			r.useSmallArena(new(fastArenaSmall))
		case len(r.data) >= fastTinyArenaMinBlock:
			r.useTinyArena(new(fastArenaTiny))
		}
		var b *TermBlock
		if r.arenaBlock != nil && n <= len(r.arenaMembers) {
			b = r.arenaBlock
			b.Members = r.arenaMembers[:n:n]
		} else {
			b = &TermBlock{Members: make([]Term, n)}
		}
		for i := range b.Members {
			r.mapOf(1)
			r.key(fieldTerm)
			if b.Members[i] = r.term(); b.Members[i] == nil {
				return nil
			}
			r.leave()
		}
		out = b
	case TypeBlockKind:
		b := &TypeBlock{Members: make([]*DataDecl, n)}
		for i := range b.Members {
			// {"ctors": [[type term, ...], ...], "params": n}
			r.mapOf(2)
			r.key(fieldCtors)
			nc := r.array()
			d := &DataDecl{Ctors: make([][]TypeTerm, nc)}
			for j := range d.Ctors {
				nf := r.array()
				if r.bad {
					return nil
				}
				if d.Ctors[j] = r.typeTerms(nf); d.Ctors[j] == nil {
					return nil
				}
				r.leave()
			}
			r.leave()
			r.key(fieldParams)
			d.Params = r.count()
			r.leave()
			if r.bad {
				return nil
			}
			b.Members[i] = d
		}
		out = b
	default:
		r.fail()
	}
	r.leave() // members
	r.leave() // the envelope
	if r.bad || r.off != len(r.data) {
		return nil
	}
	return out
}

// fastBlock decodes a term or type block in one pass (fastReader): the
// block (*TermBlock or *TypeBlock) and its links, sorted, each once. ok
// false means only that the general path must decide.
func fastBlock(data []byte) (_ any, links []cid.Cid, ok bool) {
	r := fastReader{data: data}
	b := r.block()
	if b == nil {
		return nil, nil, false
	}
	// Clipped: the links may share the arena, and an append must not
	// write into it.
	return b, slices.Clip(sortedUnique(r.links)), true
}

// fastBlockScan is fastBlock, with the builtins a term block's terms
// name collected on the way (sorted, each once, not nil; nil for a type
// block), as StoredScan.Builtins lists them: ScanStored need not walk
// the decoded block for them.
func fastBlockScan(data []byte) (_ any, links []cid.Cid, builtins []string, ok bool) {
	r := fastReader{data: data, collect: true}
	b := r.block()
	if b == nil {
		return nil, nil, nil, false
	}
	if _, term := b.(*TermBlock); term {
		builtins = r.names.sorted()
	}
	return b, slices.Clip(sortedUnique(r.links)), builtins, true
}
