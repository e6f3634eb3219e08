package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/p2p/repo"
)

func newPeerKey(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// repoKey opens the repo (no daemon runs) for its key and closes it.
func repoKey(t *testing.T, path string) (crypto.PrivKey, peer.ID) {
	t.Helper()
	r, err := repo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.Key, r.ID
}

func mustSandbox(t *testing.T, s string) capabilities.Sandbox {
	t.Helper()
	sb, err := capabilities.ParseSandbox(s)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// TestTokenInspect: inspect decodes a delegated token's whole chain
// without a repo or daemon, as text and JSON.
func TestTokenInspect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	aliceKey, alice := newPeerKey(t)
	_, bob := newPeerKey(t)
	parentText := strings.TrimSpace(mustCLI(t, "grant", "--to", alice.String(), "--allow", "pure", "--allow", "remote", "--expires", "2h"))
	_, self := repoKey(t, path)
	parent, err := capabilities.ParseToken(parentText)
	if err != nil {
		t.Fatal(err)
	}
	child, err := parent.Delegate(aliceKey, capabilities.Claims{Audience: bob, Sandbox: mustSandbox(t, "--allow pure"), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	// No repo is needed: point UNODE_PATH at nothing, which stays so.
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv(repo.EnvPath, none)
	out := mustCLI(t, "token", "inspect", child.String())
	for _, want := range []string{"token     " + child.ID() + " (not verified)", "issuer    " + alice.String(), "audience  " + bob.String(),
		"grants    --allow pure", "(active now)", "chain     2 tokens, delegated from the root " + self.String(), parent.ID()} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect text lacks %q:\n%s", want, out)
		}
	}
	var res tokenInspectResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "token", "inspect", child.String())), &res); err != nil {
		t.Fatal(err)
	}
	if res.ID != child.ID() || res.Issuer != alice.String() || res.Audience != bob.String() || res.Root != self.String() ||
		res.Depth != 2 || res.Window != "active" || len(res.Chain) != 2 || res.Chain[0].ID != child.ID() ||
		res.Chain[1].ID != parent.ID() || res.Chain[1].Sandbox != "--allow pure --allow remote" || res.NotBefore != nil ||
		!res.Expires.Equal(child.Expires()) {
		t.Errorf("inspect --json = %+v", res)
	}
	if res.Nonce != hex.EncodeToString(child.Nonce()) || len(child.Nonce()) == 0 ||
		res.Signature != hex.EncodeToString(child.Signature()) || len(child.Signature()) == 0 ||
		res.Chain[1].Signature != hex.EncodeToString(parent.Signature()) {
		t.Errorf("inspect --json nonce %q signature %q, want the token's", res.Nonce, res.Signature)
	}
	if !strings.Contains(out, "signature "+res.Signature) || !strings.Contains(out, "nonce     "+res.Nonce) {
		t.Errorf("inspect text lacks the nonce or the signature:\n%s", out)
	}
	if repo.Exists(none) {
		t.Error("token inspect created a repo")
	}
	if line := failCLI(t, "token", "inspect", "unode1notatoken"); !strings.Contains(line, "malformed token") {
		t.Errorf("inspect of a bad token: %q", line)
	}
}

