package main

import (
	"github.com/spf13/cobra"
)

func rmCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove names from the namespace (the definitions stay in the blockstore)",
		Long: "Remove names from the namespace. Only the names go: the definitions stay in the\n" +
			"blockstore, reachable by #CID and by the definitions that use them, until\n" +
			"'unode repo gc' finds nothing needs them. A name bound as a type and as a term or\n" +
			"constructor loses both bindings. If any name is not bound, none is removed.",
		Example: "  unode rm fib\n  unode rm draft1 draft2",
		Args:    cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, rmOp, &rmRequest{Names: args})
		}),
	}
}
