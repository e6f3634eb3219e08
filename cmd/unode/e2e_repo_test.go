package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestE2ERepoGC: blocks another node sends for its calls are unpinned at
// the callee, charged to the caller (`repo stat`), survive a restart of
// the callee's daemon with their accounting, and `repo gc` removes them,
// through the daemon and on the repo directly, while the callee's own
// definitions stay (issue 7, case 6).
func TestE2ERepoGC(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	dir := t.TempDir()
	fib := writeFile(t, dir, "fib.u", fibFile)
	own := writeFile(t, dir, "own.u", "double x = x * 2\n")
	da := a.startDaemon()
	db := b.startDaemon()
	a.ok("add", fib)
	b.ok("add", own)
	addrB := db.ready.Addrs[0]
	if out := a.ok("eval", "--at", addrB, "fib 15"); out != "610\n" {
		t.Fatalf("eval --at = %q", out)
	}

	type peerDisk struct {
		Peer   string      `json:"peer"`
		Blocks json.Number `json:"blocks"`
		Bytes  json.Number `json:"bytes"`
	}
	type stat struct {
		Blocks   json.Number `json:"blocks"`
		Pinned   struct{ Blocks, Bytes json.Number }
		Unpinned struct{ Blocks, Bytes json.Number }
		Peers    []peerDisk `json:"peers"`
		Quota    struct {
			PerPeer struct{ Bytes json.Number } `json:"perPeer"`
		} `json:"quota"`
		DiskBytes json.Number `json:"diskBytes"`
	}
	var st stat
	b.json(&st, "repo", "stat")
	if st.Unpinned.Blocks == "0" || len(st.Peers) != 1 || st.Peers[0].Peer != da.ready.ID || st.Peers[0].Blocks != st.Unpinned.Blocks {
		t.Fatalf("b repo stat after a's call: %+v", st)
	}
	if st.Pinned.Blocks == "0" || st.Quota.PerPeer.Bytes == "" || st.DiskBytes == "0" {
		t.Errorf("b repo stat: %+v", st)
	}
	if out := b.ok("repo", "stat"); !strings.Contains(out, "unpinned") || !strings.Contains(out, da.ready.ID) {
		t.Errorf("repo stat text: %q", out)
	}
	unpinned := st.Unpinned.Blocks

	// A restart keeps the books.
	if code := db.stop(os.Interrupt); code != 0 {
		t.Fatalf("daemon b exit %d: %s", code, db.stderr.String())
	}
	var direct stat
	b.json(&direct, "repo", "stat") // no daemon: on the repo itself
	if direct.Unpinned.Blocks != unpinned || len(direct.Peers) != 1 {
		t.Errorf("repo stat without the daemon: %+v, want %s unpinned blocks", direct, unpinned)
	}
	db = b.startDaemon()

	type gcResult struct{ Blocks, Bytes json.Number }
	var gc gcResult
	b.json(&gc, "repo", "gc")
	if gc.Blocks != unpinned || gc.Bytes == "0" {
		t.Errorf("repo gc through the daemon removed %+v, want %s blocks", gc, unpinned)
	}
	b.json(&st, "repo", "stat")
	if st.Unpinned.Blocks != "0" || len(st.Peers) != 0 {
		t.Errorf("after gc: %+v", st)
	}
	if out := b.ok("eval", "double 21"); out != "42\n" {
		t.Errorf("b's own code after gc: %q", out)
	}
	// a calls again: its record of b is stale, it resends.
	if out := a.ok("eval", "--at", db.ready.Addrs[0], "fib 15"); out != "610\n" {
		t.Fatalf("eval --at after gc = %q", out)
	}
	if code := db.stop(os.Interrupt); code != 0 {
		t.Fatalf("daemon b exit %d: %s", code, db.stderr.String())
	}
	if out := b.ok("repo", "gc"); !strings.HasPrefix(out, "removed ") || strings.HasPrefix(out, "removed 0 ") {
		t.Errorf("repo gc on the repo: %q", out)
	}
	b.json(&st, "repo", "stat")
	if st.Unpinned.Blocks != "0" {
		t.Errorf("after gc on the repo: %+v", st)
	}
	if out := b.ok("eval", "double 21"); out != "42\n" {
		t.Errorf("b's own code after gc: %q", out)
	}
	da.stop(os.Interrupt)
}
