// Package p2p is the unode node: the codebase (blockstore, namespace and
// evaluator over one datastore) and, around it, the libp2p host, its
// protocols and the DHT.
//
// Codebase is the node-local part: add source files, list and show names,
// evaluate expressions under a budget. Everything a CLI command or an
// embedding Go program does locally goes through it, so the daemon's API
// and the direct path share one implementation.
package p2p
