package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EFetch is issue 8's acceptance 1 from the CLI: a definition
// published on one daemon is evaluated by name of hash on a fresh daemon
// that joined through another (`unode eval '#<cid> 10'`): the fresh
// daemon finds the provider through the DHT and fetches the closure
// first. `unode fetch --json` gives the figures of a fetch (one request,
// two round trips); without a daemon, both need the network.
func TestE2EFetch(t *testing.T) {
	pub, hub, fresh, other := newNode(t, "pub"), newNode(t, "hub"), newNode(t, "fresh"), newNode(t, "other")
	dhub := hub.startDaemon()
	hubAddr := dhub.ready.Addrs[0]
	start := func(n *node) *daemonProc {
		d, ok := n.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", hubAddr)
		if !ok {
			t.Fatalf("%s did not start: %s", n.path, d.stderr.String())
		}
		return d
	}
	dpub := start(pub)
	lib := filepath.Join(t.TempDir(), "lib.u")
	if err := os.WriteFile(lib, []byte(fibFile), 0o600); err != nil {
		t.Fatal(err)
	}
	pub.ok("add", "--publish", lib)
	var names namesResult
	pub.json(&names, "names", "fib")
	if len(names.Names) != 1 {
		t.Fatalf("names: %+v", names)
	}
	fib := strings.TrimPrefix(names.Names[0].Ref, "#")

	// Without a daemon: the network is needed.
	if errs := fresh.fail("eval", "#"+fib+" 10"); !strings.Contains(errs, "needs the network") {
		t.Errorf("eval of an absent CID without a daemon: %s", errs)
	}
	if errs := fresh.fail("fetch", fib); !strings.Contains(errs, "needs the network") {
		t.Errorf("fetch without a daemon: %s", errs)
	}

	dfresh := start(fresh)
	waitE2E(t, "the fresh daemon evaluating #fib", func() error {
		out, errs, code := fresh.run("eval", "--timeout", "10s", "#"+fib+" 10")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, strings.TrimSpace(errs))
		}
		if strings.TrimSpace(out) != "55" {
			return fmt.Errorf("got %q, want 55", out)
		}
		// Not a terminal: no progress on stderr.
		if errs != "" {
			return fmt.Errorf("stderr: %q", errs)
		}
		return nil
	})
	if out := fresh.ok("show", "#"+fib); !strings.Contains(out, "(x1 - 1) +") {
		t.Errorf("show of the fetched definition: %q", out)
	}

	dother := start(other)
	var res struct {
		Roots      []string `json:"roots"`
		Blocks     int      `json:"blocks"`
		Bytes      int64    `json:"bytes"`
		Providers  int      `json:"providers"`
		Requests   int      `json:"requests"`
		RoundTrips int      `json:"roundTrips"`
		Sources    []struct {
			Peer    string `json:"peer"`
			Outcome string `json:"outcome"`
		} `json:"sources"`
	}
	waitE2E(t, "unode fetch on another daemon", func() error {
		out, errs, code := other.run("--json", "fetch", fib)
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, strings.TrimSpace(errs))
		}
		return json.Unmarshal([]byte(out), &res)
	})
	if res.Blocks < 1 || res.Bytes <= 0 || res.Requests != 1 || res.RoundTrips != 2 || res.Providers < 1 ||
		res.Sources[len(res.Sources)-1].Outcome != "ok" {
		t.Errorf("fetch figures: %+v", res)
	}
	if out := other.ok("fetch", fib); !strings.Contains(out, "nothing to fetch") {
		t.Errorf("a second fetch: %q", out)
	}
	if out := other.ok("eval", "#"+fib+" 12"); out != "144\n" {
		t.Errorf("eval after fetch: %q", out)
	}

	for _, d := range []*daemonProc{dother, dfresh, dpub, dhub} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
}
