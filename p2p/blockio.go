package p2p

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
)

// Blocks the owner brings in or takes out by hand (`unode block`, `unode
// dag import|export`): the same checks as blocks from the network, and
// the owner's pinning.

// PutBlocks stores blocks the owner brings in from outside (a block put,
// a CAR import). Every block is checked first (dag.CheckBlock: CID kind,
// size, hash, schema), so that a batch with one bad block stores nothing
// and fails with that block's error. The blocks are the owner's: pinned
// for good, with the unpinned blocks they link to (retain.go). Each is
// marked complete when its closure is here (dag.Store.AddBlocks), and
// then each of roots, which need not be among the blocks, is completed
// if its closure now is (blocks stored earlier that the batch
// completes). complete tells, root by root, whether its whole closure is
// here; a root left incomplete is not an error.
func (c *Codebase) PutBlocks(ctx context.Context, blocks []dag.Block, roots []cid.Cid) (complete []bool, err error) {
	pin := make([]cid.Cid, 0, 2*len(blocks)+len(roots))
	for _, b := range blocks {
		if err := dag.CheckBlock(b); err != nil {
			return nil, err
		}
		ls, err := dag.Links(b.Data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", b.CID, err)
		}
		pin = append(pin, b.CID)
		pin = append(pin, ls...)
	}
	release, err := c.pinFor(ctx, append(pin, roots...))
	if err != nil {
		return nil, err
	}
	defer release()
	if err := c.store.AddBlocks(ctx, blocks); err != nil {
		return nil, err
	}
	complete = make([]bool, len(roots))
	for i, r := range roots {
		err := c.completeRoots(ctx, []cid.Cid{r})
		var me *dag.MissingError
		switch {
		case errors.As(err, &me):
		case err != nil:
			return nil, err
		default:
			complete[i] = true
		}
	}
	return complete, nil
}

// BlockOf returns the block a name (of a term, constructor or type) or a
// CID (with or without '#', and a member suffix) names. A CID must be
// complete here (*dag.MissingError otherwise): what is named is usable.
func (c *Codebase) BlockOf(ctx context.Context, what string) (cid.Cid, error) {
	return c.resolveBlock(ctx, what)
}
