package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
)

// Framing: every message is an unsigned varint (LEB128, as in
// multiformats/go-varint and msgio) giving the length of the CBOR bytes
// that follow. The reader learns the length before allocating, so it
// checks it against the message's cap and reserves the memory with the
// stream's resource scope first.

// FrameTooLargeError reports a length prefix above the cap for the
// message expected at that point.
type FrameTooLargeError struct {
	Size, Limit uint64
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("message of %d bytes exceeds the limit of %d", e.Size, e.Limit)
}

// memScope is the part of a libp2p resource scope the framing uses.
type memScope interface {
	ReserveMemory(size int, prio uint8) error
	ReleaseMemory(size int)
}

// frameConn reads and writes frames on a stream.
type frameConn struct {
	r     *bufio.Reader
	w     io.Writer
	scope memScope // nil: no accounting
	// read and written count every byte, prefixes included.
	read, written int64
}

// frameReadBuffer is small: it only has to hold length prefixes and small
// messages; bigger bodies are read straight into their own buffer.
const frameReadBuffer = 256

func newFrameConn(rw io.ReadWriter, scope memScope) *frameConn {
	return &frameConn{r: bufio.NewReaderSize(rw, frameReadBuffer), w: rw, scope: scope}
}

// framePool holds the frame connections of eval exchanges that have
// ended, with their read buffers: a warm call would otherwise allocate
// both on each side. The collector empties it.
var framePool = sync.Pool{New: func() any {
	return &frameConn{r: bufio.NewReaderSize(nil, frameReadBuffer)}
}}

// pooledFrameConn is newFrameConn from framePool. The exchange gives it
// back with free once nothing reads or writes it any more.
func pooledFrameConn(rw io.ReadWriter, scope memScope) *frameConn {
	c := framePool.Get().(*frameConn)
	c.r.Reset(rw)
	c.w, c.scope = rw, scope
	return c
}

// free gives a connection from pooledFrameConn back to framePool, its
// stream and buffered bytes dropped (a later user reads nothing of this
// exchange). Every goroutine that used c must have finished with it.
func (c *frameConn) free() {
	r := c.r
	r.Reset(nil)
	*c = frameConn{r: r}
	framePool.Put(c)
}

// readFrame reads one message of at most limit bytes. The returned
// release function gives the memory back to the scope; call it once the
// bytes are no longer needed. A stream that ends before the first byte
// returns io.EOF; one that ends inside a frame io.ErrUnexpectedEOF.
func (c *frameConn) readFrame(limit int) ([]byte, func(), error) {
	n, err := c.frameHead(limit)
	if err != nil {
		return nil, func() {}, err
	}
	release := func() {}
	if c.scope != nil {
		var once bool
		release = func() {
			if !once {
				once = true
				c.scope.ReleaseMemory(int(n))
			}
		}
	}
	return c.frameBody(make([]byte, n), release)
}

// frameHead reads a frame's length, at most limit and not zero, and
// reserves that much memory in the stream's scope (readFrame and
// readBlocksFrame release it).
func (c *frameConn) frameHead(limit int) (uint64, error) {
	start := c.read
	n, err := binary.ReadUvarint(byteCounter{c})
	if err != nil {
		if errors.Is(err, io.EOF) && c.read > start {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	if n > uint64(limit) {
		return 0, &FrameTooLargeError{Size: n, Limit: uint64(limit)}
	}
	if n == 0 {
		return 0, badMessage("empty message")
	}
	if c.scope != nil {
		if err := c.scope.ReserveMemory(int(n), network.ReservationPriorityHigh); err != nil {
			return 0, &CallError{Code: CodeDenied, Msg: fmt.Sprintf("cannot reserve %d bytes for a message: %v", n, err)}
		}
	}
	return n, nil
}

// frameBody fills buf, the frame frameHead announced, from the stream;
// if the stream ends or fails first, it calls release.
func (c *frameConn) frameBody(buf []byte, release func()) ([]byte, func(), error) {
	k, err := io.ReadFull(c.r, buf)
	c.read += int64(k)
	if err != nil {
		release()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, func() {}, err
	}
	return buf, release, nil
}

// byteCounter counts the prefix bytes read.
type byteCounter struct{ c *frameConn }

func (b byteCounter) ReadByte() (byte, error) {
	x, err := b.c.r.ReadByte()
	if err == nil {
		b.c.read++
	}
	return x, err
}

// writeFrame writes one message in a single Write, so that it leaves in
// as few transport frames as possible.
func (c *frameConn) writeFrame(msg []byte) error {
	buf := make([]byte, 0, binary.MaxVarintLen64+len(msg))
	buf = binary.AppendUvarint(buf, uint64(len(msg)))
	buf = append(buf, msg...)
	n, err := c.w.Write(buf)
	c.written += int64(n)
	return err
}

// frameMessage encodes v as a whole frame, prefix included, and returns
// the length of its body. The messages of a warm call (fastmsg.go) are
// encoded in place after room for the longest prefix, which then goes
// just before them: one buffer, no copy.
func frameMessage(v any) (frame []byte, body int, err error) {
	if !fastEncodable(v) {
		data, err := encodeMessage(v)
		if err != nil {
			return nil, 0, err
		}
		frame = binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(data)), uint64(len(data)))
		return append(frame, data...), len(data), nil
	}
	buf := appendMessage(make([]byte, binary.MaxVarintLen64, 256), v)
	body = len(buf) - binary.MaxVarintLen64
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(body))
	start := binary.MaxVarintLen64 - k
	copy(buf[start:], pre[:k])
	return buf[start:], body, nil
}

// writeFramed writes a frame from frameMessage in a single Write.
func (c *frameConn) writeFramed(frame []byte) error {
	n, err := c.w.Write(frame)
	c.written += int64(n)
	return err
}

// writeMessage encodes and writes a message.
func (c *frameConn) writeMessage(v any) error {
	if fastEncodable(v) {
		frame, _, _ := frameMessage(v)
		return c.writeFramed(frame)
	}
	data, err := encodeMessage(v)
	if err != nil {
		return err
	}
	return c.writeFrame(data)
}
