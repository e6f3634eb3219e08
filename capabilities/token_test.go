package capabilities

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// world is a set of named peers with keys and a fixed clock. The owner
// runs the node that verifies.
type world struct {
	t    testing.TB
	keys map[string]crypto.PrivKey
	ids  map[string]peer.ID
	now  time.Time
}

func newWorld(t testing.TB) *world {
	w := &world{t: t, keys: map[string]crypto.PrivKey{}, ids: map[string]peer.ID{},
		now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, name := range []string{"owner", "insurer", "worker", "eve", "third"} {
		// Keys derive from the names, so that fuzz corpora saved in
		// testdata keep meaning the same peers.
		seed := sha256.Sum256([]byte(name))
		sk, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		w.keys[name], w.ids[name] = sk, id
	}
	return w
}

// claims builds Claims for a token to audience, valid from now+nbf (no
// lower bound if nbf is 0) until now+exp.
func (w *world) claims(audience, sandbox string, parent *Token, nbf, exp time.Duration) Claims {
	c := Claims{Audience: w.ids[audience], Sandbox: mustParse(w.t, sandbox), Expires: w.now.Add(exp), Parent: parent}
	if nbf != 0 {
		c.NotBefore = w.now.Add(nbf)
	}
	return c
}

// grant issues a token with Issue (so it must pass Issue's checks).
func (w *world) grant(issuer, audience, sandbox string, parent *Token, nbf, exp time.Duration) *Token {
	w.t.Helper()
	tok, err := Issue(w.keys[issuer], w.claims(audience, sandbox, parent, nbf, exp))
	if err != nil {
		w.t.Fatalf("Issue: %v", err)
	}
	return tok
}

// forge signs a token without Issue's checks, as an attacker could.
func (w *world) forge(issuer, audience, sandbox string, parent *Token, nbf, exp time.Duration) *Token {
	w.t.Helper()
	tok, err := DecodeToken(w.forgeBytes(issuer, audience, sandbox, parent, nbf, exp))
	if err != nil {
		w.t.Fatalf("forge: %v", err)
	}
	return tok
}

// forgeBytes is forge without decoding the result.
func (w *world) forgeBytes(issuer, audience, sandbox string, parent *Token, nbf, exp time.Duration) []byte {
	w.t.Helper()
	c := w.claims(audience, sandbox, parent, nbf, exp)
	wire := tokenWire{Version: tokenVersion, Issuer: []byte(w.ids[issuer]), Audience: []byte(c.Audience),
		Sandbox: c.Sandbox.toWire(), Expires: uint64(c.Expires.Unix()), Nonce: bytes.Repeat([]byte{7}, NonceSize)}
	if !c.NotBefore.IsZero() {
		wire.NotBefore = uint64(c.NotBefore.Unix())
	}
	if parent != nil {
		wire.Parent = parent.raw
	}
	data, err := signedBytes(w.keys[issuer], wire)
	if err != nil {
		w.t.Fatalf("forge: %v", err)
	}
	return data
}

func (w *world) verify(tok *Token, presenter string, at time.Time, revoked func(string) bool) (Sandbox, error) {
	return VerifyToken(tok, at, w.ids["owner"], w.ids[presenter], revoked, ClockSkew)
}

const healthGrant = "--allow pure --allow data.read:health/ --fuel 1000000"

func TestVerifyToken(t *testing.T) {
	w := newWorld(t)
	root := w.grant("owner", "insurer", healthGrant, nil, 0, time.Hour)
	narrow := w.grant("insurer", "worker", "--allow pure --allow data.read:health/2025/ --fuel 1000", root, 0, 30*time.Minute)
	later := w.grant("owner", "insurer", healthGrant, nil, 10*time.Minute, time.Hour)
	revokedID := root.ID()
	byID := func(id string) func(string) bool { return func(x string) bool { return x == id } }

	for _, tc := range []struct {
		name      string
		tok       *Token
		presenter string
		at        time.Time
		revoked   func(string) bool
		want      error  // nil: valid
		failedID  string // the link named in the error
		sandbox   string // for valid tokens
	}{
		{name: "valid", tok: root, presenter: "insurer", at: w.now, sandbox: healthGrant},
		// The owner issued root and checks it with its own clock: no
		// skew allowance on either side of the window.
		{name: "valid until its expiry", tok: root, presenter: "insurer", at: w.now.Add(time.Hour - time.Second), sandbox: healthGrant},
		{name: "expired at its expiry", tok: root, presenter: "insurer", at: w.now.Add(time.Hour), want: ErrExpired, failedID: root.ID()},
		{name: "no skew after an own expiry", tok: root, presenter: "insurer", at: w.now.Add(time.Hour + time.Minute), want: ErrExpired, failedID: root.ID()},
		{name: "expired", tok: root, presenter: "insurer", at: w.now.Add(time.Hour + ClockSkew), want: ErrExpired, failedID: root.ID()},
		{name: "not yet valid", tok: later, presenter: "insurer", at: w.now, want: ErrNotYetValid, failedID: later.ID()},
		{name: "no skew before an own not-before", tok: later, presenter: "insurer", at: w.now.Add(9 * time.Minute), want: ErrNotYetValid, failedID: later.ID()},
		{name: "valid from its not-before", tok: later, presenter: "insurer", at: w.now.Add(10 * time.Minute), sandbox: healthGrant},
		// The insurer's clock set narrow's window: skew applies to it.
		{name: "delegation valid within skew after its expiry", tok: narrow, presenter: "worker", at: w.now.Add(30*time.Minute + time.Minute), sandbox: "--allow pure --allow data.read:health/2025/ --fuel 1000"},
		{name: "delegation expired beyond skew", tok: narrow, presenter: "worker", at: w.now.Add(30*time.Minute + ClockSkew), want: ErrExpired, failedID: narrow.ID()},
		{name: "revoked", tok: root, presenter: "insurer", at: w.now, revoked: byID(revokedID), want: ErrRevoked, failedID: root.ID()},
		{name: "presented by another peer", tok: root, presenter: "eve", at: w.now, want: ErrWrongAudience, failedID: root.ID()},
		{name: "delegated narrower", tok: narrow, presenter: "worker", at: w.now, sandbox: "--allow pure --allow data.read:health/2025/ --fuel 1000"},
		{name: "delegation presented by its issuer", tok: narrow, presenter: "insurer", at: w.now, want: ErrWrongAudience, failedID: narrow.ID()},
		{name: "revoked parent", tok: narrow, presenter: "worker", at: w.now, revoked: byID(revokedID), want: ErrRevoked, failedID: root.ID()},
		{name: "expired parent", tok: narrow, presenter: "worker", at: w.now.Add(time.Hour + ClockSkew), want: ErrExpired, failedID: narrow.ID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, err := w.verify(tc.tok, tc.presenter, tc.at, tc.revoked)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyToken: %v", err)
				}
				if got := sb.String(); got != tc.sandbox {
					t.Fatalf("sandbox %q, want %q", got, tc.sandbox)
				}
				return
			}
			checkTokenErr(t, err, tc.want, tc.failedID)
		})
	}
}

