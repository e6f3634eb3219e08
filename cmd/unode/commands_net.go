package main

import (
	"github.com/spf13/cobra"
)

func idCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "id [PEER]",
		Short: "Print the node's peer ID, addresses, store ID and version, or what another peer says it is",
		Long: "Print the node's peer ID, its store ID, public key, agent version (unode/<version>),\n" +
			"protocol version and protocols and, while `unode daemon` runs, the full multiaddrs it\n" +
			"listens on (ending in /p2p/<id>, usable as given by `unode connect` and `--at`).\n" +
			"Without a daemon the node is not listening and the list is empty.\n\n" +
			"With PEER (a peer ID, or a multiaddr ending in /p2p/<id>) the running daemon\n" +
			"connects to that peer if it is not connected (at the address given, one it knows,\n" +
			"or one the DHT finds) and prints what the peer stated in libp2p's identify: its\n" +
			"agent version, protocol version, protocols and listen addresses, with its public key.",
		Example: "  unode id\n  unode id --json\n  unode id 12D3KooW...\n  unode id /ip4/192.0.2.7/tcp/4100/p2p/12D3KooW...",
		Args:    cobra.MaximumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			req := &idRequest{}
			if len(args) > 0 {
				req.Peer = args[0]
			}
			return invoke(e, idOp, req)
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
