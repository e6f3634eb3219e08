package p2p

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// The reflection-free decoders of channel messages (parseChanMessage,
// parseChanReply) must accept only what the general decoder accepts, and
// decode it to the same message: otherwise a peer could get past the
// strict decoder by writing a form only the fast one reads.

// sameChanMessage compares two messages field by field, an empty byte
// string equal to an absent one (validation reads only lengths).
func sameChanMessage(a, b *ChanMessage) bool {
	return a.Seq == b.Seq && a.Ack == b.Ack && a.Sync == b.Sync && bytes.Equal(a.Channel, b.Channel) &&
		bytes.Equal(a.Value, b.Value) && bytes.Equal(a.Deps, b.Deps) && bytes.Equal(a.Absent, b.Absent)
}

func sameChanReply(a, b *ChanReply) bool {
	return a.Seq == b.Seq && a.Ready == b.Ready && a.Taken == b.Taken && bytes.Equal(a.Need, b.Need) &&
		(a.Error == nil) == (b.Error == nil)
}

// checkChanFastDecode fails if a fast decoder accepts data the general
// decoder refuses or reads differently.
func checkChanFastDecode(t *testing.T, data []byte) {
	var fm, sm ChanMessage
	if parseChanMessage(data, &fm) {
		if err := decodeMessage(data, MaxChanMessageSize, &sm, "channel message"); err != nil {
			t.Fatalf("%x: the fast decoder accepts a message the general one refuses: %v", data, err)
		}
		if !sameChanMessage(&fm, &sm) {
			t.Fatalf("%x: fast %+v, general %+v", data, fm, sm)
		}
	}
	var fr, sr ChanReply
	if parseChanReply(data, &fr) {
		if err := decodeMessage(data, MaxChanReplySize, &sr, "channel reply"); err != nil {
			t.Fatalf("%x: the fast decoder accepts a reply the general one refuses: %v", data, err)
		}
		if !sameChanReply(&fr, &sr) {
			t.Fatalf("%x: fast %+v, general %+v", data, fr, sr)
		}
	}
}

// TestChanFastDecode checks the fast decoders on the encodings of
// assorted messages and on every truncation and single-byte change of
// them; and that they do take what the node writes.
func TestChanFastDecode(t *testing.T) {
	msgs, replies := chanMessages(t)
	for _, seq := range []uint64{1, 23, 24, 255, 256, 65535, 65536, 1 << 32, 1<<64 - 1} {
		m := &ChanMessage{Seq: seq, Channel: make([]byte, channelIDLen), Value: []byte{1}, Ack: true}
		msgs = append(msgs, appendChanMessage(nil, m))
		r, _ := appendChanReply(nil, &ChanReply{Seq: seq, Taken: seq})
		replies = append(replies, r)
	}
	for _, data := range msgs {
		if !parseChanMessage(data, &ChanMessage{}) {
			t.Errorf("%x: the fast decoder does not take a message the node writes", data)
		}
	}
	for _, data := range replies[:3] {
		if !parseChanReply(data, &ChanReply{}) {
			t.Errorf("%x: the fast decoder does not take a reply the node writes", data)
		}
	}
	for _, data := range append(msgs, replies...) {
		for i := range data {
			checkChanFastDecode(t, data[:i])
			for _, x := range []byte{0x00, 0x01, 0x17, 0x18, 0x1f, 0x40, 0x5f, 0x7f, 0x80, 0xa0, 0xbf, 0xf4, 0xf5, 0xf6, 0xff} {
				mut := bytes.Clone(data)
				mut[i] = x
				checkChanFastDecode(t, mut)
				mut[i] = data[i] ^ 0x01
				checkChanFastDecode(t, mut)
			}
		}
		checkChanFastDecode(t, append(bytes.Clone(data), 0))
	}
}

// FuzzChanFastDecode is TestChanFastDecode's property on any bytes.
func FuzzChanFastDecode(f *testing.F) {
	msgs, replies := chanMessages(f)
	for _, data := range append(msgs, replies...) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkChanFastDecode(t, data) })
}

