package capabilities

import (
	"errors"
	"fmt"
)

// Token check failures. Every error VerifyToken, ParseToken and Issue
// return for a token is a *TokenError whose Reason is one of these, so
// callers can tell with errors.Is which check failed.
var (
	// ErrMalformedToken: the bytes or text are not a valid, canonical
	// token (bad CBOR, unknown or missing fields, non-canonical form,
	// too large, an issuer whose peer ID does not embed its key, ...).
	ErrMalformedToken = errors.New("malformed token")
	// ErrChainTooDeep: the delegation chain is longer than MaxChainDepth.
	ErrChainTooDeep = errors.New("delegation chain too deep")
	// ErrBadSignature: a link's signature does not verify with its
	// issuer's key.
	ErrBadSignature = errors.New("bad signature")
	// ErrBrokenChain: a link's issuer is not its parent's audience.
	ErrBrokenChain = errors.New("broken delegation chain")
	// ErrWidened: a link claims more than its parent: a sandbox that is
	// not a subset of the parent's, or a time window not inside it.
	ErrWidened = errors.New("delegation widens its parent")
	// ErrNotRootedHere: the chain's root was not issued by this node.
	ErrNotRootedHere = errors.New("token not issued by this node")
	// ErrWrongAudience: the token was issued to another peer than the
	// one presenting it.
	ErrWrongAudience = errors.New("token presented by a peer other than its audience")
	// ErrRevoked: a link of the chain has been revoked.
	ErrRevoked = errors.New("token revoked")
	// ErrNotYetValid: a link's not-before time is in the future (beyond
	// the clock skew allowance).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrExpired: a link has expired (beyond the clock skew allowance).
	ErrExpired = errors.New("token expired")
)

// TokenError reports a token that failed a check. Reason is one of the
// sentinel errors above; TokenID names the link of the chain that failed
// ("" when the bytes did not decode far enough to have an ID).
type TokenError struct {
	Reason  error
	TokenID string
	Detail  string
}

func (e *TokenError) Error() string {
	s := "capabilities: "
	if e.TokenID != "" {
		s += "token " + e.TokenID + ": "
	}
	s += e.Reason.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns Reason, so errors.Is(err, ErrExpired) and the like work.
func (e *TokenError) Unwrap() error { return e.Reason }

func tokenErr(reason error, id string, format string, args ...any) *TokenError {
	return &TokenError{Reason: reason, TokenID: id, Detail: fmt.Sprintf(format, args...)}
}

// ErrDenied matches every *DeniedError: a sandbox refused something.
var ErrDenied = errors.New("denied")

// ErrInvalidSandbox matches errors about sandboxes that cannot be
// written down: unknown groups, bad names or CIDs, limits exceeded,
// negative budgets, and text or JSON that does not parse.
var ErrInvalidSandbox = errors.New("invalid sandbox")

// Kinds of thing a sandbox refuses, for DeniedError.Kind.
const (
	DeniedBuiltin    = "builtin"
	DeniedDefinition = "definition"
	DeniedTarget     = "target"
	DeniedDataRead   = "data.read"
	DeniedDataWrite  = "data.write"
	DeniedBudget     = "budget"
	// DeniedChannel: listening on a channel another principal created,
	// or sending foreign code's data to a principal through a channel.
	DeniedChannel = "channel"
	// DeniedFFI: calling a native builtin (Name is its qualified name,
	// Detail the ffi:GROUP it needs) outside the sandbox's native groups.
	DeniedFFI = "ffi"
)

// DeniedError names what a sandbox refused: Kind is one of the Denied*
// constants and Name the builtin, CID, peer ID, data key or budget.
// It matches ErrDenied; the node reports it to the caller as the
// language's Err.Denied.
type DeniedError struct {
	Kind string
	Name string
	// Detail says why, when the name alone does not (for an operator,
	// the builtin it stands for that is denied).
	Detail string
}

func (e *DeniedError) Error() string {
	s := "denied: " + e.Kind + " " + e.Name + " is outside the sandbox"
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Is makes every DeniedError match ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

type sandboxError struct{ msg string }

func (e *sandboxError) Error() string        { return "capabilities: invalid sandbox: " + e.msg }
func (e *sandboxError) Is(target error) bool { return target == ErrInvalidSandbox }

func invalidf(format string, args ...any) error {
	return &sandboxError{msg: fmt.Sprintf(format, args...)}
}
