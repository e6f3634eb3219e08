package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
)

// Reading tokens: `unode token inspect` decodes one without checking it
// (no daemon, no repo), and `unode token verify` asks this node whether it
// would accept one from a peer, with the same check an eval request's
// tokens get (capabilities.VerifyToken against the node's revocations,
// with capabilities.ClockSkew) — through the daemon when one runs, since
// revocations live in the store.

// tokenLink is one token of a delegation chain, decoded.
type tokenLink struct {
	ID        string     `json:"id"`
	Issuer    string     `json:"issuer"`
	Audience  string     `json:"audience"`
	Sandbox   string     `json:"sandbox"` // the flag syntax of `unode grant`; "" grants nothing
	NotBefore *time.Time `json:"notBefore,omitempty"`
	Expires   time.Time  `json:"expires"`
	// Nonce and Signature are hex: what makes the token unique, and the
	// issuer's signature over the rest of its encoding.
	Nonce     string `json:"nonce"`
	Signature string `json:"signature"`
}

func linkOf(t *capabilities.Token) tokenLink {
	l := tokenLink{ID: t.ID(), Issuer: t.Issuer().String(), Audience: t.Audience().String(),
		Sandbox: t.Sandbox().String(), Expires: t.Expires(),
		Nonce: hex.EncodeToString(t.Nonce()), Signature: hex.EncodeToString(t.Signature())}
	if nb := t.NotBefore(); !nb.IsZero() {
		l.NotBefore = &nb
	}
	return l
}

// tokenInspectResult is a token's decoded contents. Nothing in it has
// been verified: a forged token decodes as well as a real one.
type tokenInspectResult struct {
	tokenLink
	// Root is the issuer of the chain's first token: the node that must
	// verify the token (only it accepts it).
	Root string `json:"root"`
	// Depth is the number of tokens in the chain, 1 for a token the
	// root issued directly.
	Depth int `json:"depth"`
	// Window is what the time check alone finds now, as the root sees
	// it: "active", "not yet valid" or "expired".
	Window string `json:"window"`
	// Chain is every token of the chain, this one first, the root's
	// last (so Chain[0] repeats the fields above).
	Chain []tokenLink `json:"chain"`
	Bytes int         `json:"bytes"` // the binary encoding's size
}

func inspectToken(tok *capabilities.Token, now time.Time) *tokenInspectResult {
	r := &tokenInspectResult{tokenLink: linkOf(tok), Root: tok.Root().Issuer().String(), Depth: tok.Depth(),
		Window: capabilities.WindowStatus(tok, now, tok.Root().Issuer(), capabilities.ClockSkew),
		Bytes:  len(tok.Bytes())}
	for _, t := range tok.Chain() {
		r.Chain = append(r.Chain, linkOf(t))
	}
	return r
}

func (r *tokenInspectResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "token     %s (not verified)\n", r.ID)
	fmt.Fprintf(&b, "issuer    %s\n", r.Issuer)
	fmt.Fprintf(&b, "audience  %s\n", r.Audience)
	fmt.Fprintf(&b, "grants    %s\n", orNothing(r.Sandbox))
	fmt.Fprintf(&b, "valid     %s (%s now)\n", windowText(r.tokenLink), r.Window)
	fmt.Fprintf(&b, "nonce     %s\n", r.Nonce)
	fmt.Fprintf(&b, "signature %s\n", r.Signature)
	if r.Depth == 1 {
		fmt.Fprintf(&b, "chain     1 token: issued by its root, which alone accepts it\n")
		return b.String()
	}
	fmt.Fprintf(&b, "chain     %d tokens, delegated from the root %s:\n", r.Depth, r.Root)
	for i, l := range r.Chain[1:] {
		fmt.Fprintf(&b, "  %d. %s  %s -> %s  %s  %s\n", i+1, l.ID, l.Issuer, l.Audience, windowText(l), orNothing(l.Sandbox))
	}
	return b.String()
}

func windowText(l tokenLink) string {
	from := "from issue"
	if l.NotBefore != nil {
		from = "from " + l.NotBefore.UTC().Format(time.RFC3339)
	}
	return from + " until " + l.Expires.UTC().Format(time.RFC3339)
}

// --- verify ---

type tokenVerifyRequest struct {
	Token string `json:"token"`
	// From is the peer presenting the token (peer ID or /p2p/
	// multiaddr); "" means the token's audience.
	From string `json:"from,omitempty"`
}

