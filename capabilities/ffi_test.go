package capabilities

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestFFISandbox: native groups (ffi:GROUP) in the text syntax, JSON,
// tokens and the lattice, and the checks they answer.
func TestFFISandbox(t *testing.T) {
	sb, err := ParseSandbox("--allow pure --allow ffi:Sensor --allow ffi:Door --fuel 10")
	if err != nil {
		t.Fatal(err)
	}
	if want := "--allow pure --allow ffi:Door --allow ffi:Sensor --fuel 10"; sb.String() != want {
		t.Errorf("String = %q, want %q", sb.String(), want)
	}
	if !sb.GrantsFFI("Sensor") || sb.GrantsFFI("sensor") || sb.GrantsFFI("Other") {
		t.Errorf("GrantsFFI wrong for %v", sb)
	}
	j, err := json.Marshal(sb)
	if err != nil {
		t.Fatal(err)
	}
	var back Sandbox
	if err := json.Unmarshal(j, &back); err != nil || !back.Equal(sb) {
		t.Errorf("JSON %s read back as %v (%v)", j, back, err)
	}

	// In a token, through its wire form.
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ak, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	aud, _ := peer.IDFromPrivateKey(ak)
	tok, err := Issue(sk, Claims{Audience: aud, Sandbox: sb, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseToken(tok.String())
	if err != nil || !parsed.Sandbox().Equal(sb) {
		t.Errorf("token sandbox %v (%v), want %v", parsed.Sandbox(), err, sb)
	}

	// The lattice.
	door, _ := ParseSandbox("--allow pure --allow ffi:Door --fuel 10")
	sensor, _ := ParseSandbox("--allow pure --allow ffi:Sensor --fuel 10")
	if !door.IsSubset(sb) || sb.IsSubset(door) || door.IsSubset(sensor) {
		t.Error("IsSubset ignores native groups")
	}
	if u := Union(door, sensor); !u.Equal(sb) {
		t.Errorf("Union = %v", u)
	}
	if i := Intersect(door, sensor); len(i.FFI) != 0 {
		t.Errorf("Intersect = %v", i)
	}

	// Malformed groups.
	for _, bad := range []string{"--allow ffi", "--allow ffi:", "--allow ffi:1x", "--allow ffi:a.b", "--allow ffi:" + strings.Repeat("a", MaxFFIGroupLen+1)} {
		if _, err := ParseSandbox(bad); !errors.Is(err, ErrInvalidSandbox) {
			t.Errorf("%s: %v, want ErrInvalidSandbox", bad, err)
		}
	}
	many := Sandbox{Groups: []Group{{Name: GroupPure}}}
	for i := range MaxFFIGroups + 1 {
		many.FFI = append(many.FFI, "G"+strings.Repeat("x", i))
	}
	if err := many.Validate(); !errors.Is(err, ErrInvalidSandbox) {
		t.Errorf("%d native groups: %v", len(many.FFI), err)
	}
	if err := (Sandbox{Groups: []Group{{Name: GroupFFI}}}).Validate(); !errors.Is(err, ErrInvalidSandbox) {
		t.Errorf("ffi as a whole group: %v", err)
	}

	// The checks: Native.call is allowed with any native group, each
	// native only with its own.
	cat := Catalog{GroupOf: func(n string) string {
		if n == "Native.call" {
			return GroupFFI
		}
		return GroupPure
	}}
	self, _ := peer.IDFromPrivateKey(sk)
	if err := NewChecker(door, cat, self, aud).CheckBuiltin("Native.call"); err != nil {
		t.Errorf("Native.call with ffi:Door: %v", err)
	}
	pure, _ := ParseSandbox("--allow pure --fuel 10")
	var de *DeniedError
	if err := NewChecker(pure, cat, self, aud).CheckBuiltin("Native.call"); !errors.As(err, &de) || !strings.Contains(de.Detail, "ffi:GROUP") {
		t.Errorf("Native.call without a native group: %v", err)
	}
	if err := NewChecker(door, cat, self, aud).CheckNative("Sensor.temperature", "Sensor"); !errors.As(err, &de) || de.Kind != DeniedFFI || de.Detail != "needs ffi:Sensor" {
		t.Errorf("CheckNative Sensor with ffi:Door: %v", err)
	}
	if err := NewChecker(sb, cat, self, aud).CheckNative("Sensor.temperature", "Sensor"); err != nil {
		t.Errorf("CheckNative Sensor with ffi:Sensor: %v", err)
	}
}
