package capabilities

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TokenPrefix starts the printed form of every token. The trailing "1"
// is the text format's version.
const TokenPrefix = "unode1"

// b32 is lowercase RFC 4648 base32 without padding: case-free, and
// selected whole by a double click in terminals and browsers.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// A Token is a signed, expiring grant of a sandbox by an issuer peer to
// an audience peer, optionally delegated from a parent token (which it
// embeds). Tokens are immutable; make them with Issue or Token.Delegate,
// read them with ParseToken or DecodeToken, and check them with
// VerifyToken. A Token that exists is well formed; whether it is valid
// (signatures, chain, time, revocation) is VerifyToken's question.
type Token struct {
	issuer    peer.ID
	audience  peer.ID
	sandbox   Sandbox
	notBefore int64 // Unix seconds; 0: no lower bound
	expires   int64 // Unix seconds
	nonce     []byte
	parent    *Token
	signature []byte
	raw       []byte // the canonical encoding, signature included
	signed    []byte // the encoding without the signature
	id        string
}

// Claims are what a new token says. Issue signs them.
type Claims struct {
	Audience peer.ID
	Sandbox  Sandbox
	// NotBefore is when the token starts to be valid; zero means no
	// lower bound, or for a delegation, the parent's.
	NotBefore time.Time
	// Expires is required. Times are kept to the second.
	Expires time.Time
	// Parent is the token this one is delegated from (nil for a token
	// rooted at the issuer). The issuer must be the parent's audience,
	// and the sandbox and time window must lie within the parent's.
	Parent *Token
}

// Issue makes a token with the given claims, signed by key. The key's
// peer ID must embed its public key (Ed25519 and secp256k1 keys do), so
// that verifiers need nothing but the token. A delegation is checked as
// VerifyToken would (issuer is the parent's audience, no widening, chain
// depth), so Issue never makes a token that cannot verify for those
// reasons; the errors are *TokenError.
func Issue(key crypto.PrivKey, c Claims) (*Token, error) {
	issuer, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "issuer key: %v", err)
	}
	if _, err := issuer.ExtractPublicKey(); err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "issuer key %s: its peer ID does not embed the public key (use an Ed25519 key)", issuer)
	}
	if err := checkPeer(c.Audience); err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "audience: %v", err)
	}
	if err := c.Sandbox.Validate(); err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "%v", err)
	}
	sb := c.Sandbox.Normalize()
	if c.Expires.IsZero() {
		return nil, tokenErr(ErrMalformedToken, "", "no expiry")
	}
	nbf := int64(0)
	if !c.NotBefore.IsZero() {
		nbf = c.NotBefore.Unix()
	}
	if p := c.Parent; p != nil && nbf == 0 {
		nbf = p.notBefore
	}
	w := tokenWire{
		Version:   tokenVersion,
		Issuer:    []byte(issuer),
		Audience:  []byte(c.Audience),
		Sandbox:   sb.toWire(),
		NotBefore: uint64(max(nbf, 0)),
		Expires:   uint64(max(c.Expires.Unix(), 0)),
		Nonce:     make([]byte, NonceSize),
	}
	if _, err := rand.Read(w.Nonce); err != nil {
		return nil, fmt.Errorf("capabilities: nonce: %w", err)
	}
	if p := c.Parent; p != nil {
		if p.raw == nil {
			return nil, tokenErr(ErrMalformedToken, "", "parent is not a decoded token")
		}
		if p.Depth() >= MaxChainDepth {
			return nil, tokenErr(ErrChainTooDeep, p.ID(), "a delegation of it would have %d links, limit %d", p.Depth()+1, MaxChainDepth)
		}
		if err := checkAttenuation(p, issuer, sb, int64(w.NotBefore), int64(w.Expires), "the delegation"); err != nil {
			return nil, err
		}
		w.Parent = p.raw
	}
	return signWire(key, w)
}

// Delegate issues a token delegated from t: c.Parent is set to t.
func (t *Token) Delegate(key crypto.PrivKey, c Claims) (*Token, error) {
	c.Parent = t
	return Issue(key, c)
}

// signWire signs w (with no checks beyond those DecodeToken makes) and
// returns the decoded token.
func signWire(key crypto.PrivKey, w tokenWire) (*Token, error) {
	data, err := signedBytes(key, w)
	if err != nil {
		return nil, err
	}
	return DecodeToken(data)
}

