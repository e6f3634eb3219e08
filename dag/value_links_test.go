package dag

import (
	"testing"

	"github.com/ipfs/go-cid"
)

func sameCIDs(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equals(b[i]) {
			return false
		}
	}
	return true
}

// ValueLinks finds exactly the links Links finds in the encoding.
func TestValueLinks(t *testing.T) {
	var vs []Value
	for _, tc := range codecValues {
		vs = append(vs, tc.v)
	}
	for _, tc := range codecTerms {
		vs = append(vs, &VClosure{Code: &Delay{Body: tc.t}})
	}
	n := 0
	for _, v := range vs {
		data, err := EncodeValue(v)
		if err != nil {
			continue
		}
		want, err := Links(data)
		if err != nil {
			t.Fatal(err)
		}
		n += len(want)
		if got := ValueLinks(v); !sameCIDs(got, want) {
			t.Errorf("ValueLinks(%#v) = %v, want %v", v, got, want)
		}
	}
	if n == 0 {
		t.Fatal("no test value has links")
	}
}

func FuzzValueLinks(f *testing.F) {
	for _, tc := range codecValues {
		if data, err := EncodeValue(tc.v); err == nil {
			f.Add(data)
		}
	}
	for _, tc := range codecTerms {
		if data, err := EncodeValue(&VClosure{Code: &Delay{Body: tc.t}}); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeValue(data)
		if err != nil {
			return
		}
		want, err := Links(data)
		if err != nil {
			t.Fatalf("Links fails on a decodable value: %v", err)
		}
		if got := ValueLinks(v); !sameCIDs(got, want) {
			t.Fatalf("ValueLinks = %v, Links = %v", got, want)
		}
	})
}
