package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
	"github.com/unode-dev/unode/p2p"
)

// The local API: while `unode daemon` runs, the other commands send it
// their requests as JSON over HTTP on a Unix socket in the repo
// ($UNODE_PATH/api.sock, mode 0600 in the 0700 repo directory, so only
// the repo's owner can use it). Each operation is one endpoint,
// POST /api/v0/<name>, whose body is the operation's request and whose
// 200 answer is its result, the same JSON that `--json` prints. A failure
// answers 4xx/5xx with an apiError. See docs/cli.md.
const (
	apiPrefix  = "/api/v0/"
	socketName = "api.sock"
)

// socketPath is where the daemon of the repo at repoPath listens.
func socketPath(repoPath string) string { return filepath.Join(repoPath, socketName) }

// apiOp is an operation as the API server sees it.
type apiOp interface {
	opName() string
	handler(b *backend, log *slog.Logger) http.HandlerFunc
}

func (o *operation[Req, Res]) opName() string { return o.name }

// handler serves the operation: decode the request, run do against the
// daemon's backend, encode the result or the error.
func (o *operation[Req, Res]) handler(b *backend, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req Req
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeAPIError(w, &apiError{Code: codeBadRequest, Line: oneLine("unode: bad request: " + err.Error())})
			return
		}
		if r.Header.Get("Accept") == progressType {
			// Progress lines, then the outcome (api_progress.go).
			o.serveWithProgress(w, r, b, log, &req, start)
			return
		}
		res, err := o.do(r.Context(), b, &req)
		if err != nil {
			ae := toAPIError(err)
			log.Info("api", "op", o.name, "error", ae.Line, "took", time.Since(start).Round(time.Microsecond))
			writeAPIError(w, ae)
			return
		}
		log.Info("api", "op", o.name, "took", time.Since(start).Round(time.Microsecond))
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.Encode(res)
	}
}

// newAPIHandler routes every operation of apiOps to its endpoint.
func newAPIHandler(b *backend, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	for _, op := range apiOps {
		mux.Handle("POST "+apiPrefix+op.opName(), op.handler(b, log))
	}
	return mux
}

// listenSocket listens on the API socket. The caller holds the repo lock,
// so a socket file already there is stale (left by a daemon that
// crashed) and is removed.
func listenSocket(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("API socket path %s is too long (%d bytes; at most %d): use a shorter %s", path, len(path), maxSocketPath, "UNODE_PATH")
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale API socket: %w", err)
	}
	// Create the socket without group or other permissions from the
	// start, rather than chmod after a window in which it is open.
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on API socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listening on API socket: %w", err)
	}
	return ln, nil
}

// apiClient talks to a running daemon.
type apiClient struct {
	sock string
	http *http.Client
}

// dialDaemon returns a client of the daemon listening on sock, or nil
// when none answers (no socket, or a stale one).
func dialDaemon(sock string) *apiClient {
	c, err := net.DialTimeout("unix", sock, probeTimeout)
	if err != nil {
		return nil
	}
	c.Close()
	d := &net.Dialer{Timeout: probeTimeout}
	return &apiClient{sock: sock, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		},
		DisableCompression: true,
	}}}
}

// call sends one request and decodes the result into res. Numbers in
// results decode as json.Number, so values print exactly as the daemon
// produced them.
func (c *apiClient) call(ctx context.Context, name string, req, res any) error {
	resp, err := c.post(ctx, name, req, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeAnswer(resp, res)
}

// post sends one request (accept, when set, is its Accept header).
func (c *apiClient) post(ctx context.Context, name string, req any, accept string) (*http.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://unode"+apiPrefix+name, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if accept != "" {
		hreq.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("talking to the daemon at %s (is `unode daemon` still running?): %w", c.sock, errors.Unwrap(err))
	}
	return resp, nil
}

// decodeAnswer decodes a one-JSON answer: the result into res, or the
// error.
func decodeAnswer(resp *http.Response, res any) error {
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if resp.StatusCode != http.StatusOK {
		var ae apiError
		if err := dec.Decode(&ae); err != nil || ae.Line == "" {
			return fmt.Errorf("the daemon answered %s", resp.Status)
		}
		return &ae
	}
	if err := dec.Decode(res); err != nil {
		return fmt.Errorf("reading the daemon's answer: %w", err)
	}
	return nil
}

// apiError is a failure as it crosses the local API: a code for programs
// and the line the CLI prints (errorLine of the daemon-side error, so a
// source error keeps its file:line:col).
type apiError struct {
	Code string `json:"code"`
	Line string `json:"error"`
	// Detail is what the CLI prints after Line (errorDetail): a source
	// file's other errors, or a runtime error's backtrace.
	Detail []string `json:"detail,omitempty"`
}

func (e *apiError) Error() string { return e.Line }

