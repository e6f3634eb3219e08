package discovery

import (
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Rendezvous keys of clusters (docs/protocol.md, "The DHT"). A cluster's
// members provide its key; finding its providers lists them. The keys are
// CIDv1 with the raw codec over a sha2-256 digest, so that they can never
// be the CID of a block (blocks are dag-cbor) and a provider record for a
// cluster is never mistaken for one of code.
const (
	openClusterTag  = "unode/cluster/v1/open\x00"
	ownedClusterTag = "unode/cluster/v1/owned\x00"
)

// OpenClusterKey is the rendezvous key of the open cluster name:
// sha2-256("unode/cluster/v1/open\x00" + name).
func OpenClusterKey(name string) cid.Cid {
	return rawKey([]byte(openClusterTag + name))
}

// OwnedClusterKey is the rendezvous key of the cluster name owned by
// owner: sha2-256("unode/cluster/v1/owned\x00" + owner's peer ID bytes +
// "\x00" + name). Owners differ in their keys, so one owner's members
// never show up under another's cluster of the same name.
func OwnedClusterKey(owner peer.ID, name string) cid.Cid {
	b := make([]byte, 0, len(ownedClusterTag)+len(owner)+1+len(name))
	b = append(b, ownedClusterTag...)
	b = append(b, owner...)
	b = append(b, 0)
	b = append(b, name...)
	return rawKey(b)
}

func rawKey(b []byte) cid.Cid {
	h, err := mh.Sum(b, mh.SHA2_256, -1)
	if err != nil {
		panic(err) // sha2-256 is always available
	}
	return cid.NewCidV1(cid.Raw, h)
}
