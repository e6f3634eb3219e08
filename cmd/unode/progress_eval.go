package main

import (
	"fmt"
	"sync"
	"time"
)

// Evaluations that take a while show it: on a terminal, once an
// evaluation has run for evalProgressAfter, a line on stderr gives the
// time elapsed, redrawn every evalProgressEvery and cleared when the
// evaluation ends, so that stdout holds the value alone. Nothing is
// drawn when stderr is not a terminal (scripts, pipes) or with --json.
//
// The line says elapsed time only: the fuel used so far lives on the
// evaluator's thread, which has no hook to read it while it runs.
var (
	evalProgressAfter = 2 * time.Second
	evalProgressEvery = 250 * time.Millisecond
)

// evalProgress starts the line for an evaluation of what; stop ends it
// (and must be called).
func (e *env) evalProgress(what string) (stop func()) {
	if e.json || !isTerminal(e.stderr) {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			return
		case <-time.After(evalProgressAfter):
		}
		t := time.NewTicker(evalProgressEvery)
		defer t.Stop()
		for {
			fmt.Fprintf(e.stderr, "\r\x1b[K%s: running for %s (Ctrl-C stops it)", what, time.Since(start).Truncate(100*time.Millisecond))
			select {
			case <-done:
				fmt.Fprint(e.stderr, "\r\x1b[K") // the line goes; the value or error follows
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
