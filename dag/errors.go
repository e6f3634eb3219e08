package dag

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// Sentinel errors. Compare with errors.Is: the concrete errors below carry
// details and match these.
var (
	// ErrMalformed matches every *DecodeError: bytes that are not a valid,
	// canonical encoding of what the decoder expected.
	ErrMalformed = errors.New("malformed block")
	// ErrInvalid matches every *EncodeError: a Term, TypeTerm, Pattern or
	// Value that breaks a documented invariant and so has no encoding.
	ErrInvalid = errors.New("invalid term or value")
	// ErrHashMismatch matches *HashMismatchError.
	ErrHashMismatch = errors.New("block hash mismatch")
	// ErrNotFound: the block, name or definition member is not in the store.
	ErrNotFound = errors.New("not found")
	// ErrMissing matches *MissingError.
	ErrMissing = errors.New("missing blocks")
	// ErrTooLarge: a block or value exceeds its size limit (see limits.go).
	ErrTooLarge = errors.New("too large")
	// ErrUnsupportedCID: the store only holds CIDv1 dag-cbor sha2-256
	// blocks, the only kind NewBlock makes.
	ErrUnsupportedCID = errors.New("unsupported CID (want CIDv1, dag-cbor, sha2-256)")
	// ErrInvalidName: a namespace name that cannot be stored (see SetName).
	ErrInvalidName = errors.New("invalid name")
)

// DecodeError reports bytes that a decoder refused. It never carries
// partial results. Err, when set, is a more specific cause such as
// ErrTooLarge.
type DecodeError struct {
	Msg string
	Err error
}

func (e *DecodeError) Error() string { return "dag: malformed block: " + e.Msg }

// Is makes every DecodeError match ErrMalformed.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

func (e *DecodeError) Unwrap() error { return e.Err }

func malformed(format string, args ...any) *DecodeError {
	return &DecodeError{Msg: fmt.Sprintf(format, args...)}
}

// EncodeError reports a Term, Pattern, TypeTerm or Value the encoder
// refused (nil node, negative index, Lam of arity 0, ...).
type EncodeError struct {
	Msg string
	Err error
}

func (e *EncodeError) Error() string { return "dag: cannot encode: " + e.Msg }

// Is makes every EncodeError match ErrInvalid.
func (e *EncodeError) Is(target error) bool { return target == ErrInvalid }

func (e *EncodeError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) *EncodeError {
	return &EncodeError{Msg: fmt.Sprintf(format, args...)}
}

// HashMismatchError reports a block whose bytes do not hash to the CID it
// was offered under. Got is the CID the bytes actually have.
type HashMismatchError struct {
	Want, Got cid.Cid
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("dag: block hash mismatch: want %s, got %s", e.Want, e.Got)
}

// Is makes every HashMismatchError match ErrHashMismatch.
func (e *HashMismatchError) Is(target error) bool { return target == ErrHashMismatch }

// MissingError lists blocks that are needed but not present (or, for
// MarkComplete, present but not complete), sorted by their bytes.
type MissingError struct {
	CIDs []cid.Cid
}

func (e *MissingError) Error() string {
	const show = 5
	var b strings.Builder
	fmt.Fprintf(&b, "dag: %d missing block(s):", len(e.CIDs))
	for i, c := range e.CIDs {
		if i == show {
			fmt.Fprintf(&b, " ... (%d more)", len(e.CIDs)-show)
			break
		}
		b.WriteString(" ")
		b.WriteString(c.String())
	}
	return b.String()
}

// Is makes every MissingError match ErrMissing.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }
