package repo

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// LogConfig is the "log" section: what `unode daemon` logs on stderr
// and how (docs/config.md "Logs"). $UNODE_LOG and --log-level, and
// --log-format, override it.
type LogConfig struct {
	// Level is a level (debug, info, warn, error) for unode's own logs,
	// optionally followed by NAME=LEVEL pairs for libraries' loggers
	// ("libp2p" naming all of them): "info,libp2p=warn,dht=debug".
	// Empty: info, libraries at error. The daemon parses it at start.
	Level string `json:"level,omitempty"`
	// Format is "text" (slog's key=value lines, the default) or "json"
	// (one JSON object a line).
	Format string `json:"format,omitempty"`
}

// validateOps checks the "metrics" and "log" keys.
func (c *Config) validateOps() error {
	if c.Metrics != "" {
		if err := CheckMetricsAddr(c.Metrics, c.MetricsAllowRemote); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("log.format %q: want text or json", c.Log.Format)
	}
	return nil
}

// CheckMetricsAddr checks a metrics listen address, host:port. The
// endpoint has no authentication, so it must be on a loopback address
// (127.0.0.0/8, ::1, localhost) unless allowRemote: what it shows is
// counts, never a peer ID or a CID, but how busy the node is and whom
// it refuses is still the owner's business, and a scraper on another
// machine can reach a loopback endpoint through an SSH tunnel or a
// reverse proxy that authenticates.
func CheckMetricsAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT, such as 127.0.0.1:9464 (%v)", addr, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("%q: bad port %q", addr, port)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the metrics endpoint has no authentication; listen on 127.0.0.1 (and tunnel to it), or allow it explicitly with metrics_allow_remote in the config or --metrics-allow-remote", addr)
	}
	return nil
}
