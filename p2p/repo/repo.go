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
// configuration. It fails if a repo already exists there.
func Init(path string) error {
	if Exists(path) {
		return fmt.Errorf("a repo already exists at %s", path)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
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
	if err := writeFileAtomic(filepath.Join(path, "config.json"), append(data, '\n'), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(path, "version"), []byte(strconv.Itoa(Version)+"\n"), 0o600); err != nil {
		return err
	}
	// The key is written last: its presence marks the repo initialized.
	return writeFileAtomic(filepath.Join(path, "key"), raw, 0o600)
}

// Open opens the repo at path, creating it first if it does not exist.
func Open(path string) (*Repo, error) {
	if !Exists(path) {
		if err := Init(path); err != nil {
			return nil, err
		}
	}
	lock, err := os.OpenFile(filepath.Join(path, "repo.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, ErrLocked
	}
	r := &Repo{Path: path, lock: lock}
	if err := r.load(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Repo) load() error {
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
	switch r.Config.Datastore.Type {
	case "", "pebble":
		dir := r.Config.Datastore.Path
		if dir == "" {
			dir = "datastore"
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(r.Path, dir)
		}
		ds, err := pebbleds.NewDatastore(dir)
		if err != nil {
			return fmt.Errorf("opening pebble datastore at %s: %w", dir, err)
		}
		r.Datastore = ds
		r.closeDS = ds.Close
	default:
		return fmt.Errorf("config: unknown datastore type %q (known: pebble)", r.Config.Datastore.Type)
	}
	return nil
}

// SaveConfig writes the current configuration back to config.json.
func (r *Repo) SaveConfig() error {
	data, err := json.MarshalIndent(r.Config, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(r.Path, "config.json"), append(data, '\n'), 0o600)
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

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}
