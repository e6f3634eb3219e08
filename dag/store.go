package dag

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	mh "github.com/multiformats/go-multihash"
)

// Datastore key prefixes (see doc.go for the whole layout).
const (
	prefixBlocks    = "/blocks/"
	prefixComplete  = "/complete/"
	prefixNames     = "/names/"
	prefixTypeNames = "/typenames/"
	prefixHints     = "/hints/"
	keyStoreID      = "/meta/storeid"
	keyStoreSecret  = "/meta/storesecret"
)

// mhKeyEncoding is how multihashes appear in keys: RFC 4648 base32,
// upper case, no padding — the same keys boxo's blockstore uses.
var mhKeyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func mhKey(c cid.Cid) string {
	var buf [80]byte // a sha2-256 multihash is 34 bytes, 55 in base32
	return string(appendMhKey(buf[:0], c))
}

// appendMhKey appends mhKey(c) to dst. For the CIDs unode stores it
// reads the multihash in place (c.Hash copies the CID's bytes).
func appendMhKey(dst []byte, c cid.Cid) []byte {
	if supportedCID(c) {
		// CIDv1 (0x01), dag-cbor (0x71), then the multihash.
		var mh [34]byte
		copy(mh[:], c.KeyString()[2:])
		return mhKeyEncoding.AppendEncode(dst, mh[:])
	}
	return mhKeyEncoding.AppendEncode(dst, c.Hash())
}

func blockKey(c cid.Cid) datastore.Key    { return prefixedKey(prefixBlocks, c) }
func completeKey(c cid.Cid) datastore.Key { return prefixedKey(prefixComplete, c) }

// prefixedKey is prefix + mhKey(c) in one allocation (the key's string):
// every block a sync receives is looked up by both keys.
func prefixedKey(prefix string, c cid.Cid) datastore.Key {
	var buf [96]byte // a prefix and a sha2-256 multihash in base32 (55)
	return datastore.RawKey(string(appendMhKey(append(buf[:0], prefix...), c)))
}

// Store keeps blocks, the closure invariant, the namespace and the store
// identity in one go-datastore. It is safe for concurrent use, and several
// Stores (in one process or several) may share one datastore.
type Store struct {
	ds    datastore.Batching
	cache *blockCache

	mu      sync.Mutex
	storeID string
	secret  *StoreSecret

	prefixes prefixIndex // see ResolvePrefix
}

// NewStore returns a Store over ds. It writes nothing until used.
func NewStore(ds datastore.Batching) *Store {
	return &Store{ds: ds, cache: newBlockCache(cacheMaxBlocks, cacheMaxBytes)}
}

// Datastore returns the underlying datastore (node data, grants and the
// audit log live there under their own prefixes).
func (s *Store) Datastore() datastore.Batching { return s.ds }

// verify checks that b may be stored: a supported CID, within the size
// limit, hashing to its CID, well-formed canonical DAG-CBOR, and of
// unode's block schema (ValidateBlock). It returns the block's needed
// links.
func verify(b Block) ([]cid.Cid, error) {
	_, links, err := verifyDecoded(b)
	return links, err
}

// verifyDecoded is verify, with the block decoded (*TermBlock or
// *TypeBlock) when the one-pass decoder took it.
func verifyDecoded(b Block) (any, []cid.Cid, error) {
	if !supportedCID(b.CID) {
		return nil, nil, fmt.Errorf("block %s: %w", b.CID, ErrUnsupportedCID)
	}
	if len(b.Data) > MaxBlockSize {
		return nil, nil, fmt.Errorf("block %s is %d bytes, limit %d: %w", b.CID, len(b.Data), MaxBlockSize, ErrTooLarge)
	}
	sum, err := mh.Sum(b.Data, mh.SHA2_256, -1)
	if err != nil {
		return nil, nil, fmt.Errorf("hashing block %s: %w", b.CID, err)
	}
	if string(sum) != string(b.CID.Hash()) {
		return nil, nil, &HashMismatchError{Want: b.CID, Got: cid.NewCidV1(cid.DagCBOR, sum)}
	}
	// Canonical DAG-CBOR is not enough: only blocks of unode's schema
	// are kept (schema.go), so what is stored is what can be used.
	x, links, err := validated(b.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("block %s: %w", b.CID, err)
	}
	return x, links, nil
}

