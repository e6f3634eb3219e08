// Command unode is the unode Testground plan: many-node scenarios, one
// process per instance, run by Testground (local:exec, local:docker,
// cluster:k8s) or by the harness in ../harness (go test, no Docker).
// See ../README.md.
package main
