package dag

import (
	"github.com/ipfs/go-datastore"
)

// setEntryKeys gives each entry its keys (addEntry.keys): the block's
// key and its complete marker's, prefixBlocks + mhKey then
// prefixComplete + mhKey, in one string. Each block's keys are used two
// or three times (the presence check, the block's write, its marker's):
// built once, in one allocation for both, rather than one allocation for
// each key each time it is used.
//
// One string for each block, not one for the whole batch: a datastore
// that keeps the key strings it is given (memds) keeps the string alive
// while either key is stored, and a block and its marker are stored and
// removed together (evict.go), so what a removed block leaves behind is
// never more than its own keys. A string shared by a batch would keep
// all of the batch's keys alive for any one block of it still stored.
func setEntryKeys(entries []addEntry) {
	var buf [2 * 96]byte // two prefixes and a sha2-256 multihash in base32 (55) twice
	for i := range entries {
		b := appendMhKey(append(buf[:0], prefixBlocks...), entries[i].r.b.CID)
		mk := b[len(prefixBlocks):]
		b = append(b, prefixComplete...)
		b = append(b, mk...)
		entries[i].keys = string(b)
	}
}

// blockKey is the entry's block key (setEntryKeys).
func (e *addEntry) blockKey() datastore.Key {
	return datastore.RawKey(e.keys[:len(prefixBlocks)+e.mhKeyLen()])
}

// completeKey is the entry's complete marker's key (setEntryKeys).
func (e *addEntry) completeKey() datastore.Key {
	return datastore.RawKey(e.keys[len(prefixBlocks)+e.mhKeyLen():])
}

func (e *addEntry) mhKeyLen() int {
	return (len(e.keys) - len(prefixBlocks) - len(prefixComplete)) / 2
}
