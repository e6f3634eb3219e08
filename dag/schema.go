package dag

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Block schema (docs/protocol.md, "Block schema").
//
// Canonical DAG-CBOR is not enough for a block to be stored: the store
// keeps only blocks this version can use, term blocks and type blocks
// exactly as DecodeTermBlock and DecodeTypeBlock accept them, whose links
// all name blocks of the one kind the store holds (CIDv1, dag-cbor,
// sha2-256). The check walks the generic form of the block once, keeping
// the path to where it is, so that a refusal names the field and what
// was expected there. It mirrors the typed decoders and the invariants
// their canonical re-encoding enforces (non-negative indices, Lam arity
// >= 1, Tuple of >= 2, a LetRec's value a Lam, non-empty builtin names,
// ...); FuzzValidateBlock checks that the two agree.

// ErrSchema matches every *SchemaError.
var ErrSchema = errors.New("block outside unode's schema")

// SchemaError reports a block that is canonical DAG-CBOR but not a block
// unode can use: an unknown key, a field of the wrong shape, a link to a
// kind of block the store never holds. It matches ErrSchema and, since
// such a block is malformed as far as unode is concerned, ErrMalformed.
type SchemaError struct {
	// Path locates the field from the top of the block, e.g.
	// `members[0].term[2][1]` (array elements by index, map keys by
	// name); empty for the block itself.
	Path string
	// Field names what the field is: "Var index", "kind", "link".
	Field string
	// Want says what was expected, Got what was found.
	Want, Got string
}

func (e *SchemaError) Error() string {
	at := e.Path
	if at == "" {
		at = "the top"
	}
	return fmt.Sprintf("dag: block outside the schema at %s (%s): want %s, found %s", at, e.Field, e.Want, e.Got)
}

// Is makes every SchemaError match ErrSchema and ErrMalformed.
func (e *SchemaError) Is(target error) bool { return target == ErrSchema || target == ErrMalformed }

// ValidateBlock checks that data is a block the store may keep: within
// MaxBlockSize, canonical DAG-CBOR (else a *DecodeError), and a term or
// type block of this version's schema with every link to a CIDv1
// dag-cbor sha2-256 block (else a *SchemaError naming the field). Every
// block NewBlock is given by the compiler passes; Store.Put and
// AddBlocks call it on every block they store.
func ValidateBlock(data []byte) error {
	_, err := validatedLinks(data)
	return err
}

// CheckBlock makes every check Store.Put makes of a block before it
// stores it: a supported CID (ErrUnsupportedCID), within MaxBlockSize
// (ErrTooLarge), bytes that hash to the CID (*HashMismatchError), and
// ValidateBlock. Callers that must refuse a whole batch before they do
// anything with it (an import) check each block first.
func CheckBlock(b Block) error {
	_, err := verify(b)
	return err
}

// ValidatedLinks is ValidateBlock and NeededLinks in one decoding: the
// links a holder of the valid block needs. Use it on blocks received
// from outside before trusting their links.
func ValidatedLinks(data []byte) ([]cid.Cid, error) {
	return validatedLinks(data)
}

func validatedLinks(data []byte) ([]cid.Cid, error) {
	_, links, err := validated(data)
	return links, err
}

// validated is validatedLinks, with the block's typed form (*TermBlock
// or *TypeBlock) when the one-pass decoder (fastReader) took it, nil
// when the general path did.
func validated(data []byte) (any, []cid.Cid, error) {
	if b, links, ok := fastBlock(data); ok {
		// What the typed decoders take, with every link supported, is
		// exactly the schema (FuzzValidateBlock); fastBlock takes a
		// subset of that (FuzzFastBlock).
		if len(links) > 0 && bytes.Contains(data, fixedNodeMarker) {
			needed, err := NeededLinks(data)
			return b, needed, err
		}
		return b, links, nil
	}
	links, err := validatedGeneral(data)
	return nil, links, err
}

