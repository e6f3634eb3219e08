package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Version is the repo format version written to the version file.
const Version = 1

// EnvPath names the environment variable that overrides the repo location.
const EnvPath = "UNODE_PATH"

// ErrLocked means another process has the repo open.
var ErrLocked = errors.New("repo is in use by another process (is `unode daemon` running?)")

// Repo is an open repository.
type Repo struct {
	Path      string
	Key       crypto.PrivKey
	ID        peer.ID
	Config    *Config
	Datastore datastore.Batching
	// Tightened lists what Open found readable or writable by other
	// users and restricted to the owner (paths relative to Path, "." for
	// the repo directory itself; absolute for a datastore outside it).
	// Empty when everything already was private. The CLI reports it.
	Tightened []string
	lock      *os.File
	closeDS   func() error
}

// DefaultPath returns $UNODE_PATH, or ~/.unode.
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding home directory (set %s): %w", EnvPath, err)
	}
	return filepath.Join(home, ".unode"), nil
}

// Exists reports whether path holds an initialized repo.
func Exists(path string) bool {
	_, err := os.Stat(filepath.Join(path, "key"))
	return err == nil
}

// Init creates a repo at path with a fresh Ed25519 identity and the default
// configuration. It fails if a repo already exists there. It does not take
// the repo's lock; Open, which creates a missing repo under the lock, is
// what processes that may race should call.
func Init(path string) error {
	if Exists(path) {
		return fmt.Errorf("a repo already exists at %s", path)
	}
	if err := os.MkdirAll(path, dirPerm); err != nil {
		return fmt.Errorf("creating repo directory: %w", err)
	}
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return fmt.Errorf("generating identity key: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encoding identity key: %w", err)
	}
	cfg := DefaultConfig()
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(path, "config.json"), append(data, '\n'), filePerm); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(path, "version"), []byte(strconv.Itoa(Version)+"\n"), filePerm); err != nil {
		return err
	}
	// The key is written last: its presence marks the repo initialized.
	return writeFileAtomic(filepath.Join(path, "key"), raw, filePerm)
}

