package p2p

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
)

// siblingNames names the other members of a cycle block for Show. The
// same block can be bound under several sets of names (two files whose
// isEven/isOdd and ev/od hash the same); the shortest name of each
// member mixed the sets (isEven's body calling od). It picks, for each
// member, the name closest to the one shown: the longest common prefix
// with it, then the shortest, then the first in order. It falls back to
// fallback when the namespace cannot be read.
func (c *Codebase) siblingNames(ctx context.Context, block cid.Cid, shown string, fallback func(int) string) func(int) string {
	all, err := c.store.ListNames(ctx)
	if err != nil {
		return fallback
	}
	best := map[int]string{}
	for _, e := range all {
		if e.Ref.Kind != dag.KindTerm || e.Ref.Def.CID != block {
			continue
		}
		m := e.Ref.Def.Member
		old, ok := best[m]
		if !ok || closer(e.Name, old, shown) {
			best[m] = e.Name
		}
	}
	return func(m int) string {
		if s, ok := best[m]; ok {
			return s
		}
		return fallback(m)
	}
}

// closer reports whether a is a better name than b beside shown.
func closer(a, b, shown string) bool {
	pa, pb := commonPrefix(a, shown), commonPrefix(b, shown)
	if pa != pb {
		return pa > pb
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
