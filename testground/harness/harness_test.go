package harness

import (
	"bytes"
	"context"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// The flags of a run (go test -args ... or before the package: go test
// . -tg.instances 32). Environment variables of the same names in upper
// case (UNODE_TG_INSTANCES, ...) set the defaults, for .ci/run.
var (
	instances = flag.Int("tg.instances", envInt("UNODE_TG_INSTANCES", 8), "instances per case")
	delay     = flag.Duration("tg.delay", envDuration("UNODE_TG_DELAY", 20*time.Millisecond), "one-way delay the proxies add")
	jitter    = flag.Duration("tg.jitter", envDuration("UNODE_TG_JITTER", 0), "jitter on the delay")
	loss      = flag.Float64("tg.loss", envFloat("UNODE_TG_LOSS", 0), "percentage of chunks held for a retransmission timeout")
	only      = flag.String("tg.cases", os.Getenv("UNODE_TG_CASES"), "comma-separated cases to run (default: all)")
	timeout   = flag.Duration("tg.timeout", envDuration("UNODE_TG_TIMEOUT", 4*time.Minute), "bound on each case")
	outDir    = flag.String("tg.out", os.Getenv("UNODE_TG_OUT"), "where instances' outputs go (default: a temporary directory, kept if a case fails)")
	hostiles  = flag.Int("tg.hostile", envInt("UNODE_TG_HOSTILE", -1), "hostile instances per case (-1: each case's default, 0: none)")
	summary   = flag.String("tg.summary", os.Getenv("UNODE_TG_SUMMARY"), "file to write the summary tables to")
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestPlans builds the unode plan and runs each of its cases with
// -tg.instances instances, through proxies adding -tg.delay: it passes
// when every instance of every case reports success.
func TestPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the many-process plans under -short")
	}
	bin := buildPlan(t)
	n := *instances
	link := Link{Delay: *delay, Jitter: *jitter, Loss: *loss}
	root := *outDir
	keep := root != ""
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "unode-testground-"); err != nil {
			t.Fatal(err)
		}
	}
	var tables bytes.Buffer
	failed := false
	for _, c := range cases(n) {
		if *only != "" && !contains(strings.Split(*only, ","), c.Name) {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			c.Params["latency_ms"] = strconv.FormatInt(link.Delay.Milliseconds(), 10)
			c.Params["jitter_ms"] = strconv.FormatInt(link.Jitter.Milliseconds(), 10)
			c.Params["loss_pct"] = strconv.FormatFloat(link.Loss, 'g', -1, 64)
			// The instances give up a little before the harness kills them,
			// so that a hang shows as their failure, with its message.
			c.Params["timeout_s"] = strconv.Itoa(int((*timeout - 15*time.Second).Seconds()))
			if c.Name == "shared-store" {
				withPostgres(t, &c)
			}
			res, err := RunCase(context.Background(), c, Run{
				Binary:  bin,
				Link:    link,
				OutDir:  filepath.Join(root, c.Name),
				Timeout: *timeout,
				Logf:    t.Logf,
			})
			if res != nil {
				var b bytes.Buffer
				res.Table(&b)
				t.Log(b.String())
				tables.Write(b.Bytes())
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.Passed() {
				failed = true
				for _, p := range res.Problems {
					t.Error(p)
				}
				for _, in := range res.Instances {
					if in.Outcome != OutcomeSuccess || in.Exit != nil {
						t.Errorf("%s[%d]: %s: %s (exit: %v); last lines of %s:\n%s", in.Group, in.Index, in.Outcome, in.Err, in.Exit,
							filepath.Join(in.Output, "stdout.log"), in.Tail(15))
					}
				}
			}
		})
	}
	if *summary != "" {
		if err := os.WriteFile(*summary, tables.Bytes(), 0o644); err != nil {
			t.Error(err)
		}
	}
	if failed || keep {
		t.Logf("instances' outputs are in %s", root)
	} else {
		os.RemoveAll(root)
	}
}

// cases are the plan's cases with n instances each: honest groups, and
// hostile instances mixed in (one from 8 instances on; churn more;
// -tg.hostile sets the number).
func cases(n int) []Case {
	hostile := 0
	if n >= 8 {
		hostile = 1
	}
	if *hostiles >= 0 {
		hostile = *hostiles
	}
	withHostile := func(c Case, k int, behaviours string) Case {
		if k > 0 {
			c.Groups = append(c.Groups, Group{ID: "hostile", Instances: k, Params: map[string]string{"behaviours": behaviours}})
		}
		return c
	}
	one := func(name string, params map[string]string, behaviours string) Case {
		return withHostile(Case{Plan: "unode", Name: name, Params: params,
			Groups: []Group{{ID: "honest", Instances: n - hostile}}}, hostile, behaviours)
	}
	churners := max(1, n/4)
	churnHostile := 0
	if n >= 8 {
		churnHostile = max(2, n/8)
	}
	if *hostiles >= 0 {
		churnHostile = *hostiles
	}
	stable := n - churners - churnHostile
	storeA := (n - hostile + 1) / 2
	return []Case{
		// The slowloris costs the honest instances no CPU: the latency
		// figures stay the network's.
		one("remote-eval", map[string]string{"depths": "10,200", "targets": "3"}, "slowloris"),
		one("dht-discovery", map[string]string{"depth": "30"}, "bomb"),
		one("channels", map[string]string{"messages": "30"}, "flood"),
		withHostile(Case{Plan: "unode", Name: "churn", Params: map[string]string{"duration_s": "12", "call_timeout_ms": "3000"},
			Groups: []Group{{ID: "stable", Instances: stable}, {ID: "churner", Instances: churners}}}, churnHostile, "slowloris,flood,bomb"),
		withHostile(Case{Plan: "unode", Name: "shared-store", Params: map[string]string{"depth": "50", "log_level": "info"},
			Groups: []Group{{ID: "store-a", Instances: storeA}, {ID: "store-b", Instances: n - hostile - storeA}}}, hostile, "slowloris"),
	}
}

// withPostgres gives the shared-store case a database on the test
// binary's throwaway server.
func withPostgres(t *testing.T, c *Case) {
	raw := pgtest.Shared(t).NewDatabase(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	// Testground's parameters cannot carry "=": the query goes to PG*
	// variables, which pgx reads.
	for k, vs := range u.Query() {
		c.Env = append(c.Env, "PG"+strings.ToUpper(k)+"="+vs[0])
	}
	u.RawQuery = ""
	c.Params["pg_url"] = u.String()
}

// buildPlan builds the plan, optimised, once for every case.
func buildPlan(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "unode-plan")
	start := time.Now()
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "unode")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the plan: %v\n%s", err, out)
	}
	t.Logf("built the plan in %v", time.Since(start).Round(100*time.Millisecond))
	return bin
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if strings.TrimSpace(y) == x {
			return true
		}
	}
	return false
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
