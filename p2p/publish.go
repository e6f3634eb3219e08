package p2p

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// Published and private code (docs/security.md, "Private
// implementations"). A node's own definitions are private: it sends them
// to another node only as part of a call it makes itself (its own
// evaluations' `at`), and serves them (/unode/blocks) only once
// published. On behalf of a peer P (in the result of P's evaluation, or
// on a call P's evaluation makes) a block may also travel when P itself
// sent it here: P could send it anyway. So a block is shareable with P
// when it is published or was received from P.
//
// Keys (beside dag's):
//
//	/published/<mh>  "root" (published by name or CID) or "dep" (in the
//	                 closure of a published root)
//	/received/<mh>   the block first came from another node: that
//	                 node's peer ID (binary)
//
// <mh> is the block's multihash as in dag's keys.
const (
	prefixPublished = "/published/"
	prefixReceived  = "/received/"
	publishedRoot   = "root"
	publishedDep    = "dep"
)

var mhKeyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func markKey(prefix string, c cid.Cid) datastore.Key {
	// One allocation, the key's string: a sync writes keys for every
	// block it receives.
	var buf [96]byte // a prefix and a sha2-256 multihash in base32 (55)
	return datastore.RawKey(string(appendMarkKey(buf[:0], prefix, c)))
}

// appendMarkKey appends markKey(prefix, c) to dst, reading the
// multihash of a supported CID in place (c.Hash copies the CID's bytes).
func appendMarkKey(dst []byte, prefix string, c cid.Cid) []byte {
	dst = append(dst, prefix...)
	if supportedCID(c) {
		// CIDv1 (0x01), dag-cbor (0x71), then the 34-byte multihash.
		var h [34]byte
		copy(h[:], c.KeyString()[2:])
		return mhKeyEncoding.AppendEncode(dst, h[:])
	}
	return mhKeyEncoding.AppendEncode(dst, c.Hash())
}

// cidOfMarkKey reads the CID back from a marker key.
func cidOfMarkKey(prefix, key string) (cid.Cid, bool) {
	b, err := mhKeyEncoding.DecodeString(strings.TrimPrefix(key, prefix))
	if err != nil {
		return cid.Undef, false
	}
	if _, err := mh.Cast(b); err != nil {
		return cid.Undef, false
	}
	return cid.NewCidV1(cid.DagCBOR, b), true
}

func (c *Codebase) ds() datastore.Batching { return c.store.Datastore() }

