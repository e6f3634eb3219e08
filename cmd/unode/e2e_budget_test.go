package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// towerExpr is issue 7 case 2's expression: two towers of n levels of
// pairs, a0 = 1, a1 = (a0, a0), ..., b likewise, then expr on the top
// levels (named A and B in expr).
func towerExpr(n int, expr string) string {
	var b strings.Builder
	b.WriteString("let a0 = 1; b0 = 1")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "; a%d = (a%d, a%d); b%d = (b%d, b%d)", i, i-1, i-1, i, i-1, i-1)
	}
	b.WriteString(" in ")
	b.WriteString(strings.NewReplacer("A", "a"+strconv.Itoa(n), "B", "b"+strconv.Itoa(n)).Replace(expr))
	return b.String()
}

// shutdownLimit only detects a daemon that does not stop: SIGTERM must
// end it within a few seconds whatever its foreign evaluations do.
const shutdownLimit = 20 * time.Second

// TestE2EBudgetTower: issue 7 case 2 against real daemons. A tower
// comparison (2^33 values once expanded) sent with eval --at by an
// unknown peer is answered within the default sandbox's budget; and
// SIGTERM stops a daemon busy with long loops of such comparisons for a
// peer whose sandbox gives them minutes.
func TestE2EBudgetTower(t *testing.T) {
	owner, attacker := newNode(t, "owner"), newNode(t, "attacker")
	do := owner.startDaemon()
	da := attacker.startDaemon()
	ownerAddr := do.ready.Addrs[0]

	if out := attacker.ok("eval", "--at", ownerAddr, towerExpr(32, "A == B")); out != "true\n" {
		t.Errorf("tower comparison = %q, want true", out)
	}
	if out := attacker.ok("eval", "--at", do.ready.ID, towerExpr(40, "[A, (A, B)] == [B, (B, A)]")); out != "true\n" {
		t.Errorf("tower comparison = %q, want true", out)
	}
	// The owner still serves an honest call.
	if out := attacker.ok("eval", "--at", do.ready.ID, "List.sum (List.range 1 101)"); out != "5050\n" {
		t.Errorf("honest call = %q", out)
	}

	// Minutes of time and fuel for the attacker, and loops of tower
	// comparisons running when the owner is told to stop.
	owner.ok("policy", "set", "generous", "pure", "--fuel", "1000000000000", "--time", "5m")
	owner.ok("policy", "assign", da.ready.ID, "generous")
	loop := towerExpr(40, "let go i = if i == 0 then 0 else if A == B then go (i - 1) else 1 in go 1000000000000")
	type running struct {
		done chan struct{} // closed once the command exited, with err set
		err  error
		out  *lockedBuffer
	}
	var evals []*running
	for range 3 {
		cmd := attacker.command("eval", "--timeout", "5m", "--at", ownerAddr, loop)
		r := &running{done: make(chan struct{}), out: &lockedBuffer{}}
		cmd.Stdout, cmd.Stderr = r.out, r.out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			r.err = cmd.Wait()
			close(r.done)
		}()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-r.done
		})
		evals = append(evals, r)
	}
	// Let the evaluations start (not a measurement: any moment will do).
	time.Sleep(2 * time.Second)
	for _, r := range evals {
		select {
		case <-r.done:
			t.Fatalf("a loop ended before the shutdown: %v: %s", r.err, r.out.String())
		default:
		}
	}
	if err := do.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-do.done:
	case <-time.After(shutdownLimit):
		t.Fatalf("the owner's daemon did not exit within %v of SIGTERM with foreign evaluations running: %s", shutdownLimit, do.stderr.String())
	}
	// The callers learn that their evaluations failed.
	for _, r := range evals {
		select {
		case <-r.done:
			if r.err == nil {
				t.Errorf("a loop succeeded: %s", r.out.String())
			}
		case <-time.After(commandTimeout):
			t.Fatalf("a caller still waits after the callee exited")
		}
	}
}
