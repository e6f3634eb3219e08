package memds

import (
	"context"
	"strings"
	"sync"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Datastore is an in-memory datastore.Batching; the zero value is not
// usable, New makes one.
type Datastore struct {
	mu     sync.RWMutex
	values map[string][]byte
	// sized is the number of entries values was made for (make's hint):
	// up to it, writes do not grow the map.
	sized int
}

var _ datastore.Batching = (*Datastore)(nil)

// New returns an empty datastore.
func New() *Datastore {
	return &Datastore{values: make(map[string][]byte)}
}

// Put stores value under key; value is kept, not copied.
func (d *Datastore) Put(_ context.Context, key datastore.Key, value []byte) error {
	d.mu.Lock()
	d.values[key.String()] = value
	d.mu.Unlock()
	return nil
}

// Get returns the value under key, or datastore.ErrNotFound.
func (d *Datastore) Get(_ context.Context, key datastore.Key) ([]byte, error) {
	d.mu.RLock()
	v, ok := d.values[key.String()]
	d.mu.RUnlock()
	if !ok {
		return nil, datastore.ErrNotFound
	}
	return v, nil
}

// Has reports whether key is stored.
func (d *Datastore) Has(_ context.Context, key datastore.Key) (bool, error) {
	d.mu.RLock()
	_, ok := d.values[key.String()]
	d.mu.RUnlock()
	return ok, nil
}

// GetSize returns the length of the value under key, or -1 and
// datastore.ErrNotFound.
func (d *Datastore) GetSize(_ context.Context, key datastore.Key) (int, error) {
	d.mu.RLock()
	v, ok := d.values[key.String()]
	d.mu.RUnlock()
	if !ok {
		return -1, datastore.ErrNotFound
	}
	return len(v), nil
}

// Delete removes key; an absent key is no error.
func (d *Datastore) Delete(_ context.Context, key datastore.Key) error {
	d.mu.Lock()
	delete(d.values, key.String())
	d.mu.Unlock()
	return nil
}

// Sync does nothing: every write is already visible, and nothing is
// durable.
func (d *Datastore) Sync(context.Context, datastore.Key) error { return nil }

// Close does nothing; the datastore stays usable (as MapDatastore does).
func (d *Datastore) Close() error { return nil }

// Query answers q over a snapshot of the entries under q's prefix, taken
// under the read lock: the results are what was stored when Query was
// called, whatever is written while they are read. Filters, orders,
// offset and limit are go-datastore's own (query.NaiveQueryApply), so
// their meaning is exactly the library's.
func (d *Datastore) Query(_ context.Context, q query.Query) (query.Results, error) {
	prefix := queryPrefix(q.Prefix)
	d.mu.RLock()
	entries := make([]query.Entry, 0, d.sizeHint(prefix))
	for k, v := range d.values {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e := query.Entry{Key: k, Size: len(v)}
		if !q.KeysOnly {
			e.Value = v
		}
		entries = append(entries, e)
	}
	d.mu.RUnlock()
	// The snapshot is already under the prefix; NaiveQueryApply filters
	// by it again, which keeps the prefix's meaning the library's even
	// should queryPrefix and it ever disagree.
	return query.NaiveQueryApply(q, query.ResultsWithEntries(q, entries)), nil
}

// sizeHint is the capacity to give a snapshot: all the entries for a query
// of the whole store, none up front for one under a prefix (usually a
// small part of it). Called with d.mu held.
func (d *Datastore) sizeHint(prefix string) int {
	if prefix == "" {
		return len(d.values)
	}
	return 0
}

// queryPrefix is the string every key a query with prefix p may return
// starts with, as NaiveQueryApply reads p: cleaned as a key, then with
// "/" appended, so that "/a" finds "/a/b" but not "/ab". The root (or no
// prefix) is "": every key.
func queryPrefix(p string) string {
	if p == "" {
		return ""
	}
	c := datastore.NewKey(p).String()
	if c == "/" {
		return ""
	}
	return c + "/"
}

// Batch returns a new batch; it belongs to the goroutine that uses it.
func (d *Datastore) Batch(context.Context) (datastore.Batch, error) {
	return &batch{d: d}, nil
}

// op is one write of a batch.
type op struct {
	key    string
	value  []byte
	delete bool
}

// batch is a list of writes applied in the order made, under one write
// lock, at Commit. A later write of a key overrides an earlier one, as in
// go-datastore's basic batch (a Put then a Delete of a key deletes it).
// Like go-datastore's batches it is not safe for concurrent use.
//
// The writes are kept in chunks rather than in one slice that append
// would copy each time it grows: a batch of a sync's blocks holds
// thousands of writes, and copying them (pointers all, so under write
// barriers) cost as much as recording them. The first chunk is small
// (most batches are); every later one is a full chunk, taken from
// chunkPool and handed back, cleared, at Commit, so that a sync's
// batches reuse the same few chunks instead of allocating new ones
// (their bytes were a quarter of what a cold sync's store allocated).
type batch struct {
	d    *Datastore
	full [][]op // chunks filled, in order
	cur  []op   // the chunk being filled
	puts int    // Puts recorded: at most this many new keys
}

// The first chunk's capacity, and every later chunk's.
const (
	minChunk = 8
	maxChunk = 1024
)

// chunkPool holds full chunks (maxChunk ops), cleared: nothing in them
// keeps a key or value alive.
var chunkPool = sync.Pool{New: func() any { return new([maxChunk]op) }}

func (b *batch) add(o op) {
	if len(b.cur) == cap(b.cur) {
		if b.cur == nil {
			b.cur = make([]op, 0, minChunk)
		} else {
			b.full = append(b.full, b.cur)
			b.cur = chunkPool.Get().(*[maxChunk]op)[:0]
		}
	}
	b.cur = append(b.cur, o)
}

func (b *batch) Put(_ context.Context, key datastore.Key, value []byte) error {
	b.add(op{key: key.String(), value: value})
	b.puts++
	return nil
}

func (b *batch) Delete(_ context.Context, key datastore.Key) error {
	b.add(op{key: key.String(), delete: true})
	return nil
}

// Commit applies the batch's writes, all at once to readers, and empties
// it: writes made after a Commit make a new batch on the same value.
func (b *batch) Commit(context.Context) error {
	full, cur, puts := b.full, b.cur, b.puts
	b.full, b.cur, b.puts = nil, nil, 0
	if len(cur) == 0 {
		return nil
	}
	d := b.d
	d.mu.Lock()
	d.reserve(puts)
	m := d.values
	for _, c := range full {
		apply(m, c)
	}
	apply(m, cur)
	d.mu.Unlock()
	for _, c := range full {
		release(c)
	}
	release(cur)
	return nil
}

// reserve makes room in d.values for n more keys at once, when the map
// is smaller than the batch adding them (a node's first sync into its
// empty store): a map made for twice the size it is about to reach is
// allocated once, and takes this batch and a few as large (a sync's
// records, then its blocks, then their markers) without growing, where
// growing one key at a time allocates, all told, about as much again and
// moves every entry at each step. Copying the map's entries costs fewer
// steps than the batch's own, so the write lock is held at most about
// twice as long as the batch alone would hold it; a large map (a batch
// small beside it) grows as maps do, to the same twice its size at
// most. Called with d.mu held.
func (d *Datastore) reserve(n int) {
	have := len(d.values)
	if n < reserveMin || have >= n || have+n <= d.sized {
		return
	}
	size := 2 * (have + n)
	m := make(map[string][]byte, size)
	for k, v := range d.values {
		m[k] = v
	}
	d.values, d.sized = m, size
}

// reserveMin is the smallest batch reserve makes room for: a smaller
// one is not worth a new map.
const reserveMin = 64

// release hands a full chunk back to chunkPool, cleared.
func release(c []op) {
	if cap(c) != maxChunk {
		return
	}
	c = c[:maxChunk]
	clear(c)
	chunkPool.Put((*[maxChunk]op)(c))
}

// apply makes ops's writes to m, in order.
func apply(m map[string][]byte, ops []op) {
	for i := range ops {
		if ops[i].delete {
			delete(m, ops[i].key)
		} else {
			m[ops[i].key] = ops[i].value
		}
	}
}
