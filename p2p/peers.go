package p2p

import (
	"container/list"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerBook keeps, for the peers this node talks to, what it learned about
// them: their StoreID and load (from status and replies), whether they
// proved they share this node's store, and the blocks they are known to
// hold complete. It forgets the least recently used peers beyond
// MaxPeerRecords.
type peerBook struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recent; values are *peerRecord
	byID  map[peer.ID]*list.Element
	// storeOf, when set (a shared group's, shared.go), is the StoreID a
	// new record starts with, as proven: members share the store before
	// any status, and the group vouches for their peer IDs.
	storeOf func(peer.ID) string
}

// peerRecord is what the node knows about one peer. Its fields are
// guarded by mu.
type peerRecord struct {
	id peer.ID

	mu      sync.Mutex
	storeID string // what the peer said; see same
	// same: the peer proved it shares this node's store (provenStore),
	// or is a member of its group. Only then does the node skip what it
	// does for strangers (sync, result blocks, checkShareableCode): a
	// StoreID is public, so claiming one proves nothing.
	same  bool
	load  int64 // thousandths
	known *cidSet
}

func newPeerBook(max int) *peerBook {
	return &peerBook{max: max, order: list.New(), byID: map[peer.ID]*list.Element{}}
}

// get returns the record of p, creating it.
func (b *peerBook) get(p peer.ID) *peerRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byID[p]; ok {
		b.order.MoveToFront(el)
		return el.Value.(*peerRecord)
	}
	r := &peerRecord{id: p, known: newCIDSet(MaxKnownPerPeer)}
	if b.storeOf != nil {
		r.storeID = b.storeOf(p)
		r.same = r.storeID != ""
	}
	b.byID[p] = b.order.PushFront(r)
	for b.order.Len() > b.max {
		el := b.order.Back()
		b.order.Remove(el)
		delete(b.byID, el.Value.(*peerRecord).id)
	}
	return r
}

// lookup returns the record of p if there is one.
func (b *peerBook) lookup(p peer.ID) (*peerRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.byID[p]
	if !ok {
		return nil, false
	}
	return el.Value.(*peerRecord), true
}

// store is the StoreID the peer last gave, proven or not.
func (r *peerRecord) store() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.storeID
}

// sameStore reports whether the peer proved it shares this node's store.
func (r *peerRecord) sameStore() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.same
}

// setStatus records what the peer said in a status or a reply: its
// StoreID (none: unchanged) and whether it proved that is this node's
// (provenStore), and its load (negative: unchanged). A peer's latest
// word decides: one that proved sharing and then claims without a proof
// is a stranger again, which costs it a sync and nothing else.
func (r *peerRecord) setStatus(store string, same bool, load int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if store != "" {
		r.storeID, r.same = store, same
	}
	if load >= 0 {
		r.load = load
	}
}

// provenStore reports whether peer p, which said its StoreID is store
// and gave proof, shares this node's store: store is this node's
// StoreID and proof is the store secret's proof for p's peer ID (the
// identity its connection authenticated, so a proof p saw another
// sharer send cannot pass as p's). A StoreID other than this node's
// needs no proof, since the node acts on it only by syncing as with any
// stranger. A claim of this node's StoreID that does not verify is
// logged: it comes from a misconfigured node or an impostor.
func (n *Node) provenStore(p peer.ID, store string, proof []byte) bool {
	if store == "" || store != n.storeID {
		return false
	}
	if n.storeSecret.Verify([]byte(p), proof) {
		return true
	}
	n.log.Info("a peer claims this node's store without a valid proof; treated as a stranger", "peer", p.String(), "proofBytes", len(proof))
	return false
}

// heardStore is provenStore for a claim that came in a request (an eval
// request's Store): it records the outcome for p when p claims this
// node's store, proven or not, or when p has a record already; a
// stranger naming its own store gets no record from a request.
func (n *Node) heardStore(p peer.ID, store string, proof []byte) bool {
	same := n.provenStore(p, store, proof)
	if store == n.storeID {
		n.peers.get(p).setStatus(store, same, -1)
	} else if r, ok := n.peers.lookup(p); ok {
		r.setStatus(store, false, -1)
	}
	return same
}

// has reports whether the peer is known to hold c complete.
func (r *peerRecord) has(c cid.Cid) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.known.has(c)
}

// learn records that the peer holds cs complete.
func (r *peerRecord) learn(cs ...cid.Cid) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		r.known.add(c)
	}
}

// forget drops everything recorded about the peer's blocks (after it
// turned out not to hold one it was recorded as holding).
func (r *peerRecord) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known = newCIDSet(r.known.max)
}

// cidSet is a set of CIDs bounded by count, evicting the least recently
// added or confirmed. It is not safe for concurrent use.
type cidSet struct {
	max   int
	order *list.List // front = most recent; values are cid.Cid
	index map[cid.Cid]*list.Element
}

func newCIDSet(max int) *cidSet {
	return &cidSet{max: max, order: list.New(), index: map[cid.Cid]*list.Element{}}
}

func (s *cidSet) has(c cid.Cid) bool {
	el, ok := s.index[c]
	if ok {
		s.order.MoveToFront(el)
	}
	return ok
}

func (s *cidSet) add(c cid.Cid) {
	if el, ok := s.index[c]; ok {
		s.order.MoveToFront(el)
		return
	}
	s.index[c] = s.order.PushFront(c)
	for s.order.Len() > s.max {
		el := s.order.Back()
		s.order.Remove(el)
		delete(s.index, el.Value.(cid.Cid))
	}
}

func (s *cidSet) len() int { return s.order.Len() }
