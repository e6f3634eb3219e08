package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// These tests run the daemon in process on a fake node, so that the local
// API, the routing of commands and the daemon's lifecycle are tested
// without a network. e2e_test.go runs the real binary on real nodes.

const fakePeer = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"

// fakeNode evaluates "remote" calls on its own codebase and reports
// made-up sync figures: 3 blocks on the first call to a peer, 0 after.
type fakeNode struct {
	id     string
	cb     *p2p.Codebase
	key    crypto.PrivKey
	grants *capabilities.Store

	mu     sync.Mutex
	peers  []peerInfo
	synced map[string]bool
	policy *capabilities.Policy // the last SetPolicy

	// A call --at "blocker" sends on started and waits for its request
	// to be canceled.
	started chan struct{}
}

func (n *fakeNode) ID() string              { return n.id }
func (n *fakeNode) Addrs() []string         { return []string{"/ip4/127.0.0.1/tcp/4100/p2p/" + n.id} }
func (n *fakeNode) StoreID() string         { return "fake-store" }
func (n *fakeNode) Codebase() *p2p.Codebase { return n.cb }
func (n *fakeNode) Close() error            { return nil }

func (n *fakeNode) Connect(ctx context.Context, addr string) (peerInfo, error) {
	id := peerOf(addr)
	if id == addr {
		return peerInfo{}, fmt.Errorf("%q is not a /p2p/ multiaddr", addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	pi := peerInfo{ID: id, Addrs: []string{strings.TrimSuffix(addr, "/p2p/"+id)}}
	n.peers = append(n.peers, pi)
	return pi, nil
}

func (n *fakeNode) Peers() []peerInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]peerInfo(nil), n.peers...)
}

// The fake node's own policy, as SetPolicy last gave it.
func (n *fakeNode) currentPolicy() *capabilities.Policy {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.policy
}

func (n *fakeNode) Grants() *capabilities.Store { return n.grants }

func (n *fakeNode) Grant(ctx context.Context, c capabilities.Claims, note string) (*capabilities.Token, error) {
	return n.grants.Grant(ctx, n.key, c, note)
}

func (n *fakeNode) SetPolicy(p *capabilities.Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.policy = p
	return nil
}

// checkTokens is what a call --at "tokenpeer" does: it verifies the
// presented tokens as if this node (the issuer) were the callee and the
// caller were its own audience, against the node's revocations, and
// records the call in the audit log.
func (n *fakeNode) checkTokens(ctx context.Context, tokens []*capabilities.Token) error {
	self, err := peer.Decode(n.id)
	if err != nil {
		return err
	}
	entry := capabilities.AuditEntry{Peer: n.id, Outcome: capabilities.OutcomeOK}
	var failed error
	if len(tokens) == 0 {
		failed = fmt.Errorf("%w: no token presented", errFakeDenied)
	}
	for _, t := range tokens {
		if _, err := capabilities.VerifyToken(t, time.Now(), self, self, n.grants.Revoked(ctx), capabilities.ClockSkew); err != nil {
			failed = fmt.Errorf("%w: %v", errFakeDenied, err)
			break
		}
		entry.Tokens = append(entry.Tokens, t.ID())
	}
	if failed != nil {
		entry.Outcome, entry.Detail = capabilities.OutcomeDenied, failed.Error()
	}
	if err := n.grants.Audit(ctx, entry); err != nil {
		return err
	}
	return failed
}

func (n *fakeNode) remote(ctx context.Context, target string, tokens []*capabilities.Token, eval func() (*p2p.EvalResult, error)) (*remoteResult, error) {
	switch peerOf(target) {
	case "tokenpeer":
		if err := n.checkTokens(ctx, tokens); err != nil {
			return nil, err
		}
	case "blocker":
		n.started <- struct{}{}
		<-ctx.Done()
		return nil, fmt.Errorf("remote evaluation: %w", ctx.Err())
	case "slowpeer":
		return nil, fmt.Errorf("remote evaluation: %w", errFakeTimeout)
	case "strictpeer":
		return nil, fmt.Errorf("%w: the callee's policy refuses remote evaluation", errFakeDenied)
	}
	res, err := eval()
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := &remoteResult{EvalResult: *res}
	if !n.synced[target] {
		n.synced[target] = true
		out.Sync = syncStats{Blocks: 3, Bytes: 300, RoundTrips: 1}
	}
	return out, nil
}

