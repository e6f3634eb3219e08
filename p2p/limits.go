package p2p

import (
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
)

// Bounds on the node's protocols. Each one is a defence against a
// hostile or broken peer; none should be hit by a well-behaved one.
const (
	// MaxRequestSize bounds the first message of an eval stream: the
	// thunk (at most dag.MaxValueSize), the caller's StoreID, a budget
	// and the list of dependency digests (32 bytes each, at most
	// MaxSyncBlocks of them, 3.2 MB). The sum fits with room to spare.
	// Presented tokens add up to MaxPresentedTokens * MaxTokenSize
	// (512 KiB).
	MaxRequestSize = dag.MaxValueSize + MaxSyncBlocks*digestLen + capabilities.MaxPresentedTokens*capabilities.MaxTokenSize + 64<<10

	// MaxReplySize bounds one reply message (need, result or error): a
	// result value (at most dag.MaxValueSize) plus the blocks it refers
	// to that the caller lacks. Twice the value cap leaves those blocks
	// room while keeping the caller's per-stream memory reservation
	// well inside libp2p's default per-stream limit (16 MiB).
	MaxReplySize = 2 * dag.MaxValueSize

	// MaxBlocksMessageSize bounds one batch of blocks sent after a Need
	// reply. Blocks travel in batches so that a large sync never needs
	// one huge allocation; a batch holds at least one block, so it must
	// exceed dag.MaxBlockSize plus framing.
	MaxBlocksMessageSize = 2 * dag.MaxBlockSize

	// blocksBatchTarget is the size at which a sender starts a new
	// batch: half the cap, so that any block fits the current batch or
	// a fresh one.
	blocksBatchTarget = MaxBlocksMessageSize / 2

	// MaxSyncBlocks bounds how many dependencies one request may list
	// and one sync may transfer: a closure of 100,000 definitions is far
	// beyond any real program, and the bound keeps the callee's
	// bookkeeping (one bit and one lookup per entry) small.
	MaxSyncBlocks = 100_000

	// MaxSyncBytes bounds the total block bytes one sync may transfer
	// in either direction (256 MiB: a few hundred thousand typical
	// definitions), so one call cannot fill the callee's disk.
	MaxSyncBytes = 256 << 20

	// MaxStatusSize bounds a status message: a StoreID, a version and a
	// load figure need a few dozen bytes.
	MaxStatusSize = 4 << 10

	// MaxErrorTextLen bounds the message text of a wire error; longer
	// texts are cut. Errors are for people and logs, not for data.
	MaxErrorTextLen = 4 << 10

	// MaxErrorFrames bounds the frames of a runtime error on the wire
	// (WireError.Frames): the innermost calls and the outermost one,
	// which is enough to say where a failure was; recursion is already
	// folded into one frame with a count. With MaxErrorFrameName it
	// keeps a wire error within a few KiB beside its text.
	MaxErrorFrames = 16
	// MaxErrorFrameName bounds a frame's name (a definition name, a
	// hash reference, "lambda in ...").
	MaxErrorFrameName = 256

	// MaxStoreIDLen bounds a StoreID on the wire (ours are 26 bytes).
	MaxStoreIDLen = 128

	// MaxKnownPerPeer bounds the per-peer record of blocks a peer is
	// known to hold (an LRU set of CIDs, ~100 bytes each): 64Ki entries
	// cover the working set of a large program in ~6 MB.
	MaxKnownPerPeer = 1 << 16

	// MaxPeerRecords bounds how many peers the node keeps records for
	// (status and known blocks), least recently used first out.
	MaxPeerRecords = 1024

	// MaxFetchRoots bounds the roots of one fetch request: an asker
	// fetches the few definitions it is about to call.
	MaxFetchRoots = 64

	// MaxFetchRequestSize bounds a fetch request: MaxFetchRoots digests
	// and framing.
	MaxFetchRequestSize = MaxFetchRoots*digestLen + 64

	// MaxDataKeyLen bounds a node data key in bytes: keys are short
	// paths such as "health/2026-01-01", and the bound keeps datastore
	// keys and error messages small.
	MaxDataKeyLen = 512

	// linkCacheEntries bounds how many closures' link summaries (the
	// builtins and definitions of the closure of one root) the node
	// keeps, so that linking a foreign evaluation of a warm definition
	// reads no block. Entries are immutable facts about immutable
	// blocks.
	linkCacheEntries = 1024

	// linkCacheBytes bounds the memory the link summaries hold in all
	// (about 90 bytes per block of a closure: 64 MiB is some 700,000
	// blocks, several closures of MaxSyncBlocks). The bound is on bytes,
	// not on the size of one closure, so a warm call costs the same
	// whatever its closure's size; only a closure bigger than the whole
	// budget is summarized afresh on each call.
	linkCacheBytes = 64 << 20

	// accessCacheEntries bounds the checkers kept for calls that
	// present no token (one per calling peer, for the current policy;
	// caps.go): past it the set is dropped and rebuilt as peers call.
	accessCacheEntries = 1024

	// stackPerDepth is the Go stack a foreign evaluation is charged per
	// unit of call depth: eval measures about 170 bytes per unit
	// (eval/limits.go, DefaultMaxDepth); 256 rounds up, so that a
	// sandbox's memory budget bounds the stack deep recursion takes as
	// well as what values allocate.
	stackPerDepth = 256

	// MaxConcurrentForeign bounds foreign evaluations running at once
	// on this node; further requests wait for a slot (within their
	// deadline). 256 keeps a 2-core machine responsive while allowing
	// many slow callers.
	MaxConcurrentForeign = 256
)

