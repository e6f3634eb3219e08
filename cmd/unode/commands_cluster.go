package main

import (
	"github.com/spf13/cobra"
)

func clusterCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "List the clusters the running daemon is a member of",
		Long: "List the clusters the running daemon is a member of: open clusters (joined with\n" +
			"`unode daemon --cluster NAME`) and owned ones (--cluster NAME --membership TOKEN),\n" +
			"with each owned cluster's owner and membership token. `unode cluster ls NAME`\n" +
			"lists a cluster's members.",
		Example: "  unode cluster\n  unode cluster ls stats\n  unode cluster ls stats --owner 12D3KooW... --json",
		Args:    cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, clustersOp, &clustersRequest{})
		}),
	}
	cmd.AddCommand(clusterLsCmd(e))
	return cmd
}

func clusterLsCmd(e *env) *cobra.Command {
	var owner string
	cmd := &cobra.Command{
		Use:   "ls NAME",
		Short: "List a cluster's members with their load and ping time",
		Long: "List the members of the open cluster NAME (with --owner PEER, of PEER's cluster\n" +
			"NAME) as provision sees them: the peers the DHT lists under the cluster's key that\n" +
			"answer within a short deadline and confirm their membership (for an owned cluster,\n" +
			"prove it with a membership token from the owner). Each line gives the member's\n" +
			"peer ID, the load it states (0 idle, 1 busy) and the ping time from this node.\n" +
			"--json prints {\"cluster\", \"owner\", \"members\": [{\"id\", \"load\", \"pingMs\", \"self\"}]}.\n" +
			"Needs `unode daemon`.",
		Example: "  unode cluster ls stats\n  unode cluster ls stats --owner 12D3KooW...",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, clusterLsOp, &clusterLsRequest{Name: args[0], Owner: owner})
		}),
	}
	cmd.Flags().StringVar(&owner, "owner", "", "the cluster's owner (peer ID): list the owned cluster NAME of that peer")
	return cmd
}