var (
	errFakeTimeout = eval.ErrTimeout
	errFakeDenied  = eval.ErrDenied
)

func (n *fakeNode) EvalAt(ctx context.Context, target, src string, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error) {
	return n.remote(ctx, target, tokens, func() (*p2p.EvalResult, error) { return n.cb.EvalSource(ctx, "<eval>", src, b) })
}

func (n *fakeNode) EvalTermAt(ctx context.Context, target string, t dag.Term, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error) {
	return n.remote(ctx, target, tokens, func() (*p2p.EvalResult, error) { return n.cb.EvalTerm(ctx, t, b) })
}

func (n *fakeNode) RunAt(ctx context.Context, target, filename string, src []byte, b p2p.Budget, tokens []*capabilities.Token) (*remoteResult, error) {
	return n.remote(ctx, target, tokens, func() (*p2p.EvalResult, error) { return n.cb.Run(ctx, filename, src, b) })
}

// useFakeNode makes the daemon start fake nodes for the rest of the test;
// it returns the channel on which they report a blocking call started.
func useFakeNode(t *testing.T) (started chan struct{}) {
	started, _ = useFakeNodes(t)
	return started
}

// useFakeNodes is useFakeNode that also returns the channel on which
// each fake node started is sent.
func useFakeNodes(t *testing.T) (started chan struct{}, nodes chan *fakeNode) {
	old := startNode
	started = make(chan struct{}, 1)
	nodes = make(chan *fakeNode, 4)
	startNode = func(ctx context.Context, r *repo.Repo, listen []string, log *slog.Logger) (netNode, error) {
		n := &fakeNode{id: r.ID.String(), cb: p2p.NewCodebase(r.Datastore), key: r.Key,
			grants: capabilities.NewStore(r.Datastore), synced: map[string]bool{}, started: started,
			policy: r.Config.Policy}
		select {
		case nodes <- n:
		default:
		}
		return n, nil
	}
	t.Cleanup(func() { startNode = old })
	return started, nodes
}

// lockedBuffer is a bytes.Buffer safe to write from the daemon's
// goroutine while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// cli runs one command in process.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), nil, args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI runs a command that must succeed and returns its stdout.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("unode %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// failCLI runs a command that must fail with one line on stderr, and
// returns that line.
func failCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := cli(t, args...)
	if code == 0 {
		t.Fatalf("unode %s: succeeded, want failure; stdout: %s", strings.Join(args, " "), out)
	}
	if strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
		t.Fatalf("unode %s: stderr is not one line: %q", strings.Join(args, " "), errs)
	}
	return strings.TrimSpace(errs)
}

// inProcessDaemon runs `unode daemon --json` in a goroutine on a fake
// node and returns its ready output and a function that stops it and
// returns its exit status.
func inProcessDaemon(t *testing.T) (ready daemonResult, stop func() int) {
	ready, stop, _, _ = inProcessDaemonLog(t)
	return ready, stop
}

// inProcessDaemonLog is inProcessDaemon that also returns the daemon's
// stderr and the fake node's started channel.
func inProcessDaemonLog(t *testing.T) (ready daemonResult, stop func() int, stderr *lockedBuffer, started chan struct{}) {
	t.Helper()
	started = useFakeNode(t)
	ready, stop, stderr = runInProcessDaemon(t)
	return ready, stop, stderr, started
}

// inProcessDaemonNode is inProcessDaemon that also returns the fake node
// the daemon runs on.
func inProcessDaemonNode(t *testing.T) (ready daemonResult, stop func() int, node *fakeNode) {
	t.Helper()
	_, nodes := useFakeNodes(t)
	ready, stop, _ = runInProcessDaemon(t)
	return ready, stop, <-nodes
}

// runInProcessDaemon runs the daemon on whatever startNode starts.
func runInProcessDaemon(t *testing.T) (ready daemonResult, stop func() int, stderr *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &lockedBuffer{}
	stderr = &lockedBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, []string{"daemon", "--json"}, nil, stdout, stderr) }()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("daemon did not stop within 30s")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "\n") {
		select {
		case c := <-done:
			t.Fatalf("daemon exited with %d before it was ready: %s", c, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready within 30s; stderr: %s", stderr.String())
		}
	}
	if err := json.Unmarshal([]byte(stdout.String()), &ready); err != nil {
		t.Fatalf("daemon ready line %q: %v", stdout.String(), err)
	}
	return ready, stop, stderr
}

