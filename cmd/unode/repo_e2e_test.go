package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// End-to-end tests of the repo as several processes share it (issue 7,
// cases 9 and 10): permissions, waiting for the repo lock, ports.

// TestE2ERepoPermissions is case 9: a repo directory that already exists
// with mode 0755 is restricted to its owner, files and datastore
// included, and the CLI says so once on stderr.
func TestE2ERepoPermissions(t *testing.T) {
	n := newNode(t, "repo")
	if err := os.Mkdir(n.path, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(n.path, 0o755)
	_, errs, code := n.run("data", "put", "health/a", "70")
	if code != 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "restricted") || !strings.Contains(errs, n.path) {
		t.Fatalf("first command on a 0755 repo: exit %d, stderr %q; want one line saying it was restricted", code, errs)
	}
	if _, errs, _ := n.run("data", "get", "health/a"); errs != "" {
		t.Errorf("second command: stderr %q, want nothing (said once)", errs)
	}
	d := n.startDaemon()
	n.ok("data", "put", "health/b", "80")
	d.stop(os.Interrupt)
	if strings.Contains(d.stderr.String(), "restricted") {
		t.Errorf("the daemon reported restricting an already private repo: %s", d.stderr.String())
	}
	files := 0
	filepath.WalkDir(n.path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		switch {
		case e.IsDir() && info.Mode().Perm() != 0o700:
			t.Errorf("%s: mode %v, want 0700", p, info.Mode().Perm())
		case e.Type().IsRegular() && info.Mode().Perm() != 0o600:
			t.Errorf("%s: mode %v, want 0600", p, info.Mode().Perm())
		case e.Type().IsRegular() && strings.Contains(p, "datastore"):
			files++
		}
		return nil
	})
	if files < 3 {
		t.Errorf("%d datastore files", files)
	}
}

// TestE2EDaemonWaitsForCommand is case 10: `unode daemon & unode id`
// used to fail in about half the runs (the daemon exited when the
// command held the repo as it opened it). Ten rounds, on fresh repos
// (both processes create it) and on existing ones, with `unode id`
// running back to back in two processes while the daemon starts: the
// daemon must start, and every command succeed with the daemon's
// identity.
func TestE2EDaemonWaitsForCommand(t *testing.T) {
	for round := range 10 {
		n := newNode(t, fmt.Sprint("r", round))
		if round%2 == 1 {
			n.ok("init")
		}
		ready := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ids []string
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for last := false; !last; {
					select {
					case <-ready:
						last = true // one more once the daemon answers
					default:
					}
					out, errs, code := try(n, "--json", "id")
					var id idResult
					if code != 0 || json.Unmarshal([]byte(out), &id) != nil {
						t.Errorf("round %d: unode id beside a starting daemon: exit %d, %q %q", round, code, out, errs)
						return
					}
					mu.Lock()
					ids = append(ids, id.ID)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		d, ok := n.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0")
		close(ready)
		wg.Wait()
		if !ok {
			t.Fatalf("round %d: the daemon exited while commands used the repo: %s", round, d.stderr.String())
		}
		for _, id := range ids {
			if id != d.ready.ID {
				t.Errorf("round %d: id says %s, the daemon %s", round, id, d.ready.ID)
			}
		}
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("round %d: daemon exit %d: %s", round, code, d.stderr.String())
		}
	}
}

// TestE2EParallelCommands is case 10: ten `unode data put` at once with
// no daemon take turns on the repo instead of failing.
func TestE2EParallelCommands(t *testing.T) {
	n := newNode(t, "repo")
	n.ok("init")
	var wg sync.WaitGroup
	errs := make([]string, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, e, code := try(n, "data", "put", "k/"+strconv.Itoa(i), strconv.Itoa(i)); code != 0 {
				errs[i] = e
			}
		}()
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Errorf("data put %d: %s", i, e)
		}
	}
	if out := n.ok("data", "ls", "k/"); strings.Count(out, "\n") != 10 {
		t.Errorf("data ls after 10 parallel puts:\n%s", out)
	}
}

