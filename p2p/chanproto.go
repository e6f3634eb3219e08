package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// /unode/chan/1.0.0 (docs/protocol.md, "/unode/chan/1.0.0"): channel
// messages between nodes. One protocol carries every channel: a message
// names its channel by ID, and the receiver hands it to the listeners
// pending on that channel at that moment (eval.LocalHost.DeliverLocal),
// or drops it. Nothing is buffered.
//
// A sender keeps one long-lived stream to each receiver and writes its
// messages on it in order, without waiting for one to be answered
// before the next (pipelined); the receiver takes them in order. So the
// messages from one node to another keep their order. A message asks
// for an acknowledgement (deliver) or not (send):
//
//	sender                                     receiver
//	ChanMessage{seq, channel, value, ack}  ->
//	ChanMessage{seq+1, ...}                ->
//	                                       <- ChanReply{seq, taken | error}   (if ack)
//
// A message whose value refers to code the sender does not know the
// receiver to hold carries the dependency list of an eval request and
// asks for a sync answer; the sender writes nothing more until it has
// it, so the blocks follow their message on the stream:
//
//	ChanMessage{seq, ..., sync, deps}      ->
//	                                       <- ChanReply{seq, need | ready}
//	BlocksMessage{blocks} ...              ->  (only after a need)
//
// That is one extra round trip for code the receiver lacks, none for code
// it is known to hold (the per-peer record, as for eval), and nothing
// with a shared store.
//
// A value too large to go inline (over dag.MaxValueSize) goes chunked,
// as a thunk does for at (chunks.go): its chunk roots are among its
// links, so its chunks follow it through that same sync, only those the
// receiver lacks. The receiver checks what the chunks declare against
// the memory budget its policy gives the sender before it answers the
// sync, and reads them within it.
//
// Sends never wait on the network: send hands the message to the peer's
// bounded queue and returns; a full queue drops it (counted). What a
// peer can make the node hold is bounded in limits.go.

// ProtocolChan is the channel protocol; ServiceChan its resource-manager
// service.
const (
	ProtocolChan protocol.ID = "/unode/chan/1.0.0"
	ServiceChan              = "unode.chan"
)

// ---- errors ----

// ChanReason says why a deliver failed.
type ChanReason string

const (
	// ChanNoListener: the message reached the node and nobody listened
	// on the channel there at that moment; it was dropped.
	ChanNoListener ChanReason = "no listener"
	// ChanUnreachable: the node could not be reached, or the
	// connection was lost before it answered.
	ChanUnreachable ChanReason = "unreachable"
	// ChanRefused: a sandbox refused the message: the receiver's policy
	// for this node, or the sandbox of the foreign evaluation sending.
	ChanRefused ChanReason = "refused"
	// ChanTimeout: no answer within the deliver's deadline.
	ChanTimeout ChanReason = "timeout"
	// ChanQueueFull: the queue of messages to the node, or the bound on
	// delivers in flight, is full.
	ChanQueueFull ChanReason = "queue full"
	// ChanFailed: anything else (the value's code could not be synced,
	// the node is closing, a protocol violation).
	ChanFailed ChanReason = "failed"
)

// ErrChanUnreachable matches a *ChanError of reason ChanUnreachable.
var ErrChanUnreachable = errors.New("node unreachable")

// ChanError is a deliver (or a send refused before it left) that failed.
// It matches eval's sentinels, so that await! gets a distinct Err for
// each reason: eval.ErrNoListener (no listener: Msg "... no listener on
// the channel"), eval.ErrTimeout (Timeout), eval.ErrDenied (refused:
// Err.Denied), ErrChanUnreachable (Msg "... unreachable ..."); a sync
// that failed keeps its *CallError (Err.Missing, Err.BudgetExceeded).
type ChanError struct {
	Peer   string
	Reason ChanReason
	// Msg says more: the stream error, the deadline, the refusal.
	Msg string
	// Err is the cause (a *CallError the receiver sent, a sandbox's
	// refusal), if any.
	Err error
}