const fibSource = "fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)\n\nmain = fib 10\n"

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDaemonServesCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	src := writeFile(t, t.TempDir(), "fib.u", fibSource)

	ready, stop := inProcessDaemon(t)
	sock := filepath.Join(path, "api.sock")
	if ready.API != sock {
		t.Errorf("ready API = %q, want %q", ready.API, sock)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("API socket mode = %v, want a socket with 0600", fi.Mode())
	}

	// The repo is locked by the daemon: these only work through the API.
	if out := mustCLI(t, "add", src); !strings.Contains(out, "fib") {
		t.Errorf("add: %q", out)
	}
	if out := mustCLI(t, "eval", "fib 20"); out != "6765\n" {
		t.Errorf("eval fib 20 = %q", out)
	}
	if out := mustCLI(t, "show", "fib"); !strings.Contains(out, "fib n =") {
		t.Errorf("show fib = %q", out)
	}
	if out := mustCLI(t, "names", "fi"); !strings.Contains(out, "fib") || strings.Contains(out, "main") {
		t.Errorf("names fi = %q", out)
	}
	if out := mustCLI(t, "run", src); out != "55\n" {
		t.Errorf("run = %q", out)
	}

	var id idResult
	if err := json.Unmarshal([]byte(mustCLI(t, "id", "--json")), &id); err != nil {
		t.Fatal(err)
	}
	if id.ID != ready.ID || len(id.Addrs) != 1 || id.Store != "fake-store" {
		t.Errorf("id = %+v, ready = %+v", id, ready)
	}
	if out := mustCLI(t, "init"); !strings.Contains(out, "already initialized") || !strings.Contains(out, ready.ID) {
		t.Errorf("init with a daemon: %q", out)
	}

	// Remote evaluation: sync figures in --json, the value alone in text.
	at := "/ip4/127.0.0.1/tcp/4100/p2p/" + fakePeer
	mustCLI(t, "connect", at)
	var peers peersResult
	if err := json.Unmarshal([]byte(mustCLI(t, "peers", "--json")), &peers); err != nil {
		t.Fatal(err)
	}
	if len(peers.Peers) != 1 || peers.Peers[0].ID != fakePeer {
		t.Errorf("peers = %+v", peers)
	}
	if out := mustCLI(t, "peers"); out != at+"\n" {
		t.Errorf("peers text = %q, want %q", out, at+"\n")
	}
	evalJSON := func(args ...string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"--json"}, args...)...)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := evalJSON("eval", "--at", fakePeer, "fib 20")
	if first["value"] != 6765.0 || first["at"] != fakePeer {
		t.Errorf("eval --at: %v", first)
	}
	if s, _ := first["sync"].(map[string]any); s["blocks"] != 3.0 || s["bytes"] != 300.0 || s["roundTrips"] != 1.0 {
		t.Errorf("first sync = %v", first["sync"])
	}
	second := evalJSON("eval", "--at", fakePeer, "fib 20")
	if s, _ := second["sync"].(map[string]any); s["blocks"] != 0.0 {
		t.Errorf("second sync = %v", second["sync"])
	}
	out, errs, code := cli(t, "eval", "-v", "--at", fakePeer, "fib 20")
	if code != 0 || out != "6765\n" || !strings.Contains(errs, "sent 0 blocks (0 bytes), 0 extra round trips") {
		t.Errorf("eval -v --at: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := mustCLI(t, "run", "--at", at, src); out != "55\n" {
		t.Errorf("run --at = %q", out)
	}
	if local := evalJSON("eval", "1 + 1"); local["sync"] != nil || local["value"] != 2.0 {
		t.Errorf("local eval has sync or wrong value: %v", local)
	}

	// Errors keep their form and type across the API.
	bad := writeFile(t, t.TempDir(), "bad.u", "f x = let in\n")
	if line := failCLI(t, "add", bad); !strings.HasPrefix(line, bad+":1:") {
		t.Errorf("syntax error through the daemon: %q", line)
	}
	if line := failCLI(t, "eval", "--at", "slowpeer", "1"); !strings.Contains(line, "at slowpeer") || !strings.Contains(line, "timeout") {
		t.Errorf("remote timeout: %q", line)
	}
	if line := failCLI(t, "eval", "--at", "strictpeer", "1"); !strings.Contains(line, "denied") {
		t.Errorf("remote denial: %q", line)
	}
	if line := failCLI(t, "eval", "--fuel", "100", "fib 25"); !strings.Contains(line, "fuel") {
		t.Errorf("budget: %q", line)
	}
	if line := failCLI(t, "show", "nope"); !strings.Contains(line, "unknown name") {
		t.Errorf("show nope: %q", line)
	}
	if line := failCLI(t, "daemon"); !strings.Contains(line, "already running") {
		t.Errorf("second daemon: %q", line)
	}

	if code := stop(); code != 0 {
		t.Errorf("daemon exit = %d", code)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("API socket still there after shutdown: %v", err)
	}
	// The repo is free again: commands open it directly.
	if out := mustCLI(t, "eval", "fib 10"); out != "55\n" {
		t.Errorf("eval after the daemon stopped = %q", out)
	}
}

