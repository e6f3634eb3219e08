package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
)

// Fetching code: `unode fetch CID...` pulls the closures of published
// definitions from providers (the --from peers, then the DHT's); eval,
// run, add and show fetch what their source names by #CID that the repo
// lacks before they compile or evaluate it. Both go through the daemon's
// node. Progress goes to stderr when it is a terminal: through the local
// API, as a stream of progress lines before the result (api.go, "Progress").

func fetchCmd(e *env) *cobra.Command {
	var from []string
	cmd := &cobra.Command{
		Use:   "fetch CID...",
		Short: "Fetch published definitions, with everything they need, from the nodes that provide them",
		Long: "Fetch published definitions by CID, with their whole closure, from the nodes that\n" +
			"provide them: the --from peers first, then the providers the DHT lists for each CID.\n" +
			"Each provider is asked once for everything still missing (one /unode/blocks request);\n" +
			"every block is checked against its CID before it is stored, so a provider that sends\n" +
			"wrong blocks is dropped and the fetch completes from another, and one that stalls or\n" +
			"goes away midway is followed by the next, which is asked only for what did not arrive.\n" +
			"Fetched definitions are kept (pinned). Needs `unode daemon`.\n\n" +
			"On a terminal, progress (blocks, bytes, rate) is shown on stderr while it runs. The\n" +
			"result gives the blocks and bytes received, the providers asked, the requests and\n" +
			"round trips, and what each provider did (--json: \"blocks\", \"bytes\", \"providers\",\n" +
			"\"requests\", \"roundTrips\", \"sources\").",
		Example: "  unode fetch bafyreib...\n  unode fetch --from /ip4/192.0.2.7/tcp/4100/p2p/12D3KooW... bafyreib...",
		Args:    cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			req := &fetchRequest{From: from}
			for _, a := range args {
				req.CIDs = append(req.CIDs, strings.TrimPrefix(a, "#"))
			}
			return invoke(e, fetchOp, req)
		}),
	}
	cmd.Flags().StringArrayVar(&from, "from", nil, "ask this peer (peer ID or /p2p/ multiaddr) first; repeatable")
	return cmd
}

type fetchRequest struct {
	CIDs []string `json:"cids"`
	From []string `json:"from,omitempty"`
}

// fetchResult is the figures of a fetch (p2p.FetchStats) and the roots.
type fetchResult struct {
	Roots []string `json:"roots"`
	p2p.FetchStats
}

