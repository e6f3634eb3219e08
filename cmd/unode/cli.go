package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/eval"
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
	// parsed: cobra accepted the command line (flags and arguments) and
	// is running the command.
	parsed bool

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
		case errors.Is(err, errDaemonAnswered):
			// The repo was locked by a daemon that was starting; it
			// answers now.
			c = e.client
		case err != nil:
			return nil, err
		default:
			return op.do(e.ctx, b, req)
		}
	}
	res := new(Res)
	// On a terminal, the fetches the operation makes draw their progress
	// on stderr (commands_fetch.go).
	if report, done := e.progress(); report != nil {
		err = c.callWithProgress(e.ctx, op.name, req, res, report)
		done()
	} else {
		err = c.call(e.ctx, op.name, req, res)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// openRepo opens the repo for a command run without a daemon. While
// another process holds it (another command, or a daemon starting) it
// waits, up to busyTimeout, as SQLite's busy timeout does, and gives up
// waiting with errDaemonAnswered (e.client set) as soon as a daemon
// answers on the repo's socket.
func (e *env) openRepo() (*repo.Repo, error) {
	if e.repo != nil {
		return e.repo, nil
	}
	path, err := repo.DefaultPath()
	if err != nil {
		return nil, err
	}
	r, c, err := openWaiting(e.ctx, path, busyTimeout, repo.Options{})
	if c != nil {
		e.client = c
		return nil, errDaemonAnswered
	}
	if err != nil {
		return nil, err
	}
	e.reportTightened(r)
	e.repo = r
	return r, nil
}

// errDaemonAnswered: a daemon started while the command waited for the
// repo; the command goes through it.
var errDaemonAnswered = errors.New("the repo's daemon answered")

// openWaiting opens the repo at path. While another process has it open
// it retries every lockPoll (with jitter, so that waiting commands do not
// retry in step) for up to wait, and stops early, returning the
// daemon's client, when a daemon answers on the repo's socket. After
// wait it fails with an error matching repo.ErrLocked. opts go to
// repo.OpenWith (the daemon's --store).
func openWaiting(ctx context.Context, path string, wait time.Duration, opts repo.Options) (*repo.Repo, *apiClient, error) {
	deadline := time.Now().Add(wait)
	for {
		r, err := repo.OpenWith(path, opts)
		if !errors.Is(err, repo.ErrLocked) {
			return r, nil, err
		}
		if c := dialDaemon(socketPath(path)); c != nil {
			return nil, c, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%w (waited %v for it)", err, wait)
		}
		pause := lockPoll/2 + rand.N(lockPoll)
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// reportTightened says, once, that the repo was open to other users and
// no longer is (repo.Open restricted it; the next open finds nothing to
// restrict).
func (e *env) reportTightened(r *repo.Repo) {
	if len(r.Tightened) == 0 {
		return
	}
	fmt.Fprintf(e.stderr, "unode: %s was readable by other users; restricted %d entries to you (directories 0700, files 0600)\n", r.Path, len(r.Tightened))
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
		if err := e.emit(r); err != nil {
			return err
		}
		if rf, ok := r.(refusal); ok && rf.ExitStatus() != 0 {
			return exitStatus(rf.ExitStatus())
		}
		return nil
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
	// Cobra runs this hook once it has parsed the flags and checked the
	// arguments: an error before it is the command line's (run marks it
	// a usageError). Cobra runs only the nearest such hook, so a command
	// that sets its own PersistentPreRun must set e.parsed too.
	root.PersistentPreRun = func(*cobra.Command, []string) { e.parsed = true }
	versionFlag(e, root) // commands_version.go
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
		var st exitStatus
		if errors.As(err, &st) {
			return int(st) // the result, printed, said why
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		if !e.parsed {
			err = &usageError{err}
		}
		printError(stderr, err, e.json || jsonRequested(args))
		return 1
	}
	return 0
}

// exitStatus ends a command whose result is printed but whose outcome is
// a "no" that scripts must see in the exit status (token verify of a token
// this node would refuse): run exits with it and prints nothing more.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// refusal is a result that also sets a non-zero exit status.
type refusal interface {
	result
	ExitStatus() int // 0: success
}

// usageError is a command line that does not parse (an unknown command
// or flag, a bad flag value, the wrong number of arguments): code "usage"
// in JSON.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// printError prints a command's failure on stderr: the one line of
// errorLine, or with --json the object the local API answers with,
// {"error": LINE, "code": CODE} (the codes are errorCode's, listed in
// docs/cli.md), on one line.
func printError(w io.Writer, err error, asJSON bool) {
	if !asJSON {
		fmt.Fprintln(w, errorText(err))
		return
	}
	data, jerr := jsonMarshal(toAPIError(err))
	if jerr != nil {
		fmt.Fprintln(w, errorLine(err))
		return
	}
	fmt.Fprintf(w, "%s\n", data)
}

// jsonRequested reports whether the command line asks for --json. Flag
// parsing may fail before e.json is set (an unknown flag, a bad value),
// and that failure too is printed as JSON when --json was given.
func jsonRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// errorLine renders an error as one line. Source errors keep their
// file:line:col prefix; the further errors of a file, and a runtime
// error's backtrace, are errorDetail.
func errorLine(err error) string {
	if ae, ok := err.(*apiError); ok {
		return ae.Line // already rendered by the daemon
	}
	var list syntax.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		return oneLine(list[0].Error())
	}
	var se *syntax.Error
	if errors.As(err, &se) {
		return oneLine(se.Error())
	}
	return oneLine("unode: " + err.Error())
}

// maxErrorDetail bounds the lines errorDetail gives: the parser stops
// after syntax.MaxErrors errors, backtraces at 50 frames.
const maxErrorDetail = 64

// errorDetail is what follows an error's line: the other errors of a
// source file, one a line, or a runtime error's calls, innermost first,
// each "\tin NAME at FILE:LINE:COL".
func errorDetail(err error) []string {
	if ae, ok := err.(*apiError); ok {
		return ae.Detail // rendered by the daemon
	}
	var out []string
	var list syntax.ErrorList
	var re *eval.RuntimeError
	switch {
	case errors.As(err, &list) && len(list) > 1:
		for _, e := range list[1:] {
			out = append(out, oneLine(e.Error()))
		}
	case errors.As(err, &re) && !(len(re.Frames) == 1 && re.Frames[0].Pos == re.Pos && re.Frames[0].Peer == ""):
		// (One call where the error is says nothing its line does not.)
		lines := strings.Split(re.Backtrace(), "\n")
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "\tin ") {
				out = append(out, "\t"+oneLine(l))
			}
		}
	}
	if len(out) > maxErrorDetail {
		out = append(out[:maxErrorDetail-1], fmt.Sprintf("(%d more)", len(out)-maxErrorDetail+1))
	}
	return out
}

// errorText is errorLine and errorDetail, one a line.
func errorText(err error) string {
	d := errorDetail(err)
	if len(d) == 0 {
		return errorLine(err)
	}
	return errorLine(err) + "\n" + strings.Join(d, "\n")
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
