package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/unode-dev/unode/p2p"
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

// Local names are kept per name (issue 13): a second name for the same
// definition, written with other locals, does not change the first's.
func TestShowLocalNamesPerName(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "r"))
	dir := t.TempDir()
	mustCLI(t, "init")
	mustCLI(t, "add", writeFile(t, dir, "a.u", "total xs = List.foldl (acc x -> acc + x) 0 xs\n"))
	mustCLI(t, "add", writeFile(t, dir, "b.u", "sum2 ys = List.foldl (s y -> s + y) 0 ys\n"))
	for name, want := range map[string]string{
		"total": "total xs = List.foldl (acc x -> acc + x) 0 xs\n",
		"sum2":  "sum2 ys = List.foldl (s y -> s + y) 0 ys\n",
	} {
		if out := mustCLI(t, "show", name); out != want {
			t.Errorf("show %s = %q, want %q", name, out, want)
		}
	}
}

// show keeps how lambdas' parameters were grouped and lets nested, which
// the normalized form merges (issue 13); what it prints adds back as the
// same definitions.
func TestShowKeepsSourceShape(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "r"))
	defs := []string{
		"f = x y -> z -> let w = x + y in let v = w * z in v",
		"g x = y -> x * y",
		"h xs = List.map (a -> b -> a + b) xs",
		"k =\n  let\n    a = 1\n    b = 2\n  in let c = a + b in c * 2",
	}
	dir := t.TempDir()
	mustCLI(t, "init")
	mustCLI(t, "add", writeFile(t, dir, "shape.u", strings.Join(defs, "\n\n")+"\n"))
	names := mustCLI(t, "names")
	var shown []string
	for _, d := range defs {
		name, _, _ := strings.Cut(d, " ")
		out := mustCLI(t, "show", name)
		if out != d+"\n" {
			t.Errorf("show %s = %q, want %q", name, out, d+"\n")
		}
		shown = append(shown, strings.Replace(out, name, name+"2", 1))
	}
	// Added again under other names, the shown source is the same code.
	out := mustCLI(t, "add", writeFile(t, dir, "shown.u", strings.Join(shown, "\n")))
	for _, d := range defs {
		name, _, _ := strings.Cut(d, " ")
		ref := refIn(t, names, name)
		if got := refIn(t, out, name+"2"); got != ref {
			t.Errorf("%s shown and added again is %s, not %s", name, got, ref)
		}
	}
}

// refIn finds name's reference in a names or add listing.
func refIn(t *testing.T, listing, name string) string {
	t.Helper()
	for _, line := range strings.Split(listing, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f[len(f)-1]
		}
	}
	t.Fatalf("%s not in %q", name, listing)
	return ""
}

