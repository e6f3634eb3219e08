package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func replCmd(e *env) *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "repl",
		Short: "Read, evaluate and print: declarations, expressions and :commands",
		Long: "An interactive session. A line is a declaration (added to the codebase as\n" +
			"'unode add' adds a file), an expression (evaluated as 'unode eval' evaluates\n" +
			"it, under the per-line budget of the flags and of :fuel, :memory and :timeout)\n" +
			"or a :command (:help lists them). An unfinished line continues on the next;\n" +
			"a blank line ends it.\n\n" +
			"On a terminal the line can be edited, and history is kept in the repo\n" +
			"(repl_history). Ctrl-C stops the line being evaluated and returns to the\n" +
			"prompt; Ctrl-D or :quit ends the session. Read from a pipe, the REPL prints\n" +
			"no prompt: 'unode repl < script' runs a script line by line.",
		Example: "  unode repl\n  unode repl --fuel 1000000 --at 12D3KooW...\n  echo 'List.sum [1, 2, 3]' | unode repl",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.target(); err != nil {
				return err
			}
			if f.cluster != "" {
				return errClusterRepl
			}
			tokens, err := f.tokenTexts()
			if err != nil {
				return err
			}
			return e.runRepl(&replSession{e: e, budget: f.budget, at: f.at, tokens: tokens, raw: f.raw})
		},
	}
	f.register(cmd)
	return cmd
}

var errClusterRepl = errors.New("repl evaluates here or --at a node; --cluster is for 'unode eval'")
