package pgds

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTable is the table a Datastore keeps its entries in when
// Options.Table is empty.
const DefaultTable = "datastore"

// Options tune New. The zero value is the default.
type Options struct {
	// Table names the table (created if absent): a lower-case SQL
	// identifier, DefaultTable when empty. Several datastores may share
	// one database under different tables.
	Table string
	// MaxConns and MinConns size the connection pool. Zero keeps the
	// URL's pool_max_conns and pool_min_conns, else pgx's defaults (the
	// greater of 4 and the number of CPUs; none kept open).
	MaxConns, MinConns int32
}

// ErrKeyTooLong is returned by Put and Batch.Put for a key over
// MaxKeySize bytes.
var ErrKeyTooLong = fmt.Errorf("key longer than %d bytes", MaxKeySize)

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("datastore closed")

// Error is how a call fails when the server refuses it or cannot be
// reached: it names the store (host, port and database; never the
// password), the operation and the key. Err is pgx's error (errors.As
// finds a *pgconn.PgError there when the server answered).
type Error struct {
	Store string // "host:port/database"
	Op    string // "get", "put", "batch", "query", ...
	Key   string // empty when the operation has none
	Err   error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("postgres store %s: %s: %v", e.Store, e.Op, e.Err)
	}
	return fmt.Sprintf("postgres store %s: %s %s: %v", e.Store, e.Op, e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// StoreUnavailable reports whether the call failed because the server
// could not be reached or went away (a refused or failed dial, a lost
// connection, a server shutting down, starting up or too slow for the
// caller's deadline, the Datastore closed), not because it refused the
// statement, the key was too long or the caller gave up: the same call
// may succeed later, unchanged. A caller that reports a failure to
// someone who should not see the store's address (Error's text names
// it) can still tell "unavailable" from "failed" by it.
func (e *Error) StoreUnavailable() bool {
	err := e.Err
	if errors.Is(err, ErrKeyTooLong) || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true // no answer from the server
	}
	return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
}

// Datastore is a go-datastore Batching datastore in one PostgreSQL table.
// It is safe for concurrent use, and any number of Datastores, in any
// number of processes, may use one table at once.
type Datastore struct {
	pool   *pgxpool.Pool
	name   string
	closed atomic.Bool

	table                                           string // quoted
	sqlGet, sqlHas, sqlSize, sqlPut, sqlDel, sqlAdd string
}

var (
	_ ds.Batching = (*Datastore)(nil)
)

// tableName is what Options.Table may be: a plain identifier, the same
// unquoted and quoted on every server.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New connects to the database at url (a postgres:// URL or a libpq
// keyword/value string; pgx reads $PGPASSWORD and ~/.pgpass as libpq
// does) and creates the table if absent. It fails if the server cannot
// be reached within ctx (and the connect timeout, 10 s unless the URL sets
// connect_timeout).
func New(ctx context.Context, url string, opts Options) (*Datastore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message quotes the URL with its password masked.
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	table := opts.Table
	if table == "" {
		table = DefaultTable
	}
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("postgres store: table %q: want a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes)", table)
	}
	if opts.MaxConns < 0 || opts.MinConns < 0 {
		return nil, fmt.Errorf("postgres store: negative pool size (max %d, min %d)", opts.MaxConns, opts.MinConns)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if cfg.MinConns > cfg.MaxConns {
		return nil, fmt.Errorf("postgres store: min_conns %d above max_conns %d", cfg.MinConns, cfg.MaxConns)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	d := &Datastore{
		name:  fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database),
		table: pgx.Identifier{table}.Sanitize(),
	}
	t := d.table
	d.sqlGet = "SELECT value FROM " + t + " WHERE key = $1"
	d.sqlHas = "SELECT EXISTS (SELECT 1 FROM " + t + " WHERE key = $1)"
	d.sqlSize = "SELECT octet_length(value) FROM " + t + " WHERE key = $1"
	d.sqlPut = "INSERT INTO " + t + " (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
	d.sqlDel = "DELETE FROM " + t + " WHERE key = $1"
	d.sqlAdd = "INSERT INTO " + t + " (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"

	d.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, d.fail("connect", "", err)
	}
	if err := d.createTable(ctx); err != nil {
		d.pool.Close()
		return nil, err
	}
	return d, nil
}

