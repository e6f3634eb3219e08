package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// dataBigText is a Text of 6 MiB give or take a few bytes, as the language
// makes it, and in Go. 7 does not divide the leaf size, so the leaves
// differ.
const dataBigTextExpr = `(Text.repeat 898779 "abcdefg")`

var dataBigText = sync.OnceValue(func() string { return strings.Repeat("abcdefg", 898779) })

// dataOtherText is another 6 MiB text, sharing no chunk with dataBigText.
//
// Both are made on first use, not at the package's start: the processes
// this test binary starts (BenchmarkColdSync's callee) would carry them
// in their heaps, which a daemon's does not.
var dataOtherText = sync.OnceValue(func() string { return strings.Repeat("hijklmn", 898779) })

// dataChunkRoots returns the chunk roots the stored value under key
// names.
func dataChunkRoots(t *testing.T, n *Node, key string) []cid.Cid {
	t.Helper()
	data, err := n.cb.ds().Get(testCtx(t), dataKey(key))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > dag.MaxValueSize || !dag.HasChunkRefs(data) {
		t.Fatalf("%s: %d bytes stored inline, want a chunk reference", key, len(data))
	}
	w, err := dag.DecodeValue(data)
	if err != nil {
		t.Fatal(err)
	}
	roots := chunkRootsOf(w)
	if len(roots) == 0 {
		t.Fatalf("%s: no chunk roots", key)
	}
	return roots
}

