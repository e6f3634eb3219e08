package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Large values (docs/protocol.md, "Chunked values"). A value sent with a
// call has its large parts (dag.ChunkThreshold) written as chunk blocks:
// the sender stores them (pinned when they are its own; on the caller's
// account when a foreign evaluation sends them) before the call, and
// they then travel like code, through the sync of the thunk's roots, so
// the callee asks only for the chunks it lacks and a value sent twice is
// sent once. A receiver checks what a value declares (dag.DeclaredChunkBytes)
// against its budget before it asks for a chunk, and reads the chunks
// through a dag.ChunkReader bounded by the same budget. Chunks received
// from a peer (a thunk's, a result's) are unpinned and charged to it
// (retain.go), so a peer sending many distinct large values makes the
// node keep at most its disk quota of them.

// encodeSent encodes a value to send (a thunk), storing its chunks here
// first, and returns the encoding and its links (the sync's roots). The
// chunks of this node's own calls are pinned. Those of a call a foreign
// evaluation makes (onBehalfOf, its caller) are made from that peer's
// values: stored unpinned, charged to its disk quota, protected by the
// evaluation's lease (ctx) while it runs and retained after it like the
// blocks it sent (retain.go).
func (n *Node) encodeSent(ctx context.Context, v dag.Value, onBehalfOf peer.ID) ([]byte, []cid.Cid, error) {
	ev, err := dag.EncodeValueChunked(v)
	if err != nil {
		return nil, nil, err
	}
	if len(ev.Chunks) > 0 {
		if onBehalfOf != "" {
			err = n.storeForeignChunks(ctx, onBehalfOf, ev.Chunks, ev.Links)
		} else {
			err = n.storeOwnChunks(ctx, ev.Chunks)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return ev.Data, ev.Links, nil
}

// storeForeignChunks stores chunk blocks on charged's account:
// unpinned, within its disk quota (collecting if needed; a
// *DiskQuotaError when they do not fit), protected by the lease of ctx
// (there must be one: without it a collection could take them before
// they are read or sent), and roots retained for it. Chunks an owner
// write stores meanwhile, or already pinned, stay pinned.
func (n *Node) storeForeignChunks(ctx context.Context, charged peer.ID, chunks []dag.Block, roots []cid.Cid) error {
	l := leaseFrom(ctx)
	if l == nil {
		return errors.New("storing chunks for a peer outside a lease")
	}
	l.protect(roots...)
	store, fresh, err := n.cb.chargeForeign(ctx, l, charged, chunks, nil)
	if err != nil {
		return err
	}
	if err := n.store.AddBlocks(ctx, store); err != nil {
		return fmt.Errorf("storing the value's chunks: %w", err)
	}
	if err := n.cb.markReceived(ctx, fresh, charged); err != nil {
		return err
	}
	n.cb.retainRoots(charged, roots)
	return nil
}

// valueChunks returns, of the blocks that came with a result, the chunk
// blocks of the value itself: those its chunk references (roots) reach
// through chunk blocks. Chunk blocks only code reaches (a definition's
// large literal) are not among them.
func valueChunks(roots []cid.Cid, blocks []dag.Block) (map[cid.Cid]bool, error) {
	byCID := make(map[cid.Cid][]byte, len(blocks))
	for _, b := range blocks {
		byCID[b.CID] = b.Data
	}
	out := map[cid.Cid]bool{}
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if out[c] {
			continue
		}
		out[c] = true
		data, ok := byCID[c]
		if !ok {
			continue // held here already
		}
		if kind, err := dag.BlockKind(data); err != nil || kind != dag.ChunkBlockKind {
			delete(out, c) // not a chunk: code, pinned with the rest
			continue
		}
		r := dag.NewRefs()
		if err := r.AddBlock(data); err != nil {
			return nil, fmt.Errorf("chunk %s: %w", c, err)
		}
		for k := range r.Chunks {
			stack = append(stack, k)
		}
	}
	return out, nil
}

// chunkRootsOf returns the roots of the chunk references in w.
func chunkRootsOf(w dag.Value) []cid.Cid {
	r := dag.NewRefs()
	r.AddValue(w)
	return slices.SortedFunc(maps.Keys(r.Chunks), compareCIDs)
}

// storeOwnChunks stores chunk blocks this node made, pinned.
func (n *Node) storeOwnChunks(ctx context.Context, chunks []dag.Block) error {
	pin := make([]cid.Cid, 0, len(chunks))
	for _, b := range chunks {
		pin = append(pin, b.CID)
	}
	release, err := n.cb.pinFor(ctx, pin)
	if err != nil {
		return err
	}
	defer release()
	if err := n.store.AddBlocks(ctx, chunks); err != nil {
		return fmt.Errorf("storing the value's chunks: %w", err)
	}
	return nil
}

// checkDeclared refuses a received value whose chunk references declare
// more than limit bytes, before any chunk is asked for or read.
func checkDeclared(w dag.Value, limit int64, which string) *CallError {
	if d := dag.DeclaredChunkBytes(w); d > limit {
		return &CallError{Code: CodeBudget, Which: which,
			Msg: fmt.Sprintf("the value declares %d bytes of chunks, more than the budget of %d", d, limit)}
	}
	return nil
}

// readChunks replaces w's chunk references by the values their chunks
// (held here) hold, allocating at most limit bytes for them. used is
// what the reader charged: the caller counts it against the budget the
// value belongs to (serveEval: the evaluation's memory).
func (n *Node) readChunks(ctx context.Context, w dag.Value, limit int64, which string) (_ dag.Value, used int64, _ *CallError) {
	r := n.store.ChunkReader(limit)
	out, err := r.Value(ctx, w)
	if err == nil {
		return out, r.Used(), nil
	}
	var be *dag.ChunkBudgetError
	var me *dag.MissingError
	switch {
	case errors.As(err, &be):
		return nil, 0, &CallError{Code: CodeBudget, Which: which, Msg: "reading the value's chunks: " + err.Error()}
	case errors.Is(err, dag.ErrNotFound), errors.As(err, &me):
		return nil, 0, &CallError{Code: CodeMissing, Msg: "reading the value's chunks: " + err.Error()}
	case errors.Is(err, dag.ErrMalformed):
		return nil, 0, invalid("reading the value's chunks: %v", err)
	}
	return nil, 0, evalFailure(err)
}

// budgetMemory is the memory budget a received thunk's chunks count
// against.
func budgetMemory(b Budget) int64 {
	if b.MaxMemory > 0 {
		return b.MaxMemory
	}
	return eval.DefaultMaxMemory
}

// resultLimit is the bytes a call's result may decode to, and the
// budget that says so: its result budget, or the caller's memory budget
// when that is smaller (the caller allocates the decoded value).
func resultLimit(b Budget) (int64, string) {
	limit := int64(eval.DefaultMaxResultBytes)
	if b.MaxResultBytes > 0 {
		limit = b.MaxResultBytes
	}
	if m := budgetMemory(b); m < limit {
		return m, eval.BudgetMemory
	}
	return limit, eval.BudgetResult
}

// remainingMemory is the memory budget an evaluation has left once the
// chunks of its thunk (used bytes, charged by the chunk reader) are
// allocated: at least one byte, so that a used-up budget is not read as
// "no budget".
func remainingMemory(b Budget, used int64) int64 {
	return max(budgetMemory(b)-used, 1)
}

// parentsFirst orders chunk blocks (as an encoding makes them, each after
// the blocks it links to) with every block before those it links to.
func parentsFirst(chunks []dag.Block) []dag.Block {
	out := make([]dag.Block, len(chunks))
	for i, b := range chunks {
		out[len(chunks)-1-i] = b
	}
	return out
}

// receiveResultChunks is the caller's side of a chunked result: it asks
// for the listed chunks this node lacks (a FetchNeed; none asked: it
// sends nothing) and reads them, checking each against the digest listed
// and the total against limit (the result budget: what the callee
// measured the value's encoding to be within). The caller's
// acceptResultBlocks then checks that the value reaches every one.
func (n *Node) receiveResultChunks(ctx context.Context, fc *frameConn, list []cid.Cid, limit int64, st *SyncStats) ([][]byte, error) {
	idx, err := neededOf(ctx, n.store, list)
	if err != nil {
		return nil, err
	}
	if len(idx) == 0 {
		return nil, nil
	}
	st.RoundTrips++
	if err := fc.writeMessage(&FetchNeed{Bits: bitmapFor(len(list), idx)}); err != nil {
		return nil, fmt.Errorf("asking for the result's chunks: %w", err)
	}
	var out [][]byte
	var total int64
	for len(out) < len(idx) {
		msg, release, err := fc.readFrame(MaxBlocksMessageSize)
		if err != nil {
			return nil, fmt.Errorf("reading the result's chunks: %w", err)
		}
		bm, err := DecodeBlocksMessage(msg)
		if err != nil {
			release()
			return nil, err
		}
		if len(out)+len(bm.Blocks) > len(idx) {
			release()
			return nil, invalid("%d chunks sent, %d asked for", len(out)+len(bm.Blocks), len(idx))
		}
		for _, data := range bm.Blocks {
			want := list[idx[len(out)]]
			if got := dag.NewBlock(data).CID; !got.Equals(want) {
				release()
				return nil, &CallError{Code: CodeInvalid, CID: want, Msg: "the chunk sent does not match its CID (its bytes hash to " + got.String() + ")"}
			}
			total += int64(len(data))
			if total > limit+int64(len(idx))*64 {
				release()
				return nil, &CallError{Code: CodeBudget, Which: eval.BudgetResult, Msg: fmt.Sprintf("the result's chunks exceed its budget of %d bytes", limit)}
			}
			out = append(out, slices.Clone(data))
			st.Blocks++
			st.Bytes += int64(len(data))
		}
		release()
	}
	return out, nil
}

// serveResultChunks is the callee's side: it reads the caller's need (an
// end of stream: it needs none) and sends those chunks.
func (n *Node) serveResultChunks(ctx context.Context, to peer.ID, fc *frameConn, chunks []dag.Block) error {
	msg, release, err := fc.readFrame(MaxStatusSize + (MaxSyncBlocks+7)/8)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the chunk need: %w", err)
	}
	need, err := DecodeFetchNeed(msg)
	release()
	if err != nil {
		return err
	}
	idx, err := bitsSet(need.Bits, len(chunks))
	if err != nil {
		return err
	}
	var batch [][]byte
	size := 0
	for _, i := range idx {
		if err := ctx.Err(); err != nil {
			return err
		}
		data := chunks[i].Data
		const overhead = 9
		if len(batch) > 0 && size+len(data)+overhead > blocksBatchTarget {
			if err := fc.writeMessage(&BlocksMessage{Blocks: batch}); err != nil {
				return err
			}
			batch, size = nil, 0
		}
		n.sent(to, chunks[i].CID)
		batch = append(batch, data)
		size += len(data) + overhead
	}
	if len(batch) > 0 {
		return fc.writeMessage(&BlocksMessage{Blocks: batch})
	}
	return nil
}
