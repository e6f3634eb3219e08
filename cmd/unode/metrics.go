package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/unode-dev/unode/p2p/repo"
)

// The daemon's Prometheus endpoint (`unode daemon --metrics ADDR`, the
// config's "metrics"): GET /metrics on its own HTTP listener, off by
// default. It serves the node's metrics and go-libp2p's (p2p.WithMetrics),
// the Go runtime's and the process's, and unode_build_info. The names
// are in docs/operations.md.

// opsFlags are the daemon's flags for logs and metrics.
type opsFlags struct {
	logLevel, logFormat string
	metrics             string
	metricsAllowRemote  bool
}

// metricsNode is a node that exports metrics to a registry of its own
// (p2pNode, when the config asks for metrics).
type metricsNode interface {
	MetricsRegistry() *prometheus.Registry
}

// metricsRegistry is the registry the daemon serves: the node's, or a
// new one for a node without (a test's fake), with the process-wide
// collectors added.
func metricsRegistry(node netNode) (*prometheus.Registry, error) {
	var reg *prometheus.Registry
	if mn, ok := node.(metricsNode); ok {
		reg = mn.MetricsRegistry()
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	b := thisBuild()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "unode_build_info",
		Help: "Always 1; its labels say which unode this is.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion,
		},
	})
	info.Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return reg, nil
}

// listenMetrics checks addr and listens on it.
func listenMetrics(addr string, allowRemote bool) (net.Listener, error) {
	if err := repo.CheckMetricsAddr(addr, allowRemote); err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics: %w", err)
	}
	return ln, nil
}

// serveMetrics serves reg on ln until the server is closed.
func serveMetrics(ln net.Listener, reg *prometheus.Registry, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: maxMetricsScrapes,
		Timeout:             metricsScrapeTimeout,
	}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("serving metrics", "err", err)
		}
	}()
	return srv
}