// validatedGeneral is validatedLinks on the general path: the generic
// form, walked by schemaWalker, which names what is wrong.
func validatedGeneral(data []byte) ([]cid.Cid, error) {
	if len(data) > MaxBlockSize {
		return nil, &DecodeError{Msg: "block is " + strconv.Itoa(len(data)) + " bytes, limit " + strconv.Itoa(MaxBlockSize), Err: ErrTooLarge}
	}
	seen := make(map[cid.Cid]struct{})
	x, err := decodeGeneric(data, func(c cid.Cid) { seen[c] = struct{}{} })
	if err != nil {
		return nil, err
	}
	if m, ok := x.(map[string]any); ok && m[fieldKind] == ChunkBlockKind {
		// A chunk block (chunk.go): its node and values, and links to
		// supported blocks only.
		if err := validateChunk(data); err != nil {
			return nil, err
		}
		for c := range seen {
			if !supportedCID(c) {
				return nil, &SchemaError{Path: "chunk", Field: "link", Want: "a CIDv1 dag-cbor sha2-256 link", Got: c.String()}
			}
		}
		return sortedSet(seen), nil
	}
	w := schemaWalker{path: make([]pathStep, 0, 32)} // deeper terms grow it
	if err := w.block(x); err != nil {
		return nil, err
	}
	links := sortedSet(seen)
	if len(links) == 0 || !bytes.Contains(data, fixedNodeMarker) {
		return links, nil
	}
	// Node-fixed code (here.go): NeededLinks leaves some links out.
	return NeededLinks(data)
}

// schemaWalker walks the generic form of a block. path is the way from
// the top to the field being checked; it is rendered only for an error.
type schemaWalker struct {
	path []pathStep
}

// pathStep is one step of a path: a map key, or an array index.
type pathStep struct {
	key   string
	index int
}

func (w *schemaWalker) push(s pathStep) { w.path = append(w.path, s) }
func (w *schemaWalker) pop()            { w.path = w.path[:len(w.path)-1] }

func (w *schemaWalker) pathString() string {
	var b strings.Builder
	for _, s := range w.path {
		if s.key != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
			continue
		}
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(s.index))
		b.WriteByte(']')
	}
	return b.String()
}

// fail reports the field at the current path.
func (w *schemaWalker) fail(field, want, got string) *SchemaError {
	return &SchemaError{Path: w.pathString(), Field: field, Want: want, Got: got}
}

// at reports element i of the array at the current path.
func (w *schemaWalker) at(i int, field, want string, x any) *SchemaError {
	w.push(pathStep{index: i})
	defer w.pop()
	return w.fail(field, want, found(x))
}

// found describes a generic value for an error, with the value itself
// where it is short.
func found(x any) string {
	switch x := x.(type) {
	case uint64:
		return "int " + strconv.FormatUint(x, 10)
	case int64:
		return "int " + strconv.FormatInt(x, 10)
	case string:
		if len(x) <= 32 {
			return "text " + strconv.Quote(x)
		}
	case []any:
		if len(x) > 0 {
			if tag, ok := x[0].(uint64); ok {
				return "array of " + strconv.Itoa(len(x)) + " with tag " + strconv.FormatUint(tag, 10)
			}
		}
	}
	return describe(x)
}

// ---- envelope ----

var (
	blockKeys      = []string{fieldVersion, fieldKind, fieldMembers}
	typeMemberKeys = []string{fieldParams, fieldCtors}
)

func (w *schemaWalker) block(x any) error {
	m, ok := x.(map[string]any)
	if !ok {
		return w.fail("block", `a map {"kind", "members", "unode"}`, found(x))
	}
	v, ok := m[fieldVersion]
	if !ok {
		return w.fail("block", fmt.Sprintf("a %q key", fieldVersion), "none")
	}
	if n, ok := v.(uint64); !ok || n != formatVersion {
		w.push(pathStep{key: fieldVersion})
		defer w.pop()
		return w.fail("format version", strconv.Itoa(formatVersion), found(v))
	}
	k, ok := m[fieldKind]
	if !ok {
		return w.fail("block", fmt.Sprintf("a %q key", fieldKind), "none")
	}
	kind, _ := k.(string)
	if kind != TermBlockKind && kind != TypeBlockKind {
		w.push(pathStep{key: fieldKind})
		defer w.pop()
		return w.fail("block kind", fmt.Sprintf("%q or %q", TermBlockKind, TypeBlockKind), found(k))
	}
	if err := w.keys(m, "block", blockKeys); err != nil {
		return err
	}
	w.push(pathStep{key: fieldMembers})
	defer w.pop()
	ms, ok := m[fieldMembers].([]any)
	if !ok || len(ms) == 0 {
		return w.fail("members", "a non-empty array", found(m[fieldMembers]))
	}
	for i, mem := range ms {
		w.push(pathStep{index: i})
		var err error
		if kind == TermBlockKind {
			err = w.termMember(mem)
		} else {
			err = w.typeMember(mem)
		}
		if err != nil {
			return err
		}
		w.pop()
	}
	return nil
}

