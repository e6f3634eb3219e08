package repo_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// auditedPeers reads the audit log straight from the datastore, without
// the flush that Store.AuditLog does first: what a crash at this moment
// would leave.
func auditedPeers(t *testing.T, ds datastore.Datastore) []capabilities.AuditEntry {
	t.Helper()
	res, err := ds.Query(context.Background(), query.Query{Prefix: "/audit"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	var out []capabilities.AuditEntry
	for _, e := range all {
		var a capabilities.AuditEntry
		if err := json.Unmarshal(e.Value, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// TestAuditDurableBeforeReply is issue 7's case 1 for foreign
// evaluations on a repo: the audit entry of an evaluation that read
// node data (under a policy sandbox, no token) or presented a token is
// in the datastore when the caller has the result; a pure evaluation's
// follows within the audit window.
func TestAuditDurableBeforeReply(t *testing.T) {
	ctx := context.Background()
	r, err := repo.Open(filepath.Join(t.TempDir(), "r"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	caller, err := p2p.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	reader, err := capabilities.ParseSandbox("--allow pure --allow data.read:health/ --fuel 1000000 --memory 64MiB --time 10s --result 1MiB")
	if err != nil {
		t.Fatal(err)
	}
	pol := capabilities.DefaultPolicy()
	pol.Sandboxes = map[string]capabilities.Sandbox{"reader": reader}
	pol.Peers = map[peer.ID]string{caller.ID(): "reader"}
	callee, err := p2p.New(ctx, p2p.WithIdentity(r.Key), p2p.WithDatastore(r.Datastore), p2p.WithPolicy(pol))
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	if err := callee.Codebase().DataPut(ctx, "health/a", eval.MakeInt(70)); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.Connect(ctx, callee.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	target := callee.ID().String()

	res, err := caller.EvalAt(ctx, target, `Data.get "health/a"`, p2p.Budget{})
	if err != nil || res.Text != "Some 70" {
		t.Fatalf("Data.get at the callee: %v, %v", res, err)
	}
	if got := auditedPeers(t, r.Datastore); len(got) != 1 || got[0].Peer != caller.ID().String() || got[0].Outcome != capabilities.OutcomeOK {
		t.Fatalf("audit log when the data evaluation returned: %+v; want its entry", got)
	}

	tok, err := callee.Grant(ctx, capabilities.Claims{Audience: caller.ID(), Sandbox: reader, Expires: time.Now().Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := caller.EvalAt(ctx, target, "1 + 1", p2p.Budget{}, p2p.WithTokens(tok)); err != nil {
		t.Fatal(err)
	}
	got := auditedPeers(t, r.Datastore)
	if len(got) != 2 || len(got[1].Tokens) != 1 || got[1].Tokens[0] != tok.ID() {
		t.Fatalf("audit log when the token evaluation returned: %+v; want its entry", got)
	}

	// Pure code, no token: written behind the reply, within the window.
	if _, err := caller.EvalAt(ctx, target, "2 + 2", p2p.Budget{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(auditedPeers(t, r.Datastore)) < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the pure evaluation's audit entry was never written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e := auditedPeers(t, r.Datastore)[2]; e.Peer != caller.ID().String() || !strings.Contains(e.Root, "bafy") {
		t.Errorf("pure entry %+v", e)
	}
}
