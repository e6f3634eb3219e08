package pgds

import (
	"context"
	"slices"

	ds "github.com/ipfs/go-datastore"
	"github.com/jackc/pgx/v5"
)

// batch collects writes in memory; Commit sends them as one transaction in
// one round trip.
type batch struct {
	d   *Datastore
	ops map[string]batchOp // by key: the last write to a key wins
}

type batchOp struct {
	value  []byte
	delete bool
}

// Batch returns a batch whose Commit is atomic: every write of it is
// visible at once, to every client, or none is.
func (d *Datastore) Batch(ctx context.Context) (ds.Batch, error) {
	if d.closed.Load() {
		return nil, d.fail("batch", "", ErrClosed)
	}
	return &batch{d: d, ops: map[string]batchOp{}}, nil
}

// Put records a write. The value is copied: the caller may reuse it.
func (b *batch) Put(ctx context.Context, key ds.Key, value []byte) error {
	k := key.String()
	if len(k) > MaxKeySize {
		return b.d.fail("put", k[:64]+"...", ErrKeyTooLong)
	}
	b.ops[k] = batchOp{value: append([]byte{}, value...)}
	return nil
}

// Delete records a delete.
func (b *batch) Delete(ctx context.Context, key ds.Key) error {
	k := key.String()
	if len(k) > MaxKeySize {
		return nil // nothing to delete
	}
	b.ops[k] = batchOp{delete: true}
	return nil
}

// Commit writes the batch in one transaction: BEGIN, the writes and
// COMMIT are pipelined in one round trip (pgx.Batch). The writes go in
// key order, so that two batches touching the same keys lock their rows
// in the same order and never deadlock each other.
func (b *batch) Commit(ctx context.Context) error {
	if len(b.ops) == 0 {
		return nil
	}
	keys := make([]string, 0, len(b.ops))
	for k := range b.ops {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	err := b.d.retry(ctx, func() error {
		q := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(keys)+2)}
		q.Queue("BEGIN")
		for _, k := range keys {
			if op := b.ops[k]; op.delete {
				q.Queue(b.d.sqlDel, []byte(k))
			} else {
				q.Queue(b.d.sqlPut, []byte(k), op.value)
			}
		}
		q.Queue("COMMIT")
		// A statement that fails aborts the transaction: the server skips
		// the rest, COMMIT included, and the pool discards the
		// connection, which it finds inside a failed transaction.
		return b.d.pool.SendBatch(ctx, q).Close()
	})
	if err != nil {
		return b.d.fail("batch", "", err)
	}
	return nil
}
