package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
)

// The sync algorithm (docs/protocol.md, "Sync"):
//
//  1. The caller lists the closure of the thunk's links, dependencies
//     first, leaving out every block its record says the callee holds
//     complete and, by the closure invariant, everything below such a
//     block (planDeps). The first request lists them by 8-byte digest
//     prefix, which the callee resolves against the blocks it holds
//     (dag.Store.ResolvePrefix); a missing block it listed that way makes
//     the caller retry once with full digests.
//  2. The callee answers with the entries it lacks, one bit each
//     (neededFor), and the listed ones it holds but may not share with
//     the caller (so a need reply reveals nothing about private blocks);
//     nothing when it has them all or shares the caller's store.
//  3. The caller sends exactly those blocks; the callee verifies them,
//     stores the new ones unpinned and charged to the caller (retain.go),
//     checks that the thunk's roots reach every one of them, and marks the
//     roots complete (ensureComplete).
//
// So a sync is at most one extra round trip whatever the depth of the
// DAG, and none when the callee already has everything.

// planDeps returns the blocks of the closure of roots (dag.NeededLinks)
// that the peer is not known to hold (known may be nil) and that this
// store holds, dependencies before the blocks that link to them, in an
// order that depends only on the blocks. A block this store lacks is
// left out with what is below it: the callee must hold it already (the
// owner of a private implementation, which the caller refers to by CID
// without ever holding it), or it will answer that it is missing.
func planDeps(ctx context.Context, store *dag.Store, roots []cid.Cid, known func(cid.Cid) bool) ([]cid.Cid, error) {
	deps, _, err := planSync(ctx, store, roots, known)
	return deps, err
}

// planSync is planDeps that also returns the blocks it left out because
// this store lacks them (sorted, without duplicates): what the caller
// names without holding, which it declares absent (EvalRequest.Absent)
// so that the callee fetches it from providers instead of asking.
func planSync(ctx context.Context, store *dag.Store, roots []cid.Cid, known func(cid.Cid) bool) (deps, absent []cid.Cid, err error) {
	type frame struct {
		c     cid.Cid
		links []cid.Cid
		next  int
	}
	visited := map[cid.Cid]bool{}
	var order []cid.Cid
	var stack []frame
	push := func(c cid.Cid) error {
		visited[c] = true
		if known != nil && known(c) {
			return nil
		}
		data, err := store.Get(ctx, c)
		if errors.Is(err, dag.ErrNotFound) {
			absent = append(absent, c)
			return nil
		}
		if err != nil {
			return err
		}
		links, err := dag.NeededLinks(data)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		stack = append(stack, frame{c: c, links: links})
		return nil
	}
	for _, root := range roots {
		if visited[root] {
			continue
		}
		if err := push(root); err != nil {
			return nil, nil, err
		}
		for len(stack) > 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			top := &stack[len(stack)-1]
			if top.next < len(top.links) {
				l := top.links[top.next]
				top.next++
				if !visited[l] {
					if err := push(l); err != nil {
						return nil, nil, err
					}
				}
				continue
			}
			order = append(order, top.c)
			stack = stack[:len(stack)-1]
		}
	}
	slices.SortFunc(absent, compareCIDs)
	return order, absent, nil
}

// neededOf returns the indices of the entries of deps that this store
// lacks. A block that is stored but not yet complete is not asked for:
// its own dependencies are listed before it (unless the caller knows
// them present here), and ensureComplete catches anything still absent.
func neededOf(ctx context.Context, store *dag.Store, deps []cid.Cid) ([]int, error) {
	var need []int
	for i, c := range deps {
		ok, err := store.IsComplete(ctx, c)
		if err != nil {
			return nil, err
		}
		if ok {
			continue
		}
		if ok, err = store.Has(ctx, c); err != nil {
			return nil, err
		}
		if !ok {
			need = append(need, i)
		}
	}
	return need, nil
}

// neededFor is neededOf for a foreign caller: the entries of deps this
// node lacks, and among the first listed ones (the caller's list, not
// the thunk's roots) also those it holds but may not share with the
// caller (not published, not sent here by it). Those are asked for like
// missing ones, so that the need reply tells a caller nothing about the
// node's private blocks: an honest caller holds every block it lists and
// sends it; the node checks its hash and keeps its own copy. Roots are
// exempt: a caller may refer to the owner's private implementation by
// CID without holding it (docs/security.md, "Private implementations").
func (n *Node) neededFor(ctx context.Context, from peer.ID, deps []cid.Cid, listed int) ([]int, error) {
	var need []int
	for i, c := range deps {
		held, err := n.store.IsComplete(ctx, c)
		if err != nil {
			return nil, err
		}
		if !held {
			if held, err = n.store.Has(ctx, c); err != nil {
				return nil, err
			}
		}
		if held && i < listed {
			if held, err = n.cb.shareable(ctx, c, from); err != nil {
				return nil, err
			}
		}
		if !held {
			need = append(need, i)
		}
	}
	return need, nil
}