func checkTokenErr(t *testing.T, err, want error, id string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %T is not a *TokenError", err)
	}
	if id != "" && te.TokenID != id {
		t.Fatalf("error names token %q, want %q: %v", te.TokenID, id, err)
	}
	for _, other := range []error{ErrMalformedToken, ErrChainTooDeep, ErrBadSignature, ErrBrokenChain, ErrWidened,
		ErrNotRootedHere, ErrWrongAudience, ErrRevoked, ErrNotYetValid, ErrExpired} {
		if other != want && errors.Is(err, other) {
			t.Fatalf("error %v also matches %v", err, other)
		}
	}
}

func TestForgedSignature(t *testing.T) {
	w := newWorld(t)
	root := w.grant("owner", "insurer", healthGrant, nil, 0, time.Hour)

	// One signature byte changed. The signature is the last field.
	data := root.Bytes()
	data[len(data)-1] ^= 1
	forged, err := DecodeToken(data)
	if err != nil {
		t.Fatalf("a token with a changed signature byte should decode: %v", err)
	}
	if forged.ID() != root.ID() {
		t.Errorf("the ID should not depend on the signature")
	}
	_, err = w.verify(forged, "insurer", w.now, nil)
	checkTokenErr(t, err, ErrBadSignature, root.ID())

	// The signed claims changed: the audience swapped for eve's.
	i := bytes.Index(data, []byte(w.ids["insurer"]))
	data = root.Bytes()
	copy(data[i:], []byte(w.ids["eve"]))
	forged, err = DecodeToken(data)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.verify(forged, "eve", w.now, nil)
	checkTokenErr(t, err, ErrBadSignature, forged.ID())

	// A token "issued" by the owner but signed by eve.
	wire := tokenWire{Version: tokenVersion, Issuer: []byte(w.ids["owner"]), Audience: []byte(w.ids["eve"]),
		Sandbox: mustParse(t, "--allow pure").toWire(), Expires: uint64(w.now.Add(time.Hour).Unix()), Nonce: make([]byte, NonceSize)}
	forged, err = signWire(w.keys["eve"], wire)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.verify(forged, "eve", w.now, nil)
	checkTokenErr(t, err, ErrBadSignature, forged.ID())

	// A bad signature deep in the chain: eve re-signs a parent's claims.
	fakeRoot, err := signWire(w.keys["eve"], func() tokenWire {
		x := wire
		x.Audience = []byte(w.ids["eve"])
		return x
	}())
	if err != nil {
		t.Fatal(err)
	}
	child := w.forge("eve", "worker", "--allow pure", fakeRoot, 0, time.Minute)
	_, err = w.verify(child, "worker", w.now, nil)
	checkTokenErr(t, err, ErrBadSignature, fakeRoot.ID())
}

