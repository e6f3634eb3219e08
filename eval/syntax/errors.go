package syntax

import (
	"fmt"
	"sort"
	"strings"
)

// String formats a position as "file:line:col", leaving out the file when
// it is unknown and returning "-" for the zero Pos.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		if p.File != "" {
			return p.File
		}
		return "-"
	case p.File == "":
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Before reports whether p comes before q in source order (files by name).
func (p Pos) Before(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Error is a syntax error (or, from later passes such as dag, any error that
// belongs to a source position). Msg says what was expected and what was
// found, e.g. `expected "in" after let bindings, found "x"`.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is a list of errors, usually sorted by position. ParseFile
// returns one (never empty) when a file has errors.
type ErrorList []*Error

// Error reports every error, one per line in source order, up to
// MaxShownErrors; past that it says how many more there are. The first
// line is the first error, so a caller that wants one line can cut there.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	for i, e := range l {
		if i == MaxShownErrors {
			fmt.Fprintf(&b, "\n(and %d more error", len(l)-i)
			if len(l)-i > 1 {
				b.WriteByte('s')
			}
			b.WriteByte(')')
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the elements so that errors.As(err, &target) with a
// target of type *Error finds the first one.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Sort orders the list by position (stable for equal positions).
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Pos.Before(l[j].Pos) })
}

// Err returns the list as an error, or nil if it is empty. It saves callers
// from the nil-interface-holding-nil-slice trap.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Full is the list with one error per line, for printing to a terminal.
func (l ErrorList) Full() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}
