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

	// lockWait is how long a command waits for a daemon's API when the
	// repo is locked but no socket answers yet: a daemon that has just
	// started holds the lock a moment before it listens, so
	// `unode daemon & unode id` works.
	lockWait = 5 * time.Second

	// readHeaderTimeout bounds how long the daemon waits for a request's
	// headers, so a stuck client cannot hold a connection forever.
	readHeaderTimeout = 10 * time.Second

	// shutdownGrace is how long the daemon waits, after canceling them,
	// for in-flight API requests to return before closing connections.
	shutdownGrace = 5 * time.Second
)
