package capabilities

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultSandboxName is the name of Policy.Default; peers may be mapped to
// it explicitly.
const DefaultSandboxName = "default"

// A Policy says what foreign evaluations from each peer may do before any
// token is presented: unknown peers get Default, known peers the named
// sandbox Peers maps them to (instead of Default, not on top of it).
// Tokens can only add to it (see For). The zero Policy grants nothing;
// DefaultPolicy is what a new repo starts with.
//
// JSON form (the "policy" section of config.json), strict:
//
//	{
//	  "default":   {"allow": ["pure"], "fuel": 10000000, ...},
//	  "sandboxes": {"friends": {"allow": ["pure", "remote"], "targets": ["any"], ...}},
//	  "peers":     {"12D3KooW...": "friends"}
//	}
//
// A missing "default" is DefaultPolicy's.
type Policy struct {
	Default   Sandbox
	Sandboxes map[string]Sandbox
	Peers     map[peer.ID]string
}

// DefaultPolicy lets unknown peers evaluate pure code (any definition)
// within the default budgets, and nothing else.
func DefaultPolicy() *Policy {
	return &Policy{Default: PureSandbox(DefaultBudget())}
}

// SandboxOf returns the sandbox the policy gives remote, and its name
// (DefaultSandboxName for unknown peers).
func (p *Policy) SandboxOf(remote peer.ID) (Sandbox, string) {
	if p == nil {
		return Sandbox{}, DefaultSandboxName
	}
	if name, ok := p.Peers[remote]; ok {
		if sb, ok := p.Sandboxes[name]; ok {
			return sb.Normalize(), name
		}
	}
	return p.Default.Normalize(), DefaultSandboxName
}

// A TokenProblem is a presented token that did not verify, and why.
// Index is its position among the presented tokens.
type TokenProblem struct {
	Index   int
	TokenID string // "" for a nil token
	Err     error
}

// For returns the sandbox of an evaluation that remote asks self to run:
// the policy's sandbox for remote joined (Union) with the sandboxes of the
// presented tokens that verify (VerifyToken with ClockSkew). Tokens that
// do not verify add nothing and are reported, so the node can log them
// and, if the evaluation is then denied, say why.
func (p *Policy) For(self, remote peer.ID, now time.Time, revoked func(id string) bool, tokens ...*Token) (Sandbox, []TokenProblem) {
	out, _ := p.SandboxOf(remote)
	var problems []TokenProblem
	for i, t := range tokens {
		if i >= MaxPresentedTokens {
			problems = append(problems, TokenProblem{Index: i, TokenID: t.safeID(),
				Err: tokenErr(ErrMalformedToken, t.safeID(), "more than %d tokens presented", MaxPresentedTokens)})
			continue
		}
		sb, err := VerifyToken(t, now, self, remote, revoked, ClockSkew)
		if err != nil {
			problems = append(problems, TokenProblem{Index: i, TokenID: t.safeID(), Err: err})
			continue
		}
		out = Union(out, sb)
	}
	return out, problems
}

func (t *Token) safeID() string {
	if t == nil {
		return ""
	}
	return t.id
}

// Validate reports an invalid sandbox, a peer mapped to a sandbox that
// does not exist, or a bad sandbox name.
func (p *Policy) Validate() error {
	if err := p.Default.Validate(); err != nil {
		return fmt.Errorf("policy: default sandbox: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(p.Sandboxes)) {
		if err := checkSandboxName(name); err != nil {
			return err
		}
		if err := p.Sandboxes[name].Validate(); err != nil {
			return fmt.Errorf("policy: sandbox %s: %w", name, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(p.Peers)) {
		if err := checkPeer(id); err != nil {
			return fmt.Errorf("policy: peer: %w", err)
		}
		name := p.Peers[id]
		if _, ok := p.Sandboxes[name]; !ok && name != DefaultSandboxName {
			return invalidf("policy: peer %s uses sandbox %q, which is not defined", id, name)
		}
	}
	return nil
}

func checkSandboxName(name string) error {
	if name == "" || len(name) > 64 || name == DefaultSandboxName {
		return invalidf("policy: bad sandbox name %q (1-64 of a-z A-Z 0-9 _ . -; %q is reserved)", name, DefaultSandboxName)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return invalidf("policy: bad sandbox name %q (1-64 of a-z A-Z 0-9 _ . -)", name)
		}
	}
	return nil
}

// SetSandbox defines or replaces a named sandbox.
func (p *Policy) SetSandbox(name string, sb Sandbox) error {
	if name == DefaultSandboxName {
		if err := sb.Validate(); err != nil {
			return err
		}
		p.Default = sb.Normalize()
		return nil
	}
	if err := checkSandboxName(name); err != nil {
		return err
	}
	if err := sb.Validate(); err != nil {
		return err
	}
	if p.Sandboxes == nil {
		p.Sandboxes = map[string]Sandbox{}
	}
	p.Sandboxes[name] = sb.Normalize()
	return nil
}

// RemoveSandbox deletes a named sandbox; it fails while a peer uses it.
func (p *Policy) RemoveSandbox(name string) error {
	for _, id := range slices.Sorted(maps.Keys(p.Peers)) {
		if p.Peers[id] == name {
			return invalidf("policy: sandbox %s is used by peer %s", name, id)
		}
	}
	if _, ok := p.Sandboxes[name]; !ok {
		return invalidf("policy: no sandbox %q", name)
	}
	delete(p.Sandboxes, name)
	return nil
}

// SetPeer maps a peer to a named sandbox; an empty name forgets the peer
// (it gets Default again).
func (p *Policy) SetPeer(id peer.ID, name string) error {
	if err := checkPeer(id); err != nil {
		return err
	}
	if name == "" {
		delete(p.Peers, id)
		return nil
	}
	if _, ok := p.Sandboxes[name]; !ok && name != DefaultSandboxName {
		return invalidf("policy: no sandbox %q", name)
	}
	if p.Peers == nil {
		p.Peers = map[peer.ID]string{}
	}
	p.Peers[id] = name
	return nil
}

type policyJSON struct {
	Default   *Sandbox           `json:"default,omitempty"`
	Sandboxes map[string]Sandbox `json:"sandboxes,omitempty"`
	Peers     map[string]string  `json:"peers,omitempty"`
}

// MarshalJSON writes the JSON form, peers by their text peer IDs.
func (p Policy) MarshalJSON() ([]byte, error) {
	j := policyJSON{Default: &p.Default, Sandboxes: p.Sandboxes}
	if len(p.Peers) > 0 {
		j.Peers = map[string]string{}
		for id, name := range p.Peers {
			j.Peers[id.String()] = name
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the JSON form strictly (unknown keys are errors)
// and validates the result.
func (p *Policy) UnmarshalJSON(data []byte) error {
	var j policyJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if dec.More() {
		return invalidf("policy: trailing data")
	}
	out := Policy{Default: DefaultPolicy().Default, Sandboxes: j.Sandboxes}
	if j.Default != nil {
		out.Default = *j.Default
	}
	for text, name := range j.Peers {
		id, err := peer.Decode(text)
		if err != nil {
			return invalidf("policy: peer %q: %v", text, err)
		}
		if out.Peers == nil {
			out.Peers = map[peer.ID]string{}
		}
		out.Peers[id] = name
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*p = out
	return nil
}
