package dag

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// Encoding tables. Terms, patterns, type terms and values are CBOR arrays
// whose first element is a small integer tag from one of the tables below
// (each table is its own tag space: the position says which applies).
// docs/protocol.md ("Block format") documents the same tables; keep them
// in step. Tags are part of the content address of every definition:
// never renumber one, only add.
const (
	// Term tags.
	tagVar     = 0  // [0, index]
	tagRef     = 1  // [1, link, member]
	tagSelf    = 2  // [2, member]
	tagBuiltin = 3  // [3, name]
	tagCtor    = 4  // [4, typeref, index, arity]
	tagInt     = 5  // [5, int]
	tagFloat   = 6  // [6, float64 | "NaN" | "Inf" | "-Inf"]
	tagText    = 7  // [7, text]
	tagBool    = 8  // [8, bool]
	tagBytes   = 9  // [9, bytes]
	tagUnit    = 10 // [10]
	tagLam     = 11 // [11, arity, body]
	tagApp     = 12 // [12, fn, arg1, ..., argN]  N >= 1
	tagLet     = 13 // [13, value, body]
	tagLetRec  = 14 // [14, lam, body]
	tagIf      = 15 // [15, cond, then, else]
	tagMatch   = 16 // [16, scrutinee, pat1, body1, ..., patN, bodyN]
	tagTuple   = 17 // [17, e1, ..., eN]  N >= 2
	tagList    = 18 // [18, e1, ..., eN]
	tagDelay   = 19 // [19, body]
	tagForce   = 20 // [20, x]
	tagChunked = 21 // [21, kind, count, link]  a large literal (chunk.go)

	// Pattern tags.
	ptagVar   = 0 // [0]
	ptagWild  = 1 // [1]
	ptagLit   = 2 // [2, literal term]
	ptagCtor  = 3 // [3, typeref, index, p1, ..., pN]
	ptagTuple = 4 // [4, p1, ..., pN]
	ptagList  = 5 // [5, p1, ..., pN]
	ptagCons  = 6 // [6, head, tail]

	// Type term tags.
	ttagVar     = 0 // [0, index]
	ttagRef     = 1 // [1, link, member]
	ttagSelf    = 2 // [2, member]
	ttagBuiltin = 3 // [3, name]
	ttagApp     = 4 // [4, fn, arg1, ..., argN]  N >= 1
	ttagFun     = 5 // [5, arg, result]
	ttagTuple   = 6 // [6, t1, ..., tN]

	// Value tags (value_codec.go).
	vtagInt     = 0  // [0, int]
	vtagFloat   = 1  // [1, float64 | "NaN" | "Inf" | "-Inf"]
	vtagText    = 2  // [2, text]
	vtagBool    = 3  // [3, bool]
	vtagBytes   = 4  // [4, bytes]
	vtagUnit    = 5  // [5]
	vtagTuple   = 6  // [6, v1, ..., vN]
	vtagList    = 7  // [7, v1, ..., vN]
	vtagMap     = 8  // [8, k1, v1, ..., kN, vN]
	vtagData    = 9  // [9, typeref, ctor, f1, ..., fN]
	vtagClosure = 10 // [10, code term, rec, env1, ..., envN]
	vtagDef     = 11 // [11, link, member]
	vtagBuiltin = 12 // [12, name, a1, ..., aN]
	vtagCtorFn  = 13 // [13, typeref, index, arity, a1, ..., aN]
	vtagPartial = 14 // [14, fn, a1, ..., aN]  N >= 1
	vtagNode    = 15 // [15, peer id, addr1, ..., addrN]
	vtagChannel = 16 // [16, id bytes, node]
	vtagChunked = 17 // [17, kind, count, link]  a large value (chunk.go)
)

const (
	linkTag       = 42 // CBOR tag of an IPLD link
	formatVersion = 1  // value of the "unode" envelope key
)

// Envelope keys and kinds.
const (
	fieldVersion = "unode"
	fieldKind    = "kind"
	fieldMembers = "members"
	fieldTerm    = "term"
	fieldParams  = "params"
	fieldCtors   = "ctors"
	fieldValue   = "value"

	// TermBlockKind, TypeBlockKind and ValueBlockKind are what BlockKind
	// returns for the three kinds of block.
	TermBlockKind  = "term"
	TypeBlockKind  = "type"
	ValueBlockKind = "value"
)

// Float special values. DAG-CBOR forbids NaN and infinities as CBOR
// floats, so they are written as these text strings in the float position.
// Every NaN is written as "NaN" (payload and sign are not kept).
const (
	floatNaN    = "NaN"
	floatPosInf = "Inf"
	floatNegInf = "-Inf"
)

var (
	encMode = mustEncMode()
	decMode = mustDecMode()
)

func mustEncMode() cbor.EncMode {
	em, err := cbor.EncOptions{
		Sort:          cbor.SortLengthFirst, // DAG-CBOR: length-first, then bytewise
		ShortestFloat: cbor.ShortestFloatNone,
		NaNConvert:    cbor.NaNConvertReject,
		InfConvert:    cbor.InfConvertReject,
		IndefLength:   cbor.IndefLengthForbidden,
		TagsMd:        cbor.TagsAllowed,
		String:        cbor.StringToTextString,
	}.EncMode()
	if err != nil {
		panic("dag: cbor encode options: " + err.Error())
	}
	return em
}

func mustDecMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsAllowed, // only 42 survives checkLink/walkGeneric
		MaxNestedLevels:  MaxNesting,
		MaxArrayElements: MaxArrayLen,
		MaxMapPairs:      MaxMapPairs,
		IntDec:           cbor.IntDecConvertNone,
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
		UTF8:             cbor.UTF8RejectInvalid,
		NaN:              cbor.NaNDecodeForbidden,
		Inf:              cbor.InfDecodeForbidden,
		BignumTag:        cbor.BignumTagForbidden,
	}.DecMode()
	if err != nil {
		panic("dag: cbor decode options: " + err.Error())
	}
	return dm
}

