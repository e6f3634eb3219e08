package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// daemonResult is what the daemon prints once it is ready: on stdout, as
// text or one JSON line, before any log line (logs go to stderr).
type daemonResult struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	Store string   `json:"store"`
	API   string   `json:"api"`
	// Clusters are the clusters joined (--cluster, the config's).
	Clusters []p2p.ClusterInfo `json:"clusters,omitempty"`
	// Metrics is the Prometheus endpoint's URL (--metrics), the port
	// it bound when given 0.
	Metrics string `json:"metrics,omitempty"`
}

func (r *daemonResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "peer id    %s\nstore      %s\n", r.ID, r.Store)
	for _, a := range r.Addrs {
		fmt.Fprintf(&b, "listening  %s\n", a)
	}
	for _, c := range r.Clusters {
		if c.Owner == "" {
			fmt.Fprintf(&b, "cluster    %s\n", c.Name)
		} else {
			fmt.Fprintf(&b, "cluster    %s of %s\n", c.Name, c.Owner)
		}
	}
	if r.Metrics != "" {
		fmt.Fprintf(&b, "metrics    %s\n", r.Metrics)
	}
	fmt.Fprintf(&b, "api        %s\ndaemon is ready\n", r.API)
	return b.String()
}

func daemonCmd(e *env) *cobra.Command {
	var listen, clusters, memberships, bootstrap []string
	var store string
	var ops opsFlags
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node: listen on libp2p and serve the local API until interrupted",
		Long: "Run the node: open the repo (creating it on first use), listen on libp2p with the\n" +
			"repo's identity, and serve the local API on $UNODE_PATH/api.sock, through which the\n" +
			"other commands reach the node while it runs. The listen addresses come from the\n" +
			"config's addresses.listen (TCP and QUIC on port 4100) unless --listen is given.\n\n" +
			"The node joins unode's DHT (a private network, not the IPFS one) through the\n" +
			"config's \"bootstrap\" peers and any --bootstrap ADDR (a multiaddr ending in\n" +
			"/p2p/<peer id>); with none it is alone until others connect. A bootstrap peer that\n" +
			"is down is retried with backoff (logged), never fatal. Peers found through the DHT\n" +
			"are reachable by peer ID alone; what the node publishes it announces there.\n\n" +
			"Once ready it prints its peer ID, store ID, addresses and API socket on stdout and\n" +
			"\"daemon is ready\" (with --json, one JSON object); logs go to stderr. Ctrl-C or\n" +
			"SIGTERM shuts it down cleanly; a second Ctrl-C exits at once.\n\n" +
			"--cluster NAME joins the open cluster NAME: the node advertises itself under the\n" +
			"cluster's key in the DHT, keeps the record fresh, and says it is a member when\n" +
			"asked, so that `provision (Cluster.named NAME)` and `unode eval --cluster NAME` on\n" +
			"other nodes may pick it. With --membership TOKEN (a token its owner issued with\n" +
			"`unode grant --allow cluster.member:NAME`), --cluster NAME joins that owner's cluster\n" +
			"NAME instead, proving membership with the token to every node that asks. Stopping\n" +
			"the daemon leaves: it no longer answers as a member. Both add to the config's\n" +
			"\"clusters\" and \"memberships\".\n\n" +
			"--store postgres://... keeps the node's data in that PostgreSQL database instead of\n" +
			"the config's datastore, so that daemons on several machines share one store (and\n" +
			"skip sync with each other); each keeps its identity key in its own repo. It takes\n" +
			"precedence over $UNODE_STORE, which takes precedence over the config's \"datastore\".\n\n" +
			"--metrics HOST:PORT serves Prometheus metrics at http://HOST:PORT/metrics (the node's,\n" +
			"go-libp2p's, Go's); the config's \"metrics\" does the same. The endpoint has no\n" +
			"authentication, so HOST must be loopback unless --metrics-allow-remote.\n\n" +
			"Logs go to stderr as text, or one JSON object a line with --log-format json,\n" +
			"go-libp2p's and the DHT's included (each with \"logger\": its subsystem).\n" +
			"--log-level (and $UNODE_LOG, and the config's log.level) is LEVEL[,NAME=LEVEL...]:\n" +
			"unode's level (debug, info, warn, error; default info), then library loggers' by\n" +
			"name, libp2p=LEVEL naming them all (default error).",
		Example: "  unode daemon\n  unode daemon --listen /ip4/127.0.0.1/tcp/0 --json\n" +
			"  unode daemon --bootstrap /ip4/192.0.2.7/tcp/4100/p2p/12D3KooW...\n" +
			"  unode daemon --cluster stats\n  unode daemon --cluster stats --membership unode1...\n" +
			"  unode daemon --store postgres://unode@db.example:5432/unode\n" +
			"  unode daemon --metrics 127.0.0.1:9464 --log-format json\n" +
			"  UNODE_LOG=info,libp2p=warn,dht=debug unode daemon",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runDaemon(listen, clusters, memberships, bootstrap, store, ops)
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "the datastore: a postgres:// URL (a store several daemons share) or \"pebble\"; overrides $UNODE_STORE and the config's \"datastore\"")
	cmd.Flags().StringSliceVar(&listen, "listen", nil, "libp2p listen multiaddr (repeatable; overrides addresses.listen)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "join the DHT through this peer, a multiaddr ending in /p2p/<peer id> (repeatable; adds to the config's \"bootstrap\")")
	cmd.Flags().StringArrayVar(&clusters, "cluster", nil, "join the cluster NAME (repeatable; adds to the config's \"clusters\")")
	cmd.Flags().StringArrayVar(&memberships, "membership", nil, "a membership token from a cluster's owner: --cluster NAME then joins its owned cluster NAME (repeatable)")
	cmd.Flags().StringVar(&ops.metrics, "metrics", "", "serve Prometheus metrics on HOST:PORT (loopback), e.g. 127.0.0.1:9464; overrides the config's \"metrics\"")
	cmd.Flags().BoolVar(&ops.metricsAllowRemote, "metrics-allow-remote", false, "let --metrics listen on a non-loopback address (the endpoint has no authentication)")
	cmd.Flags().StringVar(&ops.logLevel, "log-level", "", "LEVEL[,NAME=LEVEL...]: unode's log level (debug, info, warn, error) and library loggers' (libp2p=LEVEL: all); overrides $UNODE_LOG")
	cmd.Flags().StringVar(&ops.logFormat, "log-format", "", "text (the default) or json: one JSON object a line, libraries' lines included")
	return cmd
}

// freePorts returns addrs with every TCP and UDP port replaced by 0 (any
// free port).
func freePorts(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			out = append(out, a) // startNode reports it
			continue
		}
		var free ma.Multiaddr
		for _, c := range m {
			if c.Code() == ma.P_TCP || c.Code() == ma.P_UDP {
				z, err := ma.NewComponent(c.Protocol().Name, "0")
				if err == nil {
					c = *z
				}
			}
			free = append(free, c)
		}
		out = append(out, free.String())
	}
	return out
}

