package repo

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/unode-dev/unode/p2p/repo/pgds"
)

// EnvStore names the environment variable that selects the datastore
// instead of the config's "datastore" (see Options.Store).
const EnvStore = "UNODE_STORE"

// Options tune OpenWith.
type Options struct {
	// Store selects the datastore, over $UNODE_STORE, over the config's
	// "datastore": a postgres:// (or postgresql://) URL opens that
	// database (with the config's table and pool sizes), "pebble" the
	// config's pebble directory. Empty: $UNODE_STORE, else the config.
	// `unode daemon --store` sets it.
	Store string
}

// storeOpenTimeout bounds connecting to a database store and creating its
// table when the repo is opened (each connection attempt is bounded by
// pgds's connect timeout, 10 s, inside it).
const storeOpenTimeout = 30 * time.Second

// storeConfig is the datastore to open: cfg, with its type and URL
// replaced by opts.Store or else $UNODE_STORE when set.
func storeConfig(cfg DatastoreConfig, opts Options) (DatastoreConfig, error) {
	sel, from := opts.Store, "--store"
	if sel == "" {
		sel, from = os.Getenv(EnvStore), "$"+EnvStore
	}
	switch {
	case sel == "":
	case sel == "pebble":
		cfg.Type, cfg.URL = "pebble", ""
	case strings.HasPrefix(sel, "postgres://"), strings.HasPrefix(sel, "postgresql://"):
		cfg.Type, cfg.URL = "postgres", sel
	default:
		// Not quoted: a URL mistyped may hold a password.
		return cfg, fmt.Errorf("%s: want a postgres:// URL or \"pebble\"", from)
	}
	if cfg.Type == "postgres" && cfg.URL == "" {
		return cfg, fmt.Errorf("config: datastore.type is \"postgres\" but datastore.url is empty (set it, or %s)", EnvStore)
	}
	return cfg, nil
}

// openPostgres opens the shared store cfg describes.
func (r *Repo) openPostgres(cfg DatastoreConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeOpenTimeout)
	defer cancel()
	d, err := pgds.New(ctx, cfg.URL, pgds.Options{Table: cfg.Table, MaxConns: cfg.MaxConns, MinConns: cfg.MinConns})
	if err != nil {
		return fmt.Errorf("opening the datastore: %w", err)
	}
	r.Datastore = d
	r.closeDS = d.Close
	return nil
}