func TestAPIErrorTyping(t *testing.T) {
	_, badSandbox := capabilities.ParseSandbox("--allow everything")
	_, badToken := capabilities.ParseToken("unode1abc")
	for _, err := range []error{
		fmt.Errorf("%w: health/x", errNoData),
		fmt.Errorf("capabilities: no grant with ID abcdefg...: %w", capabilities.ErrUnknownGrant),
		badSandbox,
		badToken,
		fmt.Errorf("at x: %w", eval.ErrTimeout),
		fmt.Errorf("at x: %w", eval.ErrDenied),
		&eval.BudgetError{Which: "fuel", Limit: 3},
		fmt.Errorf("at x: %w", eval.ErrMissing),
		&eval.RuntimeError{Msg: "match failure"},
		fmt.Errorf("show: %w", p2p.ErrUnknownName),
		needsNode("connect"),
		&p2p.CallError{Peer: fakePeer, Code: p2p.CodeTimeout},
		&p2p.CallError{Peer: fakePeer, Code: p2p.CodeBudget, Which: "fuel"},
		&p2p.CallError{Peer: fakePeer, Code: p2p.CodeMsg, Msg: "connection reset"},
		&p2p.CallError{Peer: fakePeer, Code: p2p.CodeInvalid, Msg: "oversized frame"},
	} {
		ae := toAPIError(err)
		var back error = ae
		if ae.Code == codeError {
			t.Errorf("%v: no code", err)
		}
		if sentinel := codeSentinels[ae.Code]; !errors.Is(back, sentinel) || !errors.Is(err, sentinel) {
			t.Errorf("%v: code %q does not round-trip", err, ae.Code)
		}
		if errorLine(back) != errorLine(err) {
			t.Errorf("errorLine changed across the API: %q vs %q", errorLine(back), errorLine(err))
		}
	}
}

func TestNoDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	mainU := writeFile(t, t.TempDir(), "main.u", fibSource)
	for _, args := range [][]string{
		{"connect", "/ip4/127.0.0.1/tcp/4100/p2p/" + fakePeer},
		{"peers"},
		{"eval", "--at", fakePeer, "1"},
		{"run", "--at", fakePeer, mainU},
	} {
		line := failCLI(t, args...)
		if !strings.Contains(line, "start `unode daemon`") {
			t.Errorf("%v without a daemon: %q", args, line)
		}
	}
	if repo.Exists(path) {
		t.Errorf("a network command created the repo")
	}
	var id idResult
	if err := json.Unmarshal([]byte(mustCLI(t, "id", "--json")), &id); err != nil {
		t.Fatal(err)
	}
	if id.ID == "" || id.Store == "" || id.Addrs == nil || len(id.Addrs) != 0 {
		t.Errorf("offline id = %+v", id)
	}
	if out := mustCLI(t, "id"); !strings.Contains(out, "not listening") {
		t.Errorf("offline id text = %q", out)
	}
}

