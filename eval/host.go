package eval

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"
)

// Host performs the effects of the language for a Thread: remote
// evaluation (here, at, at', fallback, race, quorum go through Spawn), and
// through optional interfaces, channels (ChannelHost), node data
// (DataHost) and clusters (ClusterHost). The p2p package implements it
// over libp2p; LocalHost implements it in memory for one node. A Host
// enforces its own policy: a method that refuses an effect returns an
// error wrapping ErrDenied.
//
// Host methods are called on the thread's goroutine during evaluation;
// they may block (the builtins that wait select on the context and
// Cancel themselves) and may evaluate code on the same thread with
// Thread.Force.
type Host interface {
	// Here is the node the thread runs on.
	Here(th *Thread) (*Node, error)
	// Spawn starts forcing thunk (a closure of no arguments) at node
	// and returns the future of its result. A failure to reach the node
	// or a failed evaluation fails the future, not the call. The future
	// must complete eventually (hosts put deadlines on remote calls):
	// race and quorum wait for it in goroutines.
	Spawn(th *Thread, node *Node, thunk Value) *Future
}

// ChannelHost is implemented by hosts that support channels.
type ChannelHost interface {
	NewChannel(th *Thread) (*Channel, error)
	// Send sends v to whoever listens on ch at node. Without ack it is
	// fire-and-forget (the result is nil, or an already failed future
	// when the host refuses the send outright); with ack the future
	// resolves to () once a listener took the message and fails
	// otherwise.
	Send(th *Thread, node *Node, ch *Channel, v Value, ack bool) *Future
	// Listen returns a future of the next message on ch (which must be
	// a channel of this node).
	Listen(th *Thread, ch *Channel) *Future
}

// DataHost is implemented by hosts that keep node-local data.
type DataHost interface {
	DataGet(th *Thread, key string) (Value, bool, error)
	DataPut(th *Thread, key string, v Value) error
	// DataList returns the keys with the prefix, sorted.
	DataList(th *Thread, prefix string) ([]string, error)
	DataDelete(th *Thread, key string) error
}

// ClusterHost is implemented by hosts that know about clusters.
type ClusterHost interface {
	// Provision picks a member of the cluster: one that answers and
	// confirms its membership, by load and ping time, spreading
	// successive calls over members that are equally good.
	Provision(th *Thread, c *Cluster) (*Node, error)
	// Members lists the members that answer and confirm their
	// membership.
	Members(th *Thread, c *Cluster) ([]*Node, error)
	// PingTime is the round trip time from node from to node to:
	// measured by this node when from is this node, else asked of from
	// (which may refuse).
	PingTime(th *Thread, from, to *Node) (time.Duration, error)
	// Load is the node's load, 0 (idle) to 1 (busy) or more.
	Load(th *Thread, node *Node) (float64, error)
}

// ErrMissing is what a Host wraps when a remote evaluation lacked a
// block; it reaches await! as Err.Missing.
var ErrMissing = errors.New("missing")

// Future is the result of an evaluation that may not have finished: a
// value or an Err value, set once.
type Future struct {
	done chan struct{}
	once sync.Once
	v    Value
	err  Value // an Err constructor value when failed
	// cause is the Go error that failed the future (Fail), kept for the
	// runtime error of await and at.
	cause error
	// sent is the thunk a spawn sent (at, at'), to relocate a remote
	// runtime error into this node's source (remote_errors.go).
	sent Value

	cancelMu sync.Mutex
	onCancel func()

	// Functions to run on completion (whenDone), by registration number.
	cbMu   sync.Mutex
	cbs    map[uint64]func()
	cbNext uint64
	fired  bool

	// ranFor is how long ForceHere took to complete the future before
	// returning it (future_here.go); zero for other futures.
	ranFor time.Duration

	// listener marks the future of a listen: a message counts as taken
	// only if it completes the future (DeliverLocal), so timeout fails
	// the listener itself when its time is up, and a message arriving at
	// that moment is either the answer or told there was no listener,
	// never acknowledged and lost.
	listener bool
}

func (*Future) Type() string     { return "Future" }
func (f *Future) String() string { return "<future>" }

// NewFuture returns a pending future.
func NewFuture() *Future { return &Future{done: make(chan struct{})} }

// Resolve completes the future with a value. Later completions are
// ignored.
func (f *Future) Resolve(v Value) {
	f.complete(func() { f.v = v })
}

// resolveFirst is Resolve, reporting whether v completed the future
// (false: it had completed, by a cancel, a timeout or the end of the
// evaluation, and v went nowhere).
func (f *Future) resolveFirst(v Value) bool {
	return f.complete(func() { f.v = v })
}

