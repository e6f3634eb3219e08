package p2p

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"weak"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Bounded disk (docs/security.md, "Disk"): what the node keeps of the
// blocks other peers make it store.
//
// Every block is pinned or unpinned. Unpinned blocks are those stored on
// another peer's say-so: the blocks a foreign caller sends for its thunk
// (receiveBlocks), the result blocks of calls a foreign evaluation
// makes on its caller's behalf (acceptResultBlocks with onBehalfOf), the
// chunks of the values a result carries, charged to the callee that
// sent them also for the node's own calls (acceptPinned), and the chunks
// the node makes of values a foreign evaluation sends (encodeSent).
// Each has a record /unpinned/<mh> naming the peer it is charged to, its
// size and its links. Everything else is pinned: what the owner added
// (AddWith), published, or received for its own calls and fetches (but
// for the chunks of result values), and what node data refers to
// (DataPut). Pinning is for good, and it takes
// the block's whole closure along, so that:
//
//	no pinned block links to an unpinned one
//
// (blocks the owner's writes are about to store count as pinned from the
// moment they are announced, see pinFor). Hence a collection only walks
// unpinned blocks, and whatever it keeps keeps its closure.
//
// Unpinned blocks are counted against a quota per peer and a cap for the
// node (DiskQuota; limits.go), in bytes, blocks and links. When a sync
// would exceed either, the node collects: it marks, through the links of
// unpinned blocks, from what running evaluations and syncs in progress
// use (their leases) and from the roots of past foreign syncs, most
// recently used first, as many as fit below seven eighths of the bound,
// and evicts the rest (their /blocks, /complete, /received and /unpinned
// keys, and their prefix-index entries). If even that leaves no room,
// the sync fails with a disk budget error (DiskQuotaError; CallError
// code budget, which "disk"). The recency of roots is kept in memory:
// after a restart every unpinned block is as old as any other, and the
// records rebuild the accounting.
//
// All of it lives in a retainer, one per datastore value in the process
// (retainerFor), so that codebases and nodes sharing a datastore share
// their accounting and their leases. Processes sharing one database do
// not: neither each other's leases and books nor what the others' owner
// writes rest on (a definition added there may link to a block this
// process holds unpinned). So on a store several processes share
// (dag.SharedByProcesses) nothing is evicted: the quotas still bound what
// peers make the node store, a sync beyond them is refused with the disk
// budget error, and `repo gc` refuses with dag.ErrSharedStore
// (docs/scaling.md, "Several daemons on one PostgreSQL store").

const prefixUnpinned = "/unpinned/"

// BudgetDisk is the budget (CallError.Which, eval.BudgetError.Which) of
// a call refused because the blocks it would make this node store do
// not fit its disk quota.
const BudgetDisk = "disk"

// DiskUsage measures unpinned storage: block bytes, blocks, and links
// (the collector keeps every unpinned block's links in memory).
type DiskUsage struct {
	Bytes  int64 `json:"bytes"`
	Blocks int64 `json:"blocks"`
	Links  int64 `json:"links"`
}

func (u DiskUsage) plus(v DiskUsage) DiskUsage {
	return DiskUsage{u.Bytes + v.Bytes, u.Blocks + v.Blocks, u.Links + v.Links}
}

func (u DiskUsage) minus(v DiskUsage) DiskUsage {
	return DiskUsage{u.Bytes - v.Bytes, u.Blocks - v.Blocks, u.Links - v.Links}
}

func (u DiskUsage) within(lim DiskUsage) bool {
	return u.Bytes <= lim.Bytes && u.Blocks <= lim.Blocks && u.Links <= lim.Links
}

// lowWater is where a collection aims: below the bound by an eighth, so
// that the next collection is an eighth of the bound away.
func (u DiskUsage) lowWater() DiskUsage {
	f := func(x int64) int64 { return x - x/diskLowWaterDiv }
	return DiskUsage{f(u.Bytes), f(u.Blocks), f(u.Links)}
}

// exceeded names the first measure of u above lim.
func (u DiskUsage) exceeded(lim DiskUsage) (what string, used, limit int64) {
	switch {
	case u.Bytes > lim.Bytes:
		return "bytes", u.Bytes, lim.Bytes
	case u.Blocks > lim.Blocks:
		return "blocks", u.Blocks, lim.Blocks
	}
	return "links", u.Links, lim.Links
}

// DiskQuota bounds unpinned storage: what is charged to one peer, and
// what all peers' together take.
type DiskQuota struct {
	PerPeer DiskUsage `json:"perPeer"`
	Total   DiskUsage `json:"total"`
}

// DefaultDiskQuota is the quota in limits.go.
func DefaultDiskQuota() DiskQuota {
	return DiskQuota{
		PerPeer: DiskUsage{Bytes: DefaultPeerDiskBytes, Blocks: DefaultPeerDiskBlocks, Links: DefaultPeerDiskLinks},
		Total:   DiskUsage{Bytes: DefaultDiskBytes, Blocks: DefaultDiskBlocks, Links: DefaultDiskLinks},
	}
}

func (q DiskQuota) validate() error {
	for _, u := range []DiskUsage{q.PerPeer, q.Total} {
		if u.Bytes <= 0 || u.Blocks <= 0 || u.Links <= 0 {
			return fmt.Errorf("disk quota %+v: every bound must be positive", q)
		}
	}
	return nil
}

// DiskQuotaError reports blocks that do not fit the disk quota even
// after eviction: what is left is in use by running evaluations and
// syncs, or the blocks alone exceed the bound. It matches
// eval.ErrBudget and unwraps to an *eval.BudgetError of Which
// BudgetDisk, so await! sees Err.BudgetExceeded "disk".
type DiskQuotaError struct {
	Peer  string // the peer the blocks would be charged to
	Scope string // "peer" (its quota) or "node" (the node's cap)
	What  string // "bytes", "blocks" or "links"
	Used  int64  // what would be used with the blocks
	Limit int64
	// Shared: the store is shared by several processes, so nothing was
	// evicted to make room (see retainer).
	Shared bool
}

