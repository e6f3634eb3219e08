package eval

import (
	"errors"
	"fmt"
	"strings"
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
// expression itself). Err is the underlying cause, if any (for example a
// Loader error), and is reachable through errors.Is/As.
type RuntimeError struct {
	Msg   string
	Stack []string
	Err   error
}

func (e *RuntimeError) Error() string {
	if len(e.Stack) == 0 {
		return e.Msg
	}
	return e.Msg + " (in " + e.Stack[0] + ")"
}

// Backtrace returns the message followed by one line per active
// definition, innermost first.
func (e *RuntimeError) Backtrace() string {
	var b strings.Builder
	b.WriteString(e.Msg)
	for _, s := range e.Stack {
		b.WriteString("\n\tin ")
		b.WriteString(s)
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
