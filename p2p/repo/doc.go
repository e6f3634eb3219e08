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
// The first Open of a missing directory creates it. Only one process opens
// a repo at a time; a second gets ErrLocked and should talk to the first
// through its local API instead.
package repo
