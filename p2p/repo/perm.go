package repo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Modes of what the repo holds: the owner's only. The datastore holds the
// owner's private data (node data, grants, the audit log, private code),
// and pebble's log and tables hold it in plain bytes.
const (
	dirPerm  os.FileMode = 0o700
	filePerm os.FileMode = 0o600
	// otherBits are the group and other permission bits; a repo entry
	// with any of them set is tightened on open.
	otherBits os.FileMode = 0o077
)

// repoFiles are the files unode keeps at the top of a repo directory
// (doc.go); a leftover "<name>.tmp" of an interrupted write is restricted
// too. The API socket (cmd/unode) is created 0600.
var repoFiles = []string{"key", "config.json", "version", "repo.lock"}

// tightenFile removes group and other permissions from the regular file
// at p, reporting whether it changed anything. A missing file is not an
// error; a symbolic link is left alone.
func tightenFile(p string) (bool, error) {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("restricting %s: %w", p, err)
	}
	mode := info.Mode().Perm()
	if !info.Mode().IsRegular() || mode&otherBits == 0 {
		return false, nil
	}
	if err := os.Chmod(p, mode&^otherBits); err != nil {
		return false, fmt.Errorf("restricting %s: %w", p, err)
	}
	return true, nil
}

// tighten removes group and other permissions from root and everything
// under it (directories and regular files; symbolic links are neither
// followed nor changed), and returns the paths it changed, relative to
// root. A missing root is not an error.
func tighten(root string) ([]string, error) {
	var changed []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return filepath.SkipAll
			}
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()
		if mode&otherBits == 0 {
			return nil
		}
		if err := os.Chmod(p, mode&^otherBits); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			rel = p
		}
		changed = append(changed, rel)
		return nil
	})
	if err != nil {
		return changed, fmt.Errorf("restricting permissions under %s: %w", root, err)
	}
	return changed, nil
}

// privateFS is pebble's file system with every file it creates made
// 0600 and every directory 0700, whatever the umask. pebble's default
// creates files 0666 and directories 0755 (less the umask). The mode is
// set on the open descriptor right after creation; the directory around
// it is already 0700, so no other user can open the file in between.
type privateFS struct{ vfs.FS }

var _ vfs.FS = privateFS{}

func (p privateFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return restrict(p.FS.Create(name, category))
}

func (p privateFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return restrict(p.FS.OpenReadWrite(name, category, opts...))
}

func (p privateFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return restrict(p.FS.ReuseForWrite(oldname, newname, category))
}

func (p privateFS) MkdirAll(dir string, _ os.FileMode) error {
	return p.FS.MkdirAll(dir, dirPerm)
}

// Lock creates the lock file if it is missing.
func (p privateFS) Lock(name string) (io.Closer, error) {
	c, err := p.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(name, filePerm); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (p privateFS) Unwrap() vfs.FS { return p.FS }

// restrict sets a freshly opened file's mode to filePerm.
func restrict(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	fd := f.Fd()
	if fd == vfs.InvalidFd {
		return f, nil // not an OS file (pebble's default FS always is one)
	}
	if err := syscall.Fchmod(int(fd), uint32(filePerm)); err != nil {
		f.Close()
		return nil, fmt.Errorf("restricting a datastore file: %w", err)
	}
	return f, nil
}
