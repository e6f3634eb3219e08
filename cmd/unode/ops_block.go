package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
)

// Blocks and DAGs by CID, for the IPFS/IPLD ecosystem: `unode block
// get|stat|put` and `unode dag export|import` (CAR files, read and
// written with go-car). Everything that comes in is checked as blocks
// from the network are (hash, CID kind, size, block schema:
// dag.CheckBlock), a whole file before any of it is stored, and stored as
// the owner's (pinned) with the closure invariant kept
// (p2p.Codebase.PutBlocks). Files travel by content, as sourceFile does:
// the daemon may not see the client's filesystem.

// errRefused matches every *refusedError: a block or a CAR file that
// failed its checks, of which nothing was stored.
var errRefused = errors.New("refused")

// refusedError is a block or CAR file refused, and why: a
// *dag.HashMismatchError (wrong bytes for the CID), a *dag.SchemaError
// (a block outside unode's schema), a *dag.DecodeError (not canonical
// DAG-CBOR), dag.ErrUnsupportedCID or dag.ErrTooLarge, or a CAR that
// cannot be read (truncated, not a CAR).
type refusedError struct {
	What string // "f.car", "block 3 (bafy…) of f.car"
	Err  error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("refused %s, nothing of it stored: %v", e.What, e.Err)
}

func (e *refusedError) Unwrap() error { return e.Err }

// Is makes every refusedError match errRefused.
func (e *refusedError) Is(target error) bool { return target == errRefused }

// parseBlockCID reads a CID as the CLI takes one: with or without '#'.
func parseBlockCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(strings.TrimPrefix(s, "#"))
	if err != nil {
		return cid.Undef, fmt.Errorf("%q is not a CID: %w", s, err)
	}
	return c, nil
}

// storedBlock returns the bytes of block s, or a *dag.MissingError.
func (b *backend) storedBlock(ctx context.Context, s string) (cid.Cid, []byte, error) {
	c, err := parseBlockCID(s)
	if err != nil {
		return cid.Undef, nil, err
	}
	data, err := b.cb.Store().Get(ctx, c)
	if errors.Is(err, dag.ErrNotFound) {
		if p := c.Prefix(); p.Version != 1 || p.Codec != cid.DagCBOR {
			return cid.Undef, nil, fmt.Errorf("block %s is not here: %w (unode holds only CIDv1 dag-cbor sha2-256 blocks)", c, &dag.MissingError{CIDs: []cid.Cid{c}})
		}
		return cid.Undef, nil, fmt.Errorf("block %s is not here: %w", c, &dag.MissingError{CIDs: []cid.Cid{c}})
	}
	if err != nil {
		return cid.Undef, nil, err
	}
	return c, data, nil
}

// --- block get ---

type blockGetRequest struct {
	CID string `json:"cid"`
}

// blockGetResult is a block's bytes (base64 in JSON).
type blockGetResult struct {
	CID  string `json:"cid"`
	Data []byte `json:"data"`
}

// Text is empty: the command writes the raw bytes itself.
func (r *blockGetResult) Text() string { return "" }

var blockGetOp = &operation[blockGetRequest, blockGetResult]{
	name: "block/get",
	do: func(ctx context.Context, b *backend, req *blockGetRequest) (*blockGetResult, error) {
		c, data, err := b.storedBlock(ctx, req.CID)
		if err != nil {
			return nil, err
		}
		return &blockGetResult{CID: c.String(), Data: data}, nil
	},
}

// --- block stat ---

type blockStatRequest struct {
	CID string `json:"cid"`
}

// blockStatResult describes a stored block. Links are every link in it;
// Complete tells whether its whole closure is here.
type blockStatResult struct {
	CID      string   `json:"cid"`
	Size     int      `json:"size"`
	Codec    string   `json:"codec"`
	Kind     string   `json:"kind"`
	Complete bool     `json:"complete"`
	Links    []string `json:"links"`
}

func (r *blockStatResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cid       %s\nsize      %d\ncodec     %s\nkind      %s\ncomplete  %v\nlinks     %d\n",
		r.CID, r.Size, r.Codec, r.Kind, r.Complete, len(r.Links))
	for _, l := range r.Links {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	return b.String()
}

