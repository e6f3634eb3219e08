package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// chanPingPong is a program for `unode run` on daemon A: it starts a
// server on B with at' (a foreign evaluation of A's on B, under B's
// policy for A), which makes a channel there, sends it back on A's
// channel and then answers n messages on it; A sends 0 .. n-1, each once
// the previous answer is back, and checks every answer. Each side
// listens before it lets the other side send: nothing is buffered.
const chanPingPong = `
pong a l c back k = if k == 0 then 0 else (let v = await l; l2 = listen c; u = send a back v in pong a l2 c back (k - 1))
serveB a back n = (let c = channel; l = listen c; u = send a back c in pong a l c back n)
ping b c back i n = if i == n then i else (let l = listen back; u = send b c i; v = await l in if v == i then ping b c back (i + 1) n else 0 - 1)
bnode = match Node.fromText "%s" with | Some n -> n | None -> here
main = (let b = bnode; a = here; back = channel; first = listen back; srv = at' b '(serveB a back %d); c = await first; r = ping b c back 0 %d; done = await srv in (r, done))
`

// TestE2EChanPingPong is issue 9's acceptance 1 between two real
// daemons: 10,000 round trips over channels from the CLI; a deliver to a
// channel nobody listens on fails with "no listener" (the node's
// answer), a send to it returns at once, and once B is stopped a deliver
// fails as unreachable, well within its timeout.
func TestE2EChanPingPong(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	da, db := a.startDaemon(), b.startDaemon()
	// Each lets the other use channels (the default sandbox, pure code,
	// does not); B also lets A run the server there.
	b.ok("policy", "set", "peer", "pure", "remote", "channel", "--fuel", "1000000000", "--time", "2m")
	b.ok("policy", "assign", da.ready.ID, "peer")
	a.ok("policy", "set", "peer", "pure", "channel")
	a.ok("policy", "assign", db.ready.ID, "peer")
	addrB := db.ready.Addrs[0]
	a.ok("connect", addrB)

	const n = 10_000
	file := writeFile(t, t.TempDir(), "pingpong.u", fmt.Sprintf(chanPingPong, addrB, n, n))
	start := time.Now()
	if out := a.ok("run", "--timeout", "2m", file); out != fmt.Sprintf("(%d, 0)\n", n) {
		t.Fatalf("ping-pong: %q, want (%d, 0)", out, n)
	}
	t.Logf("%d round trips between two daemons in %v", n, time.Since(start))

	node := `(match Node.fromText "` + addrB + `" with | Some n -> n | None -> here)`
	start = time.Now()
	out := a.ok("eval", "let b = "+node+" in await! (deliver b (requests b) 1)")
	if !strings.HasPrefix(out, "Left (Msg ") || !strings.Contains(out, "no listener on the channel") {
		t.Errorf("deliver with no listener: %q", out)
	}
	t.Logf("deliver with no listener (a whole `unode eval`): %v", time.Since(start))
	if out := a.ok("eval", "let b = "+node+" in send b (requests b) 1"); out != "()\n" {
		t.Errorf("send to nowhere: %q", out)
	}

	if code := db.stop(os.Interrupt); code != 0 {
		t.Errorf("daemon b exit %d", code)
	}
	start = time.Now()
	out = a.ok("eval", "--timeout", "30s", "let b = "+node+" in await! (deliver b (requests b) 1)")
	if !strings.HasPrefix(out, "Left (Msg ") || !strings.Contains(out, "unreachable") {
		t.Errorf("deliver to a stopped node: %q", out)
	}
	t.Logf("deliver to a stopped node: %v", time.Since(start))
	if out := a.ok("eval", "let b = "+node+" in send b (requests b) 1"); out != "()\n" {
		t.Errorf("send to a stopped node: %q", out)
	}
}