func (e *DiskQuotaError) Error() string {
	whose := "blocks stored for peer " + shortPeer(e.Peer)
	if e.Scope == "node" {
		whose = "blocks stored for other peers"
	}
	if e.Shared {
		return fmt.Sprintf("disk budget exhausted: %s would take %d %s (limit %d; nothing is evicted from a store several processes share)",
			whose, e.Used, e.What, e.Limit)
	}
	return fmt.Sprintf("disk budget exhausted: %s would take %d %s (limit %d, after evicting what no running evaluation or sync uses)",
		whose, e.Used, e.What, e.Limit)
}

func (e *DiskQuotaError) Unwrap() error { return &eval.BudgetError{Which: BudgetDisk, Limit: e.Limit} }

// callError is the wire form of e.
func (e *DiskQuotaError) callError() *CallError {
	return &CallError{Code: CodeBudget, Which: BudgetDisk, Msg: e.Error()}
}

// digest is a block's sha2-256 digest: the store holds no other kind
// (dag.DigestPrefix), so it names a block in 32 bytes.
type digest [32]byte

func digestOf(c cid.Cid) (digest, bool) {
	var d digest
	// In place: c.Hash copies the CID's bytes, and this runs for every
	// block and link a sync receives.
	if !supportedCID(c) {
		return d, false
	}
	copy(d[:], c.KeyString()[len(supportedCIDHead):])
	return d, true
}

// supportedCID is dag's test of a CID unode stores (dag.DigestPrefix's
// ok), read in place: CIDv1 (0x01), dag-cbor (0x71), sha2-256 (0x12) of
// 32 bytes (0x20), then the digest.
func supportedCID(c cid.Cid) bool {
	ks := c.KeyString()
	return len(ks) == len(supportedCIDHead)+len(digest{}) && ks[:len(supportedCIDHead)] == supportedCIDHead
}

const supportedCIDHead = "\x01\x71\x12\x20"

func (d digest) cid() cid.Cid {
	return cid.NewCidV1(cid.DagCBOR, append([]byte{0x12, 0x20}, d[:]...))
}

func digestsOfCIDs(cs []cid.Cid) []digest {
	out := make([]digest, 0, len(cs))
	for _, c := range cs {
		if d, ok := digestOf(c); ok {
			out = append(out, d)
		}
	}
	return out
}

// heldBlock is an unpinned block as the retainer knows it.
type heldBlock struct {
	peer  *peerUsage
	size  int64
	links []digest
}

// heldSlab hands out the books of a message's new blocks (chargeForeignMsg):
// their heldBlocks, and their links' digests, from arrays a few blocks
// long rather than in two objects for each block. The arrays stay alive
// while any block given from them is held, so they are short
// (heldSlabBlocks, heldSlabDigests): what a block left alone in its
// arrays (its neighbours pinned or evicted) keeps is under a kilobyte,
// beside the block's own keys and bytes.
type heldSlab struct {
	blocks  []heldBlock
	digests []digest
}

// The blocks of one array of a heldSlab, and the digests (about two
// blocks' links each, a typical definition's).
const (
	heldSlabBlocks  = 8
	heldSlabDigests = 16
)

// next is the heldBlock of a block of size bytes and links; left is how
// many blocks, this one included, the caller still takes (an array is
// never longer than that).
func (s *heldSlab) next(size int64, links []cid.Cid, left int) *heldBlock {
	if len(s.blocks) == cap(s.blocks) {
		s.blocks = make([]heldBlock, 0, min(left, heldSlabBlocks))
	}
	s.blocks = s.blocks[:len(s.blocks)+1]
	b := &s.blocks[len(s.blocks)-1]
	b.size = size
	if len(links) == 0 {
		return b
	}
	if cap(s.digests)-len(s.digests) < len(links) {
		s.digests = make([]digest, 0, max(len(links), min(heldSlabDigests, 2*left)))
	}
	start := len(s.digests)
	for _, l := range links {
		if d, ok := digestOf(l); ok {
			s.digests = append(s.digests, d)
		}
	}
	// Capped: whatever appends to a block's links must not write into
	// the next block's.
	b.links = s.digests[start:len(s.digests):len(s.digests)]
	return b
}

func (b *heldBlock) usage() DiskUsage {
	return DiskUsage{Bytes: b.size, Blocks: 1, Links: int64(len(b.links))}
}

// peerUsage is what is charged to one peer.
type peerUsage struct {
	id   peer.ID
	used DiskUsage
}

// retainedRoot is a root of a past foreign sync (or of a result stored
// on a foreign evaluation's behalf), in the LRU.
type retainedRoot struct {
	d    digest
	peer peer.ID // the peer whose sync used it last
}

// retainer keeps the books of unpinned storage for one datastore.
type retainer struct {
	mu      sync.Mutex
	loaded  bool
	quota   DiskQuota
	blocks  map[digest]*heldBlock
	peers   map[peer.ID]*peerUsage
	total   DiskUsage
	lru     *list.List // of *retainedRoot; front: most recently used
	roots   map[digest]*list.Element
	leases  map[*lease]struct{}
	pinning map[digest]int // blocks owner writes are storing (pinFor)
	// shared: other processes write the datastore too
	// (dag.SharedByProcesses), and nothing is evicted.
	shared bool
}

func newRetainer() *retainer {
	return &retainer{
		quota:   DefaultDiskQuota(),
		blocks:  map[digest]*heldBlock{},
		peers:   map[peer.ID]*peerUsage{},
		lru:     list.New(),
		roots:   map[digest]*list.Element{},
		leases:  map[*lease]struct{}{},
		pinning: map[digest]int{},
	}
}

// retainers maps each datastore value of the process to its retainer,
// without keeping the datastore alive: the key is a weak pointer to the
// value the datastore interface points to, and the entry goes when it is
// garbage.
var retainers = struct {
	sync.Mutex
	weak   map[weak.Pointer[byte]]*retainer
	strong map[datastore.Datastore]*retainer // datastores that are not pointers
}{weak: map[weak.Pointer[byte]]*retainer{}, strong: map[datastore.Datastore]*retainer{}}