var blockStatOp = &operation[blockStatRequest, blockStatResult]{
	name: "block/stat",
	do: func(ctx context.Context, b *backend, req *blockStatRequest) (*blockStatResult, error) {
		c, data, err := b.storedBlock(ctx, req.CID)
		if err != nil {
			return nil, err
		}
		links, err := dag.Links(data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		kind, err := dag.BlockKind(data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		complete, err := b.cb.Store().IsComplete(ctx, c)
		if err != nil {
			return nil, err
		}
		out := &blockStatResult{CID: c.String(), Size: len(data), Codec: "dag-cbor", Kind: kind, Complete: complete, Links: []string{}}
		for _, l := range links {
			out.Links = append(out.Links, l.String())
		}
		return out, nil
	},
}

// --- block put ---

type blockPutRequest struct {
	// Name says where the bytes came from, for errors ("standard input").
	Name string `json:"name"`
	Data []byte `json:"data"`
	// CID, when set, is the CID the bytes must hash to.
	CID string `json:"cid,omitempty"`
}

type blockPutResult struct {
	CID  string `json:"cid"`
	Size int    `json:"size"`
	// New is false when the block was here already.
	New bool `json:"new"`
	// Complete tells whether the block's whole closure is here.
	Complete bool `json:"complete"`
}

func (r *blockPutResult) Text() string { return r.CID }

var blockPutOp = &operation[blockPutRequest, blockPutResult]{
	name: "block/put",
	do: func(ctx context.Context, b *backend, req *blockPutRequest) (*blockPutResult, error) {
		blk := dag.NewBlock(req.Data)
		what := "the block from " + req.Name
		if req.CID != "" {
			want, err := parseBlockCID(req.CID)
			if err != nil {
				return nil, err
			}
			if !want.Equals(blk.CID) {
				blk.CID = want // CheckBlock names the mismatch or the CID kind
			}
		}
		if err := dag.CheckBlock(blk); err != nil {
			return nil, &refusedError{What: what, Err: err}
		}
		had, err := b.cb.Store().Has(ctx, blk.CID)
		if err != nil {
			return nil, err
		}
		complete, err := b.cb.PutBlocks(ctx, []dag.Block{blk}, []cid.Cid{blk.CID})
		if err != nil {
			return nil, err
		}
		return &blockPutResult{CID: blk.CID.String(), Size: len(blk.Data), New: !had, Complete: complete[0]}, nil
	},
}

// --- dag export ---

type dagExportRequest struct {
	Roots []string `json:"roots"` // names or CIDs
	V2    bool     `json:"v2,omitempty"`
}

// dagExportResult is a CAR file and what is in it.
type dagExportResult struct {
	Roots   []string `json:"roots"`
	Version int      `json:"version"`
	Blocks  int      `json:"blocks"`
	Bytes   int64    `json:"bytes"` // block bytes, without the CAR's framing
	CAR     []byte   `json:"car,omitempty"`
}

// exportOrder lists the blocks of a CAR export: the closure of each root
// in turn (dag.Store.ClosureOf: depth first, links in CID byte order,
// every block after the blocks it links to, the root last), each block
// once, where it first appears. It depends only on the roots and their
// blocks, so an export is the same file every time.
func exportOrder(ctx context.Context, s *dag.Store, roots []cid.Cid) ([]cid.Cid, error) {
	seen := map[cid.Cid]bool{}
	var out []cid.Cid
	for _, r := range roots {
		cl, err := s.ClosureOf(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("the closure of %s: %w", r, err)
		}
		for _, c := range cl {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

var dagExportOp = &operation[dagExportRequest, dagExportResult]{
	name: "dag/export",
	do: func(ctx context.Context, b *backend, req *dagExportRequest) (*dagExportResult, error) {
		if len(req.Roots) == 0 || len(req.Roots) > maxCARRoots {
			return nil, fmt.Errorf("dag export: %d roots (want 1 to %d)", len(req.Roots), maxCARRoots)
		}
		var roots []cid.Cid
		out := &dagExportResult{Version: 1}
		for _, r := range req.Roots {
			c, err := b.cb.BlockOf(ctx, r)
			if err != nil {
				return nil, err
			}
			roots = append(roots, c)
			out.Roots = append(out.Roots, c.String())
		}
		store := b.cb.Store()
		order, err := exportOrder(ctx, store, roots)
		if err != nil {
			return nil, err
		}
		var v1 bytes.Buffer
		w, err := carstorage.NewWritable(&v1, roots, car.WriteAsCarV1(true))
		if err != nil {
			return nil, fmt.Errorf("writing the CAR: %w", err)
		}
		report, start := progressOf(ctx), time.Now()
		for i, c := range order {
			data, err := store.Get(ctx, c)
			if err != nil {
				return nil, err
			}
			out.Blocks++
			out.Bytes += int64(len(data))
			if out.Bytes > maxCARBytes {
				return nil, fmt.Errorf("the closure is more than %s (the CAR limit): export fewer roots at a time", byteSize(maxCARBytes))
			}
			if err := w.Put(ctx, c.KeyString(), data); err != nil {
				return nil, fmt.Errorf("writing the CAR: %w", err)
			}
			if report != nil {
				report(p2p.FetchProgress{Blocks: i + 1, Bytes: out.Bytes, Expected: len(order), Elapsed: time.Since(start)})
			}
		}
		if err := w.Finalize(); err != nil {
			return nil, fmt.Errorf("writing the CAR: %w", err)
		}
		out.CAR = v1.Bytes()
		if req.V2 {
			// CARv2: the same CARv1 payload, with go-car's header and
			// index around it.
			var v2 bytes.Buffer
			if err := car.WrapV1(bytes.NewReader(out.CAR), &v2); err != nil {
				return nil, fmt.Errorf("writing the CARv2: %w", err)
			}
			out.CAR, out.Version = v2.Bytes(), 2
		}
		return out, nil
	},
}

// --- dag import ---

type dagImportRequest struct {
	Name string `json:"name"` // the file's name, for messages
	CAR  []byte `json:"car"`
}

// importedRoot is a root of an imported CAR: whether its whole closure
// is now here.
type importedRoot struct {
	CID      string `json:"cid"`
	Complete bool   `json:"complete"`
}

type dagImportResult struct {
	Name    string         `json:"name"`
	Version int            `json:"version"`
	Roots   []importedRoot `json:"roots"`
	// Blocks and Bytes count the file's blocks (each once); New those
	// that were not here before.
	Blocks int   `json:"blocks"`
	Bytes  int64 `json:"bytes"`
	New    int   `json:"new"`
}

func (r *dagImportResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "imported %s (CARv%d): %s (%s), %d new\n", r.Name, r.Version, plural(r.Blocks, "block"), byteSize(r.Bytes), r.New)
	for _, root := range r.Roots {
		state := "complete"
		if !root.Complete {
			state = "incomplete: blocks it needs are not here"
		}
		fmt.Fprintf(&b, "root %s %s\n", root.CID, state)
	}
	return b.String()
}

// readCAR reads and checks every block of a CAR file (v1 or v2): a CID
// of the one kind unode stores, bytes that hash to it, canonical
// DAG-CBOR of unode's schema (dag.CheckBlock). The first failure refuses
// the whole file.
func readCAR(ctx context.Context, name string, data []byte) (version int, roots []cid.Cid, blocks []dag.Block, err error) {
	if len(data) > maxCARBytes {
		return 0, nil, nil, &refusedError{What: name, Err: fmt.Errorf("%s, more than the CAR limit of %s", byteSize(int64(len(data))), byteSize(maxCARBytes))}
	}
	br, err := car.NewBlockReader(bytes.NewReader(data),
		// unode checks each block's hash itself, for a typed error.
		car.WithTrustedCAR(true),
		car.MaxAllowedHeaderSize(maxCARHeaderBytes),
		car.MaxAllowedSectionSize(dag.MaxBlockSize+maxCIDBytes))
	if err != nil {
		return 0, nil, nil, &refusedError{What: name, Err: fmt.Errorf("not a readable CAR file: %w", err)}
	}
	if len(br.Roots) > maxCARRoots {
		return 0, nil, nil, &refusedError{What: name, Err: fmt.Errorf("%d roots, more than %d", len(br.Roots), maxCARRoots)}
	}
	for _, r := range br.Roots {
		if p := r.Prefix(); p.Version != 1 || p.Codec != cid.DagCBOR {
			return 0, nil, nil, &refusedError{What: name, Err: fmt.Errorf("root %s: %w", r, dag.ErrUnsupportedCID)}
		}
	}
	report, start := progressOf(ctx), time.Now()
	var total int64
	seen := map[cid.Cid]bool{}
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return 0, nil, nil, err
		}
		blk, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("truncated in block %d: %w", i, err)
			}
			return 0, nil, nil, &refusedError{What: name, Err: fmt.Errorf("not a readable CAR file: %w", err)}
		}
		b := dag.Block{CID: blk.Cid(), Data: blk.RawData()}
		if err := dag.CheckBlock(b); err != nil {
			return 0, nil, nil, &refusedError{What: fmt.Sprintf("%s (block %d, %s)", name, i, b.CID), Err: err}
		}
		if seen[b.CID] {
			continue
		}
		seen[b.CID] = true
		blocks = append(blocks, b)
		total += int64(len(b.Data))
		if report != nil {
			report(p2p.FetchProgress{Blocks: len(blocks), Bytes: total, Elapsed: time.Since(start)})
		}
	}
	return int(br.Version), br.Roots, blocks, nil
}

var dagImportOp = &operation[dagImportRequest, dagImportResult]{
	name: "dag/import",
	do: func(ctx context.Context, b *backend, req *dagImportRequest) (*dagImportResult, error) {
		version, roots, blocks, err := readCAR(ctx, req.Name, req.CAR)
		if err != nil {
			return nil, err
		}
		out := &dagImportResult{Name: req.Name, Version: version, Roots: []importedRoot{}, Blocks: len(blocks)}
		for _, blk := range blocks {
			out.Bytes += int64(len(blk.Data))
			had, err := b.cb.Store().Has(ctx, blk.CID)
			if err != nil {
				return nil, err
			}
			if !had {
				out.New++
			}
		}
		complete, err := b.cb.PutBlocks(ctx, blocks, roots)
		if err != nil {
			return nil, err
		}
		for i, r := range roots {
			out.Roots = append(out.Roots, importedRoot{CID: r.String(), Complete: complete[i]})
		}
		return out, nil
	},
}
