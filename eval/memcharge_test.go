package eval

import (
	"strings"
	"testing"
)

// Memory charged tracks what a program holds, not every intermediate
// copy (docs/language.md, "How memory is charged"). The sandbox budget
// below is capabilities.DefaultMemory (64 MiB), the default for foreign
// code; eval cannot import capabilities, so it is repeated here.
const sandboxMemory = 64 << 20

const memChargeProgram = `
textLoop n = List.foldl (acc i -> acc ++ Int.toText i ++ "\n") "" (List.range 0 n)
mapFold n = List.foldl (m i -> Map.insert i (i * 2) m) Map.empty (List.range 0 n)
`

func TestMemoryChargeTextAppendLoop(t *testing.T) {
	p := newProgram(t, memChargeProgram)
	th := p.thread()
	// Before in-place appends this charged 7.0 GB (every intermediate
	// copy); the 50000 Int.toText pieces, the list and the buffers are
	// now about 4.8 MB.
	th.MaxMemory = 8 << 20
	th.Fuel = sandboxFuel // was 110 million steps
	v, err := p.eval(t, th, "Text.length (textLoop 50000)")
	if err != nil {
		t.Fatalf("289 KB text under an 8 MiB budget: %v (charged %d)", err, th.MemoryUsed())
	}
	if v != MakeInt(288890) {
		t.Fatalf("length %v", v)
	}
	t.Logf("Text ++ loop, 288890 bytes: charged %d bytes, %d steps", th.MemoryUsed(), th.Steps())
}

func TestMemoryChargeMapFold(t *testing.T) {
	p := newProgram(t, memChargeProgram)
	th := p.thread()
	// Before path copies were charged at sizeMapCopy this charged 153 MB.
	th.MaxMemory = sandboxMemory
	th.Fuel = sandboxFuel
	v, err := p.eval(t, th, "Map.size (mapFold 100000)")
	if err != nil {
		t.Fatalf("100k-key map fold under 64 MiB: %v (charged %d)", err, th.MemoryUsed())
	}
	if v != MakeInt(100000) {
		t.Fatalf("size %v", v)
	}
	t.Logf("Map fold, 100k keys: charged %d bytes, %d steps", th.MemoryUsed(), th.Steps())
}

// The charges are deterministic: the same evaluation on fresh threads
// is charged the same, byte for byte.
func TestMemoryChargeDeterministic(t *testing.T) {
	p := newProgram(t, memChargeProgram)
	for _, e := range []string{"Text.length (textLoop 3000)", "Map.size (mapFold 3000)"} {
		var first int64
		for i := range 3 {
			th := p.thread()
			if _, err := p.eval(t, th, e); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = th.MemoryUsed()
			} else if th.MemoryUsed() != first {
				t.Fatalf("%s: charged %d, then %d", e, first, th.MemoryUsed())
			}
		}
	}
}

// In-place appends must not change a text another value already holds:
// appending twice to the same prefix, or to an older version, copies.
func TestTextAppendKeepsVersions(t *testing.T) {
	p := newProgram(t, memChargeProgram+`
twice = let big = Text.repeat 300 "a"
            a = big ++ "x"
            b = big ++ "y"
            c = a ++ "1"
            d = a ++ "2"
        in (Text.drop 299 a, Text.drop 299 b, Text.drop 299 c, Text.drop 299 d, Text.length big)
bytesTwice = let big = Bytes.fromList (List.replicate 300 7)
                 a = big ++ Bytes.fromList [1]
                 b = big ++ Bytes.fromList [2]
             in (Bytes.drop 299 a, Bytes.drop 299 b, Bytes.length big)
prefixes n = List.foldl (acc i -> List.snoc acc (Text.concat (Optional.withDefault "" (List.last acc)) (Int.toText i))) [""] (List.range 0 n)
`)
	if got, want := p.show(t, "twice"), `("ax", "ay", "ax1", "ax2", 300)`; got != want {
		t.Fatalf("twice = %s, want %s", got, want)
	}
	if got, want := p.show(t, "bytesTwice"), `(0xs0701, 0xs0702, 300)`; got != want {
		t.Fatalf("bytesTwice = %s, want %s", got, want)
	}
	if got, want := p.show(t, "List.map Text.length (List.drop 2001 (prefixes 2003))"), `[6894, 6898, 6902]`; got != want {
		t.Fatalf("prefixes = %s, want %s", got, want)
	}
}

// toText of a value with much shared structure (a tower of pairs whose
// expansion is 2^25 leaves) fails the memory budget instead of printing
// the expansion, and stops early.
func TestToTextSharedTower(t *testing.T) {
	p := newProgram(t, `
tower n = if n == 0 then (1, 1) else let a = tower (n - 1) in (a, a)
`)
	th := p.thread()
	th.MaxMemory = 10 << 20
	_, err := p.eval(t, th, "toText (tower 24)")
	wantBudget(t, err, BudgetMemory)
	if got, want := p.show(t, "Text.length (toText (tower 3))"), "76"; got != want {
		t.Fatalf("toText (tower 3) has length %s, want %s", got, want)
	}
}

// Debug.trace hands the label and value to Thread.Trace and charges the
// same with and without it.
func TestDebugTrace(t *testing.T) {
	p := newProgram(t, `f n = List.sum (List.map (i -> Debug.trace "i" (i * i)) (List.range 0 n))`)
	var got []string
	with := p.thread()
	with.Trace = func(label, v string) { got = append(got, label+"="+v) }
	v1, err := p.eval(t, with, "f 4")
	if err != nil {
		t.Fatal(err)
	}
	without := p.thread()
	v2, err := p.eval(t, without, "f 4")
	if err != nil {
		t.Fatal(err)
	}
	if v1 != v2 || v1 != MakeInt(14) {
		t.Fatalf("results %v, %v", v1, v2)
	}
	if want := "i=0 i=1 i=4 i=9"; strings.Join(got, " ") != want {
		t.Fatalf("traced %q, want %q", got, want)
	}
	if with.Steps() != without.Steps() || with.MemoryUsed() != without.MemoryUsed() {
		t.Fatalf("charged %d steps %d bytes with a trace hook, %d steps %d bytes without",
			with.Steps(), with.MemoryUsed(), without.Steps(), without.MemoryUsed())
	}
}