// retainerFor returns the retainer of ds, creating it on first use.
func retainerFor(ds datastore.Datastore) *retainer {
	fresh := func() *retainer {
		r := newRetainer()
		r.shared = dag.SharedByProcesses(ds)
		return r
	}
	v := reflect.ValueOf(ds)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Type().Elem().Size() == 0 {
		retainers.Lock()
		defer retainers.Unlock()
		if !v.IsValid() || !v.Type().Comparable() {
			return fresh() // cannot be shared: nothing to key it by
		}
		r, ok := retainers.strong[ds]
		if !ok {
			r = fresh()
			retainers.strong[ds] = r
		}
		return r
	}
	p := (*byte)(v.UnsafePointer())
	wp := weak.Make(p)
	retainers.Lock()
	defer retainers.Unlock()
	if r, ok := retainers.weak[wp]; ok {
		return r
	}
	r := fresh()
	retainers.weak[wp] = r
	runtime.AddCleanup(p, func(wp weak.Pointer[byte]) {
		retainers.Lock()
		delete(retainers.weak, wp)
		retainers.Unlock()
	}, wp)
	return r
}

func (c *Codebase) retainer() *retainer { return retainerFor(c.ds()) }

// ---- records ----

// Record of an unpinned block (the value of /unpinned/<mh>): a version
// byte (1), the block's size and the length of the charged peer's ID as
// uvarints, the peer ID, then the digests of the block's links, 32
// bytes each.
const unpinnedRecordVersion = 1

func encodeRecord(b *heldBlock) []byte {
	// Sized at once: one allocation per record, not one per doubling.
	return appendRecord(make([]byte, 0, recordLen(b)), b)
}

// recordLen is the length of b's record (appendRecord), exactly.
func recordLen(b *heldBlock) int {
	return 1 + uvarintLen(uint64(b.size)) + uvarintLen(uint64(len(b.peer.id))) + len(b.peer.id) + len(digest{})*len(b.links)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendRecord appends b's record (encodeRecord) to dst.
func appendRecord(dst []byte, b *heldBlock) []byte {
	dst = append(dst, unpinnedRecordVersion)
	dst = binary.AppendUvarint(dst, uint64(b.size))
	dst = binary.AppendUvarint(dst, uint64(len(b.peer.id)))
	dst = append(dst, b.peer.id...)
	for _, l := range b.links {
		dst = append(dst, l[:]...)
	}
	return dst
}

func decodeRecord(data []byte) (size int64, p peer.ID, links []digest, err error) {
	r := bytes.NewReader(data)
	if v, err := r.ReadByte(); err != nil || v != unpinnedRecordVersion {
		return 0, "", nil, fmt.Errorf("unpinned record: version")
	}
	sz, err := binary.ReadUvarint(r)
	if err != nil || sz > dag.MaxBlockSize {
		return 0, "", nil, fmt.Errorf("unpinned record: size")
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return 0, "", nil, fmt.Errorf("unpinned record: peer")
	}
	id := make([]byte, n)
	r.Read(id)
	if r.Len()%len(digest{}) != 0 {
		return 0, "", nil, fmt.Errorf("unpinned record: links")
	}
	links = make([]digest, r.Len()/len(digest{}))
	for i := range links {
		r.Read(links[i][:])
	}
	return int64(sz), peer.ID(id), links, nil
}

// ensureLocked loads the records on first use: the accounting survives
// restarts, and every block found is a root as old as any other.
func (r *retainer) ensureLocked(ctx context.Context, ds datastore.Datastore) error {
	if r.loaded {
		return nil
	}
	q := query.Query{Prefix: strings.TrimSuffix(prefixUnpinned, "/")}
	for e, err := range datastore.QueryIter(ctx, ds, q) {
		if err != nil {
			return fmt.Errorf("reading unpinned records: %w", err)
		}
		c, ok := cidOfMarkKey(prefixUnpinned, e.Key)
		if !ok {
			continue
		}
		d, ok := digestOf(c)
		if !ok {
			continue
		}
		size, p, links, err := decodeRecord(e.Value)
		if err != nil {
			// Unreadable: an unpinned block of unknown size, which the
			// next collection removes (no root reaches it).
			size, p, links = 0, "", nil
		}
		b := &heldBlock{peer: r.peerLocked(p), size: size, links: links}
		r.addLocked(d, b)
	}
	linked := map[digest]bool{}
	for _, b := range r.blocks {
		for _, l := range b.links {
			linked[l] = true
		}
	}
	var tops []digest
	for d, b := range r.blocks {
		if !linked[d] && b.peer.id != dataPeer { // node data's keys keep theirs
			tops = append(tops, d)
		}
	}
	slices.SortFunc(tops, func(a, b digest) int { return bytes.Compare(a[:], b[:]) })
	for _, d := range tops {
		if r.lru.Len() >= MaxRetainedRoots {
			break // the rest is collected when room is needed
		}
		r.roots[d] = r.lru.PushBack(&retainedRoot{d: d, peer: r.blocks[d].peer.id})
	}
	r.loaded = true
	return nil
}

func (r *retainer) peerLocked(p peer.ID) *peerUsage {
	pu, ok := r.peers[p]
	if !ok {
		pu = &peerUsage{id: p}
		r.peers[p] = pu
	}
	return pu
}

func (r *retainer) addLocked(d digest, b *heldBlock) {
	r.blocks[d] = b
	u := b.usage()
	b.peer.used = b.peer.used.plus(u)
	if b.peer.id != dataPeer { // node data is outside the node's cap
		r.total = r.total.plus(u)
	}
}

// forgetLocked drops d from the books (it was evicted or pinned).
func (r *retainer) forgetLocked(d digest, b *heldBlock) {
	delete(r.blocks, d)
	u := b.usage()
	b.peer.used = b.peer.used.minus(u)
	if b.peer.id != dataPeer {
		r.total = r.total.minus(u)
	}
	if b.peer.used == (DiskUsage{}) {
		delete(r.peers, b.peer.id)
	}
	if e, ok := r.roots[d]; ok {
		r.lru.Remove(e)
		delete(r.roots, d)
	}
}

// ---- leases: what running evaluations and syncs use ----

// lease protects the blocks one foreign evaluation (with its sync and
// the calls it makes) uses from collection until it is released:
// collections mark from every block a lease names.
type lease struct {
	r         *retainer
	protected map[digest]struct{}
	released  bool
}

func (r *retainer) newLease() *lease { return &lease{r: r} }

// protect adds blocks to the lease (which takes effect at once: a
// collection that starts after protect returns marks them).
func (l *lease) protect(cs ...cid.Cid) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	if l.protected == nil && !l.released && len(cs) > 1 {
		// Sized at once: no rehashing as it fills. cs is what the
		// caller holds already.
		l.protected = make(map[digest]struct{}, len(cs))
		l.r.leases[l] = struct{}{}
	}
	for _, c := range cs {
		if d, ok := digestOf(c); ok {
			l.protectLocked(d)
		}
	}
}

