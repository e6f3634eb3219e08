// Package repo opens a unode repository: the directory that holds a node's
// identity key, its configuration and its datastore.
//
// Layout (the directory is $UNODE_PATH, or ~/.unode when unset):
//
//	key          the node's libp2p private key (protobuf, mode 0600); its
//	             peer ID is the node's identity
//	config.json  configuration (docs/config.md)
//	repo.lock    held (flock) by the process that has the repo open
//	datastore/   the embedded pebble datastore: blocks, names, node data,
//	             published marks, grants, revocations, the audit log
//	version      the repo format version
//
// The datastore may instead be a PostgreSQL database (package pgds),
// which nodes on several machines share: chosen by Options.Store (`unode
// daemon --store`), else $UNODE_STORE, else the config's "datastore"
// (store.go). The key, config and lock stay in the directory: each node
// sharing the store keeps its own identity.
//
// The first Open of a missing directory creates it, under the lock. Only
// one process opens a repo at a time; a second gets ErrLocked at once, and
// either waits and retries (the CLI does, bounded) or talks to the first
// through its local API.
//
// Invariants:
//   - Private: directories are 0700 and files 0600, pebble's included (its
//     file system is wrapped: privateFS); Open restricts whatever it finds
//     readable by group or others and lists it in Repo.Tightened.
//   - Durable: the datastore syncs every write before returning (pebble's
//     Sync write option, with its group commit; a PostgreSQL store's
//     writes are committed transactions), and config, key and
//     version files are replaced by a synced temporary file renamed over
//     them, the directory synced after. What a Repo's user acknowledges
//     after a write returns survives kill -9 and power loss.
package repo
