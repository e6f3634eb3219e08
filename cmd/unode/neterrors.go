package main

import (
	"regexp"
	"strings"

	"github.com/unode-dev/unode/p2p"
)

// textError replaces an error's text and keeps the error behind it for
// errors.Is and errors.As (and so for the API's error code).
type textError struct {
	text string
	err  error
}

func (e *textError) Error() string { return e.text }
func (e *textError) Unwrap() error { return e.err }

// dialError gives a failed connection its one-line cause and a hint
// (p2p.DialText) in place of libp2p's list of every address tried.
func dialError(doing string, err error) error {
	if text, ok := p2p.DialText(err); ok {
		return &textError{text: doing + ": " + text, err: err}
	}
	return err
}

// lineBreaks are the breaks a remote error's text may hold (a remote
// stack, a message with newlines): printed, they would split the one
// error line, or leave "\n\t" in --json.
var lineBreaks = regexp.MustCompile(`\s*\n\s*`)

// oneLineError joins an error's lines with "; ".
func oneLineError(err error) error {
	s := err.Error()
	if !strings.Contains(s, "\n") {
		return err
	}
	return &textError{text: lineBreaks.ReplaceAllString(strings.TrimSpace(s), "; "), err: err}
}
