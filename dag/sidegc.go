package dag

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Side records (hints, positions, forms) describe a definition and are
// written only after its block is stored, and per-name ones only for a
// name bound to it; SetNames and DeleteName remove a name's records with
// the binding. What is left over — the records of a definition the
// collector evicted (a scratch run's code), or per-name records orphaned
// by a build that did not remove them — DropSideRecords finds.

// sideDropBatch is how many keys one delete batch holds: a repo with many
// orphans is cleaned in bounded writes.
const sideDropBatch = 1024

// DropSideRecords deletes the side records whose definition's block is
// not stored, and the per-name records (forms, hints) whose name is no
// longer bound to their definition. It returns how many keys it deleted.
// It is for `unode repo gc`, which calls it after evicting blocks.
//
// A record is written after what makes it live (the block, then the
// binding), so one seen dead stays dead unless the same definition is
// stored and bound again between the check and the delete; losing that
// record then costs only its decoration (show falls back to the default
// spelling), never a binding.
func (s *Store) DropSideRecords(ctx context.Context) (int, error) {
	stored := map[string]bool{} // by <mh> key segment
	var drop []datastore.Key
	for _, prefix := range []string{prefixHints, prefixPositions, prefixForms} {
		q := query.Query{Prefix: strings.TrimSuffix(prefix, "/"), KeysOnly: true}
		for e, err := range datastore.QueryIter(ctx, s.ds, q) {
			if err != nil {
				return 0, fmt.Errorf("listing side records: %w", err)
			}
			rest, ok := strings.CutPrefix(e.Key, prefix)
			if !ok {
				continue
			}
			parts := strings.SplitN(rest, "/", 3) // <mh>, <member>[, <name>]
			if len(parts) < 2 || parts[0] == "" {
				continue // not a side record's key
			}
			has, seen := stored[parts[0]]
			if !seen {
				if has, err = s.ds.Has(ctx, datastore.RawKey(prefixBlocks+parts[0])); err != nil {
					return 0, fmt.Errorf("checking side record %s: %w", e.Key, err)
				}
				stored[parts[0]] = has
			}
			if has && len(parts) == 3 {
				has, err = s.boundTo(ctx, parts[2], parts[0], parts[1])
				if err != nil {
					return 0, err
				}
			}
			if !has {
				drop = append(drop, datastore.RawKey(e.Key))
			}
		}
	}
	dropped := len(drop)
	for len(drop) > 0 {
		n := min(len(drop), sideDropBatch)
		batch, err := s.ds.Batch(ctx)
		if err != nil {
			return 0, fmt.Errorf("dropping side records: %w", err)
		}
		for _, k := range drop[:n] {
			if err := batch.Delete(ctx, k); err != nil {
				return 0, fmt.Errorf("dropping side record %s: %w", k, err)
			}
		}
		if err := batch.Commit(ctx); err != nil {
			return 0, fmt.Errorf("dropping %d side records: %w", n, err)
		}
		drop = drop[n:]
	}
	return dropped, nil
}

// boundTo reports whether name is bound to the term whose block key
// segment is mh and whose member is member.
func (s *Store) boundTo(ctx context.Context, name, mh, member string) (bool, error) {
	ref, ok, err := s.LookupName(ctx, name)
	if err != nil {
		return false, err
	}
	return ok && ref.Kind == KindTerm && mhKey(ref.Def.CID) == mh && strconv.Itoa(ref.Def.Member) == member, nil
}