// Deadlines on streams.
const (
	// RequestReadTimeout bounds the time to receive the request and,
	// after a Need reply, the blocks. A caller has everything at hand,
	// so 30 s allows a large sync over a slow link.
	RequestReadTimeout = 30 * time.Second

	// ReplyWriteTimeout bounds writing one reply once it is ready.
	ReplyWriteTimeout = 30 * time.Second

	// StatusTimeout bounds a whole status exchange.
	StatusTimeout = 10 * time.Second

	// watchDelay is how long a foreign evaluation runs before the
	// callee starts watching its stream for a reset (a caller that gave
	// up). Shorter evaluations finish before a cancel would matter.
	watchDelay = time.Millisecond

	// DefaultCallTimeout is the deadline of a remote call whose context
	// has none: the callee's time cap plus room for the sync.
	DefaultCallTimeout = MaxForeignTime + RequestReadTimeout
)

// Budget caps that used to apply to every foreign evaluation. Budgets now
// come from the sandbox of each evaluation (the policy and tokens, see
// docs/security.md); these remain as reference figures for callers and
// for DefaultCallTimeout.
const (
	// MaxForeignFuel: 10^8 steps is one to five seconds of work.
	MaxForeignFuel = 100_000_000
	// MaxForeignMemory: 256 MiB allocated over the evaluation.
	MaxForeignMemory = 256 << 20
	// MaxForeignTime bounds the wall time of one foreign evaluation.
	MaxForeignTime = 60 * time.Second
	// MaxForeignResult bounds the estimated size of a result. Large
	// parts travel as chunk blocks (chunks.go), so the bound is what one
	// sync may move (MaxSyncBytes), not one message.
	MaxForeignResult = MaxSyncBytes
)

// digestLen is the length of a sha2-256 digest, the only hash the block
// store accepts; dependency lists carry bare digests.
const digestLen = 32