// Put stores a block after checking it: its CID must be CIDv1 dag-cbor
// sha2-256 (ErrUnsupportedCID), its size within MaxBlockSize (ErrTooLarge),
// its bytes must hash to the CID (*HashMismatchError), it must be
// canonical DAG-CBOR (*DecodeError) and a term or type block of unode's
// schema (*SchemaError, ValidateBlock). Put does not mark the block complete;
// see MarkComplete and AddBlocks.
func (s *Store) Put(ctx context.Context, b Block) error {
	if _, err := verify(b); err != nil {
		return err
	}
	have, err := s.ds.Has(ctx, blockKey(b.CID))
	if err != nil {
		return fmt.Errorf("checking block %s: %w", b.CID, err)
	}
	if have {
		return nil
	}
	if err := s.ds.Put(ctx, blockKey(b.CID), b.Data); err != nil {
		return fmt.Errorf("storing block %s: %w", b.CID, err)
	}
	s.indexAdded(b.CID)
	return nil
}

// PutVerified checks that data is the block c and stores it (same checks
// as Put). Use it for bytes received from the network.
func (s *Store) PutVerified(ctx context.Context, c cid.Cid, data []byte) error {
	return s.Put(ctx, Block{CID: c, Data: data})
}

// Get returns the bytes of block c, or an error matching ErrNotFound. The
// caller must not modify the returned slice.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if !supportedCID(c) {
		return nil, fmt.Errorf("block %s: %w", c, ErrNotFound)
	}
	data, err := s.ds.Get(ctx, blockKey(c))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, fmt.Errorf("block %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading block %s: %w", c, err)
	}
	return data, nil
}

// Has reports whether block c is stored (complete or not).
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if !supportedCID(c) {
		return false, nil
	}
	return s.hasKey(ctx, blockKey(c), "checking block %s: %w", c)
}

// hasKey reports whether key is in the datastore, wrapping a failure with
// format (which takes c and the error).
func (s *Store) hasKey(ctx context.Context, key datastore.Key, format string, c cid.Cid) (bool, error) {
	ok, err := s.ds.Has(ctx, key)
	if err != nil {
		return false, fmt.Errorf(format, c, err)
	}
	return ok, nil
}

// IsComplete reports whether c and its whole transitive closure are
// stored, i.e. whether c was marked complete.
func (s *Store) IsComplete(ctx context.Context, c cid.Cid) (bool, error) {
	if !supportedCID(c) {
		return false, nil
	}
	return s.hasKey(ctx, completeKey(c), "checking completeness of %s: %w", c)
}

// MarkComplete marks a stored block complete after checking that every
// block it links to is complete. If c itself is absent, or some links are
// not complete, it fails with a *MissingError listing them.
func (s *Store) MarkComplete(ctx context.Context, c cid.Cid) error {
	done, err := s.IsComplete(ctx, c)
	if err != nil || done {
		return err
	}
	data, err := s.Get(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return &MissingError{CIDs: []cid.Cid{c}}
	}
	if err != nil {
		return err
	}
	links, err := NeededLinks(data)
	if err != nil {
		return fmt.Errorf("block %s: %w", c, err)
	}
	var missing []cid.Cid
	for _, l := range links {
		ok, err := s.IsComplete(ctx, l)
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		return &MissingError{CIDs: missing}
	}
	return s.putComplete(ctx, c)
}

// completeValue is the value of every complete marker: one for all
// (datastores take values as read-only), not one allocation each.
var completeValue = []byte{1}

func (s *Store) putComplete(ctx context.Context, c cid.Cid) error {
	if err := s.ds.Put(ctx, completeKey(c), completeValue); err != nil {
		return fmt.Errorf("marking %s complete: %w", c, err)
	}
	return nil
}

// AddBlocks stores blocks (typically a batch received from a peer) and
// marks complete every one whose closure is now present, in dependency
// order. It checks every block first (as Put does) and stores nothing if
// any fails; the definitions that check decoded are kept decoded, as
// LoadTerm would keep them. Blocks whose closure is still missing something stay stored
// but incomplete; it is not an error (see MissingFrom).
func (s *Store) AddBlocks(ctx context.Context, blocks []Block) error {
	entries := make([]addEntry, 0, len(blocks))
	// The checked blocks, in one array (never grown: entries point
	// into it). Their links are the needed ones only: not scanned.
	checked := make([]Received, 0, len(blocks))
	index := make(map[cid.Cid]int, len(blocks))
	for _, b := range blocks {
		if _, dup := index[b.CID]; dup {
			continue
		}
		x, links, err := verifyDecoded(b)
		if err != nil {
			return err
		}
		index[b.CID] = len(entries)
		checked = append(checked, Received{b: b, needed: links, decoded: x, checked: true})
		entries = append(entries, addEntry{r: &checked[len(checked)-1]})
	}
	return s.addEntries(ctx, entries, index)
}

