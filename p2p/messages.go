package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
)

// Wire messages of the eval and status protocols. Each is a CBOR map with
// small integer keys, sent as one varint-length-prefixed frame (see
// frames.go and docs/protocol.md). Decoders are strict (no duplicate or
// unknown keys, no indefinite lengths, no tags, bounded nesting and
// sizes) and check every field's range, so a handler never acts on a
// message it has not fully validated.

// EvalRequest opens an eval stream (caller to callee).
type EvalRequest struct {
	// Thunk is dag.EncodeValue of the closure of no arguments to force.
	Thunk []byte `cbor:"1,keyasint"`
	// Store is the caller's StoreID; a callee with the same StoreID
	// shares the caller's blocks and skips sync, once StoreProof proves
	// the caller shares it.
	Store string `cbor:"2,keyasint,omitempty"`
	// Budget is what the caller asks for; the callee grants at most its
	// own caps. Absent or zero fields ask for the callee's default.
	Budget *WireBudget `cbor:"3,keyasint,omitempty"`
	// Deps lists, dependencies first, the blocks of the thunk's closure
	// that the caller does not know the callee to hold: the
	// concatenated sha2-256 digests of their CIDs (all CIDv1 dag-cbor).
	// Blocks the caller does not hold itself are never listed.
	Deps []byte `cbor:"4,keyasint,omitempty"`
	// Tokens are capability tokens the caller presents (their binary
	// encodings, capabilities.Token.Bytes), at most
	// capabilities.MaxPresentedTokens. The callee joins the sandboxes of
	// those that verify to the one its policy gives the caller.
	Tokens [][]byte `cbor:"5,keyasint,omitempty"`
	// Prefixes is the compact form of Deps, sent instead of it: the
	// first DepPrefixLen bytes of each digest, concatenated. The callee
	// resolves each against the blocks it holds; one it cannot resolve
	// (or resolves to several) it asks for, and checks that the block
	// that comes hashes to a digest with that prefix. A prefix that
	// resolves to a block other than the caller's (a collision) shows
	// as a missing block, and the caller retries with the full Deps.
	// At most one of Deps and Prefixes is set.
	Prefixes []byte `cbor:"6,keyasint,omitempty"`
	// Absent lists, as concatenated sha2-256 digests, blocks the thunk's
	// closure names that the caller does not hold itself (the frontier
	// where its walk met absent blocks: typically published code it
	// refers to by #CID), at most MaxAbsentRoots. A callee that lacks
	// one fetches it from providers rather than ask the caller, and
	// never asks the caller for it (docs/protocol.md, "Who the callee
	// asks").
	Absent []byte `cbor:"7,keyasint,omitempty"`
	// StoreProof proves that the caller holds the secret of the store
	// Store names (dag.StoreSecret.Prove of the caller's peer ID; see
	// docs/protocol.md, "Shared stores"): StoreProofLen bytes, only with
	// Store. Without it, or with a proof that does not verify, a callee
	// whose StoreID Store names treats the caller as a stranger.
	StoreProof []byte `cbor:"8,keyasint,omitempty"`
}

// DepPrefixLen is the length of each entry of EvalRequest.Prefixes.
const DepPrefixLen = dag.DigestPrefixLen

// WireBudget is a requested evaluation budget.
type WireBudget struct {
	Fuel      int64 `cbor:"1,keyasint,omitempty"`
	Memory    int64 `cbor:"2,keyasint,omitempty"`
	Depth     int64 `cbor:"3,keyasint,omitempty"`
	Result    int64 `cbor:"4,keyasint,omitempty"`
	TimeoutMs int64 `cbor:"5,keyasint,omitempty"`
}

// EvalReply is a callee's message: exactly one of Need, Result, Error.
type EvalReply struct {
	Need   *NeedReply   `cbor:"1,keyasint,omitempty"`
	Result *ResultReply `cbor:"2,keyasint,omitempty"`
	Error  *WireError   `cbor:"3,keyasint,omitempty"`
}

// NeedReply asks for blocks: bit i (byte i/8, mask 1<<(i%8)) set means
// the callee lacks entry i of the request's Deps. The caller answers
// with BlocksMessages holding exactly those blocks, in Deps order.
type NeedReply struct {
	Bits []byte `cbor:"1,keyasint"`
}