func TestDelegationChecks(t *testing.T) {
	w := newWorld(t)
	root := w.grant("owner", "insurer", healthGrant, nil, time.Minute, time.Hour)

	for _, tc := range []struct {
		name, issuer, audience, sandbox string
		nbf, exp                        time.Duration
		want                            error
	}{
		{"wider prefix", "insurer", "worker", "--allow pure --allow data.read:", time.Minute, time.Hour, ErrWidened},
		{"other prefix", "insurer", "worker", "--allow data.read:finance/", time.Minute, time.Hour, ErrWidened},
		{"write access", "insurer", "worker", "--allow data.write:health/", time.Minute, time.Hour, ErrWidened},
		{"extra group", "insurer", "worker", "--allow remote", time.Minute, time.Hour, ErrWidened},
		{"more fuel", "insurer", "worker", "--allow pure --fuel 1000001", time.Minute, time.Hour, ErrWidened},
		{"any target", "insurer", "worker", "--allow-target any", time.Minute, time.Hour, ErrWidened},
		{"outlives parent", "insurer", "worker", "--allow pure", time.Minute, 2 * time.Hour, ErrWidened},
		{"starts before parent", "insurer", "worker", "--allow pure", time.Second, time.Hour, ErrWidened},
		{"not issued by the parent's audience", "eve", "worker", "--allow pure", time.Minute, time.Hour, ErrBrokenChain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Issue refuses to make such a token.
			_, err := Issue(w.keys[tc.issuer], w.claims(tc.audience, tc.sandbox, root, tc.nbf, tc.exp))
			checkTokenErr(t, err, tc.want, "")
			// And a forged one does not verify.
			forged := w.forge(tc.issuer, tc.audience, tc.sandbox, root, tc.nbf, tc.exp)
			_, err = w.verify(forged, tc.audience, w.now.Add(2*time.Minute), nil)
			checkTokenErr(t, err, tc.want, forged.ID())
		})
	}

	// A zero NotBefore in a delegation inherits the parent's.
	child := w.grant("insurer", "worker", "--allow pure", root, 0, time.Hour)
	if !child.NotBefore().Equal(root.NotBefore()) {
		t.Errorf("child not-before %v, parent %v", child.NotBefore(), root.NotBefore())
	}
	if _, err := w.verify(child, "worker", w.now.Add(2*time.Minute), nil); err != nil {
		t.Errorf("narrower delegation: %v", err)
	}
}

