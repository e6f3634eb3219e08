package p2p

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// deadlineStream is a network.Stream that reads from r and records the
// read deadlines set on it (the methods firstFrameReader uses).
type deadlineStream struct {
	network.Stream
	r         io.Reader
	deadlines []time.Time
}

func (s *deadlineStream) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *deadlineStream) SetReadDeadline(t time.Time) error {
	s.deadlines = append(s.deadlines, t)
	return nil
}

func newDeadlineReader(data []byte, lazy bool) (*firstFrameReader, *deadlineStream) {
	s := &deadlineStream{r: bytes.NewReader(data)}
	t := &streamTicket{g: newStreamGate(gateLimits{1, 1, 1}), key: peerKey{c: trustedPeer}, s: s}
	return &firstFrameReader{t: t, after: time.Hour, lazyAfter: lazy}, s
}

// The eval stream's after deadline (lazyAfter) is armed by the first read
// after the first frame, not when the frame arrives; a deadline set
// meanwhile (the watcher's) replaces it; without lazyAfter it is armed on
// arrival, as before.
func TestFirstFrameReaderLazyAfter(t *testing.T) {
	frame := []byte{3, 'a', 'b', 'c', 'x', 'y'}

	r, s := newDeadlineReader(frame, true)
	buf := make([]byte, 4)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if !r.done || len(s.deadlines) != 0 {
		t.Fatalf("after the first frame: done %v, deadlines %v; want done and none armed yet", r.done, s.deadlines)
	}
	before := time.Now()
	if _, err := r.Read(buf[:1]); err != nil {
		t.Fatal(err)
	}
	if len(s.deadlines) != 1 || s.deadlines[0].Before(before.Add(r.after)) || s.deadlines[0].After(time.Now().Add(r.after)) {
		t.Fatalf("the next read armed %v; want one deadline of after from the read", s.deadlines)
	}
	if _, err := r.Read(buf[:1]); err != nil {
		t.Fatal(err)
	}
	if len(s.deadlines) != 1 {
		t.Fatalf("a later read armed another deadline: %v", s.deadlines)
	}

	r, s = newDeadlineReader(frame, true)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	set := time.Now().Add(time.Minute)
	r.setReadDeadline(set)
	if _, err := r.Read(buf[:1]); err != nil {
		t.Fatal(err)
	}
	if len(s.deadlines) != 1 || !s.deadlines[0].Equal(set) {
		t.Fatalf("deadlines %v; want only the one set after the first frame", s.deadlines)
	}

	r, s = newDeadlineReader(frame, false)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if len(s.deadlines) != 1 {
		t.Fatalf("without lazyAfter: deadlines %v; want one armed on arrival", s.deadlines)
	}
}
