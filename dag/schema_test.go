package dag

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// schemaBase is a valid term block with one of each shape the mutations
// below reach into: members[0].term is
// [11, 1, [12, [1, link, 0], [16, [0, 0], [3, typeref, 0, [0]], [4, [1, link, 0], 0, 0]]]].
func schemaBase(t testing.TB) []byte {
	t.Helper()
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{&Lam{Arity: 1, Body: &App{
		Fn: &Ref{Def: codecRef("f", 0)},
		Args: []Term{&Match{Scrutinee: &Var{Index: 0}, Arms: []Arm{
			{Pat: &PCtor{Type: codecTypeRef, Index: 0, Args: []Pattern{&PVar{}}}, Body: &Ctor{Type: codecTypeRef}},
		}}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func schemaTypeBase(t testing.TB) []byte {
	t.Helper()
	data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{{Params: 1, Ctors: [][]TypeTerm{
		{&TRef{Def: codecRef("T", 0)}, &TVar{Index: 0}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mutated decodes a valid block to its generic form, lets f change it
// and encodes the result canonically: DAG-CBOR that every generic tool
// accepts, but maybe not unode's schema.
func mutated(t testing.TB, data []byte, f func(m map[string]any)) []byte {
	t.Helper()
	x, err := decodeItem(data, MaxBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	f(x.(map[string]any))
	out, err := marshal(x, MaxBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Links(out); err != nil {
		t.Fatalf("mutated block is not canonical DAG-CBOR: %v", err)
	}
	return out
}

// term0 is members[0].term of a term block's generic form.
func term0(m map[string]any) []any {
	return m[fieldMembers].([]any)[0].(map[string]any)[fieldTerm].([]any)
}

func linkTo(c cid.Cid) cbor.Tag {
	l, err := encodeLink(c)
	if err != nil {
		panic(err)
	}
	return l.(cbor.Tag)
}

func TestValidateBlockAccepts(t *testing.T) {
	for _, data := range [][]byte{schemaBase(t), schemaTypeBase(t)} {
		if err := ValidateBlock(data); err != nil {
			t.Errorf("valid block refused: %v", err)
		}
	}
	for _, tc := range codecTerms {
		data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t, &Self{}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateBlock(data); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	var decl DataDecl
	for _, tc := range codecTypes {
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t})
	}
	data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{&decl, {Params: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateBlock(data); err != nil {
		t.Errorf("type block: %v", err)
	}
}

// Canonical DAG-CBOR outside unode's schema: each case is refused with
// a *SchemaError naming where and what (before the schema check, Store.Put
// stored all of them).
func TestValidateBlockRefuses(t *testing.T) {
	raw, _ := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum([]byte("x"))
	v0, _ := cid.V0Builder{}.Sum([]byte("x"))
	ident, _ := cid.V1Builder{Codec: cid.DagCBOR, MhType: mh.IDENTITY}.Sum([]byte("x"))
	blake, _ := cid.V1Builder{Codec: cid.DagCBOR, MhType: mh.BLAKE2B_MIN + 31}.Sum([]byte("x"))
	term := schemaBase(t)
	typ := schemaTypeBase(t)
	cases := []struct {
		name       string
		base       []byte
		f          func(m map[string]any)
		path, want string // want: a substring of the error
	}{
		{"unknown top key", term, func(m map[string]any) { m["extra"] = uint64(1) }, "", `unknown key "extra"`},
		{"no members", term, func(m map[string]any) { delete(m, fieldMembers) }, "", `a "members" key`},
		{"format version", term, func(m map[string]any) { m[fieldVersion] = uint64(2) }, "unode", "want 1"},
		{"value kind", term, func(m map[string]any) { m[fieldKind] = ValueBlockKind }, "kind", `"term" or "type"`},
		{"kind not text", term, func(m map[string]any) { m[fieldKind] = uint64(1) }, "kind", "found int 1"},
		{"empty members", term, func(m map[string]any) { m[fieldMembers] = []any{} }, "members", "non-empty array"},
		{"member unknown key", term, func(m map[string]any) {
			m[fieldMembers].([]any)[0].(map[string]any)["type"] = "Int"
		}, "members[0]", `unknown key "type"`},
		{"member not a map", term, func(m map[string]any) { m[fieldMembers] = []any{uint64(1)} }, "members[0]", "found int 1"},
		{"lam arity 0", term, func(m map[string]any) { term0(m)[1] = uint64(0) }, "members[0].term[1]", "Lam arity"},
		{"lam arity text", term, func(m map[string]any) { term0(m)[1] = "one" }, "members[0].term[1]", `found text "one"`},
		{"unknown term tag", term, func(m map[string]any) { term0(m)[0] = uint64(99) }, "members[0].term[0]", "term tag"},
		{"negative tag", term, func(m map[string]any) { term0(m)[0] = int64(-1) }, "members[0].term[0]", "small unsigned int"},
		{"lam too long", term, func(m map[string]any) {
			m[fieldMembers].([]any)[0].(map[string]any)[fieldTerm] = append(term0(m), uint64(0))
		}, "members[0].term", "an array of 3"},
		{"app no args", term, func(m map[string]any) {
			app := term0(m)[2].([]any)
			term0(m)[2] = app[:2]
		}, "members[0].term[2]", "at least 3"},
		{"var index negative", term, func(m map[string]any) {
			term0(m)[2].([]any)[2].([]any)[1].([]any)[1] = int64(-1)
		}, "members[0].term[2][2][1][1]", "Var index"},
		{"ref member text", term, func(m map[string]any) {
			term0(m)[2].([]any)[1].([]any)[2] = "0"
		}, "members[0].term[2][1][2]", "Ref member"},
		{"ref to raw", term, func(m map[string]any) {
			term0(m)[2].([]any)[1].([]any)[1] = linkTo(raw)
		}, "members[0].term[2][1][1]", "raw (0x55)"},
		{"ref to CIDv0", term, func(m map[string]any) {
			term0(m)[2].([]any)[1].([]any)[1] = linkTo(v0)
		}, "members[0].term[2][1][1]", "CIDv0"},
		{"ref to identity hash", term, func(m map[string]any) {
			term0(m)[2].([]any)[1].([]any)[1] = linkTo(ident)
		}, "members[0].term[2][1][1]", "identity"},
		{"ref to blake2b", term, func(m map[string]any) {
			term0(m)[2].([]any)[1].([]any)[1] = linkTo(blake)
		}, "members[0].term[2][1][1]", "blake2b-256"},
		{"ref not a link", term, func(m map[string]any) {
			term0(m)[2].([]any)[1].([]any)[1] = []byte{1, 2}
		}, "members[0].term[2][1][1]", "found bytes"},
		{"ctor pattern empty type name", term, func(m map[string]any) {
			term0(m)[2].([]any)[2].([]any)[2].([]any)[1] = ""
		}, "members[0].term[2][2][2][1]", "type reference"},
		{"ctor typeref to raw", term, func(m map[string]any) {
			term0(m)[2].([]any)[2].([]any)[3].([]any)[1].([]any)[0] = linkTo(raw)
		}, "members[0].term[2][2][3][1][0]", "raw"},
		{"unknown pattern tag", term, func(m map[string]any) {
			term0(m)[2].([]any)[2].([]any)[2].([]any)[3] = []any{uint64(7)}
		}, "members[0].term[2][2][2][3][0]", "pattern tag"},
		{"match odd", term, func(m map[string]any) {
			mt := term0(m)[2].([]any)[2].([]any)
			term0(m)[2].([]any)[2] = mt[:3]
		}, "members[0].term[2][2]", "even length"},
		{"tuple of one", term, func(m map[string]any) {
			term0(m)[2] = []any{uint64(tagTuple), []any{uint64(tagUnit)}}
		}, "members[0].term[2]", "at least 3"},
		{"letrec of non-lam", term, func(m map[string]any) {
			term0(m)[2] = []any{uint64(tagLetRec), []any{uint64(tagUnit)}, []any{uint64(tagUnit)}}
		}, "members[0].term[2][1]", "a Lam"},
		{"empty builtin", term, func(m map[string]any) {
			term0(m)[2] = []any{uint64(tagBuiltin), ""}
		}, "members[0].term[2][1]", "non-empty text"},
		{"plit of var", term, func(m map[string]any) {
			term0(m)[2].([]any)[2].([]any)[2] = []any{uint64(ptagLit), []any{uint64(tagVar), uint64(0)}}
		}, "members[0].term[2][2][2][1]", "literal term"},
		{"float as int", term, func(m map[string]any) {
			term0(m)[2] = []any{uint64(tagFloat), uint64(2)}
		}, "members[0].term[2][1]", `a float or "NaN"`},
		{"int out of range", term, func(m map[string]any) {
			term0(m)[2] = []any{uint64(tagInt), uint64(1 << 63)}
		}, "members[0].term[2][1]", "64-bit signed int"},
		{"type member unknown key", typ, func(m map[string]any) {
			m[fieldMembers].([]any)[0].(map[string]any)["names"] = []any{}
		}, "members[0]", `unknown key "names"`},
		{"type params negative", typ, func(m map[string]any) {
			m[fieldMembers].([]any)[0].(map[string]any)[fieldParams] = int64(-1)
		}, "members[0].params", "type parameter count"},
		{"tref to raw", typ, func(m map[string]any) {
			m[fieldMembers].([]any)[0].(map[string]any)[fieldCtors].([]any)[0].([]any)[0].([]any)[1] = linkTo(raw)
		}, "members[0].ctors[0][0][1]", "TRef link"},
		{"ctor not an array", typ, func(m map[string]any) {
			m[fieldMembers].([]any)[0].(map[string]any)[fieldCtors] = []any{"Int"}
		}, "members[0].ctors[0]", "array of field types"},
		{"tapp without args", typ, func(m map[string]any) {
			m[fieldMembers].([]any)[0].(map[string]any)[fieldCtors].([]any)[0].([]any)[1] = []any{uint64(ttagApp), []any{uint64(ttagVar), uint64(0)}}
		}, "members[0].ctors[0][1]", "TApp"},
	}
	ctx := context.Background()
	s, _ := newMemStore(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := mutated(t, tc.base, tc.f)
			err := ValidateBlock(data)
			var se *SchemaError
			if !errors.As(err, &se) || !errors.Is(err, ErrSchema) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("ValidateBlock: %v (%T), want a *SchemaError", err, err)
			}
			if se.Path != tc.path || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q at path %q, want path %q and %q", err, se.Path, tc.path, tc.want)
			}
			// The store takes nothing of it, alone or in a batch.
			b := NewBlock(data)
			if err := s.Put(ctx, b); !errors.Is(err, ErrSchema) {
				t.Errorf("Put: %v, want ErrSchema", err)
			}
			good := termBlock(t, "good "+tc.name)
			if err := s.AddBlocks(ctx, []Block{good, b}); !errors.Is(err, ErrSchema) {
				t.Errorf("AddBlocks: %v, want ErrSchema", err)
			}
			for _, c := range []cid.Cid{b.CID, good.CID} {
				if ok, _ := s.Has(ctx, c); ok {
					t.Errorf("block %s stored", c)
				}
			}
		})
	}
}

// Non-DAG-CBOR, non-canonical and oversized input stays a *DecodeError.
func TestValidateBlockDecodeErrors(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":         {},
		"not cbor":      {0xff},
		"non-canonical": {0xb9, 0x00, 0x00}, // a map of 0 with a 2-byte length
		"too large":     bytes.Repeat([]byte{0}, MaxBlockSize+1),
	} {
		err := ValidateBlock(data)
		var de *DecodeError
		if !errors.As(err, &de) || errors.Is(err, ErrSchema) {
			t.Errorf("%s: %v (%T), want a *DecodeError", name, err, err)
		}
	}
}

// ValidatedLinks gives what NeededLinks does, node-fixed code included.
func TestValidatedLinks(t *testing.T) {
	fixed := &App{Fn: &Builtin{Name: "at"}, Args: []Term{FixedNode("12D3KooWx"), &Delay{Body: &Ref{Def: codecRef("private", 0)}}}}
	for _, tm := range []Term{fixed, &App{Fn: &Ref{Def: codecRef("a", 0)}, Args: []Term{fixed}}, &Unit{}} {
		data, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ValidatedLinks(data)
		if err != nil {
			t.Fatal(err)
		}
		want, err := NeededLinks(data)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, cid.Cid.Equals) {
			t.Errorf("ValidatedLinks %v, NeededLinks %v", got, want)
		}
	}
}

// FuzzValidateBlock: never a panic; an error is a *DecodeError or a
// *SchemaError; and the schema is exactly what the typed decoders accept
// with every link to a supported CID, so that what the store takes it
// can use and what unode makes it takes. Seeds: the table tests' blocks.
func FuzzValidateBlock(f *testing.F) {
	f.Add(schemaBase(f))
	f.Add(schemaTypeBase(f))
	for _, tc := range codecTerms {
		if data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t}}); err == nil {
			f.Add(data)
		}
	}
	for _, tc := range codecTypes {
		if data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{{Params: 1, Ctors: [][]TypeTerm{{tc.t}}}}}); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ValidateBlock(data)
		var de *DecodeError
		var se *SchemaError
		if err != nil && !errors.As(err, &de) && !errors.As(err, &se) {
			t.Fatalf("error %v (%T) is neither a *DecodeError nor a *SchemaError", err, err)
		}
		_, terr := DecodeTermBlock(data)
		_, yerr := DecodeTypeBlock(data)
		decodes := terr == nil || yerr == nil
		linksOK := true
		if links, lerr := Links(data); lerr == nil {
			for _, l := range links {
				linksOK = linksOK && supportedCID(l)
			}
		}
		if (err == nil) != (decodes && linksOK) {
			t.Fatalf("ValidateBlock(%x) = %v, but term decoder: %v, type decoder: %v, links supported: %v", data, err, terr, yerr, linksOK)
		}
		if err == nil {
			got, _ := ValidatedLinks(data)
			want, nerr := NeededLinks(data)
			if nerr != nil || !slices.EqualFunc(got, want, cid.Cid.Equals) {
				t.Fatalf("ValidatedLinks %v, NeededLinks %v (%v)", got, want, nerr)
			}
		}
	})
}

// BenchmarkValidateBlock: the store's check of a typical definition
// block (schema and links), beside what it cost before the schema check
// (NeededLinks) and a full typed decode, in the same run.
func BenchmarkValidateBlock(b *testing.B) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{benchTerm()}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		f    func([]byte) error
	}{
		{"ValidatedLinks", func(d []byte) error { _, err := ValidatedLinks(d); return err }},
		{"NeededLinks", func(d []byte) error { _, err := NeededLinks(d); return err }},
		{"DecodeTermBlock", func(d []byte) error { _, err := DecodeTermBlock(d); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.f(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
