// Package discovery is a node's Kademlia DHT: how unode nodes find each
// other (peer routing), the code they publish (provider records for root
// CIDs) and the clusters they join (provider records for rendezvous keys,
// keys.go). It wraps github.com/libp2p/go-libp2p-kad-dht and knows nothing
// of unode's protocols: p2p uses it through Provide, FindProviders,
// FindPeer, and the routed host built on FindPeer.
//
// Invariants.
//
//   - The network is private: the protocol is "/unode/kad/1.0.0"
//     (Config.ProtocolPrefix), and the only peers dialed to join are the
//     configured bootstrap peers and the ones this node saved; nothing
//     reaches the public IPFS DHT unless the prefix is "/ipfs".
//   - Joining never fails the node: with no bootstrap peers it is alone
//     (and answers whoever connects to it); a bootstrap peer that is down
//     is retried with exponential backoff until it answers (bootstrap.go).
//   - What a peer can make this node keep is bounded: provider records per
//     peer and in all (providerstore.go, limits.go), routing-table places
//     per IP group (diversity.go); the DHT's inbound streams pass the
//     node's admission (Config.WrapHandler) and its resource manager.
//   - Provide is one announcement; records expire (ProvideValidity at the
//     peers that keep them), so the caller re-announces (p2p/announce.go).
//   - FindProviders never returns this node itself.
//
// Data layout, in the node's datastore under /dht:
//
//	/dht/providers/<base32 key>/<base32 peer ID>  a provider record
//	          (kad-dht's layout; value: varint Unix nanoseconds when it was
//	          received); written in batches (providerstore.go)
//	/dht/routing-table/<peer ID>  this node's routing-table snapshot
//	          (strict CBOR, table.go), saved every SaveInterval and on Close
//
// kad-dht's value records are disabled on unode's network (no /dht/pk,
// /dht/ipns).
package discovery
