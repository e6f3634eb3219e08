package p2p

import (
	"errors"
	"strings"
	"testing"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
)

func policyWith(t *testing.T, sandbox string) *capabilities.Policy {
	t.Helper()
	sb, err := capabilities.ParseSandbox(sandbox)
	if err != nil {
		t.Fatal(err)
	}
	return &capabilities.Policy{Default: sb}
}

const bigValueSource = `
big u = Text.repeat 5000000 "0123456789"

sendAt n = let t = big () in at n '(Text.length t)

buildAt n = Text.length (at n '(big ()))
`

// Acceptance 2 of issue 11: a 50 MB Text built on one node and sent
// with at (as a captured argument, and as a result) arrives intact; a
// second send of the same value sends no chunk (the sync figures); a
// result budget that does not allow it refuses it cleanly.
func TestLargeValueAt(t *testing.T) {
	ctx := testCtx(t)
	const big = "--allow pure --allow remote --fuel 1000000000 --memory 1GiB --time 5m --result 64MiB"
	const small = "--allow pure --allow remote --fuel 1000000000 --memory 1GiB --time 5m --result 10MiB"
	a := newTestNode(t, WithPolicy(policyWith(t, big)))
	b := newTestNode(t, WithPolicy(policyWith(t, big)))
	c := newTestNode(t, WithPolicy(policyWith(t, small)))
	connectAll(t, a, b, c)
	addSource(t, a, bigValueSource)

	v, st, err := call(ctx, a, "sendAt", nodeValue(b))
	if err != nil {
		t.Fatal(err)
	}
	if show(v) != "50000000" {
		t.Fatalf("sendAt = %s", show(v))
	}
	// 191 leaves of 256 KiB, but the text repeats with period 10 and
	// 2^18 = 6 (mod 10): five distinct leaves, the last, the root.
	if st.Blocks != 7 {
		t.Fatalf("first send: %d blocks, %d bytes; want the 7 distinct chunks", st.Blocks, st.Bytes)
	}
	v, st2, err := call(ctx, a, "sendAt", nodeValue(b))
	if err != nil || show(v) != "50000000" {
		t.Fatalf("second send: %v, %v", v, err)
	}
	if st2.Blocks != 0 || st2.Bytes != 0 {
		t.Fatalf("second send of the same value: %d blocks, %d bytes sent; want none", st2.Blocks, st2.Bytes)
	}

	// The result direction: built at b, 50 MB back to a.
	v, st, err = call(ctx, a, "buildAt", nodeValue(b))
	if err != nil || show(v) != "50000000" {
		t.Fatalf("buildAt = %v, %v", v, err)
	}
	v, st3, err := call(ctx, a, "buildAt", nodeValue(b))
	if err != nil || show(v) != "50000000" {
		t.Fatalf("buildAt again = %v, %v", v, err)
	}
	if st3.Blocks != 0 {
		t.Fatalf("second result: %d chunks received, want none (first: %d)", st3.Blocks, st.Blocks)
	}

	// A callee whose result budget is 10 MiB refuses cleanly.
	_, _, err = call(ctx, a, "buildAt", nodeValue(c))
	var be *eval.BudgetError
	var ce *CallError
	if !(errors.As(err, &ce) && ce.Code == CodeBudget || errors.As(err, &be)) || !strings.Contains(err.Error(), "result") {
		t.Fatalf("buildAt under a 10 MiB result budget: %v, want a result budget error", err)
	}
}