// Fair admission (admission.go, docs/protocol.md "Deadlines and
// admission"). A peer ID costs nothing, so what unknown peers may hold is
// bounded in all, not only per peer, and kept well below what libp2p
// admits, so that the peers the policy lists and token holders always
// find room. Trusted peers are the policy's, the audiences of active
// grants, and peers whose token verified within VerifiedPeerTTL.
const (
	// EvalFirstFrameTimeout bounds the time from an eval stream's open
	// to the end of its request. A caller sends the request as it
	// opens the stream, so this is one transfer, no round trip: typical
	// requests are a few KB, and a maximal one (MaxRequestSize, 7.6
	// MiB) needs 0.8 MB/s. A stream that sends less in time is reset.
	EvalFirstFrameTimeout = 10 * time.Second

	// FirstFrameTimeout is the same for blocks and status streams,
	// whose requests fit in a few KB (MaxFetchRequestSize,
	// MaxStatusSize): 5 s covers a slow, lossy link.
	FirstFrameTimeout = 5 * time.Second

	// MaxEvalStreams and MaxEvalStreamsPerPeer are libp2p's limits on
	// inbound eval streams (newResourceManager): what all peers, and a
	// trusted peer, may hold. 512 per peer allow a program many
	// concurrent calls to one node.
	MaxEvalStreams        = 2048
	MaxEvalStreamsPerPeer = 512

	// MaxUnknownEvalStreamsPerPeer bounds the eval streams one unknown
	// peer holds: four times its slots (MaxUnknownSlotsPerPeer), so a
	// few requests can wait while others run, and more are refused at
	// once rather than queued.
	MaxUnknownEvalStreamsPerPeer = 16
	// MaxUnknownEvalStreams bounds them for all unknown peers together:
	// an eighth of MaxEvalStreams, leaving the rest to trusted peers
	// whatever the number of fresh peer IDs.
	MaxUnknownEvalStreams = MaxEvalStreams / 8
	// MaxTrustedEvalStreamsPerPeer is libp2p's per-peer limit: trusted
	// peers are bounded only by it.
	MaxTrustedEvalStreamsPerPeer = MaxEvalStreamsPerPeer

	// MaxBlocksStreams, MaxBlocksStreamsPerPeer: libp2p's limits on
	// inbound blocks streams; a fetch asks for many roots at once
	// (MaxFetchRoots), so few concurrent fetches are needed.
	MaxBlocksStreams        = 512
	MaxBlocksStreamsPerPeer = 64
	// MaxUnknownBlocksStreamsPerPeer and MaxUnknownBlocksStreams bound
	// unknown peers' fetches, per peer and together (an eighth).
	MaxUnknownBlocksStreamsPerPeer = 4
	MaxUnknownBlocksStreams        = MaxBlocksStreams / 8
	MaxTrustedBlocksStreamsPerPeer = MaxBlocksStreamsPerPeer

	// MaxStatusStreams, MaxStatusStreamsPerPeer: libp2p's limits on
	// inbound status streams; a peer exchanges status once per
	// connection.
	MaxStatusStreams        = 256
	MaxStatusStreamsPerPeer = 8
	// MaxUnknownStatusStreamsPerPeer and MaxUnknownStatusStreams bound
	// unknown peers' status exchanges (a quarter in all: status is
	// cheap, and an unknown peer connects before it can be trusted).
	MaxUnknownStatusStreamsPerPeer = 2
	MaxUnknownStatusStreams        = MaxStatusStreams / 4
	MaxTrustedStatusStreamsPerPeer = MaxStatusStreamsPerPeer

	// MaxUnknownSlots bounds the evaluation slots that requests from
	// unknown peers without a verified token hold together: a quarter
	// of MaxConcurrentForeign, so that the policy's peers and token
	// holders always have 192 that no stranger can take.
	MaxUnknownSlots = MaxConcurrentForeign / 4
	// MaxUnknownSlotsPerPeer bounds one unknown peer's slots: a program
	// gets some parallelism, and 16 peers are needed to fill the share.
	MaxUnknownSlotsPerPeer = 4
	// MaxTrustedSlotsPerPeer bounds one trusted peer's slots: half of
	// them, so two busy trusted peers cannot lock each other out.
	MaxTrustedSlotsPerPeer = MaxConcurrentForeign / 2

	// MaxUnknownFrameMemory bounds the frame memory (requests, blocks
	// batches, reserved before their bodies are read) that unknown
	// peers' streams hold together beyond unknownFrameAllowance each:
	// 64 MiB, an eighth of the eval service's 512 MiB, so a crowd
	// trickling maximal requests cannot take the memory trusted peers'
	// requests need. With the allowances of all unknown eval and blocks
	// streams (320 × 64 KiB) unknown peers' frames hold at most 84 MiB.
	MaxUnknownFrameMemory = 64 << 20
	// unknownFrameAllowance is what each unknown stream's frames may
	// hold outside MaxUnknownFrameMemory: a typical request (a small
	// thunk, digest prefixes, a token) fits, so honest strangers' calls
	// never wait on the crowd's large frames.
	unknownFrameAllowance = 64 << 10
	// MaxUnknownPeerFrameMemory bounds it per unknown peer: two maximal
	// requests, or many typical ones, at a time.
	MaxUnknownPeerFrameMemory = 2 * MaxRequestSize

	// VerifiedPeerTTL is how long a peer whose token verified stays
	// trusted at stream open (a delegate, whose grant this node did not
	// record). Admission is capacity, not access: a revoked token
	// grants nothing at once, and the capacity goes with the TTL.
	VerifiedPeerTTL = 10 * time.Minute
	// MaxVerifiedPeers bounds the record of such peers (an LRU).
	MaxVerifiedPeers = 1024

	// rmSystemStreamsInbound and rmPeerStreamsInbound raise libp2p's
	// node-wide and per-peer inbound stream limits (newResourceManager)
	// above the sum of the service limits (eval, blocks, status, chan,
	// and libp2p's own identify, ping, ...), so that they never bind before
	// the per-class ones: with libp2p's defaults a machine with 1 GB of
	// RAM admits 1,024 inbound streams in all and 256 per peer, which
	// strangers' streams could fill or a trusted peer's calls exceed.
	rmSystemStreamsInbound = 4096 + MaxChanStreams
	rmPeerStreamsInbound   = 1024

	// MaxUnknownNegotiatingPerPeer and MaxUnknownNegotiating bound the
	// inbound streams unknown peers hold before their protocol is
	// negotiated (admittingRM), per peer and together. An honest
	// opener's protocol header arrives with the stream's first data, so
	// it needs few at a time; a stream that sends nothing holds its
	// place until libp2p's 10 s negotiation timeout, or until a newer
	// one evicts it. rmTransientStreamsInbound, libp2p's limit on such
	// streams for all peers, is four times the unknown share, so
	// trusted peers' new streams always find room.
	MaxUnknownNegotiatingPerPeer = 16
	MaxUnknownNegotiating        = 256
	rmTransientStreamsInbound    = 4 * MaxUnknownNegotiating

	// GrantAudienceRefresh is how old the node's cached set of grant
	// audiences may get before it is read again from the grants (a
	// grant made through the node counts at once): revocations and
	// expiries of grants take their capacity away within it.
	GrantAudienceRefresh = 10 * time.Second
)

