package dag

import "slices"

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
	if c.more != nil {
		c.more.add(name)
		return
	}
	// Keys first: a number compared rules most names out without a
	// call, and names are interned (internName), so equal ones are
	// mostly one string and their comparison stops at the pointers.
	k := builtinKey(name)
	for i, s := range c.room[:c.n] {
		if c.keys[i] == k && s == name {
			return
		}
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
func builtinKey(name string) uint64 {
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
	out := make([]string, c.n)
	for i := range out {
		out[i] = c.room[order[i]]
	}
	return out
}