// sideKeys lists the repo's side-record keys (hints, positions, forms).
func sideKeys(t *testing.T) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	withStore(t, os.Getenv(repo.EnvPath), func(cb *p2p.Codebase) {
		for _, prefix := range []string{"/hints", "/positions", "/forms"} {
			res, err := cb.Store().Datastore().Query(t.Context(), query.Query{Prefix: prefix, KeysOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			all, err := res.Rest()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range all {
				keys[e.Key] = true
			}
		}
	})
	return keys
}

// perName lists the per-name side records kept under name.
func perName(keys map[string]bool, name string) []string {
	var out []string
	for k := range keys {
		if strings.HasSuffix(k, "/"+name) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// rm and a rebinding take the name's records for its old definition with
// them (issue 13); repo gc drops the records of definitions it evicted.
func TestRmAndRebindDropSideRecords(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "r"))
	dir := t.TempDir()
	mustCLI(t, "init")
	mustCLI(t, "add", writeFile(t, dir, "a.u", "f a b = if a then true else b\ng x y = if x then true else y\n"))
	keys := sideKeys(t)
	if len(perName(keys, "f")) != 2 || len(perName(keys, "g")) != 2 {
		t.Fatalf("want forms and hints for f and g, have %v", keys)
	}
	// f is rebound to another definition: its old records go, g's stay.
	mustCLI(t, "add", writeFile(t, dir, "b.u", "f n = n + 1\n"))
	keys = sideKeys(t)
	for _, k := range perName(keys, "f") {
		if strings.HasPrefix(k, "/forms/") {
			t.Errorf("rebound f keeps a form record: %s", k)
		}
	}
	if got := len(perName(keys, "f")); got != 1 {
		t.Errorf("rebound f has %d per-name records (%v), want its new hints only", got, perName(keys, "f"))
	}
	if out := mustCLI(t, "show", "g"); out != "g x y = if x then true else y\n" {
		t.Errorf("show g = %q", out)
	}
	// rm g: its records go with the binding; the definition's own
	// (per-definition hints, positions) stay with the definition.
	out := mustCLI(t, "rm", "g")
	if !strings.HasPrefix(out, "removed term g (#") || !strings.HasSuffix(out, ")\n") {
		t.Errorf("rm g printed %q", out)
	}
	after := sideKeys(t)
	if got := perName(after, "g"); len(got) != 0 {
		t.Errorf("after rm g: %v", got)
	}
	if len(after) != len(keys)-2 {
		t.Errorf("rm g removed %d side records, want 2", len(keys)-len(after))
	}
	// What older builds left behind: a form record for a name bound
	// elsewhere, and positions and hints of a definition no longer
	// stored. repo gc drops them and nothing live.
	var stale []string
	withStore(t, os.Getenv(repo.EnvPath), func(cb *p2p.Codebase) {
		for k := range after {
			if strings.HasPrefix(k, "/forms/") {
				t.Errorf("a form record outlived rm and rebinding: %s", k) // f's and g's were the only ones
			}
		}
		parts := strings.Split(perName(after, "f")[0], "/") // /hints/<mh>/<member>/f
		mh := parts[2]
		stale = []string{
			"/forms/" + mh + "/0/g",
			"/hints/" + mh + "/0/g",
			"/positions/CIQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/0",
			"/hints/CIQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/0",
			"/forms/CIQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/0/f",
		}
		for _, k := range stale {
			if err := cb.Store().Datastore().Put(t.Context(), datastore.NewKey(k), []byte{0x80}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := keysNotIn(sideKeys(t), after); len(got) != len(stale) {
		t.Fatalf("planted %v, have %v", stale, got)
	}
	if out := mustCLI(t, "repo", "gc"); !strings.HasSuffix(out, "\n") {
		t.Errorf("repo gc printed %q", out)
	}
	if left := keysNotIn(sideKeys(t), after); len(left) != 0 {
		t.Errorf("after repo gc the stale records remain: %v", left)
	}
	if lost := keysNotIn(after, sideKeys(t)); len(lost) != 0 {
		t.Errorf("repo gc dropped live records: %v", lost)
	}
	if out := mustCLI(t, "show", "f"); out != "f n = n + 1\n" {
		t.Errorf("show f after gc = %q", out)
	}
}

func keysNotIn(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Every command's text output ends with a newline, so the next prompt
// or message starts on a line of its own (issue 13: rm).
func TestOutputEndsWithNewline(t *testing.T) {
	t.Setenv(repo.EnvPath, filepath.Join(t.TempDir(), "r"))
	src := writeFile(t, t.TempDir(), "a.u", "total xs = List.sum xs\nmain = total [1, 2]\n")
	for _, args := range [][]string{
		{"init"}, {"add", src}, {"names"}, {"show", "total"}, {"eval", "total [1]"},
		{"run", src}, {"rm", "total"}, {"repo", "gc"}, {"repo", "stat"}, {"version"},
	} {
		out := mustCLI(t, args...)
		if out == "" || !strings.HasSuffix(out, "\n") {
			t.Errorf("unode %s printed %q", strings.Join(args, " "), out)
		}
	}
}
