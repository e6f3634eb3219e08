package p2p

import (
	"hash/maphash"
	"sync/atomic"
	"unicode/utf8"
)

// Store IDs in messages (EvalRequest.Store, ResultReply.Store) are
// interned: a peer names the same store on every call, so the text is
// looked up among those seen lately rather than copied out of each
// frame. The table has a fixed number of slots (a newcomer takes its
// slot from whoever had it), so no peer can grow it.
const storeIDSlots = 64

var (
	storeIDs    [storeIDSlots]atomic.Pointer[string]
	storeIDSeed = maphash.MakeSeed()
)

// storeText is text for a store ID: the same string, from the table
// when these bytes were read before.
func (r *fastReader) storeText() string {
	n := r.head(majText)
	if r.bad || n > uint64(len(r.data)-r.pos) {
		r.bad = true
		return ""
	}
	b := r.data[r.pos : r.pos+int(n)]
	slot := &storeIDs[maphash.Bytes(storeIDSeed, b)%storeIDSlots]
	if p := slot.Load(); p != nil && *p == string(b) {
		r.pos += int(n) // valid UTF-8: it was when it was stored
		return *p
	}
	if !utf8.Valid(b) {
		r.bad = true
		return ""
	}
	r.pos += int(n)
	s := string(b)
	slot.Store(&s)
	return s
}
