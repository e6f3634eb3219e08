package capabilities

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// seedTokens returns real tokens covering the shapes the table tests use:
// roots with and without not-before, delegations, a deep chain, forged
// links, and tokens from other roots.
func seedTokens(t testing.TB) (*world, []*Token) {
	w := newWorld(t)
	root := w.grant("owner", "insurer", healthGrant, nil, 0, time.Hour)
	later := w.grant("owner", "insurer", "--allow pure --deny Int.sub --allow-code "+cidA+" --allow-target "+peerA+" --memory 1MiB --time 5s", nil, time.Minute, time.Hour)
	narrow := w.grant("insurer", "worker", "--allow data.read:health/2025/", root, 0, 30*time.Minute)
	exact := w.grant("owner", "eve", "--allow data.read:=bob/n --allow-code none", nil, 0, time.Minute)
	wide := w.forge("insurer", "worker", "--allow remote", root, 0, time.Hour)
	broken := w.forge("eve", "worker", "--allow pure", root, 0, time.Hour)
	foreign := w.grant("third", "insurer", "--allow pure", nil, 0, time.Hour)
	deep := root
	names := []string{"insurer", "worker"}
	for i := 1; i < MaxChainDepth; i++ {
		deep = w.grant(names[(i-1)%2], names[i%2], healthGrant, deep, 0, time.Hour)
	}
	// Membership tokens of the owner's cluster "stats": a root, a
	// delegation, and one from another owner.
	member := w.grant("owner", "insurer", "--allow cluster.member:stats --allow cluster.member:batch", nil, 0, time.Hour)
	subMember := w.grant("insurer", "worker", "--allow cluster.member:stats", member, 0, 30*time.Minute)
	strayMember := w.grant("eve", "insurer", "--allow cluster.member:stats", nil, 0, time.Hour)
	return w, []*Token{root, later, narrow, exact, wide, broken, foreign, deep, member, subMember, strayMember}
}

func FuzzParseToken(f *testing.F) {
	_, toks := seedTokens(f)
	for _, tok := range toks {
		f.Add(tok.String())
		f.Add(" " + tok.String() + "\n")
		for _, bad := range malformedTokens(f, tok.Bytes()) {
			if len(bad) < 1024 {
				f.Add(TokenPrefix + b32.EncodeToString(bad))
			}
		}
	}
	f.Add("")
	f.Add(TokenPrefix)
	f.Add("unode1aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || !(errors.Is(err, ErrMalformedToken) || errors.Is(err, ErrChainTooDeep)) {
				t.Fatalf("ParseToken error %v is not a malformed-token TokenError", err)
			}
			return
		}
		// One token, one text.
		if got := tok.String(); got != strings.TrimSpace(s) {
			t.Fatalf("parsed %q but prints %q", s, got)
		}
		checkTokenInvariants(t, tok)
	})
}

func FuzzDecodeToken(f *testing.F) {
	_, toks := seedTokens(f)
	for _, tok := range toks {
		f.Add(tok.Bytes())
		for _, bad := range malformedTokens(f, tok.Bytes()) {
			if len(bad) < 1024 {
				f.Add(bad)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := DecodeToken(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) && !errors.Is(err, ErrChainTooDeep) {
				t.Fatalf("DecodeToken error %v", err)
			}
			return
		}
		if string(tok.Bytes()) != string(data) {
			t.Fatalf("decoded bytes do not re-encode to themselves")
		}
		checkTokenInvariants(t, tok)
	})
}