// signedBytes signs w and returns the token's encoding.
func signedBytes(key crypto.PrivKey, w tokenWire) ([]byte, error) {
	w.Signature = nil
	unsigned, err := encMode.Marshal(w)
	if err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "encoding: %v", err)
	}
	sig, err := key.Sign(append([]byte(signingDomain), unsigned...))
	if err != nil {
		return nil, fmt.Errorf("capabilities: signing token: %w", err)
	}
	w.Signature = sig
	data, err := encMode.Marshal(w)
	if err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "encoding: %v", err)
	}
	return data, nil
}

// checkAttenuation reports whether a child with these claims, issued by
// issuer, stays within parent p. what names the child in errors.
func checkAttenuation(p *Token, issuer peer.ID, sb Sandbox, nbf, exp int64, what string) error {
	if p.audience != issuer {
		return tokenErr(ErrBrokenChain, "", "%s is issued by %s, but its parent %s was issued to %s", what, issuer, p.ID(), p.audience)
	}
	if !sb.IsSubset(p.sandbox) {
		return tokenErr(ErrWidened, "", "%s grants more than its parent %s: %s is not within %s", what, p.ID(), sb, p.sandbox)
	}
	if p.notBefore != 0 && (nbf == 0 || nbf < p.notBefore) {
		return tokenErr(ErrWidened, "", "%s is valid before its parent %s (%s)", what, p.ID(), fmtUnix(p.notBefore))
	}
	if exp > p.expires {
		return tokenErr(ErrWidened, "", "%s outlives its parent %s (which expires %s)", what, p.ID(), fmtUnix(p.expires))
	}
	return nil
}

func fmtUnix(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// ParseToken reads the printed form of a token (surrounding white space
// is ignored). It checks the form only: see VerifyToken.
func ParseToken(s string) (*Token, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, TokenPrefix) {
		return nil, tokenErr(ErrMalformedToken, "", "a token starts with %q", TokenPrefix)
	}
	if len(s) > MaxTokenText {
		return nil, tokenErr(ErrMalformedToken, "", "token text is %d bytes, limit %d", len(s), MaxTokenText)
	}
	body := s[len(TokenPrefix):]
	data, err := b32.DecodeString(body)
	if err != nil || b32.EncodeToString(data) != body {
		return nil, tokenErr(ErrMalformedToken, "", "not lowercase base32 without padding")
	}
	return DecodeToken(data)
}

// DecodeToken reads the binary (CBOR) form of a token, as Bytes returns
// it. It checks the form only: see VerifyToken.
func DecodeToken(data []byte) (*Token, error) {
	return decodeToken(data, 1)
}