func (e *ChanError) Error() string {
	var b strings.Builder
	b.WriteString("deliver to ")
	b.WriteString(shortPeer(e.Peer))
	b.WriteString(": ")
	switch e.Reason {
	case ChanNoListener:
		b.WriteString(eval.ErrNoListener.Error())
	case ChanUnreachable:
		b.WriteString("the node is unreachable")
	default:
		b.WriteString(string(e.Reason))
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	return b.String()
}

// Is matches the sentinel of the reason.
func (e *ChanError) Is(target error) bool {
	switch target {
	case eval.ErrNoListener:
		return e.Reason == ChanNoListener
	case eval.ErrTimeout:
		return e.Reason == ChanTimeout
	case eval.ErrDenied, capabilities.ErrDenied:
		return e.Reason == ChanRefused
	case ErrChanUnreachable:
		return e.Reason == ChanUnreachable
	}
	return false
}

func (e *ChanError) Unwrap() error { return e.Err }

// chanErrorFromWire is the error of a message the receiver answered with
// e.
func chanErrorFromWire(p string, e *CallError) *ChanError {
	switch {
	case e.Code == CodeMsg && e.Which == whichNoListener:
		return &ChanError{Peer: p, Reason: ChanNoListener}
	case e.Code == CodeDenied:
		return &ChanError{Peer: p, Reason: ChanRefused, Msg: e.Msg, Err: e}
	case e.Code == CodeTimeout:
		return &ChanError{Peer: p, Reason: ChanTimeout, Msg: e.Msg, Err: e}
	}
	return &ChanError{Peer: p, Reason: ChanFailed, Msg: strings.TrimPrefix(e.Error(), "at "+shortPeer(p)+": "), Err: e}
}

// chanStreamError is the error of the messages in flight on a stream
// that failed.
func chanStreamError(p, doing string, err error) *ChanError {
	msg := doing + ": " + err.Error()
	var se *network.StreamError
	if errors.As(err, &se) && se.Remote && se.ErrorCode == network.StreamResourceLimitExceeded {
		msg = doing + ": the node is busy (it refused the stream: too many from this node or its class of peers)"
	}
	return &ChanError{Peer: p, Reason: ChanUnreachable, Msg: msg}
}

// ---- the node's channel state ----

// chanState is the node's side of the channel protocol: the senders to
// other peers, and the counters.
type chanState struct {
	mu    sync.Mutex
	peers map[peer.ID]*chanPeer
	// queued is the bytes waiting in all the peers' queues; pending
	// the delivers in flight to all peers.
	queued, pending atomic.Int64
	// decoded caches the decoding of small values received, apart from
	// eval's cache: a flood of distinct messages does not empty it.
	decoded *decodeCache
	c       chanCounters
	// deliverTimeout, writeTimeout and senderIdle are limits.go's
	// DefaultDeliverTimeout, ChanWriteTimeout and ChanSenderIdle
	// (tests shorten them).
	deliverTimeout, writeTimeout, senderIdle time.Duration
	// ids caches parsed peer IDs (parsePeer), nids of them.
	ids  sync.Map
	nids atomic.Int64
	// unknownRate paces the messages of unknown peers' streams.
	unknownRate *rateBucket
}

func newChanState() *chanState {
	return &chanState{peers: map[peer.ID]*chanPeer{}, decoded: newDecodeCache(),
		deliverTimeout: DefaultDeliverTimeout, writeTimeout: ChanWriteTimeout, senderIdle: ChanSenderIdle,
		unknownRate: newRateBucket(MaxUnknownChanRate, chanRateBurst)}
}

// rateBucket is a token bucket: take waits until the tokens it asks for
// have accrued, at rate per second, at most burst ahead.
type rateBucket struct {
	mu           sync.Mutex
	rate, burst  float64
	tokens       float64
	last         time.Time
	waits, waitN atomic.Int64 // takes that waited, and for how long in all (ns)
}

func newRateBucket(rate, burst float64) *rateBucket {
	return &rateBucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

// take takes n tokens, waiting (within ctx) while the bucket is in debt
// by more than a millisecond's worth: shorter debts are left for the
// next take to pay, so that a paced stream sleeps in slices, not per
// message.
func (b *rateBucket) take(ctx context.Context, n float64) error {
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= n
	wait := time.Duration(-b.tokens / b.rate * float64(time.Second))
	b.mu.Unlock()
	if wait < time.Millisecond {
		return nil
	}
	b.waits.Add(1)
	b.waitN.Add(int64(wait))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type chanCounters struct {
	sent, delivered, droppedQueue, droppedUnreachable, failed, syncs, blocksSent atomic.Int64
	received, taken, droppedNoListener, refused, rejected                        atomic.Int64
}

// ChanStats counts channel messages between this node and others
// (messages to the node's own channels stay inside it and are not
// counted).
type ChanStats struct {
	// Sent counts messages written to other nodes' streams.
	Sent int64 `json:"sent"`
	// Delivered counts delivers another node acknowledged.
	Delivered int64 `json:"delivered"`
	// DroppedQueueFull counts sends dropped because the queue to their
	// node was full (delivers fail instead, see Failed).
	DroppedQueueFull int64 `json:"droppedQueueFull"`
	// DroppedUnreachable counts sends lost because their node could not
	// be reached or the connection broke before they were written.
	DroppedUnreachable int64 `json:"droppedUnreachable"`
	// Failed counts delivers that failed, whatever the reason.
	Failed int64 `json:"failed"`
	// Syncs counts messages whose code the receiver was asked about;
	// BlocksSent the blocks sent for them.
	Syncs      int64 `json:"syncs"`
	BlocksSent int64 `json:"blocksSent"`

	// Received counts messages other nodes sent here.
	Received int64 `json:"received"`
	// Taken counts those a listener took.
	Taken int64 `json:"taken"`
	// DroppedNoListener counts those nobody listened for.
	DroppedNoListener int64 `json:"droppedNoListener"`
	// Refused counts those the policy refused (the sender's sandbox
	// here does not allow send or deliver).
	Refused int64 `json:"refused"`
	// Rejected counts those dropped for any other reason: code that
	// could not be synced, a value that did not decode.
	Rejected int64 `json:"rejected"`
}

// ChanStats reports the channel messages so far.
func (n *Node) ChanStats() ChanStats {
	c := &n.chans.c
	return ChanStats{
		Sent: c.sent.Load(), Delivered: c.delivered.Load(),
		DroppedQueueFull: c.droppedQueue.Load(), DroppedUnreachable: c.droppedUnreachable.Load(),
		Failed: c.failed.Load(), Syncs: c.syncs.Load(), BlocksSent: c.blocksSent.Load(),
		Received: c.received.Load(), Taken: c.taken.Load(), DroppedNoListener: c.droppedNoListener.Load(),
		Refused: c.refused.Load(), Rejected: c.rejected.Load(),
	}
}

// ---- sending ----

// maxParsedPeers bounds the cache of parsed peer IDs.
const maxParsedPeers = 4096

// parsePeer is parseTarget for a bare peer ID, cached: a program sending
// in a loop names the same node and channel each time, and decoding a
// peer ID's base58 (a few µs) was a large part of a small send.
func (st *chanState) parsePeer(s string) (peer.ID, error) {
	if p, ok := st.ids.Load(s); ok {
		return p.(peer.ID), nil
	}
	p, addrs, err := parseTarget(s)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 && st.nids.Load() < maxParsedPeers {
		if _, loaded := st.ids.LoadOrStore(s, p); !loaded {
			st.nids.Add(1)
		}
	}
	return p, nil
}

// parseNode is parseNode, with a node given by its bare peer ID (the
// usual case) parsed through the cache.
func (st *chanState) parseNode(node *eval.Node) (peer.ID, []ma.Multiaddr, error) {
	if len(node.Addrs) == 0 && !strings.HasPrefix(node.ID, "/") {
		p, err := st.parsePeer(node.ID)
		return p, nil, err
	}
	return parseNode(node)
}

// outMsg is a message waiting to be written to a peer.
type outMsg struct {
	ch    []byte
	value []byte    // dag.EncodeValue
	roots []cid.Cid // dag.ValueLinks of the value
	// onBehalfOf is the caller of the foreign evaluation that sent it:
	// only blocks shareable with that peer may go with it.
	onBehalfOf peer.ID
	ack        *pendingAck // nil for a send
	size       int         // counted against the queues' byte bounds
}

// outMsgOverhead is what a queued message costs beyond its bytes.
const outMsgOverhead = 256

// pendingAck is a deliver in flight: queued, or written and waiting for
// its reply.
type pendingAck struct {
	f  *eval.Future
	st *chanState

	mu      sync.Mutex
	cp      *chanPeer // set once counted at cp
	seq     uint64    // set once written
	done    bool
	counted bool
	// timeout and deadline (monoNow) are set when it is counted at cp,
	// and guarded by cp.mu (cp.watch).
	timeout, deadline time.Duration
}

// finish completes the deliver (err nil: acknowledged) and gives its
// place in the bounds back. It runs once; it must not be called with
// cp.mu held.
func (a *pendingAck) finish(err error) {
	a.mu.Lock()
	if a.done {
		a.mu.Unlock()
		return
	}
	a.done = true
	counted, seq, cp := a.counted, a.seq, a.cp
	a.mu.Unlock()
	if counted {
		cp.mu.Lock()
		cp.acks--
		delete(cp.live, a)
		if seq != 0 && cp.pending[seq] == a {
			delete(cp.pending, seq)
		}
		cp.mu.Unlock()
		a.st.pending.Add(-1)
	}
	if err != nil {
		a.st.c.failed.Add(1)
		a.f.Fail(err)
		return
	}
	a.st.c.delivered.Add(1)
	a.f.Resolve(eval.UnitValue)
}

func (a *pendingAck) isDone() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done
}

// chanPeer is the sending side towards one peer: its queue, and the
// goroutine (at most one) that writes it on a stream.
type chanPeer struct {
	n    *Node
	st   *chanState
	p    peer.ID
	name string
	wake chan struct{} // capacity 1: the queue grew

	mu      sync.Mutex
	queue   []*outMsg
	count   int                    // messages queued or being written
	bytes   int                    // their sizes
	acks    int                    // delivers in flight
	pending map[uint64]*pendingAck // written delivers by sequence number
	// live is the delivers in flight (queued or written), for their
	// deadlines: ackTimer fires at ackAt, at or before the earliest of
	// them (zero: not armed). One timer serves all the delivers to the
	// peer (watch, expireAcks): a timer each cost more than the rest
	// of queueing a deliver.
	live     map[*pendingAck]struct{}
	ackTimer *time.Timer
	ackAt    time.Duration // monoNow
	running  bool          // a sender goroutine serves the queue
	gone     bool          // removed from st.peers
	// sess is the open stream's session, while messages may be written
	// on it directly (enqueueChan).
	sess *chanSession
}

var errChanTooManyPeers = fmt.Errorf("this node sends to %d other nodes already", MaxChanPeers)

// peerFor returns the sender to p, making one.
func (st *chanState) peerFor(n *Node, p peer.ID) (*chanPeer, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if cp, ok := st.peers[p]; ok {
		return cp, nil
	}
	if len(st.peers) >= MaxChanPeers {
		return nil, errChanTooManyPeers
	}
	cp := &chanPeer{n: n, st: st, p: p, name: n.peerName(p), wake: make(chan struct{}, 1), pending: map[uint64]*pendingAck{},
		live: map[*pendingAck]struct{}{}}
	st.peers[p] = cp
	return cp, nil
}

// forget removes cp once it has nothing to do.
func (st *chanState) forget(cp *chanPeer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if !cp.running && cp.count == 0 && cp.acks == 0 && !cp.gone {
		cp.gone = true
		delete(st.peers, cp.p)
		if cp.ackTimer != nil {
			cp.ackTimer.Stop()
			cp.ackAt = 0
		}
	}
}

// monoStart anchors monoNow.
var monoStart = time.Now()

// monoNow is the time since monoStart on the monotonic clock: one clock
// read where time.Now makes two, for the bookkeeping done per message
// (deadlines, idleness).
func monoNow() time.Duration { return time.Since(monoStart) }

// watch makes timeout from now a's deadline, one the peer's ack timer
// fires for (cp.mu held): it arms the timer if a's is the earliest.
func (cp *chanPeer) watch(a *pendingAck, timeout time.Duration) {
	a.timeout, a.deadline = timeout, monoNow()+timeout
	cp.live[a] = struct{}{}
	switch {
	case cp.ackTimer == nil:
		cp.ackTimer = time.AfterFunc(timeout, cp.expireAcks)
		cp.ackAt = a.deadline
	case cp.ackAt == 0 || a.deadline < cp.ackAt:
		cp.ackTimer.Reset(timeout)
		cp.ackAt = a.deadline
	}
}

// expireAcks fails the delivers past their deadline and arms the timer
// for the earliest of the others.
func (cp *chanPeer) expireAcks() {
	now := monoNow()
	var late []*pendingAck
	var next time.Duration
	cp.mu.Lock()
	for a := range cp.live {
		if a.deadline <= now {
			late = append(late, a)
			delete(cp.live, a)
		} else if next == 0 || a.deadline < next {
			next = a.deadline
		}
	}
	cp.ackAt = next
	if next != 0 {
		cp.ackTimer.Reset(next - now)
	}
	cp.mu.Unlock()
	for _, a := range late {
		a.finish(&ChanError{Peer: cp.name, Reason: ChanTimeout, Msg: fmt.Sprintf("no acknowledgement within %v", a.timeout.Round(time.Millisecond))})
	}
}

// sendChan sends v on ch to peer p through its queue. Without ack it
// returns nil once the message is queued or dropped (a full queue, a
// node that cannot be reached: counted, never reported), or a failed
// future when the message cannot be sent at all (a value that cannot be
// encoded, code the foreign evaluation may not send); with ack, the
// future of the acknowledgement. onBehalfOf is the caller of the foreign
// evaluation sending, if it is one.
func (n *Node) sendChan(th *eval.Thread, p peer.ID, addrs []ma.Multiaddr, ch *eval.Channel, v eval.Value, ack bool, onBehalfOf peer.ID) *eval.Future {
	name := n.peerName(p)
	failed := func(err error) *eval.Future {
		f := eval.NewFuture()
		f.Fail(err)
		if ack {
			n.chans.c.failed.Add(1)
		}
		return f
	}
	if len(ch.ID) != channelIDLen {
		return failed(&ChanError{Peer: name, Reason: ChanFailed, Msg: fmt.Sprintf("a channel ID of %d bytes names no channel (want %d)", len(ch.ID), channelIDLen)})
	}
	if onBehalfOf != "" && !n.peers.get(p).sameStore() {
		if err := n.checkShareableCode(th.Context(), v, onBehalfOf); err != nil {
			return failed(err)
		}
	}
	// Charged to the evaluation and bounded by its result budget before
	// the wire form is allocated, as for at.
	w, err := th.ToWire(v)
	if err != nil {
		return failed(fmt.Errorf("to %s: %w", shortPeer(name), err))
	}
	data, roots, err := encodeChanValue(w)
	if errors.Is(err, dag.ErrTooLarge) {
		// Over the inline limit: the value travels chunked, as a
		// thunk does (chunks.go). Its chunks are stored here (pinned;
		// on the caller's account for a foreign evaluation) and go
		// with the message through its sync, which sends only those
		// the receiver lacks.
		data, roots, err = n.encodeSent(th.Context(), w, onBehalfOf)
		if dq := (*DiskQuotaError)(nil); errors.As(err, &dq) {
			ce := dq.callError()
			ce.Msg = "storing the message's chunks: " + ce.Msg
			return failed(&ChanError{Peer: name, Reason: ChanFailed, Msg: ce.Msg, Err: ce})
		}
	}
	if err != nil {
		return failed(fmt.Errorf("to %s: %w", shortPeer(name), err))
	}
	if len(addrs) > 0 {
		n.host.Peerstore().AddAddrs(p, addrs, peerstore.TempAddrTTL)
	}
	// Channel IDs are never modified once made (created, or decoded
	// into their own bytes), so the message keeps ch's.
	m := &outMsg{ch: ch.ID, value: data, roots: roots, onBehalfOf: onBehalfOf}
	m.size = len(data) + len(m.ch) + 64*len(m.roots) + outMsgOverhead
	var f *eval.Future
	if ack {
		f = eval.NewFuture()
		m.ack = &pendingAck{f: f, st: n.chans}
	}
	timeout := n.chans.deliverTimeout
	if d, ok := th.Context().Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), 0)
	}
	if err := n.enqueueChan(p, m, timeout); err != nil {
		if !ack {
			return nil
		}
		n.chans.c.failed.Add(1)
		f.Fail(err)
	}
	return f
}

