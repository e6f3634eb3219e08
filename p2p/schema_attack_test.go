package p2p

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"

	"github.com/unode-dev/unode/dag"
)

// Blocks outside the block schema (dag.ValidateBlock) from a peer:
// canonical DAG-CBOR that is no block unode can use. Before the schema
// check the node stored them (and, linked from a thunk, marked them
// complete); now they are refused as a protocol violation naming the
// field, and nothing of the exchange is kept.

// junkBlocks are canonical DAG-CBOR blocks outside the schema: a random
// byte string, a map with unknown keys, and a term block linking to a
// raw-codec CID.
func junkBlocks(t *testing.T) []dag.Block {
	t.Helper()
	buf := make([]byte, 200)
	rand.Read(buf)
	byteString := append([]byte{0x58, byte(len(buf))}, buf...)
	unknownKeys := []byte{0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02} // {"a": 1, "b": 2}
	raw, err := cid.V1Builder{Codec: cid.Raw, MhType: 0x12}.Sum([]byte("raw"))
	if err != nil {
		t.Fatal(err)
	}
	toRaw, err := dag.EncodeTermBlock(&dag.TermBlock{Members: []dag.Term{&dag.Ref{Def: dag.DefRef{CID: raw}}}})
	if err != nil {
		t.Fatal(err)
	}
	var out []dag.Block
	for _, data := range [][]byte{byteString, unknownKeys, toRaw} {
		if _, err := dag.Links(data); err != nil {
			t.Fatalf("junk %x is not canonical DAG-CBOR: %v", data, err)
		}
		if err := dag.ValidateBlock(data); !errors.Is(err, dag.ErrSchema) {
			t.Fatalf("junk %x: %v, want a schema error", data, err)
		}
		out = append(out, dag.NewBlock(data))
	}
	return out
}

// A caller ships a thunk that refers to blocks outside the schema and
// sends them when asked: refused (invalid, naming the block and the
// field), none stored, the owner's code intact.
func TestSchemaInvalidBlocksFromCaller(t *testing.T) {
	ctx := testCtx(t)
	owner, attacker := newTestNode(t), newTestNode(t)
	connectAll(t, owner, attacker)
	addSource(t, owner, "mine x = x + 1\n")
	for _, junk := range junkBlocks(t) {
		// The thunk links to the junk, so it is needed, not merely sent.
		thunk := encodedThunk(t, &dag.App{Fn: &dag.Ref{Def: dag.DefRef{CID: junk.CID}}, Args: []dag.Term{&dag.Int{V: 1}}})
		// No deps: the thunk's own link is the one root to send.
		req := &EvalRequest{Thunk: thunk, Store: "attacker"}
		reply, asked := rawExchange(t, attacker, owner, req, []cid.Cid{junk.CID}, fromMap(map[cid.Cid][]byte{junk.CID: junk.Data}))
		ce := replyError(reply)
		if ce == nil || ce.Code != CodeInvalid || !strings.Contains(ce.Msg, "outside the schema") {
			t.Fatalf("junk %s: %v, want invalid: outside the schema", junk.CID, ce)
		}
		if asked != 1 {
			t.Errorf("asked for %d blocks, want 1", asked)
		}
		if ok, _ := owner.store.Has(ctx, junk.CID); ok {
			t.Fatalf("junk block %s stored", junk.CID)
		}
		t.Logf("refused: %s", ce.Msg)
	}
	checkInvariant(t, owner)
	if _, err := owner.cb.EvalSource(ctx, "t", "mine 1", Budget{}); err != nil {
		t.Errorf("the owner's code after the attack: %v", err)
	}
}

// A provider serves, under its CID, a block outside the schema that a
// published block links to: the provider is rejected and the asker
// stores nothing of the batch.
func TestSchemaInvalidBlockFromProvider(t *testing.T) {
	ctx := testCtx(t)
	liar, asker := newTestNode(t), newTestNode(t)
	junk := junkBlocks(t)[0]
	// The liar's store holds the junk as a node from before the schema
	// check (or a hostile one) would: written under its key directly.
	if err := liar.store.Datastore().Put(context.Background(), blockDSKey(junk.CID), junk.Data); err != nil {
		t.Fatal(err)
	}
	rootData, err := dag.EncodeTermBlock(&dag.TermBlock{Members: []dag.Term{&dag.Ref{Def: dag.DefRef{CID: junk.CID}}}})
	if err != nil {
		t.Fatal(err)
	}
	root := dag.NewBlock(rootData)
	if err := liar.store.Put(ctx, root); err != nil {
		t.Fatal(err)
	}
	keep := func(l []cid.Cid) []cid.Cid { return l }
	asIs := func(_ []cid.Cid, _ []int, b [][]byte) [][]byte { return b }
	lyingProvider(t, liar, keep, asIs)
	st, err := asker.FetchClosure(ctx, []cid.Cid{root.CID}, FetchOptions{From: []string{addrOf(liar)}, NoDiscovery: true})
	if err == nil {
		t.Fatalf("the fetch succeeded (%+v)", st)
	}
	if len(st.Sources) != 1 || st.Sources[0].Outcome != OutcomeRejected || !strings.Contains(st.Sources[0].Error, "outside the schema") {
		t.Fatalf("sources %+v, want the provider rejected for a block outside the schema", st.Sources)
	}
	for _, c := range []cid.Cid{root.CID, junk.CID} {
		if ok, _ := asker.store.Has(ctx, c); ok {
			t.Errorf("block %s stored", c)
		}
	}
	checkInvariant(t, asker)
}

// blockDSKey is the datastore key of block c in dag's layout (dag/doc.go):
// /blocks/ and the multihash in upper-case unpadded base32.
func blockDSKey(c cid.Cid) datastore.Key {
	return datastore.NewKey("/blocks/" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(c.Hash()))
}
