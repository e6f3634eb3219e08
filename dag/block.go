package dag

import (
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Block is an encoded block and its content address. A Block made by
// NewBlock is correct by construction; one received from elsewhere is
// checked by Store.Put.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// cidPrefix is the only kind of CID unode makes and stores.
var cidPrefix = cid.Prefix{
	Version:  1,
	Codec:    cid.DagCBOR,
	MhType:   mh.SHA2_256,
	MhLength: -1,
}

// NewBlock addresses data as a CIDv1 with codec dag-cbor (0x71) and a
// sha2-256 multihash. It does not check that data is DAG-CBOR.
func NewBlock(data []byte) Block {
	return Block{CID: SumCID(data), Data: data}
}

// SumCID returns the CID NewBlock would give data.
func SumCID(data []byte) cid.Cid {
	c, err := cidPrefix.Sum(data)
	if err != nil {
		// sha2-256 with the default length cannot fail.
		panic("dag: hashing block: " + err.Error())
	}
	return c
}

// supportedCID reports whether c is of the kind NewBlock makes.
func supportedCID(c cid.Cid) bool {
	// CIDv1 (0x01), dag-cbor (0x71), sha2-256 (0x12) of 32 bytes (0x20):
	// 36 bytes in all, read in place.
	ks := c.KeyString()
	return len(ks) == 36 && ks[:4] == supportedCIDHead
}

const supportedCIDHead = "\x01\x71\x12\x20"
