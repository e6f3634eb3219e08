// Package pgds is a go-datastore Batching datastore in a PostgreSQL
// table, over pgx (github.com/jackc/pgx/v5) and its connection pool. It
// is for stores that several processes, on several machines, share: each
// opens the same database and sees every write of the others as soon as
// it returns.
//
// It knows nothing of what it stores; any go-datastore user may use it.
//
// # Data layout
//
// One table (Options.Table, "datastore" by default), created if absent:
//
//	CREATE TABLE datastore (key BYTEA PRIMARY KEY, value BYTEA NOT NULL)
//
// A key is the bytes of its datastore.Key string. BYTEA, not TEXT, so that
// keys sort byte by byte — go-datastore's order, and what makes a prefix
// a key range — whatever the database's collation.
//
// # Invariants
//
//   - Durable on return: Put, Delete and Batch.Commit return once their
//     transaction committed, so Sync has nothing left to do. Durability is
//     then the server's (PostgreSQL's default synchronous_commit=on
//     flushes its WAL before acknowledging a commit).
//   - Atomic batches: a batch's writes are one transaction (BEGIN, the
//     writes in key order, COMMIT), pipelined in one round trip; other
//     clients see all of it or none. Writes in key order mean concurrent
//     batches over the same keys cannot deadlock.
//   - Streamed queries: Query reads in pages by keyset pagination, one
//     short statement per page (at most maxPageRows rows, about pageBytes
//     of values), so a large prefix never sits in memory whole and no
//     connection stays checked out between results.
//   - Portable SQL: only what CockroachDB and YugabyteDB also accept
//     (INSERT ... ON CONFLICT, keyset pagination, no advisory locks,
//     cursors, LISTEN/NOTIFY or server-specific functions); the table's
//     primary key is declared ASC on YugabyteDB, which would hash it.
//   - Errors name the store: a call that the server refuses, or that
//     cannot reach it, fails with an *Error naming host, port and
//     database (never the password), operation and key, within the
//     caller's context. A lost connection is retried once on a fresh one
//     (every operation is idempotent), so a server that restarted serves
//     the next call without the Datastore being reopened.
//
// Beyond go-datastore, PutIfAbsent stores a key only if no client has, in
// one statement: what creating a shared identity once needs;
// SharedByProcesses tells callers that keep books about the store in
// memory that other processes write it too; and Error.StoreUnavailable
// tells a server that cannot be reached from one that refused a
// statement, for callers that must not show the store's address. There is no
// TxnDatastore: a transaction spanning the caller's reads and writes
// would hold a connection across them and, to mean anything on
// PostgreSQL, run SERIALIZABLE, with retries the caller would have to
// make. Batches that are transactions are enough for a writer that orders
// its batches (dag commits blocks before the markers that say their
// closure is present).
package pgds
