package repo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p/repo/pgds"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStoreSelection: --store over $UNODE_STORE over the config, and the
// errors for a selection that names no store (which never echo the value:
// a mistyped URL may hold a password).
func TestStoreSelection(t *testing.T) {
	pebbleCfg := DatastoreConfig{Type: "pebble", Path: "datastore"}
	pgCfg := DatastoreConfig{Type: "postgres", URL: "postgres://cfg/db", Table: "t", MaxConns: 3}
	for _, c := range []struct {
		name       string
		cfg        DatastoreConfig
		env, flag  string
		wantType   string
		wantURL    string
		wantErrHas string
	}{
		{name: "config pebble", cfg: pebbleCfg, wantType: "pebble"},
		{name: "config postgres", cfg: pgCfg, wantType: "postgres", wantURL: "postgres://cfg/db"},
		{name: "env over config", cfg: pebbleCfg, env: "postgres://env/db", wantType: "postgres", wantURL: "postgres://env/db"},
		{name: "postgresql scheme", cfg: pebbleCfg, env: "postgresql://env/db", wantType: "postgres", wantURL: "postgresql://env/db"},
		{name: "flag over env", cfg: pebbleCfg, env: "postgres://env/db", flag: "postgres://flag/db", wantType: "postgres", wantURL: "postgres://flag/db"},
		{name: "flag pebble over env", cfg: pgCfg, env: "postgres://env/db", flag: "pebble", wantType: "pebble"},
		{name: "env pebble over config", cfg: pgCfg, env: "pebble", wantType: "pebble"},
		{name: "bad env", cfg: pebbleCfg, env: "mysql://u:s3cret@h/db", wantErrHas: "$UNODE_STORE"},
		{name: "bad flag", cfg: pebbleCfg, flag: "s3cret", wantErrHas: "--store"},
		{name: "postgres without url", cfg: DatastoreConfig{Type: "postgres"}, wantErrHas: "datastore.url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(EnvStore, c.env)
			got, err := storeConfig(c.cfg, Options{Store: c.flag})
			if c.wantErrHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErrHas) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("err = %v; want one naming %s, without the value", err, c.wantErrHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != c.wantType || got.URL != c.wantURL {
				t.Errorf("got %s %q, want %s %q", got.Type, got.URL, c.wantType, c.wantURL)
			}
			if got.Table != c.cfg.Table || got.MaxConns != c.cfg.MaxConns || got.Path != c.cfg.Path {
				t.Errorf("the config's other keys changed: %+v from %+v", got, c.cfg)
			}
		})
	}
}

// TestConfigDatastorePostgres: the postgres keys load and save.
func TestConfigDatastorePostgres(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(p, []byte(`{"datastore": {"type": "postgres", "url": "postgres://u@h/db", "table": "nodes", "max_conns": 8, "min_conns": 2}}`), 0o600)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	want := DatastoreConfig{Type: "postgres", Path: "datastore", URL: "postgres://u@h/db", Table: "nodes", MaxConns: 8, MinConns: 2}
	if cfg.Datastore != want {
		t.Errorf("datastore = %+v, want %+v", cfg.Datastore, want)
	}
	os.WriteFile(p, []byte(`{"datastore": {"type": "postgres", "uri": "x"}}`), 0o600)
	if _, err := LoadConfig(p); err == nil {
		t.Error("a misspelt datastore key loaded")
	}
}

// TestSharedPostgresStore: three repos on one PostgreSQL database, chosen
// by the config, by $UNODE_STORE and by Options.Store (the daemon's
// --store): each keeps its own identity key in its directory (not in the
// store), all see one StoreID, and what one writes the others read. No
// pebble directory is made.
func TestSharedPostgresStore(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Shared(t).NewDatabase(t)
	t.Setenv(EnvStore, "")

	byConfig := filepath.Join(t.TempDir(), "a")
	if err := Init(byConfig); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Datastore = DatastoreConfig{Type: "postgres", URL: url, MaxConns: 2}
	if err := (&Repo{Path: byConfig, Config: cfg}).SaveConfig(); err != nil {
		t.Fatal(err)
	}
	a, err := Open(byConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	t.Setenv(EnvStore, url)
	b, err := Open(filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	t.Setenv(EnvStore, "pebble") // the flag wins over this
	c, err := OpenWith(filepath.Join(t.TempDir(), "c"), Options{Store: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	repos := []*Repo{a, b, c}
	var ids []string
	for _, r := range repos {
		if _, ok := r.Datastore.(*pgds.Datastore); !ok {
			t.Fatalf("%s: datastore %T, want postgres", r.Path, r.Datastore)
		}
		if _, err := os.Stat(filepath.Join(r.Path, "datastore")); !os.IsNotExist(err) {
			t.Errorf("%s: a pebble directory was made (%v)", r.Path, err)
		}
		id, err := dag.NewStore(r.Datastore).StoreID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("store IDs %v, want one", ids)
	}
	if a.ID == b.ID || b.ID == c.ID || a.ID == c.ID {
		t.Errorf("peer IDs %s %s %s, want three", a.ID, b.ID, c.ID)
	}

	if err := a.Datastore.Put(ctx, datastore.NewKey("/data/shared"), []byte("from a")); err != nil {
		t.Fatal(err)
	}
	for _, r := range repos[1:] {
		if v, err := r.Datastore.Get(ctx, datastore.NewKey("/data/shared")); err != nil || string(v) != "from a" {
			t.Errorf("%s reads %q, %v", r.Path, v, err)
		}
	}

	// No repo's private key is anywhere in the shared store.
	res, err := a.Datastore.Query(ctx, query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		raw, err := os.ReadFile(filepath.Join(r.Path, "key"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if bytes.Contains(e.Value, raw[len(raw)-32:]) {
				t.Errorf("%s's key is in the store under %s", r.Path, e.Key)
			}
		}
	}
}
