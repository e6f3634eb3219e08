package p2p

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
)

// summarySrc names builtins, data types (constructors, patterns),
// mutually recursive definitions, a text literal long enough to be
// chunked, and thunks sent to a fixed node (whose code, impl and
// secret, a holder of the definitions need not hold; helper is needed
// too).
var summarySrc = `type Shape = Circle Int | Rect Int Int
area s = match s with
  | Circle r -> r * r * 3
  | Rect w h -> w * h
isEven n = if n == 0 then true else isOdd (n - 1)
isOdd n = if n == 0 then false else isEven (n - 1)
big = Text.length "` + strings.Repeat("a long literal line ", 4000) + `"
secret x = x * 42
impl x = secret x + 1
wrapper x = at here! '(impl x)
helper x = x + 2
mixed x = helper x + at here! '(helper x + impl x)
top x = area (Circle x) + area (Rect x 2) + (if isEven x then 1 else 0) + big + wrapper x + mixed x
`

// refSummary is what summarize must find, computed from the stored
// bytes with the scanners summarize does not use (dag.Links,
// dag.NeededLinks, Refs.AddBlock): the builtins, the definitions named
// by values in chunk leaves, the blocks found, and whether a block it
// looked for (an optional one) was missing.
func refSummary(t *testing.T, s *dag.Store, root cid.Cid) (builtins []string, defs, blocks []cid.Cid, partial bool) {
	t.Helper()
	ctx := context.Background()
	bs, ds := map[string]bool{}, map[cid.Cid]bool{}
	found := map[cid.Cid]bool{}
	type item struct {
		c      cid.Cid
		needed bool
	}
	stack := []item{{root, true}}
	seen := map[cid.Cid]bool{root: true}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		data, err := s.Get(ctx, it.c)
		if errors.Is(err, dag.ErrNotFound) {
			if it.needed {
				t.Fatalf("needed block %s missing", it.c)
			}
			partial = true
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		found[it.c] = true
		r := dag.NewRefs()
		if err := r.AddBlock(data); err != nil {
			t.Fatal(err)
		}
		for b := range r.Builtins {
			bs[b] = true
		}
		if kind, _ := dag.BlockKind(data); kind == dag.ChunkBlockKind {
			for d := range r.Defs {
				ds[d] = true
			}
		}
		links, err := dag.Links(data)
		if err != nil {
			t.Fatal(err)
		}
		needed, err := dag.NeededLinks(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if !seen[l] {
				seen[l] = true
				stack = append(stack, item{l, it.needed && slices.ContainsFunc(needed, l.Equals)})
			}
		}
	}
	return slices.Sorted(maps.Keys(bs)), slices.SortedFunc(maps.Keys(ds), compareCIDs), slices.SortedFunc(maps.Keys(found), compareCIDs), partial
}

// TestSummaryFastMatchesGeneral: the summary of a closure read off the
// blocks just received (the store's decoded-block cache), and the one
// read from stored bytes by the one pass (blocks stored by AddBlocks,
// not kept for ScanStored), are what the independent scanners find: the
// same builtins, definitions and blocks, and cached only when no
// optional block was missing.
func TestSummaryFastMatchesGeneral(t *testing.T) {
	ctx := context.Background()
	owner := newTestNode(t)
	addSource(t, owner, summarySrc)
	names := []string{"top", "area", "isEven", "isOdd", "big", "wrapper", "mixed", "Circle"}
	roots := make([]cid.Cid, len(names))
	for i, name := range names {
		c, err := owner.Codebase().BlockOf(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		roots[i] = c
	}
	// Every block reachable by any link, and the needed closures alone.
	all := map[cid.Cid][]byte{}
	needed := map[cid.Cid]bool{}
	for _, r := range roots {
		cl, err := owner.store.ClosureOf(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cl {
			needed[c] = true
		}
		stack := []cid.Cid{r}
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, ok := all[c]; ok {
				continue
			}
			data, err := owner.store.Get(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			all[c] = data
			ls, _ := dag.Links(data)
			stack = append(stack, ls...)
		}
	}
	if len(all) == len(needed) {
		t.Fatal("no optional block: the test does not test missing ones")
	}
	chunks := 0
	for _, data := range all {
		if kind, _ := dag.BlockKind(data); kind == dag.ChunkBlockKind {
			chunks++
		}
	}
	if chunks == 0 {
		t.Fatal("no chunk block: the literal was not chunked")
	}

	for _, tc := range []struct {
		name     string
		optional bool // the optional blocks are stored too
		received bool // by AddReceived (else AddBlocks)
	}{
		{"received, optional missing", false, true},
		{"received, all", true, true},
		{"stored, optional missing", false, false},
		{"stored, all", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNode(t)
			var rs []*dag.Received
			var bs []dag.Block
			for c, data := range all {
				if !tc.optional && !needed[c] {
					continue
				}
				rs = append(rs, dag.Receive(data))
				bs = append(bs, dag.Block{CID: c, Data: data})
			}
			var err error
			if tc.received {
				err = n.store.AddReceived(ctx, rs)
			} else {
				err = n.store.AddBlocks(ctx, bs)
			}
			if err != nil {
				t.Fatal(err)
			}
			sawPartial := false
			for i, r := range roots {
				s, err := n.summarize(ctx, r)
				if err != nil {
					t.Fatalf("%s: %v", names[i], err)
				}
				wb, wd, wblocks, partial := refSummary(t, n.store, r)
				sawPartial = sawPartial || partial
				if !slices.Equal(s.builtins, wb) {
					t.Errorf("%s: builtins %v, want %v", names[i], s.builtins, wb)
				}
				if !slices.EqualFunc(s.defs, wd, cid.Cid.Equals) {
					t.Errorf("%s: defs %v, want %v", names[i], s.defs, wd)
				}
				got := slices.SortedFunc(maps.Keys(s.blocks), compareCIDs)
				if !slices.EqualFunc(got, wblocks, cid.Cid.Equals) {
					t.Errorf("%s: %d blocks, want %d", names[i], len(got), len(wblocks))
				}
				if _, cached := n.links.get(r); cached == partial {
					t.Errorf("%s: cached %v with an optional block missing %v", names[i], cached, partial)
				}
			}
			if sawPartial == tc.optional {
				t.Errorf("optional blocks stored %v, a walk missed one %v", tc.optional, sawPartial)
			}
		})
	}
}
