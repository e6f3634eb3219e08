package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestE2ECLIEval covers issue 13's CLI items for eval and run: negative
// literals and "--", --raw, one size syntax for --memory, flag errors
// without strconv's text, and --help without backquoted words taken as
// placeholder names.
func TestE2ECLIEval(t *testing.T) {
	n := newNode(t, "repo")
	n.ok("init")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "-7 / 2"}, "-3\n"},
		{[]string{"eval", "-7"}, "-7\n"},
		{[]string{"eval", "- 3 * 2"}, "-6\n"},
		{[]string{"eval", "--fuel", "100", "-(1 + 2)"}, "-3\n"},
		{[]string{"eval", "-(1 + 2)", "--fuel", "100"}, "-3\n"},
		{[]string{"eval", "--", "-1"}, "-1\n"},
		{[]string{"eval", `"a\n\tb"`}, `"a\n\tb"` + "\n"},
		{[]string{"eval", "--raw", `"a\n\tb"`}, "a\n\tb\n"},
		{[]string{"eval", "--raw", "(1, 2)"}, "(1, 2)\n"}, // not Text: as usual
		{[]string{"eval", "--memory", "64MiB", "1 + 1"}, "2\n"},
		{[]string{"eval", "--memory", "65536", "1 + 1"}, "2\n"},
	} {
		if out := n.ok(c.args...); out != c.want {
			t.Errorf("unode %q = %q, want %q", c.args, out, c.want)
		}
	}
	checkNodeParsing(t, n, "without a daemon")
	checkTimeoutHere(t, n, "without a daemon")
	var ev map[string]any
	n.json(&ev, "eval", "-7 / 2")
	if ev["text"] != "-3" {
		t.Errorf("--json eval -7 / 2: %v", ev)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--fuel", "abc", "1"}, `invalid argument "abc" for "--fuel"`},
		{[]string{"eval", "--memory", "lots", "1"}, "KiB, MiB or GiB"},
		{[]string{"eval", "--timeout", "soon", "1"}, "duration"},
		{[]string{"eval", "1", "2"}, "one expression"},
		{[]string{"eval", "--memory", "1KiB", "List.range 0 100000"}, "memory"},
	} {
		line := n.fail(c.args...)
		if !strings.Contains(line, c.want) || strings.Contains(line, "strconv") || strings.Contains(line, "time: ") {
			t.Errorf("unode %q: %q, want it to say %q and no Go package text", c.args, line, c.want)
		}
	}

	for _, cmd := range []string{"eval", "run", "repl"} {
		help := n.ok(cmd, "--help")
		for _, bad := range []string{"--at unode", "--token unode", "--cluster unode"} {
			if strings.Contains(help, bad) {
				t.Errorf("%s --help shows %q (a backquoted word taken as the placeholder):\n%s", cmd, bad, help)
			}
		}
		if !strings.Contains(help, "--memory SIZE") || !strings.Contains(help, "--at PEER") {
			t.Errorf("%s --help lacks --memory SIZE / --at PEER:\n%s", cmd, help)
		}
	}
}