// Open opens the repo at path, creating it first if it does not exist.
// It fails at once with ErrLocked when another process has the repo open
// (callers that should wait retry; see cmd/unode).
//
// The repo is private to its owner: Open creates directories 0700 and
// files 0600, the datastore's included, and restricts anything already
// there that group or other users could reach (a directory made 0755 by
// hand or by an older unode), listing what it changed in Tightened.
func Open(path string) (*Repo, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options: the datastore to use instead of the
// config's.
func OpenWith(path string, opts Options) (*Repo, error) {
	if err := os.MkdirAll(path, dirPerm); err != nil {
		return nil, fmt.Errorf("creating repo directory: %w", err)
	}
	// The directory first: once it is 0700, no other user can open
	// anything under it, whatever that thing's mode.
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening the repo: %w", err)
	}
	var tightened []string
	if info.Mode().Perm()&otherBits != 0 {
		if err := os.Chmod(path, info.Mode().Perm()&^otherBits); err != nil {
			return nil, fmt.Errorf("restricting the repo directory: %w", err)
		}
		tightened = append(tightened, ".")
	}
	lock, err := os.OpenFile(filepath.Join(path, "repo.lock"), os.O_CREATE|os.O_RDWR, filePerm)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("locking the repo: %w", err)
	}
	r := &Repo{Path: path, lock: lock, Tightened: tightened}
	// Created under the lock: two processes opening a missing repo at
	// once (`unode daemon & unode id`) must not make two identities.
	if !Exists(path) {
		if err := Init(path); err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := r.load(opts); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Repo) load(opts Options) error {
	if v, err := os.ReadFile(filepath.Join(r.Path, "version")); err == nil {
		n, err := strconv.Atoi(strings.TrimSpace(string(v)))
		if err != nil || n != Version {
			return fmt.Errorf("repo at %s has format version %q; this unode reads version %d", r.Path, strings.TrimSpace(string(v)), Version)
		}
	}
	raw, err := os.ReadFile(filepath.Join(r.Path, "key"))
	if err != nil {
		return fmt.Errorf("reading identity key: %w", err)
	}
	r.Key, err = crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return fmt.Errorf("decoding identity key: %w", err)
	}
	r.ID, err = peer.IDFromPrivateKey(r.Key)
	if err != nil {
		return fmt.Errorf("deriving peer ID: %w", err)
	}
	r.Config, err = LoadConfig(filepath.Join(r.Path, "config.json"))
	if err != nil {
		return err
	}
	// Everything unode keeps in the repo (the datastore too, which
	// holds the owner's data in plain bytes) is the owner's only. Other
	// files someone put in the directory are left as they are: the
	// directory itself is closed to other users already.
	for _, name := range repoFiles {
		for _, n := range []string{name, name + ".tmp"} {
			changed, err := tightenFile(filepath.Join(r.Path, n))
			if err != nil {
				return err
			}
			if changed {
				r.Tightened = append(r.Tightened, n)
			}
		}
	}
	store, err := storeConfig(r.Config.Datastore, opts)
	if err != nil {
		return err
	}
	switch store.Type {
	case "postgres":
		// The identity key and the config stay in the repo directory:
		// nodes sharing the store each keep their own.
		return r.openPostgres(store)
	case "", "pebble":
		dir := r.Config.Datastore.Path
		if dir == "" {
			dir = "datastore"
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(r.Path, dir)
		}
		changed, err := tighten(dir)
		if err != nil {
			return err
		}
		for _, c := range changed {
			// Relative to the repo when inside it, else absolute.
			p := filepath.Join(dir, c)
			if rel, err := filepath.Rel(r.Path, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				p = rel
			}
			r.Tightened = append(r.Tightened, p)
		}
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return fmt.Errorf("creating the datastore directory: %w", err)
		}
		ds, err := pebbleds.NewDatastore(dir,
			// Every write is synced before it returns: whatever the node
			// acknowledges survives kill -9 and power loss. pebble's
			// commit pipeline shares one WAL fsync among the writes that
			// wait for it at the same time (group commit). go-ds-pebble's
			// default is NoSync, under which acknowledged writes sit in
			// a buffer in this process until it fills.
			pebbleds.WithPebbleWriteOptions(pebble.Sync),
			pebbleds.WithPebbleOpts(&pebble.Options{FS: privateFS{vfs.Default}}),
		)
		if err != nil {
			return fmt.Errorf("opening pebble datastore at %s: %w", dir, err)
		}
		r.Datastore = ds
		r.closeDS = ds.Close
	default:
		return fmt.Errorf("config: unknown datastore type %q (known: pebble, postgres)", store.Type)
	}
	return nil
}

// SaveConfig writes the current configuration back to config.json.
func (r *Repo) SaveConfig() error {
	data, err := json.MarshalIndent(r.Config, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(r.Path, "config.json"), append(data, '\n'), filePerm)
}

// Close closes the datastore and releases the lock.
func (r *Repo) Close() error {
	var err error
	if r.closeDS != nil {
		err = r.closeDS()
		r.closeDS = nil
	}
	if r.lock != nil {
		syscall.Flock(int(r.lock.Fd()), syscall.LOCK_UN)
		r.lock.Close()
		r.lock = nil
	}
	return err
}

// writeFileAtomic replaces path with data durably: after it returns,
// a crash or power loss leaves either the old file or the new one, never
// a mix or an empty file, and the new one once it returned. The data is
// synced before the rename, and the directory after it (the rename
// itself lives in the directory).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	name := filepath.Base(path)
	tmp := path + ".tmp"
	// A leftover temporary file keeps its mode under O_TRUNC; start anew.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// syncDir makes the entries of dir (a file created or renamed in it)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