// ---- shared helpers ----

func isNil(x any) bool {
	if x == nil {
		return true
	}
	v := reflect.ValueOf(x)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// encoder builds the generic form of one item. left is a lower bound on
// the bytes the encoding may still take: every node costs at least one
// byte and text and bytes their length, so a value that is huge once its
// sharing is expanded (a list holding the same big list twice, forty levels
// deep) is refused after about limit steps instead of exhausting memory.
type encoder struct {
	limit, left int
	chunks      *chunker // non-nil: large parts become chunk blocks (chunk.go)
}

func newEncoder(limit int) *encoder { return &encoder{limit: limit, left: limit} }

func (e *encoder) charge(n int) error {
	e.left -= n
	if e.left < 0 {
		return &EncodeError{Msg: "encoding exceeds " + strconv.Itoa(e.limit) + " bytes", Err: ErrTooLarge}
	}
	return nil
}

func errTooDeep() *EncodeError {
	return invalid("nesting deeper than %d levels", MaxNesting)
}

func marshal(x any, limit int) ([]byte, error) {
	out, err := encMode.Marshal(x)
	if err != nil {
		return nil, &EncodeError{Msg: err.Error()}
	}
	if len(out) > limit {
		return nil, &EncodeError{Msg: "encoding is " + strconv.Itoa(len(out)) + " bytes, limit " + strconv.Itoa(limit), Err: ErrTooLarge}
	}
	return out, nil
}

// decodeItem decodes one CBOR item strictly into the generic form:
// []any, map[string]any, uint64, int64 (negative), float64, string, []byte,
// bool, nil, cbor.Tag (and a few others that every caller rejects).
func decodeItem(data []byte, limit int) (any, error) {
	if len(data) > limit {
		return nil, &DecodeError{Msg: "input is " + strconv.Itoa(len(data)) + " bytes, limit " + strconv.Itoa(limit), Err: ErrTooLarge}
	}
	var x any
	if err := decMode.Unmarshal(data, &x); err != nil {
		return nil, &DecodeError{Msg: err.Error()}
	}
	return x, nil
}

// checkCanonical re-encodes with enc and requires the input bytes back.
func checkCanonical(data []byte, enc func() ([]byte, error)) error {
	out, err := enc()
	if err != nil {
		var e *EncodeError
		if errors.As(err, &e) {
			return &DecodeError{Msg: e.Msg, Err: e.Err}
		}
		return &DecodeError{Msg: err.Error()}
	}
	if !bytes.Equal(out, data) {
		return malformed("not the canonical encoding")
	}
	return nil
}

func encodeLink(c cid.Cid) (any, error) {
	if !c.Defined() {
		return nil, invalid("undefined CID")
	}
	b := c.Bytes()
	content := make([]byte, 1+len(b))
	copy(content[1:], b) // content[0] = 0x00: the identity multibase prefix
	return cbor.Tag{Number: linkTag, Content: content}, nil
}

func decodeLink(x any) (cid.Cid, error) {
	t, ok := x.(cbor.Tag)
	if !ok {
		return cid.Undef, malformed("expected link (tag 42), found %s", describe(x))
	}
	if t.Number != linkTag {
		return cid.Undef, malformed("CBOR tag %d (only 42 is allowed)", t.Number)
	}
	b, ok := t.Content.([]byte)
	if !ok || len(b) < 2 || b[0] != 0 {
		return cid.Undef, malformed("tag 42 content is not 0x00 followed by CID bytes")
	}
	c, err := cid.Cast(b[1:])
	if err != nil {
		return cid.Undef, malformed("bad CID in link: %v", err)
	}
	return c, nil
}

func describe(x any) string {
	switch x := x.(type) {
	case nil:
		return "null"
	case []any:
		return "array of " + strconv.Itoa(len(x))
	case map[string]any:
		return "map"
	case uint64, int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "text"
	case []byte:
		return "bytes"
	case bool:
		return "bool"
	case cbor.Tag:
		return "tag " + strconv.FormatUint(x.Number, 10)
	default:
		return reflect.TypeOf(x).String()
	}
}

func encodeInt(n int, what string) (any, error) {
	if n < 0 {
		return nil, invalid("%s %d < 0", what, n)
	}
	return int64(n), nil
}

func decodeInt64(x any, what string) (int64, error) {
	switch x := x.(type) {
	case uint64:
		if x > math.MaxInt64 {
			return 0, malformed("%s %d out of int64 range", what, x)
		}
		return int64(x), nil
	case int64:
		return x, nil
	}
	return 0, malformed("%s: expected int, found %s", what, describe(x))
}

// decodeInt decodes a Go int field (indices, arities). Range is checked by
// the encoder on the canonical re-encode, except what would not fit an int.
func decodeInt(x any, what string) (int, error) {
	n, err := decodeInt64(x, what)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt || n < math.MinInt {
		return 0, malformed("%s %d out of range", what, n)
	}
	return int(n), nil
}

func encodeText(s, what string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, invalid("%s is not valid UTF-8", what)
	}
	return s, nil
}

func encodeName(s, what string) (any, error) {
	if s == "" {
		return nil, invalid("empty %s", what)
	}
	return encodeText(s, what)
}

func decodeText(x any, what string) (string, error) {
	s, ok := x.(string)
	if !ok {
		return "", malformed("%s: expected text, found %s", what, describe(x))
	}
	return s, nil
}

func encodeBytes(b []byte) any {
	if b == nil {
		return []byte{} // never null
	}
	return b
}

func decodeBytes(x any, what string) ([]byte, error) {
	b, ok := x.([]byte)
	if !ok {
		return nil, malformed("%s: expected bytes, found %s", what, describe(x))
	}
	return b, nil
}

