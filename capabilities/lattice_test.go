package capabilities

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A small universe, so that random sandboxes overlap often.
var (
	uGroups   = []string{GroupPure, GroupRemote, GroupChannel, GroupCluster}
	uNames    = []string{"Int.sub", "Int.add", "Op.sub", "at", "send", "provision", "Float.sub"}
	uPatterns = []string{"", "a", "a/", "a/b", "=a", "=a/b", "b/", "=b", "ab"}
	uKeys     = []string{"", "a", "a/", "a/b", "a/bc", "ab", "b", "b/", "b/x", "c"}
	uClusters = []string{"stats", "batch", "x y"}
)

type universe struct {
	cids  []cid.Cid
	peers []peer.ID
}

func newUniverse(t testing.TB) universe {
	return universe{
		cids:  []cid.Cid{testCID(t, "1"), testCID(t, "2"), testCID(t, "3")},
		peers: []peer.ID{mustPeer(t, peerA), mustPeer(t, peerB)},
	}
}

func pick[T any](r *rand.Rand, xs []T) []T {
	var out []T
	for _, x := range xs {
		if r.IntN(3) == 0 {
			out = append(out, x)
		}
	}
	return out
}

func (u universe) random(r *rand.Rand) Sandbox {
	var s Sandbox
	for _, g := range pick(r, uGroups) {
		s.Groups = append(s.Groups, Group{Name: g, Deny: pick(r, uNames)})
	}
	s.Read = pick(r, uPatterns)
	s.Write = pick(r, uPatterns)
	if r.IntN(3) == 0 {
		s.AnyCode = true
	} else {
		s.Code = pick(r, u.cids)
	}
	if r.IntN(4) == 0 {
		s.AnyTarget = true
	} else {
		s.Targets = pick(r, u.peers)
	}
	s.Members = pick(r, uClusters)
	levels := []int64{0, 5, 10}
	s.Budget = Budget{
		Fuel:   levels[r.IntN(3)],
		Memory: levels[r.IntN(3)],
		Time:   time.Duration(levels[r.IntN(3)]) * time.Second,
		Result: levels[r.IntN(3)],
	}
	return s
}

// lawCatalog puts every name of uNames in the group its prefix suggests,
// and has no covering operators, so allowsName is the plain set semantics.
var lawCatalog = Catalog{GroupOf: testCatalog.GroupOf}

// grants evaluates every question of the universe against s: the set
// semantics that Union, Intersect and IsSubset must respect.
func (u universe) grants(s Sandbox) []bool {
	c := NewChecker(s, lawCatalog, "", "")
	var out []bool
	for _, n := range uNames {
		out = append(out, c.allowsName(n))
	}
	for _, op := range []string{DataGet, DataList, DataPut} {
		for _, k := range uKeys {
			out = append(out, c.AllowsData(op, k))
		}
	}
	for _, x := range u.cids {
		out = append(out, c.AllowsDef(x))
	}
	for _, p := range u.peers {
		out = append(out, c.AllowsTarget(p.String()))
	}
	for _, name := range uClusters {
		out = append(out, s.Normalize().GrantsMembership(name))
	}
	return out
}

func TestLatticeLaws(t *testing.T) {
	u := newUniverse(t)
	r := rand.New(rand.NewPCG(1, 2))
	eq := func(what string, x, y Sandbox) {
		t.Helper()
		if !x.Equal(y) {
			t.Fatalf("%s: %q != %q", what, x, y)
		}
	}
	for i := 0; i < 3000; i++ {
		a, b, c := u.random(r), u.random(r), u.random(r)
		eq("union commutes", Union(a, b), Union(b, a))
		eq("intersection commutes", Intersect(a, b), Intersect(b, a))
		eq("union associates", Union(a, Union(b, c)), Union(Union(a, b), c))
		eq("intersection associates", Intersect(a, Intersect(b, c)), Intersect(Intersect(a, b), c))
		eq("union idempotent", Union(a, a), a.Normalize())
		eq("intersection idempotent", Intersect(a, a), a.Normalize())
		eq("absorption 1", Union(a, Intersect(a, b)), a.Normalize())
		eq("absorption 2", Intersect(a, Union(a, b)), a.Normalize())
		eq("bottom", Union(a, Sandbox{}), a.Normalize())
		if !a.IsSubset(Union(a, b)) || !Intersect(a, b).IsSubset(a) || !(Sandbox{}).IsSubset(a) || !a.IsSubset(a) {
			t.Fatalf("subset not consistent with join/meet for %q, %q", a, b)
		}
		sub := a.IsSubset(b)
		if sub != Union(a, b).Equal(b) || sub != Intersect(a, b).Equal(a) {
			t.Fatalf("IsSubset(%q, %q) = %v disagrees with Union/Intersect", a, b, sub)
		}
		if sub && b.IsSubset(a) != a.Equal(b) {
			t.Fatalf("antisymmetry fails for %q, %q", a, b)
		}
		if a.IsSubset(b) && b.IsSubset(c) && !a.IsSubset(c) {
			t.Fatalf("transitivity fails")
		}

		// The algebra is exact for what a Checker answers.
		ga, gb := u.grants(a), u.grants(b)
		gu, gi := u.grants(Union(a, b)), u.grants(Intersect(a, b))
		for k := range ga {
			if gu[k] != (ga[k] || gb[k]) {
				t.Fatalf("union of %q and %q: question %d: %v, want %v", a, b, k, gu[k], ga[k] || gb[k])
			}
			if gi[k] != (ga[k] && gb[k]) {
				t.Fatalf("intersection of %q and %q: question %d: %v, want %v", a, b, k, gi[k], ga[k] && gb[k])
			}
			if sub && ga[k] && !gb[k] {
				t.Fatalf("IsSubset(%q, %q) but question %d is allowed only by the first", a, b, k)
			}
		}

		// Text, JSON and CBOR forms round-trip.
		if back, err := ParseSandbox(a.String()); err != nil || !back.Equal(a) {
			t.Fatalf("text round trip of %q: %q, %v", a, back, err)
		}
		if back, err := a.toWire().fromWire(); err != nil || !back.Equal(a) {
			t.Fatalf("CBOR round trip of %q: %q, %v", a, back, err)
		}
	}
}
