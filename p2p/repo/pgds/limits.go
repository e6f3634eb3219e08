package pgds

import "time"

const (
	// MaxKeySize bounds a key in bytes. PostgreSQL refuses a B-tree index
	// entry over about a third of its 8 KiB page (2704 bytes), after the
	// row is written to the heap; checking first gives a clear error
	// (ErrKeyTooLong) before any round trip, the same on every server.
	MaxKeySize = 2048

	// maxPageRows bounds the rows one query page asks for. A query is
	// read in pages (keyset pagination), each its own short statement
	// that holds a pool connection only while it runs, so that the
	// caller may use the datastore between results without the pool
	// running dry; a page this size amortises the round trip.
	maxPageRows = 1000

	// pageBytes is the size a page of values aims for: the next page's
	// row count is halved while a page exceeds it and doubled (up to
	// maxPageRows) while a page is under half of it, so that a query
	// over large values holds about this much in memory, not
	// maxPageRows of them.
	pageBytes = 4 << 20

	// firstValuePageRows is the first page's row count when values are
	// read: small, since their size is not known yet; a page of small
	// values doubles the next.
	firstValuePageRows = 16

	// defaultConnectTimeout bounds connecting to the server when the URL
	// sets no connect_timeout: a host that drops packets fails a call
	// after this long instead of after the kernel's TCP timeout
	// (minutes), even under a context with no deadline.
	defaultConnectTimeout = 10 * time.Second

	// maxAttempts is how many times a call is sent when its connection
	// is lost (the server restarted under a pooled connection, or
	// closed it). Every call is idempotent (upserts, deletes, reads), so
	// a second attempt on a fresh connection is safe; more would only
	// delay the error while the server is down.
	maxAttempts = 2
)