// Received is a block taken from outside (a peer, an import): Receive
// hashes its bytes once, so its CID is what they hash to; Check makes
// the rest of Put's checks, in one pass over the bytes for a block as
// unode writes it; and AddReceived stores checked blocks without hashing
// or decoding them again.
type Received struct {
	b      Block
	links  []cid.Cid // every link (Links), once checked
	needed []cid.Cid // the links a holder needs (NeededLinks)
	// builtins are what a term block the one pass decoded names (its
	// StoredScan's), read in that pass: ScanStored of the block need not
	// walk its terms.
	builtins []string
	decoded  any // *TermBlock or *TypeBlock, when the one pass built it
	checked  bool
	// keys are the block's keys in the store (storeKeys), once made.
	keys string
}

// Receive hashes data (NewBlock). It does not check anything else.
func Receive(data []byte) *Received {
	return &Received{b: Block{CID: receivedCID(data), Data: data}}
}

// ReceiveAll is Receive of each of datas, in one array (a message of
// blocks: one allocation for all of them rather than one each).
func ReceiveAll(datas [][]byte) []Received {
	rs := make([]Received, len(datas))
	for i, data := range datas {
		rs[i].b = Block{CID: receivedCID(data), Data: data}
	}
	return rs
}

// receivedCID is SumCID(data) with one allocation (the CID's string)
// instead of four (the hasher, its sum, the multihash, the CID): every
// block a peer sends is hashed here.
func receivedCID(data []byte) cid.Cid {
	var k [len(supportedCIDHead) + sha256.Size]byte
	copy(k[:], supportedCIDHead)
	sum := sha256.Sum256(data)
	copy(k[len(supportedCIDHead):], sum[:])
	c, err := cid.Cast(k[:])
	if err != nil {
		panic("dag: hashing block: " + err.Error()) // a constant, valid head
	}
	return c
}

// CID is the CID data hashes to.
func (r *Received) CID() cid.Cid { return r.b.CID }

// Data is the block's bytes (not to be modified).
func (r *Received) Data() []byte { return r.b.Data }

// Block is the block with its CID.
func (r *Received) Block() Block { return r.b }

// Check makes the checks Put makes besides the hash, with the same
// errors: the size limit (ErrTooLarge), canonical DAG-CBOR (a
// *DecodeError), unode's schema (a *SchemaError). Each names the block.
// A block unode wrote (fastReader) is decoded once, and that decoding
// yields the checks, the links and the typed block; any other goes
// through the general path, which names what is wrong.
func (r *Received) Check() error {
	if r.checked {
		return nil
	}
	c, data := r.b.CID, r.b.Data
	if len(data) > MaxBlockSize {
		return fmt.Errorf("block %s is %d bytes, limit %d: %w", c, len(data), MaxBlockSize, ErrTooLarge)
	}
	if b, links, builtins, ok := fastBlockScan(data); ok {
		r.decoded, r.links, r.needed, r.builtins = b, links, links, builtins
		if len(links) > 0 && bytes.Contains(data, fixedNodeMarker) {
			needed, err := NeededLinks(data)
			if err != nil {
				return fmt.Errorf("block %s: %w", c, err)
			}
			r.needed = needed
		}
	} else {
		needed, err := validatedGeneral(data)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		links, err := Links(data)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		r.links, r.needed = links, needed
	}
	r.checked = true
	return nil
}

// Links returns every link of a checked block (what Links returns).
func (r *Received) Links() []cid.Cid { return r.links }

// AddReceived is AddBlocks for received blocks: it checks those not yet
// checked (Check), and stores nothing if one fails. A definition it
// decoded on the way is kept in the decoded-block cache, as LoadTerm
// would keep it.
func (s *Store) AddReceived(ctx context.Context, rs []*Received) error {
	entries := make([]addEntry, 0, len(rs))
	index := make(map[cid.Cid]int, len(rs))
	for _, r := range rs {
		if _, dup := index[r.b.CID]; dup {
			continue
		}
		if err := r.Check(); err != nil {
			return err
		}
		index[r.b.CID] = len(entries)
		entries = append(entries, addEntry{r: r, scanned: r.decoded != nil})
	}
	return s.addEntries(ctx, entries, index)
}

// addEntry is a checked block being added (r: its bytes, needed links
// and decoding), with what AddBlocks works out about it.
type addEntry struct {
	r *Received
	// scanned: r's links (every one, Links), with its decoding and
	// builtins, are what ScanStored reads of the block without decoding
	// it again.
	scanned bool
	done    bool  // complete already
	stored  bool  // stored already
	pending int32 // links not yet complete
	// firstUser is the first of the entries that link to this one, an
	// index in addEntries' users (-1: none): the users of every entry in
	// one array rather than a slice each.
	firstUser int32
	// keys holds the block's key and its marker's (setEntryKeys).
	keys string
}

