package dag

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// fastSeeds are blocks fastBlock must take: every term and type block
// the codec tests make, one holding them all, and the benchmark's.
func fastSeeds(t testing.TB) [][]byte {
	var out [][]byte
	var all []Term
	for _, tc := range codecTerms {
		all = append(all, tc.t)
		data, err := EncodeTermBlock(&TermBlock{Members: []Term{tc.t}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	out = append(out, coldSyncTypical(t))
	for _, ts := range [][]Term{all, {benchTerm()}} {
		data, err := EncodeTermBlock(&TermBlock{Members: ts})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	var decl DataDecl
	for _, tc := range codecTypes {
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t})
		data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{{Params: 1, Ctors: [][]TypeTerm{{tc.t}}}}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	decl.Ctors = append(decl.Ctors, nil)
	data, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{&decl, {Params: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, data, schemaBase(t), schemaTypeBase(t))
	return out
}

// checkFastAgrees: whatever fastBlock takes, the general path takes
// too, decoded alike and with the same links; the schema check finds
// it valid; and every check built on it (DecodeTermBlock,
// DecodeTypeBlock, ValidatedLinks) answers as the general path does.
func checkFastAgrees(t *testing.T, data []byte) (taken bool) {
	t.Helper()
	b, links, ok := fastBlock(data)
	tb, terr := decodeTermBlockGeneral(data)
	yb, yerr := decodeTypeBlockGeneral(data)
	glinks, gerr := validatedGeneral(data)
	vlinks, verr := ValidatedLinks(data)
	if (gerr == nil) != (verr == nil) || gerr != nil && gerr.Error() != verr.Error() {
		t.Fatalf("%x: ValidatedLinks: %v, general path: %v", data, verr, gerr)
	}
	if !slices.EqualFunc(glinks, vlinks, cid.Cid.Equals) {
		t.Fatalf("%x: ValidatedLinks %v, general path %v", data, vlinks, glinks)
	}
	ftb, ferr := DecodeTermBlock(data)
	if (terr == nil) != (ferr == nil) || terr != nil && terr.Error() != ferr.Error() {
		t.Fatalf("%x: DecodeTermBlock: %v, general path: %v", data, ferr, terr)
	}
	fyb, fyerr := DecodeTypeBlock(data)
	if (yerr == nil) != (fyerr == nil) || yerr != nil && yerr.Error() != fyerr.Error() {
		t.Fatalf("%x: DecodeTypeBlock: %v, general path: %v", data, fyerr, yerr)
	}
	if !ok {
		return false
	}
	if gerr != nil {
		t.Fatalf("%x: fastBlock takes it, the schema check refuses it: %v", data, gerr)
	}
	all, err := Links(data)
	if err != nil || !slices.EqualFunc(all, links, cid.Cid.Equals) {
		t.Fatalf("%x: fastBlock links %v, Links %v (%v)", data, links, all, err)
	}
	var general, fast any
	var enc []byte
	switch x := b.(type) {
	case *TermBlock:
		if terr != nil {
			t.Fatalf("%x: fastBlock takes a term block DecodeTermBlock refuses: %v", data, terr)
		}
		general, fast = tb, ftb
		enc, err = EncodeTermBlock(x)
	case *TypeBlock:
		if yerr != nil {
			t.Fatalf("%x: fastBlock takes a type block DecodeTypeBlock refuses: %v", data, yerr)
		}
		general, fast = yb, fyb
		enc, err = EncodeTypeBlock(x)
	default:
		t.Fatalf("%x: fastBlock gave %T", data, b)
	}
	if err != nil || !bytes.Equal(enc, data) {
		t.Fatalf("%x: fastBlock's block re-encodes to %x (%v)", data, enc, err)
	}
	// NaN is not equal to itself: re-encoding compared those.
	if !bytes.Contains(data, []byte(floatNaN)) && !reflect.DeepEqual(general, fast) {
		t.Fatalf("%x: fastBlock decodes %#v, the general path %#v", data, fast, general)
	}
	return true
}

func TestFastBlockTakesWhatUnodeWrites(t *testing.T) {
	for _, data := range fastSeeds(t) {
		if !checkFastAgrees(t, data) {
			t.Errorf("fastBlock leaves %x to the general path", data)
		}
	}
}

// Every truncation, and random changes of one to three bytes, of the
// seeds: fastBlock never takes what the general path refuses.
func TestFastBlockMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	taken, left := 0, 0
	for _, data := range fastSeeds(t) {
		for i := range data {
			checkFastAgrees(t, data[:i])
		}
		for range 300 {
			m := slices.Clone(data)
			for range 1 + r.IntN(3) {
				m[r.IntN(len(m))] = byte(r.UintN(256))
			}
			if checkFastAgrees(t, m) {
				taken++
			} else {
				left++
			}
		}
	}
	t.Logf("mutations: %d taken by fastBlock, %d left to the general path", taken, left)
}

func TestFastBlockDepth(t *testing.T) {
	var tm Term = &Int{V: 1}
	for range fastMaxDepth + 10 {
		tm = &Delay{Body: tm}
	}
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}})
	if err != nil {
		t.Fatal(err)
	}
	if checkFastAgrees(t, data) {
		t.Errorf("fastBlock took a block nested deeper than %d", fastMaxDepth)
	}
	if _, err := DecodeTermBlock(data); err != nil {
		t.Errorf("the general path refuses it: %v", err)
	}
}

