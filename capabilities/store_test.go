package capabilities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

func TestGrantStore(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ds := dssync.MutexWrap(datastore.NewMapDatastore())
	s := NewStore(ds)
	clock := w.now
	s.Now = func() time.Time { return clock }

	a, err := s.Grant(ctx, w.keys["owner"], w.claims("insurer", healthGrant, nil, 0, time.Hour), "insurer, health")
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Second)
	b, err := s.Grant(ctx, w.keys["owner"], w.claims("worker", "--allow pure", nil, 0, 24*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Grants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != b.ID() || list[1].ID != a.ID() {
		t.Fatalf("grants %+v", list)
	}
	if r := list[1]; r.Token != a.String() || r.Audience != w.ids["insurer"].String() || r.Sandbox != healthGrant ||
		r.Note != "insurer, health" || !r.Expires.Equal(a.Expires()) || !r.Issued.Equal(w.now) || r.Revoked {
		t.Errorf("record %+v", r)
	}

	// A new Store over the same datastore (a restarted daemon, or the CLI
	// while the daemon runs) sees the same grants and revocations.
	s2 := NewStore(ds)
	revoked := s2.Revoked(ctx)
	if revoked(a.ID()) {
		t.Fatalf("revoked before Revoke")
	}
	if _, err := VerifyToken(a, w.now, w.ids["owner"], w.ids["insurer"], revoked, ClockSkew); err != nil {
		t.Fatal(err)
	}

	// Revoke by ID prefix, by full ID, by token text.
	id, err := s.Revoke(ctx, a.ID()[:8])
	if err != nil || id != a.ID() {
		t.Fatalf("Revoke by prefix: %q %v", id, err)
	}
	if !revoked(a.ID()) {
		t.Fatalf("revocation not visible through another Store")
	}
	_, err = VerifyToken(a, w.now, w.ids["owner"], w.ids["insurer"], revoked, ClockSkew)
	if !errors.Is(err, ErrRevoked) {
		t.Fatalf("VerifyToken after revocation: %v", err)
	}
	if id, err := s.Revoke(ctx, a.ID()); err != nil || id != a.ID() {
		t.Fatalf("second Revoke: %v", err)
	}
	if id, err := s.Revoke(ctx, b.String()); err != nil || id != b.ID() {
		t.Fatalf("Revoke by token: %v", err)
	}
	list, err = s2.Grants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if !r.Revoked || r.RevokedAt.IsZero() {
			t.Errorf("%s not listed as revoked", r.ID)
		}
	}

	// A delegated token this node never recorded can be revoked by ID.
	child := w.grant("insurer", "worker", "--allow pure", a, 0, time.Minute)
	if id, err := s.Revoke(ctx, child.ID()); err != nil || id != child.ID() {
		t.Fatalf("Revoke of an unrecorded ID: %v", err)
	}
	if ok, err := s.IsRevoked(ctx, child.ID()); err != nil || !ok {
		t.Fatalf("IsRevoked: %v %v", ok, err)
	}

	for _, bad := range []string{"", "abc", a.ID()[:3], "zzzzzzzz", "not an id!", "unode1xyz"} {
		if _, err := s.Revoke(ctx, bad); err == nil {
			t.Errorf("Revoke(%q) succeeded", bad)
		}
	}
	if _, err := s.Revoke(ctx, "zzzzzzzz"); !errors.Is(err, ErrUnknownGrant) {
		t.Errorf("Revoke of an unknown prefix: %v", err)
	}
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	s := NewStore(datastore.NewMapDatastore())
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return base }
	for i := range 5 {
		e := AuditEntry{Peer: "p", Tokens: []string{fmt.Sprint("t", i)}, Root: "bafy", Fuel: int64(i), Memory: 10, Outcome: OutcomeOK}
		if i == 3 {
			e.Outcome, e.Detail = OutcomeDenied, "builtin Int.sub"
		}
		if i < 2 {
			e.Time = base.Add(time.Duration(i) * time.Second)
		}
		// Entries 2..4 share the clock's time; order is kept by sequence.
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AuditLog(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("%d entries", len(all))
	}
	for i, e := range all {
		if e.Fuel != int64(4-i) {
			t.Errorf("entry %d has fuel %d: not newest first", i, e.Fuel)
		}
	}
	if all[1].Outcome != OutcomeDenied || all[1].Detail != "builtin Int.sub" || all[1].Tokens[0] != "t3" {
		t.Errorf("entry %+v", all[1])
	}
	two, err := s.AuditLog(ctx, 2)
	if err != nil || len(two) != 2 || two[0].Fuel != 4 {
		t.Errorf("limit 2: %+v %v", two, err)
	}
}

// Audit entries are written behind the caller, through a bounded queue;
// none is lost, and they keep their order.
func TestAuditQueueKeepsEveryEntry(t *testing.T) {
	ctx := context.Background()
	s := NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	n := MaxPendingAudit*2 + 7
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 4 {
				if err := s.Audit(ctx, AuditEntry{Peer: fmt.Sprint(w), Fuel: int64(i), Outcome: OutcomeOK}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := s.AuditLog(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n/4*4 {
		t.Fatalf("%d entries, want %d", len(all), n/4*4)
	}
	last := map[string]int64{}
	for _, e := range all { // newest first
		if l, ok := last[e.Peer]; ok && e.Fuel != l-1 {
			t.Fatalf("peer %s: entry %d after %d", e.Peer, e.Fuel, l)
		}
		last[e.Peer] = e.Fuel
	}
}
