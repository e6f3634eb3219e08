package capabilities

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

const statsMember = "--allow cluster.member:stats"

// memberWorld: "owner" owns cluster stats; "insurer" is a member by a
// root token, "worker" by a token the insurer delegated; "third" checks.
func TestVerifyMembership(t *testing.T) {
	w := newWorld(t)
	member := w.grant("owner", "insurer", statsMember, nil, 0, time.Hour)
	sub := w.grant("insurer", "worker", statsMember, member, 0, 30*time.Minute)
	other := w.grant("owner", "insurer", "--allow cluster.member:batch", nil, 0, time.Hour)
	bystander := w.grant("eve", "insurer", statsMember, nil, 0, time.Hour)
	plain := w.grant("owner", "insurer", "--allow pure", nil, 0, time.Hour)
	forged := w.forge("worker", "worker", statsMember, member, 0, time.Hour)
	wider := w.forge("insurer", "worker", statsMember+" --allow cluster.member:batch", member, 0, 30*time.Minute)
	byID := func(id string) func(string) bool { return func(x string) bool { return x == id } }

	for _, tc := range []struct {
		name    string
		tok     *Token
		owner   string
		member  string
		cluster string
		at      time.Time
		revoked func(string) bool
		want    error
	}{
		{name: "root token", tok: member, owner: "owner", member: "insurer", cluster: "stats", at: w.now},
		{name: "delegated", tok: sub, owner: "owner", member: "worker", cluster: "stats", at: w.now},
		{name: "presented by another peer", tok: member, owner: "owner", member: "eve", cluster: "stats", at: w.now, want: ErrWrongAudience},
		{name: "another cluster", tok: other, owner: "owner", member: "insurer", cluster: "stats", at: w.now, want: ErrNotMember},
		{name: "no membership", tok: plain, owner: "owner", member: "insurer", cluster: "stats", at: w.now, want: ErrNotMember},
		{name: "issued by someone else", tok: bystander, owner: "owner", member: "insurer", cluster: "stats", at: w.now, want: ErrWrongOwner},
		{name: "another owner's cluster", tok: member, owner: "eve", member: "insurer", cluster: "stats", at: w.now, want: ErrWrongOwner},
		{name: "expired", tok: member, owner: "owner", member: "insurer", cluster: "stats", at: w.now.Add(time.Hour + ClockSkew + time.Second), want: ErrExpired},
		{name: "within the skew", tok: member, owner: "owner", member: "insurer", cluster: "stats", at: w.now.Add(time.Hour + time.Second)},
		{name: "revoked", tok: member, owner: "owner", member: "insurer", cluster: "stats", at: w.now, revoked: byID(member.ID()), want: ErrRevoked},
		{name: "parent revoked", tok: sub, owner: "owner", member: "worker", cluster: "stats", at: w.now, revoked: byID(member.ID()), want: ErrRevoked},
		{name: "delegated by a non-holder", tok: forged, owner: "owner", member: "worker", cluster: "stats", at: w.now, want: ErrBrokenChain},
		{name: "delegation widens", tok: wider, owner: "owner", member: "worker", cluster: "batch", at: w.now, want: ErrWidened},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyMembership(tc.tok, tc.at, w.ids[tc.owner], w.ids[tc.member], tc.cluster, w.ids["third"], tc.revoked, ClockSkew)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyMembership: %v", err)
				}
				return
			}
			var te *TokenError
			if !errors.Is(err, tc.want) || !errors.As(err, &te) {
				t.Fatalf("VerifyMembership = %v, want a *TokenError for %v", err, tc.want)
			}
		})
	}
	// The owner checks its own links exactly.
	if err := VerifyMembership(member, w.now.Add(time.Hour+time.Second), w.ids["owner"], w.ids["insurer"], "stats", w.ids["owner"], nil, ClockSkew); !errors.Is(err, ErrExpired) {
		t.Fatalf("the owner accepted its own expired token within the skew: %v", err)
	}
}