// TestStaleSocket: a socket left by a crashed daemon neither blocks
// commands (they open the repo directly) nor a new daemon.
func TestStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	mustCLI(t, "init")
	sock := socketPath(path)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	if out := mustCLI(t, "eval", "1 + 2"); out != "3\n" {
		t.Errorf("eval beside a stale socket = %q", out)
	}
	ready, stop := inProcessDaemon(t)
	if out := mustCLI(t, "id"); !strings.Contains(out, ready.ID) || strings.Contains(out, "not listening") {
		t.Errorf("id through the new daemon = %q", out)
	}
	if code := stop(); code != 0 {
		t.Errorf("daemon exit = %d", code)
	}
}

// TestWaitForStartingDaemon: a command that finds the repo locked but no
// API yet (a daemon starting) waits for the API instead of failing.
func TestWaitForStartingDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	r, err := repo.Open(path) // the "starting daemon" holds the lock
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := &backend{repo: r, cb: p2p.NewCodebase(r.Datastore)}
	if _, err := b.cb.Add(t.Context(), "x.u", []byte("answer = 42\n")); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		out, errs string
		code      int
	}
	done := make(chan outcome, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(context.Background(), nil, []string{"eval", "answer"}, nil, &out, &errb)
		done <- outcome{out.String(), errb.String(), code}
	}()
	time.Sleep(100 * time.Millisecond) // let the command find the lock
	ln, err := listenSocket(socketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: newAPIHandler(b, slog.New(slog.DiscardHandler))}
	go srv.Serve(ln)
	defer srv.Close()
	select {
	case o := <-done:
		if o.code != 0 || o.out != "42\n" {
			t.Errorf("eval while the daemon starts: exit %d, stdout %q, stderr %q", o.code, o.out, o.errs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("command did not finish")
	}
}

func TestSocketPathTooLong(t *testing.T) {
	path := filepath.Join(t.TempDir(), strings.Repeat("d", maxSocketPath))
	t.Setenv(repo.EnvPath, path)
	useFakeNode(t)
	if line := failCLI(t, "daemon"); !strings.Contains(line, "too long") || !strings.Contains(line, "UNODE_PATH") {
		t.Errorf("daemon with a long repo path: %q", line)
	}
}

// TestRequestLimits: the API rejects unknown fields and oversized bodies
// with a typed error instead of running anything.
func TestRequestLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r, err := repo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := newAPIHandler(&backend{repo: r, cb: p2p.NewCodebase(r.Datastore)}, slog.New(slog.DiscardHandler))
	for name, body := range map[string]string{
		"unknown field": `{"expr": "1", "bogus": true}`,
		"not json":      `1 +`,
		"oversized":     `{"expr": "` + strings.Repeat(" ", maxRequestBytes) + `1"}`,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, apiPrefix+"eval", strings.NewReader(body)))
		var ae apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || rec.Code != http.StatusBadRequest || ae.Code != codeBadRequest {
			t.Errorf("%s: status %d, body %s", name, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, apiPrefix+"eval", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", rec.Code)
	}
}

// TestInterruptCancelsInDaemon: interrupting a command cancels the
// evaluation it started in the daemon.
func TestInterruptCancelsInDaemon(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "r"))
	_, stop, daemonLog, started := inProcessDaemonLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, []string{"eval", "--at", "blocker", "1"}, nil, io.Discard, &errb) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the remote call did not start")
	}
	cancel() // what Ctrl-C does to the command
	select {
	case code := <-done:
		if code == 0 || !strings.Contains(errb.String(), "interrupted") {
			t.Errorf("interrupted command: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted command did not exit")
	}
	// The daemon's handler returns once the call saw the cancellation,
	// and logs it; shutting down waits for handlers anyway.
	if code := stop(); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	if log := daemonLog.String(); !strings.Contains(log, "op=eval") || !strings.Contains(log, "canceled") {
		t.Errorf("daemon log does not show the canceled call:\n%s", log)
	}
}

