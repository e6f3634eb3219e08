package eval

import (
	"strings"
	"testing"

	"github.com/unode-dev/unode/dag"
)

// TestWireCostTable checks the figures of docs/protocol.md ("What a value
// costs on the wire") against the encoder: the bytes of each value's
// encoding, without the message envelope.
func TestWireCostTable(t *testing.T) {
	unit, err := dag.EncodeValue(&dag.VUnit{})
	if err != nil {
		t.Fatal(err)
	}
	if envelope := len(unit) - 2; envelope != 25 {
		t.Errorf("the value envelope is %d bytes, docs say 25", envelope)
	}
	cost := func(v Value) int { return wireBytes(t, v) - (len(unit) - 2) }
	peer := "12D3KooW" + strings.Repeat("A", 44) // the length of an Ed25519 peer ID
	for _, c := range []struct {
		src  string
		want int
	}{
		{`()`, 2}, {`true`, 3},
		{`0`, 3}, {`23`, 3}, {`-24`, 3}, {`24`, 4}, {`255`, 4}, {`-256`, 4}, {`256`, 5}, {`65535`, 5},
		{`65536`, 7}, {`4294967295`, 7}, {`4294967296`, 11},
		{`1.5`, 11}, {`0.0 / 0.0`, 6}, {`1.0 / 0.0`, 6}, {`-1.0 / 0.0`, 7},
		{`""`, 3}, {`Text.repeat 23 "a"`, 26}, {`Text.repeat 24 "a"`, 28}, {`Text.repeat 255 "a"`, 259},
		{`Text.repeat 256 "a"`, 261}, {`Text.repeat 65536 "a"`, 65543}, {`Text.toUtf8 "abc"`, 6},
		{`(1, 2)`, 8}, {`[]`, 2}, {`[1]`, 5}, {`List.replicate 22 1`, 68}, {`List.replicate 23 1`, 72},
		{`List.replicate 1000 1`, 3004},
		{`Map.fromList [(1, 2)]`, 8}, {`Set.fromList [1]`, 14}, {`Set.fromList [1, 2]`, 19},
		{`Some 1`, 15}, {`None`, 12}, {`Left 1`, 13},
		{`End`, 46}, {`Cell "a" End`, 96},
		{`(x -> x)`, 9}, {`(x -> x + 1)`, 23}, {`let y = 5 in (x -> x + y)`, 26},
		{`tower`, 44}, {`List.map`, 11},
		{`Node.fixed "` + peer + `"`, 56},
		// share of a value with nothing shared: 8 bytes around it.
		{`share (1, 2)`, 8 + 8},
		// 1,000 references to one 10 KB text, with and without share.
		{`share (refs 1000)`, 13279 - 25},
	} {
		if got := cost(mustEvalShare(t, c.src)); got != c.want {
			t.Errorf("%s: %d bytes on the wire, docs say %d", c.src, got, c.want)
		}
	}
	if got, want := cost(&Channel{ID: make([]byte, 32), Node: peer}), 90; got != want {
		t.Errorf("a channel: %d bytes on the wire, docs say %d", got, want)
	}
	if got, want := cost(mustEvalShare(t, `refs 100`)), 100*10245+3; got != want {
		t.Errorf("100 references to a 10 KB text: %d bytes on the wire, want %d", got, want)
	}
}