// failFirst is FailWith, reporting whether errv completed the future.
func (f *Future) failFirst(errv Value) bool {
	return f.complete(func() { f.err = errv })
}

// FailWith fails the future with an Err value.
func (f *Future) FailWith(errv Value) {
	f.complete(func() { f.err = errv })
}

// Fail fails the future with ErrValue(err), keeping err as the cause of
// the runtime error that await and at raise for it.
func (f *Future) Fail(err error) {
	f.complete(func() {
		f.err = ErrValue(err)
		f.cause = err
	})
}

// failAs fails f the way g (completed) failed: the same Err value and
// Go cause, so that a denial or a budget error keeps its type through
// race, fallback and timeout.
func (f *Future) failAs(g *Future) {
	f.complete(func() { f.err, f.cause = g.err, g.cause })
}

// complete sets the result once and runs the whenDone functions; it
// reports whether this call completed the future.
func (f *Future) complete(set func()) bool {
	first := false
	f.once.Do(func() {
		set()
		close(f.done)
		first = true
	})
	if !first {
		return false
	}
	f.cbMu.Lock()
	cbs := f.cbs
	f.cbs, f.fired = nil, true
	f.cbMu.Unlock()
	if len(cbs) == 0 {
		return true
	}
	// In registration order, so that what they do happens in an order
	// that does not depend on map iteration.
	ids := make([]uint64, 0, len(cbs))
	for id := range cbs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		cbs[id]()
	}
	return true
}

// whenDone runs fn once the future completes (at once if it has), on the
// goroutine that completes it; stop unregisters fn if it has not run.
// timeout, race and quorum wait this way instead of with a goroutine per
// future, so that what they wait for costs a map entry, not a stack.
func (f *Future) whenDone(fn func()) (stop func()) {
	f.cbMu.Lock()
	if f.fired {
		f.cbMu.Unlock()
		fn()
		return func() {}
	}
	if f.cbs == nil {
		f.cbs = map[uint64]func(){}
	}
	id := f.cbNext
	f.cbNext++
	f.cbs[id] = fn
	f.cbMu.Unlock()
	return func() {
		f.cbMu.Lock()
		delete(f.cbs, id)
		f.cbMu.Unlock()
	}
}

// OnCancel sets the function that stops the work behind a pending
// future; a Host sets it before returning the future from Spawn (the p2p
// host resets the stream of the remote evaluation). It runs at most once,
// on the first Cancel of a pending future.
func (f *Future) OnCancel(fn func()) {
	f.cancelMu.Lock()
	f.onCancel = fn
	f.cancelMu.Unlock()
}

// Cancel fails a pending future with Msg "canceled" and stops the work
// behind it (see OnCancel). It does nothing to a completed future. race
// cancels the losers once one node has answered, and quorum the nodes
// still working once it has decided.
func (f *Future) Cancel() {
	if _, _, ok := f.Result(); ok {
		return
	}
	f.FailWith(newData1(errMsgCtor, Text("canceled")))
	f.cancelMu.Lock()
	fn := f.onCancel
	f.onCancel = nil
	f.cancelMu.Unlock()
	if fn != nil {
		fn()
	}
}

// NodeParser is implemented by hosts that know what names a node:
// Node.fromText uses it. ParseNode returns false when text names no
// node. Without it, any non-empty text without white space is taken as
// a node ID.
type NodeParser interface {
	ParseNode(text string) (*Node, bool)
}

// Done is closed when the future completes.
func (f *Future) Done() <-chan struct{} { return f.done }

// Result returns the value or the Err value of a completed future; ok is
// false while it is pending.
func (f *Future) Result() (v, errv Value, ok bool) {
	select {
	case <-f.done:
		return f.v, f.err, true
	default:
		return nil, nil, false
	}
}

// ErrValue converts a Go error to the language's Err type: Timeout for
// ErrTimeout, Err.Denied for ErrDenied, Err.BudgetExceeded for a
// *BudgetError, Err.Missing for ErrMissing, and Msg otherwise.
func ErrValue(err error) Value {
	var be *BudgetError
	var re *RuntimeError
	switch {
	case errors.Is(err, ErrTimeout):
		return errTimeoutValue
	case errors.Is(err, ErrDenied):
		return newData1(errDeniedCtor, Text(err.Error()))
	case errors.As(err, &be):
		return newData1(errBudgetCtor, Text(be.Which))
	case errors.Is(err, ErrMissing):
		return newData1(errMissingCtor, Text(err.Error()))
	case errors.As(err, &re):
		return newData1(errMsgCtor, Text(re.Msg))
	}
	return newData1(errMsgCtor, Text(err.Error()))
}

