// Package pgtest starts throwaway PostgreSQL servers for tests, from the
// binaries a distribution installs (initdb, postgres), on a free loopback
// port, in a temporary directory that is removed afterwards.
//
// A test calls Start for a server of its own (one it may stop and start
// again), or Shared for the one server of the test binary, and NewDatabase
// for a fresh database on it. A package that uses pgtest calls Main from
// its TestMain, which stops the shared server and removes what the servers
// left once the tests ran:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without the binaries a test that asks for a server is skipped, saying
// so, unless $UNODE_REQUIRE_POSTGRES is 1 (CI sets it), when it fails.
//
// PostgreSQL refuses to run as root. When the tests run as root, the
// servers run as the "postgres" system user (created, with useradd, when
// missing), and their directories are that user's.
//
// A server is started as a child process of the test binary with a
// parent-death signal, so that a test binary that crashes or is killed
// takes its servers with it instead of leaving them running; stopping one
// is PostgreSQL's immediate shutdown (SIGQUIT, as `pg_ctl stop -m
// immediate`), which is also what a crash of the server looks like to its
// clients: what it committed is there when it starts again.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvRequire names the environment variable that, set to 1, turns the skip
// of a test that finds no PostgreSQL binaries into a failure.
const EnvRequire = "UNODE_REQUIRE_POSTGRES"

// superuser is the role initdb creates; servers trust every loopback
// connection, so the URLs carry no password.
const superuser = "pgtest"

// startTimeout bounds how long a server may take to accept connections
// (a loaded 2-core CI machine takes about a second).
const startTimeout = 60 * time.Second

// Option changes how Start starts a server.
type Option func(*Server)

// Fsync makes the server flush its WAL to disk at every commit, as a
// production server does: for benchmarks. Without it the server runs
// with fsync=off, which keeps every commit across a crash or kill of the
// server (the WAL is written to the kernel before a commit returns) but
// not of the machine, all that tests need, and is several times faster.
func Fsync() Option { return func(s *Server) { s.fsync = true } }

// Server is a running (or stopped) throwaway PostgreSQL server.
type Server struct {
	dir   string // owned by the server's user: data/, the socket, server.log
	bin   string
	port  int
	run   *runAs
	fsync bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	dbs    atomic.Int64
}

// runAs is the user the servers run as, nil for the current one.
type runAs struct {
	uid, gid uint32
}

var (
	mainCalled atomic.Bool

	tmplOnce sync.Once
	tmplDir  string // an initdb'd data directory every server copies
	tmplErr  error

	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error

	liveMu sync.Mutex
	live   []*Server // not yet removed; Main removes them
)

// Main runs the tests of a package that uses pgtest, then stops every
// server still running and removes their directories. Call it from
// TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with cleanup of its own to do after the
// tests: it returns m.Run's exit code instead of exiting.
func Run(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	liveMu.Lock()
	servers := slices.Clone(live)
	liveMu.Unlock()
	for _, s := range servers {
		s.remove()
	}
	if tmplDir != "" {
		os.RemoveAll(filepath.Dir(tmplDir))
	}
	return code
}

// Shared returns the test binary's shared server, starting it on first
// use. Tests that share it take a database each (NewDatabase) and must not
// stop it.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	bin := binaries(tb)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = start(bin)
	}
	if sharedErr != nil {
		tb.Fatalf("starting the shared PostgreSQL server: %v", sharedErr)
	}
	return shared
}

// Start starts a server for this test alone, removed when the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := start(binaries(tb), opts...)
	if err != nil {
		tb.Fatalf("starting PostgreSQL: %v", err)
	}
	tb.Cleanup(s.remove)
	return s
}

// binaries returns the directory of initdb and postgres, or skips (fails
// under $UNODE_REQUIRE_POSTGRES=1) the test.
func binaries(tb testing.TB) string {
	tb.Helper()
	if !mainCalled.Load() {
		tb.Fatal("pgtest: call pgtest.Main(m) from the package's TestMain, so that servers are removed after the tests")
	}
	bin, err := FindBinaries()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("%v (and %s=1)", err, EnvRequire)
		}
		tb.Skipf("skipping: %v; install PostgreSQL (apt-get install postgresql) to run this test", err)
	}
	return bin
}

// FindBinaries returns the directory holding PostgreSQL's initdb and
// postgres: the one on $PATH, else the newest /usr/lib/postgresql/*/bin
// (Debian and Ubuntu keep them off $PATH), else /usr/local/pgsql/bin.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: 9.6 < 10 < 15, numerically.
	slices.SortFunc(dirs, func(a, b string) int {
		return versionOf(b) - versionOf(a)
	})
	dirs = append(dirs, "/usr/local/pgsql/bin")
	for _, dir := range dirs {
		if isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL's initdb and postgres not found on $PATH, in /usr/lib/postgresql/*/bin or /usr/local/pgsql/bin")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(strings.SplitN(filepath.Base(filepath.Dir(binDir)), ".", 2)[0])
	return v
}

