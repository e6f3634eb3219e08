package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// The receiving side of a sync (docs/protocol.md, "Remote evaluation"):
// the blocks a caller sends after a need reply, checked, charged and
// stored. Shared by /unode/eval and /unode/chan.

// receiveBlocks asks for the entries (the request's list, then the
// thunk's nroots roots) this node lacks, or holds but may not share with
// the caller (neededFor), and stores them as they arrive, checking each
// against its CID and charging the new ones to the caller as unpinned
// (chargeForeign; use protects them meanwhile). When the list came as
// digest prefixes (the first len(prefixes) entries; an undefined entry is
// one no block here has the prefix of), an entry asked for is checked
// against its prefix instead, and set to the CID its bytes hash to. Once
// all are in, every block received must be reachable from the roots
// through the links of the blocks received and held (unlinked): the
// caller can make the node store only what its thunk needs. It returns
// the indices of the entries asked for.
func (n *Node) receiveBlocks(ctx context.Context, from peer.ID, fc *frameConn, deps []cid.Cid, prefixes []uint64, nroots int, use *lease, absent map[cid.Cid]bool) (_ []int, ce *CallError) {
	return n.receiveBlocksAsking(ctx, from, fc, deps, prefixes, nroots, use, absent, func(bits []byte) error {
		return fc.writeMessage(&EvalReply{Need: &NeedReply{Bits: bits}})
	})
}