// Force forces a thunk on this thread for a Host (for example for `at
// here t`). A runtime error in the thunk is returned; running out of
// budget or being canceled unwinds the whole evaluation as usual. Force
// must only be called from within an evaluation on th.
func (th *Thread) Force(thunk Value) (Value, error) {
	if th.running == 0 {
		return nil, errors.New("Thread.Force called outside an evaluation")
	}
	return th.callCatch(thunk)
}

// await waits for f, honouring the context and Cancel.
func (th *Thread) await(f *Future) (v, errv Value) {
	if v, errv, ok := f.Result(); ok {
		th.admit(v) // a value from elsewhere enters the thread
		return v, errv
	}
	select {
	case <-f.done:
	case <-th.done():
		panic(th.ctxError())
	case <-th.canceledChan():
		th.check()
	}
	th.admit(f.v)
	return f.v, f.err
}

// LocalHost is a Host for a single node with no network: `here` is its
// node, a thunk sent to it runs at once on the calling thread (so its
// futures are already complete when returned, and results are
// deterministic), channels and node data live in memory, and every
// cluster is this node alone. Channel IDs are 128 random bits. It is
// safe for concurrent use.
//
// Channels follow the seed's lower-level API: a message resolves every
// listener pending on its channel at that moment (DeliverLocal) and
// nothing is buffered, so a message nobody listens for is dropped (a
// deliver fails with ErrNoListener). Listeners are weak: a pending listen
// whose future has become garbage (nothing can await it any more) is
// removed by a runtime cleanup, so programs never close channels; and
// the listeners an evaluation registered are removed when it ends.
// Awaiting a listen that no send answers blocks until the context's
// deadline or Thread.Cancel.
type LocalHost struct {
	node *Node

	mu   sync.Mutex
	data map[string]Value
	// listeners: the pending listens on each channel (by ID), by
	// registration number. An entry holds its future weakly.
	listeners map[string]map[uint64]listener
	// byThread: the registrations of each running evaluation (number to
	// channel ID), for removing its listeners when it ends. It holds no
	// futures, so that it does not keep an abandoned listener alive.
	byThread map[*Thread]map[uint64]string
	// lastListener numbers the registrations, in the order they were
	// made: a message resolves its listeners in that order.
	lastListener uint64
}

// listener is a pending listen: its future (weakly), the evaluation that
// made it (nil outside one) and the cleanup that removes the entry once
// the future is garbage.
type listener struct {
	f       weak.Pointer[Future]
	th      *Thread
	cleanup runtime.Cleanup
}

// listenerKey names a registration for its cleanup, which must not refer
// to the future it watches.
type listenerKey struct {
	ch string
	n  uint64
	th *Thread
}

// ErrNoListener fails a deliver whose message no listener took: nobody
// was listening on the channel when it arrived, so it was dropped.
var ErrNoListener = errors.New("no listener on the channel")

// NewLocalHost returns a LocalHost whose node has the given ID.
func NewLocalHost(id string) *LocalHost {
	return &LocalHost{
		node:      &Node{ID: id},
		data:      map[string]Value{},
		listeners: map[string]map[uint64]listener{},
		byThread:  map[*Thread]map[uint64]string{},
	}
}

// channelIDBytes is the length of a channel ID LocalHost makes: 128
// random bits, so that a channel is an unguessable capability (knowing
// its ID is what lets code send to it).
const channelIDBytes = 16

// Listening reports how many listeners are waiting for a message: the
// registrations whose future is still alive (one that became garbage
// stops counting as soon as the collector finds it, before its cleanup
// has removed the entry).
func (h *LocalHost) Listening() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.listeners {
		for _, l := range m {
			if l.f.Value() != nil {
				n++
			}
		}
	}
	return n
}

// registrations reports the entries in the listener registry and in its
// per-evaluation index, live or not yet cleaned up (for tests measuring
// that collected listeners really leave).
func (h *LocalHost) registrations() (entries, indexed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.listeners {
		entries += len(m)
	}
	for _, reg := range h.byThread {
		indexed += len(reg)
	}
	return entries, indexed
}

