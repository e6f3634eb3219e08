package dag

import (
	"encoding/binary"
	"math"
	"slices"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// fastNamesRoom is how many distinct builtins fastNames holds in place:
// a definition names a handful (a typical one of the cold sync's, seven
// in a dozen calls).
const fastNamesRoom = 16

// fastNames collects the builtins a block's terms name, each once, as
// the one-pass decoder reads them (fastBlockScan). The first
// fastNamesRoom live in the reader itself, on the decoder's stack: they
// are compared, and sorted at the end, where writing a string costs no
// write barrier, and only the result is allocated, at its size. Past
// that room (a block made to name many) a builtinWalker takes over, so
// the work stays linear in the block.
type fastNames struct {
	room [fastNamesRoom]string
	// keys are the names' first 8 bytes, big-endian, zero-padded: two
	// names whose keys differ are in the keys' order (see sorted).
	keys [fastNamesRoom]uint64
	n    int
	more *builtinWalker
}

func (c *fastNames) add(name string) {
	k := builtinKey(name)
	if _, ok := c.find(name, k); !ok {
		c.addNew(name, k)
	}
}

// find returns the name in the room equal to b, of key k (builtinKey).
// Keys first: a number compared rules most names out without a call.
// The room holds the block's first fastNamesRoom names also after more
// took over (more holds them too), so a name found is one collected.
func find[T string | []byte](c *fastNames, b T, k uint64) (string, bool) {
	for i := range c.n {
		// Equal keys and lengths: a name of up to 8 bytes is equal
		// (its key is its bytes); a longer one compares the rest.
		if c.keys[i] == k {
			if s := c.room[i]; len(s) == len(b) && (len(b) <= 8 || s[8:] == string(b[8:])) {
				return s, true
			}
		}
	}
	return "", false
}

func (c *fastNames) find(name string, k uint64) (string, bool) { return find(c, name, k) }

// addNew adds name, of key k, which find did not find.
func (c *fastNames) addNew(name string, k uint64) {
	if c.more != nil {
		c.more.add(name)
		return
	}
	if c.n == len(c.room) {
		c.more = &builtinWalker{names: make([]string, 0, 2*len(c.room))}
		for _, s := range c.room {
			c.more.add(s)
		}
		c.more.add(name)
		return
	}
	c.room[c.n] = name
	c.keys[c.n] = k
	c.n++
}

// builtinKey is name's first 8 bytes as a big-endian number, zero-padded.
// Keys compare as the names do where they differ: at the first byte
// they differ in, either both names have that byte or the shorter one
// (a prefix of the other, so first) has the padding's 0, below the
// other's byte or equal to it (then the keys are equal).
func builtinKey[T string | []byte](name T) uint64 {
	if len(name) >= 8 {
		return uint64(name[0])<<56 | uint64(name[1])<<48 | uint64(name[2])<<40 | uint64(name[3])<<32 |
			uint64(name[4])<<24 | uint64(name[5])<<16 | uint64(name[6])<<8 | uint64(name[7])
	}
	var k uint64
	for i := range 8 {
		k <<= 8
		if i < len(name) {
			k |= uint64(name[i])
		}
	}
	return k
}

// sorted returns the names, sorted, not nil.
func (c *fastNames) sorted() []string {
	if c.more != nil {
		slices.Sort(c.more.names)
		return c.more.names
	}
	// An insertion sort of the names' places, by key and, where keys
	// are equal, by name: a few numbers compared and moved, not strings.
	var order [fastNamesRoom]uint8
	for i := range c.n {
		j := i
		for ; j > 0; j-- {
			p := order[j-1]
			if c.keys[p] < c.keys[i] || c.keys[p] == c.keys[i] && c.room[p] < c.room[i] {
				break
			}
			order[j] = p
		}
		order[j] = uint8(i)
	}
	if c.n == 0 {
		return []string{}
	}
	// A list already made for another block naming the same builtins
	// (definitions of one codebase name the same few sets) is shared:
	// the lists are read only, as a kept scan's are by every caller of
	// ScanStored.
	h, short := uint64(c.n), true
	for _, p := range order[:c.n] {
		s := c.room[p]
		short = short && len(s) <= maxInternedName
		h = (h ^ c.keys[p] ^ uint64(len(s))<<58) * nameHashMul
	}
	slot := &builtinLists[h>>(64-builtinListsBits)]
	if p := slot.Load(); p != nil && len(*p) == c.n {
		list := unsafe.Slice(p, c.n+1)[1:]
		same := true
		for i, s := range list {
			if s != c.room[order[i]] {
				same = false
				break
			}
		}
		if same {
			return list
		}
	}
	// The list's first string, before those it returns, is its length
	// (listLens' first bytes): a list found in builtinLists says how
	// long it is before any of it is compared.
	out := make([]string, c.n+1)
	out[0] = listLens[:c.n]
	for i := range c.n {
		out[i+1] = c.room[order[i]]
	}
	if short {
		slot.Store(&out[0])
	}
	return out[1:]
}

// builtinLists holds lists of builtins sorted made, each by its first
// string (listLens), for blocks naming the same set to share one: a
// fixed table, one list for each hash of a set, so a peer sending many
// sets costs only misses, and what it keeps is bounded (lists of at
// most fastNamesRoom names, of at most maxInternedName bytes).
var builtinLists [1 << builtinListsBits]atomic.Pointer[string]

const builtinListsBits = 8

// listLens' first n bytes are a list of n names' first string.
const listLens = "................"

// Every list sorted keeps has its length in listLens.
var _ [len(listLens) - fastNamesRoom]struct{}

// builtinName reads a Builtin term's name (name), and collects it when
// r.collect is set. A block names the same few builtins again and
// again (a typical definition, seven in a dozen calls): the names read
// so far, in r.names' room, are looked at first, and a name found there
// costs neither builtinNames' hash and lookup nor a second search to
// collect it. Names in the room were checked (valid UTF-8, not empty)
// before they went in. Without r.collect the room is only that cache,
// and stops taking names when full.
func (r *fastReader) builtinName() string {
	var b []byte
	var k uint64
	if off := r.off; len(r.data)-off > 8 && !r.bad {
		// A name of fewer than 24 bytes (its head one byte) followed by
		// at least 8 bytes more of the block (the name's key one load):
		// strBytes' and builtinKeyBytes' common case, without their
		// calls.
		if n := int(r.data[off]) - 0x60; n >= 0 && n < 24 && n < len(r.data)-off {
			b = r.data[off+1 : off+1+n]
			r.off = off + 1 + n
			k = binary.BigEndian.Uint64(r.data[off+1:]) &^ (math.MaxUint64 >> (8 * min(n, 8)))
		}
	}
	if b == nil {
		if b = r.strBytes(3); r.bad {
			return ""
		}
		k = builtinKeyBytes(b)
	}
	if s, ok := find(&r.names, b, k); ok {
		return s
	}
	name, ok := lookupNameKey(b, k)
	if !ok {
		// As name: only a name the table does not hold is checked.
		if !utf8.Valid(b) {
			r.fail()
			return ""
		}
		name = internName(b)
	}
	if name == "" {
		r.fail()
		return ""
	}
	if r.collect {
		r.names.addNew(name, k)
	} else if r.names.n < len(r.names.room) {
		r.names.room[r.names.n] = name
		r.names.keys[r.names.n] = k
		r.names.n++
	}
	return name
}

// builtinKeyBytes is builtinKey of b, a name read from a block: when b's
// array goes on for 8 bytes (a name is followed by more of its block),
// one load, masked to b's own bytes, rather than a step a byte.
func builtinKeyBytes(b []byte) uint64 {
	if cap(b) < 8 {
		return builtinKey(b)
	}
	k := binary.BigEndian.Uint64(b[:8])
	if len(b) < 8 {
		k &^= math.MaxUint64 >> (8 * len(b)) // len 0: all of it
	}
	return k
}

// nameSlotsKey is nameSlots of b, whose builtinKey is k: a name shorter
// than 8 bytes hashes its bytes as a big-endian number, k's top bytes,
// so its loop is not needed again.
func nameSlotsKey(b []byte, k uint64) (*[2]atomic.Pointer[string], uint64) {
	if len(b) == 0 || len(b) >= 8 {
		return nameSlots(b)
	}
	h := (k>>(64-8*len(b)) ^ uint64(len(b))) * nameHashMul
	return &builtinNames[h>>(64-builtinNamesBits)], h
}

// lookupNameKey is lookupName of b, whose builtinKey is k.
func lookupNameKey(b []byte, k uint64) (string, bool) {
	if len(b) > maxInternedName {
		return "", false
	}
	set, _ := nameSlotsKey(b, k)
	for i := range set {
		if p := set[i].Load(); p != nil && *p == string(b) {
			return *p, true
		}
	}
	return "", false
}