// Bounded disk (retain.go, docs/security.md "Disk"). Blocks stored on
// another peer's say-so (for its thunk, or returned to a call its
// evaluation made) are unpinned: charged to that peer, bounded per peer
// and for the node, and evicted least recently used first. A peer ID
// costs nothing, so only the node-wide bounds limit what a crowd of
// fresh peers can make the node keep.
const (
	// DefaultPeerDiskBytes bounds the unpinned block bytes charged to
	// one peer: 64 MiB hold the closures of many large programs (a
	// definition is ~1 KB), a quarter of what one sync may move
	// (MaxSyncBytes), so an unknown peer cannot make the node keep more
	// than that however many calls it makes.
	DefaultPeerDiskBytes = 64 << 20
	// DefaultPeerDiskBlocks and DefaultPeerDiskLinks bound the blocks
	// and links charged to one peer: the collector keeps ~100 bytes per
	// block and 32 per link in memory, so tiny blocks or blocks dense
	// with links cannot take more memory than the bytes bound allows
	// disk (32Ki blocks, 256Ki links: ~11 MB).
	DefaultPeerDiskBlocks = 1 << 15
	DefaultPeerDiskLinks  = 1 << 18

	// DefaultDiskBytes, DefaultDiskBlocks and DefaultDiskLinks bound
	// unpinned storage for all peers together: 1 GiB of disk, and ~90
	// MB of the collector's memory at most. Sixteen peers at their quota
	// fill it; from then on the least recently used material goes
	// first.
	DefaultDiskBytes  = 1 << 30
	DefaultDiskBlocks = 1 << 18
	DefaultDiskLinks  = 1 << 21

	// diskLowWaterDiv: a collection frees down to 7/8 of the bound that
	// triggered it, so that a full node collects once per eighth of the
	// bound received, not once per call.
	diskLowWaterDiv = 8

	// MaxRetainedRoots bounds the in-memory LRU of the roots of past
	// foreign syncs (~100 bytes each): a root dropped from it leaves its
	// blocks to the next collection.
	MaxRetainedRoots = 1 << 16
)

// Node data's chunks (data_chunks.go) add no long-lived map: they are in
// the books of unpinned blocks (one entry each, like a peer's, charged
// to dataPeer and outside the quotas above, so only the owner's data
// grows them: what the owner, or a peer granted data.write, stores), and
// their roots are read from the /datablocks/ keys at each collection
// rather than kept in memory. Each Data.put keeps a set of the chunks it
// stores, for the duration of the put: bounded by one value's chunks
// (at most dag.MaxChunkedBytes of them; a leaf holds at least one unit
// of a value of at most eval.MaxWireNodes nodes, and interior nodes
// group dag.ChunkFanout each).