// A 6 MiB Text put through the node's evaluation API comes back equal,
// in the language and through the Go API, and it survives collections
// while the key names it.
func TestDataPutChunkedText(t *testing.T) {
	ctx := testCtx(t)
	n := newTestNode(t)
	self := n.ID().String()
	if _, err := n.EvalAt(ctx, self, `Data.put "big" `+dataBigTextExpr, Budget{}); err != nil {
		t.Fatal(err)
	}
	roots := dataChunkRoots(t, n, "big")
	if gc, err := n.cb.CollectGarbage(ctx); err != nil || gc.Blocks != 0 {
		t.Fatalf("gc with the key present: %+v, %v", gc, err)
	}
	for _, r := range roots {
		if ok, _ := n.store.Has(ctx, r); !ok {
			t.Fatalf("chunk root %s gone while the key names it", r)
		}
	}
	res, err := n.EvalAt(ctx, self, `Data.get "big" == Some `+dataBigTextExpr, Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "true" {
		t.Fatalf("Data.get gave back another value: %s", res.Text)
	}
	v, ok, err := n.cb.DataGet(ctx, "big")
	if err != nil || !ok {
		t.Fatalf("DataGet: %v, %v", ok, err)
	}
	if s, _ := v.(eval.Text); string(s) != dataBigText() {
		t.Fatalf("DataGet: %T of %d bytes, want the 6 MiB text", v, len(s))
	}
	st, err := n.cb.DiskStat(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Data.Blocks == 0 || st.Unpinned != (DiskUsage{}) {
		t.Errorf("disk stat: data %+v, unpinned %+v", st.Data, st.Unpinned)
	}
	checkInvariant(t, n)
}

// Data.get of a chunked value under a memory budget smaller than the
// value fails with the memory budget error, before reading the chunks.
func TestDataGetChunkedMemoryBudget(t *testing.T) {
	ctx := testCtx(t)
	n := newTestNode(t)
	self := n.ID().String()
	if _, err := n.EvalAt(ctx, self, `Data.put "big" `+dataBigTextExpr, Budget{}); err != nil {
		t.Fatal(err)
	}
	_, err := n.EvalAt(ctx, self, `Data.get "big"`, Budget{MaxMemory: 1 << 20})
	if err == nil {
		t.Fatal("Data.get of 6 MiB under a 1 MiB memory budget succeeded")
	}
	var be *eval.BudgetError
	if !errors.As(err, &be) && !errors.Is(err, eval.ErrBudget) {
		t.Fatalf("want a memory budget error, got %v", err)
	}
	if !strings.Contains(err.Error(), "memory") {
		t.Fatalf("want a memory budget error, got %v", err)
	}
	t.Logf("under 1 MiB: %v", err)
	// The budget was the only obstacle.
	if _, err := n.EvalAt(ctx, self, `Data.get "big"`, Budget{MaxMemory: 64 << 20}); err != nil {
		t.Fatal(err)
	}
}

// Overwriting or deleting the key releases its chunks: the next
// collection evicts them.
func TestDataChunkedReleased(t *testing.T) {
	ctx := testCtx(t)
	n := newTestNode(t)
	self := n.ID().String()
	if _, err := n.EvalAt(ctx, self, `Data.put "big" `+dataBigTextExpr, Budget{}); err != nil {
		t.Fatal(err)
	}
	first := dataChunkRoots(t, n, "big")
	// Overwrite with another large value: the first one's chunks go.
	if _, err := n.EvalAt(ctx, self, `Data.put "big" (Text.repeat 898779 "hijklmn")`, Budget{}); err != nil {
		t.Fatal(err)
	}
	second := dataChunkRoots(t, n, "big")
	gc, err := n.cb.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Blocks == 0 {
		t.Fatal("gc after an overwrite evicted nothing")
	}
	for _, r := range first {
		if ok, _ := n.store.Has(ctx, r); ok {
			t.Errorf("chunk root %s of the overwritten value survived gc", r)
		}
	}
	for _, r := range second {
		if ok, _ := n.store.Has(ctx, r); !ok {
			t.Errorf("chunk root %s of the current value was evicted", r)
		}
	}
	checkInvariant(t, n)
	// Overwrite with a small value, then delete a second large key.
	if _, err := n.EvalAt(ctx, self, `Data.put "big" 1`, Budget{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.EvalAt(ctx, self, `Data.put "other" `+dataBigTextExpr, Budget{}); err != nil {
		t.Fatal(err)
	}
	third := dataChunkRoots(t, n, "other")
	if _, err := n.EvalAt(ctx, self, `Data.delete "other"`, Budget{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.cb.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range append(second, third...) {
		if ok, _ := n.store.Has(ctx, r); ok {
			t.Errorf("chunk root %s survived its key", r)
		}
	}
	st, err := n.cb.DiskStat(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Data != (DiskUsage{}) {
		t.Errorf("after delete and gc: data holds %+v", st.Data)
	}
	checkInvariant(t, n)
}

// After a restart the books of node data's chunks are rebuilt from the
// records, and the key still keeps them: a collection leaves them, the
// value reads back equal, and a delete still releases them.
func TestDataChunkedSurvivesRestart(t *testing.T) {
	ctx := testCtx(t)
	inner := datastore.NewMapDatastore()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	start := func() *Node {
		return newTestNode(t, WithIdentity(key), WithDatastore(dssync.MutexWrap(inner)))
	}
	n1 := start()
	if _, err := n1.EvalAt(ctx, n1.ID().String(), `Data.put "big" `+dataBigTextExpr, Budget{}); err != nil {
		t.Fatal(err)
	}
	before, _ := n1.cb.DiskStat(ctx, -1)
	n1.Close()

	n2 := start()
	after, _ := n2.cb.DiskStat(ctx, -1)
	if after.Data != before.Data || after.Data.Blocks == 0 || after.Unpinned != (DiskUsage{}) {
		t.Fatalf("after a restart: data %+v unpinned %+v, before %+v", after.Data, after.Unpinned, before.Data)
	}
	if gc, err := n2.cb.CollectGarbage(ctx); err != nil || gc.Blocks != 0 {
		t.Fatalf("gc after a restart: %+v, %v", gc, err)
	}
	v, ok, err := n2.cb.DataGet(ctx, "big")
	if err != nil || !ok {
		t.Fatalf("DataGet: %v, %v", ok, err)
	}
	if s, _ := v.(eval.Text); string(s) != dataBigText() {
		t.Fatalf("DataGet after a restart: %d bytes", len(s))
	}
	checkInvariant(t, n2)
	if err := n2.cb.DataDelete(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if gc, err := n2.cb.CollectGarbage(ctx); err != nil || gc.Blocks != after.Data.Blocks {
		t.Fatalf("gc after the delete: %+v, %v; want the %d blocks of node data", gc, err, after.Data.Blocks)
	}
	checkInvariant(t, n2)
}

// A foreign evaluation allowed data.write stores inline values only:
// node data is outside the disk quotas that bound what peers make the
// node store, so a peer cannot fill the disk a chunked value at a time.
func TestDataPutChunkedRefusedForForeign(t *testing.T) {
	ctx := testCtx(t)
	writer := newTestNode(t)
	owner := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{
		writer.ID(): "--allow pure --allow data.write:notes/ --fuel 100000000 --memory 256MiB --time 30s --result 64KiB",
	})))
	connectAll(t, owner, writer)
	at := owner.ID().String()
	if _, err := writer.EvalAt(ctx, at, `Data.put "notes/small" 42`, Budget{}); err != nil {
		t.Fatalf("an inline value: %v", err)
	}
	_, err := writer.EvalAt(ctx, at, `Data.put "notes/big" `+dataBigTextExpr, Budget{})
	if err == nil || !strings.Contains(err.Error(), "too big for another node's evaluation") {
		t.Fatalf("a 6 MiB value from a peer: got %v, want it refused as too big", err)
	}
	if _, ok, _ := owner.cb.DataGet(ctx, "notes/big"); ok {
		t.Errorf("the refused value was stored")
	}
	// The owner's own programs store it.
	if _, err := owner.EvalAt(ctx, at, `Data.put "notes/big" `+dataBigTextExpr, Budget{}); err != nil {
		t.Fatalf("the owner's 6 MiB value: %v", err)
	}
}

// readRaceDS is a datastore on which the first read of one key runs
// during (once) after the read and before it returns: what another
// goroutine of the node could do between that read and the next.
type readRaceDS struct {
	datastore.Batching
	key    datastore.Key
	during atomic.Pointer[func()]
}

func (d *readRaceDS) Get(ctx context.Context, k datastore.Key) ([]byte, error) {
	v, err := d.Batching.Get(ctx, k)
	if k == d.key {
		if f := d.during.Swap(nil); f != nil {
			(*f)()
		}
	}
	return v, err
}

// A read of a chunked value that an overwrite (or a delete) and a
// collection overtake, between its read of the key and its read of the
// chunks, returns the value the key holds then (or none), not an error
// about missing chunks: the collection took the chunks of the value the
// read had found. Before the fix DataGet failed with the chunk missing.
func TestDataGetChunkedRacesOverwrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(t *testing.T, n *Node)
		want  string // "" for none
	}{
		{"overwrite", func(t *testing.T, n *Node) {
			if err := n.cb.DataPut(testCtx(t), "big", eval.Text(dataOtherText())); err != nil {
				t.Error(err)
			}
		}, dataOtherText()},
		{"delete", func(t *testing.T, n *Node) {
			if err := n.cb.DataDelete(testCtx(t), "big"); err != nil {
				t.Error(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			d := &readRaceDS{Batching: memDatastore(), key: dataKey("big")}
			n := newTestNode(t, WithDatastore(d))
			if err := n.cb.DataPut(ctx, "big", eval.Text(dataBigText())); err != nil {
				t.Fatal(err)
			}
			first := dataChunkRoots(t, n, "big")
			collected := false
			race := func() {
				tc.after(t, n)
				gc, err := n.cb.CollectGarbage(ctx)
				if err != nil {
					t.Error(err)
				}
				collected = gc.Blocks > 0
			}
			d.during.Store(&race)
			v, ok, err := n.cb.DataGet(ctx, "big")
			if !collected {
				t.Fatal("the collection during the read evicted nothing: the race was not run")
			}
			for _, r := range first {
				if has, _ := n.store.Has(ctx, r); has {
					t.Fatalf("chunk root %s of the value the read found survived the collection: the race was not run", r)
				}
			}
			if err != nil {
				t.Fatalf("DataGet overtaken by a %s and a collection: %v", tc.name, err)
			}
			if s, _ := v.(eval.Text); ok != (tc.want != "") || string(s) != tc.want {
				t.Fatalf("DataGet overtaken by a %s: %v, %d bytes; want the %d bytes the key holds now", tc.name, ok, len(s), len(tc.want))
			}
			checkInvariant(t, n)
		})
	}
}