func decodeToken(data []byte, depth int) (*Token, error) {
	if len(data) > MaxTokenSize {
		return nil, tokenErr(ErrMalformedToken, "", "token is %d bytes, limit %d", len(data), MaxTokenSize)
	}
	var w tokenWire
	if err := decMode.Unmarshal(data, &w); err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "%v", err)
	}
	sig := w.Signature
	w.Signature = nil
	signed, err := encMode.Marshal(w)
	if err != nil {
		return nil, tokenErr(ErrMalformedToken, "", "%v", err)
	}
	w.Signature = sig
	if again, err := encMode.Marshal(w); err != nil || !bytes.Equal(again, data) {
		return nil, tokenErr(ErrMalformedToken, "", "not in canonical form")
	}
	t := &Token{raw: data, signed: signed, id: tokenID(signed), signature: sig, nonce: w.Nonce}
	malformed := func(format string, args ...any) error {
		return tokenErr(ErrMalformedToken, t.id, format, args...)
	}
	if w.Version != tokenVersion {
		return nil, malformed("version %d, want %d", w.Version, tokenVersion)
	}
	if t.issuer, err = peer.IDFromBytes(w.Issuer); err != nil {
		return nil, malformed("issuer: %v", err)
	}
	pub, err := t.issuer.ExtractPublicKey()
	if err != nil {
		return nil, malformed("issuer %s: peer ID does not embed a public key", t.issuer)
	}
	if canon, err := peer.IDFromPublicKey(pub); err != nil || canon != t.issuer {
		return nil, malformed("issuer %s: not the canonical peer ID of its key", t.issuer)
	}
	if t.audience, err = peer.IDFromBytes(w.Audience); err != nil {
		return nil, malformed("audience: %v", err)
	}
	if t.sandbox, err = w.Sandbox.fromWire(); err != nil {
		return nil, malformed("%v", err)
	}
	if w.Expires == 0 || w.Expires > maxUnixSeconds || w.NotBefore > maxUnixSeconds {
		return nil, malformed("time out of range")
	}
	t.notBefore, t.expires = int64(w.NotBefore), int64(w.Expires)
	if t.notBefore >= t.expires {
		return nil, malformed("not-before %s is not before expiry %s", fmtUnix(t.notBefore), fmtUnix(t.expires))
	}
	if len(w.Nonce) != NonceSize {
		return nil, malformed("nonce is %d bytes, want %d", len(w.Nonce), NonceSize)
	}
	if len(sig) == 0 || len(sig) > MaxSignatureSize {
		return nil, malformed("signature missing or longer than %d bytes", MaxSignatureSize)
	}
	if w.Parent != nil {
		if depth >= MaxChainDepth {
			return nil, tokenErr(ErrChainTooDeep, t.id, "more than %d links", MaxChainDepth)
		}
		if t.parent, err = decodeToken(w.Parent, depth+1); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// tokenID is the first 16 bytes of the SHA-256 of the unsigned encoding,
// in base32: 26 characters. The signature is left out so that a token has
// one ID however its signature is written.
func tokenID(unsigned []byte) string {
	h := sha256.Sum256(unsigned)
	return b32.EncodeToString(h[:16])
}

// ID identifies the token (revocation, grants, audit log).
func (t *Token) ID() string { return t.id }

// String is the printed form: TokenPrefix and the lowercase base32 of
// Bytes. ParseToken reads it back.
func (t *Token) String() string { return TokenPrefix + b32.EncodeToString(t.raw) }

// MarshalText is String, so tokens can sit in JSON as strings.
func (t *Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText is ParseToken.
func (t *Token) UnmarshalText(b []byte) error {
	p, err := ParseToken(string(b))
	if err != nil {
		return err
	}
	*t = *p
	return nil
}

// Bytes is the canonical CBOR encoding, signature included.
func (t *Token) Bytes() []byte { return bytes.Clone(t.raw) }

// Nonce is the token's random nonce (a copy), which makes two tokens
// with the same claims distinct.
func (t *Token) Nonce() []byte { return bytes.Clone(t.nonce) }

// Signature is the issuer's signature over the token's encoding without
// it (a copy).
func (t *Token) Signature() []byte { return bytes.Clone(t.signature) }

// Issuer is the peer that signed the token.
func (t *Token) Issuer() peer.ID { return t.issuer }

// Audience is the peer the token is granted to.
func (t *Token) Audience() peer.ID { return t.audience }

// Sandbox is what the token grants (normalized).
func (t *Token) Sandbox() Sandbox { return t.sandbox }

// NotBefore is when the token becomes valid; the zero Time if it has no
// lower bound.
func (t *Token) NotBefore() time.Time {
	if t.notBefore == 0 {
		return time.Time{}
	}
	return time.Unix(t.notBefore, 0).UTC()
}

// Expires is when the token stops being valid.
func (t *Token) Expires() time.Time { return time.Unix(t.expires, 0).UTC() }

// Parent is the token this one is delegated from, or nil.
func (t *Token) Parent() *Token { return t.parent }

// Chain lists the token and its ancestors, the token first, its root last.
func (t *Token) Chain() []*Token {
	var out []*Token
	for x := t; x != nil; x = x.parent {
		out = append(out, x)
	}
	return out
}

// Root is the first token of the chain, issued by the node that grants.
func (t *Token) Root() *Token {
	for t.parent != nil {
		t = t.parent
	}
	return t
}

// Depth is the number of tokens in the chain (1 for a root token).
func (t *Token) Depth() int { return len(t.Chain()) }

// VerifyToken checks that remote, the authenticated peer presenting tok
// to self, may use it at time now, and returns the sandbox it grants.
// Checks, cheapest first, each naming the link of the chain that failed:
//
//  1. chain length (ErrChainTooDeep);
//  2. the root was issued by self (ErrNotRootedHere);
//  3. the token's audience is remote (ErrWrongAudience);
//  4. every link's signature, with the key embedded in its issuer's peer
//     ID (ErrBadSignature);
//  5. every link's issuer is its parent's audience (ErrBrokenChain), and
//     its sandbox and time window lie within its parent's (ErrWidened);
//  6. no link is revoked (ErrRevoked; revoked may be nil);
//  7. now is within every link's window (ErrNotYetValid, ErrExpired):
//     exactly for links self issued (its own clock set them), widened by
//     skew on both sides for links another issuer's clock set.
//
// Errors are *TokenError. Signatures are checked only for tokens that
// name this node as root and the caller as audience, so a peer cannot
// make the node verify signatures of tokens that could never apply.
func VerifyToken(tok *Token, now time.Time, self, remote peer.ID, revoked func(id string) bool, skew time.Duration) (Sandbox, error) {
	if err := verifyChain(tok, now, self, remote, self, revoked, skew, ErrNotRootedHere, "this node"); err != nil {
		return Sandbox{}, err
	}
	return tok.sandbox, nil
}

// verifyChain makes VerifyToken's checks of a token rooted at root and
// held by holder, as checked by self (whose own links' windows apply
// exactly). A root other than root fails with notRooted, naming what
// root is (rootWhat).
func verifyChain(tok *Token, now time.Time, root, holder, self peer.ID, revoked func(id string) bool, skew time.Duration, notRooted error, rootWhat string) error {
	if tok == nil || tok.raw == nil {
		return tokenErr(ErrMalformedToken, "", "no token")
	}
	chain := tok.Chain()
	if len(chain) > MaxChainDepth {
		return tokenErr(ErrChainTooDeep, tok.id, "%d links, limit %d", len(chain), MaxChainDepth)
	}
	first := chain[len(chain)-1]
	if first.issuer != root {
		return tokenErr(notRooted, first.id, "issued by %s, and %s is %s", first.issuer, rootWhat, root)
	}
	if tok.audience != holder {
		return tokenErr(ErrWrongAudience, tok.id, "issued to %s, presented by %s", tok.audience, holder)
	}
	for _, t := range chain {
		pub, err := t.issuer.ExtractPublicKey()
		if err != nil {
			return tokenErr(ErrBadSignature, t.id, "issuer key: %v", err)
		}
		ok, err := pub.Verify(append([]byte(signingDomain), t.signed...), t.signature)
		if err != nil || !ok {
			return tokenErr(ErrBadSignature, t.id, "not signed by its issuer %s", t.issuer)
		}
	}
	for _, t := range chain {
		if t.parent == nil {
			continue
		}
		if err := checkAttenuation(t.parent, t.issuer, t.sandbox, t.notBefore, t.expires, "it"); err != nil {
			err.(*TokenError).TokenID = t.id
			return err
		}
	}
	if revoked != nil {
		for _, t := range chain {
			if revoked(t.id) {
				return tokenErr(ErrRevoked, t.id, "")
			}
		}
	}
	for _, t := range chain {
		if err := t.checkWindow(now, self, skew); err != nil {
			return err
		}
	}
	return nil
}

// checkWindow checks that now lies in the link's validity window. The
// skew allowance covers the clock of another issuer only: a window this
// node set itself (a link it issued) was computed with the clock it
// checks with, so it applies exactly.
func (t *Token) checkWindow(now time.Time, self peer.ID, skew time.Duration) error {
	if t.issuer == self {
		skew = 0
	}
	if t.notBefore != 0 && now.Add(skew).Unix() < t.notBefore {
		return tokenErr(ErrNotYetValid, t.id, "valid from %s", fmtUnix(t.notBefore))
	}
	if now.Add(-skew).Unix() >= t.expires {
		return tokenErr(ErrExpired, t.id, "expired %s", fmtUnix(t.expires))
	}
	return nil
}

// WindowStatus says what VerifyToken's time check does with tok at now
// when presented to self: "active", "not yet valid" or "expired", using
// the same rule (exact for links self issued, skew for the others).
func WindowStatus(tok *Token, now time.Time, self peer.ID, skew time.Duration) string {
	for _, t := range tok.Chain() {
		err := t.checkWindow(now, self, skew)
		switch {
		case errors.Is(err, ErrNotYetValid):
			return "not yet valid"
		case errors.Is(err, ErrExpired):
			return "expired"
		}
	}
	return "active"
}
