// Package bitswap benchmarks unode's closure fetch (/unode/blocks/1.0.0)
// against boxo's bitswap on the same DAGs and the same libp2p hosts,
// through a loopback proxy that adds one-way latency
// (docs/benchmarks.md, "Closure fetch vs bitswap").
//
// It is a module of its own so that boxo, and the newer versions of
// shared dependencies it requires (go-libp2p-kad-dht among them), stay
// out of unode's go.mod: the benchmark builds unode from this checkout
// (the replace directive) with them, and nothing else does.
//
//	cd testground/bitswap && go test -run '^$' -bench . -benchtime 5x
package bitswap
