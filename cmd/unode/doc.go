// Command unode runs a unode node and talks to it.
//
// Commands are data: each is a cobra.Command whose RunE builds a request
// and invokes an operation (ops.go) that returns a typed result; the
// result prints as text, or as JSON with --json. Every failure exits
// non-zero with one line on stderr ("unode: ..." or, for source errors,
// "file:line:col: ..."); with --json that line is the local API's error
// object, {"code": CODE, "error": LINE} (cli.go). In JSON output CIDs are
// plain strings, never the language's #CID (jsonout.go).
//
// Each operation has one implementation, run against a backend: the repo,
// its codebase and, in the daemon, the p2p node. While `unode daemon` runs
// it holds the repo and serves the local API (api.go: JSON over HTTP on
// $UNODE_PATH/api.sock), and the other commands send their requests there;
// without a daemon they open the repo themselves, and the commands that
// need the network (connect, peers, eval/run --at) fail with a message
// saying to start the daemon.
//
// State the node consults on every request lives where both paths see
// it: node data, published marks, grants, revocations and the audit log
// in the repo's datastore (inside the daemon, through the node's own
// capabilities.Store, so a revocation applies to its next request), and
// the policy in config.json, which the daemon also hands to the running
// node (SetPolicy; changes serialized by backend.cfgMu).
//
// The repo is $UNODE_PATH or ~/.unode, created on first use.
// docs/cli.md documents every command and the API.
package main
