package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestE2EClusters is issue 8's acceptance 4 and 5 from the CLI: daemons
// that join clusters (`unode daemon --cluster`, `--membership`) through
// one bootstrap daemon, and `unode eval/run --cluster` and `unode
// cluster ls` on another that never connected to them.
func TestE2EClusters(t *testing.T) {
	boot, m1, m2, m3, asker := newNode(t, "boot"), newNode(t, "m1"), newNode(t, "m2"), newNode(t, "m3"), newNode(t, "asker")
	dboot := boot.startDaemon()
	bootAddr := dboot.ready.Addrs[0]
	join := func(n *node, args ...string) *daemonProc {
		t.Helper()
		d, ok := n.startDaemonWith(append([]string{"--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr}, args...)...)
		if !ok {
			t.Fatalf("daemon did not start: %s", d.stderr.String())
		}
		return d
	}
	d1 := join(m1, "--cluster", "stats")
	d2 := join(m2, "--cluster", "stats")
	if len(d1.ready.Clusters) != 1 || d1.ready.Clusters[0].Name != "stats" || d1.ready.Clusters[0].Owner != "" {
		t.Fatalf("m1's ready line: %+v", d1.ready)
	}
	// m3 is a member of the bootstrap node's owned cluster "stats" only,
	// with a membership token the owner granted it.
	m3.ok("init")
	var id3 idResult
	m3.json(&id3, "id")
	token := strings.TrimSpace(boot.ok("grant", "--to", id3.ID, "--allow", "cluster.member:stats", "--expires", "1h"))
	d3 := join(m3, "--cluster", "stats", "--membership", token)
	if len(d3.ready.Clusters) != 1 || d3.ready.Clusters[0].Owner != dboot.ready.ID {
		t.Fatalf("m3's ready line: %+v", d3.ready)
	}
	da := join(asker)

	open := []string{d1.ready.ID, d2.ready.ID}
	waitE2E(t, "eval --cluster stats", func() error {
		out, errs, code := asker.run("eval", "--timeout", "10s", "--cluster", "stats", "6 * 7")
		if code != 0 || out != "42\n" {
			return fmt.Errorf("exit %d: %q %s", code, out, errs)
		}
		return nil
	})
	var ev evalResult
	asker.json(&ev, "eval", "--cluster", "stats", "List.sum [1, 2, 3]")
	if fmt.Sprint(ev.Value) != "6" || !slices.Contains(open, ev.At) {
		t.Fatalf("eval --cluster --json: %+v, want at one of %v", ev, open)
	}
	file := writeFile(t, t.TempDir(), "fib.u", fibFile)
	if out := asker.ok("run", "--cluster", "stats", file); out != "(6765, 49)\n" {
		t.Fatalf("run --cluster: %q", out)
	}
	var ls clusterLsResult
	asker.json(&ls, "cluster", "ls", "stats")
	var got []string
	for _, m := range ls.Members {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	slices.Sort(open)
	if !slices.Equal(got, open) {
		t.Fatalf("cluster ls stats: %+v, want %v", ls, open)
	}
	if out := asker.ok("cluster", "ls", "stats"); !strings.Contains(out, "LOAD") || !strings.Contains(out, d1.ready.ID) {
		t.Fatalf("cluster ls text: %q", out)
	}

	// The owned cluster: only m3, which proves its token.
	waitE2E(t, "eval --cluster stats --owner", func() error {
		var ev evalResult
		out, errs, code := asker.run("eval", "--json", "--timeout", "10s", "--cluster", "stats", "--owner", dboot.ready.ID, "6 * 7")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errs)
		}
		if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.At != d3.ready.ID {
			return fmt.Errorf("%s (%v), want it at %s", out, err, d3.ready.ID)
		}
		return nil
	})
	asker.json(&ls, "cluster", "ls", "stats", "--owner", dboot.ready.ID)
	if len(ls.Members) != 1 || ls.Members[0].ID != d3.ready.ID {
		t.Fatalf("cluster ls of the owned cluster: %+v", ls)
	}
	if out := m3.ok("cluster"); !strings.Contains(out, "owned by "+dboot.ready.ID) {
		t.Fatalf("unode cluster on m3: %q", out)
	}

	if line := asker.fail("eval", "--cluster", "nobody", "1"); !strings.Contains(line, "no member") {
		t.Errorf("eval --cluster of an empty cluster: %q", line)
	}
	if line := asker.fail("eval", "--cluster", "stats", "--at", d1.ready.ID, "1"); !strings.Contains(line, "give one") {
		t.Errorf("--at with --cluster: %q", line)
	}
	// A membership token that names no --cluster is refused at start.
	if d, ok := newNode(t, "bad").startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0", "--membership", token); ok {
		d.stop(os.Interrupt)
		t.Errorf("a daemon started with a membership token for no --cluster")
	}

	for _, d := range []*daemonProc{da, d3, d2, d1, dboot} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
}
