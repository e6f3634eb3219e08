package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestE2EVersionIdentifyMetricsLogs is issue 14's acceptance 2, on the
// real binary: `unode version` gives the version; the daemon states
// "unode/<version>" in identify, to a plain libp2p host and to `unode
// id PEER` on another daemon; `--metrics` serves the Prometheus text
// format, which parses and counts a foreign evaluation; `--log-format
// json` makes every stderr line a JSON object, go-libp2p's included.
func TestE2EVersionIdentifyMetricsLogs(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	var v buildInfo
	a.json(&v, "version")
	if v.Version == "" || v.Agent != "unode/"+v.Version || !slices.Contains(v.Protocols, "/unode/eval/1.0.0") {
		t.Fatalf("unode version --json = %+v", v)
	}

	// Library loggers at debug, so that go-libp2p certainly logs.
	t.Setenv("UNODE_LOG", "info,libp2p=debug")
	da, ok := a.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0", "--metrics", "127.0.0.1:0", "--log-format", "json")
	if !ok {
		t.Fatalf("daemon a: %v: %s", da.err, da.stderr.String())
	}
	t.Setenv("UNODE_LOG", "")
	db := b.startDaemon()

	// This node, and the other through identify.
	var self idResult
	a.json(&self, "id")
	if self.AgentVersion != v.Agent || self.PublicKey == "" || self.ProtocolVersion != "unode/1.0.0" ||
		!slices.Contains(self.Protocols, "/unode/chan/1.0.0") || !slices.Contains(self.Protocols, "/ipfs/id/1.0.0") {
		t.Errorf("unode id --json = %+v", self)
	}
	var other idResult
	a.json(&other, "id", db.ready.Addrs[0])
	if other.ID != db.ready.ID || other.AgentVersion != v.Agent || other.ProtocolVersion != "unode/1.0.0" ||
		!slices.Contains(other.Protocols, "/unode/eval/1.0.0") || other.PublicKey == "" || len(other.Addrs) == 0 {
		t.Errorf("unode id PEER --json = %+v", other)
	}
	if out := a.ok("id", db.ready.ID); !strings.Contains(out, "agent     "+v.Agent+"\n") || !strings.Contains(out, "speaks    /unode/eval/1.0.0\n") {
		t.Errorf("unode id PEER (connected, by ID):\n%s", out)
	}
	if msg := b.fail("id", "12D3KooWnotapeer"); !strings.Contains(msg, "not a peer ID") {
		t.Errorf("unode id of a bad peer ID: %s", msg)
	}

	// A second libp2p host identifies the daemon.
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ai, err := peer.AddrInfoFromString(da.ready.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
	if agent, _ := h.Peerstore().Get(ai.ID, "AgentVersion"); agent != v.Agent {
		t.Errorf("identify's agent version %q, want %q", agent, v.Agent)
	}
	if pv, _ := h.Peerstore().Get(ai.ID, "ProtocolVersion"); pv != "unode/1.0.0" {
		t.Errorf("identify's protocol version %q", pv)
	}

	// A foreign evaluation at a, then a scrape.
	b.ok("eval", "--at", da.ready.Addrs[0], "1 + 2")
	if !strings.HasPrefix(da.ready.Metrics, "http://127.0.0.1:") {
		t.Fatalf("ready line's metrics URL %q", da.ready.Metrics)
	}
	resp, err := http.Get(da.ready.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("scrape: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	series := func(name string, labels map[string]string) (float64, bool) {
		mf := families[name]
		if mf == nil {
			return 0, false
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, want := range labels {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == want }) {
					continue next
				}
			}
			return valueOfMetric(m), true
		}
		return 0, false
	}
	if n, ok := series("unode_foreign_evaluations_total", map[string]string{"outcome": "ok", "peer_class": "unknown"}); !ok || n < 1 {
		t.Errorf("unode_foreign_evaluations_total{outcome=ok,peer_class=unknown} = %v (present %v), want >= 1", n, ok)
	}
	if n, ok := series("unode_build_info", map[string]string{"version": v.Version}); !ok || n != 1 {
		t.Errorf("unode_build_info{version=%q} = %v (present %v)", v.Version, n, ok)
	}
	for _, name := range []string{"unode_audit_queue_depth", "unode_chan_messages_dropped_total", "unode_fetches_total",
		"libp2p_identify_identify_pushes_triggered_total", "libp2p_rcmgr_streams", "go_goroutines", "process_open_fds"} {
		if families[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}

	// Every line on stderr is JSON; some are go-libp2p's.
	if code := da.stop(os.Interrupt); code != 0 {
		t.Fatalf("daemon a exited %d: %s", code, da.stderr.String())
	}
	var libLines, ready int
	loggers := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(da.stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q (%v)", line, err)
		}
		if lg, ok := m["logger"].(string); ok && lg != "" {
			libLines++
			loggers[lg] = true
		}
		if m["msg"] == "daemon ready" && m["level"] == "INFO" {
			ready++
		}
	}
	if libLines == 0 || ready != 1 {
		t.Errorf("%d lines from libraries (loggers %v), %d \"daemon ready\"; stderr:\n%.4000s", libLines, loggers, ready, da.stderr.String())
	}
	t.Logf("%d library lines from %d loggers", libLines, len(loggers))
}

func valueOfMetric(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
