// Package testground holds unode's many-node test plans, each a module
// of its own so that their dependencies stay out of unode's go.mod:
//
//	unode/    the Testground plan (cases remote-eval, dht-discovery,
//	          channels, churn, shared-store), one process per instance
//	harness/  runs the plan here without Testground or Docker
//	          (go test), with latency and loss between instances
//	bitswap/  closure fetch against boxo's bitswap (a benchmark)
//
// See README.md in this directory.
package testground
