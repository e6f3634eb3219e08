package capabilities

import "time"

// Bounds on what this package accepts and creates. Tokens arrive from
// untrusted peers with every foreign evaluation, so every one of them is a
// defence against hostile input as well as a sanity check on what an owner
// can grant.
const (
	// MaxTokenSize bounds the canonical CBOR encoding of a token,
	// including the parents embedded in it. A root token with a sandbox
	// at every per-list limit below is about 20 KB (mostly data patterns
	// and CIDs); real grants are a few hundred bytes. 64 KiB lets a full
	// chain of modest tokens through while keeping the cost of decoding
	// and verifying one presented token to microseconds and the printed
	// string (base32, 1.6x) pasteable.
	MaxTokenSize = 64 << 10

	// MaxTokenText bounds the printed form: the prefix plus the base32
	// of MaxTokenSize bytes. Longer input is refused before decoding.
	MaxTokenText = len(TokenPrefix) + (MaxTokenSize*8+4)/5

	// MaxChainDepth bounds the number of tokens in a delegation chain,
	// root included. Each link costs a signature check on every call it
	// is presented with; eight hops (owner -> organisation -> team ->
	// ... -> worker) is more delegation than any grant we expect, and
	// the bound keeps the recursive decoder's depth trivially small.
	MaxChainDepth = 8

	// MaxPresentedTokens bounds the tokens one call may present. Each
	// one is verified (up to MaxChainDepth signatures); a caller needs
	// one token per independent grant, rarely more than two.
	MaxPresentedTokens = 8

	// MaxPatterns bounds the data key patterns of one kind (read or
	// write) in one sandbox. Grants name a few directories; 32 keeps the
	// pairwise pattern algebra (quadratic) and token size small.
	MaxPatterns = 32

	// MaxPatternLen bounds one data key pattern in bytes: keys are
	// short paths such as "health/2025/", and the bound keeps a full
	// sandbox within MaxTokenSize.
	MaxPatternLen = 256

	// MaxCodeCIDs bounds the allowed definition CIDs of one sandbox: a
	// grant names the entry points a party may call (its wrappers),
	// not the closure of each (dependencies of an allowed definition
	// are reached through it). 64 CIDs are about 2.4 KB.
	MaxCodeCIDs = 64

	// MaxTargets bounds the nodes that at/send may target. Naming more
	// than a handful of nodes means the grant should be "any".
	MaxTargets = 16

	// MaxDenied bounds the builtins denied within one group. Denials are
	// surgical (the seed's "pure but not Int.sub"); the pure group has
	// about 200 builtins, and a grant that would deny most of them is
	// better expressed by granting less.
	MaxDenied = 64

	// MaxBuiltinNameLen bounds one builtin name. Builtin names are
	// qualified identifiers such as "List.foldl"; 64 bytes is generous.
	MaxBuiltinNameLen = 64

	// MaxMemberships bounds the cluster names one sandbox grants
	// membership of (cluster.member:NAME): a membership token names the
	// one or few clusters its audience serves.
	MaxMemberships = 16

	// MaxFFIGroups bounds the native groups one sandbox grants
	// (ffi:GROUP): a node exposes a few kinds of hardware or service,
	// and a grant names the one or few a caller needs.
	MaxFFIGroups = 16

	// MaxFFIGroupLen bounds a native group name in bytes: names are one
	// identifier such as "Sensor".
	MaxFFIGroupLen = 64

	// MaxClusterNameLen bounds a cluster name in bytes: names are short
	// labels such as "stats"; the bound keeps tokens, status messages
	// and membership proofs small.
	MaxClusterNameLen = 128

	// MemberNonceSize is the size of the asker's fresh nonce in a
	// membership proof (membership.go): 256 bits, so that a proof is
	// never asked for twice with the same nonce and cannot be prepared
	// in advance.
	MemberNonceSize = 32

	// MaxSignatureSize bounds a signature. Ed25519 signatures are 64
	// bytes and secp256k1 (DER) at most 72; the slack allows for other
	// key types whose public keys fit in a peer ID.
	MaxSignatureSize = 256

	// NonceSize is the size of a token's random nonce: 128 bits make two
	// tokens with equal claims differ (so they can be revoked
	// separately) and make IDs unguessable.
	NonceSize = 16

	// ClockSkew is how far apart the clocks of issuer and verifier may
	// be: a token is accepted from ClockSkew before its not-before time
	// until ClockSkew after its expiry. Two minutes covers machines
	// without NTP for days while adding little to a grant's lifetime
	// (grants are meant to last hours).
	ClockSkew = 2 * time.Minute

	// maxUnixSeconds bounds token times (not-before, expiry) to the
	// year 9999, so that they convert to time.Time and print as RFC 3339
	// without overflow.
	maxUnixSeconds = 253402300799

	// maxCBORNesting bounds CBOR nesting in a token: token map ->
	// sandbox map -> group array -> group -> deny list is 5 levels;
	// parents are embedded as byte strings, so do not nest.
	maxCBORNesting = 8

	// minIDPrefix is the shortest grant ID prefix Revoke accepts, so a
	// typo cannot match (and revoke) an arbitrary grant.
	minIDPrefix = 6
)

// Default budgets of the default sandbox, the one unknown peers get. They
// allow a small query (a sum over a few thousand values, a lookup) and
// nothing that costs the owner noticeable time or memory.
const (
	// DefaultFuel: 10^7 steps is 0.1-0.5 s of interpreter work.
	DefaultFuel = 10_000_000

	// DefaultMemory: 64 MiB of allocation over the whole evaluation (the
	// evaluator never subtracts garbage, so live memory is less).
	DefaultMemory = 64 << 20

	// DefaultTime: wall time includes waiting for blocks the caller
	// sends; 10 s is ample for 10^7 steps and a sync round trip.
	DefaultTime = 10 * time.Second

	// DefaultResult: 1 MiB is any reasonable answer to a query; bigger
	// results are what a grant is for.
	DefaultResult = 1 << 20
)

// Bounds of the audit log writer (store.go).
const (
	// MaxPendingAudit is how many audit entries may wait to be written.
	// Every foreign evaluation, from any peer, appends one; past this
	// many the evaluation that appends waits for the backlog to be
	// written, so a burst of calls cannot grow the queue without bound.
	MaxPendingAudit = 1024

	// AuditWindow is the longest an entry appended with Audit (a pure
	// evaluation under the default sandbox) waits before its batch is
	// committed. Entries that must be durable at once (an evaluation
	// that presented a token or touched node data) use AuditDurable and
	// do not wait. 100 ms makes one synced write per 100 ms the cost of
	// auditing any rate of pure calls, and bounds what a crash can take
	// from the log to the last 100 ms of pure calls.
	AuditWindow = 100 * time.Millisecond
)
