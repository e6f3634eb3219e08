package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
)

// TestConfigPolicy: "policy" defaults when missing or null, is read
// strictly, and survives SaveConfig.
func TestConfigPolicy(t *testing.T) {
	dir := t.TempDir()
	load := func(content string) (*Config, error) {
		p := filepath.Join(dir, "config.json")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	def := capabilities.DefaultPolicy()
	for _, content := range []string{`{}`, `{"policy": null}`, `{"eval": {"fuel": 5, "timeout": "1s"}}`} {
		cfg, err := load(content)
		if err != nil {
			t.Fatalf("%s: %v", content, err)
		}
		if cfg.Policy == nil || !cfg.Policy.Default.Equal(def.Default) || len(cfg.Policy.Sandboxes) != 0 {
			t.Errorf("%s: policy = %+v, want the default", content, cfg.Policy)
		}
	}
	cfg, err := load(`{"policy": {"default": {"allow": ["pure"], "deny": ["Int.sub"], "fuel": 10},
		"sandboxes": {"lab": {"allow": ["pure", "remote"], "targets": ["any"], "fuel": 100}},
		"peers": {"12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo": "lab"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Policy.Default.String(); got != "--allow pure --deny Int.sub --fuel 10" {
		t.Errorf("default = %q", got)
	}
	id, err := peer.Decode("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
	if err != nil {
		t.Fatal(err)
	}
	if sb, name := cfg.Policy.SandboxOf(id); name != "lab" || sb.Budget.Fuel != 100 {
		t.Errorf("the peer gets %s %v", name, sb)
	}
	for _, bad := range []string{
		`{"policy": {"defualt": {}}}`,
		`{"policy": {"peers": {"12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo": "nosuch"}}}`,
		`{"policy": {"default": {"allow": ["everything"]}}}`,
	} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "policy") && !strings.Contains(err.Error(), "sandbox") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}

	r := &Repo{Path: dir, Config: cfg}
	if err := r.SaveConfig(); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Policy.Default.Equal(cfg.Policy.Default) || !back.Policy.Sandboxes["lab"].Equal(cfg.Policy.Sandboxes["lab"]) || len(back.Policy.Peers) != 1 {
		t.Errorf("after SaveConfig: %+v", back.Policy)
	}
}