// TestTokenVerify: verify says, as the node's own check would, whether a
// token is accepted from a peer, names the failing check and link, and
// exits 1 when it is refused; without a daemon it reads the repo's
// revocations.
func TestTokenVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t.Setenv(repo.EnvPath, path)
	aliceKey, alice := newPeerKey(t)
	_, bob := newPeerKey(t)
	strangerKey, _ := newPeerKey(t)
	parentText := strings.TrimSpace(mustCLI(t, "grant", "--to", alice.String(), "--allow", "pure", "--expires", "2h"))
	key, self := repoKey(t, path)
	parent, _ := capabilities.ParseToken(parentText)
	child, err := parent.Delegate(aliceKey, capabilities.Claims{Audience: bob, Sandbox: mustSandbox(t, "--allow pure"), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(signer crypto.PrivKey, nbf, exp time.Time) string {
		tok, err := capabilities.Issue(signer, capabilities.Claims{Audience: alice, Sandbox: mustSandbox(t, "--allow pure"), NotBefore: nbf, Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		return tok.String()
	}
	now := time.Now()
	expired := issue(key, now.Add(-2*time.Hour), now.Add(-time.Hour))
	early := issue(key, now.Add(time.Hour), now.Add(2*time.Hour))
	foreign := issue(strangerKey, time.Time{}, now.Add(time.Hour))
	forged := forgeSignature(t, parentText)

	verify := func(args ...string) (tokenVerifyResult, int, string) {
		t.Helper()
		out, errs, code := cli(t, append([]string{"--json", "token", "verify"}, args...)...)
		var r tokenVerifyResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("verify %v: %v; stdout %q stderr %q", args, err, out, errs)
		}
		return r, code, errs
	}
	r, code, _ := verify(parentText)
	if !r.Accepted || code != 0 || r.From != alice.String() || r.Node != self.String() || r.Sandbox != "--allow pure" || r.Until == nil || !r.Until.Equal(parent.Expires()) {
		t.Errorf("verify of a fresh grant: exit %d, %+v", code, r)
	}
	r, code, _ = verify(child.String())
	if !r.Accepted || code != 0 || r.From != bob.String() || !r.Until.Equal(child.Expires().Add(capabilities.ClockSkew)) {
		t.Errorf("verify of a delegation: exit %d, %+v", code, r)
	}
	for _, c := range []struct {
		name, token, from, reason, link string
	}{
		{"wrong audience", parentText, bob.String(), "wrong-audience", parent.ID()},
		{"expired", expired, "", "expired", ""},
		{"not yet valid", early, "", "not-yet-valid", ""},
		{"not issued here", foreign, "", "not-issued-here", ""},
		{"bad signature", forged, "", "bad-signature", ""},
	} {
		args := []string{c.token}
		if c.from != "" {
			args = append(args, "--from", c.from)
		}
		r, code, errs := verify(args...)
		if r.Accepted || code != 1 || r.Reason != c.reason || (c.link != "" && r.Link != c.link) || errs != "" {
			t.Errorf("%s: exit %d, stderr %q, %+v; want refused, reason %s", c.name, code, errs, r, c.reason)
		}
	}
	out, _, code := cli(t, "token", "verify", expired)
	if code != 1 || !strings.HasPrefix(out, "refused: token ") || !strings.Contains(out, ": expired: expired ") {
		t.Errorf("verify text of an expired token: exit %d, %q", code, out)
	}

	// Revoking the parent refuses the delegation, naming the parent.
	mustCLI(t, "revoke", parent.ID())
	r, code, _ = verify(child.String())
	if r.Accepted || code != 1 || r.Reason != "revoked" || r.Link != parent.ID() {
		t.Errorf("verify of a delegation of a revoked token: exit %d, %+v", code, r)
	}
	out, _, _ = cli(t, "token", "verify", child.String())
	if !strings.Contains(out, "revoked (its parent "+parent.ID()+")") {
		t.Errorf("verify text of a revoked chain: %q", out)
	}

	// The same through the daemon, which holds the repo.
	_, stop := inProcessDaemon(t)
	defer stop()
	r, code, _ = verify(child.String())
	if r.Accepted || code != 1 || r.Reason != "revoked" || r.Node != self.String() {
		t.Errorf("through the daemon: exit %d, %+v", code, r)
	}
	fresh := strings.TrimSpace(mustCLI(t, "grant", "--to", alice.String(), "--allow", "pure", "--expires", "1h"))
	if r, code, _ = verify(fresh); !r.Accepted || code != 0 {
		t.Errorf("through the daemon, a fresh grant: exit %d, %+v", code, r)
	}
	_, errs, code := cli(t, "--json", "token", "verify", "unode1notatoken")
	var je apiError
	if code != 1 || json.Unmarshal([]byte(errs), &je) != nil || je.Code != codeBadToken {
		t.Errorf("verify of a bad token through the daemon: exit %d, stderr %q", code, errs)
	}
}

// forgeSignature flips the last byte of a token's encoding: its
// signature's, so the token still decodes but does not verify.
func forgeSignature(t *testing.T, text string) string {
	t.Helper()
	tok, err := capabilities.ParseToken(text)
	if err != nil {
		t.Fatal(err)
	}
	raw := tok.Bytes()
	raw[len(raw)-1] ^= 1
	forged, err := capabilities.DecodeToken(raw)
	if err != nil {
		t.Fatalf("the forged token does not decode: %v", err)
	}
	return forged.String()
}