// enqueueChan queues m for p, or returns why it cannot (and counts a
// send it drops).
func (n *Node) enqueueChan(p peer.ID, m *outMsg, timeout time.Duration) error {
	st := n.chans
	full := func(msg string) error {
		if m.ack == nil {
			st.c.droppedQueue.Add(1)
		}
		return &ChanError{Peer: n.peerName(p), Reason: ChanQueueFull, Msg: msg}
	}
	for {
		cp, err := st.peerFor(n, p)
		if err != nil {
			return full(err.Error())
		}
		cp.mu.Lock()
		if cp.gone {
			cp.mu.Unlock()
			continue
		}
		switch {
		case cp.count >= MaxChanQueuePerPeer || cp.bytes+m.size > MaxChanQueueBytesPerPeer:
			count, size := cp.count, cp.bytes
			cp.mu.Unlock()
			return full(fmt.Sprintf("%d messages, %d bytes wait to be written (limits %d, %d)", count, size, MaxChanQueuePerPeer, MaxChanQueueBytesPerPeer))
		case st.queued.Add(int64(m.size)) > MaxChanQueueBytes:
			st.queued.Add(-int64(m.size))
			cp.mu.Unlock()
			return full(fmt.Sprintf("messages to all nodes wait with %d bytes (limit %d)", st.queued.Load(), MaxChanQueueBytes))
		}
		if a := m.ack; a != nil {
			if cp.acks >= MaxChanPendingPerPeer || st.pending.Add(1) > MaxChanPending {
				if cp.acks < MaxChanPendingPerPeer {
					st.pending.Add(-1)
				}
				st.queued.Add(-int64(m.size))
				cp.mu.Unlock()
				return full(fmt.Sprintf("too many delivers wait for an acknowledgement (limits %d to one node, %d in all)", MaxChanPendingPerPeer, MaxChanPending))
			}
			cp.acks++
			a.mu.Lock()
			a.cp, a.counted = cp, true
			a.mu.Unlock()
			cp.watch(a, timeout)
		}
		cp.count++
		cp.bytes += m.size
		// A deliver of a plain value (no code to sync) on an open
		// stream nobody is writing to, with nothing queued before it, is
		// written at once by this goroutine: a round trip without the
		// hop to the session's goroutine. Sends go through the queue,
		// whose goroutine writes them in batches (one flush for many).
		var direct *chanSession
		if ss := cp.sess; ss != nil && m.ack != nil && len(cp.queue) == 0 && len(m.roots) == 0 && ss.wmu.TryLock() {
			direct = ss
		} else {
			cp.queue = append(cp.queue, m)
		}
		start := !cp.running
		cp.running = true
		cp.mu.Unlock()
		if a := m.ack; a != nil {
			a.f.OnCancel(func() { a.finish(errors.New("canceled")) })
		}
		if direct != nil {
			direct.writeDirect(m)
			return nil
		}
		if start {
			if !n.track() {
				cp.mu.Lock()
				cp.running = false
				cp.mu.Unlock()
				cp.failAll(nil, true, &ChanError{Peer: cp.name, Reason: ChanFailed, Msg: "this node is closed"})
				st.forget(cp)
				return nil
			}
			go cp.run()
		} else {
			select {
			case cp.wake <- struct{}{}:
			default:
			}
		}
		return nil
	}
}

