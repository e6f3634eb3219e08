package dag

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// An element leaf is charged before it is decoded: a leaf of many tiny
// elements (whose decoded values take many times its bytes) under a
// budget that covers the declared count but not the leaf is refused
// without decoding it.
func TestChunkElementLeafChargedBeforeDecoding(t *testing.T) {
	const n = 80000 // 3 bytes each: a 240 KB leaf
	m := newMemChunks()
	node := make([]any, 0, n+1)
	node = append(node, int64(ctagElems))
	for range n {
		node = append(node, []any{int64(vtagInt), int64(1)})
	}
	leaf := m.put(node)
	v := &VChunked{Kind: ChunkList, Count: n, Root: leaf}
	declared := DeclaredChunkBytes(v)
	r := &ChunkReader{Get: m.get, Limit: declared + 100<<10}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := r.Value(context.Background(), v)
	runtime.ReadMemStats(&after)
	var be *ChunkBudgetError
	if !errors.As(err, &be) {
		t.Fatalf("%v, want a budget error", err)
	}
	if m.reads != 1 {
		t.Fatalf("%d chunks read", m.reads)
	}
	// The slots of the declared elements (within the budget) and little
	// more: decoding the leaf would take megabytes.
	alloc := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("allocated: %d bytes (declared slots %d)", alloc, declared)
	if alloc > declared+1<<20 {
		t.Fatalf("%d bytes allocated for a leaf refused by a budget of %d", alloc, r.Limit)
	}
}