// ResultReply carries the evaluated value.
type ResultReply struct {
	// Value is dag.EncodeValue of the result.
	Value []byte `cbor:"1,keyasint"`
	// Blocks are blocks the value refers to that the caller may lack,
	// dependencies first.
	Blocks [][]byte `cbor:"2,keyasint,omitempty"`
	// Store is the callee's StoreID.
	Store string `cbor:"3,keyasint,omitempty"`
	// Fuel and Memory are what the evaluation used.
	Fuel   int64 `cbor:"4,keyasint,omitempty"`
	Memory int64 `cbor:"5,keyasint,omitempty"`
	// StoreProof proves the callee shares the store Store names, as in
	// EvalRequest.
	StoreProof []byte `cbor:"6,keyasint,omitempty"`
	// Chunks lists, as concatenated sha2-256 digests, the chunk blocks
	// of the value's large parts (docs/protocol.md, "Chunked values"),
	// every block before those it links to. When set, the caller
	// answers with a FetchNeed for those it lacks (or closes its side
	// when it lacks none) and the callee sends them in BlocksMessages.
	Chunks []byte `cbor:"7,keyasint,omitempty"`
}

// WireError is a typed failure (see ErrorCode).
type WireError struct {
	Code string `cbor:"1,keyasint"`
	// Which is the budget, for "budget"; for "denied", the kind of
	// thing refused (capabilities.DeniedBuiltin, ...).
	Which string `cbor:"2,keyasint,omitempty"`
	CID   []byte `cbor:"3,keyasint,omitempty"` // binary CID, for "missing" and "invalid"
	Msg   string `cbor:"4,keyasint,omitempty"`
	// Name is what was refused, for "denied": a builtin, CID, peer ID,
	// data key or budget.
	Name string `cbor:"5,keyasint,omitempty"`
	// Tokens, for "denied", says why each presented token that failed
	// to verify did: "<index> <token ID> <reason>: <detail>".
	Tokens []string `cbor:"6,keyasint,omitempty"`
	// Frames, for "msg" when the program failed with a runtime error,
	// are its active calls, innermost first (wireerrors.go), and
	// Runtime is its message without position or stack: the caller
	// puts them in its own source.
	Frames  []WireFrame `cbor:"7,keyasint,omitempty"`
	Runtime string      `cbor:"8,keyasint,omitempty"`
}

// BlocksMessage is one batch of blocks (caller to callee, after a Need).
type BlocksMessage struct {
	Blocks [][]byte `cbor:"1,keyasint"`
}

// StatusMessage is what each side of a status exchange tells the other.
// A reply may instead carry only Error: the answerer could not read the
// opener's status (it is malformed) and says why, rather than reset the
// stream with the reason in its own log only.
type StatusMessage struct {
	// Version is the unode protocol version (ProtocolVersion). Required
	// (omitted only from an error reply).
	Version int `cbor:"1,keyasint,omitempty"`
	// Store is the sender's StoreID, as text. Required (omitted only
	// from an error reply).
	Store string `cbor:"2,keyasint,omitempty"`
	// Load is the sender's load in thousandths: foreign evaluations
	// running, relative to what it admits at once.
	Load int64 `cbor:"3,keyasint,omitempty"`
	// Clusters are the clusters the sender is a member of: the
	// sha2-256 digests of their rendezvous keys (docs/protocol.md,
	// "Clusters"), concatenated in ascending order, at most
	// MaxStatusClusters. A node that left a cluster no longer lists it,
	// which is how an asker tells a stale provider record from a member.
	Clusters []byte `cbor:"4,keyasint,omitempty"`
	// StoreProof proves the sender shares the store Store names, as in
	// EvalRequest.
	StoreProof []byte `cbor:"5,keyasint,omitempty"`
	// Error, alone in a reply, is why the answerer refused the opener's
	// status (code "invalid" for a malformed one).
	Error *WireError `cbor:"6,keyasint,omitempty"`
}

var (
	msgEncMode = mustMsgEncMode()
	msgDecMode = mustMsgDecMode()
)

func mustMsgEncMode() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("p2p: cbor encode options: " + err.Error())
	}
	return em
}

func mustMsgDecMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8, // messages nest at most 3 deep
		MaxArrayElements:  MaxSyncBlocks,
		MaxMapPairs:       16,
		IntDec:            cbor.IntDecConvertNone,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		NaN:               cbor.NaNDecodeForbidden,
		Inf:               cbor.InfDecodeForbidden,
		BignumTag:         cbor.BignumTagForbidden,
	}.DecMode()
	if err != nil {
		panic("p2p: cbor decode options: " + err.Error())
	}
	return dm
}

// ErrMalformedMessage matches every *MessageError.
var ErrMalformedMessage = errors.New("malformed message")

