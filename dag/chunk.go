package dag

import (
	"fmt"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// Large values as blocks (docs/protocol.md, "Chunked values").
//
// A Text or Bytes longer than ChunkThreshold bytes, and a List or Map
// whose inline encoding would be longer than ChunkThreshold bytes, is
// written, when the encoder chunks (EncodeValueChunked, the compiler's
// term blocks), as a chunk reference
//
//	[17, kind, count, link]        value tag 17 (vtagChunked)
//	[21, kind, count, link]        term tag 21 (tagChunked; Text and Bytes literals)
//
// where kind is 0 Text, 1 Bytes, 2 List, 3 Map; count is the decoded
// length (bytes for Text and Bytes, elements for a List, pairs for a
// Map); link is the root of a tree of chunk blocks
//
//	{"unode": 1, "kind": "chunk", "chunk": node}
//
// whose node is one of
//
//	[0, bytes]                          a data leaf (Text is its UTF-8)
//	[1, u1, ..., uN]                    an element leaf, N >= 1: list
//	                                    elements, or map keys and values
//	                                    alternating (a pair never splits)
//	[2, height, c1, l1, ..., cN, lN]    an interior node, height >= 1,
//	                                    1 <= N <= ChunkFanout children
//	                                    (li, of height-1, holds ci units)
//
// The tree is canonical, so equal values have equal chunks: data leaves
// hold ChunkLeafSize bytes each, the last the rest; element leaves take
// units greedily while their encoded units total at most ChunkLeafSize
// bytes (at least one unit each); the leaves are then grouped by
// ChunkFanout, in order, into interior nodes of height 1, those into
// nodes of height 2, and so on until one node is left: the root (a lone
// leaf is its own root). Every chunk block is DAG-CBOR (CIDv1, codec
// 0x71, sha2-256) like any other block, so sync, the store's closure
// invariant and standard IPLD tools see chunk links as ordinary tag 42
// links.

// ChunkKind says what a chunked value decodes to.
type ChunkKind int

const (
	ChunkText  ChunkKind = 0
	ChunkBytes ChunkKind = 1
	ChunkList  ChunkKind = 2
	ChunkMap   ChunkKind = 3
)

func (k ChunkKind) String() string {
	switch k {
	case ChunkText:
		return "Text"
	case ChunkBytes:
		return "Bytes"
	case ChunkList:
		return "List"
	case ChunkMap:
		return "Map"
	}
	return fmt.Sprintf("chunk kind %d", int(k))
}

func (k ChunkKind) isData() bool { return k == ChunkText || k == ChunkBytes }

// Chunk node tags.
const (
	ctagData     = 0
	ctagElems    = 1
	ctagInterior = 2
)

const (
	fieldChunk = "chunk"
	// ChunkBlockKind is what BlockKind returns for a chunk block.
	ChunkBlockKind = "chunk"
)

// VChunked is a large Text, Bytes, List or Map held in chunk blocks: what
// DecodeValue returns for a chunk reference. ChunkReader.Value replaces it
// by the value its chunks hold; EncodeValue writes it back as the
// reference.
type VChunked struct {
	Kind  ChunkKind
	Count int64
	Root  cid.Cid
}

func (*VChunked) valueNode() {}

// ChunkedLit is a large Text or Bytes literal held in chunk blocks: what
// DecodeTermBlock returns for a chunked literal. Store.LoadTerm returns
// the *Text or *Bytes instead (ChunkReader.Term).
type ChunkedLit struct {
	Kind  ChunkKind
	Count int64
	Root  cid.Cid
}

func (*ChunkedLit) termNode() {}

// ChunkBudgetError is a chunked value whose decoded size exceeds what the
// reader may allocate. Nothing past Limit was allocated.
type ChunkBudgetError struct {
	Need, Limit int64
}

func (e *ChunkBudgetError) Error() string {
	return fmt.Sprintf("the value needs %d bytes once decoded, more than the %d allowed", e.Need, e.Limit)
}

func (e *ChunkBudgetError) Is(target error) bool { return target == ErrTooLarge }

// ---- encoding ----

// chunker collects the chunk blocks of one encoding. The same string,
// byte slice, list or map met twice (the evaluator shares them) is
// chunked once.
type chunker struct {
	blocks []Block
	seen   map[cid.Cid]bool
	memo   map[memoKey]any
	total  int64 // chunk bytes produced, at most MaxChunkedBytes
}

type memoKey struct {
	p    unsafe.Pointer
	n    int
	kind ChunkKind
}

func newChunker() *chunker {
	return &chunker{seen: map[cid.Cid]bool{}, memo: map[memoKey]any{}}
}

func (c *chunker) add(x any) (cid.Cid, error) {
	data, err := marshal(newEnvelope(ChunkBlockKind, fieldChunk, x), MaxBlockSize)
	if err != nil {
		return cid.Undef, err
	}
	c.total += int64(len(data))
	if c.total > MaxChunkedBytes {
		return cid.Undef, &EncodeError{Msg: fmt.Sprintf("chunks exceed %d bytes", MaxChunkedBytes), Err: ErrTooLarge}
	}
	b := NewBlock(data)
	if !c.seen[b.CID] {
		c.seen[b.CID] = true
		c.blocks = append(c.blocks, b)
	}
	return b.CID, nil
}

type chunkRef struct {
	c     cid.Cid
	count int64
}

// tree groups nodes of height h into interior nodes until one is left.
func (c *chunker) tree(level []chunkRef) (cid.Cid, error) {
	for h := 1; len(level) > 1; h++ {
		if h > MaxChunkHeight {
			return cid.Undef, invalid("chunk tree higher than %d", MaxChunkHeight)
		}
		var next []chunkRef
		for i := 0; i < len(level); i += ChunkFanout {
			group := level[i:min(i+ChunkFanout, len(level))]
			node := append(make([]any, 0, 2+2*len(group)), int64(ctagInterior), int64(h))
			var n int64
			for _, r := range group {
				l, err := encodeLink(r.c)
				if err != nil {
					return cid.Undef, err
				}
				node = append(node, r.count, l)
				n += r.count
			}
			id, err := c.add(node)
			if err != nil {
				return cid.Undef, err
			}
			next = append(next, chunkRef{id, n})
		}
		level = next
	}
	return level[0].c, nil
}

func chunkRefForm(tag int64, kind ChunkKind, count int64, root cid.Cid) (any, error) {
	l, err := encodeLink(root)
	if err != nil {
		return nil, err
	}
	return []any{tag, int64(kind), count, l}, nil
}

// data chunks s (a Text's UTF-8 or a Bytes) and returns the reference.
func (c *chunker) data(tag int64, kind ChunkKind, s string) (any, error) {
	key := memoKey{unsafe.Pointer(unsafe.StringData(s)), len(s), kind}
	if ref, ok := c.memo[key]; ok && tag == vtagChunked {
		return ref, nil
	}
	var leaves []chunkRef
	for i := 0; i < len(s); i += ChunkLeafSize {
		part := s[i:min(i+ChunkLeafSize, len(s))]
		id, err := c.add([]any{int64(ctagData), []byte(part)})
		if err != nil {
			return nil, err
		}
		leaves = append(leaves, chunkRef{id, int64(len(part))})
	}
	root, err := c.tree(leaves)
	if err != nil {
		return nil, err
	}
	ref, err := chunkRefForm(tag, kind, int64(len(s)), root)
	if err != nil {
		return nil, err
	}
	if tag == vtagChunked {
		c.memo[key] = ref
	}
	return ref, nil
}

// elems chunks the encoded units of a list (one element each) or a map
// (key and value each, per pair). sizes are their encoded sizes.
func (c *chunker) elems(kind ChunkKind, units []any, per int) (any, error) {
	var leaves []chunkRef
	for i := 0; i < len(units); {
		node := []any{int64(ctagElems)}
		size := 0
		j := i
		for j < len(units) {
			s := 0
			for k := j; k < j+per; k++ {
				s += cborSize(units[k])
			}
			if j > i && size+s > ChunkLeafSize {
				break
			}
			node = append(node, units[j:j+per]...)
			size += s
			j += per
		}
		id, err := c.add(node)
		if err != nil {
			return nil, err
		}
		leaves = append(leaves, chunkRef{id, int64((j - i) / per)})
		i = j
	}
	root, err := c.tree(leaves)
	if err != nil {
		return nil, err
	}
	return chunkRefForm(vtagChunked, kind, int64(len(units)/per), root)
}

// EncodedValue is a value encoded with its large parts as chunk blocks.
type EncodedValue struct {
	// Data is the value's envelope, as EncodeValue makes it but for
	// chunk references; within MaxValueSize.
	Data []byte
	// Chunks are the chunk blocks, each once, in no particular order.
	Chunks []Block
	// Links is ValueLinks of the value as Data encodes it: its code and
	// types, and the roots of its chunk trees.
	Links []cid.Cid
}

// EncodeValueChunked encodes v like EncodeValue, but writes each Text and
// Bytes longer than ChunkThreshold, and each List and Map whose inline
// encoding would be longer, as a chunk reference (chunk.go). A value with
// no such part encodes exactly as EncodeValue encodes it. The chunks
// total at most MaxChunkedBytes.
func EncodeValueChunked(v Value) (*EncodedValue, error) {
	e := newEncoder(MaxValueSize)
	e.chunks = newChunker()
	n, err := e.encodeValue(v, 2)
	if err != nil {
		return nil, err
	}
	data, err := marshal(newEnvelope(ValueBlockKind, fieldValue, n), MaxValueSize)
	if err != nil {
		return nil, err
	}
	out := &EncodedValue{Data: data, Chunks: e.chunks.blocks}
	if len(out.Chunks) == 0 {
		out.Links = ValueLinks(v)
	} else if out.Links, err = Links(data); err != nil {
		return nil, err
	}
	return out, nil
}

// EncodeTermBlockChunked encodes a definition block like EncodeTermBlock,
// but writes each Text and Bytes literal longer than ChunkThreshold as a
// chunk reference, returning the chunk blocks (dependencies of the block)
// with it. A block without such literals encodes as EncodeTermBlock does.
func EncodeTermBlockChunked(b *TermBlock) ([]byte, []Block, error) {
	if b == nil || len(b.Members) == 0 {
		return nil, nil, invalid("term block with no members")
	}
	e := newEncoder(MaxBlockSize)
	e.chunks = newChunker()
	members := make([]any, len(b.Members))
	for i, t := range b.Members {
		n, err := e.encodeTerm(t, 4)
		if err != nil {
			return nil, nil, err
		}
		members[i] = map[string]any{fieldTerm: n}
	}
	data, err := marshal(newEnvelope(TermBlockKind, fieldMembers, members), MaxBlockSize)
	if err != nil {
		return nil, nil, err
	}
	return data, e.chunks.blocks, nil
}

// chunkLiteral is encodeTerm's case for a Text or Bytes literal when the
// encoder chunks: nil when s stays inline.
func (e *encoder) chunkLiteral(kind ChunkKind, s string) (any, error) {
	if e.chunks == nil || len(s) <= ChunkThreshold {
		return nil, nil
	}
	if kind == ChunkText {
		if _, err := encodeText(s, "Text"); err != nil {
			return nil, err
		}
	}
	if err := e.charge(chunkRefBytes); err != nil {
		return nil, err
	}
	return e.chunks.data(tagChunked, kind, s)
}

// chunkRefBytes bounds the encoded size of a chunk reference.
const chunkRefBytes = 64

// cborSize is the length of the canonical encoding of a generic item.
func cborSize(x any) int {
	switch x := x.(type) {
	case nil, bool:
		return 1
	case float64:
		return 9
	case uint64:
		return headSize(x)
	case int64:
		if x < 0 {
			return headSize(uint64(-1 - x))
		}
		return headSize(uint64(x))
	case int:
		return cborSize(int64(x))
	case string:
		return headSize(uint64(len(x))) + len(x)
	case []byte:
		return headSize(uint64(len(x))) + len(x)
	case []any:
		n := headSize(uint64(len(x)))
		for _, e := range x {
			n += cborSize(e)
		}
		return n
	case map[string]any:
		n := headSize(uint64(len(x)))
		for k, v := range x {
			n += cborSize(k) + cborSize(v)
		}
		return n
	}
	if t, ok := x.(cbor.Tag); ok {
		return headSize(t.Number) + cborSize(t.Content)
	}
	return 0 // not produced by the encoder
}

func headSize(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}
