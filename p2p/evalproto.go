package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// /unode/eval/1.0.0 (docs/protocol.md, "Remote evaluation"):
//
//	caller                                   callee
//	EvalRequest{thunk, store, budget, prefixes | deps} ->
//	                                         <- EvalReply{Need{bits}}     (only if it lacks blocks)
//	BlocksMessage{blocks} ...               ->
//	                                         <- EvalReply{Result | Error}
//
// The caller keeps its write side open until the reply: the callee
// watches the stream while it evaluates, and a reset (the caller's
// context was canceled, or its node went away) cancels the evaluation.

// ---- caller ----

// callOptions are the optional parts of a call.
type callOptions struct {
	// tokens are presented to the callee (encoded).
	tokens [][]byte
	// onBehalfOf, when set, is the peer whose foreign evaluation makes
	// the call: only blocks shareable with it may be sent (published, or
	// sent here by that peer).
	onBehalfOf peer.ID
}

// callThunk evaluates a thunk (in wire form) at p, retrying once with a
// full dependency list if the callee turned out to lack a block this
// node's record said it had.
func (n *Node) callThunk(ctx context.Context, p peer.ID, addrs []ma.Multiaddr, thunk dag.Value, b Budget, opt ...callOptions) (*callResult, error) {
	var o callOptions
	if len(opt) > 0 {
		o = opt[0]
	}
	// A warm caller sends the same thunk again and again: its encoding
	// is cached as the callee caches its decoding (decodecache.go).
	if o.onBehalfOf != "" && leaseFrom(ctx) == nil {
		// The thunk's chunks are the peer's (encodeSent): kept for the call.
		l := n.retainer().newLease()
		defer l.release()
		ctx = withLease(ctx, l)
	}
	data, roots, err := n.decoded.encode(thunk, func() ([]byte, []cid.Cid, error) { return n.encodeSent(ctx, thunk, o.onBehalfOf) })
	if err != nil {
		if dq := (*DiskQuotaError)(nil); errors.As(err, &dq) {
			ce := dq.callError()
			ce.Msg = "storing the thunk's chunks: " + ce.Msg
			return nil, ce
		}
		return nil, &CallError{Peer: p.String(), Code: CodeMsg, Msg: "encoding the thunk: " + err.Error()}
	}
	if len(addrs) > 0 {
		n.host.Peerstore().AddAddrs(p, addrs, peerstore.TempAddrTTL)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	rec := n.peers.get(p)
	var st SyncStats
	var wire wireCount
	refused := 0
	for attempt := 0; ; attempt++ {
		res, shortcut, err := n.callOnce(ctx, p, rec, data, roots, b, &st, &wire, attempt > 0, o)
		if err == nil {
			res.sync = st
			res.wire = wire
			n.synced.add(st)
			return res, nil
		}
		var ce *CallError
		if attempt == 0 && shortcut != 0 && errors.As(err, &ce) && ce.Code == CodeMissing && ce.Peer != "" && n.holds(ctx, ce.CID) {
			// The record was stale (the peer lost blocks, or its store
			// was replaced), or a digest prefix resolved to another
			// block at the peer (a block this node holds and listed is
			// missing there): forget the record and list everything, by
			// full digest.
			rec.forget()
			st.RoundTrips++
			continue
		}
		if refused < refusedRetries && errors.As(err, &ce) && ce.refused {
			// The callee's admission turned the stream away before
			// reading it (a full share of streams still negotiating,
			// where a newcomer evicts the oldest): nothing ran there,
			// so one more try after a short, jittered pause gets an
			// honest caller through a flood of bare streams.
			refused++
			if sleepCtx(ctx, refusedBackoff+time.Duration(mrand.Int64N(int64(refusedBackoff)))) != nil {
				n.synced.add(st)
				return &callResult{sync: st}, err
			}
			continue
		}
		n.synced.add(st)
		return &callResult{sync: st}, err
	}
}

// sleepCtx waits d, or until ctx is done (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// holds reports whether this node holds block c: a block the callee
// misses that this node lacks too is not made available by a retry
// (the callee was told it is absent here, and looked for providers).
func (n *Node) holds(ctx context.Context, c cid.Cid) bool {
	if !c.Defined() {
		return true
	}
	ok, err := n.store.Has(ctx, c)
	return ok || err != nil
}

// The shortcuts a dependency list may take, which a retry with the full
// list undoes (callOnce).
const (
	usedRecord   = 1 << iota // blocks left out on the strength of the per-peer record
	usedPrefixes             // blocks listed by digest prefix
)

// callOnce runs one eval exchange. shortcut reports how the dependency
// list was shortened (usedRecord, usedPrefixes); fullList lists every
// block by full digest.
func (n *Node) callOnce(ctx context.Context, p peer.ID, rec *peerRecord, thunk []byte, roots []cid.Cid, b Budget, st *SyncStats, wire *wireCount, fullList bool, o callOptions) (res *callResult, shortcut int, err error) {
	ps := n.peerName(p)
	var deps, absent []cid.Cid
	if !rec.sameStore() {
		known := func(c cid.Cid) bool {
			if rec.has(c) {
				shortcut |= usedRecord
				return true
			}
			return false
		}
		if fullList {
			known = nil
		}
		deps, absent, err = planSync(ctx, n.store, roots, known)
		if err != nil {
			return nil, 0, localFailure(err)
		}
		// The thunk names its roots already: the list holds the rest.
		deps = slices.DeleteFunc(deps, func(c cid.Cid) bool {
			_, isRoot := slices.BinarySearchFunc(roots, c, compareCIDs)
			return isRoot
		})
		if len(deps)+len(roots) > MaxSyncBlocks {
			return nil, 0, &CallError{Code: CodeMsg, Msg: fmt.Sprintf("the thunk depends on %d blocks the peer may lack (limit %d)", len(deps)+len(roots), MaxSyncBlocks)}
		}
	}
	// The callee answers about the listed blocks, then the roots.
	// (Only read: with no list, the roots themselves.)
	entries := roots
	if len(deps) > 0 {
		entries = append(slices.Clip(deps), roots...)
	}
	// The request and its budget in one allocation.
	rb := &struct {
		r EvalRequest
		w WireBudget
	}{r: EvalRequest{Thunk: thunk, Store: n.storeID, StoreProof: n.storeProof, Tokens: o.tokens}}
	r := &rb.r
	if b.wireInto(ctx, &rb.w) {
		r.Budget = &rb.w
	}
	// What the thunk names that this node lacks: the callee fetches it
	// from providers, and does not ask this node (fetchforeign.go).
	if r.Absent, err = digestsOf(absent[:min(len(absent), MaxAbsentRoots)]); err != nil {
		return nil, 0, localFailure(err)
	}
	if fullList || len(deps) == 0 {
		r.Deps, err = digestsOf(deps)
	} else {
		// Digest prefixes: a quarter of the bytes (see EvalRequest).
		r.Prefixes, err = prefixesOf(deps)
		shortcut |= usedPrefixes
	}
	if err != nil {
		return nil, 0, localFailure(err)
	}
	req, size, err := frameMessage(r) // EncodeEvalRequest, framed
	if err != nil {
		return nil, 0, localFailure(err)
	}
	if size > MaxRequestSize {
		return nil, 0, &CallError{Code: CodeMsg, Msg: fmt.Sprintf("request of %d bytes exceeds the limit of %d", size, MaxRequestSize)}
	}

	s, err := n.host.NewStream(ctx, p, ProtocolEval)
	if err != nil {
		return nil, shortcut, streamFailure(ctx, ps, "opening a stream", err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	fail := func(doing string, err error) (*callResult, int, error) {
		s.Reset()
		return nil, shortcut, streamFailure(ctx, ps, doing, err)
	}
	if err := s.Scope().SetService(ServiceEval); err != nil {
		return fail("attaching the eval service", err)
	}
	// No stream deadline: ctx always has one (callThunk), and the
	// AfterFunc above resets the stream when it passes, which ends any
	// read or write in progress the same way (and saves arming yamux's
	// deadline timers on every call).
	// Every read of fc, the need reply's goroutine's too, is over when
	// callOnce returns.
	fc := pooledFrameConn(s, s.Scope())
	defer fc.free()
	defer func() {
		wire.out += fc.written
		wire.in += fc.read
	}()
	if err := fc.writeFramed(req); err != nil {
		return fail("sending the request", err)
	}
	asked := false
	var early *frameRead // a reply read while blocks were being sent
	for {
		var msg []byte
		var release func()
		if early != nil {
			msg, release, err = early.msg, early.release, early.err
			early = nil
		} else {
			msg, release, err = fc.readFrame(MaxReplySize)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the peer closed the stream without a reply")
			}
			return fail("reading the reply", err)
		}
		reply, err := DecodeEvalReply(msg)
		release()
		if err != nil {
			return fail("reading the reply", err)
		}
		switch {
		case reply.Need != nil:
			if asked {
				return fail("reading the reply", badMessage("a second need reply"))
			}
			asked = true
			idx, err := bitsSet(reply.Need.Bits, len(entries))
			if err != nil {
				return fail("reading the need reply", err)
			}
			st.RoundTrips++
			before := fc.written
			// The callee may end the sync before it has every block (a
			// block it refuses, its disk quota): its reply is read while
			// the blocks go, so that an early error stops the sending
			// and reaches the caller, rather than the caller writing on
			// into a stream nobody reads until its deadline.
			var sending atomic.Bool
			sending.Store(true)
			got := make(chan *frameRead, 1)
			go func() {
				var r frameRead
				r.msg, r.release, r.err = fc.readFrame(MaxReplySize)
				if r.err == nil && sending.Load() {
					s.Reset() // ends the writes; the reply is in hand
				}
				got <- &r
			}()
			err = n.sendBlocks(ctx, p, fc, entries, idx, st, o.onBehalfOf)
			sending.Store(false)
			wire.blocks += fc.written - before
			if err != nil {
				var ce *CallError
				if errors.As(err, &ce) {
					s.Reset()
					if r := <-got; r.err == nil {
						r.release()
					}
					return nil, shortcut, err
				}
				if r := <-got; r.err == nil {
					early = r // the callee's reason, not the broken write
					continue
				}
				return fail("sending blocks", err)
			}
			early = <-got
		case reply.Error != nil:
			s.Close()
			err := callErrorFromWire(ps, reply.Error)
			var ce *CallError
			if shortcut&usedPrefixes != 0 && errors.As(err, &ce) && !slices.ContainsFunc(deps, ce.CID.Equals) {
				// Only a listed block can be missing because of its
				// prefix: a full list would not help.
				shortcut &^= usedPrefixes
			}
			return nil, shortcut, err
		default:
			r := reply.Result
			if len(r.Chunks) == 0 {
				s.Close()
			}
			same := n.provenStore(p, r.Store, r.StoreProof)
			rec.setStatus(r.Store, same, -1)
			dec, err := n.decoded.decode(r.Value)
			if err != nil {
				s.Reset()
				return nil, shortcut, resultFailure(ps, err)
			}
			w := dec.w
			// Large parts (chunks.go): what they declare must fit the
			// result budget before one is asked for.
			chunked := dec.chunked
			limit, which := resultLimit(b)
			if chunked {
				if ce := checkDeclared(w, limit, which); ce != nil {
					s.Reset()
					ce.Peer = ps
					return nil, shortcut, ce
				}
				if leaseFrom(ctx) == nil {
					// The value's chunks, held or received, are kept
					// until they are read (acceptPinned).
					use := n.retainer().newLease()
					defer use.release()
					ctx = withLease(ctx, use)
				}
				leaseFrom(ctx).protect(dec.links...)
			}
			if len(r.Chunks) > 0 {
				raw, err := n.receiveResultChunks(ctx, fc, digestList(r.Chunks), limit, st)
				if err != nil {
					s.Reset()
					return nil, shortcut, resultFailure(ps, err)
				}
				s.Close()
				r.Blocks = append(slices.Clip(r.Blocks), raw...)
			}
			// A value that names no block (a scalar, most small results)
			// brings nothing to accept.
			if !same && (len(dec.links) > 0 || len(r.Blocks) > 0 || o.onBehalfOf != "") {
				var croots []cid.Cid
				if chunked {
					croots = chunkRootsOf(w)
				}
				if err := n.acceptResultBlocks(ctx, p, dec.links, r.Blocks, o.onBehalfOf, croots); err != nil {
					return nil, shortcut, resultFailure(ps, err)
				}
			}
			rec.learn(roots...)
			rec.learn(deps...)
			if chunked {
				var ce *CallError
				if w, _, ce = n.readChunks(ctx, w, limit, which); ce != nil {
					ce.Peer = ps
					return nil, shortcut, ce
				}
			}
			var v eval.Value
			if chunked {
				v, err = eval.FromWire(w)
			} else {
				v, err = dec.evalValue()
			}
			if err != nil {
				return nil, shortcut, resultFailure(ps, err)
			}
			return &callResult{value: v, stats: Stats{Fuel: r.Fuel, Memory: r.Memory}}, shortcut, nil
		}
	}
}

// frameRead is the outcome of one readFrame.
type frameRead struct {
	msg     []byte
	release func()
	err     error
}

// sendBlocks sends deps[i] for each i in idx, in batches. On behalf of
// a peer's foreign evaluation (onBehalfOf set), only blocks this node
// shares with that peer may go.
func (n *Node) sendBlocks(ctx context.Context, to peer.ID, fc *frameConn, deps []cid.Cid, idx []int, st *SyncStats, onBehalfOf peer.ID) error {
	var batch [][]byte
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fc.writeMessage(&BlocksMessage{Blocks: batch})
		batch, size = nil, 0
		return err
	}
	for _, i := range idx {
		if onBehalfOf != "" {
			ok, err := n.cb.shareable(ctx, deps[i], onBehalfOf)
			if err != nil {
				return localFailure(err)
			}
			if !ok {
				return evalFailure(privateDenial(deps[i], "a call made for a foreign evaluation cannot send it"))
			}
		}
		data, err := n.store.Get(ctx, deps[i])
		if errors.Is(err, dag.ErrNotFound) {
			// A block the caller referred to without holding it: the
			// callee was expected to hold it.
			// (No Peer: this is not the callee lacking what the record
			// said it held, which a retry with a full list would fix.)
			return &CallError{Code: CodeMissing, CID: deps[i], Msg: "neither this node nor the callee (" + shortPeer(to.String()) + ") holds it"}
		}
		if err != nil {
			return localFailure(err)
		}
		n.sent(to, deps[i])
		const overhead = 9 // a byte string header, at most
		if len(batch) > 0 && size+len(data)+overhead > blocksBatchTarget {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, data)
		size += len(data) + overhead
		st.Blocks++
		st.Bytes += int64(len(data))
	}
	return flush()
}

// localFailure classifies a failure to prepare a call on this node.
func localFailure(err error) error {
	var me *dag.MissingError
	if errors.As(err, &me) && len(me.CIDs) > 0 {
		return &CallError{Code: CodeMissing, CID: me.CIDs[0], Msg: "not in this node's store"}
	}
	return err
}

// resultFailure classifies a bad result.
func resultFailure(p string, err error) error {
	var ce *CallError
	if errors.As(err, &ce) {
		c := *ce
		c.Peer = p
		return &c
	}
	var me *dag.MissingError
	if errors.As(err, &me) && len(me.CIDs) > 0 {
		return &CallError{Peer: p, Code: CodeMissing, CID: me.CIDs[0], Msg: "the result refers to a block the callee did not send"}
	}
	return &CallError{Peer: p, Code: CodeInvalid, Msg: "bad result: " + err.Error()}
}

// ---- callee ----

func (n *Node) handleEval(s network.Stream) {
	// Fair admission (acceptStream): the caller's class bounds the eval
	// streams it may hold here and the memory its frames reserve; the
	// request must arrive within the first-frame deadline, what follows
	// it (blocks after a need) within RequestReadTimeout.
	t, done := n.acceptStream(s, ServiceEval, "eval", n.admit.eval)
	if t == nil {
		return
	}
	// The stream's reader, frame connection, memory scope and watcher
	// in one allocation (a warm call makes several thousand a second).
	es := &evalStream{n: n, s: s, done: done, remote: s.Conn().RemotePeer()}
	rw := &es.rw
	t.framesInto(rw, n.admit.lim.evalFirstFrame, RequestReadTimeout)
	rw.lazyAfter = true
	// Every write is bounded: a need (and the blocks' wait) by
	// RequestReadTimeout, the reply by ReplyWriteTimeout, each armed as
	// its write starts.
	rw.setWriteTimeout(RequestReadTimeout)
	es.fc = pooledFrameConn(rw, t.scopeInto(&es.scope))
	// The worker owns the stream from here: this handler returns.
	n.goJob(es)
}

// evalStream is the callee's side of one eval stream.
type evalStream struct {
	n      *Node
	s      network.Stream
	done   func() // from acceptStream
	remote peer.ID
	rw     firstFrameReader
	fc     *frameConn   // from framePool, freed once served
	scope  unknownScope // the frames' scope, for an unknown caller

	// The watcher (watch): mu guards stopped and timer; running is done
	// once the watcher's timer function has returned.
	mu        sync.Mutex
	stopped   bool
	running   sync.WaitGroup
	timer     *watchTimer // from watchTimers, once armed
	armed     atomic.Bool // timer is set
	watchFrom time.Time   // when the evaluation started
	deadline  time.Time
	cancel    *budgetCtx // the evaluation's: its stop cancels it

	// ctx is the evaluation's context (serveEval), allocated with the
	// stream's state.
	ctx budgetCtx
}

// run serves the stream, on a worker (a job).
func (es *evalStream) run() {
	defer es.done()
	n := es.n
	// serveEval returns once the watcher, the only other user of the
	// connection, has stopped (stopWatching).
	replied, err := n.serveEval(n.ctx, es.remote, es.fc, serveHooks{es: es})
	es.fc.free()
	if err != nil {
		var ce *CallError
		level := slog.LevelInfo
		if errors.As(err, &ce) && ce.Code == CodeInvalid {
			level = slog.LevelWarn
		}
		n.log.Log(context.Background(), level, "eval: request failed", "peer", es.remote.String(), "err", err)
	}
	if replied {
		es.s.Close()
	} else {
		es.s.Reset()
	}
}

// watch is called when all input is in and the evaluation starts
// under ctx (whose stop cancels it). Nothing more is due from the
// caller: a read that returns is a reset (or a protocol violation) and
// stops the work. A clean EOF is a caller that half-closed and still
// waits; the deadline is the evaluation's own business. Watching starts
// only once the evaluation has run for watchDelay: most finish sooner,
// and need no watcher goroutine. The watcher peeks, consuming nothing,
// and stopWatching waits for it: a chunked result's need, which the
// caller sends once it has the reply, is read by serveResultChunks
// alone.
//
// Nor do most need a timer: the evaluation's context arms the watcher
// (arm) when the thread's periodic check finds it has run for
// watchDelay, or when anything waits on the context (an effect that
// blocks, a call it makes), for what is left of watchDelay then. Until
// one of these, the evaluation is computing, and it reaches its next
// check within checkInterval steps, none of which waits.
func (es *evalStream) watch(ctx *budgetCtx) {
	es.deadline, es.cancel = ctx.deadline, ctx
	es.watchFrom = time.Now()
	ctx.watcher.Store(es)
	if ctx.inner.Load() != nil {
		es.arm() // something waits on the context already
	}
}

// arm starts the watcher's timer for what is left of watchDelay: once,
// and not once stopWatching has begun.
func (es *evalStream) arm() {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.stopped || es.timer != nil {
		return
	}
	es.running.Add(1)
	es.timer = startWatchTimer(es, watchDelay-time.Since(es.watchFrom))
	es.armed.Store(true)
}

func (es *evalStream) watcher() {
	defer es.running.Done()
	es.mu.Lock()
	if es.stopped {
		es.mu.Unlock()
		return
	}
	es.rw.setReadDeadline(es.deadline)
	es.mu.Unlock()
	_, err := es.fc.r.Peek(1)
	es.mu.Lock()
	defer es.mu.Unlock()
	if !es.stopped && !errors.Is(err, io.EOF) && !isTimeout(err) {
		es.cancel.stop()
	}
}

// stopWatching is called when the evaluation has ended (more than once
// is the same as once).
func (es *evalStream) stopWatching() {
	es.mu.Lock()
	was := es.stopped
	es.stopped = true
	wt := es.timer
	es.mu.Unlock()
	if was || wt == nil {
		return
	}
	if wt.t.Stop() {
		wt.free()
		es.running.Done() // the watcher never ran
		return
	}
	es.s.SetReadDeadline(time.Now()) // wake the watcher
	es.running.Wait()
	wt.free() // its function has returned
	es.rw.setReadDeadline(time.Now().Add(RequestReadTimeout))
}

// serveHooks connect serveEval to the stream; without one (es nil) they
// do nothing.
type serveHooks struct {
	es *evalStream
}

// evaluating is called when all input is in and the evaluation starts
// under ctx, whose stop cancels it. stopWatching is called when the
// evaluation has ended.
func (h serveHooks) evaluating(ctx *budgetCtx) {
	if h.es != nil {
		h.es.watch(ctx)
	}
}

// budgetCtx is the context for the evaluation's time budget: the
// stream's, or a new one.
func (h serveHooks) budgetCtx() *budgetCtx {
	if h.es != nil {
		return &h.es.ctx
	}
	return new(budgetCtx)
}

func (h serveHooks) stopWatching() {
	if h.es != nil {
		h.es.stopWatching()
	}
}

// replying is called before the final reply is written.
func (h serveHooks) replying() {
	if h.es != nil {
		h.es.rw.setWriteTimeout(ReplyWriteTimeout)
	}
}

// serveEval runs the callee's side of one exchange over fc: read and
// check the request, compute the caller's sandbox, sync what is missing,
// link the code against the sandbox, evaluate under the sandbox's budget
// and reply (see caps.go). It returns whether a final reply (result or
// typed error) was written, and the error reported, if any. Every
// request that decodes is recorded in the audit log.
func (n *Node) serveEval(ctx context.Context, remote peer.ID, fc *frameConn, hooks serveHooks) (replied bool, _ error) {
	write := func(e *CallError) (bool, error) {
		hooks.replying()
		werr := fc.writeMessage(&EvalReply{Error: e.wire()})
		return werr == nil, e
	}
	msg, release, err := fc.readFrame(MaxRequestSize)
	if err != nil {
		if ce := readFailure(err); ce != nil {
			return write(ce)
		}
		return false, err
	}
	defer release()
	req, err := DecodeEvalRequest(msg)
	if err != nil {
		return write(invalid("%v", err))
	}

	// From here on the request is audited, whatever its outcome.
	rs := n.peerName(remote)
	entry := capabilities.AuditEntry{Peer: rs}
	var th *eval.Thread
	// audit records the request's outcome. The entry of an evaluation
	// that presented a token or asked for node data is durable before
	// audit returns, so before any reply leaves: such an evaluation is
	// never acknowledged and then missing from the log after a crash.
	// Others (pure code under the default sandbox) are written within
	// capabilities.AuditWindow. It returns an error only when a durable
	// entry could not be written.
	audit := func(ce *CallError, detail string) error {
		entry.Outcome = outcomeOf(ce)
		n.met.countForeign(ctx, n.metricClass(remote, len(entry.Tokens)), ce) // metrics.go
		if ce != nil {
			entry.Detail = ce.Error()
		} else {
			entry.Detail = detail
		}
		durable := len(req.Tokens) > 0
		if th != nil {
			entry.Fuel, entry.Memory = th.Steps(), th.MemoryUsed()
			if fh, ok := th.Host.(*foreignHost); ok && fh.touchedData.Load() {
				durable = true
			}
		}
		if entry.Root == "" {
			// The thunk did not decode: its hash names it.
			entry.Root = dag.NewBlock(req.Thunk).CID.String()
		}
		if !durable {
			if err := n.grants.Audit(context.WithoutCancel(ctx), entry); err != nil {
				n.log.Warn("eval: audit log", "peer", rs, "err", err)
			}
			return nil
		}
		if err := n.grants.AuditDurable(context.WithoutCancel(ctx), entry); err != nil {
			n.log.Warn("eval: audit log", "peer", rs, "err", err)
			return err
		}
		return nil
	}
	fail := func(e *CallError) (bool, error) {
		audit(e, "") // an error reply carries nothing the log must vouch for
		return write(e)
	}

	// Decode the thunk first: no sync work for a request that cannot run.
	dec, err := n.decoded.decode(req.Thunk)
	if err != nil {
		return fail(invalid("thunk: %v", err))
	}
	w := dec.w
	// A thunk with chunked parts is read once its chunks are here
	// (chunks.go); until then only its shape is checked.
	chunked := dec.chunked
	var tv eval.Value
	if chunked {
		if c, ok := w.(*dag.VClosure); !ok {
			return fail(invalid("the value to evaluate is not a thunk"))
		} else if _, ok := c.Code.(*dag.Delay); !ok {
			return fail(invalid("the value to evaluate is not a thunk"))
		}
	} else {
		if tv, err = dec.evalValue(); err != nil {
			return fail(invalid("thunk: %v", err))
		}
		if c, ok := tv.(*eval.Closure); !ok || c.Arity() != 0 {
			return fail(invalid("the value to evaluate is not a thunk"))
		}
	}
	roots := dec.links
	entry.Root = dec.auditRoot(req.Thunk)

	// The sandbox, and what the thunk names itself, before any work.
	acc := n.accessFor(ctx, remote, req.Tokens)
	entry.Tokens = acc.tokenIDs
	thunkBuiltins, directDefs := dec.refs()
	if err := acc.chk.CheckLink(thunkBuiltins, directDefs); err != nil {
		return fail(acc.denied(asDenial(err)))
	}
	sb := acc.chk.Sandbox()
	g := n.budget(sb.Budget, req.Budget)
	// The time budget: a context.WithTimeout that arms no timer unless
	// something waits on it (warm_ctx.go); on the stream's state when
	// there is one, so it costs no allocation either.
	bc := hooks.budgetCtx()
	bc.init(ctx, time.Now().Add(g.Timeout))
	ctx = bc
	defer bc.stop()
	if chunked {
		// What the chunks declare must fit the memory budget before
		// one is asked for.
		if ce := checkDeclared(w, budgetMemory(g), eval.BudgetMemory); ce != nil {
			return fail(ce)
		}
	}

	same := n.heardStore(remote, req.Store, req.StoreProof)
	// What the evaluation uses (its roots, what its sync lists and
	// brings, what calls it makes return) is in use until it ends: no
	// collection takes it (retain.go).
	use := n.retainer().newLease()
	defer use.release()
	use.protect(roots...)
	ctx = withLease(ctx, use)
	deps := req.DepCIDs()
	prefixes := req.DepPrefixes()
	// What the caller says it does not hold: never asked of it, fetched
	// from providers if this node lacks it too (fetchforeign.go).
	var absent map[cid.Cid]bool // only read: nil when there are none
	if ac := req.AbsentCIDs(); len(ac) > 0 {
		absent = make(map[cid.Cid]bool, len(ac))
		for _, c := range ac {
			absent[c] = true
		}
	}
	// The warm case: the caller lists nothing (its record says this node
	// holds the closure) and every root is complete here. The sync check
	// would then ask for nothing and completeRoots mark nothing, so one
	// lookup per root stands for both (the roots are in use from here on,
	// so no collection takes them meanwhile). A failed lookup takes the
	// general path, which reports it.
	warm := len(deps)+len(prefixes) == 0 && len(roots) <= MaxSyncBlocks
	for _, r := range roots {
		if !warm {
			break
		}
		ok, err := n.store.IsComplete(ctx, r)
		warm = ok && err == nil
	}
	if !warm && !same && len(deps)+len(prefixes)+len(roots) > 0 {
		if len(deps)+len(prefixes)+len(roots) > MaxSyncBlocks {
			return fail(invalid("%d dependencies (limit %d)", len(deps)+len(prefixes)+len(roots), MaxSyncBlocks))
		}
		if len(prefixes) > 0 {
			// Resolve the prefixes against the blocks held here; the
			// unresolved stay undefined and are asked for.
			deps = make([]cid.Cid, len(prefixes))
			for i, p := range prefixes {
				c, ok, err := n.store.ResolvePrefix(ctx, p)
				if err != nil {
					return fail(evalFailure(err))
				}
				if h := n.resolveHook.Load(); h != nil {
					c, ok = (*h)(p, c, ok)
				}
				if ok {
					deps[i] = c
				}
			}
		}
		entries := append(slices.Clip(deps), roots...)
		idx, e := n.receiveBlocks(ctx, remote, fc, entries, prefixes, len(roots), use, absent)
		if e != nil {
			return fail(e)
		}
		if len(prefixes) > 0 {
			// What the caller certainly holds (resultBlocks leaves it
			// out of the result): the listed blocks it sent. A block
			// resolved from a prefix may not be the caller's.
			deps = deps[:0]
			for _, i := range idx {
				if i < len(prefixes) {
					deps = append(deps, entries[i])
				}
			}
		}
	}
	if warm {
		// Complete already (above).
	} else if err := n.cb.completeRoots(ctx, roots); err != nil {
		// Published code the caller named without holding it comes from
		// providers, on the caller's account (fetchforeign.go).
		if ce := n.fetchAbsent(ctx, remote, roots, absent, use, err); ce != nil {
			// What arrived is linked from the roots: it stays, unretained,
			// for a retry with a full list (or the next collection).
			return fail(ce)
		}
	}
	if !same {
		// The sync's roots stay until the caller's material is the least
		// recently used and room is needed.
		n.cb.retainRoots(remote, roots)
	}
	// Link: the builtins of everything the thunk refers to. The roots
	// include its chunk roots, so this also checks what the values in
	// its chunks name (code in a chunked list), as the first check did
	// the thunk's own, before any chunk is read (caps.go, summarize).
	l, err := n.link(ctx, acc.chk, thunkBuiltins, directDefs, roots)
	if err != nil {
		return fail(acc.denied(err))
	}
	if chunked {
		rw, used, ce := n.readChunks(ctx, w, budgetMemory(g), eval.BudgetMemory)
		if ce != nil {
			return fail(ce)
		}
		// The thunk's decoded chunks are the evaluation's memory.
		g.MaxMemory = remainingMemory(g, used)
		if tv, err = eval.FromWire(rw); err != nil {
			return fail(invalid("thunk: %v", err))
		}
		if c, ok := tv.(*eval.Closure); !ok || c.Arity() != 0 {
			return fail(invalid("the value to evaluate is not a thunk"))
		}
	}

	// Wait for a slot among the foreign evaluations of the request's
	// class (admission.go): strangers share a bounded part of them.
	slot, ce := n.admit.slots.hold(ctx, remote, n.admit.slotClass(remote, acc))
	if ce != nil {
		return fail(ce)
	}
	defer slot.release()
	hooks.evaluating(bc)
	defer hooks.stopWatching()
	if h := n.evalHook.Load(); h != nil {
		(*h)()
	}
	c := &n.counters
	c.started.Add(1)
	c.running.Add(1)
	th = &eval.Thread{
		Name:   n.foreignThreadName(remote),
		Loader: n.store,
		Host:   newForeignHost(n, acc.chk, remote),
		// No Names: messages sent back name definitions by hash, not by
		// this node's local names.
		Fuel:           g.Fuel,
		MaxMemory:      g.MaxMemory,
		MaxDepth:       g.MaxDepth,
		MaxResultBytes: g.MaxResultBytes,
	}
	n.guard(ctx, th, acc.chk, l)
	v, err := th.Call(ctx, tv)
	c.running.Add(-1)
	if err != nil {
		if errors.Is(err, eval.ErrCanceled) {
			c.canceled.Add(1)
			audit(&CallError{Code: CodeMsg, Msg: "canceled: " + err.Error()}, "")
			return false, fmt.Errorf("evaluation canceled: %w", err)
		}
		c.failed.Add(1)
		return fail(acc.denied(err))
	}
	if !same {
		if err := n.checkShareableCode(ctx, v, remote); err != nil {
			c.failed.Add(1)
			return fail(evalFailure(err))
		}
	}
	// Bounded by the thread's result budget as it expands: a result
	// with much shared structure is refused before its wire form grows.
	rw, err := th.ToWire(v)
	if err != nil {
		c.failed.Add(1)
		var be *eval.BudgetError
		if errors.As(err, &be) {
			return fail(&CallError{Code: CodeBudget, Which: be.Which, Msg: "the result cannot be sent: " + err.Error()})
		}
		return fail(&CallError{Code: CodeMsg, Msg: "the result cannot be sent: " + err.Error()})
	}
	ev, err := n.decoded.encodeResult(rw) // dag.EncodeValueChunked
	var enc []byte
	if err == nil {
		enc = ev.Data
		if same && len(ev.Chunks) > 0 {
			// The caller reads them from the store both use.
			err = n.storeOwnChunks(ctx, ev.Chunks)
			ev.Chunks = nil
		}
	}
	if err != nil {
		c.failed.Add(1)
		if errors.Is(err, dag.ErrTooLarge) {
			return fail(&CallError{Code: CodeBudget, Which: eval.BudgetResult, Msg: err.Error()})
		}
		return fail(&CallError{Code: CodeMsg, Msg: "the result cannot be sent: " + err.Error()})
	}
	var blocks [][]byte
	if !same && !linkless(rw) {
		bs, err := resultBlocks(ctx, n.store, dag.ValueLinks(rw), roots, deps, MaxReplySize-len(enc)-4096,
			func(c cid.Cid) (bool, error) { return n.cb.shareable(ctx, c, remote) })
		if err != nil {
			c.failed.Add(1)
			return fail(evalFailure(err))
		}
		for _, b := range bs {
			n.sent(remote, b.CID)
			blocks = append(blocks, b.Data)
		}
	}
	if err := audit(nil, ""); err != nil {
		// The result would reach the caller with no durable record of
		// an evaluation that used a token or node data: refuse it.
		c.failed.Add(1)
		return write(&CallError{Code: CodeMsg, Msg: "the audit log could not be written: " + storeFailureText(err)})
	}
	c.succeeded.Add(1)
	hooks.replying()
	// The reply and its result in one allocation.
	reply := &struct {
		e EvalReply
		r ResultReply
	}{r: ResultReply{Value: enc, Blocks: blocks, Store: n.storeID, StoreProof: n.storeProof, Fuel: th.Steps(), Memory: th.MemoryUsed()}}
	res := &reply.r
	reply.e.Result = res
	chunks := parentsFirst(ev.Chunks)
	if len(chunks) > 0 {
		if len(chunks) > MaxSyncBlocks {
			return write(&CallError{Code: CodeBudget, Which: eval.BudgetResult, Msg: fmt.Sprintf("the result has %d chunks (limit %d)", len(chunks), MaxSyncBlocks)})
		}
		cs := make([]cid.Cid, len(chunks))
		for i, b := range chunks {
			cs[i] = b.CID
		}
		if res.Chunks, err = digestsOf(cs); err != nil {
			return write(evalFailure(err))
		}
	}
	if len(chunks) > 0 {
		hooks.stopWatching() // the caller's need follows the reply (serveResultChunks)
	}
	if err := fc.writeMessage(&reply.e); err != nil {
		return false, fmt.Errorf("writing the result: %w", err)
	}
	if len(chunks) > 0 {
		if err := n.serveResultChunks(ctx, remote, fc, chunks); err != nil {
			return false, err
		}
	}
	return true, nil
}

// linkless reports whether w is a scalar, which refers to no block
// (dag.ValueLinks of it is empty): a small result needs no look for
// blocks to send with it.
func linkless(w dag.Value) bool {
	switch w.(type) {
	case *dag.VInt, *dag.VFloat, *dag.VText, *dag.VBool, *dag.VBytes, *dag.VUnit:
		return true
	}
	return false
}

// sent reports a block sent to a peer to the test hook.
func (n *Node) sent(to peer.ID, c cid.Cid) {
	if h := n.sentHook.Load(); h != nil {
		(*h)(to, c)
	}
}

// acceptResultBlocks stores the blocks that came from peer from with a
// result (or a fetch) and records the new ones as received from it. For
// this node's own calls and fetches (onBehalfOf empty) they are pinned,
// with what they link to, but for the chunks of the value itself (those
// chunkRoots, the roots of its chunk references, reach), which are
// stored on from's account (acceptPinned). For a call a foreign
// evaluation made, they are stored on that evaluation's caller's
// say-so: unpinned, charged to
// onBehalfOf, protected while the evaluation runs (the lease in ctx),
// and its roots retained for it (retain.go).
func (n *Node) acceptResultBlocks(ctx context.Context, from peer.ID, links []cid.Cid, raw [][]byte, onBehalfOf peer.ID, chunkRoots []cid.Cid) error {
	blocks, err := checkResultBlocks(links, raw)
	if err != nil {
		return err
	}
	if onBehalfOf == "" {
		return n.acceptPinned(ctx, from, links, blocks, chunkRoots)
	}
	l := leaseFrom(ctx)
	if l == nil {
		l = n.retainer().newLease()
		defer l.release()
	}
	l.protect(links...)
	store, fresh, err := n.cb.chargeForeign(ctx, l, onBehalfOf, blocks, nil)
	var dq *DiskQuotaError
	if errors.As(err, &dq) {
		return dq.callError()
	}
	if err != nil {
		return err
	}
	if err := n.store.AddBlocks(ctx, store); err != nil {
		return err
	}
	if err := n.cb.markReceived(ctx, fresh, from); err != nil {
		return err
	}
	if err := n.cb.completeRoots(ctx, links); err != nil {
		return err
	}
	n.cb.retainRoots(onBehalfOf, links)
	return nil
}

// acceptPinned stores result blocks of this node's own call: pinned, and
// only if with what is held they complete the result's links, so that a
// pinned block is complete (a result that misses a block stores
// nothing). The value's own chunks are the exception: the callee chose
// them, so they are unpinned, charged to it within its disk quota,
// protected by the call's lease until the value is read, and retained
// (storeForeignChunks). Chunks code links to (a literal) stay pinned.
func (n *Node) acceptPinned(ctx context.Context, from peer.ID, links []cid.Cid, blocks []dag.Block, chunkRoots []cid.Cid) error {
	// The chunks of the value itself are the callee's say-so, not code
	// the value needs: stored unpinned on its account, under the call's
	// lease (callOnce), and retained for it (chunks.go).
	var chunks []dag.Block
	var vc map[cid.Cid]bool
	if len(chunkRoots) > 0 && leaseFrom(ctx) != nil {
		var err error
		if vc, err = valueChunks(chunkRoots, blocks); err != nil {
			return err
		}
	}
	pin := slices.DeleteFunc(slices.Clone(links), func(c cid.Cid) bool { return vc[c] })
	inBatch := make(map[cid.Cid]bool, len(blocks))
	for _, b := range blocks {
		inBatch[b.CID] = true
		if vc[b.CID] {
			chunks = append(chunks, b)
			continue
		}
		pin = append(pin, b.CID)
	}
	for _, b := range blocks {
		ls, err := dag.Links(b.Data)
		if err != nil {
			return fmt.Errorf("result block %s: %w", b.CID, err)
		}
		for _, l := range ls {
			if !vc[l] {
				pin = append(pin, l)
			}
		}
		needed, err := dag.NeededLinks(b.Data)
		if err != nil {
			return fmt.Errorf("result block %s: %w", b.CID, err)
		}
		for _, l := range needed {
			if inBatch[l] {
				continue
			}
			if ok, err := n.store.Has(ctx, l); err != nil {
				return err
			} else if !ok {
				return &dag.MissingError{CIDs: []cid.Cid{l}}
			}
		}
	}
	release, err := n.cb.pinFor(ctx, pin)
	if err != nil {
		return err
	}
	defer release()
	if len(chunks) > 0 {
		blocks = slices.DeleteFunc(slices.Clone(blocks), func(b dag.Block) bool { return vc[b.CID] })
		if err := n.storeForeignChunks(ctx, from, chunks, chunkRoots); err != nil {
			var dq *DiskQuotaError
			if errors.As(err, &dq) {
				return dq.callError()
			}
			return err
		}
	}
	if len(blocks) > 0 {
		fresh, err := newBlocks(ctx, n.store, blocks)
		if err != nil {
			return err
		}
		if err := n.store.AddBlocks(ctx, blocks); err != nil {
			return err
		}
		if err := n.cb.markReceived(ctx, fresh, from); err != nil {
			return err
		}
	}
	return n.cb.completeRoots(ctx, links)
}

// readFailure turns a read error into the error to report to the peer,
// or nil when the peer is gone and nothing can be reported.
func readFailure(err error) *CallError {
	var tl *FrameTooLargeError
	var ce *CallError
	var me *MessageError
	switch {
	case errors.As(err, &tl):
		return invalid("%v", tl)
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &me):
		return invalid("%v", me)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("truncated message (the stream ended inside it)")
	case isTimeout(err):
		return &CallError{Code: CodeTimeout, Msg: "the request did not arrive in time"}
	}
	return nil
}