// TestChanScalarEncoding checks that the scalars a message carries are
// encoded as dag encodes them, that the shortcut is in use (dag's format
// is of the shape it expects), and that anything else is left to dag.
func TestChanScalarEncoding(t *testing.T) {
	if !scalarEnv().ok {
		t.Fatal("the scalar encoding could not be derived from dag's: every value takes the general encoder")
	}
	vs := scalarProbes()
	for i := int64(-300); i < 300; i++ {
		vs = append(vs, &dag.VInt{V: i * 977})
	}
	for n := 0; n < 600; n += 7 {
		vs = append(vs, &dag.VText{V: strings.Repeat("é", n)})
	}
	for _, v := range vs {
		want, err := dag.EncodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		data, roots, err := encodeChanValue(v)
		if err != nil || len(roots) != 0 || !bytes.Equal(data, want) {
			t.Errorf("%#v: %x, %v, %v; want %x", v, data, roots, err, want)
		}
		if got := appendScalarValue(nil, v); !bytes.Equal(got, want) {
			t.Errorf("%#v: the shortcut wrote %x, want %x", v, got, want)
		}
		wantV, err := eval.FromWire(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := chanValueFromWire(v); err != nil || got != wantV {
			t.Errorf("%#v: converted to %#v, %v; want %#v", v, got, err, wantV)
		}
	}
	for _, v := range []dag.Value{
		&dag.VText{V: "\xff not UTF-8"},
		&dag.VText{V: strings.Repeat("x", maxScalarText+1)},
		&dag.VFloat{V: 1.5},
		&dag.VTuple{Elems: []dag.Value{&dag.VInt{V: 1}}},
		&dag.VClosure{Code: &dag.Lam{Arity: 1, Body: &dag.Var{Index: 0}}},
	} {
		if appendScalarValue(nil, v) != nil {
			t.Errorf("%#v: taken by the shortcut", v)
		}
		want, wantErr := dag.EncodeValue(v)
		data, _, err := encodeChanValue(v)
		if (err == nil) != (wantErr == nil) || !bytes.Equal(data, want) {
			t.Errorf("%#v: %x, %v; want %x, %v", v, data, err, want, wantErr)
		}
	}
}

// TestChannelTagUnchanged checks that the pooled HMAC computes the tag
// as before (HMAC-SHA256 under the key, of the random part then the
// creator): IDs made before a restart must still be recognised after it.
func TestChannelTagUnchanged(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := deriveChannelKey(key)
	if err != nil {
		t.Fatal(err)
	}
	creator := peer.ID("a creator's peer ID")
	for range 3 { // reused from the pool after the first
		id, err := k.newChannelID(creator)
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, k.key[:])
		m.Write(id[:channelRandomLen])
		m.Write([]byte(creator))
		if want := m.Sum(nil)[:channelTagLen]; !bytes.Equal(id[channelRandomLen:], want) {
			t.Fatalf("tag %x, want %x", id[channelRandomLen:], want)
		}
		if !k.createdBy(id, creator) || k.createdBy(id, "someone else") {
			t.Fatal("createdBy does not tell the creator")
		}
	}
}

// countingScope is a memScope that counts what is reserved, and can
// refuse.
type countingScope struct {
	held, reservations int
	refuse             bool
}

func (c *countingScope) ReserveMemory(size int, _ uint8) error {
	if c.refuse {
		return errors.New("refused")
	}
	c.held += size
	c.reservations++
	return nil
}

func (c *countingScope) ReleaseMemory(size int) { c.held -= size }