// reserve makes room in the lease for n more blocks (a sync's list,
// before it protects them one by one as they come): its set is not
// rehashed as it fills. n is the length of a list the caller holds.
func (l *lease) reserve(n int) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	if l.released || n <= len(l.protected) {
		return // growing by doubling costs no more than a copy now
	}
	m := make(map[digest]struct{}, len(l.protected)+n)
	for d := range l.protected {
		m[d] = struct{}{}
	}
	if l.protected == nil {
		l.r.leases[l] = struct{}{}
	}
	l.protected = m
}

func (l *lease) protectLocked(d digest) {
	if l.released {
		return
	}
	if l.protected == nil {
		l.protected = map[digest]struct{}{}
		l.r.leases[l] = struct{}{}
	}
	l.protected[d] = struct{}{}
}

// release ends the lease; what it protected is collectable from then on
// unless a retained root reaches it.
func (l *lease) release() {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	l.releaseLocked()
}

func (l *lease) releaseLocked() {
	l.released = true
	delete(l.r.leases, l)
	l.protected = nil
}

type leaseKey struct{}

// withLease makes l the lease of the calls made under ctx (a foreign
// evaluation's `at`): result blocks stored on its behalf are protected
// by it.
func withLease(ctx context.Context, l *lease) context.Context {
	return context.WithValue(ctx, leaseKey{}, l)
}

func leaseFrom(ctx context.Context) *lease {
	l, _ := ctx.Value(leaseKey{}).(*lease)
	return l
}

// ---- storing on a peer's say-so ----

// chargeForeign records blocks about to be stored on charged's say-so as
// unpinned, within its quota and the node's cap (collecting first if
// needed), and protects them with l. Blocks already held are not stored
// again (held unpinned, or pinned: the node keeps its copy); blocks an
// owner write is storing at the same time are stored pinned. It returns
// the blocks to store (dag.Store.AddBlocks) and the CIDs of those that
// are new here. links[i] are blocks[i]'s links (dag.Links); nil computes
// them. The records are written before the caller stores the blocks, so
// that no crash leaves a foreign block without one.
func (c *Codebase) chargeForeign(ctx context.Context, l *lease, charged peer.ID, blocks []dag.Block, links [][]cid.Cid) (store []dag.Block, fresh []cid.Cid, err error) {
	idx, fresh, err := c.chargeForeignAt(ctx, l, charged, blocks, links, "")
	if err != nil {
		return nil, nil, err
	}
	store = make([]dag.Block, len(idx))
	for k, i := range idx {
		store[k] = blocks[i]
	}
	return store, fresh, nil
}

// chargeForeignAt is chargeForeign with the blocks to store given by
// their indices in blocks (the receiving side keeps each block's checked
// form beside it, dag.Received, and finds it so). With from set, the
// fresh blocks' received records (markReceived's, from) go in the batch
// of their unpinned records: one write for both, before the blocks, as
// the unpinned records are. A record whose block a crash or a failure
// then leaves unstored is what an unpinned record in that case is: the
// next collection (or dropUnlinked) deletes both with the block's keys,
// and until then it only lets from be sent a block this node does not
// hold (shareable), which finds it absent.
func (c *Codebase) chargeForeignAt(ctx context.Context, l *lease, charged peer.ID, blocks []dag.Block, links [][]cid.Cid, from peer.ID) (store []int, fresh []cid.Cid, err error) {
	return c.chargeForeignMsg(ctx, l, charged, blocks, links, from, false, nil)
}