func TestNotRootedHere(t *testing.T) {
	w := newWorld(t)
	// A token from a third node, however valid, grants nothing here.
	tok := w.grant("third", "insurer", healthGrant, nil, 0, time.Hour)
	_, err := w.verify(tok, "insurer", w.now, nil)
	checkTokenErr(t, err, ErrNotRootedHere, tok.ID())
	// Nor does a chain the insurer roots at itself.
	self := w.grant("insurer", "worker", healthGrant, nil, 0, time.Hour)
	_, err = w.verify(self, "worker", w.now, nil)
	checkTokenErr(t, err, ErrNotRootedHere, self.ID())
}

func TestChainDepth(t *testing.T) {
	w := newWorld(t)
	names := []string{"insurer", "worker"}
	tok := w.grant("owner", "insurer", healthGrant, nil, 0, time.Hour)
	for i := 1; i < MaxChainDepth; i++ {
		tok = w.grant(names[(i-1)%2], names[i%2], healthGrant, tok, 0, time.Hour)
	}
	if tok.Depth() != MaxChainDepth {
		t.Fatalf("depth %d", tok.Depth())
	}
	presenter := names[(MaxChainDepth-1)%2]
	if _, err := w.verify(tok, presenter, w.now, nil); err != nil {
		t.Fatalf("chain of %d: %v", MaxChainDepth, err)
	}
	next := names[MaxChainDepth%2]
	_, err := Issue(w.keys[presenter], w.claims(next, healthGrant, tok, 0, time.Hour))
	checkTokenErr(t, err, ErrChainTooDeep, tok.ID())

	deep := w.forgeBytes(presenter, next, healthGrant, tok, 0, time.Hour)
	_, err = DecodeToken(deep)
	checkTokenErr(t, err, ErrChainTooDeep, "")
	_, err = ParseToken(TokenPrefix + b32.EncodeToString(deep))
	checkTokenErr(t, err, ErrChainTooDeep, "")
}

func TestParseTokenForms(t *testing.T) {
	w := newWorld(t)
	tok := w.grant("owner", "insurer", healthGrant, nil, time.Minute, time.Hour)
	s := tok.String()
	if !strings.HasPrefix(s, TokenPrefix) || strings.ContainsAny(s, "=+/ \n") {
		t.Fatalf("token text %q", s)
	}
	back, err := ParseToken("  " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != s || back.ID() != tok.ID() || !back.Sandbox().Equal(tok.Sandbox()) ||
		back.Issuer() != w.ids["owner"] || back.Audience() != w.ids["insurer"] ||
		!back.Expires().Equal(w.now.Add(time.Hour)) || !back.NotBefore().Equal(w.now.Add(time.Minute)) {
		t.Fatalf("round trip changed the token")
	}
	if len(tok.ID()) != 26 {
		t.Errorf("ID %q", tok.ID())
	}
	// JSON, as text.
	j, err := json.Marshal(map[string]*Token{"t": tok})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]*Token
	if err := json.Unmarshal(j, &m); err != nil || m["t"].String() != s {
		t.Fatalf("JSON: %v", err)
	}
	// Two grants of the same claims differ (nonce).
	if w.grant("owner", "insurer", healthGrant, nil, time.Minute, time.Hour).ID() == tok.ID() {
		t.Errorf("two tokens share an ID")
	}
}

// malformedTokens returns encodings of tokens that must not decode,
// derived from a valid one. They seed the fuzzers too.
func malformedTokens(t testing.TB, valid []byte) map[string][]byte {
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	if valid[0] < 0xa7 || valid[0] > 0xa9 {
		t.Fatalf("unexpected token header %#x", valid[0])
	}
	return map[string][]byte{
		"empty":     {},
		"not a map": {0x01},
		"truncated": valid[:len(valid)-1],
		"trailing":  append(bytes.Clone(valid), 0x00),
		"duplicate key": mod(func(b []byte) []byte {
			b[0]++ // one more pair: a second version field
			return append(append(b[:3:3], 0x01, 0x01), valid[3:]...)
		}),
		"indefinite map": mod(func(b []byte) []byte {
			b[0] = 0xbf
			return append(b, 0xff)
		}),
		"tagged": append([]byte{0xd9, 0xd9, 0xf7}, valid...),
		"non-shortest int": mod(func(b []byte) []byte {
			return append(append(b[:2:2], 0x18, 0x01), valid[3:]...)
		}),
		"unknown key": mod(func(b []byte) []byte {
			b[0]++
			return append(b, 0x0a, 0x00)
		}),
		"wrong version": mod(func(b []byte) []byte {
			b[2] = 0x02
			return b
		}),
		"too large": bytes.Repeat([]byte{0}, MaxTokenSize+1),
	}
}