// MessageError reports a wire message that failed to decode or
// validate.
type MessageError struct {
	Msg string
	Err error
}

func (e *MessageError) Error() string { return "p2p: malformed message: " + e.Msg }

// Is makes every MessageError match ErrMalformedMessage.
func (e *MessageError) Is(target error) bool { return target == ErrMalformedMessage }

func (e *MessageError) Unwrap() error { return e.Err }

func badMessage(format string, args ...any) *MessageError {
	return &MessageError{Msg: fmt.Sprintf(format, args...)}
}

func encodeMessage(v any) ([]byte, error) {
	if fastEncodable(v) { // fastmsg.go
		return appendMessage(nil, v), nil
	}
	data, err := msgEncMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("p2p: encoding %T: %w", v, err)
	}
	return data, nil
}

func decodeMessage(data []byte, limit int, v any, what string) error {
	if len(data) > limit {
		return badMessage("%s of %d bytes exceeds the limit of %d", what, len(data), limit)
	}
	if fastDecode(data, v) { // fastmsg.go
		return nil
	}
	if err := msgDecMode.Unmarshal(data, v); err != nil {
		return &MessageError{Msg: what + ": " + describeDecodeError(v, data, err), Err: err} // wireerrors.go
	}
	return nil
}

// EncodeEvalRequest encodes a request.
func EncodeEvalRequest(r *EvalRequest) ([]byte, error) { return encodeMessage(r) }

// DecodeEvalRequest decodes and validates a request.
func DecodeEvalRequest(data []byte) (*EvalRequest, error) {
	r := &EvalRequest{}
	if err := decodeMessage(data, MaxRequestSize, r, "eval request"); err != nil {
		return nil, err
	}
	if len(r.Thunk) == 0 || len(r.Thunk) > dag.MaxValueSize {
		return nil, badMessage("eval request: thunk of %d bytes (want 1 to %d)", len(r.Thunk), dag.MaxValueSize)
	}
	if len(r.Store) > MaxStoreIDLen {
		return nil, badMessage("eval request: store ID of %d bytes", len(r.Store))
	}
	if err := checkStoreProof(r.Store, r.StoreProof, "eval request"); err != nil {
		return nil, err
	}
	if len(r.Deps)%digestLen != 0 || len(r.Deps)/digestLen > MaxSyncBlocks {
		return nil, badMessage("eval request: dependency list of %d bytes (want a multiple of %d, at most %d entries)", len(r.Deps), digestLen, MaxSyncBlocks)
	}
	if len(r.Prefixes)%DepPrefixLen != 0 || len(r.Prefixes)/DepPrefixLen > MaxSyncBlocks {
		return nil, badMessage("eval request: dependency prefixes of %d bytes (want a multiple of %d, at most %d entries)", len(r.Prefixes), DepPrefixLen, MaxSyncBlocks)
	}
	if len(r.Deps) > 0 && len(r.Prefixes) > 0 {
		return nil, badMessage("eval request with both a dependency list and dependency prefixes")
	}
	if len(r.Absent)%digestLen != 0 || len(r.Absent)/digestLen > MaxAbsentRoots {
		return nil, badMessage("eval request: absent list of %d bytes (want a multiple of %d, at most %d entries)", len(r.Absent), digestLen, MaxAbsentRoots)
	}
	if b := r.Budget; b != nil && (b.Fuel < 0 || b.Memory < 0 || b.Depth < 0 || b.Result < 0 || b.TimeoutMs < 0) {
		return nil, badMessage("eval request: negative budget")
	}
	if len(r.Tokens) > capabilities.MaxPresentedTokens {
		return nil, badMessage("eval request: %d tokens (at most %d)", len(r.Tokens), capabilities.MaxPresentedTokens)
	}
	for _, t := range r.Tokens {
		if len(t) == 0 || len(t) > capabilities.MaxTokenSize {
			return nil, badMessage("eval request: token of %d bytes (want 1 to %d)", len(t), capabilities.MaxTokenSize)
		}
	}
	return r, nil
}

// DepCIDs returns the dependency list as CIDs.
func (r *EvalRequest) DepCIDs() []cid.Cid {
	out := make([]cid.Cid, 0, len(r.Deps)/digestLen)
	for i := 0; i+digestLen <= len(r.Deps); i += digestLen {
		out = append(out, cidOfDigest(r.Deps[i:i+digestLen]))
	}
	return out
}

// AbsentCIDs returns the Absent list as CIDs.
func (r *EvalRequest) AbsentCIDs() []cid.Cid { return digestList(r.Absent) }

