package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/p2p/repo"
)

const jsonConventionSource = `type Shape = Circle Float | Rect Float Float

isEven n = if n == 0 then true else isOdd (n - 1)
isOdd n = if n == 0 then false else isEven (n - 1)

area s = match s with
  | Circle r -> 3.0 * r * r
  | Rect w h -> w * h
`

// hashedStrings returns every string in a JSON document that is a CID
// written the language's way (#bafy...): none may appear in --json output.
func hashedStrings(doc any) []string {
	var out []string
	switch x := doc.(type) {
	case string:
		if strings.HasPrefix(x, "#baf") {
			out = append(out, x)
		}
	case []any:
		for _, e := range x {
			out = append(out, hashedStrings(e)...)
		}
	case map[string]any:
		for _, e := range x {
			out = append(out, hashedStrings(e)...)
		}
	}
	return out
}

// TestJSONCIDsArePlain: in --json output every CID is a plain string
// (as `log --json` always wrote them), a member of a cycle or a
// constructor is given by number beside it, and text output keeps the
// language's #CID#n; the same through the daemon.
func TestJSONCIDsArePlain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	src := writeFile(t, t.TempDir(), "shapes.u", jsonConventionSource)
	check := func(how string) {
		t.Helper()
		docs := map[string]string{}
		for _, args := range [][]string{
			{"add", src}, {"names"}, {"show", "isOdd"}, {"publish", "area"}, {"published"}, {"unpublish", "area"},
			{"log"}, {"repo", "stat"}, {"eval", "area (Circle 1.0)"}, {"rm", "area"},
		} {
			out := mustCLI(t, append([]string{"--json"}, args...)...)
			docs[args[0]] = out
			var doc any
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%s: %s --json: %v: %s", how, args[0], err, out)
			}
			if h := hashedStrings(doc); len(h) > 0 {
				t.Errorf("%s: %s --json writes CIDs with '#': %v", how, args[0], h)
			}
		}
		var names struct {
			Names []struct {
				Name, Kind, CID string
				Member          int
				Ctor            *int
			}
		}
		if err := json.Unmarshal([]byte(docs["names"]), &names); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, n := range names.Names {
			if _, err := cid.Decode(n.CID); err != nil {
				t.Errorf("%s: name %s: cid %q: %v", how, n.Name, n.CID, err)
			}
			switch n.Name {
			case "isEven":
				seen[n.Name] = n.Member == 0 && n.Ctor == nil
			case "isOdd":
				seen[n.Name] = n.Member == 1 && n.Ctor == nil
			case "Circle":
				seen[n.Name] = n.Kind == "ctor" && n.Ctor != nil && *n.Ctor == 0
			case "Rect":
				seen[n.Name] = n.Kind == "ctor" && n.Ctor != nil && *n.Ctor == 1
			}
		}
		if len(seen) != 4 || !seen["isEven"] || !seen["isOdd"] || !seen["Circle"] || !seen["Rect"] {
			t.Errorf("%s: names --json: %v\n%s", how, seen, docs["names"])
		}
		var sh map[string]any
		json.Unmarshal([]byte(docs["show"]), &sh)
		if sh["member"] != 1.0 || !strings.HasPrefix(sh["cid"].(string), "baf") {
			t.Errorf("%s: show --json: %s", how, docs["show"])
		}
		// A constructor nobody named (run --scratch binds no name): its
		// type's CID, plain, and its index.
		hidden := writeFile(t, t.TempDir(), "hidden.u", "type Hidden = Nope | Hid Int\nmain = Hid 3\n")
		out := mustCLI(t, "--json", "run", "--scratch", hidden)
		var run struct {
			Value map[string]any
		}
		if err := json.Unmarshal([]byte(out), &run); err != nil {
			t.Fatal(err)
		}
		if c, _ := run.Value["cid"].(string); !strings.HasPrefix(c, "baf") || run.Value["index"] != 1.0 ||
			run.Value["ctor"] != nil || run.Value["member"] != nil || fmt.Sprint(run.Value["fields"]) != "[3]" {
			t.Errorf("%s: run --scratch --json of an unnamed constructor: %s", how, out)
		}
		// Text keeps the language's syntax, which source may paste.
		if out := mustCLI(t, "names", "isOdd"); !strings.Contains(out, "#baf") || !strings.HasSuffix(strings.TrimSpace(out), "#1") {
			t.Errorf("%s: names text: %q", how, out)
		}
		if out := mustCLI(t, "names", "Rect"); !strings.HasSuffix(strings.TrimSpace(out), "#c1") {
			t.Errorf("%s: names text of a constructor: %q", how, out)
		}
	}
	check("repo")
	_, stop := inProcessDaemon(t)
	defer stop()
	check("daemon")
}

// TestJSONErrors: with --json a failure is one JSON object on stderr,
// {"code": CODE, "error": LINE}, with exit status 1 and nothing on
// stdout — for errors of the command, of the daemon, and of the command
// line itself; without --json it stays one plain line.
func TestJSONErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	jsonFail := func(how string, args ...string) apiError {
		t.Helper()
		out, errs, code := cli(t, args...)
		var e apiError
		dec := json.NewDecoder(strings.NewReader(errs))
		dec.DisallowUnknownFields()
		if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || dec.Decode(&e) != nil || e.Line == "" {
			t.Errorf("%s: unode %s: exit %d, stdout %q, stderr %q; want one JSON error line", how, strings.Join(args, " "), code, out, errs)
		}
		return e
	}
	for _, how := range []string{"repo", "daemon"} {
		if how == "daemon" {
			_, stop := inProcessDaemon(t)
			defer stop()
		}
		for _, c := range []struct {
			args []string
			code string
			line string
		}{
			{[]string{"--json", "show", "nosuch"}, codeUnknownName, "unode: unknown name: nosuch"},
			{[]string{"show", "nosuch", "--json"}, codeUnknownName, "unknown name"},
			{[]string{"--json", "eval", "1 +"}, codeSyntax, "<eval>:1:4:"},
			{[]string{"--json", "data", "get", "nothing/here"}, codeNoData, ""},
			{[]string{"--json", "revoke", "zzzzzz"}, codeNoGrant, ""},
			{[]string{"--json", "token", "inspect", "unode1x"}, codeBadToken, "malformed token"},
			{[]string{"--json", "nosuchcommand"}, codeUsage, "unknown command"},
			{[]string{"--json", "names", "--bogus"}, codeUsage, "unknown flag: --bogus"},
			{[]string{"--json", "show"}, codeUsage, "accepts 1 arg"},
			{[]string{"--bogus", "--json"}, codeUsage, "unknown flag"},
		} {
			e := jsonFail(how, c.args...)
			if e.Code != c.code || !strings.Contains(e.Line, c.line) {
				t.Errorf("%s: unode %s: %+v, want code %s and %q", how, strings.Join(c.args, " "), e, c.code, c.line)
			}
		}
		if line := failCLI(t, "show", "nosuch"); line != "unode: unknown name: nosuch" {
			t.Errorf("%s: the text error is %q", how, line)
		}
	}
}
