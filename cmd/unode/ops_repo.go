package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// The repo's storage: what is kept for good (pinned) and what other
// peers made the node store (unpinned, quota'd and evictable; see
// docs/security.md, "Disk").

type repoGCRequest struct{}

// repoGCResult is what `unode repo gc` removed.
type repoGCResult struct {
	Blocks int64 `json:"blocks"`
	Bytes  int64 `json:"bytes"`
}

func (r *repoGCResult) Text() string {
	return fmt.Sprintf("removed %s (%s)", plural(int(r.Blocks), "block"), byteSize(r.Bytes))
}

var repoGCOp = &operation[repoGCRequest, repoGCResult]{
	name: "repo/gc",
	do: func(ctx context.Context, b *backend, _ *repoGCRequest) (*repoGCResult, error) {
		res, err := b.cb.CollectGarbage(ctx)
		if err != nil {
			return nil, err
		}
		return &repoGCResult{Blocks: res.Blocks, Bytes: res.Bytes}, nil
	},
}

type repoStatRequest struct {
	// Top is how many peers to list by unpinned bytes.
	Top int `json:"top"`
}

// repoStatResult describes the repo's storage: p2p.DiskStat and the
// datastore's size on disk.
type repoStatResult struct {
	p2p.DiskStat
	// Path is the repo; DiskBytes the size of its datastore's files
	// (-1 when the datastore is not a directory this command can read).
	Path      string `json:"path"`
	DiskBytes int64  `json:"diskBytes"`
}

func (r *repoStatResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "repo       %s\n", r.Path)
	if r.DiskBytes >= 0 {
		fmt.Fprintf(&b, "on disk    %s (datastore)\n", byteSize(r.DiskBytes))
	}
	fmt.Fprintf(&b, "blocks     %d (%s)\n", r.Blocks, byteSize(r.Bytes))
	fmt.Fprintf(&b, "pinned     %d (%s): added, published, fetched or received for this node's own calls; kept\n",
		r.Pinned.Blocks, byteSize(r.Pinned.Bytes))
	fmt.Fprintf(&b, "unpinned   %d (%s) for %s: stored on other peers' say-so; evictable\n",
		r.Unpinned.Blocks, byteSize(r.Unpinned.Bytes), plural(r.PeerCount, "peer"))
	if r.Data.Blocks > 0 {
		fmt.Fprintf(&b, "data       %d (%s): chunks of large node data values; evictable once no key refers to them\n",
			r.Data.Blocks, byteSize(r.Data.Bytes))
	}
	q := r.Quota
	fmt.Fprintf(&b, "quota      %s, %d blocks per peer; %s, %d blocks in all\n",
		byteSize(q.PerPeer.Bytes), q.PerPeer.Blocks, byteSize(q.Total.Bytes), q.Total.Blocks)
	if r.InUse > 0 || r.RetainedRoots > 0 {
		fmt.Fprintf(&b, "roots      %d retained, %d evaluations or syncs in progress\n", r.RetainedRoots, r.InUse)
	}
	for _, p := range r.Peers {
		fmt.Fprintf(&b, "peer       %s  %s (%s)\n", p.Peer, plural(int(p.Blocks), "block"), byteSize(p.Bytes))
	}
	return b.String()
}

var repoStatOp = &operation[repoStatRequest, repoStatResult]{
	name: "repo/stat",
	do: func(ctx context.Context, b *backend, req *repoStatRequest) (*repoStatResult, error) {
		if req.Top < 0 {
			return nil, fmt.Errorf("--top must not be negative")
		}
		st, err := b.cb.DiskStat(ctx, req.Top)
		if err != nil {
			return nil, err
		}
		return &repoStatResult{DiskStat: *st, Path: b.repo.Path, DiskBytes: datastoreSize(b.repo)}, nil
	},
}

// datastoreSize sums the sizes of the files of the repo's pebble
// directory (repo.Repo.load puts it at config datastore.path, by default
// "datastore" in the repo); -1 if it cannot be read.
func datastoreSize(r *repo.Repo) int64 {
	if r.Config == nil || (r.Config.Datastore.Type != "" && r.Config.Datastore.Type != "pebble") {
		return -1
	}
	dir := r.Config.Datastore.Path
	if dir == "" {
		dir = "datastore"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.Path, dir)
	}
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return -1
	}
	return total
}

// byteSize prints a byte count the way people read it.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
