package discovery

import "time"

// Bounds on what other peers can make this node hold or do through the
// DHT. Each is a defence against a hostile or broken peer; none should be
// hit by a well-behaved one.
const (
	// MaxProviderRecordsPerPeer bounds the provider records one peer can
	// make this node store (one per key it sends ADD_PROVIDER for; a
	// refresh of a record it holds costs nothing). In a small network
	// every node is among the 20 closest to every key, so a node holds a
	// record for each key each provider announces: 16Ki covers a peer
	// that published the definitions of a very large codebase, and keeps
	// one peer's records to ~2 MB of disk.
	MaxProviderRecordsPerPeer = 1 << 14

	// MaxProviderRecords bounds the provider records stored for all peers
	// together (~100 bytes each: ~26 MB): a peer ID costs nothing, so a
	// crowd of fresh IDs is bounded only by this. Over it, new records
	// are refused (the ADD_PROVIDER fails) until old ones expire; the
	// records a key's other 19 replicas hold still answer finds.
	MaxProviderRecords = 1 << 18

	// providerFlushInterval and providerFlushBatch bound how long and how
	// many provider-record writes wait in memory before one batched,
	// synced commit. Records are soft state (their providers re-announce
	// them; each key has 20 replicas), so a crash losing the last 200 ms
	// costs nothing, while one fsync per ADD_PROVIDER would let peers
	// set the pace of the node's disk.
	providerFlushInterval = 200 * time.Millisecond
	providerFlushBatch    = 1024

	// MaxSavedPeers bounds the routing-table snapshot saved to the
	// datastore (and read back at start): a table of a million-node
	// network holds ~20 peers per non-empty bucket, ~400 in all.
	MaxSavedPeers = 512
	// MaxSavedAddrsPerPeer bounds the addresses kept per saved peer.
	MaxSavedAddrsPerPeer = 8
	// maxSavedTableBytes bounds the snapshot record read back (512 peers
	// × (38-byte ID + 8 × ~40-byte addresses) fits in 256 KiB).
	maxSavedTableBytes = 256 << 10

	// savedAddrTTL is how long the addresses of a saved peer stay in the
	// peerstore after a start, while the node tries to reach them.
	savedAddrTTL = time.Hour

	// MaxRTPeersPerIPGroupPerCPL and MaxRTPeersPerIPGroup bound the
	// routing-table peers sharing one IP group (a public /16, an ASN for
	// IPv6, one private address: see ipGroupOf) in one bucket and in the
	// whole table. A burst of fresh peer IDs from one machine or network
	// then holds at most 3 of a bucket's 20 places and 8 of the table,
	// however many IDs it makes.
	MaxRTPeersPerIPGroupPerCPL = 3
	MaxRTPeersPerIPGroup       = 8

	// maxParallelDials bounds the dials to saved and bootstrap peers at
	// start.
	maxParallelDials = 8

	// dialTimeout bounds one dial to a bootstrap or saved peer.
	dialTimeout = 10 * time.Second

	// DefaultProviderLimit is how many providers FindProviders returns
	// when asked for no particular number: enough to go on when some
	// are down or lie.
	DefaultProviderLimit = 20

	// MaxProviderLimit bounds the providers one find collects.
	MaxProviderLimit = 1024
)

// Defaults of Config's intervals.
const (
	// DefaultBootstrapBackoff and DefaultMaxBootstrapBackoff: a bootstrap
	// peer that is down is retried after 1 s, then 2 s, 4 s, ... up to
	// 5 min (with jitter), for as long as the node has not reached it.
	DefaultBootstrapBackoff    = time.Second
	DefaultMaxBootstrapBackoff = 5 * time.Minute

	// DefaultSaveInterval is how often the routing table is saved (and
	// on Close): a crash loses at most this much of what changed.
	DefaultSaveInterval = 10 * time.Minute

	// DefaultCheckInterval is how often the node checks that its routing
	// table is not empty (and, if it is, starts over with the bootstrap
	// and saved peers).
	DefaultCheckInterval = 30 * time.Second

	// DefaultProvideValidity is how long this node keeps a provider
	// record it received: providers re-announce well before (every 22 h
	// by default, p2p's DefaultReprovideInterval).
	DefaultProvideValidity = 48 * time.Hour
)
