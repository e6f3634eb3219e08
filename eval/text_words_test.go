package eval

import (
	"math/rand"
	"strings"
	"testing"
)

// Text.words splits as strings.Fields does, on ASCII and other text, and
// charges each word as a Text of its own (sizeText and its bytes) plus
// the list.
func TestTextWordsMatchesFields(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	pieces := []string{"a", "bc", "word", " ", "  ", "\t", "\n", "\r\n", "\v", "\f", "é", "\u00a0", "\u3000", "\u0085", "x\u2028y", "\xff", "日本"}
	cases := []string{"", " ", "   ", "a", " a", "a ", " a  b\t\tc\n", strings.Repeat("ab ", 3000), strings.Repeat("x", 10000)}
	for range 500 {
		var b strings.Builder
		ascii := r.Intn(2) == 0
		for range r.Intn(40) {
			p := pieces[r.Intn(len(pieces))]
			if ascii && p[0] >= 0x80 || ascii && strings.ContainsAny(p, "\u2028") {
				p = "q"
			}
			b.WriteString(p)
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		th := scratchThread()
		l, ok := th.words(s).(*List)
		if !ok {
			t.Fatalf("%q: not a list", s)
		}
		want := strings.Fields(s)
		got := make([]string, 0, l.Len())
		for _, v := range l.Elems() {
			got = append(got, string(v.(Text)))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Fatalf("%q: words %q, want %q", s, got, want)
		}
		// The charge: one Text per word and the list, as th.text and
		// makeList charge them.
		th2 := scratchThread()
		th2.makeList(len(want))
		for _, w := range want {
			th2.text(w)
		}
		if th.mem != th2.mem {
			t.Fatalf("%q: charged %d, want %d", s, th.mem, th2.mem)
		}
	}
}