// chargeForeignMsg is chargeForeignAt; distinct says no two of blocks
// have the same CID (receiveBlocksAsking knows it from its map of the
// blocks received), and saves the set that finds the second of two.
// recv, when not nil, is blocks as received (recv[i].Block() is
// blocks[i]): the store's keys for each block are then made once, for
// the presence check here and for AddReceived's writes after it, and
// the records' keys take the multihash from them rather than encoding
// it again.
func (c *Codebase) chargeForeignMsg(ctx context.Context, l *lease, charged peer.ID, blocks []dag.Block, links [][]cid.Cid, from peer.ID, distinct bool, recv []dag.Received) (store []int, fresh []cid.Cid, err error) {
	if links == nil {
		links = make([][]cid.Cid, len(blocks))
		for i, b := range blocks {
			if links[i], err = dag.LinksUnverified(b.Data); err != nil {
				return nil, nil, fmt.Errorf("block %s: %w", b.CID, err)
			}
		}
	}
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLocked(ctx, c.ds()); err != nil {
		return nil, nil, err
	}
	// A new block: its index in blocks (whose CID gives its digest
	// again when it is added) and its books.
	type pending struct {
		i int
		b *heldBlock
	}
	var add DiskUsage
	// Sized for the message at once: these grow by one per block.
	pend := make([]pending, 0, len(blocks))
	var seen map[digest]bool
	if !distinct {
		seen = make(map[digest]bool, len(blocks))
	}
	store = make([]int, 0, len(blocks))
	var slab heldSlab
	for i, b := range blocks {
		d, ok := digestOf(b.CID)
		if !ok {
			store = append(store, i) // AddBlocks refuses it
			continue
		}
		if seen != nil {
			if seen[d] {
				continue
			}
			seen[d] = true
		}
		l.protectLocked(d)
		if r.blocks[d] != nil {
			continue // held, unpinned
		}
		if r.pinning[d] > 0 {
			store = append(store, i) // an owner write stores it too: pinned
			continue
		}
		var held bool
		if recv != nil {
			held, err = c.store.HasReceived(ctx, &recv[i])
		} else {
			held, err = c.store.Has(ctx, b.CID)
		}
		if err != nil {
			return nil, nil, err
		}
		if held {
			continue // pinned
		}
		hb := slab.next(int64(len(b.Data)), links[i], len(blocks)-i)
		pend = append(pend, pending{i, hb})
		add = add.plus(hb.usage())
	}
	if len(pend) == 0 {
		return store, nil, nil
	}
	if err := r.makeRoomLocked(ctx, c.store, r.peerLocked(charged), add); err != nil {
		if pu := r.peers[charged]; pu != nil && pu.used == (DiskUsage{}) {
			delete(r.peers, charged)
		}
		return nil, nil, err
	}
	// Again: a collection drops the books of a peer it leaves with
	// nothing.
	pu := r.peerLocked(charged)
	batch, err := c.ds().Batch(ctx)
	if err != nil {
		return nil, nil, err
	}
	fromValue := []byte(from) // one value for all: datastores take it as read-only
	var kb [2 * 96]byte
	// The records, a few to an array (recordSlabBlocks), each sized
	// exactly: a datastore that keeps the values it is given (memds)
	// keeps an array while any of its records is stored, so the arrays
	// are short; one that copies them drops them after the commit.
	var recs []byte
	for k, p := range pend {
		if k%recordSlabBlocks == 0 {
			// The next few blocks' books charged to pu (their records
			// name it), and their records' array.
			n := 0
			for _, q := range pend[k:min(k+recordSlabBlocks, len(pend))] {
				q.b.peer = pu
				n += recordLen(q.b)
			}
			recs = make([]byte, 0, n)
		}
		start := len(recs)
		recs = appendRecord(recs, p.b)
		// Capped: the next record's bytes are not this value's.
		rec := recs[start:len(recs):len(recs)]
		// A block's two keys in one string (one allocation, not two):
		// they go together, when the block is evicted; pinning drops
		// only the unpinned one, which then leaves its bytes in the
		// received key's string, a key's length at most.
		var k []byte
		if recv != nil && supportedCID(blocks[p.i].CID) {
			// The multihash as the store's keys spell it, made once for
			// them (dag.Received.MhKey): appendMarkKey's encoding.
			k = append(kb[:0], prefixUnpinned...)
			k = append(k, recv[p.i].MhKey()...)
		} else {
			k = appendMarkKey(kb[:0], prefixUnpinned, blocks[p.i].CID)
		}
		nk := len(k)
		if from != "" {
			// The same encoded multihash after the other prefix.
			k = append(append(k, prefixReceived...), k[len(prefixUnpinned):nk]...)
		}
		keys := string(k)
		if err := batch.Put(ctx, datastore.RawKey(keys[:nk]), rec); err != nil {
			return nil, nil, err
		}
		if from != "" {
			if err := batch.Put(ctx, datastore.RawKey(keys[nk:]), fromValue); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return nil, nil, fmt.Errorf("recording unpinned blocks: %w", err)
	}
	if len(pend) > len(r.blocks) {
		// Grown once to what it is about to hold (a first sync, or one
		// bigger than everything held), not by doubling as it fills:
		// the copy costs what the doublings' last one would.
		m := make(map[digest]*heldBlock, len(r.blocks)+len(pend))
		for d, b := range r.blocks {
			m[d] = b
		}
		r.blocks = m
	}
	fresh = make([]cid.Cid, 0, len(pend))
	for _, p := range pend {
		d, _ := digestOf(blocks[p.i].CID) // one it took above
		r.addLocked(d, p.b)
		store = append(store, p.i)
		fresh = append(fresh, blocks[p.i].CID)
	}
	return store, fresh, nil
}

// recordSlabBlocks is how many records chargeForeignMsg encodes into one
// array.
const recordSlabBlocks = 8

// makeRoomLocked makes room for add charged to pu, collecting if the
// peer's quota or the node's cap would be exceeded.
func (r *retainer) makeRoomLocked(ctx context.Context, store *dag.Store, pu *peerUsage, add DiskUsage) error {
	q := r.quota
	if !pu.used.plus(add).within(q.PerPeer) {
		if _, err := r.collectLocked(ctx, store, pu, q.PerPeer.lowWater().minus(add)); err != nil {
			return err
		}
		if u := pu.used.plus(add); !u.within(q.PerPeer) {
			what, used, limit := u.exceeded(q.PerPeer)
			return &DiskQuotaError{Peer: pu.id.String(), Scope: "peer", What: what, Used: used, Limit: limit, Shared: r.shared}
		}
	}
	if !r.total.plus(add).within(q.Total) {
		if _, err := r.collectLocked(ctx, store, nil, q.Total.lowWater().minus(add)); err != nil {
			return err
		}
		if u := r.total.plus(add); !u.within(q.Total) {
			what, used, limit := u.exceeded(q.Total)
			return &DiskQuotaError{Peer: pu.id.String(), Scope: "node", What: what, Used: used, Limit: limit, Shared: r.shared}
		}
	}
	return nil
}

// retainRoots records roots as used by peer p just now: the most
// recently used are the last evicted. Pinned roots need no record.
func (c *Codebase) retainRoots(p peer.ID, roots []cid.Cid) {
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range digestsOfCIDs(roots) {
		if r.blocks[d] == nil {
			continue
		}
		if e, ok := r.roots[d]; ok {
			e.Value.(*retainedRoot).peer = p
			r.lru.MoveToFront(e)
			continue
		}
		r.roots[d] = r.lru.PushFront(&retainedRoot{d: d, peer: p})
		if r.lru.Len() > MaxRetainedRoots {
			old := r.lru.Back()
			r.lru.Remove(old)
			delete(r.roots, old.Value.(*retainedRoot).d)
		}
	}
}

// receivedBlocks is every block a sync has received, by digest, with
// its links: the graph unlinked walks. A block's place in links is its
// index; the walk marks what it reaches in an array by those indices,
// not in a second map of the blocks.
type receivedBlocks struct {
	index map[digest]int32
	links [][]cid.Cid
}

// newReceivedBlocks has room for n blocks (a sync's list, which the
// caller holds within MaxSyncBlocks).
func newReceivedBlocks(n int) *receivedBlocks {
	return &receivedBlocks{index: make(map[digest]int32, n), links: make([][]cid.Cid, 0, n)}
}

// add records a block received, with its links, and reports whether it
// is new to the sync. Every block takes the next place in links, a
// block received again too (the index then names its later place, with
// the same links): the caller's j-th block of a message is at the place
// len(links) was before the message.
func (rb *receivedBlocks) add(d digest, links []cid.Cid) bool {
	n := len(rb.index)
	rb.index[d] = int32(len(rb.links))
	rb.links = append(rb.links, links)
	return len(rb.index) > n
}

// count is how many different blocks were received (none before the
// need reply, when there is no set yet).
func (rb *receivedBlocks) count() int {
	if rb == nil {
		return 0
	}
	return len(rb.index)
}

// reached reports whether d is a received block the walk whose marks
// are reached got to.
func (rb *receivedBlocks) reached(reached []bool, d digest) bool {
	j, ok := rb.index[d]
	return ok && reached[j]
}

// dropUnlinked evicts at once those of the blocks a failed sync stored
// that its roots do not reach (see unlinked) and nothing else needs (no
// other lease, no retained root): they came on the caller's word alone.
// What the roots reach stays, unretained, for a retry.
func (c *Codebase) dropUnlinked(ctx context.Context, l *lease, roots, stored []cid.Cid, received *receivedBlocks) error {
	if len(stored) == 0 {
		return nil
	}
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	reached, _ := r.reachedLocked(roots, received)
	only := map[digest]bool{}
	for _, x := range stored {
		if d, ok := digestOf(x); ok && !received.reached(reached, d) {
			only[d] = true
		}
	}
	if len(only) == 0 {
		return nil
	}
	marked, err := r.markAllLocked(ctx, c.ds(), l)
	if err != nil {
		return err
	}
	_, err = r.sweepLocked(context.WithoutCancel(ctx), c.store, marked, only)
	return err
}

// unlinked returns the first of order (blocks a sync stored, new here,
// all of them received) that roots do not reach through the links of
// the blocks received and of unpinned blocks. A pinned block not
// received links to no new block (it is complete, or its owner's write
// announced what it needs), so the walk ends there. When some block is
// unreached and the walk met a block the node does not hold at all (a
// hole: a block the caller left out, thinking the node held it), hole
// names it: the unreached blocks may hang below it.
func (c *Codebase) unlinked(ctx context.Context, roots, order []cid.Cid, received *receivedBlocks) (first, hole cid.Cid, err error) {
	if received.count() == 0 {
		return cid.Undef, cid.Undef, nil
	}
	r := c.retainer()
	r.mu.Lock()
	reached, stops := r.reachedLocked(roots, received)
	r.mu.Unlock()
	for _, x := range order {
		if d, ok := digestOf(x); ok && !received.reached(reached, d) {
			first = x
			break
		}
	}
	if !first.Defined() {
		return cid.Undef, cid.Undef, nil
	}
	for _, d := range stops {
		held, err := c.store.Has(ctx, d.cid())
		if err != nil {
			return first, cid.Undef, err
		}
		if !held {
			return first, d.cid(), nil
		}
	}
	return first, cid.Undef, nil
}

// reachedLocked is what roots reach through the links of received and
// unpinned blocks (reached: by the received blocks' places, see
// receivedBlocks.reached), and where the walk stopped (pinned or absent
// blocks).
func (r *retainer) reachedLocked(roots []cid.Cid, received *receivedBlocks) (reached []bool, stops []digest) {
	// The received blocks' links stay CIDs (what the one-pass decoding
	// collected), turned into digests, in place, as the walk pushes
	// them: no per-block copy of them.
	if received == nil {
		received = &receivedBlocks{}
	}
	reached = make([]bool, len(received.links))
	// The blocks not received that the walk met (unpinned ones, or
	// where it stopped): few, and none on a first sync.
	var met map[digest]bool
	stack := digestsOfCIDs(roots)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if j, ok := received.index[d]; ok {
			if reached[j] {
				continue
			}
			reached[j] = true
			for _, l := range received.links[j] {
				if ld, ok := digestOf(l); ok {
					stack = append(stack, ld)
				}
			}
			continue
		}
		if met[d] {
			continue
		}
		if met == nil {
			met = map[digest]bool{}
		}
		met[d] = true
		if b := r.blocks[d]; b != nil {
			stack = append(stack, b.links...)
		} else {
			stops = append(stops, d)
		}
	}
	return reached, stops
}

