package eval

import (
	"errors"
	"fmt"
	"strings"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// Sentinel errors for errors.Is.
var (
	// ErrBudget matches every *BudgetError.
	ErrBudget = errors.New("budget exhausted")
	// ErrRuntime matches every *RuntimeError.
	ErrRuntime = errors.New("runtime error")
	// ErrCanceled matches every *CanceledError.
	ErrCanceled = errors.New("evaluation canceled")
	// ErrDenied is what a Host wraps when a sandbox refuses an effect
	// (fmt.Errorf("%w: ...", eval.ErrDenied)); it reaches await! as
	// Err.Denied.
	ErrDenied = errors.New("denied")
	// ErrTimeout is what a Host wraps when a remote evaluation or a
	// delivery times out; it reaches await! as Timeout.
	ErrTimeout = errors.New("timeout")
)

// Budget names used in BudgetError.Which.
const (
	BudgetFuel   = "fuel"
	BudgetMemory = "memory"
	BudgetDepth  = "depth"
	BudgetTime   = "time"
	BudgetResult = "result"
	// BudgetPending: too many listeners, timers and outstanding futures
	// at once (Thread.MaxPending).
	BudgetPending = "pending"
)

// BudgetError reports that an evaluation ran out of one of its budgets.
// Which is one of "fuel", "memory", "depth", "time", "result" or
// "pending"; Limit is the limit that was exceeded (steps, bytes, depth
// units, pending effects, 0 for time).
type BudgetError struct {
	Which string
	Limit int64
}

func (e *BudgetError) Error() string {
	if e.Which == BudgetTime {
		return "time budget exhausted (deadline exceeded)"
	}
	return fmt.Sprintf("%s budget exhausted (limit %d)", e.Which, e.Limit)
}

// Is makes errors.Is(err, ErrBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudget }

// RuntimeError is an error raised by the program being evaluated: a match
// failure, an Int overflow, a type mismatch, a missing definition, a
// failed remote evaluation awaited with await. Stack lists the active
// definitions, innermost first (a name when the Thread's Names can give
// one, else the definition's hash reference; "<expr>" for the evaluated
// expression itself; "lambda in f" for a function written inside f).
// Frames gives the same calls with where each was in its code, and Pos
// is where the failing expression is written; positions are known when
// the Thread's Names is a DefPositioner (or ExprPositions is set) and
// are the zero Pos otherwise. Err is the underlying cause, if any (for
// example a Loader error), and is reachable through errors.Is/As.
type RuntimeError struct {
	Msg    string
	Pos    syntax.Pos
	Stack  []string
	Frames []Frame
	Err    error
}

// Frame is one active call in a RuntimeError, like a line of starlark-go's
// EvalError.Backtrace: the definition's name, the position the call was
// at inside it, and how many directly nested calls of the same
// definition at the same position it stands for (recursion).
type Frame struct {
	Name  string
	Pos   syntax.Pos
	Calls int
	// Def and Node say where Pos is without needing the source: the
	// definition (nil for the evaluated expression and for builtins)
	// and the node's number in dag.Preorder (-1 if unknown). A node
	// that ran code it was sent can return them, and the sender, which
	// has the source, can Relocate the error.
	Def  *dag.DefRef
	Node int
	// Code is set instead of Def for code this node was sent rather
	// than holds under a definition (the code of a thunk or closure in
	// an eval request or a value): its SentCodeDigest. Node then counts
	// in dag.Preorder of that code as sent, and the sender, which holds
	// the code's source, relocates the frame (see RemoteRuntimeError).
	Code []byte
	// Peer is the node the call ran on, when another node ran it (an
	// error that came back from an at).
	Peer string
}

// Relocate fills in the names and positions of e's frames from dn and dp
// (the caller's namespace; either may be nil), where they know them; what
// they do not know is left as it was. It is for an error that comes back
// from a node that evaluated code sent by this one.
func (e *RuntimeError) Relocate(dn DefNamer, dp DefPositioner) {
	for i := range e.Frames {
		f := &e.Frames[i]
		if f.Def == nil {
			continue
		}
		if dn != nil {
			if n := dn.DefName(*f.Def); n != "" {
				f.Name = relocatedName(f.Name, f.Def.String(), n)
			}
		}
		if dp != nil && f.Node >= 0 {
			if t := dp.DefPositions(*f.Def); f.Node < len(t) && t[f.Node].Line != 0 {
				f.Pos = t[f.Node]
			}
		}
	}
	if len(e.Frames) > 0 && e.Frames[0].Pos.Line != 0 {
		e.Pos = e.Frames[0].Pos
	}
	// Stack names the same calls.
	if len(e.Frames) > 0 {
		e.Stack = e.Stack[:0]
		for _, f := range e.Frames {
			s := f.Name
			if f.Calls > 1 {
				s += fmt.Sprintf(" (%d calls)", f.Calls)
			}
			e.Stack = append(e.Stack, s)
		}
	}
}

// relocatedName replaces the hash reference in a frame name ("#bafy…",
// "lambda in #bafy…") by the name the caller knows it by.
func relocatedName(frame, ref, name string) string {
	if i := strings.Index(frame, ref); i >= 0 {
		return frame[:i] + name + frame[i+len(ref):]
	}
	return frame
}

func (e *RuntimeError) Error() string {
	msg := e.Msg
	if e.Pos.Line != 0 {
		msg = e.Pos.String() + ": " + msg
	}
	if len(e.Stack) == 0 {
		return msg
	}
	return msg + " (in " + e.Stack[0] + ")"
}

// Backtrace returns the message (after its position, when known)
// followed by one line per active call, innermost first:
//
//	prog.u:3:9: cannot apply + to an Int and a Text
//		in h at prog.u:3:9
//		in g at prog.u:7:3
//		in main at prog.u:10:5
func (e *RuntimeError) Backtrace() string {
	var b strings.Builder
	if e.Pos.Line != 0 {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if len(e.Frames) == 0 {
		for _, s := range e.Stack {
			b.WriteString("\n\tin ")
			b.WriteString(s)
		}
		return b.String()
	}
	for _, f := range e.Frames {
		b.WriteString("\n\tin ")
		b.WriteString(f.Name)
		if f.Pos.Line != 0 {
			b.WriteString(" at ")
			b.WriteString(f.Pos.String())
		}
		if f.Calls > 1 {
			fmt.Fprintf(&b, " (%d calls)", f.Calls)
		}
		if f.Peer != "" {
			b.WriteString(" (at ")
			b.WriteString(ShortPeer(f.Peer))
			b.WriteString(")")
		}
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRuntime) true.
func (e *RuntimeError) Is(target error) bool { return target == ErrRuntime }

// Unwrap returns the cause.
func (e *RuntimeError) Unwrap() error { return e.Err }

// CanceledError reports that Thread.Cancel was called or the context was
// canceled (a context deadline is a BudgetError "time" instead).
type CanceledError struct {
	Reason string
	Err    error // context.Canceled when the context was canceled
}

func (e *CanceledError) Error() string { return "evaluation canceled: " + e.Reason }

// Is makes errors.Is(err, ErrCanceled) true.
func (e *CanceledError) Is(target error) bool { return target == ErrCanceled }

// Unwrap returns the context error, if any.
func (e *CanceledError) Unwrap() error { return e.Err }

// MalformedError reports a term the interpreter cannot run: an unbound de
// Bruijn index, an unknown builtin, an empty application. Well-formed
// output of dag.Compile never produces one; foreign or corrupt code may.
type MalformedError struct{ Msg string }

func (e *MalformedError) Error() string { return "malformed code: " + e.Msg }

// Is makes errors.Is(err, ErrRuntime) true: running malformed code is a
// runtime failure of the program.
func (e *MalformedError) Is(target error) bool { return target == ErrRuntime }
