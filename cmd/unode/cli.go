package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/eval/syntax"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// result is what every command produces: text for people, a JSON value for
// programs.
type result interface {
	Text() string
}

// env carries what commands share: the output streams, the --json flag,
// the daemon's API client when one runs, and otherwise the lazily opened
// repo.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	json   bool

	// stopSignals stops catching SIGINT and SIGTERM, so that a second
	// Ctrl-C kills a daemon that is slow to shut down. May be nil.
	stopSignals func()

	probed bool
	client *apiClient // nil when no daemon answers
	repo   *repo.Repo
	cb     *p2p.Codebase
}

// daemon returns a client of the repo's running daemon, or nil when none
// answers. It probes once per command.
func (e *env) daemon() (*apiClient, error) {
	if !e.probed {
		path, err := repo.DefaultPath()
		if err != nil {
			return nil, err
		}
		e.probed = true
		e.client = dialDaemon(socketPath(path))
	}
	return e.client, nil
}

// waitDaemon waits up to lockWait for the repo's daemon to answer; it is
// used when the repo is locked but no daemon answered at first.
func (e *env) waitDaemon() *apiClient {
	path, err := repo.DefaultPath()
	if err != nil {
		return nil
	}
	deadline := time.NewTimer(lockWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return nil
		case <-deadline.C:
			return nil
		case <-tick.C:
			if c := dialDaemon(socketPath(path)); c != nil {
				e.client = c
				return c
			}
		}
	}
}

// direct opens the repo in this process, for commands run without a
// daemon.
func (e *env) direct() (*backend, error) {
	r, err := e.openRepo()
	if err != nil {
		return nil, err
	}
	if e.cb == nil {
		e.cb = p2p.NewCodebase(r.Datastore)
		e.cb.SetHere(r.ID.String())
	}
	return &backend{repo: r, cb: e.cb}, nil
}

// invoke performs an operation: through the daemon's API when a daemon
// runs for the repo, else directly on the repo. Both paths run op.do.
func invoke[Req, Res any](e *env, op *operation[Req, Res], req *Req) (*Res, error) {
	c, err := e.daemon()
	if err != nil {
		return nil, err
	}
	if c == nil {
		if op.network != nil {
			if what := op.network(req); what != "" {
				return nil, needsNode(what)
			}
		}
		b, err := e.direct()
		switch {
		case errors.Is(err, repo.ErrLocked):
			// A daemon holds the repo but did not answer yet: it may be
			// starting.
			if c = e.waitDaemon(); c == nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			return op.do(e.ctx, b, req)
		}
	}
	res := new(Res)
	if err := c.call(e.ctx, op.name, req, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (e *env) openRepo() (*repo.Repo, error) {
	if e.repo != nil {
		return e.repo, nil
	}
	path, err := repo.DefaultPath()
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(path)
	if err != nil {
		return nil, err
	}
	e.repo = r
	return r, nil
}

func (e *env) close() {
	if e.repo != nil {
		e.repo.Close()
		e.repo = nil
	}
}

// emit prints a command's result.
func (e *env) emit(r result) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	s := r.Text()
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	_, err := io.WriteString(e.stdout, s)
	return err
}

// run wraps a command body: it produces a result and emits it.
func (e *env) run(f func(cmd *cobra.Command, args []string) (result, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		r, err := f(cmd, args)
		if err != nil {
			return err
		}
		return e.emit(r)
	}
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "unode",
		Short:         "A peer-to-peer node for content-addressed, distributed functional code",
		Long:          "unode runs programs whose definitions are named by their hash, locally or on other nodes.\nThe repo is $UNODE_PATH or ~/.unode, created on first use.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&e.json, "json", false, "print the result as JSON")
	for _, c := range commands(e) {
		root.AddCommand(c)
	}
	return root
}

// Main runs the CLI and returns the process exit status. SIGINT and
// SIGTERM cancel the command (and shut a daemon down cleanly).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, stop, args, stdin, stdout, stderr)
}

// run runs the CLI under ctx; tests call it to run commands, the daemon
// included, in process.
func run(ctx context.Context, stopSignals func(), args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stopSignals: stopSignals, stdin: stdin, stdout: stdout, stderr: stderr}
	defer e.close()
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(stderr, errorLine(err))
		return 1
	}
	return 0
}

// errorLine renders an error as one line. Source errors keep their
// file:line:col prefix; several are summarized after the first.
func errorLine(err error) string {
	if ae, ok := err.(*apiError); ok {
		return ae.Line // already rendered by the daemon
	}
	var list syntax.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		s := list[0].Error()
		if len(list) > 1 {
			s += fmt.Sprintf(" (and %d more errors)", len(list)-1)
		}
		return oneLine(s)
	}
	var se *syntax.Error
	if errors.As(err, &se) {
		return oneLine(se.Error())
	}
	return oneLine("unode: " + err.Error())
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
}

func jsonMarshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSpace(b.String())), nil
}
