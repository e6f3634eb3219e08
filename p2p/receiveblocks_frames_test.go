package p2p

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// TestDecodeReceivedBlocksMatchesGeneral: the one-pass decoding of a
// blocks message gives what DecodeBlocksMessage gives, the same blocks
// or a refusal, for the canonical form and for forms it leaves to the
// general decoder; its blocks are copies, not slices of the frame.
func TestDecodeReceivedBlocksMatchesGeneral(t *testing.T) {
	canonical, err := EncodeBlocksMessage(&BlocksMessage{Blocks: [][]byte{[]byte("one"), bytes.Repeat([]byte{7}, 300), {0}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"canonical": canonical,
		// {1: ["ab"]} with the array's length in a longer head than it
		// needs: not canonical, which the general decoder decides on.
		"long head": {0xa1, 0x01, 0x98, 0x01, 0x42, 'a', 'b'},
		// {1: [_ "ab"]}: an indefinite-length array.
		"indefinite":  {0xa1, 0x01, 0x9f, 0x42, 'a', 'b', 0xff},
		"no blocks":   {0xa1, 0x01, 0x80},
		"empty block": {0xa1, 0x01, 0x81, 0x40},
		"empty map":   {0xa0},
		"other key":   {0xa1, 0x02, 0x81, 0x41, 'a'},
		"two keys":    {0xa2, 0x01, 0x81, 0x41, 'a', 0x02, 0x81, 0x41, 'b'},
		"trailing":    append(append([]byte{}, canonical...), 0x00),
		"truncated":   canonical[:len(canonical)-1],
		"not a block": {0xa1, 0x01, 0x81, 0x61, 'a'},
	}
	for name, data := range cases {
		want, wantErr := DecodeBlocksMessage(append([]byte{}, data...))
		frame := append([]byte{}, data...)
		got, gotErr := decodeReceivedBlocks(frame)
		if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
			t.Errorf("%s: error %v, general decoder's %v", name, gotErr, wantErr)
			continue
		}
		if wantErr != nil {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, general decoder's %q", name, got.Blocks, want.Blocks)
		}
		for i := range frame {
			frame[i] = 0xee // the buffer read again for the next frame
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: blocks changed with the frame's buffer: they are not copies", name)
		}
	}
	if _, err := decodeReceivedBlocks(canonical); err != nil {
		t.Fatalf("canonical: %v", err)
	}
}

// TestReadBlocksFrameReusesBuffers: frames read one after another, each
// released before the next is read, come out whole, and what was decoded
// of one stays as it was once the buffer holds the next.
func TestReadBlocksFrameReusesBuffers(t *testing.T) {
	var stream bytes.Buffer
	w := &frameConn{w: &stream}
	var msgs []*BlocksMessage
	for i := range 4 {
		m := &BlocksMessage{Blocks: [][]byte{bytes.Repeat([]byte{byte('a' + i)}, 1000-100*i), []byte{byte(i)}}}
		msgs = append(msgs, m)
		if err := w.writeMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	r := newFrameConn(&stream, nil)
	var got []*BlocksMessage
	for range msgs {
		msg, release, err := r.readBlocksFrame(MaxBlocksMessageSize)
		if err != nil {
			t.Fatal(err)
		}
		bm, err := decodeReceivedBlocks(msg)
		release()
		release() // a second call does nothing
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bm)
	}
	if !reflect.DeepEqual(got, msgs) {
		t.Errorf("read %v, wrote %v", got, msgs)
	}
	if _, _, err := r.readBlocksFrame(MaxBlocksMessageSize); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
	var big bytes.Buffer
	bw := &frameConn{w: &big}
	if err := bw.writeFrame(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	var tl *FrameTooLargeError
	if _, _, err := newFrameConn(&big, nil).readBlocksFrame(99); !errors.As(err, &tl) {
		t.Errorf("a frame over the limit: %v", err)
	}
}

// FuzzDecodeReceivedBlocks: on any input, the one-pass decoding of a
// blocks message agrees with DecodeBlocksMessage: both refuse it, or both
// give the same blocks.
func FuzzDecodeReceivedBlocks(f *testing.F) {
	_, _, blk, _ := realMessages(f)
	for _, s := range blk {
		f.Add(s)
	}
	for _, s := range [][]byte{{}, {0xa0}, {0xa1, 0x01, 0x80}, {0xa1, 0x01, 0x81, 0x40}, {0xa1, 0x01, 0x98, 0x01, 0x42, 'a', 'b'}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ferr := decodeReceivedBlocks(data)
		general, gerr := DecodeBlocksMessage(data)
		if (ferr == nil) != (gerr == nil) {
			t.Fatalf("one pass: %v; general: %v", ferr, gerr)
		}
		if ferr == nil && !reflect.DeepEqual(fast.Blocks, general.Blocks) {
			t.Fatalf("one pass gives %d blocks, general %d (or different bytes)", len(fast.Blocks), len(general.Blocks))
		}
	})
}
