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
