package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptySession is `unode repl` on a pseudo-terminal, as a person runs it:
// line editing on, prompts shown, Ctrl-C sent as the byte a terminal
// sends (the pty's line discipline turns it into SIGINT).
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	seen int // out up to here was matched by an earlier expect
	done chan error
}

func (n *node) startRepl(args ...string) *ptySession {
	n.t.Helper()
	cmd := n.command(append([]string{"repl"}, args...)...)
	// A pty with no size reads as 0 columns, which line editors refuse.
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		n.t.Fatal(err)
	}
	s := &ptySession{t: n.t, cmd: cmd, tty: tty, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := tty.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:k])
			s.mu.Unlock()
			if err != nil {
				return // EIO once the child is gone
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	n.t.Cleanup(func() {
		cmd.Process.Kill()
		tty.Close()
	})
	return s
}

func (s *ptySession) send(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.tty, text); err != nil {
		s.t.Fatal(err)
	}
}

// expect waits for re to match the output not matched before and
// returns the match; it fails the test (showing the output) if it does
// not appear within commandTimeout.
func (s *ptySession) expect(re string) string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(commandTimeout)
	for {
		s.mu.Lock()
		tail := s.out.String()[s.seen:]
		if loc := rx.FindStringIndex(tail); loc != nil {
			s.seen += loc[1]
			s.mu.Unlock()
			return tail[loc[0]:loc[1]]
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			s.t.Fatalf("repl: no %q within %v; output since last match:\n%s", re, commandTimeout, tail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// prompt waits for the next prompt.
func (s *ptySession) prompt() { s.t.Helper(); s.expect(regexp.QuoteMeta(replPrompt)) }

// TestE2EReplPty is issue 13's acceptance 3: through a real pty, define,
// evaluate, an error that leaves the session running, Ctrl-C on an
// endless loop (the loop stops, the session stays), :show, and :at a
// second node.
func TestE2EReplPty(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.ok("init")
	a.startDaemon()
	b.startDaemon()
	var idB idResult
	b.json(&idB, "id")
	a.ok("connect", idB.Addrs[0])

	s := a.startRepl()
	s.prompt()
	s.send("sq x = x * x\r")
	s.expect(`sq\s+term\s+#bafy`)
	s.prompt()
	s.send("sq 12\r")
	s.expect(`\r\n144\r\n`)
	s.prompt()

	// A definition over several lines: the first is unfinished.
	s.send("cube x =\r")
	s.expect(regexp.QuoteMeta(replContinue))
	s.send("x * sq x\r")
	s.expect(regexp.QuoteMeta(replContinue))
	s.send("\r")
	s.expect(`cube\s+term\s+#bafy`)
	s.prompt()
	s.send("cube 3\r")
	s.expect(`\r\n27\r\n`)
	s.prompt()

	// An error is one line, and the session goes on.
	s.send(`sq "a"` + "\r")
	s.expect(`\r\n[^\r\n]*(Int|Text)[^\r\n]*\r\n`)
	s.prompt()
	s.send("nosuchname 1\r")
	s.expect(`nosuchname`)
	s.prompt()

	// Ctrl-C stops an endless loop and returns to the prompt.
	s.send(":fuel 1000000000000\r")
	s.expect(`fuel 1000000000000`)
	s.send(":timeout 10m\r")
	s.expect(`timeout 10m0s`)
	s.prompt()
	s.send("spin n = spin (n + 1)\r")
	s.expect(`spin\s+term\s+#bafy`)
	s.prompt()
	s.send("spin 0\r")
	time.Sleep(500 * time.Millisecond) // let it start; not a timing assertion
	s.send("\x03")
	s.expect(`interrupted`)
	s.prompt()
	s.send("sq 9\r")
	s.expect(`\r\n81\r\n`)
	s.prompt()

	s.send(":show cube\r")
	s.expect(`cube x =`)
	s.prompt()

	// :at a second node: once for one expression, then for what follows.
	s.send(":at " + idB.ID + " sq 5\r")
	s.expect(`\r\n25\r\n`)
	s.prompt()
	s.send(":at " + idB.ID + "\r")
	s.expect(`evaluating at ` + idB.ID)
	s.prompt()
	s.send("cube 5\r")
	s.expect(`\r\n125\r\n`)
	s.prompt()
	// b's audit log has both evaluations, from a.
	var idA idResult
	a.json(&idA, "id")
	if log := b.ok("log"); strings.Count(log, idA.ID+"  ok") != 2 {
		t.Errorf("b's log after two :at evaluations from a:\n%s", log)
	}
	// The node's own builtins: here is outside b's default sandbox.
	s.send("here\r")
	s.expect(`denied: builtin here`)
	s.prompt()
	s.send(":at here\r")
	s.expect(`evaluating here`)
	s.prompt()
	s.send("here\r")
	s.expect(`<node ` + idA.ID + `>`)
	s.prompt()

	s.send(":nope\r")
	s.expect(`unknown command :nope`)
	s.prompt()

	s.send("\x04") // Ctrl-D ends the session
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("repl exit %d after Ctrl-D", ee.ExitCode())
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(commandTimeout):
		t.Fatal("repl did not exit on Ctrl-D")
	}
	// The definitions are in the codebase for other commands.
	if out := a.ok("eval", "cube 4"); out != "64\n" {
		t.Errorf("eval after the repl: %q", out)
	}
}

// TestE2EReplPipe: read from a pipe the REPL prints no prompt, runs the
// script line by line without a daemon, and keeps going after an error.
func TestE2EReplPipe(t *testing.T) {
	n := newNode(t, "repo")
	n.ok("init")
	script := strings.Join([]string{
		"double x = x + x",
		"double 21",
		"double \"a\" / 0",
		":raw",
		`"a" ++ "\tb"`,
		":names doub",
		":rm double",
		"double 1",
	}, "\n") + "\n"
	cmd := n.command("repl")
	cmd.Stdin = strings.NewReader(script)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("repl: %v; stderr %s", err, errs.String())
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 4 || !strings.Contains(lines[0], "double") || lines[1] != "42" || lines[2] != "a\tb" ||
		!strings.Contains(lines[3], "double") || !strings.Contains(out.String(), "removed term double") {
		t.Errorf("repl stdout:\n%s", out.String())
	}
	if strings.Contains(out.String(), replPrompt) {
		t.Errorf("prompt printed to a pipe:\n%s", out.String())
	}
	// Each error is a line, a runtime error's with its backtrace
	// after it (indented).
	var e []string
	for _, l := range strings.Split(strings.TrimSpace(errs.String()), "\n") {
		if !strings.HasPrefix(l, "\t") {
			e = append(e, l)
		}
	}
	if len(e) != 2 || !strings.Contains(e[1], "double") || !strings.Contains(errs.String(), "\tin double at <repl>:1:") {
		t.Errorf("repl stderr (want two errors, the first with its backtrace, the last naming double):\n%s", errs.String())
	}
}

// TestE2EReplPtyNoDaemon: without a daemon, Ctrl-C stops a loop
// evaluated in the REPL's own process, and the repo is free between
// lines for other commands.
func TestE2EReplPtyNoDaemon(t *testing.T) {
	n := newNode(t, "repo")
	n.ok("init")
	s := n.startRepl("--fuel", "1000000000000", "--timeout", "10m")
	s.prompt()
	s.send("spin n = spin (n + 1)\r")
	s.expect(`spin\s+term\s+#bafy`)
	s.prompt()
	// The REPL does not hold the repo while it waits for a line.
	if out := n.ok("eval", "List.length [1, 2]"); out != "2\n" {
		t.Errorf("eval from another process between lines: %q", out)
	}
	s.send("spin 0\r")
	time.Sleep(500 * time.Millisecond) // let it start; not a timing assertion
	s.send("\x03")
	s.expect(`interrupted`)
	s.prompt()
	s.send("List.sum [1, 2, 3]\r")
	s.expect(`\r\n6\r\n`)
	s.prompt()
	s.send(":quit\r")
	select {
	case <-s.done:
	case <-time.After(commandTimeout):
		t.Fatal("repl did not exit on :quit")
	}
}
