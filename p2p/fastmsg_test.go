package p2p

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// randomMessages are requests and replies with every field present or
// not, of every head length.
func randomMessages(rng *rand.Rand, n int) []any {
	blob := func() []byte {
		switch rng.IntN(6) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		sizes := []int{1, 23, 24, 255, 256, 70000}
		b := make([]byte, sizes[rng.IntN(len(sizes))])
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	num := func() int64 {
		switch rng.IntN(8) {
		case 0:
			return 0
		case 1:
			return -1 - rng.Int64N(1000)
		case 2:
			return math.MaxInt64
		case 3:
			return math.MinInt64
		}
		return rng.Int64N(1 << (rng.IntN(62) + 1))
	}
	text := func() string {
		return []string{"", "store-1", "héllo", string(make([]byte, 300))}[rng.IntN(4)]
	}
	list := func() [][]byte {
		if rng.IntN(3) == 0 {
			return nil
		}
		out := make([][]byte, rng.IntN(4))
		for i := range out {
			out[i] = blob()
			if out[i] == nil && rng.IntN(2) == 0 {
				out[i] = []byte{1}
			}
		}
		return out
	}
	var out []any
	for range n {
		switch rng.IntN(3) {
		case 0:
			r := &EvalRequest{Thunk: blob(), Store: text(), Deps: blob(), Tokens: list(), Prefixes: blob(), Absent: blob(), StoreProof: blob()}
			if rng.IntN(2) == 0 {
				r.Budget = &WireBudget{Fuel: num(), Memory: num(), Depth: num(), Result: num(), TimeoutMs: num()}
			}
			out = append(out, r)
		case 1:
			out = append(out, &EvalReply{Result: &ResultReply{Value: blob(), Blocks: list(), Store: text(), Fuel: num(), Memory: num(), StoreProof: blob(), Chunks: blob()}})
		case 2:
			out = append(out, &EvalReply{Need: &NeedReply{Bits: blob()}})
		}
	}
	return out
}

// The direct encoder writes exactly what the general encoder writes.
func TestFastMessagesEncodeAsGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for _, m := range randomMessages(rng, 3000) {
		want, err := msgEncMode.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !fastEncodable(m) {
			continue
		}
		fast++
		if got := appendMessage(nil, m); !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n fast    %x\n general %x", m, got, want)
		}
		// writeMessage frames the same bytes.
		var buf bytes.Buffer
		fc := newFrameConn(&buf, nil)
		if err := fc.writeMessage(m); err != nil {
			t.Fatal(err)
		}
		got, _, err := newFrameConn(&buf, nil).readFrame(1 << 30)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("framed: %v", err)
		}
	}
	if fast < 1000 {
		t.Fatalf("only %d messages took the direct encoder", fast)
	}
}

// generalDecode is what decodeMessage does without the direct decoder.
func generalDecode(data []byte, v any) error { return msgDecMode.Unmarshal(data, v) }

func fresh(v any) any { return reflect.New(reflect.TypeOf(v).Elem()).Interface() }

// The direct decoder decodes what it takes as the general decoder does,
// and takes what the general encoder writes for these messages.
func TestFastMessagesDecodeAsGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	taken := 0
	for _, m := range randomMessages(rng, 3000) {
		data, err := msgEncMode.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want := fresh(m)
		if err := generalDecode(data, want); err != nil {
			continue // a nil list element: null, which the general decoder refuses too
		}
		got := fresh(m)
		if !fastDecode(data, got) {
			negative := false
			if r, ok := m.(*EvalRequest); ok && r.Budget != nil {
				b := r.Budget
				negative = b.Fuel < 0 || b.Memory < 0 || b.Depth < 0 || b.Result < 0 || b.TimeoutMs < 0
			}
			if r, ok := m.(*EvalReply); ok && r.Result != nil {
				negative = r.Result.Fuel < 0 || r.Result.Memory < 0
			}
			if r, ok := m.(*EvalRequest); ok && (r.Thunk == nil || !noNil(r.Tokens)) {
				negative = true // no thunk: left to the general decoder and validation
			}
			if r, ok := m.(*EvalReply); ok && (r.Result != nil && r.Result.Value == nil || r.Need != nil && r.Need.Bits == nil || r.Result != nil && !noNil(r.Result.Blocks)) {
				negative = true
			}
			if !negative {
				t.Fatalf("the direct decoder refused %x (%#v)", data, m)
			}
			continue
		}
		taken++
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%x:\n fast    %#v\n general %#v", data, got, want)
		}
	}
	if taken < 1000 {
		t.Fatalf("only %d messages took the direct decoder", taken)
	}
}

// Whatever bytes the direct decoder takes, the general decoder takes and
// decodes to the same message: it never accepts more.
func TestFastMessagesDecodeNoMoreThanGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	msgs := randomMessages(rng, 400)
	checked := 0
	for i := range 60000 {
		m := msgs[i%len(msgs)]
		data, err := msgEncMode.Marshal(m)
		if err != nil || len(data) > 4096 {
			continue
		}
		data = bytes.Clone(data)
		switch rng.IntN(4) {
		case 0: // flip bits
			for range 1 + rng.IntN(3) {
				data[rng.IntN(len(data))] ^= byte(1 << rng.IntN(8))
			}
		case 1: // set a byte
			data[rng.IntN(len(data))] = byte(rng.Uint32())
		case 2: // cut
			data = data[:rng.IntN(len(data))]
		case 3: // append
			data = append(data, byte(rng.Uint32()))
		}
		for _, v := range []any{&EvalRequest{}, &EvalReply{}} {
			got := fresh(v)
			if !fastDecode(data, got) {
				continue
			}
			checked++
			want := fresh(v)
			if err := generalDecode(data, want); err != nil {
				t.Fatalf("%x: the direct decoder took what the general one refuses: %v", data, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%x:\n fast    %#v\n general %#v", data, got, want)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no mutated message was taken")
	}
}

func FuzzFastMessagesDecode(f *testing.F) {
	for _, m := range randomMessages(rand.New(rand.NewPCG(7, 8)), 20) {
		if data, err := msgEncMode.Marshal(m); err == nil && len(data) < 2048 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{&EvalRequest{}, &EvalReply{}} {
			got := fresh(v)
			if !fastDecode(data, got) {
				continue
			}
			want := fresh(v)
			if err := generalDecode(data, want); err != nil {
				t.Fatalf("the direct decoder took what the general one refuses: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("\n fast    %#v\n general %#v", got, want)
			}
		}
	})
}

// TestFastDecodeHugeMapCount: a map head counting more entries than the
// shape has (here 2^64-1 in a request's budget) is left to the general
// decoder at once. The fast decoder used to loop over the count a peer
// chose: one 150-byte request held a core for minutes (found by
// FuzzServeEval, testdata/fuzz/FuzzServeEval/2cdd4221358b55ef).
func TestFastDecodeHugeMapCount(t *testing.T) {
	huge := []byte{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for name, data := range map[string][]byte{
		"request":        append([]byte{0xa2, 0x01, 0x41, 0x00}, huge...),
		"request budget": append([]byte{0xa2, 0x01, 0x41, 0x00, 0x03}, huge...),
		"reply":          huge,
		"result":         append([]byte{0xa1, 0x02}, huge...),
	} {
		var req EvalRequest
		var rep EvalReply
		if fastDecode(data, &req) {
			t.Errorf("%s: the fast decoder took a map of 2^64-1 entries as a request", name)
		}
		if fastDecode(data, &rep) {
			t.Errorf("%s: the fast decoder took a map of 2^64-1 entries as a reply", name)
		}
	}
}