func decodeBool(x any, what string) (bool, error) {
	b, ok := x.(bool)
	if !ok {
		return false, malformed("%s: expected bool, found %s", what, describe(x))
	}
	return b, nil
}

func encodeFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return floatNaN
	case math.IsInf(f, 1):
		return floatPosInf
	case math.IsInf(f, -1):
		return floatNegInf
	}
	return f
}

func decodeFloat(x any) (float64, error) {
	switch x := x.(type) {
	case float64:
		return x, nil
	case string:
		switch x {
		case floatNaN:
			return math.NaN(), nil
		case floatPosInf:
			return math.Inf(1), nil
		case floatNegInf:
			return math.Inf(-1), nil
		}
	}
	return 0, malformed("expected float, found %s", describe(x))
}

// tagged splits a [tag, ...] array.
func tagged(x any, what string) ([]any, uint64, error) {
	a, ok := x.([]any)
	if !ok || len(a) == 0 {
		return nil, 0, malformed("%s: expected [tag, ...], found %s", what, describe(x))
	}
	tag, ok := a[0].(uint64)
	if !ok {
		return nil, 0, malformed("%s: tag is %s, not a small unsigned int", what, describe(a[0]))
	}
	return a, tag, nil
}

func wantLen(a []any, n int, what string) error {
	if len(a) != n {
		return malformed("%s: array of %d, want %d", what, len(a), n)
	}
	return nil
}

func wantMin(a []any, n int, what string) error {
	if len(a) < n {
		return malformed("%s: array of %d, want at least %d", what, len(a), n)
	}
	return nil
}

func encodeDefRef(dst []any, r DefRef) ([]any, error) {
	link, err := encodeLink(r.CID)
	if err != nil {
		return nil, err
	}
	m, err := encodeInt(r.Member, "member index")
	if err != nil {
		return nil, err
	}
	return append(dst, link, m), nil
}

func decodeDefRef(link, member any) (DefRef, error) {
	c, err := decodeLink(link)
	if err != nil {
		return DefRef{}, err
	}
	m, err := decodeInt(member, "member index")
	if err != nil {
		return DefRef{}, err
	}
	return DefRef{CID: c, Member: m}, nil
}

// encodeTypeRef: a builtin type is its name (text); a defined type is
// [link, member] (an array at level lvl).
func encodeTypeRef(r TypeRef, lvl int) (any, error) {
	if r.Builtin != "" {
		if r.Def.CID.Defined() || r.Def.Member != 0 {
			return nil, invalid("TypeRef %q has both a builtin name and a definition", r.Builtin)
		}
		return encodeText(r.Builtin, "builtin type name")
	}
	if lvl > MaxNesting {
		return nil, errTooDeep()
	}
	return encodeDefRef(make([]any, 0, 2), r.Def)
}

func decodeTypeRef(x any) (TypeRef, error) {
	switch x := x.(type) {
	case string:
		return TypeRef{Builtin: x}, nil
	case []any:
		if err := wantLen(x, 2, "type reference"); err != nil {
			return TypeRef{}, err
		}
		d, err := decodeDefRef(x[0], x[1])
		return TypeRef{Def: d}, err
	}
	return TypeRef{}, malformed("type reference: expected text or [link, member], found %s", describe(x))
}

// ---- envelopes ----

// envelope checks {"unode": 1, "kind": kind, body: ...} with exactly those
// keys and returns the body.
func envelope(x any, kind, body string) (any, error) {
	m, ok := x.(map[string]any)
	if !ok {
		return nil, malformed("expected a map envelope, found %s", describe(x))
	}
	k, err := envelopeKind(m)
	if err != nil {
		return nil, err
	}
	if k != kind {
		return nil, malformed("block kind %q, want %q", k, kind)
	}
	v, ok := m[body]
	if !ok || len(m) != 3 {
		return nil, malformed("%s block: want exactly keys %q, %q, %q", kind, fieldKind, fieldVersion, body)
	}
	return v, nil
}

func envelopeKind(m map[string]any) (string, error) {
	v, ok := m[fieldVersion]
	if !ok {
		return "", malformed("no %q key", fieldVersion)
	}
	if n, ok := v.(uint64); !ok || n != formatVersion {
		return "", malformed("unsupported format version %v", v)
	}
	k, ok := m[fieldKind].(string)
	if !ok {
		return "", malformed("no %q text key", fieldKind)
	}
	return k, nil
}

func newEnvelope(kind, body string, v any) map[string]any {
	return map[string]any{fieldVersion: int64(formatVersion), fieldKind: kind, body: v}
}

// ---- blocks ----

// EncodeTermBlock encodes a definition block:
// {"unode": 1, "kind": "term", "members": [{"term": <term>}, ...]}.
func EncodeTermBlock(b *TermBlock) ([]byte, error) {
	if b == nil || len(b.Members) == 0 {
		return nil, invalid("term block with no members")
	}
	e := newEncoder(MaxBlockSize)
	members := make([]any, len(b.Members))
	for i, t := range b.Members {
		n, err := e.encodeTerm(t, 4) // envelope, members, member map, term
		if err != nil {
			return nil, err
		}
		members[i] = map[string]any{fieldTerm: n}
	}
	return marshal(newEnvelope(TermBlockKind, fieldMembers, members), MaxBlockSize)
}

// DecodeTermBlock decodes and checks a block made by EncodeTermBlock. Any
// other bytes, including a non-canonical encoding of the same terms, give
// a *DecodeError.
func DecodeTermBlock(data []byte) (*TermBlock, error) {
	if b, _, ok := fastBlock(data); ok {
		if tb, ok := b.(*TermBlock); ok {
			return tb, nil
		}
	}
	// Anything the one-pass decoder does not take, the general path
	// decides, and names the error.
	return decodeTermBlockGeneral(data)
}