// done accounts for a message written or given up.
func (cp *chanPeer) done(m *outMsg) {
	cp.mu.Lock()
	cp.count--
	cp.bytes -= m.size
	cp.mu.Unlock()
	cp.st.queued.Add(-int64(m.size))
}

// take returns the queue.
func (cp *chanPeer) take() []*outMsg {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	q := cp.queue
	cp.queue = nil
	return q
}

// failAll gives up the messages of rest (taken, not written), the
// delivers waiting for their reply and, with queue, the queue, with err.
func (cp *chanPeer) failAll(rest []*outMsg, queue bool, err error) {
	cp.mu.Lock()
	if queue {
		rest = append(rest, cp.queue...)
		cp.queue = nil
	}
	var acks []*pendingAck
	for _, a := range cp.pending {
		acks = append(acks, a)
	}
	cp.mu.Unlock()
	for _, m := range rest {
		cp.done(m)
		if m.ack != nil {
			m.ack.finish(err)
		} else {
			cp.st.c.droppedUnreachable.Add(1)
		}
	}
	for _, a := range acks {
		a.finish(err)
	}
}

// run serves the queue on streams, one after another, until it is
// empty.
func (cp *chanPeer) run() {
	defer cp.n.wg.Done()
	for {
		cp.session()
		cp.mu.Lock()
		if len(cp.queue) == 0 || cp.n.ctx.Err() != nil {
			cp.running = false
			cp.mu.Unlock()
			if cp.n.ctx.Err() != nil {
				cp.failAll(nil, true, &ChanError{Peer: cp.name, Reason: ChanFailed, Msg: "this node is closing"})
			}
			cp.st.forget(cp)
			return
		}
		cp.mu.Unlock()
	}
}

// chanSession is one stream to the peer.
type chanSession struct {
	cp  *chanPeer
	s   network.Stream
	ctx context.Context
	// wmu is held while writing: by the session's goroutine for a batch
	// from the queue, or by a sender writing its message itself
	// (enqueueChan). It guards fc's writes, bw and seq.
	wmu  sync.Mutex
	fc   *frameConn
	bw   *bufio.Writer
	seq  uint64
	body []byte // the encoding of the message being written
	// lastWrite is when a message was last written (monoNow), for the
	// idle close.
	lastWrite atomic.Int64
	// syncSeq is the message waiting for its sync answer (0: none);
	// the reader hands the answer over on syncAns.
	syncSeq atomic.Uint64
	syncAns chan *ChanReply
	// readDone gets the reader's error when it stops.
	readDone chan error
	readErr  error
	readOver bool
}

