package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p"
)

// Progress over the local API (docs/cli.md, "Local API"). A client that
// sends `Accept: application/x-ndjson` gets, instead of one JSON answer,
// a stream of JSON lines (status 200 whatever the outcome, since the
// status goes out before the work ends):
//
//	{"progress": {"blocks":…, "bytes":…, "expected":…, "provider":…, "providers":…, "elapsedNs":…}}
//	{"eval": {"fuel":…}}
//	{"trace": {"label":…, "value":…}}
//	...
//	{"result": <the operation's result, as without the header>}
//	  or {"error": {"code":…, "error":…}}
//
// Progress lines come from the operation's fetches, at most one every
// progressEvery; eval lines from its evaluations here, the fuel used so
// far, every evalProgressEvery while it changes. The last line is always
// the outcome. Every
// operation accepts the header; those that fetch nothing send the
// outcome alone. The CLI asks for it when its stderr is a terminal.

const progressType = "application/x-ndjson"

// progressLine is one line of the stream.
type progressMessage struct {
	Progress *p2p.FetchProgress `json:"progress,omitempty"`
	// Eval reports the fuel an evaluation of the operation has used so
	// far, every evalProgressEvery while it runs (progress_eval.go).
	Eval *evalProgressReport `json:"eval,omitempty"`
	// Trace is a Debug.trace of an evaluation here (trace.go).
	Trace  *traceReport    `json:"trace,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *apiError       `json:"error,omitempty"`
}

func (o *operation[Req, Res]) serveWithProgress(w http.ResponseWriter, r *http.Request, b *backend, log *slog.Logger, req *Req, start time.Time) {
	w.Header().Set("Content-Type", progressType)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	send := func(m *progressMessage) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(m)
		if flusher != nil {
			flusher.Flush()
		}
	}
	var last time.Time
	report := func(p p2p.FetchProgress) {
		if now := time.Now(); now.Sub(last) >= progressEvery || p.Blocks == p.Expected {
			last = now
			send(&progressMessage{Progress: &p})
		}
	}
	meter := &eval.Meter{}
	stopFuel := make(chan struct{})
	fuelDone := make(chan struct{})
	go func() {
		defer close(fuelDone)
		t := time.NewTicker(evalProgressEvery)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-stopFuel:
				return
			case <-t.C:
			}
			if n, ok := meter.Fuel(); ok && n != last {
				last = n
				send(&progressMessage{Eval: &evalProgressReport{Fuel: n}})
			}
		}
	}()
	traces := 0
	trace := func(label, value string) {
		mu.Lock()
		traces++
		n := traces
		mu.Unlock()
		switch {
		case n <= maxTraceLines:
			send(&progressMessage{Trace: &traceReport{Label: label, Value: value}})
		case n == maxTraceLines+1:
			send(&progressMessage{Trace: &traceReport{Label: "unode", Value: fmt.Sprintf("more than %d traces; the rest are not sent", maxTraceLines)}})
		}
	}
	ctx := eval.WithTrace(eval.WithMeter(r.Context(), meter), trace)
	res, err := o.do(withProgress(ctx, report), b, req)
	close(stopFuel)
	<-fuelDone
	if err != nil {
		ae := toAPIError(err)
		log.Info("api", "op", o.name, "error", ae.Line, "took", time.Since(start).Round(time.Microsecond))
		send(&progressMessage{Error: ae})
		return
	}
	log.Info("api", "op", o.name, "took", time.Since(start).Round(time.Microsecond))
	data, err := jsonMarshal(res)
	if err != nil {
		send(&progressMessage{Error: toAPIError(err)})
		return
	}
	send(&progressMessage{Result: data})
}

// evalProgressReport is an {"eval": ...} line of the progress stream.
type evalProgressReport struct {
	Fuel int64 `json:"fuel"`
}

// callWithProgress is call, asking the daemon for progress lines, which
// it passes to report as they come.
func (c *apiClient) callWithProgress(ctx context.Context, name string, req, res any, report func(p2p.FetchProgress)) error {
	resp, err := c.post(ctx, name, req, progressType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != progressType {
		return decodeAnswer(resp, res)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxAnswerLine)
	for sc.Scan() {
		var m progressMessage
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("reading the daemon's answer: %w", err)
		}
		switch {
		case m.Eval != nil:
			reportEvalFuel(ctx, m.Eval.Fuel)
		case m.Trace != nil:
			printTrace(ctx, m.Trace.Label, m.Trace.Value)
		case m.Progress != nil:
			report(*m.Progress)
		case m.Error != nil:
			return m.Error
		case m.Result != nil:
			dec := json.NewDecoder(bytes.NewReader(m.Result))
			dec.UseNumber()
			if err := dec.Decode(res); err != nil {
				return fmt.Errorf("reading the daemon's answer: %w", err)
			}
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("reading the daemon's answer: %w", err)
	}
	return fmt.Errorf("the daemon's answer ended before the outcome (is `unode daemon` still running?)")
}