func checkTokenInvariants(t *testing.T, tok *Token) {
	t.Helper()
	again, err := ParseToken(tok.String())
	if err != nil || again.ID() != tok.ID() || again.String() != tok.String() {
		t.Fatalf("re-parse: %v", err)
	}
	if tok.Depth() > MaxChainDepth {
		t.Fatalf("depth %d", tok.Depth())
	}
	for _, link := range tok.Chain() {
		sb := link.Sandbox()
		if err := sb.Validate(); err != nil {
			t.Fatalf("decoded an invalid sandbox: %v", err)
		}
		if !sb.Equal(sb.Normalize()) {
			t.Fatalf("decoded a sandbox not in normal form")
		}
		if !link.NotBefore().IsZero() && !link.NotBefore().Before(link.Expires()) {
			t.Fatalf("window")
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	w, toks := seedTokens(f)
	presenters := []string{"owner", "insurer", "worker", "eve", "third"}
	for _, tok := range toks {
		for p := range presenters {
			f.Add(tok.Bytes(), uint8(p), int64(0), false)
			f.Add(tok.Bytes(), uint8(p), int64(2*time.Hour/time.Second), false)
		}
		f.Add(tok.Bytes(), uint8(1), int64(-3600), true)
		data := tok.Bytes()
		data[len(data)-1] ^= 1
		f.Add(data, uint8(1), int64(0), false)
	}
	self := w.ids["owner"]
	f.Fuzz(func(t *testing.T, data []byte, presenter uint8, offset int64, revokeRoot bool) {
		tok, err := DecodeToken(data)
		if err != nil {
			return
		}
		remote := w.ids[presenters[int(presenter)%len(presenters)]]
		now := w.now.Add(time.Duration(offset%(1<<32)) * time.Second)
		revoked := func(id string) bool { return revokeRoot && id == tok.Root().ID() }
		sb, err := VerifyToken(tok, now, self, remote, revoked, ClockSkew)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || te.Reason == nil {
				t.Fatalf("VerifyToken error %v is not a *TokenError", err)
			}
			return
		}
		// What verifies is rooted here, held by the presenter, current,
		// unrevoked, and never wider than any link of its chain.
		if tok.Root().Issuer() != self || tok.Audience() != remote || revokeRoot {
			t.Fatalf("accepted a token not rooted here, not for the presenter, or revoked")
		}
		for _, link := range tok.Chain() {
			if !sb.IsSubset(link.Sandbox()) {
				t.Fatalf("granted %q, wider than link %s (%q)", sb, link.ID(), link.Sandbox())
			}
			skew := ClockSkew
			if link.Issuer() == self {
				skew = 0 // this node's own windows apply exactly
			}
			if !now.Add(-skew).Before(link.Expires()) {
				t.Fatalf("accepted an expired link")
			}
		}
	})
}

func FuzzParseSandbox(f *testing.F) {
	for _, tc := range sandboxTexts {
		f.Add(tc.in)
	}
	f.Add("--allow pure --allow remote --deny pure:Int.sub --deny remote:at")
	f.Add(`--allow "data.read:a b" --allow data.write:=x`)
	f.Add("--allow-code none --allow-target any --fuel 0")
	f.Add(`--allow cluster.member:stats --allow "cluster.member:big data" --allow cluster.member:`)
	f.Add("--allow cluster.member --allow cluster.member:a:b")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSandbox(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidSandbox) {
				t.Fatalf("error %v does not match ErrInvalidSandbox", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed an invalid sandbox: %v", err)
		}
		canon := s.String()
		back, err := ParseSandbox(canon)
		if err != nil || !back.Equal(s) || back.String() != canon {
			t.Fatalf("%q -> %q does not round-trip: %v", text, canon, err)
		}
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON Sandbox
		if err := json.Unmarshal(data, &fromJSON); err != nil || !fromJSON.Equal(s) {
			t.Fatalf("JSON round trip of %q: %s: %v", canon, data, err)
		}
		if fromWire, err := s.toWire().fromWire(); err != nil || !fromWire.Equal(s) {
			t.Fatalf("CBOR round trip of %q: %v", canon, err)
		}
		if !s.IsSubset(Union(s, s)) || !Intersect(s, s).Equal(s) {
			t.Fatalf("lattice laws fail for %q", canon)
		}
	})
}