// Is lets callers test an error from the daemon as they would the
// original: errors.Is(err, eval.ErrTimeout) and so on.
func (e *apiError) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// Error codes of the local API.
const (
	codeSyntax      = "syntax"        // a source error (file:line:col)
	codeUnknownName = "unknown-name"  // show of a name the namespace lacks
	codeBadRequest  = "bad-request"   // a request the daemon cannot decode
	codeNoDaemon    = "no-daemon"     // needs the network, no daemon runs
	codeTimeout     = "timeout"       // a remote call timed out
	codeDenied      = "denied"        // refused by the callee's policy
	codeBudget      = "budget"        // an evaluation ran out of budget
	codeMissing     = "missing"       // a block could not be found or sent
	codeCanceled    = "canceled"      // the evaluation was canceled
	codeRuntime     = "runtime"       // the program failed
	codeMsg         = "msg"           // a remote call failed otherwise (unreachable peer, remote runtime error)
	codeInvalid     = "invalid"       // a peer broke the protocol
	codeNoData      = "no-data"       // data get of a key that holds nothing
	codeNoGrant     = "unknown-grant" // revoke of an ID that names no grant
	codeBadSandbox  = "bad-sandbox"   // a sandbox or policy that is not valid
	codeBadToken    = "bad-token"     // a token that does not parse
	codeRefused     = "refused"       // a block or CAR file that fails its checks (ops_block.go)
	codeUsage       = "usage"         // a command line cobra cannot parse: unknown flag, wrong arguments (cli.go)
	codeError       = "error"         // anything else
)

var codeSentinels = map[string]error{
	codeUnknownName: p2p.ErrUnknownName,
	codeNoDaemon:    errNoDaemon,
	codeTimeout:     eval.ErrTimeout,
	codeDenied:      eval.ErrDenied,
	codeBudget:      eval.ErrBudget,
	codeMissing:     eval.ErrMissing,
	codeCanceled:    eval.ErrCanceled,
	codeRuntime:     eval.ErrRuntime,
	codeMsg:         p2p.ErrRemote,
	codeInvalid:     p2p.ErrMalformedMessage,
	codeNoData:      errNoData,
	codeNoGrant:     capabilities.ErrUnknownGrant,
	codeBadSandbox:  capabilities.ErrInvalidSandbox,
	codeBadToken:    capabilities.ErrMalformedToken,
	codeRefused:     errRefused,
}

// errorCode classifies an error for the API. The order matters: a failed
// remote call may also be a runtime error, and its specific kind wins.
func errorCode(err error) string {
	var list syntax.ErrorList
	var se *syntax.Error
	var ae *apiError
	var ce *p2p.CallError
	switch {
	case errors.As(err, &ae):
		return ae.Code
	case errors.As(err, &ce):
		switch ce.Code {
		case p2p.CodeTimeout:
			return codeTimeout
		case p2p.CodeDenied:
			return codeDenied
		case p2p.CodeBudget:
			return codeBudget
		case p2p.CodeMissing:
			return codeMissing
		case p2p.CodeInvalid:
			return codeInvalid
		}
		return codeMsg
	case errors.Is(err, errRefused):
		return codeRefused
	case errors.As(err, new(*usageError)):
		return codeUsage
	case errors.As(err, &list), errors.As(err, &se):
		return codeSyntax
	case errors.Is(err, errNoDaemon):
		return codeNoDaemon
	case errors.Is(err, eval.ErrTimeout):
		return codeTimeout
	case errors.Is(err, eval.ErrDenied), errors.Is(err, capabilities.ErrDenied):
		return codeDenied
	case errors.Is(err, eval.ErrBudget):
		return codeBudget
	case errors.Is(err, eval.ErrMissing), errors.Is(err, dag.ErrMissing):
		return codeMissing
	case errors.Is(err, eval.ErrCanceled), errors.Is(err, context.Canceled):
		return codeCanceled
	case errors.Is(err, eval.ErrRuntime):
		return codeRuntime
	case errors.Is(err, p2p.ErrUnknownName):
		return codeUnknownName
	case errors.Is(err, errNoData):
		return codeNoData
	case errors.Is(err, capabilities.ErrUnknownGrant):
		return codeNoGrant
	case errors.Is(err, capabilities.ErrInvalidSandbox):
		return codeBadSandbox
	case errors.Is(err, capabilities.ErrMalformedToken):
		return codeBadToken
	}
	return codeError
}

func toAPIError(err error) *apiError {
	return &apiError{Code: errorCode(err), Line: errorLine(err), Detail: errorDetail(err)}
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	status := http.StatusInternalServerError
	switch e.Code {
	case codeSyntax, codeUnknownName, codeBadRequest, codeBadSandbox, codeBadToken:
		status = http.StatusBadRequest
	case codeNoData, codeNoGrant:
		status = http.StatusNotFound
	case codeNoDaemon:
		status = http.StatusServiceUnavailable
	case codeTimeout, codeDenied, codeBudget, codeMissing, codeCanceled, codeRuntime, codeMsg, codeInvalid, codeRefused:
		status = http.StatusUnprocessableEntity
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(e)
}
