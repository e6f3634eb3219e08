package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A backquoted word in a flag's usage is pflag's placeholder name: `unode
// daemon` in --at's usage showed "--at unode daemon" in --help (issue
// 13). Every placeholder of every command must be one upper-case word.
func TestHelpPlaceholders(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			if strings.ContainsAny(name, " '") || strings.HasPrefix(name, "unode") {
				t.Errorf("%s --%s: placeholder %q (a backquoted phrase in the usage?)", c.CommandPath(), f.Name, name)
			}
		}
		c.LocalFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&env{}))
}