// Fetching code from providers (fetch.go, fetchclosure.go,
// fetchforeign.go; docs/protocol.md "/unode/blocks/1.0.0"). A provider
// is any peer, found through the DHT or named by the asker: every bound
// here is what one that is slow, gone or lying can cost a fetch.
const (
	// FetchStallTimeout: a provider that sends nothing at all for this
	// long in the middle of an exchange (after the stream opened, before
	// its last block) is given up, and the fetch goes on from the next
	// provider with what is still missing. It is a silence, not a
	// transfer time: every byte that arrives restarts it, so a slow but
	// live link is never cut. 10 s covers a congested link's pauses.
	FetchStallTimeout = 10 * time.Second

	// FetchDialTimeout bounds opening a blocks stream to one provider
	// (dial, handshake, protocol negotiation): a provider record whose
	// peer is unreachable costs the fetch at most this.
	FetchDialTimeout = 10 * time.Second

	// DefaultFetchTimeout bounds a fetch whose context has no deadline:
	// MaxSyncBytes over a slow link, with room for several providers.
	DefaultFetchTimeout = 10 * time.Minute

	// MaxFetchProviders bounds the providers one fetch asks before it
	// gives up: a crowd of provider records for peers that are gone, or
	// that lie, costs a bounded number of dials and exchanges.
	MaxFetchProviders = 16

	// FindProvidersLimit is how many provider records one DHT lookup
	// asks for: more than a fetch tries, so that records for peers that
	// left do not end it early.
	FindProvidersLimit = 20

	// MaxFetchBytes bounds the block bytes one fetch stores for the
	// owner, over all its providers: the bound of one sync.
	MaxFetchBytes = MaxSyncBytes

	// MaxAbsentRoots bounds the blocks a caller may declare absent in
	// an eval request (EvalRequest.Absent): the published code its
	// thunk names without the caller holding it, which the callee
	// fetches from providers. A program names a few such definitions;
	// one callee fetch request carries at most MaxFetchRoots. The list
	// (2 KiB) fits in the room MaxRequestSize leaves beyond its parts.
	MaxAbsentRoots = MaxFetchRoots

	// A callee fetches for a foreign caller on that caller's say-so: the
	// disk it costs is unpinned and charged to the caller's quota
	// (retain.go), and these bound the rest. ForeignFetchProviders: the
	// providers tried (each a dial and an exchange); ForeignFetchBytes:
	// the block bytes (a quarter of the caller's disk quota, so one
	// call cannot fill it); ForeignFetchTimeout: the time, inside the
	// evaluation's own deadline.
	ForeignFetchProviders = 4
	ForeignFetchBytes     = DefaultPeerDiskBytes / 4
	ForeignFetchTimeout   = 20 * time.Second

	// MaxForeignFetches and MaxForeignFetchesPerPeer bound the fetches
	// foreign callers make the node run at once, in all and per caller:
	// each holds a provider stream and bandwidth, and a peer ID costs
	// nothing, so the total is what bounds a crowd. A caller over its
	// share waits (within ForeignFetchTimeout) for one to end.
	MaxForeignFetches        = 16
	MaxForeignFetchesPerPeer = 2
)

// Clusters (clusters.go, member.go; docs/protocol.md "Clusters"). Anyone
// can put a provider record under a cluster's key, so the candidates a
// lookup returns may be silent, stale or hostile: every bound here is
// what a crowd of them can cost one provision.
const (
	// MaxClusterCandidates bounds the provider records one lookup takes
	// and so the members one provision probes, in parallel: 32 probes
	// are a few hundred small streams at most, and a larger cluster is
	// sampled (the lookup keeps the first records it finds).
	MaxClusterCandidates = 32

	// ClusterLookupTimeout bounds the DHT lookup of a cluster's members:
	// Kademlia converges in a few hops; 5 s covers slow links, and a
	// lookup that finds some records before it is cut uses them.
	ClusterLookupTimeout = 5 * time.Second

	// MemberProbeTimeout bounds probing one candidate (dial, status,
	// ping, and for an owned cluster its membership proof and the
	// owner's answer on revocation, all in parallel): a member that does
	// not answer within it is skipped, so one silent member costs a
	// provision at most this, however many there are.
	MemberProbeTimeout = 2 * time.Second

	// MemberListTTL is how long the members found by a lookup are used
	// before another lookup: joins take at most this to be seen.
	MemberListTTL = 30 * time.Second

	// MemberStatusTTL is how long a member's stated load (and its
	// confirmation that it is a member) is used before it is asked
	// again: loads change with every evaluation, but provision in a
	// loop should not cost a round trip per call, and provision spreads
	// calls over equal members anyway. A member that left stops being
	// provisioned within it.
	MemberStatusTTL = 2 * time.Second

	// PingTTL is how long a measured ping time is used: ping times
	// change slowly, and a ping is one more stream per member.
	PingTTL = 30 * time.Second

	// MemberProofTTL is how long a verified membership proof, and the
	// owner's answer that its token is not revoked, is used before the
	// member is asked to prove it again: the most an asker takes to stop
	// provisioning a member whose token the owner revoked.
	MemberProofTTL = time.Minute

	// MemberRetryDelay is how long a candidate that did not answer, or
	// answered that it is not a member (or could not prove it), is left
	// out before it is probed again: stale and hostile records cost one
	// probe per delay, not one per provision.
	MemberRetryDelay = 10 * time.Second

	// MaxClusterViews bounds the clusters whose members the node keeps
	// (least recently used out): foreign code that provisions many
	// cluster names cannot grow the cache.
	MaxClusterViews = 256

	// MaxJoinedClusters bounds the clusters one node is a member of:
	// each is one provider record to keep fresh and one entry of every
	// status message.
	MaxJoinedClusters = 64

	// MaxStatusClusters bounds the cluster keys a status message lists:
	// MaxJoinedClusters digests, 2 KiB, within MaxStatusSize.
	MaxStatusClusters = MaxJoinedClusters

	// MaxMemberMessageSize bounds a /unode/member/1.0.0 message: a
	// membership token (at most capabilities.MaxTokenSize) and a
	// signature, or a nonce, an owner and a cluster name, or a few
	// token IDs.
	MaxMemberMessageSize = capabilities.MaxTokenSize + 4<<10

	// MaxRevocationQuery bounds the token IDs one revocation question
	// names: one chain.
	MaxRevocationQuery = capabilities.MaxChainDepth

	// MemberStreamTimeout bounds a whole membership exchange on the
	// member's (or owner's) side: one small message each way.
	MemberStreamTimeout = 10 * time.Second

	// MaxMemberStreams, MaxMemberStreamsPerPeer: libp2p's limits on
	// inbound membership streams. An asker proves each member of a
	// cluster once per MemberProofTTL, so few are needed at a time.
	MaxMemberStreams        = 256
	MaxMemberStreamsPerPeer = 8
	// MaxUnknownMemberStreamsPerPeer and MaxUnknownMemberStreams bound
	// unknown peers' membership streams, per peer and together (a
	// quarter, as for status: askers are usually strangers).
	MaxUnknownMemberStreamsPerPeer = 4
	MaxUnknownMemberStreams        = MaxMemberStreams / 4
	MaxTrustedMemberStreamsPerPeer = MaxMemberStreamsPerPeer

	// PingTimeout bounds one ping (pingTime, and the ping of a probe
	// within MemberProbeTimeout).
	PingTimeout = 5 * time.Second
)

