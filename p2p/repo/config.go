package repo

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/unode-dev/unode/capabilities"
)

// Config is the content of config.json. Every key is documented in
// docs/config.md.
type Config struct {
	Datastore DatastoreConfig `json:"datastore"`
	Addresses AddressesConfig `json:"addresses"`
	Eval      EvalConfig      `json:"eval"`
	// Policy says what foreign evaluations from each peer may do before
	// any token is presented (capabilities.Policy, docs/security.md).
	// Never nil after LoadConfig or DefaultConfig.
	Policy *capabilities.Policy `json:"policy"`
	// Bootstrap are the peers the node joins the DHT through
	// (multiaddrs ending in /p2p/<peer id>), as `unode daemon
	// --bootstrap ADDR`; none: the node is alone until others connect.
	Bootstrap []string `json:"bootstrap"`
	// DHT and NAT are config_net.go's sections.
	DHT DHTConfig `json:"dht"`
	NAT NATConfig `json:"nat"`
	// Clusters are the clusters the daemon joins (as `unode daemon
	// --cluster NAME`): a name that one of Memberships grants
	// (cluster.member:NAME) joins that token owner's cluster, any other
	// the open cluster of that name.
	Clusters []string `json:"clusters,omitempty"`
	// Memberships are membership tokens (printed form) for owned
	// clusters, as `unode daemon --membership TOKEN`.
	Memberships []string `json:"memberships,omitempty"`
	// Metrics is where `unode daemon` serves Prometheus metrics
	// (host:port, loopback unless MetricsAllowRemote; empty: no
	// endpoint), as --metrics. Log is config_ops.go's section.
	Metrics            string    `json:"metrics,omitempty"`
	MetricsAllowRemote bool      `json:"metrics_allow_remote,omitempty"`
	Log                LogConfig `json:"log,omitzero"`
}

// DatastoreConfig selects the datastore. $UNODE_STORE and `unode daemon
// --store` override Type and URL (see Options.Store).
type DatastoreConfig struct {
	// Type is "pebble" (embedded, the default) or "postgres" (a
	// PostgreSQL-protocol database that several nodes may share:
	// p2p/repo/pgds).
	Type string `json:"type"`
	// Path is the pebble directory, relative to the repo unless absolute.
	Path string `json:"path,omitempty"`
	// URL is the postgres database: postgres://user@host:port/db?...
	// (pgx's syntax; a password may come from $PGPASSWORD or ~/.pgpass
	// instead of the URL).
	URL string `json:"url,omitempty"`
	// Table is the postgres table (default "datastore"): nodes that share
	// a store name the same one.
	Table string `json:"table,omitempty"`
	// MaxConns and MinConns size the postgres connection pool (0: the
	// URL's pool_max_conns / pool_min_conns, else at most max(4, CPUs)
	// and none kept open).
	MaxConns int32 `json:"max_conns,omitempty"`
	MinConns int32 `json:"min_conns,omitempty"`
}

// AddressesConfig holds the libp2p listen addresses.
type AddressesConfig struct {
	Listen []string `json:"listen"`
}

// EvalConfig holds the default budgets of local evaluations (`unode eval`,
// `unode run`); flags override them.
type EvalConfig struct {
	Fuel    int64  `json:"fuel"`
	Timeout string `json:"timeout"`
}

// DefaultConfig is what `unode init` writes.
func DefaultConfig() *Config {
	return &Config{
		Datastore: DatastoreConfig{Type: "pebble", Path: "datastore"},
		Addresses: AddressesConfig{Listen: []string{
			"/ip4/0.0.0.0/tcp/4100",
			"/ip4/0.0.0.0/udp/4100/quic-v1",
		}},
		Eval:   EvalConfig{Fuel: 1_000_000_000, Timeout: "60s"},
		Policy: capabilities.DefaultPolicy(),

		Bootstrap: []string{},
		DHT:       DHTConfig{Mode: "server", ReprovideInterval: defaultReprovideInterval},
		NAT:       NATConfig{Relays: []string{}, Announce: []string{}},
	}
}

// LoadConfig reads a config file; unknown keys are an error so that typos
// do not go unnoticed. A missing key takes its default: a config written
// before a section existed (such as "policy") still loads.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	cfg := DefaultConfig()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if cfg.Policy == nil { // "policy": null
		cfg.Policy = capabilities.DefaultPolicy()
	}
	if err := cfg.validateNetwork(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.validateOps(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}
