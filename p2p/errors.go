package p2p

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// ErrorCode classifies the failure of a remote call. Every error that
// crosses the wire carries one.
type ErrorCode string

const (
	// CodeTimeout: the evaluation or the exchange ran past its deadline.
	CodeTimeout ErrorCode = "timeout"
	// CodeDenied: the callee refused the work (policy, overload).
	CodeDenied ErrorCode = "denied"
	// CodeBudget: the evaluation exhausted a budget (Which names it).
	CodeBudget ErrorCode = "budget"
	// CodeMissing: a block (CID) needed for the evaluation is missing.
	CodeMissing ErrorCode = "missing"
	// CodeMsg: any other failure, described by Msg (a runtime error in
	// the program, an unreachable peer, a lost connection).
	CodeMsg ErrorCode = "msg"
	// CodeInvalid: a peer broke the protocol (malformed, oversized or
	// truncated message, a block that does not match its CID).
	CodeInvalid ErrorCode = "invalid"
)

// ErrRemote matches every *CallError.
var ErrRemote = errors.New("remote call failed")

// CallError is the failure of a remote call, whether the callee reported
// it or the caller detected it. It matches eval's sentinels, so the
// evaluator turns it into the right Err constructor for await!:
// CodeTimeout is eval.ErrTimeout (Timeout), CodeDenied eval.ErrDenied
// (Err.Denied), CodeBudget unwraps to an *eval.BudgetError
// (Err.BudgetExceeded which), CodeMissing is eval.ErrMissing and
// dag.ErrMissing (Err.Missing), the rest are Msg.
//
// A denial (CodeDenied) names what the sandbox refused: Which is its kind
// (capabilities.DeniedBuiltin, DeniedDefinition, DeniedTarget,
// DeniedDataRead, DeniedDataWrite, DeniedBudget, DeniedChannel, or "private" for a block
// or code this node does not share) and Name the builtin, CID, peer,
// key or budget; Tokens lists the presented tokens that did not verify
// and why, so that a caller whose grant expired or was revoked is told.
type CallError struct {
	// Peer is the callee (empty when the failure is local, before any
	// peer was involved).
	Peer   string
	Code   ErrorCode
	Which  string  // the budget, for CodeBudget; the kind, for CodeDenied
	CID    cid.Cid // the block, for CodeMissing and some CodeInvalid
	Msg    string
	Name   string   // what was refused, for CodeDenied
	Tokens []string // token problems, for CodeDenied
	// Runtime and Frames, for a CodeMsg that is a runtime error of the
	// program, are its message alone and its calls in the callee's
	// terms (wireerrors.go): await and at on the caller relocate them
	// into its own source (eval.RemoteRuntimeError).
	Runtime string
	Frames  []eval.Frame

	// refused: the callee's admission reset the stream before its first
	// frame arrived (admission.go evicts only pending streams), so
	// nothing ran there and the call may be made again (callThunk).
	refused bool
}

func (e *CallError) Error() string {
	var b strings.Builder
	if e.Peer != "" {
		b.WriteString("at ")
		b.WriteString(shortPeer(e.Peer))
		b.WriteString(": ")
	}
	switch e.Code {
	case CodeTimeout:
		b.WriteString("timeout")
	case CodeDenied:
		b.WriteString("denied")
	case CodeBudget:
		fmt.Fprintf(&b, "%s budget exhausted", e.Which)
	case CodeMissing:
		b.WriteString("missing block")
		if e.CID.Defined() {
			b.WriteString(" ")
			b.WriteString(e.CID.String())
		}
	case CodeInvalid:
		b.WriteString("protocol violation")
	}
	if e.Msg != "" {
		if e.Code != CodeMsg {
			b.WriteString(": ")
		}
		b.WriteString(e.Msg)
	}
	for _, t := range e.Tokens {
		b.WriteString("; presented ")
		b.WriteString(t)
	}
	return b.String()
}

// Is matches ErrRemote and the eval (and dag) sentinel of the code.
func (e *CallError) Is(target error) bool {
	switch target {
	case ErrRemote:
		return true
	case eval.ErrTimeout:
		return e.Code == CodeTimeout
	case eval.ErrDenied, capabilities.ErrDenied:
		return e.Code == CodeDenied
	case eval.ErrMissing, dag.ErrMissing:
		return e.Code == CodeMissing
	case ErrMalformedMessage:
		return e.Code == CodeInvalid
	}
	return false
}

// Unwrap gives a budget failure as an *eval.BudgetError.
func (e *CallError) Unwrap() error {
	if e.Code == CodeBudget {
		return &eval.BudgetError{Which: e.Which}
	}
	return nil
}

func shortPeer(id string) string {
	if len(id) > 16 {
		return id[:4] + "…" + id[len(id)-8:]
	}
	return id
}

// wire is the error as sent.
func (e *CallError) wire() *WireError {
	w := &WireError{Code: string(e.Code), Which: e.Which, Msg: truncateText(e.Msg, MaxErrorTextLen), Name: truncateText(e.Name, MaxErrorTextLen)}
	for i, t := range e.Tokens {
		if i == capabilities.MaxPresentedTokens {
			break
		}
		w.Tokens = append(w.Tokens, truncateText(t, MaxErrorTextLen))
	}
	if e.CID.Defined() {
		w.CID = e.CID.Bytes()
	}
	if e.Code == CodeMsg && len(e.Frames) > 0 {
		w.Runtime = truncateText(e.Runtime, MaxErrorTextLen)
		w.Frames = wireFrames(e.Frames)
	}
	return w
}

