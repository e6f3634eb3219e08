// Package capabilities decides what foreign code may do on this node:
// sandboxes (the builtins, data keys, definitions and nodes a foreign
// evaluation may reach, and its budgets), signed expiring capability
// tokens with delegation, per-peer policy, and the records a node keeps
// about them (grants, revocations, the audit log). docs/security.md tells
// the story; DESIGN.md "Capabilities" is the brief.
//
// It does no enforcement itself and imports neither eval nor p2p: the
// node asks a Checker (built from the effective sandbox and a Catalog
// describing the evaluator's builtins) before linking foreign code, on
// dynamic calls and on every at/send/Data effect, and runs the code
// under the sandbox's Budget.
//
// # Pieces
//
//   - Sandbox: a value of a lattice. Union (join) grants what either
//     grants, Intersect (meet) what both grant, IsSubset is the order.
//     Text syntax (CLI flags: --allow pure --deny Int.sub ...) with
//     ParseSandbox/String, JSON for config.json, CBOR inside tokens.
//   - Checker: AllowsBuiltin/AllowsDef/AllowsTarget/AllowsData and the
//     Check* forms returning *DeniedError (errors.Is ErrDenied).
//   - Token: Issue, Token.Delegate, ParseToken/String,
//     DecodeToken/Bytes, VerifyToken. Errors are *TokenError whose
//     Reason is a sentinel naming the failed check.
//   - Membership of owned clusters: a token granting
//     cluster.member:NAME (Sandbox.Members), checked by a third party
//     with VerifyMembership, and proven fresh with SignMembershipProof /
//     VerifyMembershipProof over an asker's nonce.
//   - Policy: Default sandbox for unknown peers, named sandboxes for
//     known peers; For joins the peer's sandbox with its verified tokens.
//   - Store: grants, revocations and the audit log in a go-datastore.
//
// # Invariants
//
//   - A Token value is always well formed: it was decoded from, or
//     encoded to, canonical bytes that decode back to it. Whether it is
//     valid (signed, rooted here, current, unrevoked, attenuated at every
//     step) is decided only by VerifyToken, at the moment of use.
//   - One token, one encoding, one text: DecodeToken accepts only
//     canonical CBOR (re-encoding must give the same bytes), ParseToken
//     only lowercase unpadded base32 that re-encodes to the input.
//   - A token's ID is a hash of its unsigned encoding, so it does not
//     depend on how the signature is written.
//   - Delegation only narrows: a verified chain's leaf sandbox is a
//     subset of every ancestor's, its window inside every ancestor's.
//   - Sandboxes are compared in normal form (Normalize); every operation
//     normalizes its inputs, so field order and duplicates never matter.
//   - The zero Sandbox, zero Policy and zero Budget grant nothing; a
//     sandbox with any zero budget cannot run code (CheckLink refuses).
//   - Revocation status is read from the datastore on every check, and an
//     unreadable status counts as revoked (fail closed).
//
// # Data layout
//
// In the node's datastore, beside the blockstore's prefixes:
//
//	/grants/<id>   JSON {token, issued, note}: tokens this node granted
//	/revoked/<id>  JSON {time}: revoked token IDs (any link of any chain)
//	/audit/<ns>-<seq>  JSON AuditEntry; <ns> is the time in Unix
//	               nanoseconds, 20 digits, so keys sort by time
//
// <id> is a token ID: 26 lowercase base32 characters (the first 16 bytes
// of the SHA-256 of the token's unsigned encoding).
//
// The token encoding (CBOR maps with integer keys) is documented on
// tokenWire and sandboxWire in wire.go and in docs/security.md; every
// bound is in limits.go.
package capabilities