// FuzzFastBlock: fastBlock takes only what the general path takes,
// decoded alike, and every decoder built on it answers as the general
// path does, errors included.
func FuzzFastBlock(f *testing.F) {
	for _, data := range fastSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastAgrees(t, data)
	})
}

// coldSyncTypicalBlock is a block of BenchmarkColdSync's typical
// closure (p2p), as the compiler writes it: a definition of three local
// bindings, a text literal, a match, two ifs, a dozen calls of builtins
// and a call of the definition below it (one link), 315 bytes. It is
// the block the callee of a cold sync decodes a thousand of.
const coldSyncTypicalBlock = "a3646b696e64647465726d65756e6f646501676d656d6265727381a1647465726d830b01830d840c8203664f702e616464840c8203664f702e6d756c820000820503820502830d840f840c8203654f702e677482000082051864840c8203664f702e73756282000082051864840c8203664f702e616464820000820507830d82076f6c6576656c20312c206974656d20328610830c8301d82a5825000171122025d461721b7b74a014930f937bf0d13de078302ceb6d11a1e91db19df3c17d5000840c8203664f702e6d6f6482000182051903e88202820500830c82036b546578742e6c656e6774688200008100840f840c8203654f702e677482000082051901f4840c8203664f702e737562820000820501830c8203684c6973742e73756d8412820000830c82036b546578742e6c656e677468820001820502"

func coldSyncTypical(t testing.TB) []byte { return hexBlock(t, coldSyncTypicalBlock) }

// coldSyncSmallBlock is a block of BenchmarkColdSync's small closure: an
// if, a match on a call of the definition below it, three calls of
// builtins, 171 bytes (fastArenaTiny's sizes).
const coldSyncSmallBlock = "a3646b696e64647465726d65756e6f646501676d656d6265727381a1647465726d830b01840f840c8203654f702e677482000082051a000f42408200008610830c8301d82a582500017112206cdfc7817f7a79c77dceaf3c2ad6b0b47625b97a2f107a8a20c0ee86b61bf7a200840c8203664f702e6164648200008205181882028205008205018100840c8203664f702e616464840c8203664f702e6d6f6482000082051903e882051818"

func coldSyncSmall(t testing.TB) []byte { return hexBlock(t, coldSyncSmallBlock) }