// decodeTermBlockGeneral is DecodeTermBlock through the generic form
// and a canonical re-encoding.
func decodeTermBlockGeneral(data []byte) (*TermBlock, error) {
	x, err := decodeItem(data, MaxBlockSize)
	if err != nil {
		return nil, err
	}
	body, err := envelope(x, TermBlockKind, fieldMembers)
	if err != nil {
		return nil, err
	}
	ms, ok := body.([]any)
	if !ok || len(ms) == 0 {
		return nil, malformed("term block: members must be a non-empty array")
	}
	b := &TermBlock{Members: make([]Term, len(ms))}
	for i, m := range ms {
		mm, ok := m.(map[string]any)
		if !ok || len(mm) != 1 {
			return nil, malformed("term block member %d: want a map with exactly key %q", i, fieldTerm)
		}
		tn, ok := mm[fieldTerm]
		if !ok {
			return nil, malformed("term block member %d: want a map with exactly key %q", i, fieldTerm)
		}
		if b.Members[i], err = decodeTerm(tn); err != nil {
			return nil, err
		}
	}
	if err := checkCanonical(data, func() ([]byte, error) { return EncodeTermBlock(b) }); err != nil {
		return nil, err
	}
	return b, nil
}

// EncodeTypeBlock encodes a type block:
// {"unode": 1, "kind": "type", "members": [{"params": n, "ctors": [[typeterm, ...], ...]}, ...]}.
func EncodeTypeBlock(b *TypeBlock) ([]byte, error) {
	if b == nil || len(b.Members) == 0 {
		return nil, invalid("type block with no members")
	}
	e := newEncoder(MaxBlockSize)
	members := make([]any, len(b.Members))
	for i, d := range b.Members {
		if d == nil {
			return nil, invalid("type block member %d is nil", i)
		}
		params, err := encodeInt(d.Params, "type parameter count")
		if err != nil {
			return nil, err
		}
		ctors := make([]any, len(d.Ctors))
		for j, fields := range d.Ctors {
			fs := make([]any, len(fields))
			for k, f := range fields {
				// envelope, members, member map, ctors, fields, type term
				if fs[k], err = e.encodeTypeTerm(f, 6); err != nil {
					return nil, err
				}
			}
			ctors[j] = fs
		}
		members[i] = map[string]any{fieldParams: params, fieldCtors: ctors}
	}
	return marshal(newEnvelope(TypeBlockKind, fieldMembers, members), MaxBlockSize)
}

// DecodeTypeBlock decodes and checks a block made by EncodeTypeBlock.
func DecodeTypeBlock(data []byte) (*TypeBlock, error) {
	if b, _, ok := fastBlock(data); ok {
		if tb, ok := b.(*TypeBlock); ok {
			return tb, nil
		}
	}
	return decodeTypeBlockGeneral(data)
}

// decodeTypeBlockGeneral is DecodeTypeBlock through the generic form
// and a canonical re-encoding.
func decodeTypeBlockGeneral(data []byte) (*TypeBlock, error) {
	x, err := decodeItem(data, MaxBlockSize)
	if err != nil {
		return nil, err
	}
	body, err := envelope(x, TypeBlockKind, fieldMembers)
	if err != nil {
		return nil, err
	}
	ms, ok := body.([]any)
	if !ok || len(ms) == 0 {
		return nil, malformed("type block: members must be a non-empty array")
	}
	b := &TypeBlock{Members: make([]*DataDecl, len(ms))}
	for i, m := range ms {
		mm, ok := m.(map[string]any)
		if !ok || len(mm) != 2 {
			return nil, malformed("type block member %d: want a map with keys %q, %q", i, fieldCtors, fieldParams)
		}
		p, ok1 := mm[fieldParams]
		cs, ok2 := mm[fieldCtors].([]any)
		if !ok1 || !ok2 {
			return nil, malformed("type block member %d: want a map with keys %q, %q", i, fieldCtors, fieldParams)
		}
		d := &DataDecl{Ctors: make([][]TypeTerm, len(cs))}
		if d.Params, err = decodeInt(p, "type parameter count"); err != nil {
			return nil, err
		}
		for j, c := range cs {
			fs, ok := c.([]any)
			if !ok {
				return nil, malformed("type block member %d ctor %d: expected array of field types", i, j)
			}
			d.Ctors[j] = make([]TypeTerm, len(fs))
			for k, f := range fs {
				if d.Ctors[j][k], err = decodeTypeTerm(f); err != nil {
					return nil, err
				}
			}
		}
		b.Members[i] = d
	}
	if err := checkCanonical(data, func() ([]byte, error) { return EncodeTypeBlock(b) }); err != nil {
		return nil, err
	}
	return b, nil
}

// EncodeTerm encodes a bare term (the [tag, ...] array, no envelope), for
// messages that carry code.
func EncodeTerm(t Term) ([]byte, error) {
	e := newEncoder(MaxValueSize)
	n, err := e.encodeTerm(t, 1)
	if err != nil {
		return nil, err
	}
	return marshal(n, MaxValueSize)
}

// DecodeTerm decodes and checks a bare term made by EncodeTerm.
func DecodeTerm(data []byte) (Term, error) {
	x, err := decodeItem(data, MaxValueSize)
	if err != nil {
		return nil, err
	}
	t, err := decodeTerm(x)
	if err != nil {
		return nil, err
	}
	if err := checkCanonical(data, func() ([]byte, error) { return EncodeTerm(t) }); err != nil {
		return nil, err
	}
	return t, nil
}

// EncodePattern encodes a bare pattern.
func EncodePattern(p Pattern) ([]byte, error) {
	e := newEncoder(MaxValueSize)
	n, err := e.encodePattern(p, 1)
	if err != nil {
		return nil, err
	}
	return marshal(n, MaxValueSize)
}