// startDaemonWith starts `unode daemon --json` with extra arguments and
// returns once it printed its ready line, or with ok false and its
// stderr once it exited.
func (n *node) startDaemonWith(args ...string) (d *daemonProc, ok bool) {
	n.t.Helper()
	cmd := n.command(append([]string{"daemon", "--json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	d = &daemonProc{n: n, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
			n.t.Logf("daemon stdout after the ready line: %s", sc.Text())
		}
		d.err = cmd.Wait()
		close(d.done)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			<-d.done
			return d, false
		}
		if err := json.Unmarshal([]byte(line), &d.ready); err != nil {
			n.t.Fatalf("daemon ready line %q: %v", line, err)
		}
		return d, true
	case <-time.After(commandTimeout):
		n.t.Fatalf("daemon neither ready nor exited within %v: %s", commandTimeout, d.stderr.String())
	}
	return nil, false
}

// freeTCPPort returns a port that was free a moment ago on loopback.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// setListen writes addresses.listen into a repo's config.json.
func setListen(t *testing.T, n *node, addrs ...string) {
	t.Helper()
	p := filepath.Join(n.path, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["addresses"] = map[string]any{"listen": addrs}
	raw, _ = json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestE2EPortTaken is case 10: a second daemon (another repo) on a
// configured port the first holds exits with an error naming the
// address; with SO_REUSEPORT it used to share the port without a word,
// after which dials to the first failed with "peer id mismatch".
func TestE2EPortTaken(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.ok("init")
	b.ok("init")
	port := freeTCPPort(t)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	setListen(t, a, addr)
	setListen(t, b, addr)
	da, ok := a.startDaemonWith()
	if !ok {
		t.Fatalf("first daemon: %s", da.stderr.String())
	}
	db, ok := b.startDaemonWith()
	if ok {
		t.Fatalf("second daemon on a taken configured port started: %+v", db.ready)
	}
	line := strings.TrimSpace(db.stderr.String())
	if !strings.Contains(line, addr) || !strings.Contains(line, "in use") || strings.Count(line, "\n") != 0 {
		t.Errorf("second daemon's error: %q; want one line naming %s and saying it is in use", line, addr)
	}
	// --listen is the user's choice too.
	if _, errs, code := b.run("daemon", "--listen", addr); code == 0 || !strings.Contains(errs, addr) {
		t.Errorf("daemon --listen on a taken port: exit %d, %q", code, errs)
	}
	da.stop(os.Interrupt)
}

// TestE2EDefaultPortTaken is case 10: two daemons on different repos
// with the built-in default (port 4100): the second listens on free
// ports instead, says so, and both can be reached as themselves.
func TestE2EDefaultPortTaken(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	da, ok := a.startDaemonWith()
	if !ok {
		t.Fatalf("first daemon: %s", da.stderr.String())
	}
	db, ok := b.startDaemonWith()
	if !ok {
		t.Fatalf("second daemon with the default port: %s", db.stderr.String())
	}
	onDefault := func(d *daemonProc) bool {
		for _, x := range d.ready.Addrs {
			if strings.Contains(x, "/tcp/4100/") {
				return true
			}
		}
		return false
	}
	if onDefault(da) && onDefault(db) {
		t.Fatalf("both daemons listen on port 4100: %v, %v", da.ready.Addrs, db.ready.Addrs)
	}
	for _, d := range []*daemonProc{da, db} {
		said := strings.Contains(d.stderr.String(), "in use") && strings.Contains(d.stderr.String(), "free ports")
		if onDefault(d) == said {
			t.Errorf("daemon on %v: said %v that it moved to free ports: %s", d.ready.Addrs, said, d.stderr.String())
		}
	}
	// Each is reached as itself: no connection lands on the other.
	loopback := func(d *daemonProc) string {
		for _, x := range d.ready.Addrs {
			if strings.HasPrefix(x, "/ip4/127.0.0.1/tcp/") {
				return x
			}
		}
		t.Fatalf("no loopback TCP address in %v", d.ready.Addrs)
		return ""
	}
	if out := b.ok("eval", "--timeout", "20s", "--at", loopback(da), "20 + 1"); out != "21\n" {
		t.Errorf("b -> a: %q", out)
	}
	if out := a.ok("eval", "--timeout", "20s", "--at", loopback(db), "20 + 2"); out != "22\n" {
		t.Errorf("a -> b: %q", out)
	}
	da.stop(os.Interrupt)
	db.stop(os.Interrupt)
}
