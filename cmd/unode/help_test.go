package main

import (
	"bytes"
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
	if n < 11 {
		t.Errorf("walked %d commands; want the root and at least 10", n)
	}
}

// TestHelpRuns checks that --help works for every command without opening
// the repo.
func TestHelpRuns(t *testing.T) {
	t.Setenv("UNODE_PATH", t.TempDir()+"/never-created")
	for _, c := range newRoot(&env{}).Commands() {
		var out, errb bytes.Buffer
		if code := run(t.Context(), nil, []string{c.Name(), "--help"}, nil, &out, &errb); code != 0 {
			t.Errorf("%s --help: exit %d: %s", c.Name(), code, errb.String())
		}
		want := c.Short
		if c.Long != "" {
			want = c.Long
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s --help does not show its help text:\n%s", c.Name(), out.String())
		}
	}
}
