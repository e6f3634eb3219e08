package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestHelpText walks the command tree: every command has a Use line and a
// one-line Short help, and every flag has a usage string.
func TestHelpText(t *testing.T) {
	root := newRoot(&env{})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		name := c.CommandPath()
		if strings.TrimSpace(c.Use) == "" {
			t.Errorf("%s: no Use", name)
		}
		if s := strings.TrimSpace(c.Short); s == "" {
			t.Errorf("%s: no Short help", name)
		} else if strings.Contains(s, "\n") {
			t.Errorf("%s: Short help is not one line: %q", name, s)
		}
		check := func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s --%s: no usage text", name, f.Name)
			}
		}
		c.LocalFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 28 {
		t.Errorf("walked %d commands; want the root and at least 27", n)
	}
}

// TestCommandsExist pins the command tree of DESIGN.md "CLI" and issue 4.
func TestCommandsExist(t *testing.T) {
	root := newRoot(&env{})
	for _, path := range []string{
		"init", "daemon", "id", "connect", "peers", "add", "names", "show", "eval", "run",
		"publish", "published", "data put", "data get", "data ls", "data rm",
		"policy", "policy set-default", "policy set", "policy assign", "policy unassign", "policy rm",
		"grant", "grants", "revoke", "log",
	} {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) != 0 || c.CommandPath() != "unode "+path {
			t.Errorf("no command %q (found %q, rest %q, %v)", path, c.CommandPath(), rest, err)
		}
	}
	for path, flags := range map[string][]string{
		"add":        {"publish"},
		"eval":       {"at", "token", "token-file"},
		"run":        {"at", "token", "token-file"},
		"grant":      {"to", "allow", "deny", "allow-code", "allow-target", "fuel", "memory", "time", "result", "expires", "note"},
		"policy set": {"allow", "deny", "allow-code", "allow-target", "fuel", "memory", "time", "result"},
		"data put":   {"from-json", "file"},
		"data get":   {"file"},
		"log":        {"limit"},
	} {
		c, _, err := root.Find(strings.Fields(path))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flags {
			if c.Flags().Lookup(f) == nil {
				t.Errorf("unode %s has no --%s", path, f)
			}
		}
	}
}

// TestHelpRuns checks that --help works for every command without opening
// the repo.
func TestHelpRuns(t *testing.T) {
	t.Setenv("UNODE_PATH", t.TempDir()+"/never-created")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.HasParent() {
			return
		}
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "unode ")), "--help")
		var out, errb bytes.Buffer
		if code := run(t.Context(), nil, args, nil, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		want := c.Short
		if c.Long != "" {
			want = c.Long
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s does not show its help text:\n%s", strings.Join(args, " "), out.String())
		}
	}
	walk(newRoot(&env{}))
	if _, err := os.Stat(os.Getenv("UNODE_PATH")); err == nil {
		t.Errorf("--help created the repo")
	}
}