// session opens a stream and writes the queue on it until it has been
// empty for ChanSenderIdle (then closes the stream) or the stream fails
// (then everything in flight fails with it).
func (cp *chanPeer) session() {
	n := cp.n
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, ChanDialTimeout)
	s, err := n.host.NewStream(dctx, cp.p, ProtocolChan)
	dcancel()
	if err != nil {
		cp.failAll(nil, true, chanStreamError(cp.name, "opening a stream", err))
		return
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := s.Scope().SetService(ServiceChan); err != nil {
		s.Reset()
		cp.failAll(nil, true, chanStreamError(cp.name, "attaching the channel service", err))
		return
	}
	bw := bufio.NewWriterSize(&deadlineWriter{s: s, timeout: cp.st.writeTimeout}, chanWriteBuffer)
	ss := &chanSession{cp: cp, s: s, ctx: ctx, bw: bw, syncAns: make(chan *ChanReply, 1), readDone: make(chan error, 1),
		fc: &frameConn{r: bufio.NewReaderSize(s, chanReadBuffer), w: bw, scope: s.Scope()}}
	ss.lastWrite.Store(int64(monoNow()))
	go ss.read()
	cp.mu.Lock()
	cp.sess = ss
	cp.mu.Unlock()
	rest, err := ss.write(ctx)
	cp.mu.Lock()
	cp.sess = nil
	cp.mu.Unlock()
	// A sender writing directly is done before the stream goes.
	ss.wmu.Lock()
	ss.wmu.Unlock()
	if err != nil {
		s.Reset()
	}
	if !ss.readOver {
		ss.readErr = <-ss.readDone
	}
	if err == nil {
		err = ss.readErr
	}
	if err != nil && !errors.Is(err, io.EOF) {
		// Everything queued fails too: a peer that breaks every stream
		// costs one dial per batch of messages, not a loop of them.
		cp.failAll(rest, true, chanStreamError(cp.name, "connection lost", err))
		return
	}
	// A clean close, with nothing pending; what was queued meanwhile
	// goes on a new stream (run).
	cp.failAll(rest, false, &ChanError{Peer: cp.name, Reason: ChanUnreachable, Msg: "the stream closed"})
}

