package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/unode-dev/unode/p2p/repo"
)

var fuelRE = regexp.MustCompile(`running for [0-9.]+m?s, [0-9.]+[kMG]? fuel`)

// An evaluation that lasts draws a line with the time elapsed on a
// terminal's stderr and clears it before the outcome; with stderr not a
// terminal, or --json, nothing is drawn.
func TestEvalProgressLine(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "repo"))
	src := filepath.Join(t.TempDir(), "spin.u")
	if err := os.WriteFile(src, []byte("spin n = spin (n + 1)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "add", src)

	oldAfter, oldEvery, oldTerm := evalProgressAfter, evalProgressEvery, isTerminal
	t.Cleanup(func() { evalProgressAfter, evalProgressEvery, isTerminal = oldAfter, oldEvery, oldTerm })
	evalProgressAfter, evalProgressEvery = time.Millisecond, 50*time.Millisecond

	// The evaluation runs until its timeout, far longer than the delay.
	args := []string{"eval", "--fuel", "1000000000000", "--timeout", "500ms", "spin 0"}
	for _, c := range []struct {
		name  string
		tty   bool
		json  bool
		drawn bool
	}{
		{"terminal", true, false, true},
		{"pipe", false, false, false},
		{"terminal --json", true, true, false},
	} {
		var out, errb bytes.Buffer
		isTerminal = func(w io.Writer) bool { return c.tty && w == &errb }
		a := args
		if c.json {
			a = append([]string{"--json"}, a...)
		}
		if code := run(t.Context(), nil, a, strings.NewReader(""), &out, &errb); code == 0 {
			t.Fatalf("%s: spin 0 succeeded", c.name)
		}
		s := errb.String()
		if got := strings.Contains(s, "eval: running for "); got != c.drawn {
			t.Errorf("%s: progress drawn %v, want %v: %q", c.name, got, c.drawn, s)
		}
		// The fuel used so far, not only the time (issue 13).
		if c.drawn && !fuelRE.MatchString(s) {
			t.Errorf("%s: the line does not give the fuel used: %q", c.name, s)
		}
		if c.drawn {
			// Cleared, then the error line alone.
			i := strings.LastIndex(s, "\r\x1b[K")
			if i < 0 || !strings.Contains(s[i:], "unode: time budget exhausted") || strings.Contains(s[i:], "running for") {
				t.Errorf("%s: the line is not cleared before the error: %q", c.name, s)
			}
		} else if strings.Contains(s, "\r") {
			t.Errorf("%s: control characters on stderr: %q", c.name, s)
		}
	}
}
