package dag

import (
	"bytes"
	"errors"
	"testing"
)

// Fuzz targets for every decoder. Seeds come from the table tests. The
// property: no panic, every error is a *DecodeError, and whatever decodes
// re-encodes to the same bytes (one value, one encoding).

func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
}

func FuzzDecodeTermBlock(f *testing.F) {
	for _, tc := range codecTerms {
		if data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t, &Self{}}}); err == nil {
			f.Add(data)
		}
		if data, err := EncodeTerm(tc.t); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeTermBlock(data)
		if err != nil {
			checkDecodeErr(t, err)
		} else {
			again, err := EncodeTermBlock(b)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("decoded %x but re-encoding gives %x, %v", data, again, err)
			}
		}
		tm, err := DecodeTerm(data)
		if err != nil {
			checkDecodeErr(t, err)
		} else {
			again, err := EncodeTerm(tm)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("decoded term %x but re-encoding gives %x, %v", data, again, err)
			}
		}
	})
}

func FuzzDecodeTypeBlock(f *testing.F) {
	var decl DataDecl
	for _, tc := range codecTypes {
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t})
		if data, err := EncodeTypeTerm(tc.t); err == nil {
			f.Add(data)
		}
	}
	if data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{&decl, {Params: 3}}}); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeTypeBlock(data)
		if err != nil {
			checkDecodeErr(t, err)
		} else {
			again, err := EncodeTypeBlock(b)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("decoded %x but re-encoding gives %x, %v", data, again, err)
			}
		}
		tt, err := DecodeTypeTerm(data)
		if err != nil {
			checkDecodeErr(t, err)
		} else {
			again, err := EncodeTypeTerm(tt)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("decoded type term %x but re-encoding gives %x, %v", data, again, err)
			}
		}
	})
}

func FuzzDecodeValue(f *testing.F) {
	for _, tc := range codecValues {
		if data, err := EncodeValue(tc.v); err == nil {
			f.Add(data)
		}
	}
	c := &VClosure{Code: &Lam{Arity: 1, Body: &Var{Index: 1}}, Rec: true}
	c.Env = []Value{c, &VInt{V: 1}}
	if data, err := EncodeValue(c); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeValue(data)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		again, err := EncodeValue(v)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decoded %x but re-encoding gives %x, %v", data, again, err)
		}
	})
}

func FuzzLinks(f *testing.F) {
	for _, tc := range codecTerms {
		if data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t}}); err == nil {
			f.Add(data)
		}
	}
	for _, tc := range codecValues {
		if data, err := EncodeValue(tc.v); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		links, err := Links(data)
		if err != nil {
			checkDecodeErr(t, err)
			// What Links refuses, no typed decoder may accept.
			if _, err := DecodeTermBlock(data); err == nil {
				t.Fatalf("Links refused a valid term block %x", data)
			}
			if _, err := DecodeValue(data); err == nil {
				t.Fatalf("Links refused a valid value %x", data)
			}
			return
		}
		for i := 1; i < len(links); i++ {
			if links[i-1].KeyString() >= links[i].KeyString() {
				t.Fatalf("links not sorted and unique: %v", links)
			}
		}
		if _, err := BlockKind(data); err != nil {
			checkDecodeErr(t, err)
		}
	})
}
