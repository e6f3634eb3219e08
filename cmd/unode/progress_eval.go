package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unode-dev/unode/eval"
)

// Evaluations that take a while show it: on a terminal, once an
// evaluation has run for evalProgressAfter, a line on stderr gives the
// time elapsed, redrawn every evalProgressEvery and cleared when the
// evaluation ends, so that stdout holds the value alone. Nothing is
// drawn when stderr is not a terminal (scripts, pipes) or with --json.
//
// The line also gives the fuel used so far: an evaluation run by this
// process reports it through an eval.Meter on the context; one run by the
// daemon sends it in the progress stream of the local API
// ({"eval": {"fuel": N}} lines, api_progress.go). An evaluation at
// another node (--at) shows the time alone: its fuel is known when it
// ends.
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
	ctx := e.ctx
	fuel := &evalFuel{}
	e.ctx = withEvalFuel(eval.WithMeter(ctx, &fuel.local), fuel)
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
			used := ""
			if n, ok := fuel.used(); ok {
				used = fmt.Sprintf(", %s fuel", fuelText(n))
			}
			fmt.Fprintf(e.stderr, "\r\x1b[K%s: running for %s%s (Ctrl-C stops it)", what, time.Since(start).Truncate(100*time.Millisecond), used)
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
			e.ctx = ctx
		})
	}
}

// evalFuel is where the fuel of the evaluation being shown comes from.
type evalFuel struct {
	local  eval.Meter   // an evaluation in this process
	remote atomic.Int64 // the daemon's last report
	seen   atomic.Bool  // the daemon reported
}

func (f *evalFuel) used() (int64, bool) {
	if n, ok := f.local.Fuel(); ok {
		return n, true
	}
	return f.remote.Load(), f.seen.Load()
}

type evalFuelKey struct{}

// withEvalFuel makes the daemon's fuel reports of a call under ctx land
// in f (apiClient.callWithProgress).
func withEvalFuel(ctx context.Context, f *evalFuel) context.Context {
	return context.WithValue(ctx, evalFuelKey{}, f)
}

// reportEvalFuel records a fuel report of the daemon for the line.
func reportEvalFuel(ctx context.Context, n int64) {
	if f, ok := ctx.Value(evalFuelKey{}).(*evalFuel); ok {
		f.remote.Store(n)
		f.seen.Store(true)
	}
}

// fuelText is a fuel figure for people: 1234567 is "1.2M".
func fuelText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