// The well-known request channel of a node (`requests node`), for
// protocols written in the language on top of channels, such as the
// seed's at' (a Request record sent to a node's requests channel). Its
// ID is public and the same on every node: the channel is the pair
// (node, ID), and a message reaches it only when sent to that node. Only
// the node's own evaluations may listen on it (p2p refuses foreign
// code); who may send to it is decided as for the node's own channels.
//
// The ID is 16 bytes of SHA-256("unode requests channel v1") followed by
// 16 zero bytes: 32 bytes like the IDs p2p makes, whose last 16 bytes
// are an HMAC tag that is all zeros with probability 2^-128, and longer
// than LocalHost's 16-byte IDs, so no channel a node makes has it.
var requestsChannelID = func() [32]byte {
	var id [32]byte
	sum := sha256.Sum256([]byte("unode requests channel v1"))
	copy(id[:16], sum[:16])
	return id
}()

// RequestsChannelID returns (a copy of) the ID of every node's requests
// channel.
func RequestsChannelID() []byte { return bytes.Clone(requestsChannelID[:]) }

// IsRequestsChannel reports whether id is the ID of a requests channel.
func IsRequestsChannel(id []byte) bool { return bytes.Equal(id, requestsChannelID[:]) }

// RequestsChannel is node's requests channel.
func RequestsChannel(node *Node) *Channel {
	return &Channel{ID: RequestsChannelID(), Node: node.ID}
}

var (
	_ Host        = (*LocalHost)(nil)
	_ ChannelHost = (*LocalHost)(nil)
	_ DataHost    = (*LocalHost)(nil)
	_ ClusterHost = (*LocalHost)(nil)
)

func (h *LocalHost) Here(*Thread) (*Node, error) { return h.node, nil }

func (h *LocalHost) Spawn(th *Thread, node *Node, thunk Value) *Future {
	f := NewFuture()
	if node.ID != h.node.ID {
		f.Fail(fmt.Errorf("node %s is unreachable (local host %s has no network)", node.ID, h.node.ID))
		return f
	}
	return ForceHere(th, thunk) // future_here.go
}

func (h *LocalHost) NewChannel(*Thread) (*Channel, error) {
	id := make([]byte, channelIDBytes)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	return &Channel{ID: id, Node: h.node.ID}, nil
}

// Send delivers v at once to the listeners on ch when node is this node
// and ch one of its channels; a message to a channel of another node
// sent here has no listener (only a channel's node listens on it, and
// the requests channels of all nodes share one ID). Another node is
// unreachable: a send to it is dropped, a deliver fails.
func (h *LocalHost) Send(_ *Thread, node *Node, ch *Channel, v Value, ack bool) *Future {
	taken := 0
	local := node.ID == h.node.ID
	if local && ch.Node == h.node.ID {
		taken = h.DeliverLocal(ch.ID, v)
	}
	if !ack {
		return nil
	}
	f := NewFuture()
	switch {
	case taken > 0:
		f.Resolve(UnitValue)
	case !local:
		f.Fail(fmt.Errorf("node %s is unreachable (local host %s has no network)", node.ID, h.node.ID))
	default:
		f.Fail(ErrNoListener)
	}
	return f
}

// DeliverLocal resolves with v every listener pending on the channel
// with ID chID on this host at this moment, removes them, and returns
// how many took the message (0: nobody listened and the message is
// dropped; nothing is buffered). Listeners are resolved in the order
// they were registered. The p2p handler for incoming channel messages
// calls it; Send calls it for this node's own channels.
func (h *LocalHost) DeliverLocal(chID []byte, v Value) (taken int) {
	h.mu.Lock()
	m := h.listeners[string(chID)]
	delete(h.listeners, string(chID))
	live, stops := h.takeLocked(m)
	h.mu.Unlock()
	stopCleanups(stops)
	// A listener completed meanwhile (canceled by race, timed out, its
	// evaluation ended) did not take the message: only those v completes
	// count, so that a deliver is never acknowledged for a message no
	// program will see.
	for _, f := range live {
		if f.resolveFirst(v) {
			taken++
		}
	}
	return taken
}

