package dag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// memChunks is a block getter over the chunks of one encoding, counting
// reads.
type memChunks struct {
	blocks map[cid.Cid][]byte
	reads  int
}

func newMemChunks(bs ...Block) *memChunks {
	m := &memChunks{blocks: map[cid.Cid][]byte{}}
	for _, b := range bs {
		m.blocks[b.CID] = b.Data
	}
	return m
}

func (m *memChunks) get(_ context.Context, c cid.Cid) ([]byte, error) {
	m.reads++
	d, ok := m.blocks[c]
	if !ok {
		return nil, fmt.Errorf("%s: %w", c, ErrNotFound)
	}
	return d, nil
}

func (m *memChunks) put(x any) cid.Cid {
	data, err := marshal(newEnvelope(ChunkBlockKind, fieldChunk, x), MaxBlockSize)
	if err != nil {
		panic(err)
	}
	b := NewBlock(data)
	m.blocks[b.CID] = data
	return b.CID
}

// roundTrip encodes v with chunks, decodes the envelope and reads its
// chunks back.
func roundTrip(t *testing.T, v Value) (Value, *EncodedValue) {
	t.Helper()
	ev, err := EncodeValueChunked(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range ev.Chunks {
		if err := ValidateBlock(b.Data); err != nil {
			t.Fatalf("chunk block %s outside the schema: %v", b.CID, err)
		}
	}
	w, err := DecodeValue(ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := ValueLinks(w); !reflect.DeepEqual(got, ev.Links) {
		t.Fatalf("links of the decoded value %v, of the encoding %v", got, ev.Links)
	}
	r := &ChunkReader{Get: newMemChunks(ev.Chunks...).get}
	out, err := r.Value(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	return out, ev
}

func bigText(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()[:n]
}

func TestChunkedValuesRoundTrip(t *testing.T) {
	text := bigText(3<<20 + 12345)
	runes := "x" + strings.Repeat("é", 1<<20) // runes straddle the leaves
	ints := make([]Value, 200_000)
	for i := range ints {
		ints[i] = &VInt{V: int64(i)}
	}
	keys, vals := make([]Value, 30_000), make([]Value, 30_000)
	for i := range keys {
		keys[i] = &VInt{V: int64(i)}
		vals[i] = &VText{V: fmt.Sprint("value ", i)}
	}
	cases := []struct {
		name   string
		v      Value
		chunks int // at least
	}{
		{"text", &VText{V: text}, 13},
		{"multibyte text", &VText{V: runes}, 3}, // equal leaves are one block
		{"bytes", &VBytes{V: []byte(text)}, 13},
		{"list of ints", &VList{Elems: ints}, 3},
		{"map", &VMap{Keys: keys, Vals: vals}, 2},
		{"list of big texts", &VList{Elems: []Value{&VText{V: text[:100_000]}, &VText{V: text[1:200_000]}}}, 2},
		{"tuple sharing a text", &VTuple{Elems: []Value{&VText{V: text}, &VText{V: text}}}, 13},
		{"closure over a text", &VClosure{Code: &Delay{Body: &App{Fn: &Builtin{Name: "Text.size"}, Args: []Term{&Var{Index: 0}, &Text{V: text[:70_000]}}}}, Env: []Value{&VText{V: text}}}, 14},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, ev := roundTrip(t, c.v)
			if !reflect.DeepEqual(out, c.v) {
				t.Fatal("the value read back differs")
			}
			if len(ev.Chunks) < c.chunks {
				t.Fatalf("%d chunk blocks, want at least %d", len(ev.Chunks), c.chunks)
			}
			if len(ev.Data) > 4096 {
				t.Fatalf("envelope of %d bytes: the large parts should be chunks", len(ev.Data))
			}
		})
	}
}

// Small values keep the encoding they had before chunking existed.
func TestSmallValuesUnchanged(t *testing.T) {
	for _, v := range []Value{
		&VText{V: strings.Repeat("a", ChunkThreshold)},
		&VBytes{V: bytes.Repeat([]byte{1}, ChunkThreshold)},
		&VList{Elems: []Value{&VInt{V: 1}, &VText{V: "x"}}},
		&VMap{Keys: []Value{&VInt{V: 1}}, Vals: []Value{&VUnit{}}},
	} {
		old, err := EncodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := EncodeValueChunked(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, ev.Data) || len(ev.Chunks) != 0 {
			t.Fatalf("%T: encoding changed", v)
		}
	}
	// One byte over the threshold is chunked.
	ev, err := EncodeValueChunked(&VText{V: strings.Repeat("a", ChunkThreshold+1)})
	if err != nil || len(ev.Chunks) != 1 {
		t.Fatalf("%v, %d chunks", err, len(ev.Chunks))
	}
}

// Equal large parts are equal chunks: a value holding the same text
// twice, or two values holding it, name the same blocks.
func TestChunksDeduplicate(t *testing.T) {
	text := bigText(1 << 20)
	a, err := EncodeValueChunked(&VTuple{Elems: []Value{&VText{V: text}, &VText{V: text}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeValueChunked(&VList{Elems: []Value{&VInt{V: 1}, &VText{V: strings.Clone(text)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Chunks) != 5 { // 4 leaves, 1 interior
		t.Fatalf("%d chunks for one 1 MiB text held twice, want 5", len(a.Chunks))
	}
	seen := map[cid.Cid]bool{}
	for _, c := range a.Chunks {
		seen[c.CID] = true
	}
	for _, c := range b.Chunks {
		if !seen[c.CID] {
			t.Fatalf("chunk %s of the same text differs", c.CID)
		}
	}
}

// A declared size beyond the reader's budget is refused before any
// chunk is read or anything is allocated for it.
func TestChunkBudgetBeforeAllocation(t *testing.T) {
	m := newMemChunks()
	leaf := m.put([]any{int64(ctagData), bytes.Repeat([]byte{'a'}, ChunkLeafSize)})
	for _, kind := range []ChunkKind{ChunkText, ChunkList} {
		v := &VTuple{Elems: []Value{&VInt{V: 1}, &VChunked{Kind: kind, Count: 1 << 29, Root: leaf}}}
		r := &ChunkReader{Get: m.get, Limit: 50 << 20}
		if d := DeclaredChunkBytes(v); d <= r.Limit {
			t.Fatalf("declared %d", d)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := r.Value(context.Background(), v)
		runtime.ReadMemStats(&after)
		var be *ChunkBudgetError
		if !errors.As(err, &be) || !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%s: %v, want a budget error", kind, err)
		}
		if m.reads != 0 {
			t.Fatalf("%s: %d chunks read before the refusal", kind, m.reads)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
			t.Fatalf("%s: %d bytes allocated for a refused value", kind, alloc)
		}
	}
}

// Hostile trees: lying counts, trees too high, heights that do not
// descend, non-canonical shapes, the same leaf many times, a missing
// chunk, wrong kinds. Each is refused, none reads more than it declared.
func TestChunkTreeAttacks(t *testing.T) {
	m := newMemChunks()
	full := bytes.Repeat([]byte{'a'}, ChunkLeafSize)
	leaf := m.put([]any{int64(ctagData), full})
	half := m.put([]any{int64(ctagData), full[:1000]})
	link := func(c cid.Cid) any { l, _ := encodeLink(c); return l }
	interior := func(h int64, kids ...any) cid.Cid {
		return m.put(append([]any{int64(ctagInterior), h}, kids...))
	}
	good := interior(1, int64(ChunkLeafSize), link(leaf), int64(1000), link(half))
	// A chain of single-child interiors, as high as allowed.
	deep := leaf
	for h := int64(1); h <= MaxChunkHeight; h++ {
		deep = interior(h, int64(ChunkLeafSize), link(deep))
	}
	// The same leaf a thousand times: 256 MiB from 257 KiB of blocks
	// (canonical: it is how 256 MiB of 'a' is chunked), refused by budget.
	var bomb []any
	for range 1000 {
		bomb = append(bomb, int64(ChunkLeafSize), link(leaf))
	}
	bombRoot := interior(1, bomb...)
	elems := m.put([]any{int64(ctagElems), []any{int64(vtagInt), int64(1)}})
	missing := NewBlock([]byte("absent")).CID
	cases := []struct {
		name string
		ref  *VChunked
		want error
	}{
		{"good", &VChunked{Kind: ChunkText, Count: ChunkLeafSize + 1000, Root: good}, nil},
		{"count too small", &VChunked{Kind: ChunkText, Count: ChunkLeafSize + 999, Root: good}, ErrMalformed},
		{"count too large", &VChunked{Kind: ChunkText, Count: ChunkLeafSize + 1001, Root: good}, ErrMalformed},
		{"non-canonical chain", &VChunked{Kind: ChunkText, Count: ChunkLeafSize, Root: deep}, ErrMalformed},
		{"short leaf first", &VChunked{Kind: ChunkText, Count: ChunkLeafSize + 1000, Root: interior(1, int64(1000), link(half), int64(ChunkLeafSize), link(leaf))}, ErrMalformed},
		{"bomb over budget", &VChunked{Kind: ChunkBytes, Count: 1000 * ChunkLeafSize, Root: bombRoot}, ErrTooLarge},
		{"missing chunk", &VChunked{Kind: ChunkText, Count: ChunkThreshold + 1, Root: missing}, ErrNotFound},
		{"elements for text", &VChunked{Kind: ChunkText, Count: ChunkThreshold + 1, Root: elems}, ErrMalformed},
		{"bytes for a list", &VChunked{Kind: ChunkList, Count: 1, Root: half}, ErrMalformed},
		{"small list chunked", &VChunked{Kind: ChunkList, Count: 1, Root: elems}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limit := int64(300 << 20)
			if c.name == "bomb over budget" {
				limit = 10 << 20
			}
			m.reads = 0
			r := &ChunkReader{Get: m.get, Limit: limit}
			_, err := r.Value(context.Background(), c.ref)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
			if r.Used() > limit {
				t.Fatalf("charged %d past the limit %d", r.Used(), limit)
			}
		})
	}
	// Too high: a height past MaxChunkHeight does not decode.
	tooHigh := interior(MaxChunkHeight+1, int64(ChunkLeafSize), link(deep))
	r := &ChunkReader{Get: m.get}
	if _, err := r.Value(context.Background(), &VChunked{Kind: ChunkText, Count: ChunkLeafSize, Root: tooHigh}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("too high: %v", err)
	}
	// A height that does not descend: an interior of height 2 over a leaf.
	skip := interior(2, int64(ChunkLeafSize), link(leaf), int64(1000), link(half))
	if _, err := r.Value(context.Background(), &VChunked{Kind: ChunkText, Count: ChunkLeafSize + 1000, Root: skip}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("height skip: %v", err)
	}
}

// A 2 MiB literal: chunked in its definition block, read back by
// LoadTerm, the block and its chunks within the schema, and the closure
// invariant covering the chunks.
func TestChunkedLiteral(t *testing.T) {
	ctx := context.Background()
	s, _ := newMemStore(t)
	text := bigText(2 << 20)
	term := &App{Fn: &Builtin{Name: "Text.size"}, Args: []Term{&Text{V: text}}}
	data, chunks, err := EncodeTermBlockChunked(&TermBlock{Members: []Term{term}})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 1024 || len(chunks) != 9 {
		t.Fatalf("block of %d bytes with %d chunks", len(data), len(chunks))
	}
	blk := NewBlock(data)
	if err := s.AddBlocks(ctx, []Block{blk}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsComplete(ctx, blk.CID); ok {
		t.Fatal("complete without its chunks")
	}
	if err := s.AddBlocks(ctx, append(chunks, blk)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsComplete(ctx, blk.CID); !ok {
		t.Fatal("not complete with its chunks")
	}
	got, err := s.LoadTerm(ctx, DefRef{CID: blk.CID})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, term) {
		t.Fatal("the literal read back differs")
	}
	cl, err := s.ClosureOf(ctx, blk.CID)
	if err != nil || len(cl) != 10 {
		t.Fatalf("closure of %d blocks (%v), want the block and its 9 chunks", len(cl), err)
	}
}