// TestDaemonCapabilities: policy changes are saved and applied to the
// running node; grants, revocations and the audit log are the node's
// (a revocation through the API is what the node checks on its next
// call); tokens reach the node with eval and run --at.
func TestDaemonCapabilities(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	ready, stop, fake := inProcessDaemonNode(t)

	// Policy: saved to config.json and given to the node.
	mustCLI(t, "policy", "set", "lab", "pure", "remote", "--allow-target", "any", "--time", "5m")
	out := mustCLI(t, "policy", "assign", fakePeer, "lab")
	if !strings.Contains(out, "sandbox  lab      --allow pure --allow remote --allow-target any") || !strings.Contains(out, "peer     "+fakePeer+"  lab") {
		t.Errorf("policy after assign:\n%s", out)
	}
	p := fake.currentPolicy()
	if sb, name := p.SandboxOf(peer.ID(mustPeer(t, fakePeer))); name != "lab" || sb.Budget.Time != 5*time.Minute || sb.Budget.Fuel != capabilities.DefaultFuel {
		t.Errorf("node's policy gives %s %v", name, sb)
	}
	cfg, err := repo.LoadConfig(filepath.Join(path, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, name := cfg.Policy.SandboxOf(mustPeer(t, fakePeer)); name != "lab" {
		t.Errorf("config.json gives %s sandbox %q", fakePeer, name)
	}
	if line := failCLI(t, "policy", "rm", "lab"); !strings.Contains(line, "used by peer") {
		t.Errorf("rm of a used sandbox: %q", line)
	}
	mustCLI(t, "policy", "unassign", fakePeer)
	mustCLI(t, "policy", "rm", "lab")
	if line := failCLI(t, "policy", "set", "default", "pure"); !strings.Contains(line, "set-default") {
		t.Errorf("policy set default: %q", line)
	}
	if line := failCLI(t, "policy", "set-default", "pure", "--deny", "no such"); !strings.Contains(line, "invalid sandbox") {
		t.Errorf("invalid sandbox: %q", line)
	}
	mustCLI(t, "policy", "set-default", "pure", "--deny", "Int.sub", "--fuel", "5000")
	var pj map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "policy")), &pj); err != nil {
		t.Fatal(err)
	}
	if d, _ := pj["default"].(map[string]any); fmt.Sprint(d["deny"]) != "[Int.sub]" || d["fuel"] != 5000.0 || pj["sandboxes"] != nil {
		t.Errorf("policy --json = %v", pj)
	}
	if fake.currentPolicy().Default.Budget.Fuel != 5000 {
		t.Errorf("set-default did not reach the node: %v", fake.currentPolicy().Default)
	}

	// Grant to this node itself, so that the fake "tokenpeer" can verify
	// the token as its audience.
	var g grantResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "grant", "--to", ready.ID, "--allow", "data.read:health/",
		"--allow", "pure", "--expires", "1h", "--note", "test grant")), &g); err != nil {
		t.Fatal(err)
	}
	if g.Audience != ready.ID || g.Sandbox != "--allow pure --allow data.read:health/" || !strings.HasPrefix(g.Token, "unode1") ||
		time.Until(g.Expires) < 59*time.Minute || time.Until(g.Expires) > 61*time.Minute {
		t.Errorf("grant --json = %+v", g)
	}
	out, errs, code := cli(t, "grant", "--to", ready.ID, "--allow", "pure", "--expires", "1h")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "unode1") || !strings.Contains(errs, "unode revoke ") {
		t.Errorf("grant text: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	tokenFile := writeFile(t, t.TempDir(), "tokens", "# for tokenpeer\n"+g.Token+"\n")
	if out := mustCLI(t, "eval", "--at", "tokenpeer", "--token", g.Token, "1 + 1"); out != "2\n" {
		t.Errorf("eval with a token = %q", out)
	}
	src := writeFile(t, t.TempDir(), "main.u", "main = 6 * 7\n")
	if out := mustCLI(t, "run", "--at", "tokenpeer", "--token-file", tokenFile, src); out != "42\n" {
		t.Errorf("run with a token file = %q", out)
	}
	if line := failCLI(t, "eval", "--token", g.Token, "1"); !strings.Contains(line, "--at") {
		t.Errorf("--token without --at: %q", line)
	}
	if line := failCLI(t, "eval", "--at", "tokenpeer", "--token", "unode1xyz", "1"); !strings.Contains(line, "malformed token") {
		t.Errorf("bad token: %q", line)
	}

	// Revoking through the API: the node refuses the token on the next call.
	if out := mustCLI(t, "revoke", g.ID[:8]); out != "revoked "+g.ID+"\n" {
		t.Errorf("revoke = %q", out)
	}
	if line := failCLI(t, "eval", "--at", "tokenpeer", "--token", g.Token, "1 + 1"); !strings.Contains(line, "denied") || !strings.Contains(line, "revoked") {
		t.Errorf("eval with a revoked token: %q", line)
	}
	if line := failCLI(t, "revoke", "zzzzzzzz"); !strings.Contains(line, "no such grant") || strings.Count(line, "grant") > 2 {
		t.Errorf("revoke of no grant: %q", line)
	}
	var grants grantsResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "grants")), &grants); err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, gr := range grants.Grants {
		statuses[gr.ID] = gr.Status
	}
	if len(grants.Grants) != 2 || statuses[g.ID] != "revoked" || grants.Grants[0].Token == "" {
		t.Errorf("grants = %+v", grants)
	}
	if out := mustCLI(t, "grants"); !strings.Contains(out, g.ID+"  "+ready.ID+"  revoked") || !strings.Contains(out, "# test grant") {
		t.Errorf("grants text:\n%s", out)
	}

	// The audit log: the node's, newest first.
	var log logResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "log")), &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Entries) != 3 || log.Entries[0].Outcome != "denied" || log.Entries[2].Outcome != "ok" || log.Entries[2].Tokens[0] != g.ID {
		t.Errorf("log = %+v", log)
	}
	if out := mustCLI(t, "log", "--limit", "1"); strings.Count(out, "\n") != 1 || !strings.Contains(out, "denied") {
		t.Errorf("log --limit 1:\n%s", out)
	}

	if code := stop(); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	// Without the daemon: the same state, from the repo.
	if out := mustCLI(t, "grants"); !strings.Contains(out, "revoked") {
		t.Errorf("grants without the daemon:\n%s", out)
	}
	if out := mustCLI(t, "policy"); !strings.Contains(out, "--deny Int.sub --fuel 5000") {
		t.Errorf("policy without the daemon:\n%s", out)
	}
	if out := mustCLI(t, "log"); strings.Count(out, "\n") != 3 {
		t.Errorf("log without the daemon:\n%s", out)
	}
}

