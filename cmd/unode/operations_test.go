package main

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/unode-dev/unode/p2p/repo"
)

func TestLogLevelSpec(t *testing.T) {
	t.Setenv("GOLOG_LOG_LEVEL", "")
	t.Setenv("UNODE_LOG", "")
	for _, c := range []struct {
		cfg, env, flag string
		own, libs      slog.Level
		by             map[string]slog.Level
		err            string
	}{
		{own: slog.LevelInfo, libs: slog.LevelError},
		{flag: "debug", own: slog.LevelDebug, libs: slog.LevelError},
		{env: "warn,libp2p=info,dht=debug", own: slog.LevelWarn, libs: slog.LevelInfo, by: map[string]slog.Level{"dht": slog.LevelDebug}},
		// Later sources win: config < UNODE_LOG < --log-level.
		{cfg: "error,swarm2=warn", env: "info", flag: "swarm2=debug", own: slog.LevelInfo, libs: slog.LevelError,
			by: map[string]slog.Level{"swarm2": slog.LevelDebug}},
		{flag: "unode=debug,*=warn", own: slog.LevelDebug, libs: slog.LevelWarn},
		{flag: "WARNING", own: slog.LevelWarn, libs: slog.LevelError},
		{flag: "loud", err: "--log-level: log level \"loud\""},
		{cfg: "info,dht=", err: "config log.level"},
	} {
		t.Setenv("UNODE_LOG", c.env)
		s, err := resolveLogSettings(c.cfg, "", c.flag, "")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: error %v, want %q", c, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		if s.levels.own != c.own || s.levels.libs != c.libs || len(s.levels.by) != len(c.by) {
			t.Errorf("%+v: got %+v", c, s.levels)
		}
		for k, v := range c.by {
			if s.levels.by[k] != v {
				t.Errorf("%+v: %s at %v, want %v", c, k, s.levels.by[k], v)
			}
		}
	}
	// GOLOG_LOG_LEVEL's bare level is the libraries'.
	t.Setenv("UNODE_LOG", "")
	t.Setenv("GOLOG_LOG_LEVEL", "debug,ping=warn")
	s, err := resolveLogSettings("", "", "", "")
	if err != nil || s.levels.own != slog.LevelInfo || s.levels.libs != slog.LevelDebug || s.levels.by["ping"] != slog.LevelWarn {
		t.Errorf("GOLOG_LOG_LEVEL: %+v, %v", s.levels, err)
	}
	if _, err := resolveLogSettings("", "", "", "xml"); err == nil {
		t.Error("--log-format xml accepted")
	}
}

// TestLibraryLogsJSON: with --log-format json, a go-libp2p logger
// (gologshim, slog) and a go-log logger (zap, as the DHT's) write JSON
// lines through the daemon's handler, each with "logger": its
// subsystem, at the levels of the spec; unode's own lines too.
func TestLibraryLogsJSON(t *testing.T) {
	t.Setenv("GOLOG_LOG_LEVEL", "")
	t.Setenv("UNODE_LOG", "")
	s, err := resolveLogSettings("", "json", "info,libp2p=warn,h14zap=debug", "")
	if err != nil {
		t.Fatal(err)
	}
	var buf lockedBuffer
	log, stop := newDaemonLogger(&buf, s)
	defer stop()
	shim := gologshim.Logger("h14shim") // bound at its first line, to ours
	zl := golog.Logger("h14zap")

	log.Info("own line", "k", 1)
	log.Debug("own debug: dropped")
	shim.Warn("shim warn", "peer", "x")
	shim.Info("shim info: dropped (libp2p=warn)")
	zl.Debugw("zap debug", "n", 7)
	zl.Errorw("zap error", "err", "boom")
	stop()
	shim.Error("after stop: dropped")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q (%v)", l, err)
		}
		lines = append(lines, m)
	}
	want := []struct{ msg, logger string }{
		{"own line", ""}, {"shim warn", "h14shim"}, {"zap debug", "h14zap"}, {"zap error", "h14zap"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if lines[i]["msg"] != w.msg || (w.logger != "" && lines[i]["logger"] != w.logger) {
			t.Errorf("line %d = %v, want msg %q logger %q", i, lines[i], w.msg, w.logger)
		}
	}
	if lines[2]["n"] != float64(7) || lines[3]["err"] != "boom" {
		t.Errorf("zap fields lost: %v %v", lines[2], lines[3])
	}
}

// TestMetricsAddr: the endpoint listens on loopback only, unless allowed.
func TestMetricsAddr(t *testing.T) {
	for _, c := range []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"127.0.0.1:9464", false, true},
		{"127.0.0.5:0", false, true},
		{"[::1]:9464", false, true},
		{"localhost:9464", false, true},
		{"0.0.0.0:9464", false, false},
		{":9464", false, false},
		{"[::]:9464", false, false},
		{"192.0.2.7:9464", false, false},
		{"metrics.example:9464", false, false},
		{"0.0.0.0:9464", true, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1:99999", false, false},
	} {
		err := repo.CheckMetricsAddr(c.addr, c.allow)
		if (err == nil) != c.ok {
			t.Errorf("CheckMetricsAddr(%q, %v) = %v, want ok %v", c.addr, c.allow, err, c.ok)
		}
	}
	useFakeNode(t)
	t.Setenv("UNODE_PATH", t.TempDir())
	_, errs, code := cli(t, "daemon", "--metrics", "0.0.0.0:9464")
	if code == 0 || !strings.Contains(errs, "not a loopback address") {
		t.Errorf("daemon --metrics 0.0.0.0:9464: exit %d, %q", code, errs)
	}
}

