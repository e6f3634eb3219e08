package dag

import (
	"bytes"
	"context"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// chunkMarker is how a chunk reference's array starts ([17, ... or
// [21, ...: a 4-array, then the tag): an encoding without these bytes
// has no chunk reference, so readers skip the walk (HasChunkRefs).
var (
	chunkValueMarker = []byte{0x84, vtagChunked}
	chunkTermMarker  = []byte{0x84, tagChunked}
)

// HasChunkRefs reports whether an encoded value or block may hold chunk
// references. False means certainly none.
func HasChunkRefs(data []byte) bool {
	return bytes.Contains(data, chunkValueMarker) || bytes.Contains(data, chunkTermMarker)
}

func checkChunkedRef(term bool, kind ChunkKind, count int64, root cid.Cid) error {
	switch {
	case kind < ChunkText || kind > ChunkMap || term && !kind.isData():
		return fmt.Errorf("chunk kind %d", int(kind))
	case kind.isData() && count <= ChunkThreshold:
		return fmt.Errorf("chunked %s of %d bytes (at most %d stay inline)", kind, count, ChunkThreshold)
	case count < 1 || count > MaxChunkedBytes:
		return fmt.Errorf("chunked %s of %d units (limit %d)", kind, count, MaxChunkedBytes)
	case !supportedCID(root):
		return fmt.Errorf("chunk root %s: %w", root, ErrUnsupportedCID)
	}
	return nil
}

func encodeChunkedRef(tag int64, kind ChunkKind, count int64, root cid.Cid) (any, error) {
	if err := checkChunkedRef(tag == tagChunked, kind, count, root); err != nil {
		return nil, invalid("%v", err)
	}
	return chunkRefForm(tag, kind, count, root)
}

// decodeChunkedRef decodes [tag, kind, count, link]; value says which
// table the tag is from.
func decodeChunkedRef(a []any, value bool) (ChunkKind, int64, cid.Cid, error) {
	if err := wantLen(a, 4, "chunk reference"); err != nil {
		return 0, 0, cid.Undef, err
	}
	k, err := decodeInt(a[1], "chunk kind")
	if err != nil {
		return 0, 0, cid.Undef, err
	}
	n, err := decodeInt64(a[2], "chunk count")
	if err != nil {
		return 0, 0, cid.Undef, err
	}
	root, err := decodeLink(a[3])
	if err != nil {
		return 0, 0, cid.Undef, err
	}
	if err := checkChunkedRef(!value, ChunkKind(k), n, root); err != nil {
		return 0, 0, cid.Undef, malformed("%v", err)
	}
	return ChunkKind(k), n, root, nil
}

// chunkNode is a decoded chunk block.
type chunkNode struct {
	tag    int
	height int        // interior
	data   []byte     // data leaf
	units  []Value    // element leaf
	sizes  []int      // element leaf: encoded size of each unit
	kids   []chunkRef // interior
}

// decodeChunkBlock decodes and checks one chunk block.
func decodeChunkBlock(data []byte) (*chunkNode, error) {
	if len(data) > MaxBlockSize {
		return nil, &DecodeError{Msg: fmt.Sprintf("chunk block of %d bytes, limit %d", len(data), MaxBlockSize), Err: ErrTooLarge}
	}
	x, err := decodeGeneric(data, nil)
	if err != nil {
		return nil, err
	}
	body, err := envelope(x, ChunkBlockKind, fieldChunk)
	if err != nil {
		return nil, err
	}
	nd, err := chunkNodeOf(body)
	if err != nil {
		return nil, err
	}
	if nd.tag == ctagElems {
		// Values have one encoding: re-encode what was decoded.
		if err := checkCanonical(data, func() ([]byte, error) {
			e := newEncoder(MaxBlockSize)
			node, err := e.encodeValues(newTagged(ctagElems, len(nd.units)), nd.units, 3)
			if err != nil {
				return nil, err
			}
			return marshal(newEnvelope(ChunkBlockKind, fieldChunk, node), MaxBlockSize)
		}); err != nil {
			return nil, err
		}
	}
	return nd, nil
}

// chunkNodeOf reads a chunk node's generic form (of a canonical block).
func chunkNodeOf(x any) (*chunkNode, error) {
	a, tag, err := tagged(x, "chunk node")
	if err != nil {
		return nil, err
	}
	switch tag {
	case ctagData:
		if err := wantLen(a, 2, "data chunk"); err != nil {
			return nil, err
		}
		b, err := decodeBytes(a[1], "data chunk")
		if err != nil {
			return nil, err
		}
		if len(b) == 0 || len(b) > ChunkLeafSize {
			return nil, malformed("data chunk of %d bytes (want 1 to %d)", len(b), ChunkLeafSize)
		}
		return &chunkNode{tag: ctagData, data: b}, nil
	case ctagElems:
		if err := wantMin(a, 2, "element chunk"); err != nil {
			return nil, err
		}
		nd := &chunkNode{tag: ctagElems, units: make([]Value, len(a)-1), sizes: make([]int, len(a)-1)}
		for i, u := range a[1:] {
			v, err := decodeValue(u)
			if err != nil {
				return nil, err
			}
			nd.units[i], nd.sizes[i] = v, cborSize(u)
		}
		return nd, nil
	case ctagInterior:
		if len(a) < 4 || len(a)%2 != 0 || (len(a)-2)/2 > ChunkFanout {
			return nil, malformed("interior chunk: array of %d (want 2 + 2N, 1 <= N <= %d)", len(a), ChunkFanout)
		}
		h, err := decodeInt(a[1], "chunk height")
		if err != nil {
			return nil, err
		}
		if h < 1 || h > MaxChunkHeight {
			return nil, malformed("chunk height %d (want 1 to %d)", h, MaxChunkHeight)
		}
		nd := &chunkNode{tag: ctagInterior, height: h, kids: make([]chunkRef, 0, (len(a)-2)/2)}
		for i := 2; i < len(a); i += 2 {
			n, err := decodeInt64(a[i], "chunk child count")
			if err != nil {
				return nil, err
			}
			if n < 1 || n > MaxChunkedBytes {
				return nil, malformed("chunk child of %d units", n)
			}
			l, err := decodeLink(a[i+1])
			if err != nil {
				return nil, err
			}
			if !supportedCID(l) {
				return nil, malformed("chunk child %s: %v", l, ErrUnsupportedCID)
			}
			nd.kids = append(nd.kids, chunkRef{l, n})
		}
		return nd, nil
	}
	return nil, malformed("unknown chunk node tag %d", tag)
}

// validateChunk is the block schema's check of a chunk block
// (ValidateBlock): a chunk node whose values decode.
func validateChunk(data []byte) error {
	_, err := decodeChunkBlock(data)
	return err
}

// ChunkReader reads chunked values and literals from chunk blocks,
// allocating for them only what its budget allows, and checking as it
// goes that the tree is the canonical one for the value it holds.
type ChunkReader struct {
	// Get returns a stored block's bytes (Store.Get).
	Get func(ctx context.Context, c cid.Cid) ([]byte, error)
	// Limit bounds the bytes decoded chunked parts take, in all: the
	// declared size is charged before the first chunk of a part is read
	// (for a List or Map, chunkUnitBytes per unit, then the size of
	// each of its chunk blocks, element leaves and interior nodes,
	// before the block is decoded). 0 means MaxChunkedBytes.
	Limit int64

	used   int64
	blocks int
}

// Bytes per unit charged for a chunked List or Map before its leaves are
// read: the slots of the decoded slices (an interface value each).
const chunkUnitBytes = 16

// Used reports the bytes charged so far.
func (r *ChunkReader) Used() int64 { return r.used }

func (r *ChunkReader) limit() int64 {
	if r.Limit > 0 {
		return min(r.Limit, MaxChunkedBytes)
	}
	return MaxChunkedBytes
}

func (r *ChunkReader) charge(n int64) error {
	if n < 0 || r.used+n > r.limit() {
		return &ChunkBudgetError{Need: r.used + n, Limit: r.limit()}
	}
	r.used += n
	return nil
}

// DeclaredChunkBytes is what reading v's chunk references (those in v
// itself, not inside its chunks) will charge a ChunkReader at least: a
// check a receiver makes against its budget before it asks for chunks.
func DeclaredChunkBytes(v Value) int64 {
	var n int64
	walkValueRefs(v, func(x *VChunked) {
		switch {
		case x.Kind.isData():
			n += x.Count
		case x.Kind == ChunkMap:
			n += x.Count * 2 * chunkUnitBytes // a key and a value
		default:
			n += x.Count * chunkUnitBytes
		}
	}, func(x *ChunkedLit) { n += x.Count })
	return n
}

func walkValueRefs(v Value, val func(*VChunked), lit func(*ChunkedLit)) {
	var walk func(v Value)
	walks := func(vs []Value) {
		for _, v := range vs {
			walk(v)
		}
	}
	walk = func(v Value) {
		for v != nil {
			switch x := v.(type) {
			case *VChunked:
				val(x)
			case *VTuple:
				walks(x.Elems)
			case *VList:
				walks(x.Elems)
			case *VMap:
				walks(x.Keys)
				walks(x.Vals)
			case *VData:
				if n := len(x.Fields); n > 0 {
					walks(x.Fields[:n-1])
					v = x.Fields[n-1]
					continue
				}
			case *VClosure:
				walkTermRefs(x.Code, lit)
				env := x.Env
				if x.Rec && len(env) > 0 {
					env = env[1:]
				}
				walks(env)
			case *VBuiltin:
				walks(x.Args)
			case *VCtorFn:
				walks(x.Args)
			case *VPartial:
				walk(x.Fn)
				walks(x.Args)
			}
			return
		}
	}
	walk(v)
}

func walkTermRefs(t Term, lit func(*ChunkedLit)) {
	_, _ = mapTerm(t, func(t Term) (Term, error) {
		if x, ok := t.(*ChunkedLit); ok {
			lit(x)
		}
		return nil, nil
	})
}

// mapTerm rebuilds t with f applied to each leaf (f returns nil to keep
// it); subterms that do not change are shared.
func mapTerm(t Term, f func(Term) (Term, error)) (Term, error) {
	var err error
	one := func(t Term) Term {
		if err != nil {
			return t
		}
		var out Term
		out, err = mapTerm(t, f)
		return out
	}
	many := func(ts []Term) ([]Term, bool) {
		var out []Term
		for i, t := range ts {
			n := one(t)
			if n != t && out == nil {
				out = append(make([]Term, 0, len(ts)), ts[:i]...)
			}
			if out != nil {
				out = append(out, n)
			}
		}
		if out == nil {
			return ts, false
		}
		return out, true
	}
	switch x := t.(type) {
	case *Lam:
		if b := one(x.Body); b != x.Body {
			return &Lam{Arity: x.Arity, Body: b}, err
		}
	case *App:
		fn := one(x.Fn)
		args, ch := many(x.Args)
		if ch || fn != x.Fn {
			return &App{Fn: fn, Args: args}, err
		}
	case *Let:
		a, b := one(x.Value), one(x.Body)
		if a != x.Value || b != x.Body {
			return &Let{Value: a, Body: b}, err
		}
	case *LetRec:
		a, b := one(x.Value), one(x.Body)
		if a != x.Value || b != x.Body {
			return &LetRec{Value: a, Body: b}, err
		}
	case *If:
		a, b, c := one(x.Cond), one(x.Then), one(x.Else)
		if a != x.Cond || b != x.Then || c != x.Else {
			return &If{Cond: a, Then: b, Else: c}, err
		}
	case *Match:
		s := one(x.Scrutinee)
		var arms []Arm
		for i, a := range x.Arms {
			b := one(a.Body)
			if b != a.Body && arms == nil {
				arms = append(make([]Arm, 0, len(x.Arms)), x.Arms[:i]...)
			}
			if arms != nil {
				arms = append(arms, Arm{Pat: a.Pat, Body: b})
			}
		}
		if s != x.Scrutinee || arms != nil {
			if arms == nil {
				arms = x.Arms
			}
			return &Match{Scrutinee: s, Arms: arms}, err
		}
	case *Tuple:
		if es, ch := many(x.Elems); ch {
			return &Tuple{Elems: es}, err
		}
	case *List:
		if es, ch := many(x.Elems); ch {
			return &List{Elems: es}, err
		}
	case *Delay:
		if b := one(x.Body); b != x.Body {
			return &Delay{Body: b}, err
		}
	case *Force:
		if b := one(x.X); b != x.X {
			return &Force{X: b}, err
		}
	default:
		n, ferr := f(t)
		if ferr != nil {
			return t, ferr
		}
		if n != nil {
			return n, nil
		}
	}
	return t, err
}

// Term returns t with every chunked literal read.
func (r *ChunkReader) Term(ctx context.Context, t Term) (Term, error) {
	return mapTerm(t, func(t Term) (Term, error) {
		x, ok := t.(*ChunkedLit)
		if !ok {
			return nil, nil
		}
		b, err := r.data(ctx, x.Kind, x.Count, x.Root)
		if err != nil {
			return nil, err
		}
		if x.Kind == ChunkText {
			return &Text{V: unsafe.String(unsafe.SliceData(b), len(b))}, nil
		}
		return &Bytes{V: b}, nil
	})
}

// Value returns v with every chunk reference (and chunked literal in its
// closures' code) replaced by what its chunks hold. Parts without
// references are shared with v, which is not modified.
func (r *ChunkReader) Value(ctx context.Context, v Value) (Value, error) {
	return r.value(ctx, v)
}

func (r *ChunkReader) values(ctx context.Context, vs []Value) ([]Value, bool, error) {
	var out []Value
	for i, v := range vs {
		n, err := r.value(ctx, v)
		if err != nil {
			return nil, false, err
		}
		if n != v && out == nil {
			out = append(make([]Value, 0, len(vs)), vs[:i]...)
		}
		if out != nil {
			out = append(out, n)
		}
	}
	if out == nil {
		return vs, false, nil
	}
	return out, true, nil
}

func (r *ChunkReader) value(ctx context.Context, v Value) (Value, error) {
	switch x := v.(type) {
	case *VChunked:
		return r.load(ctx, x)
	case *VTuple:
		es, ch, err := r.values(ctx, x.Elems)
		if err != nil || !ch {
			return v, err
		}
		return &VTuple{Elems: es}, nil
	case *VList:
		es, ch, err := r.values(ctx, x.Elems)
		if err != nil || !ch {
			return v, err
		}
		return &VList{Elems: es}, nil
	case *VMap:
		ks, ch1, err := r.values(ctx, x.Keys)
		if err != nil {
			return nil, err
		}
		vs, ch2, err := r.values(ctx, x.Vals)
		if err != nil || !ch1 && !ch2 {
			return v, err
		}
		return &VMap{Keys: ks, Vals: vs}, nil
	case *VData:
		fs, ch, err := r.values(ctx, x.Fields)
		if err != nil || !ch {
			return v, err
		}
		return &VData{Type: x.Type, Ctor: x.Ctor, Fields: fs}, nil
	case *VClosure:
		code, err := r.Term(ctx, x.Code)
		if err != nil {
			return nil, err
		}
		env := x.Env
		if x.Rec && len(env) > 0 {
			env = env[1:]
		}
		es, ch, err := r.values(ctx, env)
		if err != nil {
			return nil, err
		}
		if !ch && code == x.Code {
			return v, nil
		}
		c := &VClosure{Code: code, Rec: x.Rec}
		if x.Rec && len(x.Env) > 0 {
			c.Env = append([]Value{c}, es...)
		} else {
			c.Env = es
		}
		return c, nil
	case *VBuiltin:
		as, ch, err := r.values(ctx, x.Args)
		if err != nil || !ch {
			return v, err
		}
		return &VBuiltin{Name: x.Name, Args: as}, nil
	case *VCtorFn:
		as, ch, err := r.values(ctx, x.Args)
		if err != nil || !ch {
			return v, err
		}
		return &VCtorFn{Type: x.Type, Index: x.Index, Arity: x.Arity, Args: as}, nil
	case *VPartial:
		fn, err := r.value(ctx, x.Fn)
		if err != nil {
			return nil, err
		}
		as, ch, err := r.values(ctx, x.Args)
		if err != nil || !ch && fn == x.Fn {
			return v, err
		}
		return &VPartial{Fn: fn, Args: as}, nil
	}
	return v, nil
}

func (r *ChunkReader) load(ctx context.Context, x *VChunked) (Value, error) {
	if x.Kind.isData() {
		b, err := r.data(ctx, x.Kind, x.Count, x.Root)
		if err != nil {
			return nil, err
		}
		if x.Kind == ChunkText {
			return &VText{V: unsafe.String(unsafe.SliceData(b), len(b))}, nil
		}
		return &VBytes{V: b}, nil
	}
	per := 1
	if x.Kind == ChunkMap {
		per = 2
	}
	if err := r.charge(x.Count * chunkUnitBytes * int64(per)); err != nil {
		return nil, err
	}
	units := make([]Value, 0, x.Count*int64(per))
	var leaves []chunkRef
	var sizes [][]int // per leaf, its units' sizes
	err := r.walk(ctx, x.Kind, x.Root, -1, x.Count, per, func(c cid.Cid, nd *chunkNode, data []byte) error {
		if nd.tag != ctagElems {
			return malformed("chunked %s: %s holds bytes, not elements", x.Kind, c)
		}
		if len(nd.units)%per != 0 {
			return malformed("chunked Map: %s splits a pair", c)
		}
		if int64(len(units)+len(nd.units)) > x.Count*int64(per) {
			return malformed("chunked %s: more than the %d declared", x.Kind, x.Count)
		}
		leaves = append(leaves, chunkRef{c, int64(len(nd.units) / per)})
		sizes = append(sizes, nd.sizes)
		for _, u := range nd.units {
			u, err := r.value(ctx, u) // nested chunk references
			if err != nil {
				return err
			}
			units = append(units, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(units)) != x.Count*int64(per) {
		return nil, malformed("chunked %s: %d units, %d declared", x.Kind, len(units)/per, x.Count)
	}
	// Canonical packing: each leaf took units while they fit.
	total := headSize(uint64(len(units))) + 1
	for i, ss := range sizes {
		leaf := 0
		for j := 0; j < len(ss); j += per {
			u := 0
			for k := j; k < j+per; k++ {
				u += ss[k]
			}
			if j > 0 && leaf+u > ChunkLeafSize {
				return nil, malformed("chunked %s: leaf %d holds more than %d bytes", x.Kind, i, ChunkLeafSize)
			}
			leaf += u
		}
		total += leaf
		if i+1 < len(sizes) {
			next := 0
			for k := 0; k < per; k++ {
				next += sizes[i+1][k]
			}
			if leaf+next <= ChunkLeafSize {
				return nil, malformed("chunked %s: leaf %d is not full", x.Kind, i)
			}
		}
	}
	if total <= ChunkThreshold {
		return nil, malformed("chunked %s of %d bytes (at most %d stay inline)", x.Kind, total, ChunkThreshold)
	}
	if err := checkTree(leaves, x.Root); err != nil {
		return nil, err
	}
	if x.Kind == ChunkList {
		return &VList{Elems: units}, nil
	}
	m := &VMap{Keys: make([]Value, 0, x.Count), Vals: make([]Value, 0, x.Count)}
	for i := 0; i < len(units); i += 2 {
		m.Keys = append(m.Keys, units[i])
		m.Vals = append(m.Vals, units[i+1])
	}
	return m, nil
}

// data reads the bytes of a chunked Text or Bytes of count bytes.
func (r *ChunkReader) data(ctx context.Context, kind ChunkKind, count int64, root cid.Cid) ([]byte, error) {
	if err := r.charge(count); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, count)
	var leaves []chunkRef
	err := r.walk(ctx, kind, root, -1, count, 1, func(c cid.Cid, nd *chunkNode, _ []byte) error {
		if nd.tag != ctagData {
			return malformed("chunked %s: %s holds elements, not bytes", kind, c)
		}
		if n := len(leaves); n > 0 && leaves[n-1].count != ChunkLeafSize {
			return malformed("chunked %s: leaf %d is not full", kind, n-1)
		}
		if int64(len(buf)+len(nd.data)) > count {
			return malformed("chunked %s: more than the %d bytes declared", kind, count)
		}
		buf = append(buf, nd.data...)
		leaves = append(leaves, chunkRef{c, int64(len(nd.data))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) != count {
		return nil, malformed("chunked %s: %d bytes, %d declared", kind, len(buf), count)
	}
	if err := checkTree(leaves, root); err != nil {
		return nil, err
	}
	if kind == ChunkText && !utf8.Valid(buf) {
		return nil, malformed("chunked Text is not valid UTF-8")
	}
	return buf, nil
}

// walk visits the leaves under c in order: a node of the given height
// (-1: any) holding count units of a value of the kind.
func (r *ChunkReader) walk(ctx context.Context, kind ChunkKind, c cid.Cid, height int, count int64, per int, leaf func(cid.Cid, *chunkNode, []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.blocks++; r.blocks > MaxChunkBlocks {
		return malformed("more than %d chunk blocks", MaxChunkBlocks)
	}
	data, err := r.Get(ctx, c)
	if err != nil {
		return fmt.Errorf("chunk %s: %w", c, err)
	}
	if !kind.isData() {
		// Decoding an element leaf allocates its values: its size is
		// charged first (an interior node's too, which is small), so a
		// leaf past the budget is refused undecoded. A data leaf's
		// bytes were charged with the count.
		if err := r.charge(int64(len(data))); err != nil {
			return err
		}
	}
	nd, err := decodeChunkBlock(data)
	if err != nil {
		return fmt.Errorf("chunk %s: %w", c, err)
	}
	if nd.tag != ctagInterior {
		if height > 0 {
			return malformed("chunk %s: a leaf where a node of height %d belongs", c, height)
		}
		n := int64(len(nd.data))
		if nd.tag == ctagElems {
			n = int64(len(nd.units) / per)
		}
		if n != count {
			return malformed("chunk %s: holds %d units, %d declared", c, n, count)
		}
		return leaf(c, nd, data)
	}
	if height >= 0 && nd.height != height {
		return malformed("chunk %s: height %d where %d belongs", c, nd.height, height)
	}
	var sum int64
	for _, k := range nd.kids {
		sum += k.count
	}
	if sum != count {
		return malformed("chunk %s: children hold %d units, %d declared", c, sum, count)
	}
	for _, k := range nd.kids {
		if err := r.walk(ctx, kind, k.c, nd.height-1, k.count, per, leaf); err != nil {
			return err
		}
	}
	return nil
}

// checkTree requires root to be the canonical tree over leaves.
func checkTree(leaves []chunkRef, root cid.Cid) error {
	c := newChunker()
	got, err := c.tree(leaves)
	if err != nil {
		return malformed("chunk tree: %v", err)
	}
	if !got.Equals(root) {
		return malformed("chunk tree %s is not the canonical tree of its leaves", root)
	}
	return nil
}

// StoreChunkReader reads chunks from s.
func (s *Store) ChunkReader(limit int64) *ChunkReader {
	return &ChunkReader{Get: s.Get, Limit: limit}
}
