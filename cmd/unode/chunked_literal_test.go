package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/unode-dev/unode/p2p/repo"
)

// A 2 MiB Text literal adds (its definition block links to chunk
// blocks, docs/protocol.md "Chunked values") and evaluates, with the
// repo opened directly and, after a restart, read back from the store.
// Before chunked literals, add failed with "encoding exceeds 1048576
// bytes".
func TestLargeTextLiteral(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "r"))
	n := 2 << 20
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	lit := b.String()[:n]
	src := writeFile(t, t.TempDir(), "big.u",
		"big = \""+strings.ReplaceAll(lit, "\n", "\\n")+"\"\n\nbigSize = Text.length big\n\nmain = Text.length (big ++ big)\n")
	mustCLI(t, "init")
	if out := mustCLI(t, "add", src); !strings.Contains(out, "bigSize") {
		t.Fatalf("add: %q", out)
	}
	if out := mustCLI(t, "eval", "bigSize"); out != strconv.Itoa(n)+"\n" {
		t.Fatalf("eval bigSize = %q, want %d", out, n)
	}
	if out := mustCLI(t, "eval", "Text.take 12 (Text.drop 1000000 big)"); !strings.Contains(out, "ine ") {
		t.Fatalf("eval a slice of big = %q", out)
	}
	if out := mustCLI(t, "run", src); out != strconv.Itoa(2*n)+"\n" {
		t.Fatalf("run = %q, want %d", out, 2*n)
	}
}
