package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// End-to-end tests: they build the real binary once and run it as a user
// would, each repo in its own temporary UNODE_PATH. Waits are bounded so
// that nothing hangs; no test asserts how long anything takes.

var (
	binDir   string // removed by TestMain
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "unode-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := pgtest.Run(m) // and removes the PostgreSQL servers tests started
	os.RemoveAll(dir)
	os.Exit(code)
}

// unodeBinary builds cmd/unode once per test run.
func unodeBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary; skipped in -short mode")
	}
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "unode")
		gotool, err := exec.LookPath("go")
		if err != nil {
			gotool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(gotool, "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// commandTimeout bounds every command a test runs; long enough for a slow
// machine, short enough that a hang fails the test rather than the run.
const commandTimeout = 60 * time.Second

// node is a repo the binary runs against.
type node struct {
	t    *testing.T
	bin  string
	path string // UNODE_PATH
}

func newNode(t *testing.T, name string) *node {
	return &node{t: t, bin: unodeBinary(t), path: filepath.Join(t.TempDir(), name)}
}

func (n *node) command(args ...string) *exec.Cmd {
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), "UNODE_PATH="+n.path)
	return cmd
}

// run runs a command to completion and returns stdout, stderr and the
// exit code.
func (n *node) run(args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	cmd := n.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(commandTimeout):
		cmd.Process.Kill()
		<-done
		n.t.Fatalf("unode %s: no exit within %v", strings.Join(args, " "), commandTimeout)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (n *node) ok(args ...string) string {
	n.t.Helper()
	out, errs, code := n.run(args...)
	if code != 0 {
		n.t.Fatalf("unode %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// fail runs a command that must fail with exactly one line on stderr and
// returns the line.
func (n *node) fail(args ...string) string {
	n.t.Helper()
	out, errs, code := n.run(args...)
	if code == 0 {
		n.t.Fatalf("unode %s: succeeded, want failure; stdout: %s", strings.Join(args, " "), out)
	}
	if strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
		n.t.Fatalf("unode %s: stderr is not one line: %q", strings.Join(args, " "), errs)
	}
	return strings.TrimSpace(errs)
}

func (n *node) json(v any, args ...string) {
	n.t.Helper()
	out := n.ok(append([]string{"--json"}, args...)...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		n.t.Fatalf("unode --json %s: %v in %q", strings.Join(args, " "), err, out)
	}
}

// daemonProc is a running `unode daemon`.
type daemonProc struct {
	n      *node
	cmd    *exec.Cmd
	ready  daemonResult
	stderr *lockedBuffer
	done   chan struct{}
	err    error // set when done is closed
}

// startDaemon starts `unode daemon --json` on loopback with a random port
// and waits for its ready line.
func (n *node) startDaemon() *daemonProc {
	n.t.Helper()
	d, ok := n.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0")
	if !ok {
		n.t.Fatalf("daemon exited before it was ready (%v): %s", d.err, d.stderr.String())
	}
	return d
}

// stop sends sig and waits for the daemon to exit; it returns the exit
// code.
func (d *daemonProc) stop(sig os.Signal) int {
	d.n.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.n.t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(commandTimeout):
		d.n.t.Fatalf("daemon did not exit within %v of %v: %s", commandTimeout, sig, d.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		return ee.ExitCode()
	} else if d.err != nil {
		d.n.t.Fatal(d.err)
	}
	return 0
}

const fibFile = `-- fib.u
fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)

square x = x * x

main = (fib 20, square 7)
`

// TestE2ELocal is issue 2's acceptance 7: a fresh repo, add, eval, show,
// a syntax error with its position, and --json outputs that parse.
func TestE2ELocal(t *testing.T) {
	n := newNode(t, "repo")
	dir := t.TempDir()
	fib := writeFile(t, dir, "fib.u", fibFile)
	bad := writeFile(t, dir, "bad.u", "ok x = x\n\nbroken y = let z = in z\n")

	if out := n.ok("init"); !strings.Contains(out, "initialized repo at "+n.path) {
		t.Errorf("init: %q", out)
	}
	if out := n.ok("add", fib); !strings.Contains(out, "fib") || !strings.Contains(out, "bafy") {
		t.Errorf("add: %q", out)
	}
	if out := n.ok("eval", "fib 20"); out != "6765\n" {
		t.Errorf("eval 'fib 20' = %q, want 6765", out)
	}
	if out := n.ok("show", "fib"); !strings.Contains(out, "fib n =") {
		t.Errorf("show fib = %q", out)
	}
	if out := n.ok("run", fib); out != "(6765, 49)\n" {
		t.Errorf("run = %q", out)
	}
	line := n.fail("add", bad)
	if !strings.HasPrefix(line, bad+":3:") {
		t.Errorf("syntax error = %q, want it to start with %s:3:COL", line, bad)
	}

	var names namesResult
	n.json(&names, "names")
	if len(names.Names) != 3 {
		t.Errorf("names --json: %+v", names)
	}
	var ev map[string]any
	n.json(&ev, "eval", "(fib 10, \"x\")")
	if fmt.Sprint(ev["value"]) != "[55 x]" || ev["text"] != `(55, "x")` {
		t.Errorf("eval --json: %v", ev)
	}
	var sh showResult
	n.json(&sh, "show", "square")
	if sh.Name != "square" || !strings.Contains(sh.Ref, "bafy") || !strings.Contains(sh.Source, "square x =") {
		t.Errorf("show --json: %+v", sh)
	}
	var id idResult
	n.json(&id, "id")
	if !strings.HasPrefix(id.ID, "12D3") || id.Store == "" || id.Addrs == nil {
		t.Errorf("id --json: %+v", id)
	}
	if line := n.fail("connect", "/ip4/127.0.0.1/tcp/1/p2p/"+id.ID); !strings.Contains(line, "unode daemon") {
		t.Errorf("connect without a daemon: %q", line)
	}
}

// TestE2ETwoNodes is issue 3's acceptance 6: two daemons on loopback, and
// `unode eval --at` from the CLI syncing what the callee lacks, once.
func TestE2ETwoNodes(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	fib := writeFile(t, t.TempDir(), "fib.u", fibFile)
	a.ok("init")

	da := a.startDaemon()
	db := b.startDaemon()
	if da.ready.ID == db.ready.ID || len(db.ready.Addrs) == 0 {
		t.Fatalf("ready lines: %+v %+v", da.ready, db.ready)
	}

	var idB idResult
	b.json(&idB, "id")
	if idB.ID != db.ready.ID || len(idB.Addrs) == 0 {
		t.Fatalf("b id --json = %+v, ready %+v", idB, db.ready)
	}
	addrB := idB.Addrs[0]
	if !strings.HasPrefix(addrB, "/ip4/127.0.0.1/") || !strings.HasSuffix(addrB, "/p2p/"+idB.ID) {
		t.Fatalf("b's address %q is not a full loopback /p2p/ multiaddr", addrB)
	}

	a.ok("add", fib)
	if out := a.ok("connect", addrB); !strings.Contains(out, idB.ID) {
		t.Errorf("connect: %q", out)
	}
	var peers peersResult
	a.json(&peers, "peers")
	found := false
	for _, p := range peers.Peers {
		found = found || p.ID == idB.ID
	}
	if !found {
		t.Errorf("peers of a = %+v, want %s", peers, idB.ID)
	}

	type remote struct {
		Value json.Number `json:"value"`
		Text  string      `json:"text"`
		At    string      `json:"at"`
		Sync  *struct {
			Blocks     *int   `json:"blocks"`
			Bytes      *int64 `json:"bytes"`
			RoundTrips *int   `json:"roundTrips"`
		} `json:"sync"`
	}
	check := func(r remote, which string) (blocks int) {
		t.Helper()
		if r.Value != "6765" || r.Text != "6765" {
			t.Errorf("%s eval --at: value %q text %q, want 6765", which, r.Value, r.Text)
		}
		if r.Sync == nil || r.Sync.Blocks == nil || r.Sync.Bytes == nil || r.Sync.RoundTrips == nil {
			t.Fatalf("%s eval --at: no complete \"sync\" object", which)
		}
		return *r.Sync.Blocks
	}
	var first, second remote
	a.json(&first, "eval", "--at", idB.ID, "fib 20")
	if blocks := check(first, "first"); blocks <= 0 || *first.Sync.Bytes <= 0 {
		t.Errorf("first eval --at sent %d blocks, %d bytes; want > 0", blocks, *first.Sync.Bytes)
	}
	a.json(&second, "eval", "--at", addrB, "fib 20")
	if blocks := check(second, "second"); blocks != 0 {
		t.Errorf("second eval --at sent %d blocks; want 0", blocks)
	}
	if first.At != idB.ID || second.At != idB.ID {
		t.Errorf("at = %q, %q; want %s", first.At, second.At, idB.ID)
	}
	if out := a.ok("eval", "--at", idB.ID, "fib 20"); out != "6765\n" {
		t.Errorf("eval --at text = %q", out)
	}
	if out := a.ok("run", "--at", idB.ID, fib); out != "(6765, 49)\n" {
		t.Errorf("run --at = %q", out)
	}
	// b now has fib's code, but a's names stay a's.
	if line := b.fail("eval", "fib 20"); !strings.Contains(line, "fib") {
		t.Errorf("b resolving a's name: %q", line)
	}

	// Failures are one clear line: a remote budget failure, a peer that
	// does not exist.
	if line := a.fail("eval", "--fuel", "1000", "--at", idB.ID, "fib 25"); !strings.Contains(line, "budget") {
		t.Errorf("remote budget failure: %q", line)
	}
	unknown := "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	if line := a.fail("eval", "--timeout", "10s", "--at", unknown, "1"); !strings.HasPrefix(line, "unode: ") {
		t.Errorf("unreachable peer: %q", line)
	}

	if code := da.stop(os.Interrupt); code != 0 {
		t.Errorf("daemon a exit %d on SIGINT: %s", code, da.stderr.String())
	}
	if code := db.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon b exit %d on SIGTERM: %s", code, db.stderr.String())
	}
	for _, n := range []*node{a, b} {
		if _, err := os.Stat(socketPath(n.path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: API socket left after shutdown (%v)", n.path, err)
		}
	}
	// The repos are free again; a's definitions are still there.
	if out := a.ok("eval", "fib 10"); out != "55\n" {
		t.Errorf("a after shutdown: %q", out)
	}
}

// TestE2EDaemonCrash: a daemon killed without cleanup leaves its socket;
// commands still work directly and a new daemon starts.
func TestE2EDaemonCrash(t *testing.T) {
	n := newNode(t, "r")
	d := n.startDaemon()
	d.cmd.Process.Kill()
	<-d.done
	if _, err := os.Stat(socketPath(n.path)); err != nil {
		t.Fatalf("killed daemon left no socket (%v); the test needs one", err)
	}
	var id idResult
	n.json(&id, "id")
	if id.ID != d.ready.ID || len(id.Addrs) != 0 {
		t.Errorf("id beside a stale socket: %+v", id)
	}
	d2 := n.startDaemon()
	n.json(&id, "id")
	if len(id.Addrs) == 0 {
		t.Errorf("id through the new daemon: %+v", id)
	}
	if code := d2.stop(os.Interrupt); code != 0 {
		t.Errorf("exit %d: %s", code, d2.stderr.String())
	}
}

// TestE2EData: data put, get, ls and rm round trip, on the repo directly
// and through a daemon, in source syntax, JSON and bytes.
func TestE2EData(t *testing.T) {
	n := newNode(t, "repo")
	dir := t.TempDir()
	blob := []byte{0, 1, 2, 0xff, 'x'}
	blobFile := filepath.Join(dir, "blob.bin")
	if err := os.WriteFile(blobFile, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(n *node, how string) {
		t.Helper()
		if out := n.ok("data", "put", "health/a", "70"); out != "stored health/a = 70\n" {
			t.Errorf("%s: put = %q", how, out)
		}
		n.ok("data", "put", "health/b", "[1, 2] ++ [3]")
		n.ok("data", "put", "--from-json", "profile", `{"name": "Ada", "born": 1815, "h": 1.5, "ok": true, "tags": ["x"], "none": null}`)
		n.ok("data", "put", "--file", blobFile, "blob")
		if out := n.ok("data", "get", "health/a"); out != "70\n" {
			t.Errorf("%s: get health/a = %q", how, out)
		}
		if out := n.ok("data", "get", "health/b"); out != "[1, 2, 3]\n" {
			t.Errorf("%s: get health/b = %q", how, out)
		}
		want := `Map.fromList [("born", 1815), ("h", 1.5), ("name", "Ada"), ("none", ()), ("ok", true), ("tags", ["x"])]` + "\n"
		if out := n.ok("data", "get", "profile"); out != want {
			t.Errorf("%s: get profile = %q, want %q", how, out, want)
		}
		var got struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
			Text  string `json:"text"`
		}
		n.json(&got, "data", "get", "health/a")
		if got.Key != "health/a" || fmt.Sprint(got.Value) != "70" || got.Text != "70" {
			t.Errorf("%s: get --json = %+v", how, got)
		}
		out := filepath.Join(t.TempDir(), "out.bin")
		n.ok("data", "get", "--file", out, "blob")
		if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, blob) {
			t.Errorf("%s: get --file wrote %x (%v), want %x", how, b, err, blob)
		}
		if out := n.ok("data", "ls"); out != "blob\nhealth/a\nhealth/b\nprofile\n" {
			t.Errorf("%s: ls = %q", how, out)
		}
		var ls dataLsResult
		n.json(&ls, "data", "ls", "health/")
		if strings.Join(ls.Keys, ",") != "health/a,health/b" {
			t.Errorf("%s: ls health/ = %v", how, ls.Keys)
		}
		// Programs see the same data.
		if out := n.ok("eval", `List.sum (List.map (k -> Optional.withDefault 0 (Data.get k)) (Data.list "health/a"))`); out != "70\n" {
			t.Errorf("%s: Data.get from a program = %q", how, out)
		}
		if out := n.ok("data", "rm", "health/a"); out != "removed health/a\n" {
			t.Errorf("%s: rm = %q", how, out)
		}
		if line := n.fail("data", "get", "health/a"); !strings.Contains(line, "no data") || !strings.Contains(line, "health/a") {
			t.Errorf("%s: get after rm: %q", how, line)
		}
		// Values are pure: no effects while evaluating them.
		if line := n.fail("data", "put", "x", `Data.get "health/b"`); !strings.HasPrefix(line, "unode: ") {
			t.Errorf("%s: put of an effect: %q", how, line)
		}
		if line := n.fail("data", "put", "x", "[1,"); !strings.HasPrefix(line, "<value>:1:") {
			t.Errorf("%s: put of bad syntax: %q", how, line)
		}
		if line := n.fail("data", "put", "--from-json", "x", "{"); !strings.Contains(line, "JSON") {
			t.Errorf("%s: put of bad JSON: %q", how, line)
		}
		for _, k := range []string{"health/b", "profile", "blob"} {
			n.ok("data", "rm", k)
		}
		if out := n.ok("data", "ls"); out != "" {
			t.Errorf("%s: ls after rm = %q", how, out)
		}
	}
	check(n, "direct")
	d := n.startDaemon()
	check(n, "daemon")
	if code := d.stop(os.Interrupt); code != 0 {
		t.Errorf("daemon exit %d: %s", code, d.stderr.String())
	}
}

// TestE2ETokens is issue 4's personal-data scenario from the CLI: two
// daemons; the owner grants the other node data.read:health/ for an
// hour; the other node computes over health/* with the token, is denied
// finance/x, and is denied once the owner revokes the token; the owner's
// log and grants show it all. Then the owner's policy, changed while its
// daemon runs, applies at once.
func TestE2ETokens(t *testing.T) {
	owner, other := newNode(t, "owner"), newNode(t, "insurer")
	do := owner.startDaemon()
	di := other.startDaemon()
	ownerID, otherID := do.ready.ID, di.ready.ID
	ownerAddr := do.ready.Addrs[0]

	owner.ok("data", "put", "health/a", "70")
	owner.ok("data", "put", "health/b", "80")
	owner.ok("data", "put", "finance/x", "1")
	var g grantResult
	owner.json(&g, "grant", "--to", otherID, "--allow", "data.read:health/", "--expires", "1h", "--note", "insurer")
	if g.Audience != otherID || !strings.HasPrefix(g.Token, "unode1") || g.ID == "" {
		t.Fatalf("grant --json = %+v", g)
	}

	const sum = `List.sum (List.map (k -> Optional.withDefault 0 (Data.get k)) (Data.list "health/"))`
	// Without the token the default sandbox has no data.
	if line := other.fail("eval", "--at", ownerAddr, sum); !strings.Contains(line, "denied") {
		t.Errorf("without a token: %q", line)
	}
	if out := other.ok("eval", "--at", ownerAddr, "--token", g.Token, sum); out != "150\n" {
		t.Errorf("with the token: %q, want 150", out)
	}
	tokenFile := writeFile(t, t.TempDir(), "tokens", g.Token+"\n")
	if out := other.ok("eval", "--at", ownerID, "--token-file", tokenFile, `Data.get "health/a"`); out != "Some 70\n" {
		t.Errorf("with a token file: %q", out)
	}
	mainU := writeFile(t, t.TempDir(), "main.u", "main = Optional.withDefault 0 (Data.get \"health/b\") + 1\n")
	if out := other.ok("run", "--at", ownerID, "--token", g.Token, mainU); out != "81\n" {
		t.Errorf("run --at with the token: %q", out)
	}
	line := other.fail("eval", "--at", ownerID, "--token", g.Token, `Data.get "finance/x"`)
	if !strings.Contains(line, "denied") || !strings.Contains(line, "finance/x") {
		t.Errorf("finance/x with the token: %q", line)
	}

	if out := owner.ok("revoke", g.ID); out != "revoked "+g.ID+"\n" {
		t.Errorf("revoke = %q", out)
	}
	line = other.fail("eval", "--at", ownerID, "--token", g.Token, sum)
	if !strings.Contains(line, "denied") || !strings.Contains(line, "revoked") {
		t.Errorf("after revoke: %q", line)
	}

	var log logResult
	owner.json(&log, "log")
	outcomes := map[string]int{}
	for _, e := range log.Entries {
		if e.Peer == otherID {
			outcomes[e.Outcome]++
		}
	}
	if outcomes["ok"] < 3 || outcomes["denied"] < 3 {
		t.Errorf("owner's log: %v\n%+v", outcomes, log.Entries)
	}
	if out := owner.ok("log", "--limit", "1"); strings.Count(out, "\n") != 1 || !strings.Contains(out, otherID) || !strings.Contains(out, "denied") {
		t.Errorf("log --limit 1 = %q", out)
	}
	if out := owner.ok("log"); !strings.Contains(out, g.ID) || !strings.Contains(out, " ok ") {
		t.Errorf("log does not show the token's evaluations:\n%s", out)
	}
	if out := owner.ok("grants"); !strings.Contains(out, g.ID+"  "+otherID+"  revoked") || !strings.Contains(out, "data.read:health/") {
		t.Errorf("grants:\n%s", out)
	}

	// A policy change reaches the running daemon: the other node gets a
	// named sandbox with health/ data, no token needed.
	owner.ok("policy", "set", "insurer", "pure", "data.read:health/")
	owner.ok("policy", "assign", otherID, "insurer")
	if out := other.ok("eval", "--at", ownerID, sum); out != "150\n" {
		t.Errorf("under the insurer sandbox: %q", out)
	}
	owner.ok("policy", "unassign", otherID)
	if line := other.fail("eval", "--at", ownerID, sum); !strings.Contains(line, "denied") {
		t.Errorf("after unassign: %q", line)
	}

	for _, d := range []*daemonProc{do, di} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
	// The revocation and the policy persist.
	if out := owner.ok("grants"); !strings.Contains(out, "revoked") {
		t.Errorf("grants after restart:\n%s", out)
	}
	if out := owner.ok("policy"); !strings.Contains(out, "sandbox  insurer") {
		t.Errorf("policy after restart:\n%s", out)
	}
}

// TestE2EPublish: add --publish and publish mark definitions published;
// published lists them.
func TestE2EPublish(t *testing.T) {
	n := newNode(t, "repo")
	dir := t.TempDir()
	pub := writeFile(t, dir, "pub.u", "square x = x * x\n")
	priv := writeFile(t, dir, "priv.u", "secret x = x + 42\n\ncube x = x * x * x\n")
	n.ok("add", "--publish", pub)
	n.ok("add", priv)
	if out := n.ok("published"); !strings.Contains(out, "square") || strings.Contains(out, "secret") || strings.Contains(out, "cube") {
		t.Errorf("published after add --publish:\n%s", out)
	}
	if out := n.ok("publish", "cube"); !strings.Contains(out, "cube") {
		t.Errorf("publish cube = %q", out)
	}
	var names namesResult
	n.json(&names, "published")
	var got []string
	for _, x := range names.Names {
		got = append(got, x.Name)
	}
	if strings.Join(got, ",") != "cube,square" {
		t.Errorf("published --json names = %v", got)
	}
	if line := n.fail("publish", "nosuch"); !strings.Contains(line, "nosuch") {
		t.Errorf("publish nosuch: %q", line)
	}
}