func mustPeer(t *testing.T, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCapabilitiesWithoutDaemon: policy, grant, grants and revoke work on
// the repo directly.
func TestCapabilitiesWithoutDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	mustCLI(t, "policy", "set", "friends", "pure", "remote")
	mustCLI(t, "policy", "assign", "/ip4/127.0.0.1/tcp/1/p2p/"+fakePeer, "friends")
	cfg, err := repo.LoadConfig(filepath.Join(path, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, name := cfg.Policy.SandboxOf(mustPeer(t, fakePeer)); name != "friends" {
		t.Errorf("config.json gives %q", name)
	}
	tok := strings.TrimSpace(mustCLI(t, "grant", "--to", fakePeer, "--allow", "data.read:=x", "--expires", "1d12h"))
	parsed, err := capabilities.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(parsed.Expires()); d < 35*time.Hour || d > 37*time.Hour {
		t.Errorf("expires in %v, want 36h", d)
	}
	if out := mustCLI(t, "revoke", tok); out != "revoked "+parsed.ID()+"\n" {
		t.Errorf("revoke TOKEN = %q", out)
	}
	if out := mustCLI(t, "grants"); !strings.Contains(out, "revoked") || !strings.Contains(out, "--allow data.read:=x") {
		t.Errorf("grants:\n%s", out)
	}
	for _, args := range [][]string{
		{"grant", "--allow", "pure", "--expires", "1h"},
		{"grant", "--to", fakePeer, "--allow", "pure"},
		{"grant", "--to", fakePeer, "--allow", "pure", "--expires", "soon"},
		{"grant", "--to", "nobody", "--allow", "pure", "--expires", "1h"},
		{"grant", "--to", fakePeer, "--allow", "everything", "--expires", "1h"},
		{"policy", "assign", fakePeer, "nosuch"},
		{"policy", "rm", "default"},
		{"log", "--limit", "-1"},
	} {
		failCLI(t, args...)
	}
}

// TestDaemonData: data put/get/ls/rm and publish/published through the
// API, on the daemon node's codebase; add binds here! to the node.
func TestDaemonData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	ready, stop, fake := inProcessDaemonNode(t)

	if out := mustCLI(t, "data", "put", "health/a", "60 + 10"); out != "stored health/a = 70\n" {
		t.Errorf("put = %q", out)
	}
	mustCLI(t, "data", "put", "--from-json", "health/b", `{"x": [1, 2.5, "y", false, null]}`)
	blob := writeFile(t, t.TempDir(), "blob", "\x00\x01raw")
	mustCLI(t, "data", "put", "--file", blob, "raw")
	if v, ok, err := fake.cb.DataGet(t.Context(), "health/a"); err != nil || !ok || v.String() != "70" {
		t.Errorf("the node's data: %v %v %v", v, ok, err)
	}
	if out := mustCLI(t, "data", "get", "health/b"); out != `Map.fromList [("x", [1, 2.5, "y", false, ()])]`+"\n" {
		t.Errorf("get health/b = %q", out)
	}
	var got dataValueResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "data", "get", "raw")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Key != "raw" || fmt.Sprint(got.Value) != "map[bytes:0001726177]" || got.Text != "0xs0001726177" {
		t.Errorf("get --json raw = %+v", got)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustCLI(t, "data", "get", "--file", out, "raw")
	if b, err := os.ReadFile(out); err != nil || string(b) != "\x00\x01raw" {
		t.Errorf("get --file: %q %v", b, err)
	}
	if line := failCLI(t, "data", "get", "--file", out, "health/a"); !strings.Contains(line, "not Bytes") {
		t.Errorf("get --file of an Int: %q", line)
	}
	if out := mustCLI(t, "data", "ls", "health/"); out != "health/a\nhealth/b\n" {
		t.Errorf("ls = %q", out)
	}
	var rm dataRmResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "data", "rm", "health/a")), &rm); err != nil || !rm.Removed {
		t.Errorf("rm --json = %+v %v", rm, err)
	}
	if out := mustCLI(t, "data", "rm", "health/a"); out != "nothing under health/a\n" {
		t.Errorf("second rm = %q", out)
	}
	if line := failCLI(t, "data", "get", "health/a"); !strings.Contains(line, "no data under this key: health/a") {
		t.Errorf("get of nothing: %q", line)
	}
	if line := failCLI(t, "data", "put", "/bad//key", "1"); !strings.Contains(line, "bad data key") {
		t.Errorf("bad key: %q", line)
	}
	if line := failCLI(t, "data", "put", "k", "here"); !strings.Contains(line, "pure") {
		t.Errorf("effect in a value: %q", line)
	}
	if line := failCLI(t, "data", "put", "k", "99999999999999999999"); !strings.HasPrefix(line, "<value>:1:") {
		t.Errorf("syntax error in a value: %q", line)
	}
	if line := failCLI(t, "data", "put", "--from-json", "k", "99999999999999999999"); !strings.Contains(line, "Int range") {
		t.Errorf("big JSON integer: %q", line)
	}
	if line := failCLI(t, "data", "put", "k"); !strings.Contains(line, "KEY VALUE") {
		t.Errorf("put without a value: %q", line)
	}

	// add fixes here! to this node; --publish publishes.
	src := writeFile(t, t.TempDir(), "rates.u", "rateQuote x = x * 2\n\nrateQuote' x = at here! '(rateQuote x)\n")
	mustCLI(t, "add", "--publish", src)
	if out := mustCLI(t, "show", "rateQuote'"); !strings.Contains(out, ready.ID) {
		t.Errorf("here! is not this node in:\n%s", out)
	}
	if out := mustCLI(t, "published"); !strings.Contains(out, "rateQuote'") {
		t.Errorf("published = %q", out)
	}
	other := writeFile(t, t.TempDir(), "other.u", "private y = y + 1\n")
	mustCLI(t, "add", other)
	if out := mustCLI(t, "published"); strings.Contains(out, "private") {
		t.Errorf("published lists a private definition:\n%s", out)
	}
	if out := mustCLI(t, "publish", "private"); !strings.Contains(out, "private") {
		t.Errorf("publish = %q", out)
	}
	var pub namesResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "published")), &pub); err != nil {
		t.Fatal(err)
	}
	if len(pub.Names) < 3 {
		t.Errorf("published --json = %+v", pub)
	}
	if code := stop(); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	// Without the daemon: the same data.
	if out := mustCLI(t, "data", "ls"); out != "health/b\nraw\n" {
		t.Errorf("ls without the daemon = %q", out)
	}
}