// callErrorFromWire is the error a callee reported.
func callErrorFromWire(p string, w *WireError) *CallError {
	e := &CallError{Peer: p, Code: ErrorCode(w.Code), Which: w.Which, Msg: w.Msg, Name: w.Name, Tokens: w.Tokens}
	if len(w.CID) > 0 {
		e.CID, _ = cid.Cast(w.CID) // validated by the decoder
	}
	if len(w.Frames) > 0 {
		e.Runtime, e.Frames = w.Runtime, framesFromWire(w.Frames)
	}
	return e
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// evalFailure classifies an error of a foreign evaluation (or of its
// preparation) on the callee for the wire.
func evalFailure(err error) *CallError {
	var ce *CallError
	var be *eval.BudgetError
	var me *dag.MissingError
	var re *eval.RuntimeError
	var de *capabilities.DeniedError
	if errors.As(err, &re) && relayedRuntime(re) {
		// A runtime error raised by an await of another node's runtime
		// error: this node's frames, with the other's, for the caller.
		return &CallError{Code: CodeMsg, Msg: re.Backtrace(), Runtime: re.Msg, Frames: re.Frames}
	}
	switch {
	case errors.As(err, &ce):
		c := *ce
		c.Peer = ""
		return &c
	case errors.As(err, &de):
		return deniedCallError(de)
	case errors.As(err, &be):
		return &CallError{Code: CodeBudget, Which: be.Which, Msg: be.Error()}
	case errors.As(err, &me):
		e := &CallError{Code: CodeMissing}
		if len(me.CIDs) > 0 {
			e.CID = me.CIDs[0]
		}
		if len(me.CIDs) > 1 {
			e.Msg = fmt.Sprintf("and %d more", len(me.CIDs)-1)
		}
		return e
	case errors.Is(err, eval.ErrDenied):
		return &CallError{Code: CodeDenied, Msg: err.Error()}
	case errors.Is(err, eval.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &CallError{Code: CodeTimeout, Msg: err.Error()}
	case isStoreFailure(err):
		return &CallError{Code: CodeMsg, Msg: storeFailureText(err)}
	case errors.As(err, &re):
		return &CallError{Code: CodeMsg, Msg: re.Backtrace(), Runtime: re.Msg, Frames: re.Frames}
	}
	return &CallError{Code: CodeMsg, Msg: err.Error()}
}

// storeFailure is how a datastore says that a call failed on its side
// (p2p/repo/pgds.Error). Its text names where the store is — host, port,
// database, user, the key — which the node's owner needs and a peer has
// no business knowing: a peer is told storeFailureText instead.
type storeFailure interface {
	error
	// StoreUnavailable reports whether the store could not be reached
	// (a server down or restarting), so the call may succeed later.
	StoreUnavailable() bool
}

func isStoreFailure(err error) bool {
	var sf storeFailure
	return errors.As(err, &sf)
}

// storeFailureText is what a peer is told of a failure of this node's
// datastore.
func storeFailureText(err error) string {
	var sf storeFailure
	if errors.As(err, &sf) && sf.StoreUnavailable() {
		return "the node's store is unavailable (try again later)"
	}
	return "the node's store failed"
}

// invalid reports a protocol violation by the peer.
func invalid(format string, args ...any) *CallError {
	return &CallError{Code: CodeInvalid, Msg: fmt.Sprintf(format, args...)}
}

// streamFailure classifies an I/O error on a stream for the caller.
func streamFailure(ctx context.Context, p string, doing string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &CallError{Peer: p, Code: CodeTimeout, Msg: doing + ": deadline exceeded"}
		}
		return fmt.Errorf("at %s: %s: %w", shortPeer(p), doing, context.Cause(ctx))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
		return &CallError{Peer: p, Code: CodeTimeout, Msg: doing + ": deadline exceeded"}
	}
	var me *MessageError
	if errors.As(err, &me) {
		return &CallError{Peer: p, Code: CodeInvalid, Msg: doing + ": " + me.Msg}
	}
	var tl *FrameTooLargeError
	if errors.As(err, &tl) {
		return &CallError{Peer: p, Code: CodeInvalid, Msg: doing + ": " + tl.Error()}
	}
	var se *network.StreamError
	if errors.As(err, &se) && se.Remote && se.ErrorCode == network.StreamResourceLimitExceeded {
		// The callee's admission turned the stream away (admission.go).
		return &CallError{Peer: p, Code: CodeMsg, Msg: doing + ": the peer is busy (it refused the stream: too many from this node or its class of peers)", refused: true}
	}
	if text, ok := DialText(err); ok { // dialtext.go: one line and a hint
		return &CallError{Peer: p, Code: CodeMsg, Msg: text}
	}
	return &CallError{Peer: p, Code: CodeMsg, Msg: doing + ": " + err.Error()}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// deniedCallError is the wire form of a sandbox's refusal.
func deniedCallError(de *capabilities.DeniedError) *CallError {
	return &CallError{Code: CodeDenied, Which: de.Kind, Name: de.Name, Msg: deniedText(de)}
}
