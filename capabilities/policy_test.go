package capabilities

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPolicyFor(t *testing.T) {
	w := newWorld(t)
	p := DefaultPolicy()
	if err := p.SetSandbox("friends", mustParse(t, "--allow pure --allow remote --allow-target any --fuel 100")); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPeer(w.ids["worker"], "friends"); err != nil {
		t.Fatal(err)
	}
	self := w.ids["owner"]

	// Unknown peers get the default; known ones their named sandbox.
	sb, problems := p.For(self, w.ids["eve"], w.now, nil)
	if !sb.Equal(PureSandbox(DefaultBudget())) || problems != nil {
		t.Errorf("unknown peer: %q, %v", sb, problems)
	}
	if sb, name := p.SandboxOf(w.ids["worker"]); name != "friends" || !sb.Equal(p.Sandboxes["friends"]) {
		t.Errorf("known peer: %q %q", name, sb)
	}

	// Tokens that verify are joined; the others are reported.
	tok := w.grant("owner", "insurer", "--allow data.read:health/ --fuel 100000000", nil, 0, time.Hour)
	stranger := w.grant("third", "insurer", "--allow data.write:", nil, 0, time.Hour)
	sb, problems = p.For(self, w.ids["insurer"], w.now, nil, tok, stranger, nil)
	want := Union(PureSandbox(DefaultBudget()), tok.Sandbox())
	if !sb.Equal(want) {
		t.Errorf("joined sandbox %q, want %q", sb, want)
	}
	if sb.Budget.Fuel != 100000000 || sb.Budget.Memory != DefaultMemory {
		t.Errorf("budget %+v", sb.Budget)
	}
	if len(problems) != 2 || problems[0].Index != 1 || problems[0].TokenID != stranger.ID() ||
		!errors.Is(problems[0].Err, ErrNotRootedHere) || problems[1].Index != 2 || !errors.Is(problems[1].Err, ErrMalformedToken) {
		t.Errorf("problems %+v", problems)
	}

	// The same token presented by another peer adds nothing.
	sb, problems = p.For(self, w.ids["eve"], w.now, nil, tok)
	if !sb.Equal(PureSandbox(DefaultBudget())) || len(problems) != 1 || !errors.Is(problems[0].Err, ErrWrongAudience) {
		t.Errorf("stolen token: %q %v", sb, problems)
	}

	// Too many tokens.
	many := make([]*Token, MaxPresentedTokens+1)
	for i := range many {
		many[i] = tok
	}
	_, problems = p.For(self, w.ids["insurer"], w.now, nil, many...)
	if len(problems) != 1 || problems[0].Index != MaxPresentedTokens {
		t.Errorf("too many tokens: %+v", problems)
	}
}

func TestPolicyJSON(t *testing.T) {
	w := newWorld(t)
	p := DefaultPolicy()
	if err := p.SetSandbox("trusted", mustParse(t, "--allow pure --allow remote --fuel 5")); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPeer(w.ids["worker"], "trusted"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPeer(w.ids["eve"], DefaultSandboxName); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(data) {
		t.Errorf("policy JSON round trip:\n%s\n%s", data, again)
	}

	// A missing default is the built-in one.
	if err := json.Unmarshal([]byte(`{}`), &back); err != nil || !back.Default.Equal(DefaultPolicy().Default) {
		t.Errorf("empty policy: %v %q", err, back.Default)
	}
	for _, bad := range []string{
		`{"defualt": {}}`,
		`{"default": {"allow": ["pure"], "fule": 3}}`,
		`{"peers": {"` + w.ids["worker"].String() + `": "nosuch"}}`,
		`{"peers": {"notapeer": "default"}}`,
		`{"sandboxes": {"default": {}}}`,
		`{"sandboxes": {"a b": {}}}`,
		`{"sandboxes": {"x": {"allow": ["magic"]}}}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("json.Unmarshal(%s) succeeded", bad)
		}
	}

	if err := p.RemoveSandbox("trusted"); err == nil || !strings.Contains(err.Error(), "used by") {
		t.Errorf("RemoveSandbox of a used sandbox: %v", err)
	}
	if err := p.SetPeer(w.ids["worker"], ""); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveSandbox("trusted"); err != nil {
		t.Error(err)
	}
	if err := p.SetPeer(w.ids["worker"], "trusted"); err == nil {
		t.Errorf("SetPeer to a removed sandbox succeeded")
	}
}
