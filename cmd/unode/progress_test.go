package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p"
)

// slowFetchOp reports progress as a fetch would, then answers (or fails
// with a missing block when asked to).
type slowFetchRequest struct {
	Steps int  `json:"steps"`
	Fail  bool `json:"fail,omitempty"`
}

var slowFetchOp = &operation[slowFetchRequest, fetchResult]{
	name: "slowfetch",
	do: func(ctx context.Context, _ *backend, req *slowFetchRequest) (*fetchResult, error) {
		report := progressOf(ctx)
		for i := 1; i <= req.Steps; i++ {
			if report != nil {
				report(p2p.FetchProgress{Blocks: i, Bytes: int64(i) << 20, Expected: req.Steps, Provider: "12D3KooWprovider", Providers: 1, Elapsed: time.Duration(i) * time.Second})
			}
			time.Sleep(progressEvery + 10*time.Millisecond)
		}
		if req.Fail {
			return nil, &p2p.CallError{Code: p2p.CodeMissing, Msg: "gone"}
		}
		return &fetchResult{Roots: []string{"x"}, FetchStats: p2p.FetchStats{Blocks: req.Steps, Requests: 1, RoundTrips: 2, Sources: []p2p.ProviderStats{}}}, nil
	},
}

// The local API carries a fetch's progress: asked for progress lines
// (Accept: application/x-ndjson), the daemon streams them before the
// outcome, and the client passes them on; without, one answer as before.
func TestAPIProgressStream(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+apiPrefix+slowFetchOp.name, slowFetchOp.handler(&backend{}, slog.New(slog.DiscardHandler)))
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := dialDaemon(sock)
	if c == nil {
		t.Fatal("no daemon at the socket")
	}
	ctx := context.Background()

	var got []p2p.FetchProgress
	var res fetchResult
	if err := c.callWithProgress(ctx, slowFetchOp.name, &slowFetchRequest{Steps: 3}, &res, func(p p2p.FetchProgress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 3 || res.RoundTrips != 2 {
		t.Errorf("result %+v", res)
	}
	if len(got) != 3 || got[2].Blocks != 3 || got[2].Expected != 3 || got[2].Bytes != 3<<20 {
		t.Errorf("progress %+v, want 3 lines ending at 3 of 3 blocks", got)
	}
	// A failure is the last line, typed as without progress.
	err = c.callWithProgress(ctx, slowFetchOp.name, &slowFetchRequest{Steps: 1, Fail: true}, &res, func(p2p.FetchProgress) {})
	if !errors.Is(err, eval.ErrMissing) {
		t.Errorf("failure through the stream: %v", err)
	}
	// Without the header: one answer.
	var plain fetchResult
	if err := c.call(ctx, slowFetchOp.name, &slowFetchRequest{Steps: 1}, &plain); err != nil || plain.Blocks != 1 {
		t.Errorf("plain call: %+v, %v", plain, err)
	}
}

// On a terminal the progress line shows blocks, bytes and a rate, only
// for a transfer that lasts, and ends with the final figures; nothing is
// drawn when stderr is not a terminal.
func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	e := &env{stderr: &buf}
	if report, _ := e.progress(); report != nil {
		t.Fatal("progress on a buffer that is not a terminal")
	}
	old := isTerminal
	isTerminal = func(w io.Writer) bool { return w == &buf }
	t.Cleanup(func() { isTerminal = old })

	report, done := e.progress()
	report(p2p.FetchProgress{Blocks: 1, Expected: 4, Bytes: 1 << 20, Elapsed: time.Second, Provider: "12D3KooWabcdefghijklmnop"})
	if buf.Len() != 0 {
		t.Errorf("drawn before progressDelay: %q", buf.String())
	}
	time.Sleep(progressDelay + 10*time.Millisecond)
	report(p2p.FetchProgress{Blocks: 2, Expected: 4, Bytes: 2 << 20, Elapsed: 2 * time.Second, Provider: "12D3KooWabcdefghijklmnop"})
	report(p2p.FetchProgress{Blocks: 4, Expected: 4, Bytes: 4 << 20, Elapsed: 2 * time.Second, Provider: "12D3KooWabcdefghijklmnop"})
	done()
	out := buf.String()
	for _, want := range []string{"fetching: 2/4 blocks, 2.0 MiB, 1.0 MiB/s from 12D3…ijklmnop", "fetching: 4/4 blocks, 4.0 MiB, 2.0 MiB/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("progress %q does not end its line", out)
	}

	// A fetch too short to draw leaves nothing.
	buf.Reset()
	report, done = e.progress()
	report(p2p.FetchProgress{Blocks: 1, Expected: 1})
	done()
	if buf.Len() != 0 {
		t.Errorf("a short fetch drew %q", buf.String())
	}
}