// TestE2ECLINames covers `unode rm`, `unode names --prefix` and `run
// --scratch`, which evaluates a file without binding its names.
func TestE2ECLINames(t *testing.T) {
	n := newNode(t, "repo")
	n.ok("init")
	dir := t.TempDir()
	lib := writeFile(t, dir, "lib.u", "double x = x + x\n\ndoubleAll xs = List.map double xs\n\ntriple x = 3 * x\n")
	scratch := writeFile(t, dir, "scratch.u", "helper x = double x + 1\n\nmain = helper 20\n")
	text := writeFile(t, dir, "text.u", "main = \"line 1\\nline 2\"\n")
	n.ok("add", lib)

	var names namesResult
	n.json(&names, "names", "--prefix", "double")
	if len(names.Names) != 2 || names.Names[0].Name != "double" || names.Names[1].Name != "doubleAll" {
		t.Errorf("names --prefix double: %+v", names)
	}
	if out := n.ok("names", "--prefix", "tri"); !strings.HasPrefix(out, "triple") || strings.Count(out, "\n") != 1 {
		t.Errorf("names --prefix tri: %q", out)
	}

	if out := n.ok("run", "--scratch", scratch); out != "41\n" {
		t.Errorf("run --scratch = %q, want 41", out)
	}
	if line := n.fail("eval", "helper 1"); !strings.Contains(line, "helper") {
		t.Errorf("after run --scratch, helper is bound? %q", line)
	}
	if out := n.ok("run", "--scratch", "--raw", text); out != "line 1\nline 2\n" {
		t.Errorf("run --scratch --raw = %q", out)
	}
	if line := n.fail("run", "--scratch", lib); !strings.Contains(line, "no main") {
		t.Errorf("run --scratch of a file without main: %q", line)
	}

	if out := n.ok("rm", "triple"); !strings.Contains(out, "removed term triple") {
		t.Errorf("rm triple: %q", out)
	}
	if line := n.fail("eval", "triple 1"); !strings.Contains(line, "triple") {
		t.Errorf("after rm, triple still resolves? %q", line)
	}
	// One unknown name: nothing is removed, and the error says so once.
	line := n.fail("rm", "double", "nosuch")
	if !strings.Contains(line, `"nosuch"`) || strings.Count(line, "no such name") != 1 {
		t.Errorf("rm of an unbound name: %q", line)
	}
	if out := n.ok("eval", "double 2"); out != "4\n" {
		t.Errorf("double after a failed rm: %q", out)
	}
	// doubleAll still works: its code refers to double by hash.
	if out := n.ok("rm", "double"); !strings.Contains(out, "double") {
		t.Errorf("rm double: %q", out)
	}
	if out := n.ok("eval", "doubleAll [1, 2]"); out != "[2, 4]\n" {
		t.Errorf("doubleAll after rm double: %q", out)
	}
}

