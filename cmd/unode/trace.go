package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/unode-dev/unode/eval"
)

// Debug.trace in the CLI's evaluations (issue 13). `unode eval`, `run`
// and the REPL print each trace on stderr as it happens,
//
//	trace LABEL: VALUE
//
// whether the evaluation runs in this process or in the daemon, which
// sends them in the progress stream of the local API ({"trace":
// {"label", "value"}} lines, api_progress.go; the CLI asks for the stream
// when stderr is a terminal, so a daemon's traces reach a terminal only).
// Code another node sent is never traced (p2p gives its threads no
// receiver), and an evaluation at another node (--at) prints nothing:
// there it is foreign code.

// maxTraceLines bounds the traces the daemon sends for one request: a
// trace in a loop would otherwise flood the stream; the rest are counted.
const maxTraceLines = 1000

type traceSinkKey struct{}

// withTracePrinter makes the evaluations under ctx print their traces on
// w, and the daemon's trace lines for a call under ctx too.
func withTracePrinter(ctx context.Context, w io.Writer) context.Context {
	var mu sync.Mutex
	print := func(label, value string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "trace %s: %s\n", oneLine(label), value)
	}
	return eval.WithTrace(context.WithValue(ctx, traceSinkKey{}, print), print)
}

// printTrace prints a trace the daemon sent for a call under ctx.
func printTrace(ctx context.Context, label, value string) {
	if f, ok := ctx.Value(traceSinkKey{}).(func(label, value string)); ok {
		f(label, value)
	}
}

// traceReport is a {"trace": ...} line of the progress stream.
type traceReport struct {
	Label string `json:"label"`
	Value string `json:"value"`
}