// shareable reports whether this node may send block b on behalf of
// peer p: b is published, or p sent it here.
func (c *Codebase) shareable(ctx context.Context, b cid.Cid, p peer.ID) (bool, error) {
	ok, err := c.ds().Has(ctx, markKey(prefixPublished, b))
	if err != nil || ok {
		return ok, err
	}
	if p == "" {
		return false, nil
	}
	from, err := c.ds().Get(ctx, markKey(prefixReceived, b))
	if errors.Is(err, datastore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(from) == string(p), nil
}

// markReceived records blocks that arrived from peer from and were not
// here before.
func (c *Codebase) markReceived(ctx context.Context, cs []cid.Cid, from peer.ID) error {
	if len(cs) == 0 {
		return nil
	}
	b, err := c.ds().Batch(ctx)
	if err != nil {
		return err
	}
	// One value for all: datastores take it as read-only.
	v := []byte(from)
	for _, x := range cs {
		if err := b.Put(ctx, markKey(prefixReceived, x), v); err != nil {
			return err
		}
	}
	return b.Commit(ctx)
}

// AddOptions are the options of AddWith.
type AddOptions struct {
	// Publish publishes every definition the file declares (see
	// Publish).
	Publish bool
	// Here is the peer ID (text) that here! resolves to. Empty means the
	// codebase's node: the node's own ID when the codebase belongs to a
	// running Node, otherwise here! is an error.
	Here string
}

// AddWith is Add with options: here! in the file is fixed to opts.Here
// (so the CIDs of definitions using it depend on it), and with Publish
// the file's definitions are published.
func (c *Codebase) AddWith(ctx context.Context, filename string, src []byte, opts AddOptions) (*AddResult, error) {
	here := c.here
	if opts.Here != "" {
		if _, err := peer.Decode(opts.Here); err != nil {
			return nil, fmt.Errorf("AddOptions.Here %q is not a peer ID: %w", opts.Here, err)
		}
		here = opts.Here
	}
	f, err := syntax.ParseFile(filename, src)
	if err != nil {
		return nil, err
	}
	co, ls := c.compileOptions(ctx)
	co.Here = here
	comp, err := dag.Compile(f, co)
	if err := ls.check(err); err != nil {
		return nil, err
	}
	// The owner's blocks are pinned from before they are stored, with
	// whatever unpinned blocks they link to (retain.go).
	release, err := c.pinCompiled(ctx, comp)
	if err != nil {
		return nil, err
	}
	res, err := c.addCompiled(ctx, comp)
	release()
	if err != nil {
		return nil, err
	}
	if opts.Publish {
		roots := make([]cid.Cid, len(comp.Blocks))
		for i, b := range comp.Blocks {
			roots[i] = b.CID
		}
		if err := c.publishBlocks(ctx, roots); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Publish marks a definition (a name, a type or constructor name, or
// #CID) as published, with what holders need to call it: its closure,
// less what thunks sent to fixed nodes refer to (dag.NeededLinks). Others
// may then fetch it (/unode/blocks), and results and calls made on
// behalf of foreign code may carry it. It returns the blocks published,
// the definition's first.
func (c *Codebase) Publish(ctx context.Context, nameOrCID string) ([]NameInfo, error) {
	root, err := c.resolveBlock(ctx, nameOrCID)
	if err != nil {
		return nil, err
	}
	if err := c.publishBlock(ctx, root); err != nil {
		return nil, err
	}
	closure, err := c.store.ClosureOf(ctx, root)
	if err != nil {
		return nil, err
	}
	idx, err := c.namesByBlock(ctx)
	if err != nil {
		return nil, err
	}
	out := []NameInfo{}
	// ClosureOf lists the root last.
	for i := len(closure) - 1; i >= 0; i-- {
		out = append(out, c.blockInfo(ctx, closure[i], idx)...)
	}
	return out, nil
}

// publishBlock marks root as a published root and its closure as
// published dependencies.
func (c *Codebase) publishBlock(ctx context.Context, root cid.Cid) error {
	return c.publishBlocks(ctx, []cid.Cid{root})
}

// publishBlocks publishes several roots in one synced batch, so that
// `add --publish` of a large file is one commit rather than one per
// definition.
func (c *Codebase) publishBlocks(ctx context.Context, roots []cid.Cid) error {
	// What the owner publishes it keeps (retain.go).
	if err := c.pinLinks(ctx, roots); err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	isRoot := make(map[cid.Cid]bool, len(roots))
	for _, r := range roots {
		isRoot[r] = true
	}
	seen := map[cid.Cid]bool{}
	var marks []cid.Cid
	// Later roots tend to depend on earlier ones: a root already in the
	// union has its closure there too, and is not walked again.
	for i := len(roots) - 1; i >= 0; i-- {
		if seen[roots[i]] {
			continue
		}
		closure, err := c.store.ClosureOf(ctx, roots[i])
		if err != nil {
			return fmt.Errorf("publishing %s: %w", roots[i], err)
		}
		for _, x := range closure {
			if !seen[x] {
				seen[x] = true
				marks = append(marks, x)
			}
		}
	}
	b, err := c.ds().Batch(ctx)
	if err != nil {
		return err
	}
	for _, x := range marks {
		v := publishedDep
		if isRoot[x] {
			v = publishedRoot
		} else if old, err := c.ds().Get(ctx, markKey(prefixPublished, x)); err == nil && string(old) == publishedRoot {
			continue // stays a root
		}
		if err := b.Put(ctx, markKey(prefixPublished, x), []byte(v)); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}
	if c.onPublish != nil {
		c.onPublish(roots)
	}
	return nil
}

// ErrNotPublished is returned by Unpublish for a definition that was
// not published as a root (by name or CID).
var ErrNotPublished = errors.New("not published")

// Unpublish withdraws a definition published by name or CID: its block
// and the blocks of its closure stop being served to other nodes, except
// those another published root still needs, and the node stops
// announcing it in the DHT (records already out expire where they are).
// The blocks stay in the codebase. It returns the definition unpublished.
func (c *Codebase) Unpublish(ctx context.Context, nameOrCID string) ([]NameInfo, error) {
	root, err := c.resolveBlock(ctx, nameOrCID)
	if err != nil {
		return nil, err
	}
	mark, err := c.ds().Get(ctx, markKey(prefixPublished, root))
	if errors.Is(err, datastore.ErrNotFound) || (err == nil && string(mark) != publishedRoot) {
		what := "it is not published now"
		if err == nil {
			what = "it is published only as part of another published definition's closure: unpublish that one"
		}
		return nil, fmt.Errorf("unpublish %s: %w (%s)", nameOrCID, ErrNotPublished, what)
	}
	if err != nil {
		return nil, err
	}
	res, err := c.ds().Query(ctx, query.Query{Prefix: strings.TrimSuffix(prefixPublished, "/")})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	// What the other roots still need stays published.
	keep := map[cid.Cid]bool{}
	for _, e := range entries {
		b, ok := cidOfMarkKey(prefixPublished, e.Key)
		if !ok || b == root || string(e.Value) != publishedRoot || keep[b] {
			continue
		}
		closure, err := c.store.ClosureOf(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("unpublish %s: the closure of %s: %w", nameOrCID, b, err)
		}
		for _, x := range closure {
			keep[x] = true
		}
	}
	batch, err := c.ds().Batch(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, ok := cidOfMarkKey(prefixPublished, e.Key)
		switch {
		case !ok || (keep[b] && b != root):
		case keep[b]: // root is needed by another root: it stays a dependency
			err = batch.Put(ctx, markKey(prefixPublished, b), []byte(publishedDep))
		default:
			err = batch.Delete(ctx, markKey(prefixPublished, b))
		}
		if err != nil {
			return nil, err
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return nil, err
	}
	if c.onUnpublish != nil {
		c.onUnpublish(root)
	}
	idx, err := c.namesByBlock(ctx)
	if err != nil {
		return nil, err
	}
	return c.blockInfo(ctx, root, idx), nil
}

// Published lists what was published by name or CID (not the closures
// that came with it), by name; a published block with no local name is
// listed by CID with an empty name.
func (c *Codebase) Published(ctx context.Context) ([]NameInfo, error) {
	res, err := c.ds().Query(ctx, query.Query{Prefix: strings.TrimSuffix(prefixPublished, "/")})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	idx, err := c.namesByBlock(ctx)
	if err != nil {
		return nil, err
	}
	out := []NameInfo{}
	for _, e := range entries {
		if string(e.Value) != publishedRoot {
			continue
		}
		b, ok := cidOfMarkKey(prefixPublished, e.Key)
		if !ok {
			continue
		}
		out = append(out, c.blockInfo(ctx, b, idx)...)
	}
	slices.SortFunc(out, func(a, b NameInfo) int {
		if a.Name != b.Name {
			return strings.Compare(a.Name, b.Name)
		}
		return strings.Compare(a.Ref, b.Ref)
	})
	return out, nil
}

// IsPublished reports whether the block of a definition is published
// (as a root or in a published closure).
func (c *Codebase) IsPublished(ctx context.Context, b cid.Cid) (bool, error) {
	return c.ds().Has(ctx, markKey(prefixPublished, b))
}

// resolveBlock finds the block of a name (term, constructor or type) or
// a #CID.
func (c *Codebase) resolveBlock(ctx context.Context, what string) (cid.Cid, error) {
	if r, ok, err := c.store.LookupName(ctx, what); err != nil {
		return cid.Undef, err
	} else if ok {
		return r.Def.CID, nil
	}
	if r, ok, err := c.store.LookupType(ctx, what); err != nil {
		return cid.Undef, err
	} else if ok {
		return r.Def.CID, nil
	}
	ref, err := parseRefText(what)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %s", ErrUnknownName, what)
	}
	if ok, err := c.store.IsComplete(ctx, ref.CID); err != nil {
		return cid.Undef, err
	} else if !ok {
		return cid.Undef, &dag.MissingError{CIDs: []cid.Cid{ref.CID}}
	}
	return ref.CID, nil
}

// namesByBlock indexes the namespace by block.
func (c *Codebase) namesByBlock(ctx context.Context) (map[cid.Cid][]dag.NameEntry, error) {
	all, err := c.store.ListNames(ctx)
	if err != nil {
		return nil, err
	}
	idx := map[cid.Cid][]dag.NameEntry{}
	for _, e := range all {
		if e.Ref.Kind == dag.KindCtor {
			continue // listed through their type
		}
		idx[e.Ref.Def.CID] = append(idx[e.Ref.Def.CID], e)
	}
	return idx, nil
}

// blockInfo describes a block by its names, or by its CID when it has
// none.
func (c *Codebase) blockInfo(ctx context.Context, b cid.Cid, idx map[cid.Cid][]dag.NameEntry) []NameInfo {
	if es := idx[b]; len(es) > 0 {
		out := make([]NameInfo, 0, len(es))
		for _, e := range es {
			out = append(out, NameInfo{Name: e.Name, Kind: kindName(e.Ref.Kind), Ref: refText(e.Ref)})
		}
		return out
	}
	kind := "term"
	if k, err := c.blockKind(ctx, b); err == nil && k == dag.TypeBlockKind {
		kind = "type"
	}
	return []NameInfo{{Kind: kind, Ref: b.String()}}
}