// The DHT (dht.go, p2p/discovery; docs/protocol.md "The DHT"). Its
// inbound streams pass admission like the node's own protocols: almost
// every DHT peer is a stranger, so unknown peers get a larger share here
// than at eval, but still a share, and trusted peers find room whatever
// the number of fresh peer IDs. Provider records and routing-table places
// are bounded in p2p/discovery/limits.go.
const (
	// MaxDHTStreams and MaxDHTStreamsPerPeer are libp2p's limits on
	// inbound /unode/kad streams (newResourceManager). kad-dht keeps one
	// stream per peer it queries, idle for up to a minute, so a busy
	// server holds about one per recent asker.
	MaxDHTStreams        = 1024
	MaxDHTStreamsPerPeer = 32
	// MaxUnknownDHTStreamsPerPeer and MaxUnknownDHTStreams bound unknown
	// peers' streams, per peer (a lookup needs one; a few cover
	// concurrent lookups) and together (half: the other half is the
	// trusted peers').
	MaxUnknownDHTStreamsPerPeer = 8
	MaxUnknownDHTStreams        = MaxDHTStreams / 2
	MaxTrustedDHTStreamsPerPeer = MaxDHTStreamsPerPeer

	// MaxDHTMessageSize bounds one message a peer sends on a DHT stream.
	// Requests are a key and, for ADD_PROVIDER, the provider's addresses
	// (kad-dht keeps few): 1 KiB typically. kad-dht would read up to
	// 4 MiB, held while the sender trickles it: over MaxUnknownDHTStreams
	// streams that would be 2 GiB; at 64 KiB it is 32 MiB.
	MaxDHTMessageSize = 64 << 10

	// maxConcurrentProvides bounds the provides the announce loop runs
	// at once (each a DHT lookup and 20 ADD_PROVIDERs), so that a node
	// publishing thousands of definitions re-announces them without a
	// burst of dials.
	maxConcurrentProvides = 4
	// provideTimeout bounds one provide.
	provideTimeout = time.Minute
	// announceRetry and announceRetryMax: a provide that failed (no peer
	// reached yet, a lookup that timed out) is tried again after 1 s,
	// doubling up to a minute.
	announceRetry    = time.Second
	announceRetryMax = time.Minute
)

