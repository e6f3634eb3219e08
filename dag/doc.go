// Package dag turns definitions into content-addressed blocks and keeps
// them: the normalized term language (term.go), the wire form of values
// (value.go), the compiler from syntax to blocks (compile.go), the
// DAG-CBOR codec (codec.go, value_codec.go), and the Store: blockstore,
// closure tracking, namespace and store identity over one go-datastore
// (store.go, names.go).
//
// # Canonical encoding
//
// Every block is DAG-CBOR and every value has exactly one encoding:
// definite lengths, shortest integers, floats always 64-bit, map keys
// sorted length-first then bytewise, links as tag 42 over a 0x00 byte and
// the binary CID, no other tags. Decoders are strict (duplicate keys,
// indefinite lengths, other tags, unknown term tags, wrong array sizes,
// nesting beyond MaxNesting and inputs beyond MaxBlockSize/MaxValueSize are
// rejected) and finish by re-encoding what they decoded and requiring the
// input bytes back, so non-canonical input is an error (*DecodeError,
// matching ErrMalformed). Hence a CID names one definition and one
// definition has one CID. Decoders never panic. The table of array tags
// lives at the top of codec.go and in docs/protocol.md ("Block format").
//
// A block is NewBlock(data): CIDv1, codec dag-cbor (0x71), sha2-256.
//
// # Closure invariant
//
// A block is marked complete only when every block it needs is complete,
// so "X is complete here" means the whole transitive closure of X is
// stored. What a block needs is its links (NeededLinks), except those
// that occur only inside a thunk sent to a fixed node (`at here! 'e`):
// that code runs only there, so holders of the block do not need it
// (here.go; docs/security.md, "Private implementations"). Put and AddBlocks hash every block and refuse mismatches,
// and blocks outside the block schema (ValidateBlock, schema.go: only term and
// type blocks whose links all name CIDv1 dag-cbor sha2-256 blocks are kept);
// markers are written after the blocks they describe (AddBlocks: one
// batch of blocks, then one batch of markers; MarkClosureComplete: one
// batch of markers over blocks already stored), so the invariant survives
// a crash between writes, and a batch is one write (one fsync on a synced
// datastore) whatever its size. Blocks that arrive
// before their dependencies are stored but stay incomplete until
// MarkComplete or MarkClosureComplete finds their closure. This turns "what do
// you lack under X?" into one question (MissingFrom) rather than one per
// DAG level. Evict removes blocks, markers first; the caller picks a set
// no kept complete block needs (p2p's collector of unpinned blocks).
//
// # Data layout
//
// Keys in the datastore:
//
//	/blocks/<mh>           block bytes
//	/complete/<mh>         marker: the block's closure is stored
//	/names/<name>          NameRef as CBOR [kind, link, member(, ctor, arity)]
//	/hints/<mh>/<member>   CBOR array of local-variable names, binder order (the latest source)
//	/hints/<mh>/<member>/<name> the same, as name's source wrote them (names.go, HintsFor)
//	/positions/<mh>/<member> CBOR [file, line, col, ...], one pair per node in Preorder (positions.go)
//	/forms/<mh>/<member>/<name> CBOR [node, form, ...], how name's source spelled nodes (forms.go)
//	/meta/storeid          the store's random identity (26 base32 chars)
//	/meta/storesecret      32 random bytes proving sharing (StoreSecret)
//
// <mh> is the block's sha2-256 multihash in upper-case unpadded base32,
// as in boxo's blockstore. Node data, grants and the audit log live in the
// same datastore under prefixes owned by other packages.
package dag