// TestVersionCommand: `unode version` and `unode --version` print the
// same, as text and JSON, without a repo; `unode` alone its help.
func TestVersionCommand(t *testing.T) {
	t.Setenv("UNODE_PATH", t.TempDir()+"/never-created")
	text := mustCLI(t, "version")
	if !strings.HasPrefix(text, "unode "+thisBuild().Version+"\n") || !strings.Contains(text, "agent      unode/") {
		t.Errorf("unode version:\n%s", text)
	}
	if flag := mustCLI(t, "--version"); flag != text {
		t.Errorf("unode --version:\n%s\nwant\n%s", flag, text)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(mustCLI(t, "--version", "--json")), &b); err != nil {
		t.Fatal(err)
	}
	if b.Version == "" || b.Agent != "unode/"+b.Version || b.GoVersion == "" || b.ProtocolVersion != "unode/1.0.0" ||
		!strings.Contains(strings.Join(b.Protocols, " "), "/unode/eval/1.0.0") {
		t.Errorf("unode --version --json = %+v", b)
	}
	if help := mustCLI(t); !strings.Contains(help, "Available Commands") {
		t.Errorf("unode alone:\n%s", help)
	}
	if out, _, code := cli(t, "nosuchcommand"); code == 0 {
		t.Errorf("unode nosuchcommand succeeded: %s", out)
	}
	if msg := failCLI(t, "id", "12D3KooWHi4AcfWnLqWjwDUHrEELFz7n4f1oGo4nQLHUw8EnMBLE"); !strings.Contains(msg, "id PEER needs the network") {
		t.Errorf("unode id PEER without a daemon: %s", msg)
	}
}

// TestPrintable: what a peer states is quoted when it holds control
// characters, so an agent version cannot send escape sequences to the
// terminal of whoever runs `unode id PEER`.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"unode/v1.0.0":               "unode/v1.0.0",
		"kubo/0.30.0/désolé":         "kubo/0.30.0/désolé",
		"evil\x1b]0;pwned\x07":       `"evil\x1b]0;pwned\a"`,
		"two\nlines":                 `"two\nlines"`,
		"":                           `""`,
		"bidi\u202eoverride":         `"bidi\u202eoverride"`,
		"/ip4/127.0.0.1/tcp/4100/ws": "/ip4/127.0.0.1/tcp/4100/ws",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
	r := &idResult{ID: "12D3KooWx", AgentVersion: "evil\x1b[2J", Protocols: []string{"/x\x1b[31m"}}
	if s := r.Text(); strings.ContainsRune(s, 0x1b) {
		t.Errorf("Text() holds an escape: %q", s)
	}
}

// setConfigKeys merges keys into the repo's config.json.
func setConfigKeys(t *testing.T, path string, keys map[string]any) {
	t.Helper()
	p := filepath.Join(path, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	maps.Copy(cfg, keys)
	raw, _ = json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDaemonMetricsAndLogsFromConfig: the config's "metrics" and "log"
// keys give the daemon (here on a fake node, so without go-libp2p) an
// endpoint whose exposition parses, and JSON lines on stderr; a
// non-loopback "metrics" is refused when the config is read.
func TestDaemonMetricsAndLogsFromConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	t.Setenv("UNODE_LOG", "")
	mustCLI(t, "init")
	setConfigKeys(t, path, map[string]any{"metrics": "0.0.0.0:9464"})
	if msg := failCLI(t, "id"); !strings.Contains(msg, "metrics:") || !strings.Contains(msg, "not a loopback address") {
		t.Errorf("non-loopback metrics in the config: %s", msg)
	}
	setConfigKeys(t, path, map[string]any{"metrics": "127.0.0.1:0", "log": map[string]any{"format": "json", "level": "debug"}})

	ready, stop, stderr, _ := inProcessDaemonLog(t)
	if !strings.HasPrefix(ready.Metrics, "http://127.0.0.1:") {
		t.Fatalf("ready metrics URL %q", ready.Metrics)
	}
	resp, err := http.Get(ready.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	for _, name := range []string{"unode_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		if families[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	mustCLI(t, "names")
	if code := stop(); code != 0 {
		t.Fatalf("daemon exit %d: %s", code, stderr.String())
	}
	var api int
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		if m["msg"] == "api" && m["op"] == "names" {
			api++
		}
	}
	if api != 1 {
		t.Errorf("%d api lines for names; stderr:\n%s", api, stderr.String())
	}
}
