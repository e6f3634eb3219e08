package main

import (
	"github.com/spf13/cobra"
)

func idCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Print the node's peer ID, its listen addresses and its store ID",
		Long: "Print the node's peer ID, its store ID and, while `unode daemon` runs, the full\n" +
			"multiaddrs it listens on (ending in /p2p/<id>, usable as given by `unode connect`\n" +
			"and `--at`). Without a daemon the node is not listening and the list is empty.",
		Args: cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, idOp, &idRequest{})
		}),
	}
}

func connectCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "connect MULTIADDR",
		Short:   "Connect the running daemon to a peer at a /p2p/ multiaddr",
		Example: "  unode connect /ip4/192.0.2.7/tcp/4100/p2p/12D3KooW...",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, connectOp, &connectRequest{Addr: args[0]})
		}),
	}
}

func peersCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the peers the running daemon is connected to",
		Args:  cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, peersOp, &peersRequest{})
		}),
	}
}