func isExec(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

// serverUser returns whom servers run as: the current user, or when that
// is root, the postgres system user, created if missing.
func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("looking up the postgres user: %w", err)
		}
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs another user; creating one: useradd postgres: %v: %s", err, out)
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("looking up the postgres user: %w", err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user id %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres group id %q: %w", u.Gid, err)
	}
	return &runAs{uid: uint32(uid), gid: uint32(gid)}, nil
}

// command runs a PostgreSQL binary as the server's user.
func (r *runAs) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if r != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: r.uid, Gid: r.gid, Groups: []uint32{r.gid}},
		}
	}
	return cmd
}

// mkdir makes a temporary directory the server's user owns.
func (r *runAs) mkdir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if r != nil {
		if err := os.Chown(dir, int(r.uid), int(r.gid)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// template runs initdb once per test binary; every server starts from a
// copy (initdb takes seconds, a copy a fraction of one).
func template(bin string, run *runAs) (string, error) {
	tmplOnce.Do(func() {
		var parent string
		parent, tmplErr = run.mkdir("pgtest-template-")
		if tmplErr != nil {
			return
		}
		data := filepath.Join(parent, "data")
		cmd := run.command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", superuser,
			"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(parent)
			tmplErr = fmt.Errorf("initdb: %v: %s", err, bytes.TrimSpace(out))
			return
		}
		tmplDir = data
	})
	return tmplDir, tmplErr
}

func start(bin string, opts ...Option) (*Server, error) {
	run, err := serverUser()
	if err != nil {
		return nil, err
	}
	tmpl, err := template(bin, run)
	if err != nil {
		return nil, err
	}
	dir, err := run.mkdir("pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, run: run}
	for _, o := range opts {
		o(s)
	}
	liveMu.Lock()
	live = append(live, s)
	liveMu.Unlock()
	// cp -a keeps the owner and modes (initdb's 0700 data directory).
	if out, err := exec.Command("cp", "-a", tmpl, s.dataDir()).CombinedOutput(); err != nil {
		s.remove()
		return nil, fmt.Errorf("copying the initdb template: %v: %s", err, out)
	}
	// A port found free may be taken before the server binds it: try
	// another.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			err = s.launch()
		}
		if err == nil {
			return s, nil
		}
		if attempt == 2 {
			s.remove()
			return nil, err
		}
	}
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// freePort returns a loopback TCP port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the postgres process on s.port and waits until it
// accepts connections.
func (s *Server) launch() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.run.command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(), "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.dir,
		"-c", "max_connections=200",
		"-c", "fsync="+map[bool]string{true: "on", false: "off"}[s.fsync],
		"-c", "logging_collector=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The server dies with the test binary, however that ends.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited at start: %s", s.logTail())
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("postgres did not accept connections within %v: %v; log: %s", startTimeout, err, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail is the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// Port is the server's loopback TCP port.
func (s *Server) Port() int { return s.port }

// URL is a connection URL for database db on the server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, db)
}

// NewDatabase creates an empty database on the server and returns its URL.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		tb.Fatalf("connecting to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("creating database %s: %v", name, err)
	}
	return s.URL(name)
}

// Stop shuts the server down at once (immediate shutdown: what a crash
// looks like to clients; committed data stays). Its data stays for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		<-exited
	}
}

// Restart starts a stopped server again on the same port with the same
// data.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		tb.Fatalf("restarting PostgreSQL: %v", err)
	}
}

// Pause freezes the server and every backend it runs (SIGSTOP): it keeps
// its connections but answers nothing, as a hung or partitioned server.
// Resume undoes it.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	s.signalAll(tb, syscall.SIGSTOP)
}

// Resume lets a paused server run again.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	s.signalAll(tb, syscall.SIGCONT)
}

// signalAll signals the postmaster and its children (backends, the
// background workers).
func (s *Server) signalAll(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		tb.Fatal("pgtest: the server is not running")
	}
	pids := []int{cmd.Process.Pid}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			tb.Fatalf("signalling postgres process %d: %v", pid, err)
		}
	}
}

// remove stops the server and removes its directory.
func (s *Server) remove() {
	s.Stop()
	os.RemoveAll(s.dir)
	liveMu.Lock()
	live = slices.DeleteFunc(live, func(x *Server) bool { return x == s })
	liveMu.Unlock()
}