// runDaemon runs the node until e.ctx is canceled, then shuts down: the
// API first (canceling requests in flight), then the node, then the repo.
func (e *env) runDaemon(listen, clusters, memberships, bootstrap []string, store string, ops opsFlags) error {
	path, err := repo.DefaultPath()
	if err != nil {
		return err
	}
	sock := socketPath(path)
	// A command started just before (`unode daemon & unode id`, a
	// script's last `unode add`) may hold the repo for a moment: wait
	// for it rather than exit.
	r, running, err := openWaiting(e.ctx, path, daemonLockWait, repo.Options{Store: store})
	if running != nil {
		return fmt.Errorf("a daemon is already running for %s (API %s)", path, sock)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	e.reportTightened(r)
	// --bootstrap adds to the config's peers for this run (a malformed
	// one fails the start, naming it).
	r.Config.Bootstrap = append(append([]string(nil), r.Config.Bootstrap...), bootstrap...)
	joins, err := clusterJoins(append(append([]string(nil), r.Config.Clusters...), clusters...),
		append(append([]string(nil), r.Config.Memberships...), memberships...))
	if err != nil {
		return err
	}
	// The built-in default (no --listen, addresses.listen as `unode init`
	// wrote it) may be taken by another repo's daemon; an address the
	// user chose must be used as given.
	builtin := len(listen) == 0 && slices.Equal(r.Config.Addresses.Listen, repo.DefaultConfig().Addresses.Listen)
	if len(listen) == 0 {
		listen = r.Config.Addresses.Listen
	}
	// Logs and metrics (logging.go, metrics.go): checked before the node
	// starts, so that a mistake costs no start.
	logs, err := resolveLogSettings(r.Config.Log.Level, r.Config.Log.Format, ops.logLevel, ops.logFormat)
	if err != nil {
		return err
	}
	log, stopLogs := newDaemonLogger(e.stderr, logs)
	defer stopLogs()
	if ops.metrics != "" {
		r.Config.Metrics = ops.metrics // newP2PNode reads it
	}
	if ops.metricsAllowRemote {
		r.Config.MetricsAllowRemote = true
	}
	var metricsLn net.Listener
	if r.Config.Metrics != "" {
		if metricsLn, err = listenMetrics(r.Config.Metrics, r.Config.MetricsAllowRemote); err != nil {
			return err
		}
		defer metricsLn.Close()
	}

	node, err := startNode(e.ctx, r, listen, log)
	var le *p2p.ListenError
	if err != nil && builtin && errors.As(err, &le) && errors.Is(err, syscall.EADDRINUSE) {
		fmt.Fprintf(e.stderr, "unode: %s is in use (another unode daemon?); listening on free ports instead (set addresses.listen in %s to choose)\n",
			le.Addr, filepath.Join(path, "config.json"))
		node, err = startNode(e.ctx, r, freePorts(listen), log)
	}
	if err != nil {
		if errors.As(err, &le) && errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("starting the node: %w (is another unode daemon running? choose another port with --listen or addresses.listen)", err)
		}
		return fmt.Errorf("starting the node: %w", err)
	}
	closeNode := sync.OnceValue(node.Close)
	defer closeNode()
	if err := joinClusters(e.ctx, node, joins); err != nil {
		return fmt.Errorf("joining clusters: %w", err)
	}

	ln, err := listenSocket(sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)

	// Requests run under serveCtx, so that shutting down cancels the
	// evaluations in flight instead of waiting for them.
	serveCtx, cancelServe := context.WithCancel(context.Background())
	defer cancelServe()
	b := &backend{repo: r, cb: node.Codebase(), node: node}
	srv := &http.Server{
		Handler:           newAPIHandler(b, log),
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	ready := &daemonResult{ID: node.ID(), Addrs: nonNil(node.Addrs()), Store: node.StoreID(), API: sock}
	if metricsLn != nil {
		reg, err := metricsRegistry(node)
		if err != nil {
			srv.Close()
			return err
		}
		msrv := serveMetrics(metricsLn, reg, log)
		defer msrv.Close()
		ready.Metrics = "http://" + metricsLn.Addr().String() + "/metrics"
	}
	if cn, ok := node.(clusterNode); ok {
		ready.Clusters = cn.Clusters()
	}
	if err := e.emit(ready); err != nil {
		srv.Close()
		return err
	}
	log.Info("daemon ready", "id", ready.ID, "api", sock)

	var serveErr error
	select {
	case <-e.ctx.Done():
	case serveErr = <-served:
	}
	if e.stopSignals != nil {
		e.stopSignals() // a second Ctrl-C now kills the process
	}
	log.Info("shutting down")
	cancelServe()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	os.Remove(sock)
	if err := closeNode(); err != nil {
		log.Warn("closing the node", "error", err)
	}
	if err := r.Close(); err != nil {
		log.Warn("closing the repo", "error", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serving the API: %w", serveErr)
	}
	log.Info("stopped")
	return nil
}