// Name is how errors name the store: "host:port/database".
func (d *Datastore) Name() string { return d.name }

// SharedByProcesses reports true: other processes, on this machine or
// others, may read and write the table at any moment. A caller that keeps
// books about the store in memory (what is in use, what may be deleted)
// learns from it that its books are not the whole story.
func (d *Datastore) SharedByProcesses() bool { return true }

// createTable creates the table if absent. The key is BYTEA so that keys
// sort byte by byte on every server whatever its collation, which prefix
// ranges and go-datastore's key order need.
func (d *Datastore) createTable(ctx context.Context) error {
	var version string
	if err := d.retry(ctx, func() error {
		return d.pool.QueryRow(ctx, "SELECT version()").Scan(&version)
	}); err != nil {
		return d.fail("connect", "", err)
	}
	ddl := "CREATE TABLE IF NOT EXISTS " + d.table + " (key BYTEA PRIMARY KEY, value BYTEA NOT NULL)"
	if strings.Contains(version, "-YB-") {
		// YugabyteDB hash-shards a primary key unless told otherwise,
		// which turns every prefix query into a scan of the whole table
		// and a sort; PostgreSQL does not accept the ASC.
		ddl = "CREATE TABLE IF NOT EXISTS " + d.table + " (key BYTEA, value BYTEA NOT NULL, PRIMARY KEY (key ASC))"
	}
	var err error
	for range 2 {
		// PostgreSQL's IF NOT EXISTS is not atomic: of two processes
		// creating the table at once, one may fail on the catalog (the
		// table's row type exists, or a unique violation). The second
		// try finds the table.
		if _, err = d.pool.Exec(ctx, ddl); err == nil || !isCode(err, "23505", "42P07", "42710") {
			break
		}
	}
	if err != nil {
		return d.fail("creating table "+d.table, "", err)
	}
	return nil
}

func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

func (d *Datastore) fail(op, key string, err error) error {
	return &Error{Store: d.name, Op: op, Key: key, Err: err}
}

// retry runs f, again (up to maxAttempts in all) when it failed for a
// reason a second attempt may not meet: the connection was lost (the
// server restarted or closed it; the pool replaces it) or the server
// aborted the transaction to resolve a conflict (deadlock, serialization
// failure: CockroachDB asks clients to retry these). Every operation of
// the datastore is idempotent, so a repeat is safe even when the first
// attempt's outcome is unknown.
func (d *Datastore) retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if d.closed.Load() {
			return ErrClosed
		}
		err = f()
		if err == nil || attempt == maxAttempts || ctx.Err() != nil || !retryable(err) {
			return err
		}
		if isCode(err, "40001", "40P01") {
			// Let the transaction that won the conflict finish first.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(1+rand.IntN(10*attempt)) * time.Millisecond):
			}
			continue
		}
		// One connection lost, all the pool's may be (a restarted
		// server); the pool pings only those idle for a second, so the
		// next attempt could get another dead one. Reset closes them
		// all, idle ones now, those in use when released: the next
		// attempt dials.
		d.pool.Reset()
	}
}

// retryable: the error is not the server's answer to the statement (a
// lost connection, a failed dial), or it is a server shutting down or a
// transaction rolled back by a conflict.
func retryable(err error) bool {
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true
	}
	return strings.HasPrefix(pe.Code, "08") || // connection exception
		strings.HasPrefix(pe.Code, "40") || // transaction rollback
		pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" // shutting down, starting up
}