func (r *fetchResult) Text() string {
	var b strings.Builder
	if r.Requests == 0 {
		b.WriteString("nothing to fetch: complete here already\n")
		return b.String()
	}
	fmt.Fprintf(&b, "fetched %s (%s) from %s: %s, %s\n", plural(r.Blocks, "block"), byteSize(r.Bytes),
		plural(r.Providers, "provider"), plural(r.Requests, "request"), plural(r.RoundTrips, "round trip"))
	for _, s := range r.Sources {
		if s.Outcome == p2p.OutcomeOK && len(r.Sources) == 1 {
			continue
		}
		fmt.Fprintf(&b, "  %-8s %s: %s (%s)", s.Outcome, s.Peer, plural(s.Blocks, "block"), byteSize(s.Bytes))
		if s.Error != "" {
			fmt.Fprintf(&b, ": %s", s.Error)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// codeFetcher is what a node that fetches code provides (*p2p.Node,
// through p2pNode); found by type assertion, so that the tests' fake node
// need not.
type codeFetcher interface {
	FetchClosure(ctx context.Context, roots []cid.Cid, o p2p.FetchOptions) (p2p.FetchStats, error)
	FetchAbsent(ctx context.Context, roots []cid.Cid, o p2p.FetchOptions) (p2p.FetchStats, error)
}

var _ codeFetcher = p2pNode{}

func (b *backend) fetcher() (codeFetcher, error) {
	if b.node == nil {
		return nil, needsNode("fetch")
	}
	f, ok := b.node.(codeFetcher)
	if !ok {
		return nil, errors.New("this node cannot fetch code")
	}
	return f, nil
}

var fetchOp = &operation[fetchRequest, fetchResult]{
	name:    "fetch",
	network: func(*fetchRequest) string { return "fetch" },
	do: func(ctx context.Context, b *backend, req *fetchRequest) (*fetchResult, error) {
		f, err := b.fetcher()
		if err != nil {
			return nil, err
		}
		if len(req.CIDs) == 0 || len(req.CIDs) > p2p.MaxFetchRoots {
			return nil, fmt.Errorf("fetch: %d CIDs (want 1 to %d)", len(req.CIDs), p2p.MaxFetchRoots)
		}
		var roots []cid.Cid
		for _, s := range req.CIDs {
			c, err := cid.Decode(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CID: %w", s, err)
			}
			roots = append(roots, c)
		}
		st, err := f.FetchClosure(ctx, roots, p2p.FetchOptions{From: req.From, Progress: progressOf(ctx)})
		if err != nil {
			return nil, err
		}
		out := &fetchResult{Roots: req.CIDs, FetchStats: st}
		if out.Sources == nil {
			out.Sources = []p2p.ProviderStats{}
		}
		return out, nil
	},
}

// fetchNamed fetches, through the daemon's node, the definitions absent
// (what an operation's source names by #CID and the repo lacks; listing
// them failed with listErr, which the operation itself reports). The
// fetch is best effort (code named may be needed only at a node a thunk
// goes to): a fetch that finds no provider returns its failure as note,
// for missingError; err is any other failure. Without a daemon it does
// nothing: missingError says the operation needs one.
func (b *backend) fetchNamed(ctx context.Context, absent []cid.Cid, listErr error) (note, err error) {
	if listErr != nil || len(absent) == 0 || b.node == nil {
		return nil, nil
	}
	f, ok := b.node.(codeFetcher)
	if !ok {
		return nil, nil
	}
	_, err = f.FetchAbsent(ctx, absent, p2p.FetchOptions{Progress: progressOf(ctx)})
	var fe *p2p.FetchError
	if errors.As(err, &fe) {
		return err, nil
	}
	return nil, err
}

// missingError is the error of an operation (what) that failed with
// err after fetchNamed: a missing block it could not fetch says why, and
// without a daemon, that fetching it needs the network.
func (b *backend) missingError(what string, absent []cid.Cid, note, err error) error {
	if len(absent) == 0 {
		return err
	}
	var fe *p2p.FetchError
	if errors.As(err, &fe) {
		return err
	}
	if b.node == nil && (errorCode(err) == codeMissing || errors.Is(err, dag.ErrNotFound)) {
		return needsNode(fmt.Sprintf("%s of #%s (not in this repo; fetching it)", what, absent[0]))
	}
	return p2p.WithFetchError(err, note)
}

// ---- progress ----

// progressKey carries, in an operation's context, where its fetches
// report progress (a terminal's line, or the API's stream).
type progressKey struct{}

func withProgress(ctx context.Context, f func(p2p.FetchProgress)) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

func progressOf(ctx context.Context) func(p2p.FetchProgress) {
	f, _ := ctx.Value(progressKey{}).(func(p2p.FetchProgress))
	return f
}

// isTerminal reports whether w is a terminal (a character device). A
// variable, so that tests can make the CLI draw progress into a buffer.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressLine draws a fetch's progress on one line of a terminal: only
// for transfers that last (after progressDelay), at most every
// progressEvery, and cleared when done.
type progressLine struct {
	mu     sync.Mutex
	w      io.Writer
	start  time.Time
	last   time.Time
	drawn  bool
	latest p2p.FetchProgress
}

// progress returns where the command's fetches report, and done to call
// when it ends; (nil, no-op) when stderr is not a terminal.
func (e *env) progress() (report func(p2p.FetchProgress), done func()) {
	if !isTerminal(e.stderr) {
		return nil, func() {}
	}
	l := &progressLine{w: e.stderr, start: time.Now()}
	return l.report, l.done
}

func (l *progressLine) report(p p2p.FetchProgress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latest = p
	now := time.Now()
	if now.Sub(l.start) < progressDelay || now.Sub(l.last) < progressEvery {
		return
	}
	l.last = now
	l.draw()
}

func (l *progressLine) draw() {
	p := l.latest
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Bytes) / s
	}
	fmt.Fprintf(l.w, "\r\x1b[Kfetching: %d/%d blocks, %s, %s/s from %s", p.Blocks, p.Expected, byteSize(p.Bytes),
		byteSize(int64(rate)), shortID(p.Provider))
	l.drawn = true
}

func (l *progressLine) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		l.draw() // the final figures
		fmt.Fprintln(l.w)
	}
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:4] + "…" + id[len(id)-8:]
	}
	return id
}
