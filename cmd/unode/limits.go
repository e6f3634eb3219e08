package main

import "time"

// Bounds of the local API and the daemon, each with its reason.
const (
	// maxRequestBytes caps an API request body. The largest request is
	// `unode add` of several files; the parser caps one file at 8 MiB, so
	// this leaves room for a handful of maximal files while keeping a
	// confused client from filling the daemon's memory.
	maxRequestBytes = 64 << 20

	// maxSocketPath is the longest API socket path used. sun_path holds
	// 108 bytes on Linux and 104 on macOS and the BSDs; a longer path
	// cannot be bound, so the daemon refuses it with a clear message
	// instead of "invalid argument".
	maxSocketPath = 103

	// probeTimeout bounds the dial that checks whether a daemon listens
	// on the socket. A live daemon accepts at once; a stale socket
	// refuses at once; anything slower is treated as no daemon rather
	// than hanging the command.
	probeTimeout = 2 * time.Second

	// busyTimeout is how long a command run without a daemon waits for
	// the repo while another process holds it (SQLite's busy timeout):
	// another command without a daemon (ten parallel `unode data put`
	// each take their turn), or a daemon that has just started and holds
	// the lock a moment before its API answers (`unode daemon & unode
	// id`; the command goes through the daemon as soon as it answers).
	// Commands hold the repo for well under a second; 10 s is long enough
	// for a queue of them and short enough that a stuck holder is
	// reported instead of hanging the command.
	busyTimeout = 10 * time.Second

	// daemonLockWait is how long `unode daemon` waits for a short-lived
	// command that holds the repo (one started just before it) instead
	// of exiting. A daemon that is already running is reported at once.
	daemonLockWait = 5 * time.Second

	// lockPoll is the mean interval at which a waiting process retries
	// the repo lock: small next to a command's run time, large enough
	// that ten waiters cost nothing.
	lockPoll = 20 * time.Millisecond

	// readHeaderTimeout bounds how long the daemon waits for a request's
	// headers, so a stuck client cannot hold a connection forever.
	readHeaderTimeout = 10 * time.Second

	// shutdownGrace is how long the daemon waits, after canceling them,
	// for in-flight API requests to return before closing connections.
	shutdownGrace = 5 * time.Second
)

// Progress of fetches (commands_fetch.go, api.go "Progress").
const (
	// progressDelay: a transfer is drawn on the terminal only once it
	// has run this long, so that small fetches (most) leave no line.
	progressDelay = 300 * time.Millisecond
	// progressEvery bounds how often the terminal line is redrawn, and
	// how often the daemon sends a progress line on the API stream.
	progressEvery = 100 * time.Millisecond
	// maxAnswerLine bounds one line of the daemon's progress stream, the
	// last of which carries the whole result: the daemon is the repo
	// owner's own process, so this only keeps a broken one from making
	// the client buffer without end.
	maxAnswerLine = 256 << 20
)

// The metrics endpoint (metrics.go). A scraper (or anything else that
// reaches the address) asks for the metrics; the node computes them on
// demand, so these keep a flood of scrapes from costing more than a few.
const (
	// maxMetricsScrapes is how many scrapes are answered at once; more
	// get 503. Prometheus scrapes one at a time per target.
	maxMetricsScrapes = 4
	// metricsScrapeTimeout bounds one scrape; collecting takes well under
	// a millisecond, the Go and process collectors included.
	metricsScrapeTimeout = 10 * time.Second
)

// Blocks and CAR files by hand (ops_block.go, commands_block.go).
const (
	// maxCARBytes bounds one CAR file imported or exported. A file
	// travels whole in one local API request or answer (base64 in JSON:
	// 32 MiB is under 43 MiB there, within maxRequestBytes) and is
	// checked whole before any of it is stored, so it is held in memory;
	// code closures are kilobytes to a few megabytes. A bigger DAG goes
	// in several files.
	maxCARBytes = 32 << 20
	// maxCARRoots bounds the roots of one CAR file (its header) and of
	// one export: a root is one definition named on the command line.
	maxCARRoots = 1024
	// maxCARHeaderBytes bounds a CAR header as go-car reads it: the
	// roots, at most maxCARRoots CIDs of under 64 bytes each.
	maxCARHeaderBytes = 64 << 10
	// maxCIDBytes is the room a section's CID takes beside its block
	// (dag.MaxBlockSize) in go-car's section bound: a CIDv1 sha2-256 is
	// 36 bytes; the slack lets a longer CID be read and refused by kind
	// rather than as an unreadable file.
	maxCIDBytes = 128
)

// Bounds of `unode repl` (repl.go).
const (
	// maxReplLine caps one input line: the parser caps a file at 8 MiB,
	// and a line pasted into the REPL is read whole into memory.
	maxReplLine = 8 << 20

	// maxReplLines caps the continuation lines of one input, so that an
	// unfinished declaration piped in cannot swallow the rest of the
	// input unseen.
	maxReplLines = 10000
)
