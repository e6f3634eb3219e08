package main

import (
	"github.com/spf13/cobra"
)

func repoCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Inspect the repo's block storage and evict what other peers left (gc, stat)",
		Long: "Blocks are pinned or unpinned. Pinned blocks are kept for good: what this node added,\n" +
			"published, fetched, or received for its own calls, and what node data refers to.\n" +
			"Unpinned blocks were stored on another peer's say-so (the code of its calls here):\n" +
			"they are charged to that peer, bounded per peer and for the node, and evicted least\n" +
			"recently used first when room is needed (docs/security.md, \"Disk\").",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(repoGCCmd(e), repoStatCmd(e))
	return cmd
}

func repoGCCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Evict every unpinned block no running evaluation uses, and print what was removed",
		Long: "Evict every unpinned block (stored on another peer's say-so) that no evaluation or\n" +
			"sync in progress uses, and print how many blocks and bytes were removed. Pinned\n" +
			"blocks are never removed. A peer that calls again sends what it needs again.\n" +
			"The datastore gives the space back to the file system as it compacts.",
		Example: "  unode repo gc\n  unode repo gc --json",
		Args:    cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, repoGCOp, &repoGCRequest{})
		}),
	}
}

func repoStatCmd(e *env) *cobra.Command {
	var top int
	cmd := &cobra.Command{
		Use:   "stat",
		Short: "Print the repo's blocks and bytes, pinned and unpinned, by peer, and the quotas",
		Long: "Print the blocks the repo holds and their bytes, how many are pinned (kept for good)\n" +
			"and unpinned (stored for other peers, evictable), the peers charged the most\n" +
			"unpinned bytes, the datastore's size on disk, and the quotas on unpinned storage.",
		Example: "  unode repo stat\n  unode repo stat --top 3 --json",
		Args:    cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, repoStatOp, &repoStatRequest{Top: top})
		}),
	}
	cmd.Flags().IntVar(&top, "top", 10, "list this many peers, most unpinned bytes first")
	return cmd
}