// ensureComplete makes sure every root is complete here, marking those
// whose closure has just arrived; it fails with a *dag.MissingError
// naming what is still absent.
func ensureComplete(ctx context.Context, store *dag.Store, roots []cid.Cid) error {
	for _, r := range roots {
		ok, err := store.IsComplete(ctx, r)
		if err != nil {
			return err
		}
		if !ok {
			if err := store.MarkClosureComplete(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// resultBlocks returns the blocks a result (whose links are given)
// refers to that the caller may lack, dependencies first. Blocks in the
// closures of the thunk's roots and dependencies never travel: the
// caller listed them, or referred to them (if it lacks them it could not
// have them from here either); for the usual result (data, or closures
// over the thunk's own code) that is all, decided without reading a
// block. Every other block must be one this node shares (share; nil
// shares all), or the result is refused with a denial naming it.
func resultBlocks(ctx context.Context, store *dag.Store, links, roots, deps []cid.Cid, limit int, share func(cid.Cid) (bool, error)) ([]dag.Block, error) {
	if len(links) == 0 {
		return nil, nil
	}
	covered := make(map[cid.Cid]bool, len(roots)+len(deps))
	for _, c := range roots {
		covered[c] = true
	}
	for _, c := range deps {
		covered[c] = true
	}
	var todo []cid.Cid
	for _, l := range links {
		if !covered[l] {
			todo = append(todo, l)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	for _, r := range roots {
		cl, err := store.ClosureOf(ctx, r)
		if errors.Is(err, dag.ErrMissing) {
			continue // the caller referred to what neither side has
		}
		if err != nil {
			return nil, err
		}
		for _, c := range cl {
			covered[c] = true
		}
	}
	var out []dag.Block
	size := 0
	for _, l := range todo {
		cl, err := store.ClosureOf(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, c := range cl {
			if covered[c] {
				continue
			}
			covered[c] = true
			if share != nil {
				ok, err := share(c)
				if err != nil {
					return nil, err
				}
				if !ok {
					return nil, privateDenial(c, "the result refers to it")
				}
			}
			data, err := store.Get(ctx, c)
			if err != nil {
				return nil, err
			}
			size += len(data)
			if size > limit || len(out) >= MaxSyncBlocks {
				return nil, fmt.Errorf("the result refers to more than %d bytes of blocks the caller lacks", limit)
			}
			out = append(out, dag.Block{CID: c, Data: data})
		}
	}
	return out, nil
}

// checkResultBlocks checks that blocks received with a result (or a
// fetch) are all reachable from the result's links (a callee may not
// slip unrelated blocks into the caller's store) and returns them.
func checkResultBlocks(links []cid.Cid, raw [][]byte) ([]dag.Block, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	blocks := make([]dag.Block, len(raw))
	byCID := make(map[cid.Cid][]cid.Cid, len(raw))
	for i, data := range raw {
		blocks[i] = dag.NewBlock(data)
		// Schema-checked (dag.ValidateBlock) before its links are trusted.
		ls, err := dag.ValidatedLinks(data)
		if err != nil {
			return nil, fmt.Errorf("result block %s: %w", blocks[i].CID, err)
		}
		byCID[blocks[i].CID] = ls
	}
	reached := map[cid.Cid]bool{}
	stack := append([]cid.Cid(nil), links...)
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ls, ok := byCID[c]
		if !ok || reached[c] {
			continue
		}
		reached[c] = true
		stack = append(stack, ls...)
	}
	for _, b := range blocks {
		if !reached[b.CID] {
			return nil, invalid("result carries block %s, which the result does not refer to", b.CID)
		}
	}
	return blocks, nil
}

// newBlocks returns the CIDs of those of blocks the store lacks.
func newBlocks(ctx context.Context, store *dag.Store, blocks []dag.Block) ([]cid.Cid, error) {
	var fresh []cid.Cid
	for _, b := range blocks {
		had, err := store.Has(ctx, b.CID)
		if err != nil {
			return nil, err
		}
		if !had {
			fresh = append(fresh, b.CID)
		}
	}
	return fresh, nil
}

// acceptResultBlocks checks blocks received with a result
// (checkResultBlocks), stores them and makes sure every link of the
// result is complete. received, if set, is told the blocks that were new
// here. (Node.acceptResultBlocks adds what the node keeps of them.)
func acceptResultBlocks(ctx context.Context, store *dag.Store, links []cid.Cid, raw [][]byte, received func([]cid.Cid) error) error {
	blocks, err := checkResultBlocks(links, raw)
	if err != nil {
		return err
	}
	if len(blocks) > 0 {
		fresh, err := newBlocks(ctx, store, blocks)
		if err != nil {
			return err
		}
		if err := store.AddBlocks(ctx, blocks); err != nil {
			return err
		}
		if len(fresh) > 0 && received != nil {
			if err := received(fresh); err != nil {
				return err
			}
		}
	}
	return ensureComplete(ctx, store, links)
}

func compareCIDs(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) }