// DepPrefixes returns the entries of Prefixes.
func (r *EvalRequest) DepPrefixes() []uint64 {
	out := make([]uint64, 0, len(r.Prefixes)/DepPrefixLen)
	for i := 0; i+DepPrefixLen <= len(r.Prefixes); i += DepPrefixLen {
		out = append(out, binary.BigEndian.Uint64(r.Prefixes[i:i+DepPrefixLen]))
	}
	return out
}

// prefixesOf concatenates the digest prefixes of cids (as digestsOf,
// cut to DepPrefixLen bytes each).
func prefixesOf(cids []cid.Cid) ([]byte, error) {
	out := make([]byte, 0, len(cids)*DepPrefixLen)
	for _, c := range cids {
		p, ok := dag.DigestPrefix(c)
		if !ok {
			return nil, fmt.Errorf("block %s: %w", c, dag.ErrUnsupportedCID)
		}
		out = binary.BigEndian.AppendUint64(out, p)
	}
	return out, nil
}

// digestsOf concatenates the sha2-256 digests of cids, which must all be
// CIDv1 dag-cbor sha2-256 (the only kind the store holds).
func digestsOf(cids []cid.Cid) ([]byte, error) {
	out := make([]byte, 0, len(cids)*digestLen)
	for _, c := range cids {
		d, err := mh.Decode(c.Hash())
		if err != nil || d.Code != mh.SHA2_256 || len(d.Digest) != digestLen || c.Prefix().Codec != cid.DagCBOR || c.Version() != 1 {
			return nil, fmt.Errorf("block %s: %w", c, dag.ErrUnsupportedCID)
		}
		out = append(out, d.Digest...)
	}
	return out, nil
}

func cidOfDigest(d []byte) cid.Cid {
	h, err := mh.Encode(d, mh.SHA2_256)
	if err != nil {
		panic(err) // a 32-byte digest always encodes
	}
	return cid.NewCidV1(cid.DagCBOR, h)
}

// EncodeEvalReply encodes a reply.
func EncodeEvalReply(r *EvalReply) ([]byte, error) { return encodeMessage(r) }