// receiveBlocksAsking is receiveBlocks with the need message its
// protocol's: ask sends the bitmap of the entries asked for (eval's
// EvalReply, chanproto.go's ChanReply), and is not called when none is.
func (n *Node) receiveBlocksAsking(ctx context.Context, from peer.ID, fc *frameConn, deps []cid.Cid, prefixes []uint64, nroots int, use *lease, absent map[cid.Cid]bool, ask func(bits []byte) error) (_ []int, ce *CallError) {
	roots := slices.Clone(deps[len(deps)-nroots:])
	// received holds the links of every block received (by its
	// digest, as unlinked walks them), stored the ones that were new
	// here.
	var received *receivedBlocks
	var stored []cid.Cid
	defer func() {
		if ce != nil {
			// Of a failed sync, nothing the thunk does not link to is
			// kept: a caller cannot leave blocks here by failing.
			n.cb.dropUnlinked(ctx, use, roots, stored, received)
		}
	}()
	// The entries listed by prefix are protected as they come
	// (chargeForeign): room for all of them at once. The callers hold
	// deps within MaxSyncBlocks.
	use.reserve(len(deps))
	use.protect(deps...)
	idx, err := n.neededFor(ctx, from, deps, len(deps)-nroots)
	if err != nil {
		return nil, evalFailure(err)
	}
	// A root the caller declared absent it cannot send: providers may.
	idx = slices.DeleteFunc(idx, func(i int) bool { return i >= len(deps)-nroots && absent[deps[i]] })
	if len(idx) == 0 {
		return nil, nil
	}
	for _, i := range idx {
		if i < len(prefixes) {
			deps[i] = cid.Undef // whatever a prefix resolved to, it is asked for
		}
	}
	if err := ask(bitmapFor(len(deps), idx)); err != nil {
		return nil, &CallError{Code: CodeMsg, Msg: "sending the need reply: " + err.Error()}
	}
	received = newReceivedBlocks(len(idx)) // no rehashing as blocks come
	got, total := 0, 0
	for got < len(idx) {
		msg, release, err := fc.readBlocksFrame(MaxBlocksMessageSize)
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The caller ended its side without sending them all: it
				// does not have the block either.
				return nil, &CallError{Code: CodeMissing, CID: deps[idx[got]], Msg: "the caller did not send it"}
			}
			if ce := readFailure(err); ce != nil {
				return nil, ce
			}
			return nil, &CallError{Code: CodeMsg, Msg: "reading blocks: " + err.Error()}
		}
		bm, err := decodeReceivedBlocks(msg) // copies: msg is free for the next frame after release
		if err != nil {
			release()
			return nil, invalid("%v", err)
		}
		if got+len(bm.Blocks) > len(idx) {
			release()
			return nil, invalid("%d blocks sent, %d asked for", got+len(bm.Blocks), len(idx))
		}
		// Each block is hashed once and decoded once (dag.Received):
		// that one pass checks its encoding and schema and gives its
		// links, and AddReceived stores it without doing either again.
		batch := make([]dag.Block, len(bm.Blocks))
		recv := dag.ReceiveAll(bm.Blocks)
		// distinct: no block of the message is one received before
		// (in it or an earlier one), which received.add tells:
		// chargeForeignMsg then keeps no set of them.
		distinct := true
		first := len(received.links) // the message's links are received.links[first:]
		for j, data := range bm.Blocks {
			i := idx[got+j]
			c := deps[i]
			rb := &recv[j]
			h := rb.CID()
			if i < len(prefixes) {
				// Listed by prefix: its bytes name it, and must match.
				c = h
				if p, ok := dag.DigestPrefix(c); !ok || p != prefixes[i] {
					release()
					return nil, &CallError{Code: CodeInvalid, CID: c, Msg: fmt.Sprintf("block sent for entry %d does not match its listed digest prefix", i)}
				}
				deps[i] = c
			} else if !h.Equals(c) {
				release()
				return nil, &CallError{Code: CodeInvalid, CID: c, Msg: "the block sent does not match its CID (its bytes hash to " + h.String() + ")"}
			}
			if len(data) > dag.MaxBlockSize {
				release()
				return nil, invalid("block %s is %d bytes, limit %d", c, len(data), dag.MaxBlockSize)
			}
			if err := rb.Check(); err != nil {
				release()
				return nil, invalid("%v", err)
			}
			batch[j] = rb.Block()
			// c hashes as its bytes do: a supported CID, whose digest
			// names it.
			d, _ := digestOf(c)
			distinct = received.add(d, rb.Links()) && distinct
			total += len(data)
		}
		if total > MaxSyncBytes {
			release()
			return nil, invalid("more than %d bytes of blocks", MaxSyncBytes)
		}
		// The new blocks' unpinned and received records (markReceived's)
		// are written in one batch, before the blocks.
		store, fresh, err := n.cb.chargeForeignMsg(ctx, use, from, batch, received.links[first:], from, distinct, recv)
		if err == nil {
			rs := make([]*dag.Received, len(store))
			for k, j := range store {
				rs[k] = &recv[j]
			}
			err = n.store.AddReceived(ctx, rs)
		}
		release()
		if stored == nil {
			stored = fresh // a sync's first message: no copy of it
		} else {
			stored = append(stored, fresh...)
		}
		if err != nil {
			var hm *dag.HashMismatchError
			var dq *DiskQuotaError
			switch {
			case errors.As(err, &dq):
				return nil, dq.callError()
			case errors.As(err, &hm):
				return nil, &CallError{Code: CodeInvalid, CID: hm.Want, Msg: "the block sent does not match its CID (its bytes hash to " + hm.Got.String() + ")"}
			case errors.Is(err, dag.ErrMalformed), errors.Is(err, dag.ErrTooLarge), errors.Is(err, dag.ErrUnsupportedCID):
				return nil, invalid("%v", err)
			}
			return nil, evalFailure(err)
		}
		got += len(bm.Blocks)
	}
	first, hole, err := n.cb.unlinked(ctx, roots, stored, received)
	switch {
	case err != nil:
		return nil, evalFailure(err)
	case hole.Defined():
		// The caller left out a block it took this node to hold (a
		// stale record, a digest prefix that resolved to another block):
		// what it sent below may be linked through it. Nothing
		// unreached is kept; the caller retries with a full list.
		return nil, &CallError{Code: CodeMissing, CID: hole, Msg: "the thunk's closure is incomplete here"}
	case first.Defined():
		return nil, &CallError{Code: CodeInvalid, CID: first, Msg: "block sent that the thunk does not link to (a caller may send only the closure of its thunk)"}
	}
	return idx, nil
}
