// Package memds is the in-memory datastore a node uses when it is given
// none (p2p.New without WithDatastore, the testground instances): a
// go-datastore Batching over one map under a read-write lock, safe for
// concurrent use without a wrapper.
//
// It replaces sync.MutexWrap(datastore.NewMapDatastore()), which a cold
// sync paid for on every block: that wrapper's batch records its
// operations in a map of its own and then replays them one Put at a time,
// each through the wrapper's lock, and every Has takes the lock through
// an interface call into the map. Here a batch is a slice of operations
// appended without locking (a batch belongs to one goroutine, as
// go-datastore's batches do) and applied in order under a single write
// lock at Commit, so a batch is also atomic to readers: a Query or Get
// sees all of a committed batch or none of it.
//
// Values are stored as given and returned as stored, without copies, as
// MapDatastore does: a caller must not modify a slice after passing it to
// Put, nor one that Get or Query returned. Keys are held as their strings.
//
// Nothing here bounds the map: what a node stores is bounded by its
// callers (the block store's quotas), as with any other datastore.
package memds