// Channels across nodes (chanproto.go, docs/protocol.md
// "/unode/chan/1.0.0"). A sender keeps one long-lived stream to each
// receiver; every bound here is what a peer, sending or receiving, can
// make the other hold.
const (
	// MaxChanMessageSize bounds one channel message: a value (at most
	// dag.MaxValueSize inline; a larger one goes chunked, its chunks
	// synced in BlocksMessages), a full dependency list (MaxSyncBlocks
	// digests), the absent list and the envelope. Most messages are a
	// few dozen bytes; the frame's memory is reserved, and for unknown
	// peers charged to their frame budget, before its body is read.
	MaxChanMessageSize = dag.MaxValueSize + MaxSyncBlocks*digestLen + MaxAbsentRoots*digestLen + 4<<10

	// MaxChanReplySize bounds one reply: a need bitmap over
	// MaxSyncBlocks entries (12.5 KB), or an error with its texts.
	MaxChanReplySize = (MaxSyncBlocks+7)/8 + 3*MaxErrorTextLen + 1<<10

	// ChanFirstFrameTimeout bounds the time from a channel stream's open
	// to the end of its first message: one transfer, as for eval
	// (EvalFirstFrameTimeout), since a first message may be as large.
	ChanFirstFrameTimeout = EvalFirstFrameTimeout

	// ChanIdleTimeout: a receiver resets a channel stream on which no
	// byte arrived for this long. Senders close their stream after
	// ChanSenderIdle of silence, so an honest stream never reaches it;
	// an idle one holds a place at the stream gate for at most a minute.
	ChanIdleTimeout = time.Minute

	// ChanSenderIdle is how long a sender keeps its stream to a peer
	// open with nothing to send and no acknowledgement due: a program
	// that exchanges messages keeps one stream, and one that stopped
	// releases it (and the receiver's place at its gate) soon.
	ChanSenderIdle = 20 * time.Second

	// ChanWriteTimeout: a write on a channel stream (a message, blocks,
	// a reply) that makes no progress for this long means the other
	// side stopped reading; the stream is reset, so a peer that reads
	// nothing holds neither side's goroutine for long.
	ChanWriteTimeout = 30 * time.Second

	// chanDeadlineRearm: stream deadlines are moved forward at most
	// once per this interval rather than at every frame (a deadline is
	// two yamux timers), so they fire between the timeout and this
	// much earlier.
	chanDeadlineRearm = time.Second

	// ChanDialTimeout bounds opening a channel stream to a peer (dial,
	// handshake, negotiation): messages to an unreachable node fail
	// within it.
	ChanDialTimeout = 10 * time.Second

	// ChanSyncTimeout bounds the wait for the receiver's answer to a
	// message whose code it may lack (need or ready) and, after a need,
	// the wait for blocks (RequestReadTimeout on the receiver's side):
	// the stream's other messages wait behind it.
	ChanSyncTimeout = RequestReadTimeout

	// DefaultDeliverTimeout bounds a deliver whose evaluation has no
	// earlier deadline: an acknowledgement is one round trip plus the
	// receiver's work, so 10 s covers a slow link and a sync, and a
	// receiver that never answers fails the deliver with Timeout.
	DefaultDeliverTimeout = 10 * time.Second

	// MaxChanQueuePerPeer and MaxChanQueueBytesPerPeer bound the
	// messages waiting to be written to one peer: send returns at once,
	// so a program sending faster than the link (or to a peer that
	// stopped reading) fills the queue, and from then on its sends are
	// dropped and counted, its delivers fail ("queue full"). 4,096
	// messages keep the stream busy for milliseconds at full speed;
	// 16 MiB are four maximal values.
	MaxChanQueuePerPeer      = 4096
	MaxChanQueueBytesPerPeer = 16 << 20
	// MaxChanQueueBytes bounds the bytes queued to all peers together:
	// foreign code whose sandbox allows any target, or the node's own
	// programs, cannot make the node hold more.
	MaxChanQueueBytes = 64 << 20

	// MaxChanPendingPerPeer and MaxChanPending bound the delivers in
	// flight (queued or written, their acknowledgement not yet in) to
	// one peer and to all peers: each holds a future and a timer until
	// its ack or DefaultDeliverTimeout, so a receiver that never
	// answers costs the sender a bounded amount. Beyond them a deliver
	// fails at once ("queue full").
	MaxChanPendingPerPeer = 4096
	MaxChanPending        = 16384

	// MaxChanPeers bounds the peers the node keeps a sending stream (a
	// queue and two goroutines) to at once: a program sending to
	// thousands of nodes gets its messages to the first 1,024, and the
	// rest are dropped (sends) or fail (delivers) until some go idle.
	MaxChanPeers = 1024

	// MaxChanStreams and MaxChanStreamsPerPeer are libp2p's limits on
	// inbound channel streams (newResourceManager). A sender keeps one
	// stream per receiver (a second only while one closes), so a few
	// per peer are plenty.
	MaxChanStreams        = 512
	MaxChanStreamsPerPeer = 8
	// MaxUnknownChanStreamsPerPeer and MaxUnknownChanStreams bound the
	// channel streams unknown peers hold, per peer (one in use and one
	// closing) and together (an eighth, as for eval): each is a handler
	// goroutine and at most one message being processed, so this is
	// also the bound on the messages from unknown peers in flight at
	// once. Trusted peers hold up to MaxTrustedChanStreamsPerPeer each.
	MaxUnknownChanStreamsPerPeer = 2
	MaxUnknownChanStreams        = MaxChanStreams / 8
	MaxTrustedChanStreamsPerPeer = MaxChanStreamsPerPeer

	// MaxUnknownChanRate paces the messages that unknown peers' channel
	// streams bring, all together, in tokens per second: a message
	// takes one, and one more per chanRateUnit bytes. Taking a message
	// to a channel nobody listens on costs a few µs, so a flood by any
	// number of fresh peer IDs takes a fraction of one core (and at
	// most 12.8 MB/s of values to decode); a stream over the rate is
	// held back by its own flow control. A peer the policy lists, or a
	// grant's audience, is not paced. chanRateBurst lets a burst of
	// 5,000 small messages through at once.
	MaxUnknownChanRate = 50_000
	chanRateBurst      = 5_000
	chanRateUnit       = 256

	// chanReadBuffer and chanWriteBuffer are the per-stream buffers:
	// many small messages (and their replies) travel per read and per
	// write instead of one each, which is what makes a pipelined stream
	// fast.
	chanReadBuffer  = 4 << 10
	chanWriteBuffer = 16 << 10
	// chanSmallFrame is the buffer each channel stream keeps for the
	// frames of at most that size (chanFrames): its memory is reserved
	// with the stream's scope once, for the stream's life, instead of
	// per message. Most messages and all replies but errors fit; the
	// streams a peer holds are bounded above, and so is what it holds.
	chanSmallFrame = 1 << 10
)