// write writes the queue until it has been empty for ChanSenderIdle and
// no deliver waits for its reply (nil after a clean close), or the
// stream fails. rest is what it took and could not write.
func (ss *chanSession) write(ctx context.Context) (rest []*outMsg, _ error) {
	cp := ss.cp
	idle := time.NewTimer(cp.st.senderIdle)
	defer idle.Stop()
	for {
		ss.wmu.Lock()
		batch := cp.take()
		if len(batch) == 0 {
			err := ss.bw.Flush()
			ss.wmu.Unlock()
			if err != nil {
				return nil, err
			}
			select {
			case <-cp.wake:
				continue
			case err := <-ss.readDone:
				ss.readOver, ss.readErr = true, err
				if err == nil || errors.Is(err, io.EOF) {
					err = errors.New("the receiver closed the stream")
				}
				return nil, err
			case <-idle.C:
				since := monoNow() - time.Duration(ss.lastWrite.Load())
				cp.mu.Lock()
				busy := len(cp.pending) > 0 || len(cp.queue) > 0 || since < cp.st.senderIdle
				if !busy {
					cp.sess = nil // no more direct writes
				}
				cp.mu.Unlock()
				if busy {
					idle.Reset(max(cp.st.senderIdle-since, time.Millisecond))
					continue
				}
				ss.wmu.Lock()
				defer ss.wmu.Unlock()
				return nil, ss.close()
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		for i, m := range batch {
			if err := ss.writeMessage(ctx, m); err != nil {
				ss.wmu.Unlock()
				// m itself is accounted for: a deliver is among the
				// pending ones, which fail with the stream.
				return batch[i+1:], err
			}
		}
		ss.wmu.Unlock()
		idle.Reset(cp.st.senderIdle)
	}
}

// writeDirect writes m on the stream at once, on the sending goroutine:
// the queue is empty and nobody else is writing (wmu held by the
// caller, released here), so m is next in order anyway, and the hop to
// the session's goroutine is saved. (A receiver that stopped reading
// just as its window filled could hold this write until the write
// deadline; one that stops reading earlier holds the session's
// goroutine instead, and the messages queue.) A failure resets the
// stream, which ends the session (and fails m, if it waits for an ack,
// with it).
func (ss *chanSession) writeDirect(m *outMsg) {
	defer ss.wmu.Unlock()
	err := ss.writeMessage(ss.ctx, m)
	if err == nil {
		err = ss.bw.Flush()
	}
	if err != nil {
		ss.s.Reset()
	}
}

// close ends the stream cleanly: the receiver takes what is on it, then
// closes its side.
func (ss *chanSession) close() error {
	if err := ss.bw.Flush(); err != nil {
		return err
	}
	if err := ss.s.CloseWrite(); err != nil {
		return err
	}
	ss.s.SetReadDeadline(time.Now().Add(ss.cp.st.writeTimeout))
	err := <-ss.readDone
	ss.readOver, ss.readErr = true, err
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	ss.readErr = nil
	return ss.s.Close()
}

// writeMessage writes one message (and its blocks, if the receiver asks
// for them). An error is the stream's: the session ends. A message that
// fails on its own (its code cannot be listed) is finished here.
func (ss *chanSession) writeMessage(ctx context.Context, m *outMsg) error {
	cp, n := ss.cp, ss.cp.n
	defer cp.done(m)
	giveUp := func(err error) error {
		if m.ack != nil {
			m.ack.finish(err)
		} else {
			cp.st.c.droppedUnreachable.Add(1) // it cannot leave: counted with the lost ones
		}
		return nil
	}
	if m.ack != nil && m.ack.isDone() {
		return nil // timed out or canceled while queued
	}
	cm := &ChanMessage{Seq: ss.seq + 1, Channel: m.ch, Value: m.value, Ack: m.ack != nil}
	var rec *peerRecord // only for a value with code
	var deps, entries []cid.Cid
	if len(m.roots) > 0 {
		rec = n.peers.get(cp.p)
	}
	if len(m.roots) > 0 && !rec.sameStore() {
		var absent []cid.Cid
		var err error
		deps, absent, err = planSync(ctx, n.store, m.roots, rec.has)
		if err != nil {
			return giveUp(&ChanError{Peer: cp.name, Reason: ChanFailed, Err: localFailure(err), Msg: "listing the value's code: " + err.Error()})
		}
		deps = slices.DeleteFunc(deps, func(c cid.Cid) bool {
			_, isRoot := slices.BinarySearchFunc(m.roots, c, compareCIDs)
			return isRoot
		})
		if len(deps) > 0 || slices.ContainsFunc(m.roots, func(c cid.Cid) bool { return !rec.has(c) }) {
			if len(deps)+len(m.roots) > MaxSyncBlocks {
				return giveUp(&ChanError{Peer: cp.name, Reason: ChanFailed, Msg: fmt.Sprintf("the value depends on %d blocks the node may lack (limit %d)", len(deps)+len(m.roots), MaxSyncBlocks)})
			}
			if m.onBehalfOf != "" {
				// A foreign evaluation's message carries only code its
				// caller may have: checked before anything is written.
				for _, c := range deps {
					ok, err := n.cb.shareable(ctx, c, m.onBehalfOf)
					if err != nil {
						return giveUp(&ChanError{Peer: cp.name, Reason: ChanFailed, Msg: err.Error(), Err: err})
					}
					if !ok {
						d := privateDenial(c, "a message sent for a foreign evaluation cannot carry it")
						return giveUp(&ChanError{Peer: cp.name, Reason: ChanRefused, Msg: d.Error(), Err: d})
					}
				}
			}
			var err error
			if cm.Deps, err = digestsOf(deps); err == nil {
				cm.Absent, err = digestsOf(absent[:min(len(absent), MaxAbsentRoots)])
			}
			if err != nil {
				return giveUp(&ChanError{Peer: cp.name, Reason: ChanFailed, Msg: err.Error(), Err: err})
			}
			cm.Sync = true
			entries = append(slices.Clip(deps), m.roots...)
		}
	}
	ss.body = appendChanMessage(ss.body[:0], cm)
	ss.seq++
	if a := m.ack; a != nil {
		cp.mu.Lock()
		a.mu.Lock()
		if !a.done {
			a.seq = ss.seq
			cp.pending[ss.seq] = a
		}
		a.mu.Unlock()
		cp.mu.Unlock()
	}
	if cm.Sync {
		ss.syncSeq.Store(ss.seq) // before the write: the answer may be quick
	}
	if err := writeChanFrame(ss.bw, ss.body); err != nil {
		return err
	}
	if cap(ss.body) > chanWriteBuffer {
		ss.body = nil // a large value's buffer is not kept
	}
	ss.lastWrite.Store(int64(monoNow()))
	cp.st.c.sent.Add(1)
	if !cm.Sync {
		return nil
	}
	cp.st.c.syncs.Add(1)
	if err := ss.bw.Flush(); err != nil {
		return err
	}
	var r *ChanReply
	t := time.NewTimer(ChanSyncTimeout)
	defer t.Stop()
	select {
	case r = <-ss.syncAns:
	case err := <-ss.readDone:
		ss.readOver, ss.readErr = true, err
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("the receiver closed the stream")
		}
		return err
	case <-t.C:
		return fmt.Errorf("no answer about the value's code within %v", ChanSyncTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	ss.syncSeq.Store(0)
	switch {
	case len(r.Need) > 0:
		idx, err := bitsSet(r.Need, len(entries))
		if err != nil {
			return err
		}
		var st SyncStats
		if err := n.sendBlocks(ctx, cp.p, ss.fc, entries, idx, &st, m.onBehalfOf); err != nil {
			// The receiver waits for blocks the stream can no longer
			// carry in order: the stream ends.
			if m.ack != nil {
				m.ack.finish(&ChanError{Peer: cp.name, Reason: ChanFailed, Msg: "sending the value's code: " + err.Error(), Err: err})
			}
			return err
		}
		cp.st.c.blocksSent.Add(int64(st.Blocks))
		if err := ss.bw.Flush(); err != nil {
			return err
		}
		fallthrough
	case r.Ready:
		rec.learn(m.roots...)
		rec.learn(deps...)
	}
	// An error answer: the reader has finished the deliver.
	return nil
}

// read reads the receiver's replies until the stream ends.
func (ss *chanSession) read() {
	frames := &chanFrames{fc: ss.fc}
	defer frames.close()
	r := &ChanReply{} // the reply being routed, reused
	for {
		msg, release, err := frames.next(MaxChanReplySize)
		if err != nil {
			ss.readDone <- err
			return
		}
		err = decodeChanReply(msg, r)
		if err == nil {
			err = ss.route(r)
		}
		release()
		if err != nil {
			ss.s.Reset()
			ss.readDone <- err
			return
		}
	}
}

// route hands a reply to the writer (a sync answer) or to the deliver it
// completes.
func (ss *chanSession) route(r *ChanReply) error {
	cp := ss.cp
	syncing := ss.syncSeq.Load() == r.Seq
	if len(r.Need) > 0 || r.Ready {
		if !syncing {
			return badMessage("channel reply: a sync answer for message %d, which asked none", r.Seq)
		}
		select {
		case ss.syncAns <- r.clone():
		default:
			return badMessage("channel reply: a second sync answer for message %d", r.Seq)
		}
		return nil
	}
	if syncing && r.Error != nil {
		// The message failed before its sync: the writer goes on.
		select {
		case ss.syncAns <- r.clone():
		default:
			return badMessage("channel reply: a second answer for message %d", r.Seq)
		}
	}
	cp.mu.Lock()
	a := cp.pending[r.Seq]
	cp.mu.Unlock()
	if r.Error != nil {
		ce := callErrorFromWire(cp.name, r.Error)
		if ce.Code == CodeMissing {
			// The record said the peer held the value's code: it no
			// longer does. The next message lists it again.
			cp.n.peers.get(cp.p).forget()
		}
		if a != nil {
			a.finish(chanErrorFromWire(cp.name, ce))
		}
		return nil
	}
	if a != nil {
		a.finish(nil)
	}
	return nil
}

// clone copies r, whose reader reuses it and its bytes, for the writer.
func (r *ChanReply) clone() *ChanReply {
	c := *r
	c.Need = bytes.Clone(r.Need)
	return &c
}

// writeChanFrame writes body as one frame on w (a buffered writer:
// the prefix and the body are copied once, into its buffer).
func writeChanFrame(w io.Writer, body []byte) error {
	var hdr []byte
	if bw, ok := w.(*bufio.Writer); ok && bw.Available() >= binary.MaxVarintLen64 {
		hdr = bw.AvailableBuffer() // the prefix is built in place, not allocated
	}
	if _, err := w.Write(binary.AppendUvarint(hdr, uint64(len(body)))); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// chanFrames reads the frames of one channel stream. A frame of at most
// chanSmallFrame bytes that has arrived whole in the read buffer is
// copied into the stream's own small-frame buffer, whose memory the
// stream's scope reserved once, for the stream's life: the accounting of
// every small message, amortised. Any other frame (larger, still
// arriving, malformed) is read by frameConn.readFrame, which reserves
// its memory each time, and so is every frame if the reservation was
// refused. A small frame's bytes are overwritten by the next frame read:
// the caller is done with them by then.
type chanFrames struct {
	fc      *frameConn
	buf     []byte // chanSmallFrame bytes, once reserved
	refused bool   // the scope refused the reservation
}

func noRelease() {}

// next reads the next frame, of at most limit bytes (as readFrame).
func (r *chanFrames) next(limit int) ([]byte, func(), error) {
	if r.fc.r.Buffered() == 0 {
		// Wait for the frame's first bytes (an error here is the one
		// readFrame would return before any byte of a frame).
		if _, err := r.fc.r.Peek(1); err != nil {
			return nil, noRelease, err
		}
	}
	if b := r.small(limit); b != nil {
		return b, noRelease, nil
	}
	return r.fc.readFrame(limit)
}

// small returns the next frame if it is small and buffered whole.
func (r *chanFrames) small(limit int) []byte {
	br := r.fc.r
	head, _ := br.Peek(min(br.Buffered(), binary.MaxVarintLen64))
	n, k := binary.Uvarint(head)
	if k <= 0 || n == 0 || n > uint64(min(limit, chanSmallFrame)) || n > uint64(br.Buffered()-k) || r.refused {
		return nil
	}
	if r.buf == nil {
		if s := r.fc.scope; s != nil {
			if err := s.ReserveMemory(chanSmallFrame, network.ReservationPriorityHigh); err != nil {
				r.refused = true
				return nil
			}
		}
		r.buf = make([]byte, chanSmallFrame)
	}
	br.Discard(k)
	b := r.buf[:n]
	io.ReadFull(br, b) // buffered: it cannot fail
	r.fc.read += int64(k) + int64(n)
	return b
}

// close gives the small-frame buffer's reservation back.
func (r *chanFrames) close() {
	if r.buf != nil && r.fc.scope != nil {
		r.fc.scope.ReleaseMemory(chanSmallFrame)
	}
	r.buf, r.refused = nil, true
}

// deadlineWriter moves a stream's write deadline forward as it writes:
// a write that makes no progress for timeout fails.
type deadlineWriter struct {
	s       network.Stream
	timeout time.Duration
	last    time.Duration // monoNow when last moved; 0: never
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if now := monoNow(); w.last == 0 || now-w.last > min(chanDeadlineRearm, w.timeout/4) {
		w.s.SetWriteDeadline(time.Now().Add(w.timeout))
		w.last = max(now, 1)
	}
	return w.s.Write(p)
}

// deadlineReader moves a stream's read deadline forward as it reads,
// once active (after the first frame, whose deadline is admission's): a
// stream silent for idle fails.
type deadlineReader struct {
	s      network.Stream
	r      io.Reader
	idle   time.Duration
	active bool
	last   time.Duration // monoNow when last moved; 0: never
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.active {
		if now := monoNow(); d.last == 0 || now-d.last > min(chanDeadlineRearm, d.idle/4) {
			d.s.SetReadDeadline(time.Now().Add(d.idle))
			d.last = max(now, 1)
		}
	}
	return d.r.Read(p)
}

// ---- receiving ----

// acceptStream starts the handler of an inbound stream as every protocol
// handler starts (the template of /unode/eval/1.0.0): it counts the
// handler as work Close waits for, attaches the stream to the protocol's
// resource-manager service, and takes a place for it at the protocol's
// gate (fair admission, admission.go: the opener's class bounds the
// streams it holds and the memory its frames reserve). If any of them
// refuses, the stream has been reset and t is nil; otherwise the handler
// calls done once it is finished with the stream. what names the
// protocol in the log.
func (n *Node) acceptStream(s network.Stream, service, what string, g *streamGate) (t *streamTicket, done func()) {
	if !n.track() {
		s.Reset()
		return nil, nil
	}
	if err := s.Scope().SetService(service); err != nil {
		n.log.Debug(what+": cannot attach service", "peer", s.Conn().RemotePeer().String(), "err", err)
		s.Reset()
		n.wg.Done()
		return nil, nil
	}
	if t = n.admitStream(g, s); t == nil {
		n.wg.Done()
		return nil, nil
	}
	return t, func() {
		t.close()
		n.wg.Done()
	}
}

func (n *Node) handleChan(s network.Stream) {
	// The sender's class bounds the channel streams it holds here and
	// the memory its frames reserve; the first message must arrive
	// within the first-frame deadline, and then the stream may stay
	// silent for at most chanIdle.
	t, done := n.acceptStream(s, ServiceChan, "chan", n.admit.channel)
	if t == nil {
		return
	}
	defer done()
	remote := s.Conn().RemotePeer()
	lim := &n.admit.lim
	dr := &deadlineReader{s: s, r: t.frames(lim.chanFirstFrame, lim.chanIdle), idle: lim.chanIdle}
	// A sender that stops reading its replies stalls the writes: the
	// stream is reset after ChanWriteTimeout (or chanIdle, if shorter)
	// without progress.
	bw := bufio.NewWriterSize(&deadlineWriter{s: s, timeout: min(ChanWriteTimeout, lim.chanIdle)}, chanWriteBuffer)
	fc := &frameConn{r: bufio.NewReaderSize(dr, chanReadBuffer), w: bw, scope: t.scope()}
	var pace func(size int) error
	if t.key.c == unknownPeer {
		// Unknown peers' messages share a rate (MaxUnknownChanRate): a
		// flood costs the node a bounded share of its CPU, and the
		// sender is held back by its stream's flow control.
		pace = func(size int) error {
			return n.chans.unknownRate.take(n.ctx, 1+float64(size/chanRateUnit))
		}
	}
	err := n.serveChan(n.ctx, remote, fc, bw.Flush, func() { dr.active = true }, pace)
	var sf *chanSyncFailed
	if err == nil || errors.As(err, &sf) {
		// The sender ended the stream, or was told why it ends: close,
		// so that the reply reaches it.
		if ferr := bw.Flush(); ferr == nil {
			s.Close()
			if sf != nil {
				n.log.Info("chan: sync failed", "peer", remote.String(), "err", err)
			}
			return
		} else if err == nil {
			err = ferr
		}
	}
	level := slog.LevelDebug
	var me *MessageError
	var tl *FrameTooLargeError
	if errors.As(err, &me) || errors.As(err, &tl) {
		level = slog.LevelWarn
	}
	n.log.Log(context.Background(), level, "chan: stream ended", "peer", remote.String(), "err", err)
	s.Reset()
}

// serveChan takes the messages of one channel stream, in order, until the
// sender ends the stream (nil) or breaks the protocol, or a sync fails
// midway, or a read or write fails (the error: the stream must be
// reset). flush is called whenever the next read may block, so that
// replies leave in batches and never wait behind a read; started once
// the first message is in; pace, if set, before each message is taken
// (it may wait).
func (n *Node) serveChan(ctx context.Context, remote peer.ID, fc *frameConn, flush func() error, started func(), pace func(size int) error) error {
	var last uint64
	var body []byte // a reply's encoding
	pol := &chanPolicy{n: n, remote: remote}
	frames := &chanFrames{fc: fc}
	defer frames.close()
	m := &ChanMessage{} // the message being taken, reused
	for {
		if fc.r.Buffered() == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		msg, release, err := frames.next(MaxChanMessageSize)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if last == 0 && started != nil {
			started()
		}
		if pace != nil {
			if fc.r.Buffered() == 0 {
				// A wait may follow: the replies so far go first.
				if err := flush(); err != nil {
					release()
					return err
				}
			}
			if err := pace(len(msg)); err != nil {
				release()
				return err
			}
		}
		if err := decodeChanMessage(msg, m); err != nil {
			release()
			return err
		}
		if m.Seq != last+1 {
			release()
			return badMessage("channel message %d after %d", m.Seq, last)
		}
		last = m.Seq
		reply, err := n.takeChanMessage(ctx, remote, fc, flush, m, pol)
		release()
		if reply != nil {
			var werr error
			if body, werr = appendChanReply(body[:0], reply); werr == nil {
				werr = writeChanFrame(fc.w, body)
			}
			if werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			flush()
			return err
		}
	}
}

// chanSyncFailed ends a stream whose sync failed after the need reply:
// the reply saying why has been written.
type chanSyncFailed struct{ ce *CallError }

func (e *chanSyncFailed) Error() string { return "sync failed: " + e.ce.Error() }
func (e *chanSyncFailed) Unwrap() error { return e.ce }

// chanPolicy is what the policy lets the sender of a stream do with
// this node's channels, recomputed when the policy changes.
type chanPolicy struct {
	n      *Node
	remote peer.ID
	pol    *capabilities.Policy
	// send and deliver are the sandbox's verdicts on the two builtins,
	// decided once per policy, not per message.
	send, deliver error
	// memory is the sandbox's memory budget (as for an evaluation the
	// sender asked for here): what a chunked value may declare, and
	// decode to, before any of its chunks is asked for or read.
	memory int64
}

// check refuses a message whose builtin (send, or deliver with ack) the
// sandbox the policy gives the sender does not allow. A channel ID is a
// capability, but a node takes messages only from peers its policy lets
// use channels (the default sandbox, pure code, does not).
func (p *chanPolicy) check(ack bool) error {
	if pol := p.n.policy.Load(); pol != p.pol {
		sb, _ := pol.SandboxOf(p.remote)
		chk := capabilities.NewChecker(sb, catalog, p.n.id, p.remote)
		p.pol, p.send, p.deliver = pol, chk.CheckBuiltin("send"), chk.CheckBuiltin("deliver")
		p.memory = budgetMemory(p.n.budget(sb.Budget, nil))
	}
	if ack {
		return p.deliver
	}
	return p.send
}

// takeChanMessage takes one message: check the sender's sandbox, sync
// the value's code if asked, and hand the value to the channel's
// listeners. It returns the reply to write, if any, and an error when
// the stream cannot go on (a sync that failed after its need).
func (n *Node) takeChanMessage(ctx context.Context, remote peer.ID, fc *frameConn, flush func() error, m *ChanMessage, pol *chanPolicy) (*ChanReply, error) {
	c := &n.chans.c
	c.received.Add(1)
	// failed answers a message that was not taken: always a deliver or
	// a sync (the sender waits), and a send whose code turned out to be
	// missing (the sender's record is stale and must learn it).
	failed := func(ce *CallError) *ChanReply {
		if ce.Code == CodeDenied {
			c.refused.Add(1)
		} else {
			c.rejected.Add(1)
		}
		if m.Ack || m.Sync || ce.Code == CodeMissing {
			return &ChanReply{Seq: m.Seq, Error: ce.wire()}
		}
		return nil
	}
	if err := pol.check(m.Ack); err != nil {
		return failed(evalFailure(err)), nil
	}
	dec, err := n.chans.decoded.decode(m.Value)
	if err != nil {
		return failed(invalid("value: %v", err)), nil
	}
	// A value over the inline limit comes chunked (chunks.go): what its
	// chunks declare must fit the sender's memory budget here before
	// one is asked for, and they are read within it once synced.
	chunked := dag.HasChunkRefs(m.Value) && dag.DeclaredChunkBytes(dec.w) > 0
	if chunked {
		if ce := checkDeclared(dec.w, pol.memory, eval.BudgetMemory); ce != nil {
			return failed(ce), nil
		}
	}
	roots := dec.links
	synced := false
	if len(roots) > 0 || m.Sync {
		// What the value refers to stays while it is taken. (A sync
		// for a value without links is answered too: its blocks can
		// only be refused, as linked to nothing.)
		use := n.cb.retainer().newLease()
		defer use.release()
		use.protect(roots...)
		if m.Sync {
			deps := digestList(m.Deps)
			if len(deps)+len(roots) > MaxSyncBlocks {
				return failed(invalid("%d dependencies (limit %d)", len(deps)+len(roots), MaxSyncBlocks)), nil
			}
			absent := map[cid.Cid]bool{}
			for _, c := range digestList(m.Absent) {
				absent[c] = true
			}
			asked := false
			entries := append(deps, roots...)
			_, ce := n.receiveBlocksAsking(ctx, remote, fc, entries, nil, len(roots), use, absent, func(bits []byte) error {
				asked = true
				if err := fc.writeMessage(&ChanReply{Seq: m.Seq, Need: bits}); err != nil {
					return err
				}
				return flush()
			})
			if ce != nil {
				if asked {
					// Blocks may still be on their way: the stream
					// cannot be read in step any more, and ends once
					// the reply is out.
					return failed(ce), &chanSyncFailed{ce}
				}
				return failed(ce), nil
			}
			if !asked {
				if err := fc.writeMessage(&ChanReply{Seq: m.Seq, Ready: true}); err != nil {
					return nil, err
				}
			}
			// Answered: what follows answers Ack alone.
			m.Sync, synced = false, true
		}
		if err := n.cb.completeRoots(ctx, roots); err != nil {
			return failed(evalFailure(err)), nil
		}
		if synced && len(roots) > 0 {
			// The sync's roots stay until the sender's material is the
			// least recently used and room is needed (retain.go).
			n.cb.retainRoots(remote, roots)
		}
	}
	w := dec.w
	if chunked {
		var ce *CallError
		if w, _, ce = n.readChunks(ctx, w, pol.memory, eval.BudgetMemory); ce != nil {
			return failed(ce), nil
		}
	}
	v, err := chanValueFromWire(w)
	if err != nil {
		return failed(invalid("value: %v", err)), nil
	}
	taken := n.net.LocalHost.DeliverLocal(m.Channel, v)
	if taken == 0 {
		c.droppedNoListener.Add(1)
		if m.Ack {
			return &ChanReply{Seq: m.Seq, Error: &WireError{Code: string(CodeMsg), Which: whichNoListener, Msg: eval.ErrNoListener.Error()}}, nil
		}
		return nil, nil
	}
	c.taken.Add(1)
	if m.Ack {
		return &ChanReply{Seq: m.Seq, Taken: uint64(taken)}, nil
	}
	return nil, nil
}
