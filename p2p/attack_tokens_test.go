package p2p

import (
	"testing"
	"time"

	"github.com/unode-dev/unode/capabilities"
)

// Issue 7, case 8: a token this node issued was accepted up to
// capabilities.ClockSkew past its expiry (and before its not-before),
// because the skew allowance for other issuers' clocks also applied to
// windows the node set with its own clock.
func TestOwnTokenWindowIsExact(t *testing.T) {
	ctx := testCtx(t)
	clock := newTestClock()
	owner := newTestNode(t, WithClock(clock.now))
	insurer := newTestNode(t)
	connectAll(t, owner, insurer)
	putData(t, owner, map[string]int64{"health/a": 70})
	start := clock.now()
	sb := mustSandbox(t, "--allow pure --allow data.read:health/")
	tok, err := owner.Grant(ctx, capabilities.Claims{Audience: insurer.ID(), Sandbox: sb, Expires: start.Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	later, err := owner.Grant(ctx, capabilities.Claims{Audience: insurer.ID(), Sandbox: sb,
		NotBefore: start.Add(10 * time.Minute), Expires: start.Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	at := owner.ID().String()
	const read = `Data.get "health/a"`
	call := func(what string, tok *capabilities.Token, reason string) {
		t.Helper()
		res, err := insurer.EvalAt(ctx, at, read, Budget{}, WithTokens(tok))
		if reason == "" {
			if err != nil || res.Text != "Some 70" {
				t.Fatalf("%s: %v, %v; want Some 70", what, res, err)
			}
			return
		}
		wantDenied(t, what, err, capabilities.DeniedBuiltin, "Data.get", reason)
	}
	call("within the window", tok, "")
	clock.add(9 * time.Minute)
	call("a minute before not-before, within the old skew", later, "not yet valid")
	clock.add(time.Minute)
	call("at not-before", later, "")
	clock.add(50*time.Minute - time.Second)
	call("a second before expiry", tok, "")
	clock.add(time.Second)
	call("at expiry", tok, "token expired")
	clock.add(time.Minute)
	call("a minute after expiry, within the old skew", tok, "token expired")
	if got := capabilities.WindowStatus(tok, clock.now(), owner.ID(), capabilities.ClockSkew); got != "expired" {
		t.Errorf("grants would show %q for a token verification refuses", got)
	}
}
