package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func (b *buildInfo) Text() string {
	var s strings.Builder
	fmt.Fprintf(&s, "unode %s\n", b.Version)
	if b.Commit != "" {
		mod := ""
		if b.Modified {
			mod = " (modified)"
		}
		fmt.Fprintf(&s, "commit     %s%s\n", b.Commit, mod)
	}
	fmt.Fprintf(&s, "go         %s\nagent      %s\nprotocol   %s\n", b.GoVersion, b.Agent, b.ProtocolVersion)
	for _, p := range b.Protocols {
		fmt.Fprintf(&s, "speaks     %s\n", p)
	}
	return s.String()
}

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print unode's version, commit, Go version and the protocols it speaks",
		Long: "Print what this binary is: its version (a release, a pseudo-version, or \"devel\"\n" +
			"for a build that recorded none), the commit it was built from when known, the Go\n" +
			"version, the agent version and protocol version the node states in libp2p's\n" +
			"identify, and the unode protocols it answers. `unode --version` prints the same.\n" +
			"It does not open the repo.",
		Example: "  unode version\n  unode version --json",
		Args:    cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			b := thisBuild()
			return &b, nil
		}),
	}
}

// versionFlag gives the root command --version, which prints what
// `unode version` prints (as JSON with --json); the root alone prints
// its help, as before.
func versionFlag(e *env, root *cobra.Command) {
	var show bool
	root.Flags().BoolVar(&show, "version", false, "print the version, as 'unode version' does")
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if !show {
			return cmd.Help()
		}
		b := thisBuild()
		return e.emit(&b)
	}
}
