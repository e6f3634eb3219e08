package dag

import (
	"context"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
)

// entryKeys is a block's key and its complete marker's, prefixBlocks +
// mhKey then prefixComplete + mhKey, in one string. Each block's keys are
// used several times (the books' presence check before the block is
// stored, the store's own, the block's write, its marker's, the presence
// check of a walk that reads the block's scan from the cache): built
// once, in one allocation for both, rather than one allocation (and one
// base32 encoding) for each key each time it is used.
//
// One string for each block, not one for the whole batch: a datastore
// that keeps the key strings it is given (memds) keeps the string alive
// while either key is stored, and a block and its marker are stored and
// removed together (evict.go), so what a removed block leaves behind is
// never more than its own keys. A string shared by a batch would keep
// all of the batch's keys alive for any one block of it still stored.
func entryKeys(c cid.Cid) string {
	var buf [2 * 96]byte // two prefixes and a sha2-256 multihash in base32 (55) twice
	b := appendMhKey(append(buf[:0], prefixBlocks...), c)
	mk := b[len(prefixBlocks):]
	b = append(b, prefixComplete...)
	b = append(b, mk...)
	return string(b)
}

// storeKeys is entryKeys of the block, made on its first use and kept:
// the books (HasReceived, MhKey) and the store (AddReceived) share one
// string.
func (r *Received) storeKeys() string {
	if r.keys == "" {
		r.keys = entryKeys(r.b.CID)
	}
	return r.keys
}

// MhKey is the block's multihash as datastore keys spell it (RFC 4648
// base32, upper case, no padding), read from the block's keys
// (storeKeys): a caller that keys its own records by the multihash need
// not encode it again. It is not to be kept past the Received unless the
// caller accepts holding the block's keys with it.
func (r *Received) MhKey() string {
	k := r.storeKeys()
	return k[len(prefixBlocks) : len(prefixBlocks)+mhKeyLenOf(k)]
}

// HasReceived is Has of the block through its keys (storeKeys), which
// AddReceived then uses again.
func (s *Store) HasReceived(ctx context.Context, r *Received) (bool, error) {
	c := r.b.CID
	if !supportedCID(c) {
		return false, nil
	}
	k := r.storeKeys()
	return s.hasKey(ctx, datastore.RawKey(k[:len(prefixBlocks)+mhKeyLenOf(k)]), "checking block %s: %w", c)
}

// setEntryKeys gives each entry its keys (addEntry.keys): its block's
// (storeKeys), made now unless the books made them before.
func setEntryKeys(entries []addEntry) {
	for i := range entries {
		entries[i].keys = entries[i].r.storeKeys()
	}
}

// blockKeyOf is the block key within keys (entryKeys).
func blockKeyOf(keys string) string { return keys[:len(prefixBlocks)+mhKeyLenOf(keys)] }

// blockKey is the entry's block key (setEntryKeys).
func (e *addEntry) blockKey() datastore.Key {
	return datastore.RawKey(blockKeyOf(e.keys))
}

// completeKey is the entry's complete marker's key (setEntryKeys).
func (e *addEntry) completeKey() datastore.Key {
	return datastore.RawKey(e.keys[len(prefixBlocks)+e.mhKeyLen():])
}

func (e *addEntry) mhKeyLen() int { return mhKeyLenOf(e.keys) }

// mhKeyLenOf is the length of the multihash key within keys (entryKeys).
func mhKeyLenOf(keys string) int {
	return (len(keys) - len(prefixBlocks) - len(prefixComplete)) / 2
}