// TestChanFrames checks the channel streams' frame reader: every frame
// comes out whole and in order, whatever its size and however it
// arrives; small ones share one reservation, held until close, larger
// ones reserve their own; the errors are readFrame's; and a scope that
// refuses the reservation refuses the frames.
func TestChanFrames(t *testing.T) {
	sizes := []int{1, 100, chanSmallFrame - 1, chanSmallFrame, chanSmallFrame + 1, 5000, 3, chanSmallFrame}
	var stream []byte
	var want [][]byte
	for i, n := range sizes {
		body := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, body)
		stream = append(binary.AppendUvarint(stream, uint64(n)), body...)
	}
	for _, chunk := range []int{1, 7, 4096, len(stream)} { // how the bytes arrive
		scope := &countingScope{}
		fc := &frameConn{r: bufio.NewReaderSize(&chunkReader{b: stream, n: chunk}, chanReadBuffer), scope: scope}
		fr := &chanFrames{fc: fc}
		for i, w := range want {
			got, release, err := fr.next(MaxChanMessageSize)
			if err != nil || !bytes.Equal(got, w) {
				t.Fatalf("chunks of %d, frame %d: %d bytes, %v; want %d bytes", chunk, i, len(got), err, len(w))
			}
			release()
			if scope.held != 0 && scope.held != chanSmallFrame {
				t.Fatalf("chunks of %d, frame %d: %d bytes held after its release", chunk, i, scope.held)
			}
		}
		if _, _, err := fr.next(MaxChanMessageSize); !errors.Is(err, io.EOF) {
			t.Errorf("chunks of %d: at the end: %v, want EOF", chunk, err)
		}
		if fc.read != int64(len(stream)) {
			t.Errorf("chunks of %d: %d bytes counted, want %d", chunk, fc.read, len(stream))
		}
		fr.close()
		if scope.held != 0 {
			t.Errorf("chunks of %d: %d bytes held after close", chunk, scope.held)
		}
	}

	// Errors: a frame cut short, one over the limit, an empty one.
	for _, c := range []struct {
		name string
		data []byte
		want func(error) bool
	}{
		{"cut short", append(binary.AppendUvarint(nil, 10), 1, 2, 3), func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"prefix cut short", []byte{0x80}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"over the limit", append(binary.AppendUvarint(nil, 20), make([]byte, 20)...), func(err error) bool {
			var tl *FrameTooLargeError
			return errors.As(err, &tl)
		}},
		{"empty", []byte{0}, func(err error) bool {
			var me *MessageError
			return errors.As(err, &me)
		}},
	} {
		fr := &chanFrames{fc: &frameConn{r: bufio.NewReaderSize(bytes.NewReader(c.data), chanReadBuffer), scope: &countingScope{}}}
		if _, _, err := fr.next(10); !c.want(err) {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	// A scope that refuses: no frame is read past it.
	fr := &chanFrames{fc: &frameConn{r: bufio.NewReaderSize(bytes.NewReader(append(binary.AppendUvarint(nil, 3), 1, 2, 3)), chanReadBuffer), scope: &countingScope{refuse: true}}}
	var ce *CallError
	if _, _, err := fr.next(10); !errors.As(err, &ce) || ce.Code != CodeDenied {
		t.Errorf("refused reservation: %v", err)
	}
}

// chunkReader returns b n bytes at a time.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// TestChanPipelinedValues sends distinct small values back to back on
// one stream, so that they arrive in the same reads and go through the
// stream's one small-frame buffer: each listener gets its own value,
// intact after the others arrived.
func TestChanPipelinedValues(t *testing.T) {
	a, c := trustedPair(t)
	const n = 64
	chs := make([]*eval.Channel, n)
	ls := make([]*eval.Future, n)
	for i := range chs {
		chs[i] = newChan(t, c)
		ls[i] = listenChan(t, c, chs[i])
	}
	value := func(i int) eval.Value {
		switch i % 3 {
		case 0:
			return eval.Bytes(bytes.Repeat([]byte{byte(i)}, 10+i))
		case 1:
			return eval.Text(strings.Repeat(string(rune('a'+i%26)), i))
		}
		return eval.MakeInt(int64(i) * 1000003)
	}
	for i := range chs {
		if f := sendFrom(a, c, chs[i], value(i), i%2 == 1); f != nil && i%2 == 0 {
			t.Fatalf("send %d failed", i)
		}
	}
	for i, l := range ls {
		v, errv := awaitFuture(t, l)
		if errv != nil {
			t.Fatalf("listener %d: %s", i, show(errv))
		}
		if show(v) != show(value(i)) {
			t.Errorf("listener %d got %s, want %s", i, show(v), show(value(i)))
		}
	}
}