// TestE2ECLINetErrors: network failures are one line with their cause
// and a hint (no libp2p list of dials, no "dial backoff" alone), a
// remote program's error has no embedded line breaks, and an unknown
// grant says "no such grant" once.
func TestE2ECLINetErrors(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.ok("init")
	a.startDaemon()
	b.startDaemon()
	var idB idResult
	b.json(&idB, "id")
	a.ok("connect", idB.Addrs[0])
	a.ok("add", writeFile(t, t.TempDir(), "h.u", "h x = x + 1\n\ng x = h x\n"))

	checkNodeParsing(t, a, "with a daemon")
	checkTimeoutHere(t, a, "with a daemon")

	unknown := "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	refused := "/ip4/127.0.0.1/tcp/1/p2p/" + unknown
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--timeout", "20s", "--at", unknown, "1"}, "unode connect"},
		{[]string{"eval", "--timeout", "20s", "--at", refused, "1"}, "cannot reach the peer at /ip4/127.0.0.1/tcp/1"},
		{[]string{"eval", "--timeout", "20s", "--at", refused, "1"}, "cannot reach the peer"}, // now in dial backoff
		{[]string{"connect", refused}, "cannot reach the peer"},
		{[]string{"revoke", "nonexist"}, "no such grant"},
	} {
		line := a.fail(c.args...)
		if !strings.Contains(line, c.want) {
			t.Errorf("unode %q: %q, want %q", c.args, line, c.want)
		}
		for _, bad := range []string{"all dials failed", "failed to dial", "\t", "no such grant: no such grant"} {
			if strings.Contains(line, bad) {
				t.Errorf("unode %q: %q holds %q", c.args, line, bad)
			}
		}
		if strings.Count(line, "no such grant") > 1 {
			t.Errorf("unode %q: %q says it twice", c.args, line)
		}
	}
	// A remote program's error: one line in this node's source (h.u,
	// which only a has), then its backtrace, one call a line, each
	// marked with where it ran (issue 13).
	_, errs, _ := a.run("eval", "--at", idB.ID, `g "a"`)
	lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "h.u:1:9: at 12D3…") || !strings.Contains(lines[0], "cannot apply +") || strings.Contains(lines[0], "\t") {
		t.Errorf("remote runtime error: %q", errs)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "\tin ") || !strings.Contains(l, "h.u:") || !strings.Contains(l, "(at 12D3…") {
			t.Errorf("remote runtime error: backtrace line %q", l)
		}
	}
	// run --scratch --at: main runs at b, no name is bound here, and an
	// error names the file's definitions at their positions.
	dir := t.TempDir()
	if out := a.ok("run", "--scratch", "--at", idB.ID, writeFile(t, dir, "s.u", "sqz9 x = x * x\nmain = sqz9 6 + 6\n")); out != "42\n" {
		t.Errorf("run --scratch --at: %q", out)
	}
	if out := a.ok("names", "--prefix", "sqz9"); strings.Contains(out, "sqz9") {
		t.Errorf("run --scratch --at bound sqz9: %q", out)
	}
	_, errs, _ = a.run("run", "--scratch", "--at", idB.ID, writeFile(t, dir, "e.u", "bad x = x ++ 1\nmain = bad \"a\" ++ \"\"\n"))
	if !strings.Contains(errs, "e.u:1:11: at 12D3…") || !strings.Contains(errs, "\tin bad at ") {
		t.Errorf("run --scratch --at error: %q", errs)
	}
	var res map[string]any
	_, out, _ := a.run("--json", "eval", "--at", idB.ID, `g "a"`) // the error is on stderr
	if err := json.Unmarshal([]byte(out), &res); err != nil || strings.ContainsAny(fmt.Sprint(res["error"]), "\n\t") {
		t.Errorf("--json remote error holds a line break: %q", out)
	}
	if d, _ := res["detail"].([]any); len(d) == 0 || !strings.Contains(fmt.Sprint(d[0]), "in h at ") {
		t.Errorf("--json remote error: no backtrace in detail: %q", out)
	}
}

// checkNodeParsing: Node.fromText and Node.fixed answer the same with
// and without a daemon (issue 13: Some "nope" without one, None with).
func checkNodeParsing(t *testing.T, n *node, where string) {
	t.Helper()
	if out := n.ok("eval", `Node.fromText "nope"`); out != "None\n" {
		t.Errorf("%s: Node.fromText \"nope\" = %q, want None", where, out)
	}
	id := "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	if out := n.ok("eval", `Node.fromText "/ip4/127.0.0.1/tcp/1/p2p/`+id+`"`); out != "Some <node "+id+">\n" {
		t.Errorf("%s: Node.fromText of a multiaddr = %q", where, out)
	}
	if line := n.fail("eval", `Node.fixed "12D3"`); !strings.Contains(line, "does not name a node") {
		t.Errorf("%s: Node.fixed \"12D3\": %q", where, line)
	}
}

// checkTimeoutHere: timeout fires on a future of at' here, which the
// node forces at once on the calling thread (issue 13: `await! (timeout
// 10 (at' here '(fib 30)))` gave Right 832040).
func checkTimeoutHere(t *testing.T, n *node, where string) {
	t.Helper()
	n.ok("add", writeFile(t, t.TempDir(), "fib.u", fibFile))
	if out := n.ok("eval", "await! (timeout 1 (at' here '(fib 25)))"); out != "Left Timeout\n" {
		t.Errorf("%s: timeout 1 of at' here fib 25 = %q, want Left Timeout", where, out)
	}
	if out := n.ok("eval", "await! (timeout 600000 (at' here '(fib 10)))"); out != "Right 55\n" {
		t.Errorf("%s: a generous timeout of at' here = %q, want Right 55", where, out)
	}
}
