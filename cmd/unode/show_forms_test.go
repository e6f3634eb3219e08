package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/unode-dev/unode/p2p/repo"
)

// show prints what was written where normalization has two spellings of
// one term (issue 13): a || b and if a then true else b hash the same,
// and each comes back as added.
func TestShowKeepsSourceForms(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "r"))
	src := writeFile(t, t.TempDir(), "forms.u", `
orOp a b = a || b
orIf a b = if a then true else b
andOp a b = a && b
andIf a b = if a then b else false
total xs = xs |> List.map (x -> x * 2) |> List.sum
inc = (+ 1)
swap p = let (a, b) = p in (b, a)
isEven n = if n == 0 then true else isOdd (n - 1)
isOdd n = if n == 0 then false else isEven (n - 1)
`)
	mustCLI(t, "init")
	mustCLI(t, "add", src)
	for name, want := range map[string]string{
		"orOp":   "orOp a b = a || b",
		"orIf":   "orIf a b = if a then true else b",
		"andOp":  "andOp a b = a && b",
		"andIf":  "andIf a b = if a then b else false",
		"total":  "total xs = xs |> List.map (x -> x * 2) |> List.sum",
		"inc":    "inc = (+ 1)",
		"swap":   "swap p = let (a, b) = p in (b, a)",
		"isEven": "isEven n = if n == 0 then true else isOdd (n - 1)",
		"isOdd":  "isOdd n = if n == 0 then false else isEven (n - 1)",
	} {
		if out := mustCLI(t, "show", name); strings.TrimSpace(out) != want {
			t.Errorf("show %s = %q, want %q", name, out, want)
		}
	}
	// The same definition under a CID shows in the spelling of the name
	// the namespace gives it.
	var ref string
	for _, line := range strings.Split(mustCLI(t, "names", "total"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "total" {
			ref = f[len(f)-1]
		}
	}
	if !strings.HasPrefix(ref, "#") {
		t.Fatalf("names total: no reference in %q", mustCLI(t, "names", "total"))
	}
	if out := mustCLI(t, "show", ref); !strings.Contains(out, "xs |> List.map") {
		t.Errorf("show %s = %q", ref, out)
	}
}