// ---- pinning ----

// pinFor pins the blocks cs and every unpinned block they reach, and
// until release counts cs as pinned wherever they come from: a foreign
// sync that stores one of them meanwhile stores it pinned. Owner writes
// (add, results of its own calls, fetches) call it before they store
// blocks, naming the blocks and their links, so that the invariant holds
// at every moment and no collection can take what they rely on.
func (c *Codebase) pinFor(ctx context.Context, cs []cid.Cid) (release func(), err error) {
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLocked(ctx, c.ds()); err != nil {
		return nil, err
	}
	ds := digestsOfCIDs(cs)
	for _, d := range ds {
		r.pinning[d]++
	}
	release = func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, d := range ds {
			if r.pinning[d]--; r.pinning[d] <= 0 {
				delete(r.pinning, d)
			}
		}
	}
	if err := r.pinLocked(ctx, c.ds(), ds); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// pinCompiled announces the blocks of an add (pinFor): them, and when
// any block is unpinned, what they link to (a definition may refer to
// another by #CID, maybe one a peer sent).
func (c *Codebase) pinCompiled(ctx context.Context, comp *dag.Compiled) (release func(), err error) {
	cs := make([]cid.Cid, 0, len(comp.Blocks))
	for _, b := range comp.Blocks {
		cs = append(cs, b.CID)
	}
	some, err := c.hasUnpinned(ctx)
	if err != nil {
		return nil, err
	}
	if some {
		for _, b := range comp.Blocks {
			ls, err := dag.Links(b.Data)
			if err != nil {
				return nil, fmt.Errorf("block %s: %w", b.CID, err)
			}
			cs = append(cs, ls...)
		}
	}
	return c.pinFor(ctx, cs)
}

