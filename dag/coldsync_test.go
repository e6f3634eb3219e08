package dag

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// Receive names a block as NewBlock does (receivedCID is SumCID without
// its allocations).
func TestReceivedCIDMatchesSumCID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 55, 56, 64, 300, 4096, 100_000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if got, want := Receive(data).CID(), SumCID(data); !got.Equals(want) || got.KeyString() != want.KeyString() {
			t.Errorf("%d bytes: Receive names it %s, NewBlock %s", n, got, want)
		}
	}
}

// Blocks of fastTinyArenaMinBlock bytes and more decode into an arena
// (fastArenaTiny, fastArenaSmall from fastSmallArenaMinBlock, and
// fastArena from fastArenaMinBlock): one definition of many nodes (past
// the arena's room, so the slabs go on from it), several definitions
// (members outside the arena), and the one-pass decoding agrees with the
// general path's for each.
func TestFastArenaAgrees(t *testing.T) {
	big := benchTerm()
	for range 3 {
		big = &App{Fn: &Builtin{Name: "List.sum"}, Args: []Term{big, big, &Text{V: "x"}}}
	}
	var many []Term
	for _, tc := range codecTerms {
		many = append(many, tc.t)
	}
	// Each of fastArenaTiny's and fastArenaSmall's sizes: calls of
	// builtins on a variable and ints, under an if, as many as make it
	// 128 to 255 bytes, past both arenas' rooms of Ifs and Apps.
	var small Term = &Var{Index: 0}
	var smallData []byte
	tiny, smalls := 0, 0
	for k := 0; len(smallData) < fastMidArenaMinBlock; k++ {
		small = &If{Cond: &App{Fn: &Builtin{Name: "<"}, Args: []Term{&Var{Index: 0}, &Int{V: int64(k)}}},
			Then: small, Else: &App{Fn: &Builtin{Name: "+"}, Args: []Term{&Var{Index: 0}, &Int{V: -int64(k)}}}}
		var err error
		if smallData, err = EncodeTermBlock(&TermBlock{Members: []Term{&Lam{Arity: 1, Body: small}}}); err != nil {
			t.Fatal(err)
		}
		if len(smallData) < fastTinyArenaMinBlock || len(smallData) >= fastMidArenaMinBlock {
			continue
		}
		if len(smallData) < fastSmallArenaMinBlock {
			tiny++
		} else {
			smalls++
		}
		if !checkFastAgrees(t, smallData) {
			t.Errorf("%d bytes: the one pass did not take it", len(smallData))
		}
	}
	if tiny == 0 || smalls == 0 {
		t.Errorf("%d blocks of fastArenaTiny's sizes, %d of fastArenaSmall's", tiny, smalls)
	}
	for _, data := range [][]byte{coldSyncSmall(t), coldSyncTypical(t)} {
		if !checkFastAgrees(t, data) {
			t.Errorf("%d bytes: the one pass did not take the cold sync's block", len(data))
		}
	}
	for _, ms := range [][]Term{{benchTerm()}, {big}, many, {big, benchTerm()}} {
		data, err := EncodeTermBlock(&TermBlock{Members: ms})
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < fastArenaMinBlock {
			t.Fatalf("%d members: %d bytes, below the arena's %d", len(ms), len(data), fastArenaMinBlock)
		}
		if !checkFastAgrees(t, data) {
			t.Errorf("%d members, %d bytes: the one pass did not take it", len(ms), len(data))
		}
	}
}

// Builtin names read by the one pass are interned: equal names, one
// string, and a name never comes back as another's.
func TestInternName(t *testing.T) {
	a, b := internName([]byte("Text.length")), internName([]byte("Text.length"))
	if a != "Text.length" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("interned %q and %q apart", a, b)
	}
	for i := range 5000 {
		name := "n" + strconv.Itoa(i)
		if got := internName([]byte(name)); got != name {
			t.Fatalf("internName(%q) = %q", name, got)
		}
	}
	long := strings.Repeat("x", maxInternedName+1)
	if got := internName([]byte(long)); got != long {
		t.Errorf("a long name came back as %q", got)
	}
}