func TestMembershipProof(t *testing.T) {
	w := newWorld(t)
	nonce := bytes.Repeat([]byte{1}, MemberNonceSize)
	other := bytes.Repeat([]byte{2}, MemberNonceSize)
	asker, owner := w.ids["third"], w.ids["owner"]
	sig, err := SignMembershipProof(w.keys["insurer"], nonce, asker, owner, "stats")
	if err != nil {
		t.Fatal(err)
	}
	pub := w.keys["insurer"].GetPublic()
	for _, tc := range []struct {
		name   string
		member string
		nonce  []byte
		asker  string
		owner  string
		the    string
		sig    []byte
		ok     bool
	}{
		{name: "valid", member: "insurer", nonce: nonce, asker: "third", owner: "owner", the: "stats", sig: sig, ok: true},
		{name: "replayed by another peer", member: "worker", nonce: nonce, asker: "third", owner: "owner", the: "stats", sig: sig},
		{name: "replayed to another asker", member: "insurer", nonce: nonce, asker: "eve", owner: "owner", the: "stats", sig: sig},
		{name: "replayed for a fresh nonce", member: "insurer", nonce: other, asker: "third", owner: "owner", the: "stats", sig: sig},
		{name: "another cluster", member: "insurer", nonce: nonce, asker: "third", owner: "owner", the: "batch", sig: sig},
		{name: "another owner", member: "insurer", nonce: nonce, asker: "third", owner: "eve", the: "stats", sig: sig},
		{name: "no signature", member: "insurer", nonce: nonce, asker: "third", owner: "owner", the: "stats"},
		{name: "short nonce", member: "insurer", nonce: nonce[:16], asker: "third", owner: "owner", the: "stats", sig: sig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyMembershipProof(w.ids[tc.member], nil, tc.sig, tc.nonce, w.ids[tc.asker], w.ids[tc.owner], tc.the)
			if tc.ok != (err == nil) {
				t.Fatalf("VerifyMembershipProof = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadProof) {
				t.Fatalf("error %v does not match ErrBadProof", err)
			}
		})
	}
	// A key that is not the member's is refused even with a signature
	// it made.
	if err := VerifyMembershipProof(w.ids["worker"], pub, sig, nonce, asker, owner, "stats"); !errors.Is(err, ErrBadProof) {
		t.Fatalf("accepted the insurer's key for the worker: %v", err)
	}
	if err := VerifyMembershipProof(w.ids["insurer"], pub, sig, nonce, asker, owner, "stats"); err != nil {
		t.Fatalf("with the member's key: %v", err)
	}
}

func FuzzVerifyMembership(f *testing.F) {
	w, toks := seedTokens(f)
	names := []string{"owner", "insurer", "worker", "eve", "third"}
	for _, tok := range toks {
		for m := range names {
			f.Add(tok.Bytes(), uint8(m), "stats", int64(0))
		}
		f.Add(tok.Bytes(), uint8(1), "batch", int64(7200))
	}
	f.Fuzz(func(t *testing.T, data []byte, m uint8, name string, offset int64) {
		tok, err := DecodeToken(data)
		if err != nil {
			return
		}
		owner, member := w.ids["owner"], w.ids[names[int(m)%len(names)]]
		now := w.now.Add(time.Duration(offset%(1<<32)) * time.Second)
		if err := VerifyMembership(tok, now, owner, member, name, w.ids["third"], nil, ClockSkew); err != nil {
			var te *TokenError
			if !errors.As(err, &te) || te.Reason == nil {
				t.Fatalf("error %v is not a *TokenError", err)
			}
			return
		}
		if tok.Root().Issuer() != owner || tok.Audience() != member || !tok.Sandbox().GrantsMembership(name) {
			t.Fatalf("accepted a token not rooted at the owner, not for the member, or not for %q", name)
		}
		for _, link := range tok.Chain() {
			if !link.Sandbox().GrantsMembership(name) || !now.Add(-ClockSkew).Before(link.Expires()) {
				t.Fatalf("accepted a chain with a link that does not grant %q or has expired", name)
			}
		}
	})
}
