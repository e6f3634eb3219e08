package dag

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
)

// fastSeeds are blocks fastBlock must take: every term and type block
// the codec tests make, one holding them all, and the benchmark's.
func fastSeeds(t testing.TB) [][]byte {
	var out [][]byte
	var all []Term
	for _, tc := range codecTerms {
		all = append(all, tc.t)
		data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	for _, ts := range [][]Term{all, {benchTerm()}} {
		data, err := EncodeTermBlock(&TermBlock{Members: ts})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	var decl DataDecl
	for _, tc := range codecTypes {
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t})
		data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{{Params: 1, Ctors: [][]TypeTerm{{tc.t}}}}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	decl.Ctors = append(decl.Ctors, nil)
	data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{&decl, {Params: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, data, schemaBase(t), schemaTypeBase(t))
	return out
}

// checkFastAgrees: whatever fastBlock takes, the general path takes
// too, decoded alike and with the same links; the schema check finds
// it valid; and every check built on it (DecodeTermBlock,
// DecodeTypeBlock, ValidatedLinks) answers as the general path does.
func checkFastAgrees(t *testing.T, data []byte) (taken bool) {
	t.Helper()
	b, links, ok := fastBlock(data)
	tb, terr := decodeTermBlockGeneral(data)
	yb, yerr := decodeTypeBlockGeneral(data)
	glinks, gerr := validatedGeneral(data)
	vlinks, verr := ValidatedLinks(data)
	if (gerr == nil) != (verr == nil) || gerr != nil && gerr.Error() != verr.Error() {
		t.Fatalf("%x: ValidatedLinks: %v, general path: %v", data, verr, gerr)
	}
	if !slices.EqualFunc(glinks, vlinks, cid.Cid.Equals) {
		t.Fatalf("%x: ValidatedLinks %v, general path %v", data, vlinks, glinks)
	}
	ftb, ferr := DecodeTermBlock(data)
	if (terr == nil) != (ferr == nil) || terr != nil && terr.Error() != ferr.Error() {
		t.Fatalf("%x: DecodeTermBlock: %v, general path: %v", data, ferr, terr)
	}
	fyb, fyerr := DecodeTypeBlock(data)
	if (yerr == nil) != (fyerr == nil) || yerr != nil && yerr.Error() != fyerr.Error() {
		t.Fatalf("%x: DecodeTypeBlock: %v, general path: %v", data, fyerr, yerr)
	}
	if !ok {
		return false
	}
	if gerr != nil {
		t.Fatalf("%x: fastBlock takes it, the schema check refuses it: %v", data, gerr)
	}
	all, err := Links(data)
	if err != nil || !slices.EqualFunc(all, links, cid.Cid.Equals) {
		t.Fatalf("%x: fastBlock links %v, Links %v (%v)", data, links, all, err)
	}
	var general, fast any
	var enc []byte
	switch x := b.(type) {
	case *TermBlock:
		if terr != nil {
			t.Fatalf("%x: fastBlock takes a term block DecodeTermBlock refuses: %v", data, terr)
		}
		general, fast = tb, ftb
		enc, err = EncodeTermBlock(x)
	case *TypeBlock:
		if yerr != nil {
			t.Fatalf("%x: fastBlock takes a type block DecodeTypeBlock refuses: %v", data, yerr)
		}
		general, fast = yb, fyb
		enc, err = EncodeTypeBlock(x)
	default:
		t.Fatalf("%x: fastBlock gave %T", data, b)
	}
	if err != nil || !bytes.Equal(enc, data) {
		t.Fatalf("%x: fastBlock's block re-encodes to %x (%v)", data, enc, err)
	}
	// NaN is not equal to itself: re-encoding compared those.
	if !bytes.Contains(data, []byte(floatNaN)) && !reflect.DeepEqual(general, fast) {
		t.Fatalf("%x: fastBlock decodes %#v, the general path %#v", data, fast, general)
	}
	return true
}

func TestFastBlockTakesWhatUnodeWrites(t *testing.T) {
	for _, data := range fastSeeds(t) {
		if !checkFastAgrees(t, data) {
			t.Errorf("fastBlock leaves %x to the general path", data)
		}
	}
}

// Every truncation, and random changes of one to three bytes, of the
// seeds: fastBlock never takes what the general path refuses.
func TestFastBlockMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	taken, left := 0, 0
	for _, data := range fastSeeds(t) {
		for i := range data {
			checkFastAgrees(t, data[:i])
		}
		for range 300 {
			m := slices.Clone(data)
			for range 1 + r.IntN(3) {
				m[r.IntN(len(m))] = byte(r.UintN(256))
			}
			if checkFastAgrees(t, m) {
				taken++
			} else {
				left++
			}
		}
	}
	t.Logf("mutations: %d taken by fastBlock, %d left to the general path", taken, left)
}

func TestFastBlockDepth(t *testing.T) {
	var tm Term = &Int{V: 1}
	for range fastMaxDepth + 10 {
		tm = &Delay{Body: tm}
	}
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}})
	if err != nil {
		t.Fatal(err)
	}
	if checkFastAgrees(t, data) {
		t.Errorf("fastBlock took a block nested deeper than %d", fastMaxDepth)
	}
	if _, err := DecodeTermBlock(data); err != nil {
		t.Errorf("the general path refuses it: %v", err)
	}
}

// FuzzFastBlock: fastBlock takes only what the general path takes,
// decoded alike, and every decoder built on it answers as the general
// path does, errors included.
func FuzzFastBlock(f *testing.F) {
	for _, data := range fastSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastAgrees(t, data)
	})
}

// BenchmarkFastBlock: a typical definition block decoded in one pass,
// beside the general path's decoding and schema check, in one run.
func BenchmarkFastBlock(b *testing.B) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{benchTerm()}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		f    func([]byte) error
	}{
		{"fastBlock", func(d []byte) error { _, _, ok := fastBlock(d); return boolErr(ok) }},
		{"DecodeTermBlock", func(d []byte) error { _, err := DecodeTermBlock(d); return err }},
		{"ValidatedLinks", func(d []byte) error { _, err := ValidatedLinks(d); return err }},
		{"general/DecodeTermBlock", func(d []byte) error { _, err := decodeTermBlockGeneral(d); return err }},
		{"general/ValidatedLinks", func(d []byte) error { _, err := validatedGeneral(d); return err }},
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

func boolErr(ok bool) error {
	if !ok {
		return ErrMalformed
	}
	return nil
}

// The store's keys and its check of CIDs, read in place, agree with
// the go-cid accessors they replace.
func TestKeysInPlace(t *testing.T) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{&Int{V: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ours := NewBlock(data).CID
	raw := cid.NewCidV1(cid.Raw, ours.Hash())
	v0 := cid.NewCidV0(ours.Hash())
	sha512, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: 0x13, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	short, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: 0x12, MhLength: 20}.Sum(data)
	if err != nil {
		t.Logf("no truncated sha2-256: %v", err)
		short = raw
	}
	for _, c := range []cid.Cid{ours, raw, v0, sha512, short, cid.Undef} {
		p := c.Prefix()
		want := c.Defined() && p.Version == 1 && p.Codec == cid.DagCBOR && p.MhType == 0x12 && p.MhLength == 32
		if got := supportedCID(c); got != want {
			t.Errorf("supportedCID(%s) = %v, want %v", c, got, want)
		}
		if !c.Defined() {
			continue
		}
		if got, want := mhKey(c), mhKeyEncoding.EncodeToString(c.Hash()); got != want {
			t.Errorf("mhKey(%s) = %s, want %s", c, got, want)
		}
	}
}