// pinLinks pins the blocks cs, already stored, with their closures.
func (c *Codebase) pinLinks(ctx context.Context, cs []cid.Cid) error {
	if len(cs) == 0 {
		return nil
	}
	release, err := c.pinFor(ctx, cs)
	if err != nil {
		return err
	}
	release()
	return nil
}

// hasUnpinned reports whether any block is unpinned (an owner write
// need not look at its blocks' links when none is).
func (c *Codebase) hasUnpinned(ctx context.Context) (bool, error) {
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLocked(ctx, c.ds()); err != nil {
		return false, err
	}
	return len(r.blocks) > 0, nil
}

func (r *retainer) pinLocked(ctx context.Context, ds datastore.Batching, start []digest) error {
	var pinned []digest
	stack := slices.Clone(start)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		b := r.blocks[d]
		if b == nil {
			continue
		}
		r.forgetLocked(d, b)
		pinned = append(pinned, d)
		stack = append(stack, b.links...)
	}
	if len(pinned) == 0 {
		return nil
	}
	batch, err := ds.Batch(ctx)
	if err != nil {
		return err
	}
	for _, d := range pinned {
		if err := batch.Delete(ctx, markKey(prefixUnpinned, d.cid())); err != nil {
			return err
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("pinning %d blocks: %w", len(pinned), err)
	}
	return nil
}