// Groups of nodes in one process on one store (shared.go, docs/scaling.md
// "What a node costs"). The group's one resource manager bounds what all
// its members hold together; its memory and file descriptors stay what
// libp2p scales to the machine (they are the process's, however many
// hosts it runs), and only its counts grow with the group.
const (
	// DefaultSharedNodes is the group size NewShared sizes for when
	// SharedConfig.Nodes is zero: the thousand nodes of the seed's
	// "cheap nodes", with room.
	DefaultSharedNodes = 1024

	// MaxSharedNodes bounds SharedConfig.Nodes: at the costs measured in
	// docs/benchmarks.md ("Many nodes in one process"), 64Ki nodes need
	// tens of GB of heap, far past any one process; the bound keeps the
	// scaled resource-manager counts far from overflow.
	MaxSharedNodes = 1 << 16

	// SharedStreamsPerNode and SharedConnsPerNode are what each member
	// beyond the first adds to the system-wide, transient, per-service
	// and per-protocol stream and connection counts of the group's
	// resource manager (inbound and outbound each; twice that in all,
	// since a call between two members is an outbound stream at one and
	// an inbound one at the other). A member has 64 streams and 32
	// connections at once to itself before the group's counts bind: well
	// above what admission lets one node's unknown peers hold through
	// negotiation (MaxUnknownNegotiatingPerPeer) and enough for a busy
	// member; members busier than that share the headroom of the quiet
	// ones, and the per-peer limits (a remote peer's share of the whole
	// group) and each member's admission gates bind first.
	SharedStreamsPerNode = 64
	SharedConnsPerNode   = 32

	// SharedPeerConnsPerNode is what each member beyond the first adds
	// to the connections (and descriptors) one peer may hold with the
	// group: libp2p counts a peer's connections to every host of the
	// resource manager together, and a peer calling many members holds
	// one connection to each (two while both sides dial at once). The
	// system's descriptor limit still caps the sum, and each member's
	// admission what a peer does with them.
	SharedPeerConnsPerNode = 2
)

// Proving a shared store (peers.go, docs/protocol.md "Shared stores").
const (
	// StoreProofLen is the one length a store proof may have on the
	// wire: an HMAC-SHA256 (dag.StoreProof). Anything else is a
	// malformed message, so a peer can make the node hash no more than
	// 32 bytes of proof per message.
	StoreProofLen = dag.StoreProofLen
)

// Identifying a peer (identify.go, `unode id PEER`).
const (
	// IdentifyTimeout bounds Identify: dialing the peer (finding it
	// through the DHT first, when only its ID is known) and waiting for
	// libp2p's identify exchange, which a peer could leave unanswered.
	// Identify runs as soon as a connection is up and takes one round
	// trip; a dial takes a few.
	IdentifyTimeout = 30 * time.Second
)

// Native builtins (native.go, docs/native.md).
const (
	// MaxNatives bounds the native builtins one node registers. Only the
	// embedding program registers them, but each is a name in the
	// namespace and a line of every listing, and a program that
	// registers in a loop by mistake should fail loudly, not grow
	// without end.
	MaxNatives = 1024

	// MaxNativeNameLen bounds a native's qualified name in bytes
	// (Sensor.temperature); names are identifiers, and they appear in
	// every call's code and denial.
	MaxNativeNameLen = 128
)

// Calls a callee's admission refused (evalproto.go, callThunk).
const (
	// refusedRetries is how many times a call whose stream the callee
	// reset before reading it (StreamResourceLimitExceeded: its share of
	// streams still negotiating was full, and a newer stream evicted
	// this one) is made again. Nothing ran at the callee, so a retry is
	// safe; one is enough to get an honest caller past a flood of bare
	// streams, and more would let a busy callee multiply every caller's
	// streams.
	refusedRetries = 1

	// refusedBackoff is the least pause before that retry; up to as
	// much again is added at random, so callers turned away together do
	// not come back together.
	refusedBackoff = 25 * time.Millisecond
)