func hexBlock(t testing.TB, s string) []byte {
	data, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// cpuNanos is the process's CPU time (user and system), for a
// benchmark's cpu-ns/op: on a machine shared with other work, the wall
// time per op counts the time the process waited for a core, its CPU
// time does not (it counts the collector's background work, which
// ns/op hides on a second core).
func cpuNanos(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkFastBlock: a definition block decoded in one pass, beside the
// general path's decoding and schema check, in one run; and the block
// of a cold sync's typical closure decoded as the callee decodes it
// (fastBlockScan, builtins collected).
func BenchmarkFastBlock(b *testing.B) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{benchTerm()}})
	if err != nil {
		b.Fatal(err)
	}
	for _, cs := range []struct {
		name string
		data []byte
	}{{"coldsync", coldSyncTypical(b)}, {"coldsync-small", coldSyncSmall(b)}} {
		b.Run(cs.name, func(b *testing.B) {
			b.SetBytes(int64(len(cs.data)))
			b.ReportAllocs()
			cpu0 := cpuNanos(b)
			for b.Loop() {
				if _, _, _, ok := fastBlockScan(cs.data); !ok {
					b.Fatal("left to the general path")
				}
			}
			b.ReportMetric(float64(cpuNanos(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
	for _, bc := range []struct {
		name string
		f    func([]byte) error
	}{
		{"fastBlock", func(d []byte) error { _, _, ok := fastBlock(d); return boolErr(ok) }},
		{"fastBlockScan", func(d []byte) error { _, _, _, ok := fastBlockScan(d); return boolErr(ok) }},
		{"DecodeTermBlock", func(d []byte) error { _, err := DecodeTermBlock(d); return err }},
		{"ValidatedLinks", func(d []byte) error { _, err := ValidatedLinks(d); return err }},
		{"general/DecodeTermBlock", func(d []byte) error { _, err := decodeTermBlockGeneral(d); return err }},
		{"general/ValidatedLinks", func(d []byte) error { _, err := validatedGeneral(d); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.f(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func boolErr(ok bool) error {
	if !ok {
		return ErrMalformed
	}
	return nil
}

// The store's keys and its check of CIDs, read in place, agree with
// the go-cid accessors they replace.
func TestKeysInPlace(t *testing.T) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{&Int{V: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ours := NewBlock(data).CID
	raw := cid.NewCidV1(cid.Raw, ours.Hash())
	v0 := cid.NewCidV0(ours.Hash())
	sha512, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: 0x13, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	short, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: 0x12, MhLength: 20}.Sum(data)
	if err != nil {
		t.Logf("no truncated sha2-256: %v", err)
		short = raw
	}
	for _, c := range []cid.Cid{ours, raw, v0, sha512, short, cid.Undef} {
		p := c.Prefix()
		want := c.Defined() && p.Version == 1 && p.Codec == cid.DagCBOR && p.MhType == 0x12 && p.MhLength == 32
		if got := supportedCID(c); got != want {
			t.Errorf("supportedCID(%s) = %v, want %v", c, got, want)
		}
		if !c.Defined() {
			continue
		}
		if got, want := mhKey(c), mhKeyEncoding.EncodeToString(c.Hash()); got != want {
			t.Errorf("mhKey(%s) = %s, want %s", c, got, want)
		}
	}
}

// canonicalCID makes the CID cid.Cast makes of the same bytes: equal,
// with the same binary form, version, codec and hash.
func TestCanonicalCID(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		b := append([]byte{}, canonicalLinkHead[5:]...)
		for range 32 {
			b = append(b, byte(r.UintN(256)))
		}
		want, err := cid.Cast(b)
		if err != nil {
			t.Fatal(err)
		}
		got := canonicalCID(slices.Clone(b))
		if !got.Equals(want) || got.KeyString() != want.KeyString() || got.String() != want.String() ||
			got.Prefix() != want.Prefix() || !bytes.Equal(got.Hash(), want.Hash()) || !supportedCID(got) {
			t.Fatalf("canonicalCID(%x) = %s, cid.Cast %s", b, got, want)
		}
	}
}

// fastNames sorts as slices.Sort does, names sharing their first 8
// bytes, prefixes of others and NUL bytes included, and keeps each once,
// past its room too.
func TestFastNamesSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	parts := []string{"", "\x00", "a", "Op.", "Op.add", "Text.len", "Text.length", "Text.lengths", "\xff", "List.sum"}
	for round := range 500 {
		var c fastNames
		var want []string
		for range r.IntN(40) {
			name := parts[r.IntN(len(parts))] + parts[r.IntN(len(parts))]
			if round%2 == 0 {
				name += strconv.Itoa(r.IntN(30))
			}
			c.add(name)
			if !slices.Contains(want, name) {
				want = append(want, name)
			}
		}
		slices.Sort(want)
		if want == nil {
			want = []string{}
		}
		if got := c.sorted(); got == nil || !slices.Equal(got, want) {
			t.Fatalf("sorted %q, want %q", got, want)
		}
	}
}

// Two names of one hash both stay interned: reading them in turn, each
// comes back as the string it was first.
func TestInternNameSharedSlots(t *testing.T) {
	byIndex := map[*[2]atomic.Pointer[string]]string{}
	var a, b string
	for i := 0; b == ""; i++ {
		name := "shared." + strconv.Itoa(i)
		set, _ := nameSlots([]byte(name))
		if other, ok := byIndex[set]; ok {
			a, b = other, name
		}
		byIndex[set] = name
	}
	sa, sb := internName([]byte(a)), internName([]byte(b))
	for range 3 {
		if got := internName([]byte(a)); unsafe.StringData(got) != unsafe.StringData(sa) {
			t.Fatalf("%q was interned again", a)
		}
		if got, ok := lookupName([]byte(b)); !ok || unsafe.StringData(got) != unsafe.StringData(sb) {
			t.Fatalf("%q was not kept", b)
		}
	}
}

// Each arena is within the size class its comment gives, with the
// allocator's 8-byte header for objects of more than 512 bytes: a field
// more would cost the next class's bytes for every block.
func TestFastArenaSizes(t *testing.T) {
	const header = 8
	for _, a := range []struct {
		name       string
		size, room uintptr
	}{
		{"fastArena", unsafe.Sizeof(fastArena{}), 2048},
		{"fastArenaMid", unsafe.Sizeof(fastArenaMid{}), 1792},
		{"fastArenaSmall", unsafe.Sizeof(fastArenaSmall{}), 1024},
		{"fastArenaTiny", unsafe.Sizeof(fastArenaTiny{}), 768},
	} {
		if a.size+header > a.room {
			t.Errorf("%s is %d bytes, more than its %d-byte size class holds", a.name, a.size, a.room)
		}
	}
}

// Blocks of each arena's sizes decode into it alike: the cold sync's
// typical block (fastArenaMid), the benchmark's (fastArena).
func TestFastArenaMidAgrees(t *testing.T) {
	typical := coldSyncTypical(t)
	if len(typical) < fastMidArenaMinBlock || len(typical) >= fastArenaMinBlock {
		t.Fatalf("the typical block is %d bytes, not in fastArenaMid's range", len(typical))
	}
	if !checkFastAgrees(t, typical) {
		t.Error("the one pass did not take the typical block")
	}
	// One past each of the mid arena's rooms: the slabs go on from it.
	var many Term = &List{Elems: []Term{&Float{V: 1}, &Float{V: 2}, &Float{V: 3}, &Text{V: "a"}, &Text{V: "b"}}}
	tried := 0
	for k := 0; ; k++ {
		many = &Let{Value: many, Body: &If{Cond: &Var{Index: k % 3}, Then: &Int{V: int64(k)}, Else: &Builtin{Name: "Op.add"}}}
		data, err := EncodeTermBlock(&TermBlock{Members: []Term{many}})
		if err != nil {
			t.Fatal(err)
		}
		if len(data) >= fastArenaMinBlock {
			break
		}
		if len(data) >= fastMidArenaMinBlock {
			tried++
			if !checkFastAgrees(t, data) {
				t.Errorf("%d bytes: the one pass did not take it", len(data))
			}
		}
	}
	if tried < 5 {
		t.Errorf("%d blocks in fastArenaMid's range", tried)
	}
}

// A block naming builtins again and again, past fastNamesRoom distinct
// ones, names interned or not yet, empty and invalid ones among the
// mutations: the one pass (its names read through the room, collected
// or not) decodes it as the general path does, and fastBlockScan
// collects each name once, sorted.
func TestFastBuiltinNamesRepeat(t *testing.T) {
	for _, distinct := range []int{1, 3, fastNamesRoom - 1, fastNamesRoom, fastNamesRoom + 1, 3 * fastNamesRoom} {
		var args []Term
		var want []string
		for i := range 3 * distinct {
			name := "Repeat." + strconv.Itoa(distinct) + "." + strconv.Itoa((i*7)%distinct)
			args = append(args, &Builtin{Name: name})
			if !slices.Contains(want, name) {
				want = append(want, name)
			}
		}
		want = append(want, "Op.add")
		slices.Sort(want)
		data, err := EncodeTermBlock(&TermBlock{Members: []Term{&App{Fn: &Builtin{Name: "Op.add"}, Args: args}}})
		if err != nil {
			t.Fatal(err)
		}
		if !checkFastAgrees(t, data) {
			t.Fatalf("%d names: the one pass did not take it", distinct)
		}
		_, _, got, ok := fastBlockScan(data)
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("%d names: fastBlockScan's builtins %q (%v), want %q", distinct, got, ok, want)
		}
	}
}

// BenchmarkFastNames: the typical block's builtin names resolved and
// collected as the one pass does (the room looked at first, then
// builtinNames: "room"), beside the way it did before (builtinNames for
// every name, then a search of the room to collect it: "lookup"),
// interleaved in one loop; each reports its ns per block.
func BenchmarkFastNames(b *testing.B) {
	data := coldSyncTypical(b)
	var names [][]byte
	for i := 0; i+3 < len(data); i++ {
		if data[i] == 0x82 && data[i+1] == tagBuiltin && data[i+2]>>5 == 3 && data[i+2]&31 < 24 {
			n := int(data[i+2] & 31)
			names = append(names, data[i+3:i+3+n])
		}
	}
	if len(names) < 10 {
		b.Fatalf("%d names found in the typical block", len(names))
	}
	var sink string
	const rounds = 64
	var tRoom, tLookup time.Duration
	for b.Loop() {
		t0 := time.Now()
		for range rounds {
			var c fastNames
			for _, n := range names {
				k := builtinKeyBytes(n)
				s, ok := find(&c, n, k)
				if !ok {
					s, ok = lookupNameKey(n, k)
					if !ok {
						s = internName(n)
					}
					c.addNew(s, k)
				}
				sink = s
			}
		}
		t1 := time.Now()
		for range rounds {
			var c fastNames
			for _, n := range names {
				s, ok := lookupName(n)
				if !ok {
					s = internName(n)
				}
				c.add(s)
				sink = s
			}
		}
		tLookup += time.Since(t1)
		tRoom += t1.Sub(t0)
	}
	_ = sink
	blocks := float64(b.N * rounds)
	b.ReportMetric(float64(tRoom.Nanoseconds())/blocks, "room-ns/block")
	b.ReportMetric(float64(tLookup.Nanoseconds())/blocks, "lookup-ns/block")
	b.ReportMetric(float64(tRoom)/float64(tLookup), "room/lookup")
}

// builtinKeyBytes and nameSlotsKey give what builtinKey and nameSlots
// give, for names of every length, at the end of their array or not.
func TestNameKeyBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		tail := append(slices.Clone(b), make([]byte, r.IntN(10))...)
		for i := len(b); i < len(tail); i++ {
			tail[i] = byte(r.UintN(256))
		}
		for _, n := range [][]byte{b, tail[:len(b)]} {
			k := builtinKeyBytes(n)
			if want := builtinKey(string(n)); k != want {
				t.Fatalf("builtinKeyBytes(%x) = %x, want %x", n, k, want)
			}
			gs, gh := nameSlotsKey(n, k)
			ws, wh := nameSlots(n)
			if gs != ws || gh != wh {
				t.Fatalf("nameSlotsKey(%x) = %p %x, nameSlots %p %x", n, gs, gh, ws, wh)
			}
		}
	}
}

// The leaves term and terms read without tagged (a Var, an Int of one
// byte, a Builtin, a call of a builtin): at the edges of their one-byte
// forms, with names of every short length (at the block's end too,
// where fewer than 8 bytes follow), and at the nesting limit; each
// decodes as the general path decodes it, and blocks within the limit
// are taken. (Empty and invalid names, which the encoder refuses, are
// FuzzFastBlock's and TestFastBlockMutations'.)
func TestFastLeaves(t *testing.T) {
	var leaves []Term
	for _, i := range []int{0, 1, 23, 24, 255, 256} {
		leaves = append(leaves, &Var{Index: i})
	}
	for _, v := range []int64{0, 1, 23, 24, -1, -24, -25, -256, math.MaxInt64, math.MinInt64} {
		leaves = append(leaves, &Int{V: v})
	}
	for n := 1; n < 30; n++ {
		leaves = append(leaves, &Builtin{Name: strings.Repeat("x", n)})
	}
	leaves = append(leaves, &Builtin{Name: "Op.add\x00"}, &Builtin{Name: "Op.add"})
	for _, l := range leaves {
		for _, tm := range []Term{
			l,
			&App{Fn: l, Args: []Term{l, l}},
			&App{Fn: &Builtin{Name: "Op.add"}, Args: []Term{l, &Var{Index: 1}}},
			&Lam{Arity: 1, Body: &App{Fn: l, Args: []Term{l}}},
		} {
			data, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}})
			if err != nil {
				t.Fatal(err)
			}
			if !checkFastAgrees(t, data) {
				t.Errorf("%#v: the one pass did not take it", tm)
			}
		}
	}
	// Leaves just within and just past the nesting limit.
	for depth := fastMaxDepth - 6; depth <= fastMaxDepth+1; depth++ {
		for _, l := range []Term{&Var{Index: 2}, &Int{V: -3}, &Builtin{Name: "Op.sub"}} {
			tm := Term(&App{Fn: l, Args: []Term{l}})
			for range depth - 4 {
				tm = &Delay{Body: tm}
			}
			data, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}})
			if err != nil {
				t.Fatal(err)
			}
			checkFastAgrees(t, data)
		}
	}
}