// Get returns the value of key, or ds.ErrNotFound.
func (d *Datastore) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	k := key.String()
	if len(k) > MaxKeySize {
		return nil, ds.ErrNotFound // no such key can be stored
	}
	var v []byte
	err := d.retry(ctx, func() error { return d.pool.QueryRow(ctx, d.sqlGet, []byte(k)).Scan(&v) })
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ds.ErrNotFound
	case err != nil:
		return nil, d.fail("get", k, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Has reports whether key is stored.
func (d *Datastore) Has(ctx context.Context, key ds.Key) (bool, error) {
	k := key.String()
	if len(k) > MaxKeySize {
		return false, nil
	}
	var have bool
	if err := d.retry(ctx, func() error { return d.pool.QueryRow(ctx, d.sqlHas, []byte(k)).Scan(&have) }); err != nil {
		return false, d.fail("has", k, err)
	}
	return have, nil
}

// GetSize returns the size of key's value, or -1 and ds.ErrNotFound.
func (d *Datastore) GetSize(ctx context.Context, key ds.Key) (int, error) {
	k := key.String()
	if len(k) > MaxKeySize {
		return -1, ds.ErrNotFound
	}
	var n int
	err := d.retry(ctx, func() error { return d.pool.QueryRow(ctx, d.sqlSize, []byte(k)).Scan(&n) })
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return -1, ds.ErrNotFound
	case err != nil:
		return -1, d.fail("size", k, err)
	}
	return n, nil
}

// Put stores value under key, replacing any value there. It is committed
// when Put returns.
func (d *Datastore) Put(ctx context.Context, key ds.Key, value []byte) error {
	k := key.String()
	if len(k) > MaxKeySize {
		return d.fail("put", k[:64]+"...", ErrKeyTooLong)
	}
	if value == nil {
		value = []byte{} // NULL otherwise
	}
	if err := d.retry(ctx, func() error { _, err := d.pool.Exec(ctx, d.sqlPut, []byte(k), value); return err }); err != nil {
		return d.fail("put", k, err)
	}
	return nil
}

// PutIfAbsent stores value under key unless the key is already stored,
// atomically across every client of the table, and returns the value the
// key holds now (value, or the one stored first). It is what creating a
// shared identity once needs, where a Get then a Put races.
func (d *Datastore) PutIfAbsent(ctx context.Context, key ds.Key, value []byte) ([]byte, error) {
	k := key.String()
	if len(k) > MaxKeySize {
		return nil, d.fail("put", k[:64]+"...", ErrKeyTooLong)
	}
	if value == nil {
		value = []byte{}
	}
	for range maxAttempts {
		var tag pgconn.CommandTag
		err := d.retry(ctx, func() (err error) { tag, err = d.pool.Exec(ctx, d.sqlAdd, []byte(k), value); return err })
		if err != nil {
			return nil, d.fail("put", k, err)
		}
		if tag.RowsAffected() == 1 {
			return value, nil
		}
		// Under READ COMMITTED this statement sees the row the insert
		// conflicted with, unless it was deleted since: then try again.
		v, err := d.Get(ctx, key)
		if !errors.Is(err, ds.ErrNotFound) {
			return v, err
		}
	}
	return nil, d.fail("put", k, errors.New("key deleted and stored again while being added"))
}

// Delete removes key; a missing key is not an error.
func (d *Datastore) Delete(ctx context.Context, key ds.Key) error {
	k := key.String()
	if len(k) > MaxKeySize {
		return nil
	}
	if err := d.retry(ctx, func() error { _, err := d.pool.Exec(ctx, d.sqlDel, []byte(k)); return err }); err != nil {
		return d.fail("delete", k, err)
	}
	return nil
}

// Sync does nothing: every Put, Delete and Batch.Commit is a committed
// transaction by the time it returns, made durable by the server (with
// PostgreSQL's default synchronous_commit=on, its WAL is flushed before
// the commit is acknowledged).
func (d *Datastore) Sync(ctx context.Context, prefix ds.Key) error {
	if d.closed.Load() {
		return d.fail("sync", prefix.String(), ErrClosed)
	}
	return nil
}

// Close closes the pool, waiting for calls in flight. Calls after it fail
// with ErrClosed.
func (d *Datastore) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.pool.Close()
	return nil
}