func TestDecodeTokenMalformed(t *testing.T) {
	w := newWorld(t)
	tok := w.grant("owner", "insurer", healthGrant, nil, 0, time.Hour)
	for name, data := range malformedTokens(t, tok.Bytes()) {
		_, err := DecodeToken(data)
		if !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: DecodeToken = %v, want ErrMalformedToken", name, err)
		}
	}
	// Claims that cannot be encoded or that Issue must refuse.
	wire := func() tokenWire {
		return tokenWire{Version: tokenVersion, Issuer: []byte(w.ids["owner"]), Audience: []byte(w.ids["eve"]),
			Sandbox: mustParse(t, "--allow pure").toWire(), Expires: uint64(w.now.Unix()), Nonce: make([]byte, NonceSize)}
	}
	for name, f := range map[string]func(*tokenWire){
		"short nonce":          func(x *tokenWire) { x.Nonce = x.Nonce[:8] },
		"no expiry":            func(x *tokenWire) { x.Expires = 0 },
		"expiry before start":  func(x *tokenWire) { x.NotBefore = x.Expires },
		"year 10000":           func(x *tokenWire) { x.Expires = maxUnixSeconds + 1 },
		"bad audience":         func(x *tokenWire) { x.Audience = []byte{1, 2, 3} },
		"bad group":            func(x *tokenWire) { x.Sandbox.Groups[0].Name = "magic" },
		"unsorted patterns":    func(x *tokenWire) { x.Sandbox.Read = []string{"b/", "a/"} },
		"covered pattern":      func(x *tokenWire) { x.Sandbox.Read = []string{"a/", "a/b"} },
		"any code and list":    func(x *tokenWire) { x.Sandbox.AnyCode, x.Sandbox.Code = true, [][]byte{testCID(t, "a").Bytes()} },
		"bad CID":              func(x *tokenWire) { x.Sandbox.Code = [][]byte{{1, 2, 3}} },
		"huge fuel":            func(x *tokenWire) { x.Sandbox.Fuel = 1 << 63 },
		"garbage parent":       func(x *tokenWire) { x.Parent = []byte{0xa0} },
		"denied data builtin":  func(x *tokenWire) { x.Sandbox.Groups[0].Deny = []string{"Data.get"} },
		"unsorted denied list": func(x *tokenWire) { x.Sandbox.Groups[0].Deny = []string{"b", "a"} },
	} {
		x := wire()
		f(&x)
		_, err := signWire(w.keys["owner"], x)
		if !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: %v, want ErrMalformedToken", name, err)
		}
	}
	// An issuer whose peer ID is a hash of its key cannot be checked
	// from the token alone.
	sk, _, err := crypto.GenerateECDSAKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Issue(sk, w.claims("insurer", "--allow pure", nil, 0, time.Hour))
	checkTokenErr(t, err, ErrMalformedToken, "")

	for _, s := range []string{"", "unode", "unode2abc", "UNODE1" + strings.ToUpper(tok.String()[6:]),
		tok.String() + "=", tok.String()[:len(tok.String())-1], tok.String() + "a", "unode1!!!!",
		TokenPrefix + strings.Repeat("a", MaxTokenText)} {
		if _, err := ParseToken(s); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("ParseToken(%.40q...) = %v", s, err)
		}
	}
	if _, err := VerifyToken(nil, w.now, w.ids["owner"], w.ids["insurer"], nil, ClockSkew); !errors.Is(err, ErrMalformedToken) {
		t.Errorf("VerifyToken(nil) = %v", err)
	}
}
