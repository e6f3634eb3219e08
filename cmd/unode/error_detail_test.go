package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unode-dev/unode/p2p/repo"
)

// A file with several parse errors shows each at its position, and a
// runtime error its backtrace, rather than "(and 2 more errors)" or the
// innermost call alone (issue 13). A scratch run's definitions have no
// names in the namespace: the file's names are used.
func TestErrorDetailPrinted(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "repo"))
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.u")
	if err := os.WriteFile(bad, []byte("main = (1 +\nf = 2\ng = if 1 then 2\nh = (3 *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(dir, "deep.u")
	if err := os.WriteFile(deep, []byte("h x = x + \"one\"\ng x = h x * 2\nmain = g 1 + 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", bad}, []string{bad + ":1:12: expected an expression", bad + ":3:16: expected \"else\"", bad + ":4:9: expected an expression"}},
		{[]string{"run", "--scratch", deep}, []string{"unode: " + deep + ":1:9: cannot apply + to an Int and a Text (in h)",
			"\tin h at " + deep + ":1:9", "\tin g at " + deep + ":2:7", "\tin main at " + deep + ":3:8"}},
	} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), nil, c.args, strings.NewReader(""), &out, &errb); code == 0 {
			t.Fatalf("%q succeeded", c.args)
		}
		lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
		if len(lines) != len(c.want) {
			t.Errorf("%q: stderr\n%s\nwant %d lines", c.args, errb.String(), len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("%q: line %d = %q, want it to start %q", c.args, i, lines[i], w)
			}
		}
		if strings.Contains(errb.String(), "more errors") {
			t.Errorf("%q: %q summarizes errors", c.args, errb.String())
		}
	}
}

// Debug.trace in the node's own evaluation prints on the CLI's stderr;
// the value goes to stdout alone.
func TestDebugTracePrinted(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "repo"))
	var out, errb bytes.Buffer
	if code := run(t.Context(), nil, []string{"eval", `Debug.trace "xs" [1, 2] ++ [3]`}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("eval failed: %s", errb.String())
	}
	if out.String() != "[1, 2, 3]\n" || errb.String() != "trace xs: [1, 2]\n" {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
}
