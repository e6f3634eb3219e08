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
	// MaxForeignResult bounds the estimated size of a result, matching
	// the value encoding cap so that any accepted result can be sent.
	MaxForeignResult = dag.MaxValueSize
)

// digestLen is the length of a sha2-256 digest, the only hash the block
// store accepts; dependency lists carry bare digests.
const digestLen = 32