// DecodeEvalReply decodes and validates a reply.
func DecodeEvalReply(data []byte) (*EvalReply, error) {
	r := &EvalReply{}
	if err := decodeMessage(data, MaxReplySize, r, "eval reply"); err != nil {
		return nil, err
	}
	n := 0
	for _, set := range []bool{r.Need != nil, r.Result != nil, r.Error != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, badMessage("eval reply with %d of need, result, error (want exactly one)", n)
	}
	switch {
	case r.Need != nil:
		if len(r.Need.Bits) == 0 || len(r.Need.Bits) > (MaxSyncBlocks+7)/8 {
			return nil, badMessage("need reply: bitmap of %d bytes", len(r.Need.Bits))
		}
		if popCount(r.Need.Bits) == 0 {
			return nil, badMessage("need reply asks for nothing")
		}
	case r.Result != nil:
		res := r.Result
		if len(res.Value) == 0 || len(res.Value) > dag.MaxValueSize {
			return nil, badMessage("result reply: value of %d bytes", len(res.Value))
		}
		if err := checkBlockSizes(res.Blocks, "result reply"); err != nil {
			return nil, err
		}
		if len(res.Chunks)%digestLen != 0 || len(res.Chunks)/digestLen > MaxSyncBlocks {
			return nil, badMessage("result reply: chunk list of %d bytes (want a multiple of %d, at most %d entries)", len(res.Chunks), digestLen, MaxSyncBlocks)
		}
		if len(res.Store) > MaxStoreIDLen {
			return nil, badMessage("result reply: store ID of %d bytes", len(res.Store))
		}
		if err := checkStoreProof(res.Store, res.StoreProof, "result reply"); err != nil {
			return nil, err
		}
		if res.Fuel < 0 || res.Memory < 0 {
			return nil, badMessage("result reply: negative usage")
		}
	case r.Error != nil:
		if err := r.Error.validate(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (e *WireError) validate() error {
	switch ErrorCode(e.Code) {
	case CodeTimeout, CodeDenied, CodeBudget, CodeMissing, CodeMsg, CodeInvalid:
	default:
		return badMessage("error with unknown code %q", e.Code)
	}
	if len(e.Which) > 64 || len(e.Msg) > MaxErrorTextLen || len(e.Name) > MaxErrorTextLen {
		return badMessage("error text too long")
	}
	if len(e.Tokens) > capabilities.MaxPresentedTokens {
		return badMessage("error with %d token reports", len(e.Tokens))
	}
	for _, t := range e.Tokens {
		if len(t) > MaxErrorTextLen {
			return badMessage("error text too long")
		}
	}
	if len(e.CID) > 0 {
		if len(e.CID) > 128 {
			return badMessage("error CID of %d bytes", len(e.CID))
		}
		if _, err := cid.Cast(e.CID); err != nil {
			return badMessage("error CID: %v", err)
		}
	}
	return e.validateFrames() // wireerrors.go
}

// checkStoreProof checks the form of a message's store proof: absent, or
// StoreProofLen bytes with a StoreID to prove. Whether it verifies is
// the receiver's business (Node.provenStore).
func checkStoreProof(store string, proof []byte, what string) error {
	switch {
	case len(proof) == 0:
		return nil
	case store == "":
		return badMessage("%s: a store proof without a store ID", what)
	case len(proof) != StoreProofLen:
		return badMessage("%s: store proof of %d bytes (want %d)", what, len(proof), StoreProofLen)
	}
	return nil
}

func checkBlockSizes(blocks [][]byte, what string) error {
	if len(blocks) > MaxSyncBlocks {
		return badMessage("%s: %d blocks", what, len(blocks))
	}
	for _, b := range blocks {
		if len(b) == 0 || len(b) > dag.MaxBlockSize {
			return badMessage("%s: block of %d bytes (want 1 to %d)", what, len(b), dag.MaxBlockSize)
		}
	}
	return nil
}

// EncodeBlocksMessage encodes a batch of blocks.
func EncodeBlocksMessage(m *BlocksMessage) ([]byte, error) { return encodeMessage(m) }

// DecodeBlocksMessage decodes and validates a batch of blocks.
func DecodeBlocksMessage(data []byte) (*BlocksMessage, error) {
	m := &BlocksMessage{}
	if err := decodeMessage(data, MaxBlocksMessageSize, m, "blocks message"); err != nil {
		return nil, err
	}
	if len(m.Blocks) == 0 {
		return nil, badMessage("blocks message without blocks")
	}
	if err := checkBlockSizes(m.Blocks, "blocks message"); err != nil {
		return nil, err
	}
	return m, nil
}

// EncodeStatusMessage encodes a status message.
func EncodeStatusMessage(m *StatusMessage) ([]byte, error) { return encodeMessage(m) }

// DecodeStatusMessage decodes and validates a status message.
func DecodeStatusMessage(data []byte) (*StatusMessage, error) {
	m := &StatusMessage{}
	if err := decodeMessage(data, MaxStatusSize, m, "status message"); err != nil {
		return nil, err
	}
	if m.Error != nil {
		if m.Version != 0 || m.Store != "" || m.Load != 0 || len(m.Clusters) > 0 || len(m.StoreProof) > 0 {
			return nil, badMessage("status: an error reply with status fields")
		}
		if err := m.Error.validate(); err != nil {
			return nil, err
		}
		return m, nil
	}
	if m.Version < 1 {
		return nil, badMessage("status: version %d", m.Version)
	}
	if m.Store == "" || len(m.Store) > MaxStoreIDLen {
		return nil, badMessage("status: store ID of %d bytes", len(m.Store))
	}
	if err := checkStoreProof(m.Store, m.StoreProof, "status"); err != nil {
		return nil, err
	}
	if m.Load < 0 {
		return nil, badMessage("status: negative load")
	}
	if len(m.Clusters)%digestLen != 0 || len(m.Clusters)/digestLen > MaxStatusClusters {
		return nil, badMessage("status: cluster list of %d bytes (want a multiple of %d, at most %d entries)", len(m.Clusters), digestLen, MaxStatusClusters)
	}
	for i := digestLen; i < len(m.Clusters); i += digestLen {
		if bytes.Compare(m.Clusters[i-digestLen:i], m.Clusters[i:i+digestLen]) >= 0 {
			return nil, badMessage("status: cluster list not in ascending order")
		}
	}
	return m, nil
}

// listsCluster reports whether the status lists the cluster whose
// rendezvous key has digest d.
func (m *StatusMessage) listsCluster(d []byte) bool {
	for i := 0; i+digestLen <= len(m.Clusters); i += digestLen {
		if bytes.Equal(m.Clusters[i:i+digestLen], d) {
			return true
		}
	}
	return false
}

func popCount(b []byte) int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

// bitmapFor returns the bitmap of length n with the given bits set.
func bitmapFor(n int, set []int) []byte {
	b := make([]byte, (n+7)/8)
	for _, i := range set {
		b[i/8] |= 1 << (i % 8)
	}
	return b
}

// bitsSet returns the indices of the set bits of a bitmap over n entries,
// or an error if its length is wrong or a bit past n is set.
func bitsSet(b []byte, n int) ([]int, error) {
	if len(b) != (n+7)/8 {
		return nil, badMessage("need bitmap of %d bytes for %d entries", len(b), n)
	}
	var out []int
	for i := range len(b) * 8 {
		if b[i/8]&(1<<(i%8)) != 0 {
			if i >= n {
				return nil, badMessage("need bitmap sets bit %d of %d entries", i, n)
			}
			out = append(out, i)
		}
	}
	return out, nil
}

// FetchRequest opens a /unode/blocks/1.0.0 stream (asker to provider):
// the roots whose closures the asker wants, as concatenated sha2-256
// digests.
type FetchRequest struct {
	Roots []byte `cbor:"1,keyasint"`
}

// FetchReply is the provider's answer to a FetchRequest: exactly one of
// List (the digests of the closure of the roots, dependencies first,
// roots last) and Error.
type FetchReply struct {
	List  []byte     `cbor:"1,keyasint,omitempty"`
	Error *WireError `cbor:"2,keyasint,omitempty"`
}

// FetchNeed is the asker's answer to a List: bit i set means it lacks
// entry i and wants it. An asker that lacks nothing closes the stream
// instead.
type FetchNeed struct {
	Bits []byte `cbor:"1,keyasint"`
}

// EncodeFetchRequest encodes a fetch request.
func EncodeFetchRequest(r *FetchRequest) ([]byte, error) { return encodeMessage(r) }

// DecodeFetchRequest decodes and validates a fetch request.
func DecodeFetchRequest(data []byte) (*FetchRequest, error) {
	r := &FetchRequest{}
	if err := decodeMessage(data, MaxFetchRequestSize, r, "fetch request"); err != nil {
		return nil, err
	}
	if len(r.Roots) == 0 || len(r.Roots)%digestLen != 0 || len(r.Roots)/digestLen > MaxFetchRoots {
		return nil, badMessage("fetch request: roots of %d bytes (want 1 to %d digests of %d bytes)", len(r.Roots), MaxFetchRoots, digestLen)
	}
	return r, nil
}

// EncodeFetchReply encodes a fetch reply.
func EncodeFetchReply(r *FetchReply) ([]byte, error) { return encodeMessage(r) }

// DecodeFetchReply decodes and validates a fetch reply.
func DecodeFetchReply(data []byte) (*FetchReply, error) {
	r := &FetchReply{}
	if err := decodeMessage(data, MaxReplySize, r, "fetch reply"); err != nil {
		return nil, err
	}
	if (len(r.List) > 0) == (r.Error != nil) {
		return nil, badMessage("fetch reply needs exactly one of list and error")
	}
	if r.Error != nil {
		if err := r.Error.validate(); err != nil {
			return nil, err
		}
		return r, nil
	}
	if len(r.List)%digestLen != 0 || len(r.List)/digestLen > MaxSyncBlocks {
		return nil, badMessage("fetch reply: list of %d bytes (want a multiple of %d, at most %d entries)", len(r.List), digestLen, MaxSyncBlocks)
	}
	return r, nil
}

// EncodeFetchNeed encodes a need message.
func EncodeFetchNeed(m *FetchNeed) ([]byte, error) { return encodeMessage(m) }

// DecodeFetchNeed decodes and validates a need message.
func DecodeFetchNeed(data []byte) (*FetchNeed, error) {
	m := &FetchNeed{}
	if err := decodeMessage(data, MaxStatusSize+(MaxSyncBlocks+7)/8, m, "fetch need"); err != nil {
		return nil, err
	}
	if len(m.Bits) == 0 || len(m.Bits) > (MaxSyncBlocks+7)/8 || popCount(m.Bits) == 0 {
		return nil, badMessage("fetch need: bitmap of %d bytes asking for %d blocks", len(m.Bits), popCount(m.Bits))
	}
	return m, nil
}

// digestList splits concatenated digests into CIDs.
func digestList(b []byte) []cid.Cid {
	out := make([]cid.Cid, 0, len(b)/digestLen)
	for i := 0; i+digestLen <= len(b); i += digestLen {
		out = append(out, cidOfDigest(b[i:i+digestLen]))
	}
	return out
}
