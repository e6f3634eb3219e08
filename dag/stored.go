package dag

import (
	"bytes"
	"maps"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
)

// StoredScan is what walking a closure reads from one of its blocks.
type StoredScan struct {
	// Builtins lists the builtins a term block's terms name (those
	// inside thunks sent to fixed nodes too, as Refs.AddBlock), sorted,
	// each once; nil for other blocks.
	Builtins []string
	// Links is Links(data); Needed is NeededLinks(data), the links a
	// holder of the block needs (a subset of Links).
	Links, Needed []cid.Cid
	// Defs lists, for an element chunk leaf, the definitions its values
	// name directly (closures' code, top-level functions held as values),
	// sorted, each once; nil for other blocks. Such values are part of
	// the value that links to the chunk (a thunk's captured list of
	// closures), so a sandbox checks these as it checks the definitions
	// a thunk names itself, not as code a definition reaches.
	Defs []cid.Cid
}

// ScanStoredBlock reads, in one decoding, what Refs.AddBlock, Links and
// NeededLinks would read from a block held in a Store. A Store checked
// the block (its canonical encoding and schema) when it took it, so
// this does not check again: it is for bytes read back from a Store,
// never for bytes from outside (use ValidatedLinks on those). It still
// fails cleanly, with a *DecodeError, on bytes it cannot interpret.
func ScanStoredBlock(data []byte) (*StoredScan, error) {
	x, err := decodeItem(data, MaxValueSize)
	if err != nil {
		return nil, err
	}
	var links []cid.Cid
	if err := walkGeneric(x, func(c cid.Cid) { links = append(links, c) }); err != nil {
		return nil, err
	}
	links = sortedUnique(links)
	sc := &StoredScan{Links: links, Needed: links}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, malformed("expected a map envelope, found %s", describe(x))
	}
	kind, err := envelopeKind(m)
	if err == nil && kind == ChunkBlockKind {
		return scanChunk(sc, x)
	}
	if err != nil || kind != TermBlockKind {
		return sc, err
	}
	body, err := envelope(x, TermBlockKind, fieldMembers)
	if err != nil {
		return nil, err
	}
	ms, ok := body.([]any)
	if !ok || len(ms) == 0 {
		return nil, malformed("term block: members must be a non-empty array")
	}
	members := make([]Term, len(ms))
	for i, mx := range ms {
		mm, ok := mx.(map[string]any)
		tn, has := mm[fieldTerm]
		if !ok || len(mm) != 1 || !has {
			return nil, malformed("term block member %d: want a map with exactly key %q", i, fieldTerm)
		}
		if members[i], err = decodeTerm(tn); err != nil {
			return nil, err
		}
	}
	r := NewRefs()
	for _, t := range members {
		r.AddTerm(t)
	}
	sc.Builtins = make([]string, 0, len(r.Builtins))
	for b := range r.Builtins {
		sc.Builtins = append(sc.Builtins, b)
	}
	slices.Sort(sc.Builtins)
	if len(links) > 0 && bytes.Contains(data, fixedNodeMarker) {
		// As NeededLinks: leave out what only fixed thunks link to.
		w := &neededWalker{needed: linkWalker{seen: map[cid.Cid]struct{}{}}, fixed: linkWalker{seen: map[cid.Cid]struct{}{}}}
		for _, t := range members {
			w.term(t)
		}
		needed := make([]cid.Cid, 0, len(links))
		for _, l := range links {
			_, inFixed := w.fixed.seen[l]
			_, inNeeded := w.needed.seen[l]
			if inFixed && !inNeeded {
				continue
			}
			needed = append(needed, l)
		}
		sc.Needed = needed
	}
	return sc, nil
}

// scanChunk is ScanStoredBlock's case of a chunk block: an element
// leaf's values name builtins and definitions as a thunk's do
// (Refs.AddBlock), a data leaf or an interior node names none.
func scanChunk(sc *StoredScan, x any) (*StoredScan, error) {
	body, err := envelope(x, ChunkBlockKind, fieldChunk)
	if err != nil {
		return nil, err
	}
	nd, err := chunkNodeOf(body)
	if err != nil {
		return nil, err
	}
	if len(nd.units) == 0 {
		return sc, nil
	}
	r := NewRefs()
	for _, u := range nd.units {
		r.AddValue(u)
	}
	sc.Builtins = slices.Sorted(maps.Keys(r.Builtins))
	sc.Defs = slices.SortedFunc(maps.Keys(r.Defs), func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
	return sc, nil
}
