package dag

// Bounds on what the codec and the store accept. Each is a defence against
// hostile or broken input from the network; none should be hit by real
// programs.
const (
	// MaxBlockSize bounds one encoded block. It matches the common IPFS
	// block size limit, so blocks can travel over bitswap-like transfers
	// and decode in bounded memory (the generic decoder allocates a few
	// times the encoded size). A definition bigger than this should be
	// split into several definitions.
	MaxBlockSize = 1 << 20

	// MaxValueSize bounds one encoded value (arguments, results, channel
	// messages). Values are sent inline until large sub-values are split
	// into their own blocks, so this is larger than MaxBlockSize; it still
	// keeps one message's decoding cost to tens of MB.
	MaxValueSize = 4 << 20

	// MaxNesting bounds CBOR nesting (arrays and maps; tag 42 does not
	// count, matching fxamacker/cbor's MaxNestedLevels). The parser caps
	// source nesting at 1000, and a term nests at most ~3 CBOR levels per
	// source level (App and Match arrays); long let chains add one per
	// binding. 10000 leaves room for that and for values such as
	// user-defined lists of a few thousand cells, while keeping the
	// recursive decoder and encoder to a few MB of goroutine stack.
	MaxNesting = 10000

	// MaxArrayLen bounds the declared length of one CBOR array. Every
	// element takes at least one byte, so no valid value can exceed the
	// largest input size; the cap only stops a lying header early.
	MaxArrayLen = MaxValueSize

	// MaxMapPairs bounds one CBOR map. Our maps are envelopes with at most
	// three keys; the slack allows future optional fields while keeping
	// duplicate-key detection cheap.
	MaxMapPairs = 64

	// MaxNameLen bounds one namespace name in bytes. Names are qualified
	// identifiers; this only keeps datastore keys reasonable.
	MaxNameLen = 1024

	// MaxHints bounds the number of local-variable name hints kept for one
	// definition; hints are decoration for `show`, not semantics.
	MaxHints = 1 << 16

	// Decoded-block cache (LoadTerm/LoadType): at most this many blocks and
	// this many encoded bytes. Decoded terms are several times larger than
	// their encoding, so the byte cap keeps the cache to a few hundred MB
	// in the worst case and far less for real definitions (~1 KB each).
	cacheMaxBlocks = 4096
	cacheMaxBytes  = 32 << 20
)

// Source positions (positions.go; issue 13).
const (
	// MaxPositions bounds the nodes one definition's position table may
	// have. A table has one entry per term node, and a definition block
	// is at most MaxBlockSize bytes with at least one byte per node, so
	// real tables are far smaller; the bound keeps a corrupt table from
	// costing more than a few MiB to decode.
	MaxPositions = 1 << 20
)

// Chunked values (chunk.go; issue 11).
const (
	// ChunkThreshold: a Text or Bytes longer than this many bytes, and a
	// List or Map whose inline encoding is longer, travels as chunk
	// blocks. 64 KiB keeps every small value (and every value that
	// encoded before chunking existed, up to this size) inline and
	// byte-for-byte unchanged, while a value large enough to be worth
	// deduplicating is stored and sent once.
	ChunkThreshold = 64 << 10

	// ChunkLeafSize is the payload of one leaf: the bytes of a data leaf,
	// the most encoded units an element leaf takes (unless one unit
	// alone is larger). A quarter of MaxBlockSize: any leaf fits a block
	// with room for its envelope, and a 50 MB value is 200 leaves.
	ChunkLeafSize = 256 << 10

	// ChunkFanout bounds the children of an interior chunk node: 1024
	// entries of about 45 bytes make a 46 KB block, and two levels cover
	// 256 GiB of data leaves.
	ChunkFanout = 1024

	// MaxChunkHeight bounds the height of a chunk tree (a leaf is 0).
	// Four levels of ChunkFanout cover far more than MaxChunkedBytes;
	// the bound stops a hostile tree from making a reader walk deep.
	MaxChunkHeight = 4

	// MaxChunkedBytes bounds one chunked value: the decoded size a chunk
	// reference may declare, in bytes for Text and Bytes and in units
	// for a List or Map, and the chunk bytes one encoding may produce.
	// Readers apply their own, usually smaller, budgets (ChunkReader)
	// before they read a chunk; this bound is what no budget can lift.
	MaxChunkedBytes = 1 << 30

	// MaxChunkBlocks bounds the chunk blocks one ChunkReader reads: a
	// value of MaxChunkedBytes in full leaves is 4096 leaves; the slack
	// covers element leaves, which may be small.
	MaxChunkBlocks = 1 << 20
)