// DecodePattern decodes and checks a bare pattern made by EncodePattern.
func DecodePattern(data []byte) (Pattern, error) {
	x, err := decodeItem(data, MaxValueSize)
	if err != nil {
		return nil, err
	}
	p, err := decodePattern(x)
	if err != nil {
		return nil, err
	}
	if err := checkCanonical(data, func() ([]byte, error) { return EncodePattern(p) }); err != nil {
		return nil, err
	}
	return p, nil
}

// EncodeTypeTerm encodes a bare type term.
func EncodeTypeTerm(t TypeTerm) ([]byte, error) {
	e := newEncoder(MaxValueSize)
	n, err := e.encodeTypeTerm(t, 1)
	if err != nil {
		return nil, err
	}
	return marshal(n, MaxValueSize)
}

// DecodeTypeTerm decodes and checks a bare type term made by EncodeTypeTerm.
func DecodeTypeTerm(data []byte) (TypeTerm, error) {
	x, err := decodeItem(data, MaxValueSize)
	if err != nil {
		return nil, err
	}
	t, err := decodeTypeTerm(x)
	if err != nil {
		return nil, err
	}
	if err := checkCanonical(data, func() ([]byte, error) { return EncodeTypeTerm(t) }); err != nil {
		return nil, err
	}
	return t, nil
}

// ---- generic access ----

// decodeGeneric decodes any DAG-CBOR item (any block kind, even one this
// version cannot interpret), checks that it is canonical, and calls visit
// on every link.
//
// The check and the links come from one pass over the bytes
// (scanCanonical); only then is the generic form built, once.
func decodeGeneric(data []byte, visit func(cid.Cid)) (any, error) {
	if err := scanCanonical(data, MaxValueSize, visit, nil); err != nil {
		return nil, err
	}
	return decodeItem(data, MaxValueSize)
}

