// Package p2p is the unode node: the codebase (blockstore, namespace and
// evaluator over one datastore) and, around it, the libp2p host, its
// protocols and the DHT.
//
// Codebase is the node-local part: add source files, list and show names,
// evaluate expressions under a budget. Everything a CLI command or an
// embedding Go program does locally goes through it, so the daemon's API
// and the direct path share one implementation.
//
// Node (New) is a libp2p host whose peer ID is the node's identity, with a
// Codebase whose effect host reaches the network: `at n t` in a program
// sends the thunk t to node n over /unode/eval/1.0.0 and completes a
// future with the result; EvalAt and RunAt do the same from Go. The
// protocols, their messages, limits and error codes are specified in
// docs/protocol.md; the files follow it:
//
//	messages.go   wire messages: strict CBOR encode/decode and validation
//	frames.go     varint-length framing with caps and memory reservation
//	evalproto.go  /unode/eval/1.0.0, caller (callThunk) and callee (serveEval)
//	caps.go       the sandbox of a foreign evaluation: tokens, linking,
//	              run-time checks, its host, budgets, audit
//	fetch.go      /unode/blocks/1.0.0: one exchange, asker and provider
//	fetchclosure.go  FetchClosure: providers in turn, resume, rejection
//	fetchforeign.go  the callee fetching what a caller named without it
//	absent.go     code named by #CID that is not here, fetched first
//	publish.go    published and private code, AddWith, here!
//	data.go       node data (/data/<key>)
//	sync.go       the sync algorithm: planDeps, neededOf, result blocks
//	retain.go     bounded disk: pinned and unpinned blocks, per-peer
//	              quotas, eviction, repo gc and stat
//	admission.go  fair admission: trusted and unknown peers, stream gates,
//	              first-frame deadlines, evaluation slot shares
//	channels.go   channel IDs: random, tagged with their creator
//	status.go     /unode/status/1.0.0 (StoreID, load, version, clusters)
//	clusters.go   clusters: joining, finding and probing members,
//	              provision, pingTime, load, their effect host
//	choose.go     provision's choice among members (a pure function)
//	member.go     /unode/member/1.0.0: membership proofs of owned
//	              clusters, revocation questions to their owners
//	peers.go      what the node knows per peer: StoreID, load, blocks held
//	nethost.go    the eval.Host of a node's evaluations
//	remote.go     EvalAt, RunAt, CallOptions, budgets on the wire, SyncStats
//	errors.go     CallError and the wire error codes
//	limits.go     every bound, with its reason
//
// Invariants. A block is stored only after its bytes hash to its CID, and
// marked complete only when its whole closure is (dag's closure
// invariant), so "the callee has X complete" means it has everything X
// needs: one question per block decides a sync, whatever the DAG's depth.
// Nodes that share a datastore share a StoreID and, once a peer proves
// it with the store's secret (a StoreID is public: peers.go), never
// sync. Every stream has a deadline and a resource-manager service, every message a
// size cap checked before its body is read, and every failure that
// crosses the wire is typed (CallError, matching eval's sentinels so that
// await! sees the right Err). A foreign evaluation runs in the sandbox
// the node's policy (WithPolicy) and the caller's verified tokens give
// the authenticated caller: linked against it before any step runs,
// checked again at run time for code reached dynamically, under its
// budgets, on a host that checks every at/send target and data key; it
// may call `at` in turn where the sandbox allows. Every one is recorded in
// the audit log (Grants). The node's own code leaves it only in calls its
// own evaluations make, or when published (docs/security.md, "Private
// implementations"). A caller that goes away (its context is canceled,
// race picked another node, its node closed) resets the stream and the
// evaluation is canceled.
//
// Data layout: besides dag's keys and capabilities' (/grants, /revoked,
// /audit), the node keeps /data/<key> (node data), /published/<mh> and
// /received/<mh> (which blocks may be shared), and /unpinned/<mh>
// (blocks stored on another peer's say-so, evictable: retain.go) in its
// datastore.
package p2p
