package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitE2E retries f until it returns nil; the bound only detects a hang.
func waitE2E(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(commandTimeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// evalAt runs `unode eval --at target expr` on n and returns the output
// or an error with stderr.
func evalAt(n *node, target, expr string) error {
	out, errs, code := n.run("eval", "--timeout", "10s", "--at", target, expr)
	if code != 0 {
		return fmt.Errorf("exit %d: %s", code, strings.TrimSpace(errs))
	}
	if strings.TrimSpace(out) != "42" {
		return fmt.Errorf("got %q, want 42", out)
	}
	return nil
}

// TestE2EDHTBootstrap: daemons that join through one bootstrap daemon
// (`unode daemon --bootstrap ADDR`, no `unode connect`) reach each other
// by peer ID alone; a daemon whose bootstrap peer is down starts, serves
// local work, logs the failed dials and joins once the peer comes up; a
// daemon restarted without --bootstrap (on a new port) rejoins through
// the routing table it saved and is reachable by its peer ID again.
func TestE2EDHTBootstrap(t *testing.T) {
	boot, b, c, late := newNode(t, "boot"), newNode(t, "b"), newNode(t, "c"), newNode(t, "late")
	// Where the bootstrap daemon listens: a first run picks a port.
	first := boot.startDaemon()
	bootAddr := first.ready.Addrs[0]
	listen := bootAddr[:strings.LastIndex(bootAddr, "/p2p/")]
	if code := first.stop(os.Interrupt); code != 0 {
		t.Fatalf("bootstrap daemon exit %d: %s", code, first.stderr.String())
	}

	// b starts with its bootstrap peer down, and works locally.
	db, ok := b.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr)
	if !ok {
		t.Fatalf("daemon with its bootstrap peer down did not start: %s", db.stderr.String())
	}
	if out := b.ok("eval", "6 * 7"); out != "42\n" {
		t.Fatalf("local eval with the bootstrap peer down: %q", out)
	}
	waitE2E(t, "the failed bootstrap dials logged", func() error {
		if !strings.Contains(db.stderr.String(), "bootstrap peer unreachable") {
			return fmt.Errorf("stderr: %s", db.stderr.String())
		}
		return nil
	})

	// The bootstrap daemon comes up on its address; c joins through it.
	dboot, ok := boot.startDaemonWith("--listen", listen)
	if !ok {
		t.Fatalf("bootstrap daemon did not start again: %s", dboot.stderr.String())
	}
	dc, ok := c.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr)
	if !ok {
		t.Fatalf("c did not start: %s", dc.stderr.String())
	}
	cID := dc.ready.ID
	waitE2E(t, "b reaching c by peer ID", func() error { return evalAt(b, cID, "6 * 7") })
	if !strings.Contains(db.stderr.String(), "reached bootstrap peer") {
		t.Errorf("b's log has no join: %s", db.stderr.String())
	}

	// c restarts: no --bootstrap, a new port. It rejoins through the
	// peers it saved; a newcomer that knows only the bootstrap peer
	// reaches it by peer ID.
	if code := dc.stop(os.Interrupt); code != 0 {
		t.Fatalf("c exit %d: %s", code, dc.stderr.String())
	}
	dc2, ok := c.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0")
	if !ok {
		t.Fatalf("c did not restart: %s", dc2.stderr.String())
	}
	if dc2.ready.ID != cID || dc2.ready.Addrs[0] == dc.ready.Addrs[0] {
		t.Fatalf("restarted c: %v, was %v", dc2.ready, dc.ready)
	}
	waitE2E(t, "c dialing the peers it saved", func() error {
		if !regexp.MustCompile(`joining the DHT".* bootstrap=0 saved=[1-9]`).MatchString(dc2.stderr.String()) {
			return fmt.Errorf("stderr: %s", dc2.stderr.String())
		}
		return nil
	})
	dlate, ok := late.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr)
	if !ok {
		t.Fatalf("late did not start: %s", dlate.stderr.String())
	}
	waitE2E(t, "a newcomer reaching the restarted c by peer ID", func() error { return evalAt(late, cID, "6 * 7") })
	waitE2E(t, "b reaching the restarted c by peer ID", func() error { return evalAt(b, cID, "6 * 7") })

	for _, d := range []*daemonProc{dlate, dc2, dboot, db} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
}