// keys checks that m has exactly the keys want (sorted as in a canonical
// encoding), naming the first unknown or missing one.
func (w *schemaWalker) keys(m map[string]any, field string, want []string) error {
	for _, k := range want {
		if _, ok := m[k]; !ok {
			return w.fail(field, fmt.Sprintf("a %q key", k), "none")
		}
	}
	if len(m) == len(want) {
		return nil
	}
	var unknown []string
	for k := range m {
		if !contains(want, k) {
			unknown = append(unknown, k)
		}
	}
	sortKeys(unknown)
	return w.fail(field, "only the keys "+quoteAll(want), "unknown key "+strconv.Quote(unknown[0]))
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// sortKeys sorts map keys as DAG-CBOR does: length first, then bytewise.
func sortKeys(ks []string) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && (len(ks[j]) < len(ks[j-1]) || len(ks[j]) == len(ks[j-1]) && ks[j] < ks[j-1]); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

func quoteAll(ks []string) string {
	q := make([]string, len(ks))
	for i, k := range ks {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}

func (w *schemaWalker) termMember(x any) error {
	m, ok := x.(map[string]any)
	if !ok {
		return w.fail("term block member", `a map {"term"}`, found(x))
	}
	if err := w.keys(m, "term block member", []string{fieldTerm}); err != nil {
		return err
	}
	w.push(pathStep{key: fieldTerm})
	defer w.pop()
	return w.term(m[fieldTerm], 4) // envelope, members, member map, term
}

func (w *schemaWalker) typeMember(x any) error {
	m, ok := x.(map[string]any)
	if !ok {
		return w.fail("type block member", `a map {"ctors", "params"}`, found(x))
	}
	if err := w.keys(m, "type block member", typeMemberKeys); err != nil {
		return err
	}
	w.push(pathStep{key: fieldParams})
	if err := w.count(m[fieldParams], "type parameter count", 0); err != nil {
		return err
	}
	w.pop()
	w.push(pathStep{key: fieldCtors})
	defer w.pop()
	cs, ok := m[fieldCtors].([]any)
	if !ok {
		return w.fail("constructors", "an array of constructors", found(m[fieldCtors]))
	}
	for j, c := range cs {
		fs, ok := c.([]any)
		if !ok {
			return w.at(j, "constructor", "an array of field types", c)
		}
		w.push(pathStep{index: j})
		for k, f := range fs {
			w.push(pathStep{index: k})
			// envelope, members, member map, ctors, fields, type term
			if err := w.typeTerm(f, 6); err != nil {
				return err
			}
			w.pop()
		}
		w.pop()
	}
	return nil
}

// ---- fields ----

// count checks a non-negative int field at the current path (an index, a
// member, an arity) of at least min.
func (w *schemaWalker) count(x any, field string, min int) error {
	n, ok := x.(uint64)
	if !ok || n > math.MaxInt64 || n < uint64(min) {
		return w.fail(field, "an int >= "+strconv.Itoa(min), found(x))
	}
	return nil
}

// countAt is count for element i of array a.
func (w *schemaWalker) countAt(a []any, i int, field string, min int) error {
	w.push(pathStep{index: i})
	defer w.pop()
	return w.count(a[i], field, min)
}

// intAt checks an Int literal: any int64.
func (w *schemaWalker) intAt(a []any, i int, field string) error {
	switch n := a[i].(type) {
	case int64:
		return nil
	case uint64:
		if n <= math.MaxInt64 {
			return nil
		}
	}
	return w.at(i, field, "a 64-bit signed int", a[i])
}

func (w *schemaWalker) floatAt(a []any, i int) error {
	switch f := a[i].(type) {
	case float64:
		return nil
	case string:
		if f == floatNaN || f == floatPosInf || f == floatNegInf {
			return nil
		}
	}
	return w.at(i, "Float", `a float or "NaN", "Inf", "-Inf"`, a[i])
}

// textAt checks a text field; nonEmpty for names.
func (w *schemaWalker) textAt(a []any, i int, field string, nonEmpty bool) error {
	s, ok := a[i].(string)
	if !ok {
		return w.at(i, field, "text", a[i])
	}
	if nonEmpty && s == "" {
		return w.at(i, field, "non-empty text", a[i])
	}
	return nil
}

func (w *schemaWalker) kindAt(a []any, i int, field, want string, ok bool) error {
	if ok {
		return nil
	}
	return w.at(i, field, want, a[i])
}

// linkAt checks a link to a block the store may hold.
func (w *schemaWalker) linkAt(a []any, i int, field string) error {
	const want = "a link (tag 42) to a CIDv1 dag-cbor sha2-256 block"
	if _, ok := a[i].(cbor.Tag); !ok {
		return w.at(i, field, want, a[i])
	}
	c, err := decodeLink(a[i])
	if err != nil {
		return w.at(i, field, want, a[i])
	}
	if supportedCID(c) {
		return nil
	}
	w.push(pathStep{index: i})
	defer w.pop()
	return w.fail(field, want, linkKind(c))
}

// codecNames names the codecs a link from another IPLD tool most often
// has, for errors.
var codecNames = map[uint64]string{
	cid.Raw:         "raw",
	cid.DagProtobuf: "dag-pb",
	cid.DagCBOR:     "dag-cbor",
	cid.DagJSON:     "dag-json",
	cid.Libp2pKey:   "libp2p-key",
}

// linkKind describes the kind of an unsupported CID.
func linkKind(c cid.Cid) string {
	p := c.Prefix()
	if p.Version == 0 {
		return "a CIDv0 link " + c.String()
	}
	codec := "codec 0x" + strconv.FormatUint(p.Codec, 16)
	if name, ok := codecNames[p.Codec]; ok {
		codec = name + " (0x" + strconv.FormatUint(p.Codec, 16) + ")"
	}
	hash := "0x" + strconv.FormatUint(p.MhType, 16)
	if name, ok := mh.Codes[p.MhType]; ok {
		hash = name
	}
	return fmt.Sprintf("a CIDv%d link, %s, %s of %d bytes: %s", p.Version, codec, hash, p.MhLength, c)
}

// defRefAt checks a [.., link, member] pair starting at a[i]; the
// fields are named as given (constants: this runs for every link).
func (w *schemaWalker) defRefAt(a []any, i int, linkField, memberField string) error {
	if err := w.linkAt(a, i, linkField); err != nil {
		return err
	}
	return w.countAt(a, i+1, memberField, 0)
}

// typeRefAt checks a type reference: a builtin type's non-empty name, or
// [link, member] one level deeper.
func (w *schemaWalker) typeRefAt(a []any, i int, lvl int) error {
	const want = "a type reference: a builtin type's name, or [link, member]"
	switch x := a[i].(type) {
	case string:
		if x != "" {
			return nil
		}
	case []any:
		if lvl > MaxNesting {
			return w.at(i, "type reference", "nesting at most "+strconv.Itoa(MaxNesting), x)
		}
		if len(x) != 2 {
			return w.at(i, "type reference", want, x)
		}
		w.push(pathStep{index: i})
		defer w.pop()
		return w.defRefAt(x, 0, "type reference link", "type reference member")
	}
	return w.at(i, "type reference", want, a[i])
}

// ---- terms, patterns, type terms ----

// tagged splits a [tag, ...] array at the current path.
func (w *schemaWalker) tagged(x any, what string, lvl int) ([]any, uint64, error) {
	a, ok := x.([]any)
	if !ok || len(a) == 0 {
		return nil, 0, w.fail(what, "an array [tag, ...]", found(x))
	}
	tag, ok := a[0].(uint64)
	if !ok {
		return nil, 0, w.at(0, what+" tag", "a small unsigned int", a[0])
	}
	if lvl > MaxNesting {
		return nil, 0, w.fail(what, "nesting at most "+strconv.Itoa(MaxNesting), found(x))
	}
	return a, tag, nil
}

// arity checks the length of a tagged array: exactly n, or at least n
// when atLeast.
func (w *schemaWalker) arity(a []any, name string, n int, atLeast bool) error {
	if len(a) == n || atLeast && len(a) > n {
		return nil
	}
	want := "an array of " + strconv.Itoa(n)
	if atLeast {
		want = "an array of at least " + strconv.Itoa(n)
	}
	return w.fail(name, want, "an array of "+strconv.Itoa(len(a)))
}

// termsFrom checks a[from:] as terms one level down.
func (w *schemaWalker) termsFrom(a []any, from, lvl int) error {
	for i := from; i < len(a); i++ {
		w.push(pathStep{index: i})
		if err := w.term(a[i], lvl+1); err != nil {
			return err
		}
		w.pop()
	}
	return nil
}

// term checks a term whose array sits at nesting level lvl (as
// encodeTerm counts it).
func (w *schemaWalker) term(x any, lvl int) error {
	a, tag, err := w.tagged(x, "term", lvl)
	if err != nil {
		return err
	}
	switch tag {
	case tagVar:
		if err := w.arity(a, "Var", 2, false); err != nil {
			return err
		}
		return w.countAt(a, 1, "Var index", 0)
	case tagRef:
		if err := w.arity(a, "Ref", 3, false); err != nil {
			return err
		}
		return w.defRefAt(a, 1, "Ref link", "Ref member")
	case tagSelf:
		if err := w.arity(a, "Self", 2, false); err != nil {
			return err
		}
		return w.countAt(a, 1, "Self member", 0)
	case tagBuiltin:
		if err := w.arity(a, "Builtin", 2, false); err != nil {
			return err
		}
		return w.textAt(a, 1, "Builtin name", true)
	case tagCtor:
		if err := w.arity(a, "Ctor", 4, false); err != nil {
			return err
		}
		if err := w.typeRefAt(a, 1, lvl+1); err != nil {
			return err
		}
		if err := w.countAt(a, 2, "Ctor index", 0); err != nil {
			return err
		}
		return w.countAt(a, 3, "Ctor arity", 0)
	case tagInt:
		if err := w.arity(a, "Int", 2, false); err != nil {
			return err
		}
		return w.intAt(a, 1, "Int")
	case tagFloat:
		if err := w.arity(a, "Float", 2, false); err != nil {
			return err
		}
		return w.floatAt(a, 1)
	case tagText:
		if err := w.arity(a, "Text", 2, false); err != nil {
			return err
		}
		return w.textAt(a, 1, "Text", false)
	case tagBool:
		if err := w.arity(a, "Bool", 2, false); err != nil {
			return err
		}
		_, ok := a[1].(bool)
		return w.kindAt(a, 1, "Bool", "a bool", ok)
	case tagBytes:
		if err := w.arity(a, "Bytes", 2, false); err != nil {
			return err
		}
		_, ok := a[1].([]byte)
		return w.kindAt(a, 1, "Bytes", "bytes", ok)
	case tagUnit:
		return w.arity(a, "Unit", 1, false)
	case tagLam:
		if err := w.arity(a, "Lam", 3, false); err != nil {
			return err
		}
		if err := w.countAt(a, 1, "Lam arity", 1); err != nil {
			return err
		}
		return w.termsFrom(a, 2, lvl)
	case tagApp:
		if err := w.arity(a, "App", 3, true); err != nil {
			return err
		}
		return w.termsFrom(a, 1, lvl)
	case tagLet:
		if err := w.arity(a, "Let", 3, false); err != nil {
			return err
		}
		return w.termsFrom(a, 1, lvl)
	case tagLetRec:
		if err := w.arity(a, "LetRec", 3, false); err != nil {
			return err
		}
		if v, ok := a[1].([]any); !ok || len(v) == 0 || v[0] != uint64(tagLam) {
			return w.at(1, "LetRec value", "a Lam (tag 11)", a[1])
		}
		return w.termsFrom(a, 1, lvl)
	case tagIf:
		if err := w.arity(a, "If", 4, false); err != nil {
			return err
		}
		return w.termsFrom(a, 1, lvl)
	case tagMatch:
		if err := w.arity(a, "Match", 2, true); err != nil {
			return err
		}
		if len(a)%2 != 0 {
			return w.fail("Match", "[16, scrutinee, pattern, body, ...]: an even length", "an array of "+strconv.Itoa(len(a)))
		}
		for i := 1; i < len(a); i++ {
			w.push(pathStep{index: i})
			if i >= 2 && i%2 == 0 {
				err = w.pattern(a[i], lvl+1)
			} else {
				err = w.term(a[i], lvl+1)
			}
			if err != nil {
				return err
			}
			w.pop()
		}
		return nil
	case tagTuple:
		if err := w.arity(a, "Tuple", 3, true); err != nil {
			return err
		}
		return w.termsFrom(a, 1, lvl)
	case tagList:
		return w.termsFrom(a, 1, lvl)
	case tagDelay:
		if err := w.arity(a, "Delay", 2, false); err != nil {
			return err
		}
		return w.termsFrom(a, 1, lvl)
	case tagForce:
		if err := w.arity(a, "Force", 2, false); err != nil {
			return err
		}
		return w.termsFrom(a, 1, lvl)
	case tagChunked:
		if _, _, _, err := decodeChunkedRef(a, false); err != nil {
			return w.fail("chunked literal", "[21, kind, count, link] (docs/protocol.md, \"Chunked values\")", err.Error())
		}
		return w.linkAt(a, 3, "chunked literal link")
	}
	return w.at(0, "term tag", "a term tag 0 to 21", a[0])
}

// isLiteralTag reports whether a term tag is a literal's (PLit).
func isLiteralTag(tag uint64) bool {
	switch tag {
	case tagInt, tagFloat, tagText, tagBool, tagBytes, tagUnit:
		return true
	}
	return false
}

func (w *schemaWalker) pattern(x any, lvl int) error {
	a, tag, err := w.tagged(x, "pattern", lvl)
	if err != nil {
		return err
	}
	patterns := func(from int) error {
		for i := from; i < len(a); i++ {
			w.push(pathStep{index: i})
			if err := w.pattern(a[i], lvl+1); err != nil {
				return err
			}
			w.pop()
		}
		return nil
	}
	switch tag {
	case ptagVar:
		return w.arity(a, "PVar", 1, false)
	case ptagWild:
		return w.arity(a, "PWild", 1, false)
	case ptagLit:
		if err := w.arity(a, "PLit", 2, false); err != nil {
			return err
		}
		if l, ok := a[1].([]any); !ok || len(l) == 0 || !isTag(l[0], isLiteralTag) {
			return w.at(1, "PLit literal", "a literal term (Int, Float, Text, Bool, Bytes or Unit)", a[1])
		}
		w.push(pathStep{index: 1})
		defer w.pop()
		return w.term(a[1], lvl+1)
	case ptagCtor:
		if err := w.arity(a, "PCtor", 3, true); err != nil {
			return err
		}
		if err := w.typeRefAt(a, 1, lvl+1); err != nil {
			return err
		}
		if err := w.countAt(a, 2, "PCtor index", 0); err != nil {
			return err
		}
		return patterns(3)
	case ptagTuple, ptagList:
		return patterns(1)
	case ptagCons:
		if err := w.arity(a, "PCons", 3, false); err != nil {
			return err
		}
		return patterns(1)
	}
	return w.at(0, "pattern tag", "a pattern tag 0 to 6", a[0])
}

func isTag(x any, ok func(uint64) bool) bool {
	t, isInt := x.(uint64)
	return isInt && ok(t)
}

func (w *schemaWalker) typeTerm(x any, lvl int) error {
	a, tag, err := w.tagged(x, "type term", lvl)
	if err != nil {
		return err
	}
	typeTerms := func(from int) error {
		for i := from; i < len(a); i++ {
			w.push(pathStep{index: i})
			if err := w.typeTerm(a[i], lvl+1); err != nil {
				return err
			}
			w.pop()
		}
		return nil
	}
	switch tag {
	case ttagVar:
		if err := w.arity(a, "TVar", 2, false); err != nil {
			return err
		}
		return w.countAt(a, 1, "TVar index", 0)
	case ttagRef:
		if err := w.arity(a, "TRef", 3, false); err != nil {
			return err
		}
		return w.defRefAt(a, 1, "TRef link", "TRef member")
	case ttagSelf:
		if err := w.arity(a, "TSelf", 2, false); err != nil {
			return err
		}
		return w.countAt(a, 1, "TSelf member", 0)
	case ttagBuiltin:
		if err := w.arity(a, "TBuiltin", 2, false); err != nil {
			return err
		}
		return w.textAt(a, 1, "TBuiltin name", true)
	case ttagApp:
		if err := w.arity(a, "TApp", 3, true); err != nil {
			return err
		}
		return typeTerms(1)
	case ttagFun:
		if err := w.arity(a, "TFun", 3, false); err != nil {
			return err
		}
		return typeTerms(1)
	case ttagTuple:
		return typeTerms(1)
	}
	return w.at(0, "type term tag", "a type term tag 0 to 6", a[0])
}