// walkGeneric checks that x holds only DAG-CBOR kinds and calls visit on
// every link. Recursion depth is bounded by the decoder's MaxNesting.
func walkGeneric(x any, visit func(cid.Cid)) error {
	switch x := x.(type) {
	case nil, bool, string, []byte, float64, uint64, int64:
		return nil
	case []any:
		for _, e := range x {
			if err := walkGeneric(e, visit); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for _, e := range x {
			if err := walkGeneric(e, visit); err != nil {
				return err
			}
		}
		return nil
	case cbor.Tag:
		c, err := decodeLink(x)
		if err != nil {
			return err
		}
		if visit != nil {
			visit(c)
		}
		return nil
	}
	return malformed("%s is not allowed in DAG-CBOR", describe(x))
}

// sortedSet lists a set of CIDs sorted by their bytes.
func sortedSet(seen map[cid.Cid]struct{}) []cid.Cid {
	out := make([]cid.Cid, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sortCIDs(out)
	return out
}

// Links returns every link (tag 42) anywhere in a canonical DAG-CBOR item
// (any block kind, or an encoded value), deduplicated and sorted by CID
// bytes.
func Links(data []byte) ([]cid.Cid, error) {
	var links []cid.Cid
	if err := scanCanonical(data, MaxValueSize, func(c cid.Cid) { links = append(links, c) }, nil); err != nil {
		return nil, err
	}
	return sortedUnique(links), nil
}

// sortedUnique sorts CIDs by their bytes and drops repeats, in place.
func sortedUnique(cs []cid.Cid) []cid.Cid {
	if len(cs) < 2 {
		return cs
	}
	sortCIDs(cs)
	return slices.CompactFunc(cs, cid.Cid.Equals)
}

func sortCIDs(cs []cid.Cid) {
	// A Cid's KeyString is its binary form, so this is bytewise order.
	// slices.SortFunc, not sort.Slice: no allocation (each block a sync
	// receives has its links sorted).
	slices.SortFunc(cs, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
}

// BlockKind returns the "kind" of a block or encoded value envelope
// (TermBlockKind, TypeBlockKind, ValueBlockKind, or a kind from a newer
// format that this version cannot decode).
func BlockKind(data []byte) (string, error) {
	x, err := decodeGeneric(data, nil)
	if err != nil {
		return "", err
	}
	m, ok := x.(map[string]any)
	if !ok {
		return "", malformed("expected a map envelope, found %s", describe(x))
	}
	return envelopeKind(m)
}

// ---- terms ----

func (e *encoder) encodeTerms(dst []any, ts []Term, lvl int) ([]any, error) {
	for _, t := range ts {
		n, err := e.encodeTerm(t, lvl)
		if err != nil {
			return nil, err
		}
		dst = append(dst, n)
	}
	return dst, nil
}

func decodeTerms(xs []any) ([]Term, error) {
	ts := make([]Term, len(xs))
	for i, x := range xs {
		t, err := decodeTerm(x)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	return ts, nil
}

func isLiteral(t Term) bool {
	switch t.(type) {
	case *Int, *Float, *Text, *Bool, *Bytes, *Unit:
		return true
	}
	return false
}

// encodeTerm returns the generic form of t, whose array sits at nesting
// level lvl (1 = top level).
func (e *encoder) encodeTerm(t Term, lvl int) (any, error) {
	if lvl > MaxNesting {
		return nil, errTooDeep()
	}
	if err := e.charge(1); err != nil {
		return nil, err
	}
	if isNil(t) {
		return nil, invalid("nil term")
	}
	var err error
	switch t := t.(type) {
	case *Var:
		i, err := encodeInt(t.Index, "Var index")
		if err != nil {
			return nil, err
		}
		return []any{int64(tagVar), i}, nil
	case *Ref:
		return encodeDefRef(append(make([]any, 0, 3), int64(tagRef)), t.Def)
	case *Self:
		m, err := encodeInt(t.Member, "Self member")
		if err != nil {
			return nil, err
		}
		return []any{int64(tagSelf), m}, nil
	case *Builtin:
		if err := e.charge(len(t.Name)); err != nil {
			return nil, err
		}
		n, err := encodeName(t.Name, "builtin name")
		if err != nil {
			return nil, err
		}
		return []any{int64(tagBuiltin), n}, nil
	case *Ctor:
		r, err := encodeTypeRef(t.Type, lvl+1)
		if err != nil {
			return nil, err
		}
		i, err := encodeInt(t.Index, "Ctor index")
		if err != nil {
			return nil, err
		}
		a, err := encodeInt(t.Arity, "Ctor arity")
		if err != nil {
			return nil, err
		}
		return []any{int64(tagCtor), r, i, a}, nil
	case *Int:
		return []any{int64(tagInt), t.V}, nil
	case *Float:
		return []any{int64(tagFloat), encodeFloat(t.V)}, nil
	case *Text:
		if ref, err := e.chunkLiteral(ChunkText, t.V); ref != nil || err != nil {
			return ref, err
		}
		if err := e.charge(len(t.V)); err != nil {
			return nil, err
		}
		s, err := encodeText(t.V, "Text")
		if err != nil {
			return nil, err
		}
		return []any{int64(tagText), s}, nil
	case *Bool:
		return []any{int64(tagBool), t.V}, nil
	case *Bytes:
		if ref, err := e.chunkLiteral(ChunkBytes, string(t.V)); ref != nil || err != nil {
			return ref, err
		}
		if err := e.charge(len(t.V)); err != nil {
			return nil, err
		}
		return []any{int64(tagBytes), encodeBytes(t.V)}, nil
	case *ChunkedLit:
		return encodeChunkedRef(tagChunked, t.Kind, t.Count, t.Root)
	case *Unit:
		return []any{int64(tagUnit)}, nil
	case *Lam:
		if t.Arity < 1 {
			return nil, invalid("Lam arity %d < 1", t.Arity)
		}
		b, err := e.encodeTerm(t.Body, lvl+1)
		if err != nil {
			return nil, err
		}
		return []any{int64(tagLam), int64(t.Arity), b}, nil
	case *App:
		if len(t.Args) == 0 {
			return nil, invalid("App with no arguments")
		}
		out := make([]any, 2, 2+len(t.Args))
		out[0] = int64(tagApp)
		if out[1], err = e.encodeTerm(t.Fn, lvl+1); err != nil {
			return nil, err
		}
		return e.encodeTerms(out, t.Args, lvl+1)
	case *Let:
		return e.encodeTermsTagged(tagLet, lvl, t.Value, t.Body)
	case *LetRec:
		if _, ok := t.Value.(*Lam); !ok {
			return nil, invalid("LetRec value is %T, not *Lam", t.Value)
		}
		return e.encodeTermsTagged(tagLetRec, lvl, t.Value, t.Body)
	case *If:
		return e.encodeTermsTagged(tagIf, lvl, t.Cond, t.Then, t.Else)
	case *Match:
		out := make([]any, 2, 2+2*len(t.Arms))
		out[0] = int64(tagMatch)
		if out[1], err = e.encodeTerm(t.Scrutinee, lvl+1); err != nil {
			return nil, err
		}
		for _, a := range t.Arms {
			p, err := e.encodePattern(a.Pat, lvl+1)
			if err != nil {
				return nil, err
			}
			b, err := e.encodeTerm(a.Body, lvl+1)
			if err != nil {
				return nil, err
			}
			out = append(out, p, b)
		}
		return out, nil
	case *Tuple:
		if len(t.Elems) < 2 {
			return nil, invalid("Tuple of %d elements (want >= 2)", len(t.Elems))
		}
		return e.encodeTerms(append(make([]any, 0, 1+len(t.Elems)), int64(tagTuple)), t.Elems, lvl+1)
	case *List:
		return e.encodeTerms(append(make([]any, 0, 1+len(t.Elems)), int64(tagList)), t.Elems, lvl+1)
	case *Delay:
		return e.encodeTermsTagged(tagDelay, lvl, t.Body)
	case *Force:
		return e.encodeTermsTagged(tagForce, lvl, t.X)
	}
	return nil, invalid("unknown term type %T", t)
}

func (e *encoder) encodeTermsTagged(tag int64, lvl int, ts ...Term) (any, error) {
	return e.encodeTerms(append(make([]any, 0, 1+len(ts)), tag), ts, lvl+1)
}

func decodeTerm(x any) (Term, error) {
	a, tag, err := tagged(x, "term")
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagVar:
		if err := wantLen(a, 2, "Var"); err != nil {
			return nil, err
		}
		i, err := decodeInt(a[1], "Var index")
		return &Var{Index: i}, err
	case tagRef:
		if err := wantLen(a, 3, "Ref"); err != nil {
			return nil, err
		}
		d, err := decodeDefRef(a[1], a[2])
		return &Ref{Def: d}, err
	case tagSelf:
		if err := wantLen(a, 2, "Self"); err != nil {
			return nil, err
		}
		m, err := decodeInt(a[1], "Self member")
		return &Self{Member: m}, err
	case tagBuiltin:
		if err := wantLen(a, 2, "Builtin"); err != nil {
			return nil, err
		}
		s, err := decodeText(a[1], "Builtin name")
		return &Builtin{Name: s}, err
	case tagCtor:
		if err := wantLen(a, 4, "Ctor"); err != nil {
			return nil, err
		}
		r, err := decodeTypeRef(a[1])
		if err != nil {
			return nil, err
		}
		i, err := decodeInt(a[2], "Ctor index")
		if err != nil {
			return nil, err
		}
		n, err := decodeInt(a[3], "Ctor arity")
		return &Ctor{Type: r, Index: i, Arity: n}, err
	case tagInt:
		if err := wantLen(a, 2, "Int"); err != nil {
			return nil, err
		}
		n, err := decodeInt64(a[1], "Int")
		return &Int{V: n}, err
	case tagFloat:
		if err := wantLen(a, 2, "Float"); err != nil {
			return nil, err
		}
		f, err := decodeFloat(a[1])
		return &Float{V: f}, err
	case tagText:
		if err := wantLen(a, 2, "Text"); err != nil {
			return nil, err
		}
		s, err := decodeText(a[1], "Text")
		return &Text{V: s}, err
	case tagChunked:
		k, n, root, err := decodeChunkedRef(a, false)
		if err != nil {
			return nil, err
		}
		return &ChunkedLit{Kind: k, Count: n, Root: root}, nil
	case tagBool:
		if err := wantLen(a, 2, "Bool"); err != nil {
			return nil, err
		}
		b, err := decodeBool(a[1], "Bool")
		return &Bool{V: b}, err
	case tagBytes:
		if err := wantLen(a, 2, "Bytes"); err != nil {
			return nil, err
		}
		b, err := decodeBytes(a[1], "Bytes")
		return &Bytes{V: b}, err
	case tagUnit:
		if err := wantLen(a, 1, "Unit"); err != nil {
			return nil, err
		}
		return &Unit{}, nil
	case tagLam:
		if err := wantLen(a, 3, "Lam"); err != nil {
			return nil, err
		}
		n, err := decodeInt(a[1], "Lam arity")
		if err != nil {
			return nil, err
		}
		b, err := decodeTerm(a[2])
		return &Lam{Arity: n, Body: b}, err
	case tagApp:
		if err := wantMin(a, 3, "App"); err != nil {
			return nil, err
		}
		f, err := decodeTerm(a[1])
		if err != nil {
			return nil, err
		}
		args, err := decodeTerms(a[2:])
		return &App{Fn: f, Args: args}, err
	case tagLet, tagLetRec:
		if err := wantLen(a, 3, "Let"); err != nil {
			return nil, err
		}
		ts, err := decodeTerms(a[1:])
		if err != nil {
			return nil, err
		}
		if tag == tagLet {
			return &Let{Value: ts[0], Body: ts[1]}, nil
		}
		return &LetRec{Value: ts[0], Body: ts[1]}, nil
	case tagIf:
		if err := wantLen(a, 4, "If"); err != nil {
			return nil, err
		}
		ts, err := decodeTerms(a[1:])
		if err != nil {
			return nil, err
		}
		return &If{Cond: ts[0], Then: ts[1], Else: ts[2]}, nil
	case tagMatch:
		if err := wantMin(a, 2, "Match"); err != nil {
			return nil, err
		}
		if len(a)%2 != 0 {
			return nil, malformed("Match: arms must be pattern, body pairs")
		}
		s, err := decodeTerm(a[1])
		if err != nil {
			return nil, err
		}
		m := &Match{Scrutinee: s, Arms: make([]Arm, 0, (len(a)-2)/2)}
		for i := 2; i+1 < len(a); i += 2 {
			p, err := decodePattern(a[i])
			if err != nil {
				return nil, err
			}
			b, err := decodeTerm(a[i+1])
			if err != nil {
				return nil, err
			}
			m.Arms = append(m.Arms, Arm{Pat: p, Body: b})
		}
		return m, nil
	case tagTuple:
		ts, err := decodeTerms(a[1:])
		return &Tuple{Elems: ts}, err
	case tagList:
		ts, err := decodeTerms(a[1:])
		return &List{Elems: ts}, err
	case tagDelay, tagForce:
		if err := wantLen(a, 2, "Delay/Force"); err != nil {
			return nil, err
		}
		b, err := decodeTerm(a[1])
		if err != nil {
			return nil, err
		}
		if tag == tagDelay {
			return &Delay{Body: b}, nil
		}
		return &Force{X: b}, nil
	}
	return nil, malformed("unknown term tag %d", tag)
}

// ---- patterns ----

func (e *encoder) encodePatterns(dst []any, ps []Pattern, lvl int) ([]any, error) {
	for _, p := range ps {
		n, err := e.encodePattern(p, lvl)
		if err != nil {
			return nil, err
		}
		dst = append(dst, n)
	}
	return dst, nil
}

func decodePatterns(xs []any) ([]Pattern, error) {
	ps := make([]Pattern, len(xs))
	for i, x := range xs {
		p, err := decodePattern(x)
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return ps, nil
}

func (e *encoder) encodePattern(p Pattern, lvl int) (any, error) {
	if lvl > MaxNesting {
		return nil, errTooDeep()
	}
	if err := e.charge(1); err != nil {
		return nil, err
	}
	if isNil(p) {
		return nil, invalid("nil pattern")
	}
	switch p := p.(type) {
	case *PVar:
		return []any{int64(ptagVar)}, nil
	case *PWild:
		return []any{int64(ptagWild)}, nil
	case *PLit:
		if isNil(p.Lit) || !isLiteral(p.Lit) {
			return nil, invalid("PLit of %T, want a literal term", p.Lit)
		}
		chunks := e.chunks
		e.chunks = nil // pattern literals stay inline
		l, err := e.encodeTerm(p.Lit, lvl+1)
		e.chunks = chunks
		if err != nil {
			return nil, err
		}
		return []any{int64(ptagLit), l}, nil
	case *PCtor:
		r, err := encodeTypeRef(p.Type, lvl+1)
		if err != nil {
			return nil, err
		}
		i, err := encodeInt(p.Index, "PCtor index")
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, 3+len(p.Args))
		return e.encodePatterns(append(out, int64(ptagCtor), r, i), p.Args, lvl+1)
	case *PTuple:
		return e.encodePatterns(append(make([]any, 0, 1+len(p.Elems)), int64(ptagTuple)), p.Elems, lvl+1)
	case *PList:
		return e.encodePatterns(append(make([]any, 0, 1+len(p.Elems)), int64(ptagList)), p.Elems, lvl+1)
	case *PCons:
		return e.encodePatterns(append(make([]any, 0, 3), int64(ptagCons)), []Pattern{p.Head, p.Tail}, lvl+1)
	}
	return nil, invalid("unknown pattern type %T", p)
}

func decodePattern(x any) (Pattern, error) {
	a, tag, err := tagged(x, "pattern")
	if err != nil {
		return nil, err
	}
	switch tag {
	case ptagVar, ptagWild:
		if err := wantLen(a, 1, "PVar/PWild"); err != nil {
			return nil, err
		}
		if tag == ptagVar {
			return &PVar{}, nil
		}
		return &PWild{}, nil
	case ptagLit:
		if err := wantLen(a, 2, "PLit"); err != nil {
			return nil, err
		}
		l, err := decodeTerm(a[1])
		if err != nil {
			return nil, err
		}
		if !isLiteral(l) {
			return nil, malformed("PLit of non-literal term")
		}
		return &PLit{Lit: l}, nil
	case ptagCtor:
		if err := wantMin(a, 3, "PCtor"); err != nil {
			return nil, err
		}
		r, err := decodeTypeRef(a[1])
		if err != nil {
			return nil, err
		}
		i, err := decodeInt(a[2], "PCtor index")
		if err != nil {
			return nil, err
		}
		args, err := decodePatterns(a[3:])
		return &PCtor{Type: r, Index: i, Args: args}, err
	case ptagTuple:
		ps, err := decodePatterns(a[1:])
		return &PTuple{Elems: ps}, err
	case ptagList:
		ps, err := decodePatterns(a[1:])
		return &PList{Elems: ps}, err
	case ptagCons:
		if err := wantLen(a, 3, "PCons"); err != nil {
			return nil, err
		}
		ps, err := decodePatterns(a[1:])
		if err != nil {
			return nil, err
		}
		return &PCons{Head: ps[0], Tail: ps[1]}, nil
	}
	return nil, malformed("unknown pattern tag %d", tag)
}

// ---- type terms ----

func (e *encoder) encodeTypeTerms(dst []any, ts []TypeTerm, lvl int) ([]any, error) {
	for _, t := range ts {
		n, err := e.encodeTypeTerm(t, lvl)
		if err != nil {
			return nil, err
		}
		dst = append(dst, n)
	}
	return dst, nil
}

func decodeTypeTerms(xs []any) ([]TypeTerm, error) {
	ts := make([]TypeTerm, len(xs))
	for i, x := range xs {
		t, err := decodeTypeTerm(x)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	return ts, nil
}

func (e *encoder) encodeTypeTerm(t TypeTerm, lvl int) (any, error) {
	if lvl > MaxNesting {
		return nil, errTooDeep()
	}
	if err := e.charge(1); err != nil {
		return nil, err
	}
	if isNil(t) {
		return nil, invalid("nil type term")
	}
	switch t := t.(type) {
	case *TVar:
		i, err := encodeInt(t.Index, "TVar index")
		if err != nil {
			return nil, err
		}
		return []any{int64(ttagVar), i}, nil
	case *TRef:
		return encodeDefRef(append(make([]any, 0, 3), int64(ttagRef)), t.Def)
	case *TSelf:
		m, err := encodeInt(t.Member, "TSelf member")
		if err != nil {
			return nil, err
		}
		return []any{int64(ttagSelf), m}, nil
	case *TBuiltin:
		n, err := encodeName(t.Name, "builtin type name")
		if err != nil {
			return nil, err
		}
		return []any{int64(ttagBuiltin), n}, nil
	case *TApp:
		if len(t.Args) == 0 {
			return nil, invalid("TApp with no arguments")
		}
		return e.encodeTypeTerms(append(make([]any, 0, 2+len(t.Args)), int64(ttagApp)), append([]TypeTerm{t.Fn}, t.Args...), lvl+1)
	case *TFun:
		return e.encodeTypeTerms(append(make([]any, 0, 3), int64(ttagFun)), []TypeTerm{t.Arg, t.Res}, lvl+1)
	case *TTuple:
		return e.encodeTypeTerms(append(make([]any, 0, 1+len(t.Elems)), int64(ttagTuple)), t.Elems, lvl+1)
	}
	return nil, invalid("unknown type term %T", t)
}

func decodeTypeTerm(x any) (TypeTerm, error) {
	a, tag, err := tagged(x, "type term")
	if err != nil {
		return nil, err
	}
	switch tag {
	case ttagVar:
		if err := wantLen(a, 2, "TVar"); err != nil {
			return nil, err
		}
		i, err := decodeInt(a[1], "TVar index")
		return &TVar{Index: i}, err
	case ttagRef:
		if err := wantLen(a, 3, "TRef"); err != nil {
			return nil, err
		}
		d, err := decodeDefRef(a[1], a[2])
		return &TRef{Def: d}, err
	case ttagSelf:
		if err := wantLen(a, 2, "TSelf"); err != nil {
			return nil, err
		}
		m, err := decodeInt(a[1], "TSelf member")
		return &TSelf{Member: m}, err
	case ttagBuiltin:
		if err := wantLen(a, 2, "TBuiltin"); err != nil {
			return nil, err
		}
		s, err := decodeText(a[1], "TBuiltin name")
		return &TBuiltin{Name: s}, err
	case ttagApp:
		if err := wantMin(a, 3, "TApp"); err != nil {
			return nil, err
		}
		ts, err := decodeTypeTerms(a[1:])
		if err != nil {
			return nil, err
		}
		return &TApp{Fn: ts[0], Args: ts[1:]}, nil
	case ttagFun:
		if err := wantLen(a, 3, "TFun"); err != nil {
			return nil, err
		}
		ts, err := decodeTypeTerms(a[1:])
		if err != nil {
			return nil, err
		}
		return &TFun{Arg: ts[0], Res: ts[1]}, nil
	case ttagTuple:
		ts, err := decodeTypeTerms(a[1:])
		return &TTuple{Elems: ts}, err
	}
	return nil, malformed("unknown type term tag %d", tag)
}