// tokenVerifyResult says whether this node accepts the token from From
// now, and if not which check failed, as an eval request's token report
// would.
type tokenVerifyResult struct {
	ID       string `json:"id"`
	Node     string `json:"node"` // the verifier: this node
	From     string `json:"from"`
	Accepted bool   `json:"accepted"`
	// Reason, when refused, names the first check that failed, in
	// VerifyToken's order (one of tokenReasons).
	Reason string `json:"reason,omitempty"`
	// Link is the ID of the token of the chain that failed (the token
	// itself, or one of its parents).
	Link   string `json:"link,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Sandbox is what the token adds to the policy's sandbox for From,
	// when accepted.
	Sandbox string `json:"sandbox,omitempty"`
	// Until is when, at the latest, the node stops accepting it (the
	// chain's first expiry, with the skew allowance for links other
	// nodes issued), when accepted.
	Until   *time.Time `json:"until,omitempty"`
	Checked time.Time  `json:"checked"`
}

// tokenReasons names the failures of capabilities.VerifyToken for
// programs (--json "reason"); docs/cli.md lists them.
var tokenReasons = []struct {
	err  error
	name string
}{
	{capabilities.ErrMalformedToken, "malformed"},
	{capabilities.ErrChainTooDeep, "chain-too-deep"},
	{capabilities.ErrNotRootedHere, "not-issued-here"},
	{capabilities.ErrWrongAudience, "wrong-audience"},
	{capabilities.ErrBadSignature, "bad-signature"},
	{capabilities.ErrBrokenChain, "broken-chain"},
	{capabilities.ErrWidened, "widened"},
	{capabilities.ErrRevoked, "revoked"},
	{capabilities.ErrNotYetValid, "not-yet-valid"},
	{capabilities.ErrExpired, "expired"},
}

func tokenReason(err error) string {
	for _, r := range tokenReasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "error"
}

// ExitStatus makes `unode token verify` exit 1 for a token the node
// would refuse, after printing why.
func (r *tokenVerifyResult) ExitStatus() int {
	if r.Accepted {
		return 0
	}
	return 1
}

func (r *tokenVerifyResult) Text() string {
	if r.Accepted {
		return fmt.Sprintf("accepted: token %s from %s grants %s until %s", r.ID, r.From, orNothing(r.Sandbox), r.Until.UTC().Format(time.RFC3339))
	}
	s := fmt.Sprintf("refused: token %s from %s: %s", r.ID, r.From, r.Reason)
	if r.Link != "" && r.Link != r.ID {
		s += " (its parent " + r.Link + ")"
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

var tokenVerifyOp = &operation[tokenVerifyRequest, tokenVerifyResult]{
	name: "token/verify",
	do: func(ctx context.Context, b *backend, req *tokenVerifyRequest) (*tokenVerifyResult, error) {
		tok, err := capabilities.ParseToken(req.Token)
		if err != nil {
			return nil, err
		}
		from := tok.Audience()
		if req.From != "" {
			if from, err = decodePeer(req.From); err != nil {
				return nil, err
			}
		}
		self, err := peer.Decode(b.selfID())
		if err != nil {
			return nil, err
		}
		return verifyToken(ctx, b.grantStore(), tok, self, from, time.Now())
	},
}

// verifyToken checks tok as self would, presented by from at now. A
// revocation that cannot be read is an error, not a refusal: the node
// refuses such a token too (it fails closed), but saying "revoked" would
// be false.
func verifyToken(ctx context.Context, grants *capabilities.Store, tok *capabilities.Token, self, from peer.ID, now time.Time) (*tokenVerifyResult, error) {
	var unreadable error
	revoked := func(id string) bool {
		ok, err := grants.IsRevoked(ctx, id)
		if err != nil && unreadable == nil {
			unreadable = err
		}
		return ok || err != nil
	}
	out := &tokenVerifyResult{ID: tok.ID(), Node: self.String(), From: from.String(), Checked: now.UTC()}
	sb, err := capabilities.VerifyToken(tok, now, self, from, revoked, capabilities.ClockSkew)
	if unreadable != nil && errors.Is(err, capabilities.ErrRevoked) {
		return nil, fmt.Errorf("reading the revocation list: %w", unreadable)
	}
	if err != nil {
		out.Reason = tokenReason(err)
		var te *capabilities.TokenError
		if errors.As(err, &te) {
			out.Link, out.Detail = te.TokenID, te.Detail
		} else {
			out.Detail = err.Error()
		}
		return out, nil
	}
	out.Accepted = true
	out.Sandbox = sb.String()
	until := acceptedUntil(tok, self)
	out.Until = &until
	return out, nil
}

// acceptedUntil is when VerifyToken's time check starts refusing tok at
// self: the earliest expiry in the chain, exact for links self issued and
// ClockSkew later for the others.
func acceptedUntil(tok *capabilities.Token, self peer.ID) time.Time {
	var until time.Time
	for _, t := range tok.Chain() {
		exp := t.Expires()
		if t.Issuer() != self {
			exp = exp.Add(capabilities.ClockSkew)
		}
		if until.IsZero() || exp.Before(until) {
			until = exp
		}
	}
	return until.UTC()
}