// takeLocked unindexes the listeners m (removed from h.listeners by the
// caller) and returns their futures still alive, in registration order,
// and their cleanups, to stop once h.mu is released.
func (h *LocalHost) takeLocked(m map[uint64]listener) ([]*Future, []runtime.Cleanup) {
	if len(m) == 0 {
		return nil, nil
	}
	ns := make([]uint64, 0, len(m))
	for n := range m {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	live := make([]*Future, 0, len(ns))
	stops := make([]runtime.Cleanup, 0, len(ns))
	for _, n := range ns {
		l := m[n]
		h.unindexLocked(l.th, n)
		stops = append(stops, l.cleanup)
		if f := l.f.Value(); f != nil {
			live = append(live, f)
		}
	}
	return live, stops
}

// unindexLocked removes registration n from th's index. An index
// emptied is replaced by a new map: Go maps do not shrink, and one that
// held many listeners would otherwise keep their memory until the
// evaluation ends.
func (h *LocalHost) unindexLocked(th *Thread, n uint64) {
	if th == nil {
		return
	}
	reg, ok := h.byThread[th]
	if !ok {
		return
	}
	delete(reg, n)
	if len(reg) == 0 {
		h.byThread[th] = map[uint64]string{}
	}
}

func stopCleanups(cs []runtime.Cleanup) {
	for _, c := range cs {
		c.Stop()
	}
}

func (h *LocalHost) Listen(th *Thread, ch *Channel) *Future {
	f := NewFuture()
	f.listener = true
	if ch.Node != h.node.ID {
		f.Fail(fmt.Errorf("cannot listen on a channel of node %s", ch.Node))
		return f
	}
	id := string(ch.ID)
	h.mu.Lock()
	h.lastListener++
	k := listenerKey{ch: id, n: h.lastListener, th: th}
	m := h.listeners[id]
	if m == nil {
		m = map[uint64]listener{}
		h.listeners[id] = m
	}
	// The cleanup is added under h.mu, so that it is in the entry before
	// a message or the end of the evaluation can take the entry and stop
	// it; if it runs first, it waits for h.mu and finds the entry.
	m[k.n] = listener{f: weak.Make(f), th: th, cleanup: runtime.AddCleanup(f, h.collected, k)}
	first := false
	if th != nil {
		reg, ok := h.byThread[th]
		if !ok {
			reg = map[uint64]string{}
			h.byThread[th] = reg
			first = true
		}
		reg[k.n] = id
	}
	h.mu.Unlock()
	if first {
		th.OnEnd(func() { h.release(th) })
	}
	return f
}

// collected removes the registration of a listen whose future became
// garbage: nothing can await it, so no message needs to reach it.
func (h *LocalHost) collected(k listenerKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m, ok := h.listeners[k.ch]; ok {
		delete(m, k.n)
		if len(m) == 0 {
			delete(h.listeners, k.ch)
		}
	}
	h.unindexLocked(k.th, k.n)
}

// release removes the listeners th registered and fails their futures
// (Msg "canceled"): the evaluation that would await them has ended.
func (h *LocalHost) release(th *Thread) {
	var gone []*Future
	var stops []runtime.Cleanup
	h.mu.Lock()
	reg := h.byThread[th]
	delete(h.byThread, th)
	ns := make([]uint64, 0, len(reg))
	for n := range reg {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	for _, n := range ns {
		id := reg[n]
		m := h.listeners[id]
		l, ok := m[n]
		if !ok {
			continue
		}
		delete(m, n)
		if len(m) == 0 {
			delete(h.listeners, id)
		}
		stops = append(stops, l.cleanup)
		if f := l.f.Value(); f != nil {
			gone = append(gone, f)
		}
	}
	h.mu.Unlock()
	stopCleanups(stops)
	for _, f := range gone {
		f.Cancel()
	}
}

func (h *LocalHost) DataGet(_ *Thread, key string) (Value, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.data[key]
	return v, ok, nil
}

func (h *LocalHost) DataPut(_ *Thread, key string, v Value) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.data[key] = v
	return nil
}

func (h *LocalHost) DataList(_ *Thread, prefix string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for k := range h.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

func (h *LocalHost) DataDelete(_ *Thread, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.data, key)
	return nil
}

// Provision returns the local node: every cluster is this node alone.
func (h *LocalHost) Provision(*Thread, *Cluster) (*Node, error) { return h.node, nil }

// Members is the local node alone.
func (h *LocalHost) Members(*Thread, *Cluster) ([]*Node, error) { return []*Node{h.node}, nil }

// PingTime is 0 from the local node to itself; other nodes are
// unreachable.
func (h *LocalHost) PingTime(_ *Thread, from, to *Node) (time.Duration, error) {
	for _, n := range []*Node{from, to} {
		if n.ID != h.node.ID {
			return 0, fmt.Errorf("node %s is unreachable (local host %s has no network)", n.ID, h.node.ID)
		}
	}
	return 0, nil
}

// Load is 0 for the local node; other nodes are unreachable.
func (h *LocalHost) Load(_ *Thread, n *Node) (float64, error) {
	if n.ID != h.node.ID {
		return 0, fmt.Errorf("node %s is unreachable (local host %s has no network)", n.ID, h.node.ID)
	}
	return 0, nil
}