// addUser is an entry that links to another (addEntry.firstUser), and
// the next such of the same entry (-1: none).
type addUser struct{ user, next int32 }

// addEntries stores checked entries (index: CID to entry) and marks
// complete those whose closure is present.
func (s *Store) addEntries(ctx context.Context, entries []addEntry, index map[cid.Cid]int) error {
	// Store the blocks (one batch), then the markers (a second batch,
	// committed after the first), so a crash between the two never
	// leaves a marker without its closure. Each is one write to the
	// datastore, however many blocks: on a synced datastore, one fsync
	// each.
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("adding blocks: %w", err)
	}
	setEntryKeys(entries)
	nUsers := 0 // at most this many in-batch links (users, below)
	for i := range entries {
		e := &entries[i]
		e.firstUser = -1
		nUsers += len(e.r.needed)
		bk := e.blockKey()
		if e.stored, err = s.ds.Has(ctx, bk); err != nil {
			return fmt.Errorf("checking block %s: %w", e.r.b.CID, err)
		}
		if !e.stored {
			if err := batch.Put(ctx, bk, e.r.b.Data); err != nil {
				return fmt.Errorf("storing block %s: %w", e.r.b.CID, err)
			}
			// Not stored, so not complete (a marker is written after its
			// block): no second lookup for each block new here. Should a
			// concurrent write have stored and marked it since, the marker
			// written again below is the same.
			continue
		}
		if e.done, err = s.ds.Has(ctx, e.completeKey()); err != nil {
			return fmt.Errorf("checking completeness of %s: %w", e.r.b.CID, err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("adding blocks: %w", err)
	}
	if s.prefixes.active.Load() {
		s.prefixes.addEntries(entries)
	}
	s.cache.addEntries(entries)

	// Kahn's algorithm over the links inside the batch; links outside it
	// must already be complete. queue holds the entries found ready, in
	// the order found; those before head are done, and are the markers
	// to write, in that order (dependencies first). Each entry is queued
	// at most once, so one array of len(entries) holds them all.
	queue := make([]int32, 0, len(entries))
	users := make([]addUser, 0, nUsers)
	for i := range entries {
		e := &entries[i]
		if e.done {
			continue
		}
		stuck := false
		for _, l := range e.r.needed {
			if j, ok := index[l]; ok {
				if je := &entries[j]; !je.done {
					e.pending++
					users = append(users, addUser{user: int32(i), next: je.firstUser})
					je.firstUser = int32(len(users) - 1)
				}
				continue
			}
			ok, err := s.IsComplete(ctx, l)
			if err != nil {
				return err
			}
			if !ok {
				stuck = true
			}
		}
		if stuck {
			e.pending = -1 // never becomes ready
		} else if e.pending == 0 {
			queue = append(queue, int32(i))
		}
	}
	for head := 0; head < len(queue); head++ {
		// Cancellation is checked every few blocks, not for each: a
		// block's step is a few links' worth of work.
		if head%addCtxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e := &entries[queue[head]]
		e.done = true
		for k := e.firstUser; k >= 0; k = users[k].next {
			u := users[k].user
			ue := &entries[u]
			if ue.pending > 0 {
				ue.pending--
				if ue.pending == 0 {
					queue = append(queue, u)
				}
			}
		}
	}
	return s.putEntryCompletes(ctx, entries, queue)
}

// addCtxEvery is how many blocks addEntries marks between two checks of
// its context.
const addCtxEvery = 64

// putEntryCompletes is putCompletes of the entries of marks (indexes
// into entries), with the keys they have (setEntryKeys).
func (s *Store) putEntryCompletes(ctx context.Context, entries []addEntry, marks []int32) error {
	if len(marks) == 0 {
		return nil
	}
	if len(marks) == 1 {
		e := &entries[marks[0]]
		if err := s.ds.Put(ctx, e.completeKey(), completeValue); err != nil {
			return fmt.Errorf("marking %s complete: %w", e.r.b.CID, err)
		}
		return nil
	}
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("marking blocks complete: %w", err)
	}
	for _, m := range marks {
		e := &entries[m]
		if err := batch.Put(ctx, e.completeKey(), completeValue); err != nil {
			return fmt.Errorf("marking %s complete: %w", e.r.b.CID, err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("marking %d blocks complete: %w", len(marks), err)
	}
	return nil
}

// putCompletes writes the markers of cs in one batch (one atomic write).
// Every block of cs must be stored and have its links complete or in cs.
func (s *Store) putCompletes(ctx context.Context, cs []cid.Cid) error {
	switch len(cs) {
	case 0:
		return nil
	case 1:
		return s.putComplete(ctx, cs[0])
	}
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("marking blocks complete: %w", err)
	}
	for _, c := range cs {
		if err := batch.Put(ctx, completeKey(c), completeValue); err != nil {
			return fmt.Errorf("marking %s complete: %w", c, err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("marking %d blocks complete: %w", len(cs), err)
	}
	return nil
}

// MarkClosureComplete marks root complete if its whole closure is
// stored, first marking (bottom up) every stored block under it that was
// not yet complete. Use it after blocks arrived in several batches, where
// AddBlocks could not see the whole picture. If blocks are absent it marks
// what it can and fails with a *MissingError listing the absent blocks it
// found.
func (s *Store) MarkClosureComplete(ctx context.Context, root cid.Cid) error {
	type frame struct {
		c     cid.Cid
		links []cid.Cid
		next  int
	}
	complete := map[cid.Cid]bool{} // visited blocks: whether complete
	var missing, marks []cid.Cid
	var stack []frame
	push := func(c cid.Cid) error {
		done, err := s.IsComplete(ctx, c)
		if err != nil {
			return err
		}
		complete[c] = done
		if done {
			return nil
		}
		data, err := s.Get(ctx, c)
		if errors.Is(err, ErrNotFound) {
			missing = append(missing, c)
			return nil
		}
		if err != nil {
			return err
		}
		links, err := NeededLinks(data)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		stack = append(stack, frame{c: c, links: links})
		return nil
	}
	if err := push(root); err != nil {
		return err
	}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		top := &stack[len(stack)-1]
		if top.next < len(top.links) {
			l := top.links[top.next]
			top.next++
			if _, seen := complete[l]; !seen {
				if err := push(l); err != nil {
					return err
				}
			}
			continue
		}
		all := true
		for _, l := range top.links {
			all = all && complete[l]
		}
		if all {
			marks = append(marks, top.c)
			complete[top.c] = true
		}
		stack = stack[:len(stack)-1]
	}
	// Every block marked here is stored, and so is its closure (found
	// above): one batch for all the markers.
	if err := s.putCompletes(ctx, marks); err != nil {
		return err
	}
	if complete[root] {
		return nil
	}
	sortCIDs(missing)
	return &MissingError{CIDs: missing}
}

// CheckCompleteMarkers checks the closure invariant over the whole
// store: every block marked complete is stored, and so is every block it
// needs, marked complete in its turn (which, marker by marker, means
// each marked block's whole closure is stored). It returns how many
// markers it checked, and for the first that breaks the invariant an
// error naming it and wrapping a *MissingError. Tools and tests use it
// after a crash; it reads every marker and block.
func (s *Store) CheckCompleteMarkers(ctx context.Context) (int, error) {
	n := 0
	for e, err := range datastore.QueryIter(ctx, s.ds, query.Query{Prefix: prefixComplete, KeysOnly: true}) {
		if err != nil {
			return n, fmt.Errorf("listing complete markers: %w", err)
		}
		raw, err := mhKeyEncoding.DecodeString(strings.TrimPrefix(e.Key, prefixComplete))
		if err != nil {
			return n, fmt.Errorf("complete marker %s: %w", e.Key, ErrMalformed)
		}
		if _, err := mh.Cast(raw); err != nil {
			return n, fmt.Errorf("complete marker %s: %w", e.Key, ErrMalformed)
		}
		c := cid.NewCidV1(cid.DagCBOR, raw)
		n++
		data, err := s.Get(ctx, c)
		if errors.Is(err, ErrNotFound) {
			return n, fmt.Errorf("%s is marked complete: %w", c, &MissingError{CIDs: []cid.Cid{c}})
		}
		if err != nil {
			return n, err
		}
		links, err := NeededLinks(data)
		if err != nil {
			return n, fmt.Errorf("block %s: %w", c, err)
		}
		var missing []cid.Cid
		for _, l := range links {
			ok, err := s.IsComplete(ctx, l)
			if err != nil {
				return n, err
			}
			if !ok {
				missing = append(missing, l)
			}
		}
		if len(missing) > 0 {
			return n, fmt.Errorf("%s is marked complete but its links are not: %w", c, &MissingError{CIDs: missing})
		}
	}
	return n, nil
}

// ClosureOf returns root and every block it transitively links to, each
// once, dependencies before the blocks that link to them (root last), in
// an order that depends only on the blocks. If some blocks are not stored
// it fails with a *MissingError listing the ones it could find out about.
func (s *Store) ClosureOf(ctx context.Context, root cid.Cid) ([]cid.Cid, error) {
	type frame struct {
		c     cid.Cid
		links []cid.Cid
		next  int
	}
	visited := map[cid.Cid]bool{}
	var order, missing []cid.Cid
	var stack []frame
	push := func(c cid.Cid) error {
		visited[c] = true
		data, err := s.Get(ctx, c)
		if errors.Is(err, ErrNotFound) {
			missing = append(missing, c)
			return nil
		}
		if err != nil {
			return err
		}
		links, err := NeededLinks(data)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		stack = append(stack, frame{c: c, links: links})
		return nil
	}
	if err := push(root); err != nil {
		return nil, err
	}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		top := &stack[len(stack)-1]
		if top.next < len(top.links) {
			l := top.links[top.next]
			top.next++
			if !visited[l] {
				if err := push(l); err != nil {
					return nil, err
				}
			}
			continue
		}
		order = append(order, top.c)
		stack = stack[:len(stack)-1]
	}
	if len(missing) > 0 {
		sortCIDs(missing)
		return nil, &MissingError{CIDs: missing}
	}
	return order, nil
}

// MissingFrom returns those of cids that are not complete here, in their
// first-seen order without duplicates: what a peer must send before the
// closure invariant holds for all of them.
func (s *Store) MissingFrom(ctx context.Context, cids []cid.Cid) ([]cid.Cid, error) {
	var out []cid.Cid
	seen := make(map[cid.Cid]bool, len(cids))
	for _, c := range cids {
		if seen[c] {
			continue
		}
		seen[c] = true
		ok, err := s.IsComplete(ctx, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// LoadTerm returns member r.Member of the definition block r.CID. Decoded
// blocks are cached, so the returned Term is shared: callers must not
// modify it. LoadTerm does not require the block to be complete.
func (s *Store) LoadTerm(ctx context.Context, r DefRef) (Term, error) {
	v, err := s.loadDecoded(ctx, r.CID, TermBlockKind)
	if err != nil {
		return nil, err
	}
	b := v.(*TermBlock)
	if r.Member < 0 || r.Member >= len(b.Members) {
		return nil, fmt.Errorf("definition %s: block has %d member(s): %w", r, len(b.Members), ErrNotFound)
	}
	return b.Members[r.Member], nil
}

// LoadType returns member r.Member of the type block r.CID (shared, like
// LoadTerm's result).
func (s *Store) LoadType(ctx context.Context, r DefRef) (*DataDecl, error) {
	v, err := s.loadDecoded(ctx, r.CID, TypeBlockKind)
	if err != nil {
		return nil, err
	}
	b := v.(*TypeBlock)
	if r.Member < 0 || r.Member >= len(b.Members) {
		return nil, fmt.Errorf("type %s: block has %d member(s): %w", r, len(b.Members), ErrNotFound)
	}
	return b.Members[r.Member], nil
}

func (s *Store) loadDecoded(ctx context.Context, c cid.Cid, kind string) (any, error) {
	if v, ok := s.cache.get(c); ok {
		if kindOf(v) != kind {
			return nil, fmt.Errorf("block %s is a %s block, not %s: %w", c, kindOf(v), kind, ErrMalformed)
		}
		return v, nil
	}
	data, err := s.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	var v any
	size := len(data)
	switch kind {
	case TermBlockKind:
		var tb *TermBlock
		tb, err = DecodeTermBlock(data)
		if err == nil && HasChunkRefs(data) {
			// Large literals live in chunk blocks (chunk.go): read them
			// now, so the evaluator only ever sees *Text and *Bytes.
			r := s.ChunkReader(0)
			for i, m := range tb.Members {
				if tb.Members[i], err = r.Term(ctx, m); err != nil {
					break
				}
			}
			size += int(r.Used())
		}
		v = tb
	case TypeBlockKind:
		v, err = DecodeTypeBlock(data)
	}
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", c, err)
	}
	s.cache.add(c, v, size)
	return v, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case *TermBlock:
		return TermBlockKind
	case *TypeBlock:
		return TypeBlockKind
	}
	return "unknown"
}

// storeMetaMu serialises the creation of the store's identity and secret
// for every Store in the process, so two Stores over one fresh datastore
// agree on them.
var storeMetaMu sync.Mutex

// StoreID returns the random identity of the underlying datastore, creating
// it on first use. Stores over the same datastore return the same ID;
// nodes compare IDs to learn that they may share a store, and prove it
// with StoreSecret (an ID is public: status gives it to anyone).
//
// Creation is atomic within a process, and across processes on a
// datastore with PutIfAbsent (p2p/repo/pgds): the first ID written wins.
// Two processes creating the ID of one fresh shared datastore without it
// may race; the last write wins and the loser sees the winner's ID after
// a restart.
func (s *Store) StoreID(ctx context.Context) (string, error) {
	s.mu.Lock()
	id := s.storeID
	s.mu.Unlock()
	if id != "" {
		return id, nil
	}
	v, err := s.metaValue(ctx, keyStoreID, "store ID", func() ([]byte, error) {
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, err
		}
		return []byte(storeIDEncoding.EncodeToString(raw[:])), nil
	})
	if err != nil {
		return "", err
	}
	id = string(v)
	s.mu.Lock()
	s.storeID = id
	s.mu.Unlock()
	return id, nil
}

// metaValue returns the value under key, creating it with fresh when
// absent so that every Store over the datastore, in this process or
// another, ends up with the first value written. what names the value
// in errors.
func (s *Store) metaValue(ctx context.Context, key, what string, fresh func() ([]byte, error)) ([]byte, error) {
	storeMetaMu.Lock()
	defer storeMetaMu.Unlock()
	k := datastore.NewKey(key)
	v, err := s.ds.Get(ctx, k)
	switch {
	case err == nil:
		return v, nil
	case !errors.Is(err, datastore.ErrNotFound):
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	v, err = fresh()
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", what, err)
	}
	// A store shared by several processes (PostgreSQL) may be opened by
	// two at once: the first value written must win, or they would each
	// believe in their own (and, for the ID, sync with each other for
	// ever). storeMetaMu covers one process only.
	if pa, ok := s.ds.(putIfAbsenter); ok {
		v, err := pa.PutIfAbsent(ctx, k, v)
		if err != nil {
			return nil, fmt.Errorf("saving %s: %w", what, err)
		}
		return v, nil
	}
	if err := s.ds.Put(ctx, k, v); err != nil {
		return nil, fmt.Errorf("saving %s: %w", what, err)
	}
	if err := s.ds.Sync(ctx, k); err != nil {
		return nil, fmt.Errorf("saving %s: %w", what, err)
	}
	return v, nil
}

// putIfAbsenter is a datastore that can create a key atomically across
// all its clients (p2p/repo/pgds).
type putIfAbsenter interface {
	PutIfAbsent(ctx context.Context, key datastore.Key, value []byte) ([]byte, error)
}

// storeIDEncoding: lower-case RFC 4648 base32 without padding (26
// characters for 16 bytes), safe in keys, file names and URLs.
var storeIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// blockCache is a small LRU of decoded blocks bounded by count and by
// encoded size.
type blockCache struct {
	mu                 sync.Mutex
	maxBlocks, maxSize int
	size               int
	order              cacheList // front = most recent
	byCID              map[cid.Cid]*cacheEntry
	sized              int // byCID was made for this many (reserve)
}

type cacheEntry struct {
	c    cid.Cid
	v    any
	size int
	// For a block decoded by the one pass as it was received
	// (AddReceived): what ScanStored reads of it, so that it need not
	// decode or walk it again. scanned tells it apart from no links.
	scan    StoredScan
	scanned bool
	// key is the block's key in the datastore, when the entry was added
	// with the block (addEntries): ScanStored checks the block is still
	// there through it, not through a key made again for each lookup.
	// It is a part of the string the datastore was given as the block's
	// key, which one that keeps its keys (memds) holds anyway.
	key string
	// prev and next link the entries in recency order (cacheList): the
	// entry is its own list element, one allocation for each block
	// cached rather than two.
	prev, next *cacheEntry
}

// cacheList is a doubly linked list of cache entries, most recent
// first, through a sentinel (root): container/list without its element
// allocations.
type cacheList struct {
	root cacheEntry
	n    int
}

func (l *cacheList) init() {
	l.root.prev, l.root.next = &l.root, &l.root
}

// Len is the number of entries in the list.
func (l *cacheList) Len() int { return l.n }

func (l *cacheList) pushFront(e *cacheEntry) {
	e.prev, e.next = &l.root, l.root.next
	e.prev.next, e.next.prev = e, e
	l.n++
}

func (l *cacheList) remove(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	l.n--
}

func (l *cacheList) moveToFront(e *cacheEntry) {
	if l.root.next == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

// back is the least recent entry; nil when the list is empty.
func (l *cacheList) back() *cacheEntry {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

func newBlockCache(maxBlocks, maxSize int) *blockCache {
	bc := &blockCache{maxBlocks: maxBlocks, maxSize: maxSize, byCID: map[cid.Cid]*cacheEntry{}}
	bc.order.init()
	return bc
}

func (bc *blockCache) get(c cid.Cid) (any, bool) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	e, ok := bc.byCID[c]
	if !ok {
		return nil, false
	}
	bc.order.moveToFront(e)
	return e.v, true
}

func (bc *blockCache) add(c cid.Cid, v any, size int) {
	bc.put(&cacheEntry{c: c, v: v, size: size})
}

// addScanned is add for a block decoded by the one pass (fastBlock),
// with its scan (ScanStored: its builtins, links and needed links).
// Their memory counts in the entry's size.
func (bc *blockCache) addScanned(c cid.Cid, v any, size int, sc StoredScan) {
	bc.put(scannedEntry(c, v, size, sc))
}

// scannedEntry is the entry addScanned adds.
func scannedEntry(c cid.Cid, v any, size int, sc StoredScan) *cacheEntry {
	size += linksBytes(sc.Links) + namesBytes(sc.Builtins)
	if len(sc.Needed) > 0 && &sc.Needed[0] != &sc.Links[0] {
		size += linksBytes(sc.Needed)
	}
	return &cacheEntry{c: c, v: v, size: size, scan: sc, scanned: true}
}

// namesBytes estimates the memory of a slice of names: its header and
// per name a string header, and the bytes of those not interned
// (internName).
func namesBytes(names []string) int {
	n := 24
	for _, s := range names {
		n += 16
		if len(s) > maxInternedName {
			n += len(s)
		}
	}
	return n
}

// linksBytes estimates the memory of a slice of CIDs: its header, and
// per CID its string header and bytes.
func linksBytes(cs []cid.Cid) int {
	n := 24
	for _, c := range cs {
		n += 16 + len(c.KeyString())
	}
	return n
}

// scanned returns the scan addScanned kept of c (shared: not to be
// modified).
func (bc *blockCache) scanned(c cid.Cid) (*StoredScan, bool) {
	sc, _, ok := bc.scannedKey(c)
	return sc, ok
}

// scannedKey is scanned with the block's datastore key when the entry
// has it ("": make it).
func (bc *blockCache) scannedKey(c cid.Cid) (*StoredScan, string, bool) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	e, ok := bc.byCID[c]
	if !ok || !e.scanned {
		return nil, "", false
	}
	bc.order.moveToFront(e)
	return &e.scan, e.key, true
}

// addEntries is add (or addScanned) of the blocks of entries that were
// decoded and are new to the store, under one lock.
func (bc *blockCache) addEntries(entries []addEntry) {
	n := 0
	for i := range entries {
		if entries[i].r.decoded != nil && !entries[i].stored {
			n++
		}
	}
	if n == 0 {
		return
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.reserve(n)
	for i := range entries {
		e := &entries[i]
		r := e.r
		if r.decoded == nil || e.stored {
			continue
		}
		if e.scanned {
			ce := scannedEntry(r.b.CID, r.decoded, len(r.b.Data), StoredScan{Builtins: r.builtins, Links: r.links, Needed: r.needed})
			// The keys' string (both keys: the block key is a part of it)
			// counts in the entry's size, as a datastore that copies keys
			// leaves the cache its only holder.
			ce.key, ce.size = blockKeyOf(e.keys), ce.size+16+len(e.keys)
			bc.putLocked(ce)
		} else {
			bc.putLocked(&cacheEntry{c: r.b.CID, v: r.decoded, size: len(r.b.Data)})
		}
	}
}

// reserve makes room in byCID for n more entries at once when it is
// smaller than that (the first sync into a fresh store): one map made for
// the size it is about to reach, bounded by the cache's own bound, rather
// than a map grown an entry at a time, which allocates about as much
// again on the way. Copying the entries it has costs fewer steps than
// adding the n. Called with bc.mu held.
func (bc *blockCache) reserve(n int) {
	have := len(bc.byCID)
	if n < cacheReserveMin || have >= n || have+n <= bc.sized {
		return
	}
	size := min(have+n, bc.maxBlocks+1) // +1: put evicts after adding
	m := make(map[cid.Cid]*cacheEntry, size)
	for c, e := range bc.byCID {
		m[c] = e
	}
	bc.byCID, bc.sized = m, size
}

// cacheReserveMin is the fewest entries reserve makes room for.
const cacheReserveMin = 64

func (bc *blockCache) put(e *cacheEntry) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.putLocked(e)
}

func (bc *blockCache) putLocked(e *cacheEntry) {
	c, size := e.c, e.size
	if _, ok := bc.byCID[c]; ok || size > bc.maxSize {
		return
	}
	bc.order.pushFront(e)
	bc.byCID[c] = e
	bc.size += size
	for bc.order.Len() > bc.maxBlocks || bc.size > bc.maxSize {
		e := bc.order.back()
		bc.order.remove(e)
		delete(bc.byCID, e.c)
		bc.size -= e.size
	}
}
