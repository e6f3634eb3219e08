package dag

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
)

// The one-pass scan (scanCanonical) against what it replaces: decoding
// into the generic form, walkGeneric, and re-encoding to the same bytes.
// They must accept the same inputs and find the same links.

// referenceGeneric is the check scanCanonical stands for.
func referenceGeneric(data []byte) ([]cid.Cid, error) {
	x, err := decodeItem(data, MaxValueSize)
	if err != nil {
		return nil, err
	}
	var links []cid.Cid
	if err := walkGeneric(x, func(c cid.Cid) { links = append(links, c) }); err != nil {
		return nil, err
	}
	if err := checkCanonical(data, func() ([]byte, error) { return marshal(x, MaxValueSize) }); err != nil {
		return nil, err
	}
	return links, nil
}

func checkScanAgrees(t *testing.T, data []byte) {
	t.Helper()
	want, werr := referenceGeneric(data)
	var got []cid.Cid
	gerr := scanCanonical(data, MaxValueSize, func(c cid.Cid) { got = append(got, c) }, nil)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%x: scan says %v, decode and re-encode %v", data, gerr, werr)
	}
	if gerr != nil {
		checkDecodeErr(t, gerr)
		return
	}
	// Walks visit map values in different orders: compare as sets.
	if !slices.Equal(sortedUnique(got), sortedUnique(want)) {
		t.Fatalf("%x: scan links %v, decode links %v", data, got, want)
	}
}

// scanSeeds are encodings of every kind of block and value, and edge
// cases of CBOR itself.
func scanSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, tc := range codecTerms {
		if data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t, &Self{}}}); err == nil {
			out = append(out, data)
		}
	}
	var decl DataDecl
	for _, tc := range codecTypes {
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t})
	}
	if data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{&decl, {Params: 3}}}); err == nil {
		out = append(out, data)
	}
	for _, tc := range codecValues {
		if data, err := EncodeValue(tc.v); err == nil {
			out = append(out, data)
		}
	}
	for _, h := range []string{
		"00", "17", "1817", "1818", "190017", "1900ff", "190100", "1a0000ffff", "1a00010000",
		"1b00000000ffffffff", "1b0000000100000000", "1bffffffffffffffff",
		"20", "3b7fffffffffffffff", "3b8000000000000000",
		"f4", "f5", "f6", "f7", "f0", "f800", "f93c00", "fa3f800000", "fb3ff0000000000000",
		"fb7ff8000000000000", "fb7ff0000000000000", "fbfff0000000000000", "fb8000000000000000",
		"40", "4100", "5801ff", "60", "6161", "62c328", "7801ff", "5f40ff", "7f60ff", "9fff", "bfff",
		"80", "8100", "820102", "98020102", "a0", "a16161f6", "a2616100616200", "a2616200616100",
		"a2616100616100", "a2616100626262f6", "a262626200616100", "a1010101", "a14100f6",
		"c0", "c06161", "c2420100", "d82a", "d82a40", "d82a4100", "d82a420001", "d82a6100",
		"d82a5825000171122000000000000000000000000000000000000000000000000000000000000000000000",
		"d82a5825000171122000000000000000000000000000000000000000000000000000000000000000000000ff",
		"d82a582500017112200000000000000000000000000000000000000000000000000000000000000000",
		"d9002a4100", "ff", "1c", "5c", "", "8181818180", "0000",
	} {
		out = append(out, mustHex(t, h))
	}
	return out
}

func TestScanCanonicalMatchesDecodeAndReencode(t *testing.T) {
	seeds := scanSeeds(t)
	for _, data := range seeds {
		checkScanAgrees(t, data)
	}
	// Every truncation, and random single-byte changes, of the seeds.
	r := rand.New(rand.NewPCG(1, 2))
	for _, data := range seeds {
		for i := range data {
			checkScanAgrees(t, data[:i])
		}
		for range 200 {
			if len(data) == 0 {
				break
			}
			m := bytes.Clone(data)
			m[r.IntN(len(m))] = byte(r.Uint32())
			checkScanAgrees(t, m)
		}
	}
}

// Nesting at the limit passes; one level more fails, as in the decoder.
func TestScanCanonicalNesting(t *testing.T) {
	for _, depth := range []int{MaxNesting, MaxNesting + 1} {
		data := append(bytes.Repeat([]byte{0x81}, depth-1), 0x80)
		checkScanAgrees(t, data)
	}
}

func FuzzScanCanonical(f *testing.F) {
	for _, data := range scanSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkScanAgrees(t, data) })
}

// ScanStoredBlock reads what Refs.AddBlock, Links and NeededLinks read.
func TestScanStoredBlockMatches(t *testing.T) {
	var blocks [][]byte
	for _, tc := range codecTerms {
		if data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t, &Self{}}}); err == nil {
			blocks = append(blocks, data)
		}
	}
	// at (Node.fixed "peer") '(far + 1), then near: far is not needed.
	fixed := &App{Fn: &Builtin{Name: "Int.add"}, Args: []Term{
		&App{Fn: &Builtin{Name: "at"}, Args: []Term{FixedNode("peer"), &Delay{Body: &App{Fn: &Ref{Def: codecRef("far", 0)}, Args: []Term{&Int{V: 1}}}}}},
		&App{Fn: &Ref{Def: codecRef("near", 0)}, Args: []Term{&Int{V: 2}}},
	}}
	if data, err := EncodeTermBlock(&TermBlock{Members: []Term{fixed}}); err == nil {
		blocks = append(blocks, data)
	}
	var decl DataDecl
	for _, tc := range codecTypes {
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t})
	}
	if data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{&decl}}); err == nil {
		blocks = append(blocks, data)
	}
	sawFixed := false
	if len(blocks) < 10 {
		t.Fatalf("only %d blocks", len(blocks))
	}
	for _, data := range blocks {
		r := NewRefs()
		if err := r.AddBlock(data); err != nil {
			t.Fatal(err)
		}
		links, err := Links(data)
		if err != nil {
			t.Fatal(err)
		}
		needed, err := NeededLinks(data)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ScanStoredBlock(data)
		if err != nil {
			t.Fatal(err)
		}
		var builtins []string
		for b := range r.Builtins {
			builtins = append(builtins, b)
		}
		slices.Sort(builtins)
		if len(needed) < len(links) {
			sawFixed = true
		}
		if !slices.Equal(sc.Builtins, builtins) || !slices.Equal(sc.Links, links) || !slices.Equal(sc.Needed, needed) {
			t.Errorf("%x: scan %v %v %v, want %v %v %v", data, sc.Builtins, sc.Links, sc.Needed, builtins, links, needed)
		}
	}
	if !sawFixed {
		t.Error("no block had a link only a fixed thunk needs")
	}
}