// Blocks naming the same builtins share one list of them (builtinLists),
// read only: equal to what each block names, of capacity its length (an
// append copies); other sets get lists of their own; and lists made and
// found at once, from several goroutines, are each right.
func TestBuiltinListsShared(t *testing.T) {
	block := func(names ...string) []byte {
		args := []Term{&Var{Index: 0}}
		for _, n := range names {
			args = append(args, &Builtin{Name: n})
		}
		data, err := EncodeTermBlock(&TermBlock{Members: []Term{&App{Fn: &Builtin{Name: names[0]}, Args: args}}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	scan := func(data []byte) []string {
		_, _, names, ok := fastBlockScan(data)
		if !ok {
			t.Fatalf("%x: left to the general path", data)
		}
		return names
	}
	a := scan(block("Shared.b", "Shared.a", "Shared.c"))
	b := scan(block("Shared.c", "Shared.a", "Shared.b", "Shared.a"))
	want := []string{"Shared.a", "Shared.b", "Shared.c"}
	if !slices.Equal(a, want) || !slices.Equal(b, want) || unsafe.SliceData(a) != unsafe.SliceData(b) || cap(a) != len(a) {
		t.Fatalf("lists %q (cap %d) and %q, not one list of %q", a, cap(a), b, want)
	}
	c := scan(block("Shared.a", "Shared.b"))
	if !slices.Equal(c, want[:2]) || unsafe.SliceData(c) == unsafe.SliceData(a) {
		t.Fatalf("a set of two: %q", c)
	}
	_ = append(a, "x")
	if !slices.Equal(b, want) {
		t.Fatalf("an append to one changed the other: %q", b)
	}
	var sets [][]string
	var blocks [][]byte
	for i := range 40 {
		var set []string
		for j := range 1 + i%fastNamesRoom {
			set = append(set, "Set."+strconv.Itoa(i%7)+"."+strconv.Itoa(j))
		}
		sets, blocks = append(sets, slices.Sorted(slices.Values(set))), append(blocks, block(set...))
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			for k := range 200 {
				i := (k * (g + 1)) % len(sets)
				_, _, got, ok := fastBlockScan(blocks[i])
				if !ok || !slices.Equal(got, sets[i]) {
					done <- fmt.Errorf("set %q: list %q (%v)", sets[i], got, ok)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