// completeRoots is ensureComplete for this codebase: before blocks are
// marked complete, a pinned block among them (stored by an owner write
// that could not complete it then) first pins what it links to, so that
// no pinned block becomes complete over unpinned ones.
func (c *Codebase) completeRoots(ctx context.Context, roots []cid.Cid) error {
	var todo []cid.Cid
	for _, root := range roots {
		ok, err := c.store.IsComplete(ctx, root)
		if err != nil {
			return err
		}
		if !ok {
			todo = append(todo, root)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	links, err := c.pinnedIncompleteLinks(ctx, todo)
	if err != nil {
		return err
	}
	if len(links) > 0 {
		release, err := c.pinFor(ctx, links)
		if err != nil {
			return err
		}
		defer release()
	}
	return ensureComplete(ctx, c.store, todo)
}

// pinnedIncompleteLinks walks the incomplete part of the closures of
// roots and returns the links of the pinned blocks in it.
func (c *Codebase) pinnedIncompleteLinks(ctx context.Context, roots []cid.Cid) ([]cid.Cid, error) {
	r := c.retainer()
	var out []cid.Cid
	seen := map[cid.Cid]bool{}
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		if ok, err := c.store.IsComplete(ctx, x); err != nil {
			return nil, err
		} else if ok {
			continue
		}
		data, err := c.store.Get(ctx, x)
		if errors.Is(err, dag.ErrNotFound) {
			continue // ensureComplete names it
		}
		if err != nil {
			return nil, err
		}
		links, err := dag.NeededLinks(data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", x, err)
		}
		d, _ := digestOf(x)
		r.mu.Lock()
		unpinned := r.blocks[d] != nil
		r.mu.Unlock()
		if !unpinned {
			out = append(out, links...)
		}
		stack = append(stack, links...)
	}
	return out, nil
}

// ---- collection ----

// markAllLocked marks what must stay: everything leases other than
// except protect, node data and every retained root reaches.
func (r *retainer) markAllLocked(ctx context.Context, ds datastore.Datastore, except *lease) (map[digest]bool, error) {
	m := &marker{r: r, marked: map[digest]bool{}}
	if err := r.markDataLocked(ctx, ds, m); err != nil {
		return nil, err
	}
	for l := range r.leases {
		if l == except {
			continue
		}
		for d := range l.protected {
			m.mark(d, nil)
		}
	}
	for e := r.lru.Front(); e != nil; e = e.Next() {
		m.mark(e.Value.(*retainedRoot).d, nil)
	}
	return m.marked, nil
}

// marker marks unpinned blocks through their links, summing the usage
// of those that count (all, or one peer's).
type marker struct {
	r      *retainer
	scope  *peerUsage // nil: every block counts
	marked map[digest]bool
	kept   DiskUsage
	stack  []digest
}

func (m *marker) mark(start digest, newly *[]digest) {
	m.stack = append(m.stack[:0], start)
	for len(m.stack) > 0 {
		d := m.stack[len(m.stack)-1]
		m.stack = m.stack[:len(m.stack)-1]
		if m.marked[d] {
			continue
		}
		b := m.r.blocks[d]
		if b == nil {
			continue // pinned or absent: nothing below it is unpinned
		}
		m.marked[d] = true
		if newly != nil {
			*newly = append(*newly, d)
		}
		if b.peer.id != dataPeer && (m.scope == nil || b.peer == m.scope) {
			m.kept = m.kept.plus(b.usage())
		}
		m.stack = append(m.stack, b.links...)
	}
}

// collectLocked evicts unpinned blocks until what scope (a peer, or nil
// for all) keeps is within target, if it can: it keeps what leases
// protect, then (for a peer) every other peer's roots, then the scope's
// roots from the most recently used while they fit; roots that do not
// fit are dropped with every older one, and every unmarked block is
// evicted. It returns what it evicted.
func (r *retainer) collectLocked(ctx context.Context, store *dag.Store, scope *peerUsage, target DiskUsage) (DiskUsage, error) {
	if r.shared {
		return DiskUsage{}, nil // nothing is evicted: see retainer
	}
	m := &marker{r: r, scope: scope, marked: map[digest]bool{}}
	if err := r.markDataLocked(ctx, store.Datastore(), m); err != nil {
		return DiskUsage{}, err
	}
	for l := range r.leases {
		for d := range l.protected {
			m.mark(d, nil)
		}
	}
	inScope := func(rt *retainedRoot) bool { return scope == nil || rt.peer == scope.id }
	for e := r.lru.Front(); e != nil; e = e.Next() {
		if rt := e.Value.(*retainedRoot); !inScope(rt) {
			m.mark(rt.d, nil)
		}
	}
	var drop []*list.Element
	full := false
	for e := r.lru.Front(); e != nil; e = e.Next() {
		rt := e.Value.(*retainedRoot)
		if !inScope(rt) {
			continue
		}
		if full {
			drop = append(drop, e)
			continue
		}
		var newly []digest
		before := m.kept
		m.mark(rt.d, &newly)
		if !m.kept.within(target) {
			for _, d := range newly {
				delete(m.marked, d)
			}
			m.kept = before
			full = true
			drop = append(drop, e)
		}
	}
	for _, e := range drop {
		r.lru.Remove(e)
		delete(r.roots, e.Value.(*retainedRoot).d)
	}
	return r.sweepLocked(context.WithoutCancel(ctx), store, m.marked, nil)
}

// sweepLocked evicts the unpinned blocks that are not marked (and, if
// only is set, are in it).
func (r *retainer) sweepLocked(ctx context.Context, store *dag.Store, marked, only map[digest]bool) (DiskUsage, error) {
	if r.shared {
		// A failed sync's unlinked blocks stay too (dropUnlinked),
		// charged to the peer that sent them: another process may have
		// come to rely on one since it was stored.
		return DiskUsage{}, nil
	}
	var victims []digest
	for d := range r.blocks {
		if !marked[d] && (only == nil || only[d]) {
			victims = append(victims, d)
		}
	}
	var freed DiskUsage
	if len(victims) == 0 {
		return freed, nil
	}
	cids := make([]cid.Cid, len(victims))
	for i, d := range victims {
		cids[i] = d.cid()
	}
	err := store.Evict(ctx, cids, func(c cid.Cid) []datastore.Key {
		return []datastore.Key{markKey(prefixReceived, c), markKey(prefixUnpinned, c)}
	})
	if err != nil {
		return freed, err
	}
	for _, d := range victims {
		b := r.blocks[d]
		freed = freed.plus(b.usage())
		r.forgetLocked(d, b)
	}
	return freed, nil
}

// ---- repo gc, repo stat ----

// GCResult is what a collection removed.
type GCResult struct {
	Blocks int64 `json:"blocks"`
	Bytes  int64 `json:"bytes"`
}

// CollectGarbage evicts every unpinned block that no running evaluation
// or sync in progress uses (`unode repo gc`). Pinned blocks (the
// owner's, published, received for its own calls, referred to by node
// data) are never evicted. On a store several processes share it evicts
// nothing and fails with dag.ErrSharedStore (see retainer).
func (c *Codebase) CollectGarbage(ctx context.Context) (GCResult, error) {
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shared {
		return GCResult{}, fmt.Errorf("repo gc: %w", dag.ErrSharedStore)
	}
	if err := r.ensureLocked(ctx, c.ds()); err != nil {
		return GCResult{}, err
	}
	freed, err := r.collectLocked(ctx, c.store, nil, DiskUsage{})
	if err == nil {
		err = c.dropSideRecords(ctx)
	}
	return GCResult{Blocks: freed.Blocks, Bytes: freed.Bytes}, err
}

// dropSideRecords removes the hints, positions and forms of definitions
// no longer stored (evicted just now, or before such records were
// collected) and per-name records of names no longer bound to them.
func (c *Codebase) dropSideRecords(ctx context.Context) error {
	if _, err := c.store.DropSideRecords(ctx); err != nil {
		return fmt.Errorf("repo gc: %w", err)
	}
	return nil
}

// PeerDisk is the unpinned storage charged to one peer.
type PeerDisk struct {
	Peer string `json:"peer"`
	DiskUsage
}

// DiskStat describes the block store (`unode repo stat`).
type DiskStat struct {
	// Blocks and Bytes count every stored block.
	Blocks int64 `json:"blocks"`
	Bytes  int64 `json:"bytes"`
	// Pinned is what is kept for good; Unpinned what other peers made
	// the node store, evictable.
	Pinned   GCResult  `json:"pinned"`
	Unpinned DiskUsage `json:"unpinned"`
	// Data is what node data's chunked values hold (data_chunks.go):
	// outside the quota, evictable once no data key refers to it.
	Data DiskUsage `json:"data"`
	// Peers lists the peers charged the most unpinned bytes, most
	// first; PeerCount counts all peers charged anything.
	Peers     []PeerDisk `json:"peers"`
	PeerCount int        `json:"peerCount"`
	// RetainedRoots counts the roots of foreign syncs kept (LRU); InUse
	// the running evaluations and syncs that protect blocks.
	RetainedRoots int       `json:"retainedRoots"`
	InUse         int       `json:"inUse"`
	Quota         DiskQuota `json:"quota"`
}

// DiskStat reports the store's blocks, pinned and unpinned, and the top
// peers charged for unpinned storage.
func (c *Codebase) DiskStat(ctx context.Context, top int) (*DiskStat, error) {
	blocks, size, err := c.store.BlockUsage(ctx)
	if err != nil {
		return nil, err
	}
	r := c.retainer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLocked(ctx, c.ds()); err != nil {
		return nil, err
	}
	st := &DiskStat{Blocks: blocks, Bytes: size, Unpinned: r.total, Peers: []PeerDisk{}, PeerCount: len(r.peers),
		RetainedRoots: r.lru.Len(), InUse: len(r.leases), Quota: r.quota}
	if pu := r.peers[dataPeer]; pu != nil {
		st.Data = pu.used
		st.PeerCount--
	}
	st.Pinned = GCResult{Blocks: max(blocks-r.total.Blocks-st.Data.Blocks, 0), Bytes: max(size-r.total.Bytes-st.Data.Bytes, 0)}
	for _, pu := range r.peers {
		if pu.id == dataPeer {
			continue
		}
		st.Peers = append(st.Peers, PeerDisk{Peer: pu.id.String(), DiskUsage: pu.used})
	}
	slices.SortFunc(st.Peers, func(a, b PeerDisk) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		return strings.Compare(a.Peer, b.Peer)
	})
	if top >= 0 && len(st.Peers) > top {
		st.Peers = st.Peers[:top]
	}
	return st, nil
}

// SetDiskQuota sets the bounds on unpinned storage for the codebase's
// datastore (shared by every codebase and node over it). It applies to
// the next blocks stored; what is stored already is evicted when room is
// next needed.
func (c *Codebase) SetDiskQuota(q DiskQuota) error {
	if err := q.validate(); err != nil {
		return err
	}
	r := c.retainer()
	r.mu.Lock()
	r.quota = q
	r.mu.Unlock()
	return nil
}
