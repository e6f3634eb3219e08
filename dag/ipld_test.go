package dag

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// ipldLinks walks an ipld-prime node and collects the links it sees.
func ipldLinks(t *testing.T, n datamodel.Node, out map[cid.Cid]bool) {
	t.Helper()
	switch n.Kind() {
	case datamodel.Kind_Link:
		l, err := n.AsLink()
		if err != nil {
			t.Fatal(err)
		}
		cl, ok := l.(cidlink.Link)
		if !ok {
			t.Fatalf("link of type %T", l)
		}
		out[cl.Cid] = true
	case datamodel.Kind_List:
		it := n.ListIterator()
		for !it.Done() {
			_, v, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			ipldLinks(t, v, out)
		}
	case datamodel.Kind_Map:
		it := n.MapIterator()
		for !it.Done() {
			_, v, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			ipldLinks(t, v, out)
		}
	}
}

// TestIndependentDecoder decodes our blocks and values with go-ipld-prime's
// DAG-CBOR codec (an independent implementation), checks that it sees the
// same links as Links, and that its re-encoding is byte-identical — i.e.
// our encoding is canonical DAG-CBOR.
func TestIndependentDecoder(t *testing.T) {
	var inputs [][]byte
	add := func(data []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, data)
	}
	for _, tc := range codecTerms {
		add(EncodeTermBlock(&TermBlock{Members: []Term{tc.t}}))
		add(EncodeTerm(tc.t))
	}
	var decl DataDecl
	for _, tc := range codecTypes {
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t, tc.t})
	}
	add(EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{&decl, {Params: 1}}}))
	for _, tc := range codecValues {
		add(EncodeValue(tc.v))
	}
	ref, err := encodeNameRef(NameRef{Kind: KindCtor, Def: codecRef("T", 2), Ctor: 1, Arity: 3})
	add(ref, err)

	sawLink := false
	for _, data := range inputs {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
			t.Fatalf("ipld-prime cannot decode %x: %v", data, err)
		}
		n := nb.Build()

		seen := map[cid.Cid]bool{}
		ipldLinks(t, n, seen)
		var theirs []cid.Cid
		for c := range seen {
			theirs = append(theirs, c)
		}
		sortCIDs(theirs)
		ours, err := Links(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(ours) > 0 {
			sawLink = true
		}
		if len(ours) != len(theirs) || (len(ours) > 0 && !reflect.DeepEqual(ours, theirs)) {
			t.Errorf("links of %x: ipld-prime sees %v, Links %v", data, theirs, ours)
		}

		var buf bytes.Buffer
		if err := dagcbor.Encode(n, &buf); err != nil {
			t.Fatalf("ipld-prime cannot re-encode: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("ipld-prime re-encoding differs:\nours   %x\ntheirs %x", data, buf.Bytes())
		}
	}
	if !sawLink {
		t.Fatal("no input had a link")
	}
}
