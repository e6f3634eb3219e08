package p2p

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/unode-dev/unode/capabilities"
)

// Fair admission of inbound streams and foreign evaluations
// (docs/protocol.md, "Deadlines and admission").
//
// A peer ID costs nothing to make, so libp2p's per-peer limits do not
// bound what a burst of fresh peers can hold; and its node-wide limits
// cannot tell the peers the owner knows from strangers. So the node keeps
// its own books, by class:
//
//   - trusted: a peer the policy lists (capabilities.Policy.Peers), the
//     audience of an active grant this node issued, or a peer that
//     presented a token that verified here within VerifiedPeerTTL;
//   - unknown: everyone else.
//
// At stream open (eval, blocks, status) the opener's class decides how
// many streams of that protocol it may hold: unknown peers a few each and,
// all together, a fixed share well below what libp2p admits; trusted
// peers many more. A stream over its share is reset at once. When the
// unknown share is full, a newcomer evicts the oldest unknown stream
// whose first frame has not arrived: an honest caller sends its request
// as it opens the stream, so its stream waits for it a moment, while a
// slowloris's waits for ever; to keep the share an attacker must open
// streams faster than the share's size per such moment.
//
// Every stream's first frame must arrive whole within a few seconds
// (EvalFirstFrameTimeout, FirstFrameTimeout); the frames unknown peers'
// streams reserve are bounded per peer and, beyond a small allowance per
// stream, in all (MaxUnknownPeerFrameMemory, MaxUnknownFrameMemory), so
// strangers cannot take the eval service's memory either.
//
// After the request is read, an evaluation takes a slot: a request from a
// policy peer or with a verified token from the whole pool, any other
// from the unknown share (MaxUnknownSlots, MaxUnknownSlotsPerPeer); a
// freed slot goes to a waiting trusted request first. So trusted callers
// always find MaxConcurrentForeign-MaxUnknownSlots slots that no stranger
// can hold.

// peerClass is how far the node trusts a peer with its capacity.
type peerClass uint8

const (
	unknownPeer peerClass = iota
	trustedPeer
)

func (c peerClass) String() string {
	if c == trustedPeer {
		return "trusted"
	}
	return "unknown"
}

// gateLimits bound the inbound streams of one protocol.
type gateLimits struct {
	unknownPerPeer, unknown, trustedPerPeer int
}

// slotLimits bound the evaluation slots.
type slotLimits struct {
	total, unknown, unknownPerPeer, trustedPerPeer int
}

// admissionLimits are the bounds admission enforces; tests shrink them
// (withAdmissionLimits).
type admissionLimits struct {
	// negotiating bounds inbound streams before their protocol is
	// negotiated (admittingRM); eval, blocks and status those of each
	// protocol.
	negotiating          gateLimits
	eval, blocks, status gateLimits
	member               gateLimits // /unode/member/1.0.0 (member.go)
	slots                slotLimits
	// unknownMemory and unknownPeerMemory bound the frame memory that
	// unknown peers' streams hold, in all and per peer.
	unknownMemory, unknownPeerMemory int
	// evalFirstFrame and firstFrame are the deadlines of the first frame
	// of an eval stream and of a blocks or status stream.
	evalFirstFrame, firstFrame time.Duration
	// verifiedTTL is how long a peer whose token verified stays
	// trusted; maxVerified how many such peers are remembered.
	verifiedTTL time.Duration
	maxVerified int
	// grantRefresh is how old the cached set of grant audiences may get
	// before it is read again.
	grantRefresh time.Duration

	// channel bounds /unode/chan/1.0.0 streams (chanproto.go);
	// chanFirstFrame is the deadline of their first message, chanIdle
	// how long one may then stay silent.
	channel                  gateLimits
	chanFirstFrame, chanIdle time.Duration
}

// defaultAdmissionLimits are limits.go's.
func defaultAdmissionLimits() admissionLimits {
	return admissionLimits{
		negotiating: negotiatingLimits,
		eval:        gateLimits{MaxUnknownEvalStreamsPerPeer, MaxUnknownEvalStreams, MaxTrustedEvalStreamsPerPeer},
		blocks:      gateLimits{MaxUnknownBlocksStreamsPerPeer, MaxUnknownBlocksStreams, MaxTrustedBlocksStreamsPerPeer},
		status:      gateLimits{MaxUnknownStatusStreamsPerPeer, MaxUnknownStatusStreams, MaxTrustedStatusStreamsPerPeer},
		member:      gateLimits{MaxUnknownMemberStreamsPerPeer, MaxUnknownMemberStreams, MaxTrustedMemberStreamsPerPeer},
		channel:     gateLimits{MaxUnknownChanStreamsPerPeer, MaxUnknownChanStreams, MaxTrustedChanStreamsPerPeer},
		slots:       slotLimits{MaxConcurrentForeign, MaxUnknownSlots, MaxUnknownSlotsPerPeer, MaxTrustedSlotsPerPeer},

		unknownMemory:     MaxUnknownFrameMemory,
		unknownPeerMemory: MaxUnknownPeerFrameMemory,
		evalFirstFrame:    EvalFirstFrameTimeout,
		firstFrame:        FirstFrameTimeout,
		chanFirstFrame:    ChanFirstFrameTimeout,
		chanIdle:          ChanIdleTimeout,
		verifiedTTL:       VerifiedPeerTTL,
		maxVerified:       MaxVerifiedPeers,
		grantRefresh:      GrantAudienceRefresh,
	}
}

// withAdmissionLimits changes the admission limits (tests: short
// deadlines, small pools).
func withAdmissionLimits(f func(*admissionLimits)) Option {
	return func(c *config) error {
		if c.admission == nil {
			l := defaultAdmissionLimits()
			c.admission = &l
		}
		f(c.admission)
		return nil
	}
}

// admission is the node's fair-admission state.
type admission struct {
	lim                  admissionLimits
	trust                *trustSet
	negotiating          *streamGate // the resource manager's (admittingRM)
	eval, blocks, status *streamGate
	member               *streamGate
	channel              *streamGate
	slots                *slotPool
	mem                  *unknownMemory
}

func newAdmission(lim admissionLimits, trust *trustSet) *admission {
	return &admission{
		lim:    lim,
		trust:  trust,
		eval:   newStreamGate(lim.eval),
		blocks: newStreamGate(lim.blocks),
		status: newStreamGate(lim.status),
		member: newStreamGate(lim.member),
		slots:  &slotPool{lim: lim.slots, perPeer: map[peerKey]int{}},
		mem: &unknownMemory{total: lim.unknownMemory, perPeerCap: lim.unknownPeerMemory,
			allowance: unknownFrameAllowance, perPeer: map[peer.ID]int{}},
		// Channel streams are long-lived: past its first message a
		// stream keeps its place until it ends or idles out (chanIdle).
		channel: newStreamGate(lim.channel),
	}
}

// admitStream takes a place at gate g for the inbound stream s, or resets
// s and returns nil when its opener is over its class's share.
func (n *Node) admitStream(g *streamGate, s network.Stream) *streamTicket {
	remote := s.Conn().RemotePeer()
	class := n.admit.trust.classify(remote)
	t := g.openFor(remote, class, s, nil)
	if t == nil {
		n.log.Debug("refusing a stream over the peer's share", "peer", remote.String(), "class", class.String(), "protocol", string(s.Protocol()))
		s.ResetWithError(network.StreamResourceLimitExceeded)
		return nil
	}
	t.mem = n.admit.mem
	return t
}

// policyLists reports whether the policy in force names p.
func (n *Node) policyLists(p peer.ID) bool {
	_, ok := n.policy.Load().Peers[p]
	return ok
}

// goTracked runs f on its own goroutine as work Close waits for, with the
// node's context; not at all once the node is closing.
func (n *Node) goTracked(f func(context.Context)) {
	if !n.track() {
		return
	}
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
}

// newNodeAdmission sets up the admission state of a new node and reads
// the grants' audiences once.
func (n *Node) newNodeAdmission(ctx context.Context, lim admissionLimits) {
	trust := newTrustSet(lim, n.policyLists, n.grants.Grants, n.now)
	trust.spawn = n.goTracked
	trust.onError = func(err error) {
		if n.ctx.Err() == nil {
			n.log.Warn("admission", "err", err)
		}
	}
	if err := trust.refresh(ctx); err != nil {
		n.log.Warn("admission", "err", err)
	}
	n.admit = newAdmission(lim, trust)
}

// slotClass is the class of an evaluation request: trusted if the policy
// lists the caller or a token it presented verified (acc). A verified
// token also makes the caller trusted at its next stream opens.
func (a *admission) slotClass(remote peer.ID, acc *access) peerClass {
	if len(acc.tokenIDs) > 0 {
		a.trust.noteVerified(remote)
		return trustedPeer
	}
	if a.trust.listed(remote) {
		return trustedPeer
	}
	return unknownPeer
}

// ---- classification ----

// trustSet decides the class of a peer.
type trustSet struct {
	listed  func(peer.ID) bool // the policy lists it
	grants  func(context.Context) ([]capabilities.GrantRecord, error)
	now     func() time.Time            // the node's clock, for grant expiry
	spawn   func(func(context.Context)) // runs a refresh in the background
	onError func(err error)             // reports a failed refresh
	lim     admissionLimits             // verifiedTTL, maxVerified, grantRefresh
	clock   func() time.Time            // real time, for ages (time.Now)
	aud     atomic.Pointer[audienceSet]
	busy    atomic.Bool               // a refresh is running
	wmu     sync.Mutex                // serializes writers of aud
	vmu     sync.Mutex                // guards lru and byPeer
	lru     list.List                 // of *verifiedPeer: peers whose token verified, most recent first
	byPeer  map[peer.ID]*list.Element // their elements in lru
}

// audienceSet is the audiences of the active grants, with the expiry of
// each one's latest grant.
type audienceSet struct {
	until  map[peer.ID]time.Time
	loaded time.Time // real time of the read
}

type verifiedPeer struct {
	id    peer.ID
	until time.Time // real time
}

func newTrustSet(lim admissionLimits, listed func(peer.ID) bool, grants func(context.Context) ([]capabilities.GrantRecord, error), now func() time.Time) *trustSet {
	t := &trustSet{listed: listed, grants: grants, now: now, lim: lim, clock: time.Now,
		spawn: func(f func(context.Context)) { go f(context.Background()) }, onError: func(error) {}, byPeer: map[peer.ID]*list.Element{}}
	t.aud.Store(&audienceSet{until: map[peer.ID]time.Time{}})
	return t
}

// classify is the class of the opener of a stream.
func (t *trustSet) classify(p peer.ID) peerClass {
	if t.listed(p) {
		return trustedPeer
	}
	aud := t.aud.Load()
	if t.clock().Sub(aud.loaded) > t.lim.grantRefresh && t.busy.CompareAndSwap(false, true) {
		// Grants made through the node are added at once (addAudience);
		// the refresh catches revocations and expiries.
		t.spawn(func(ctx context.Context) {
			defer t.busy.Store(false)
			if err := t.refresh(ctx); err != nil {
				t.onError(err)
			}
		})
	}
	if until, ok := aud.until[p]; ok && t.now().Before(until) {
		return trustedPeer
	}
	t.vmu.Lock()
	defer t.vmu.Unlock()
	if e, ok := t.byPeer[p]; ok {
		if t.clock().Before(e.Value.(*verifiedPeer).until) {
			t.lru.MoveToFront(e)
			return trustedPeer
		}
		t.lru.Remove(e)
		delete(t.byPeer, p)
	}
	return unknownPeer
}

// refresh reads the active grants' audiences again.
func (t *trustSet) refresh(ctx context.Context) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	recs, err := t.grants(ctx)
	if err != nil {
		// Keep what was known; try again after another interval.
		old := t.aud.Load()
		t.aud.Store(&audienceSet{until: old.until, loaded: t.clock()})
		return fmt.Errorf("reading the grants for admission: %w", err)
	}
	now := t.now()
	until := map[peer.ID]time.Time{}
	for _, r := range recs {
		if r.Revoked || !now.Before(r.Expires) {
			continue
		}
		p, err := peer.Decode(r.Audience)
		if err != nil {
			continue
		}
		if r.Expires.After(until[p]) {
			until[p] = r.Expires
		}
	}
	t.aud.Store(&audienceSet{until: until, loaded: t.clock()})
	return nil
}

// addAudience makes the audience of a grant just issued trusted until it
// expires.
func (t *trustSet) addAudience(p peer.ID, expires time.Time) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	old := t.aud.Load()
	if !expires.After(old.until[p]) {
		return
	}
	until := make(map[peer.ID]time.Time, len(old.until)+1)
	for k, v := range old.until {
		until[k] = v
	}
	until[p] = expires
	t.aud.Store(&audienceSet{until: until, loaded: old.loaded})
}

// noteVerified remembers that p presented a token that verified.
func (t *trustSet) noteVerified(p peer.ID) {
	until := t.clock().Add(t.lim.verifiedTTL)
	t.vmu.Lock()
	defer t.vmu.Unlock()
	if e, ok := t.byPeer[p]; ok {
		e.Value.(*verifiedPeer).until = until
		t.lru.MoveToFront(e)
		return
	}
	t.byPeer[p] = t.lru.PushFront(&verifiedPeer{id: p, until: until})
	for t.lru.Len() > t.lim.maxVerified {
		e := t.lru.Back()
		t.lru.Remove(e)
		delete(t.byPeer, e.Value.(*verifiedPeer).id)
	}
}

// ---- streams ----

// peerKey counts a peer's use by class: a token holder's calls with
// and without its token are counted apart.
type peerKey struct {
	p peer.ID
	c peerClass
}

// streamGate counts the inbound streams of one protocol.
type streamGate struct {
	lim     gateLimits
	mu      sync.Mutex
	held    map[peerKey]int // streams open per peer and class
	unknown int             // unknown peers' streams open
	pending list.List       // of *streamTicket: unknown streams before their first frame, oldest first
	// refused and evicted count streams reset over a share, and unknown
	// streams evicted before their first frame.
	refused, evicted atomic.Int64
}

func newStreamGate(lim gateLimits) *streamGate {
	return &streamGate{lim: lim, held: map[peerKey]int{}}
}

// streamTicket is a stream's place at a gate.
type streamTicket struct {
	g       *streamGate
	key     peerKey
	reset   func()         // resets the stream (eviction)
	s       network.Stream // the handler's stream (nil before negotiation)
	mem     *unknownMemory
	pending *list.Element // in g.pending; nil when not there
	counted bool          // still counted at the gate (false once evicted)
}

// open takes a place for a stream of p, or returns nil when p is over
// its class's share. A full unknown share makes room by evicting the
// oldest unknown stream whose first frame has not arrived; reset is how
// this stream is reset if it is evicted in turn.
func (g *streamGate) open(p peer.ID, c peerClass, reset func()) *streamTicket {
	return g.openFor(p, c, nil, reset)
}

// openFor is open for the handler's stream s, when it is known: with
// reset nil, an eviction resets s (StreamResourceLimitExceeded), and no
// reset function is made for each stream.
func (g *streamGate) openFor(p peer.ID, c peerClass, s network.Stream, reset func()) *streamTicket {
	k := peerKey{p, c}
	var victim *streamTicket
	g.mu.Lock()
	switch {
	case c == trustedPeer && g.held[k] >= g.lim.trustedPerPeer,
		c == unknownPeer && g.held[k] >= g.lim.unknownPerPeer:
		g.mu.Unlock()
		g.refused.Add(1)
		return nil
	case c == unknownPeer && g.unknown >= g.lim.unknown:
		if victim = g.evictLocked(); victim == nil {
			g.mu.Unlock()
			g.refused.Add(1)
			return nil
		}
	}
	t := &streamTicket{g: g, key: k, reset: reset, s: s, counted: true}
	g.held[k]++
	if c == unknownPeer {
		g.unknown++
		t.pending = g.pending.PushBack(t)
	}
	g.mu.Unlock()
	if victim != nil {
		g.evicted.Add(1)
		victim.resetStream()
	}
	return t
}

// resetStream resets the ticket's stream when it is evicted.
func (t *streamTicket) resetStream() {
	if t.reset != nil {
		t.reset()
		return
	}
	t.s.ResetWithError(network.StreamResourceLimitExceeded)
}

// evictLocked uncounts the oldest pending stream and returns it, or nil.
func (g *streamGate) evictLocked() *streamTicket {
	e := g.pending.Front()
	if e == nil {
		return nil
	}
	v := e.Value.(*streamTicket)
	g.unpendLocked(v)
	g.uncountLocked(v)
	return v
}

func (g *streamGate) unpendLocked(t *streamTicket) {
	if t.pending != nil {
		g.pending.Remove(t.pending)
		t.pending = nil
	}
}

func (g *streamGate) uncountLocked(t *streamTicket) {
	if !t.counted {
		return
	}
	t.counted = false
	if g.held[t.key]--; g.held[t.key] <= 0 {
		delete(g.held, t.key)
	}
	if t.key.c == unknownPeer {
		g.unknown--
	}
}

// arrived records that the stream's first frame is in: it can no longer
// be evicted.
func (t *streamTicket) arrived() {
	if t.key.c != unknownPeer {
		return
	}
	t.g.mu.Lock()
	t.g.unpendLocked(t)
	t.g.mu.Unlock()
}

// close gives the place back.
func (t *streamTicket) close() {
	t.g.mu.Lock()
	t.g.unpendLocked(t)
	t.g.uncountLocked(t)
	t.g.mu.Unlock()
}

// counts returns the streams open by class.
func (g *streamGate) counts() (unknown, trusted int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, v := range g.held {
		if k.c == trustedPeer {
			trusted += v
		}
	}
	return g.unknown, trusted
}

// frames wraps the stream for a frameConn: its first frame must arrive
// whole within first; then the read deadline becomes after (zero: left
// as it is) and the stream can no longer be evicted.
func (t *streamTicket) frames(first, after time.Duration) io.ReadWriter {
	r := &firstFrameReader{}
	t.framesInto(r, first, after)
	return r
}

// framesInto is frames into a reader the caller allocated (with other
// state of the stream).
func (t *streamTicket) framesInto(r *firstFrameReader, first, after time.Duration) {
	t.s.SetReadDeadline(time.Now().Add(first))
	*r = firstFrameReader{t: t, after: after}
}

// scope is the memory scope for the stream's frames: its own, and for an
// unknown peer also the unknown peers' frame budget.
func (t *streamTicket) scope() memScope {
	if t.key.c == trustedPeer {
		return t.s.Scope()
	}
	return &unknownScope{inner: t.s.Scope(), m: t.mem, p: t.key.p}
}

// scopeInto is scope, using u (which the caller allocated with other
// state of the stream) for an unknown peer's.
func (t *streamTicket) scopeInto(u *unknownScope) memScope {
	if t.key.c == trustedPeer {
		return t.s.Scope()
	}
	*u = unknownScope{inner: t.s.Scope(), m: t.mem, p: t.key.p}
	return u
}

// firstFrameReader passes a stream's bytes through, watching the varint
// length prefix and body of its first frame go by (frames.go's format)
// to learn when the frame has arrived whole.
type firstFrameReader struct {
	t     *streamTicket
	after time.Duration
	// writeIn, when set, becomes the stream's write deadline (from then)
	// at the next Write (setWriteTimeout). Writes come from one goroutine.
	writeIn time.Duration
	// lazyAfter defers the after deadline from the first frame's
	// arrival to the next Read (armAfter): a warm eval stream reads
	// nothing more, and arms no timer it would only stop. The bound on
	// a caller is the same: no read waits longer than after.
	lazyAfter, armAfter bool
	done                bool
	body                bool   // the prefix is complete
	shift               uint   // of the prefix's next 7 bits
	left                uint64 // body bytes still to come
}

func (r *firstFrameReader) Write(p []byte) (int, error) {
	if r.writeIn > 0 {
		r.t.s.SetWriteDeadline(time.Now().Add(r.writeIn))
		r.writeIn = 0
	}
	return r.t.s.Write(p)
}

// setWriteTimeout bounds the next write and what follows it by d from
// when it starts, arming the deadline only then: a stream whose handler
// sets a new bound before its first write (an eval stream that writes
// only its reply) arms one timer, not two.
func (r *firstFrameReader) setWriteTimeout(d time.Duration) { r.writeIn = d }

// setReadDeadline sets the stream's read deadline, replacing an after
// deadline not yet armed (lazyAfter). Reads and it come from one
// goroutine at a time.
func (r *firstFrameReader) setReadDeadline(t time.Time) {
	r.armAfter = false
	r.t.s.SetReadDeadline(t)
}

func (r *firstFrameReader) Read(p []byte) (int, error) {
	if r.armAfter {
		r.armAfter = false
		r.t.s.SetReadDeadline(time.Now().Add(r.after))
	}
	k, err := r.t.s.Read(p)
	if !r.done && k > 0 {
		r.watch(p[:k])
	}
	return k, err
}

func (r *firstFrameReader) watch(b []byte) {
	for len(b) > 0 && !r.done {
		if !r.body {
			c := b[0]
			b = b[1:]
			if r.shift >= 64 {
				r.done = true // not a varint: the frameConn fails the stream
				return
			}
			r.left |= uint64(c&0x7f) << r.shift
			r.shift += 7
			if c < 0x80 {
				r.body = true
				if r.left == 0 {
					r.done = true // an empty frame: invalid, the frameConn says so
					return
				}
			}
			continue
		}
		k := min(uint64(len(b)), r.left)
		r.left -= k
		b = b[k:]
		if r.left == 0 {
			r.done = true
			r.t.arrived()
			switch {
			case r.after > 0 && r.lazyAfter:
				r.armAfter = true
			case r.after > 0:
				r.t.s.SetReadDeadline(time.Now().Add(r.after))
			}
		}
	}
}

// ---- streams still negotiating their protocol ----

// admittingRM is the node's resource manager: libp2p's, and a
// class-aware bound on the inbound streams still negotiating their
// protocol. Such a stream has no handler yet, only libp2p's transient
// scope, shared by all peers and held for up to libp2p's negotiation
// timeout (10 s, not configurable): fresh peer IDs that open streams and
// send nothing would fill it, and then every peer's streams would be
// refused, whatever protocol they were for. Here unknown peers hold a
// few such streams each and a bounded number together, the oldest
// evicted for a newcomer as at the gates above, and the transient scope
// has room for them and for everyone else's (newResourceManager).
type admittingRM struct {
	network.ResourceManager
	gate     *streamGate
	classify atomic.Pointer[func(peer.ID) peerClass]
	net      atomic.Pointer[network.Network]
}

// negotiatingLimits are limits.go's bounds on streams still negotiating.
var negotiatingLimits = gateLimits{MaxUnknownNegotiatingPerPeer, MaxUnknownNegotiating, rmPeerStreamsInbound}

// bind starts classifying peers with the node's trust set, under the
// node's limits; until then every peer is unknown.
func (m *admittingRM) bind(a *admission, nw network.Network) {
	m.gate.mu.Lock()
	m.gate.lim = a.lim.negotiating
	m.gate.mu.Unlock()
	a.negotiating = m.gate
	m.net.Store(&nw)
	classify := a.trust.classify
	m.classify.Store(&classify)
}

// errNegotiatingShare refuses an inbound stream over its opener's share
// of streams still negotiating.
var errNegotiatingShare = errors.New("too many streams still negotiating their protocol from peers like this one")

func (m *admittingRM) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	if dir != network.DirInbound {
		return m.ResourceManager.OpenStream(p, dir)
	}
	c := unknownPeer
	if f := m.classify.Load(); f != nil {
		c = (*f)(p)
	}
	ns := &negotiatingScope{}
	t := m.gate.open(p, c, func() { m.resetStream(p, ns) })
	if t == nil {
		return nil, errNegotiatingShare
	}
	inner, err := m.ResourceManager.OpenStream(p, dir)
	if err != nil {
		t.close()
		return nil, err
	}
	ns.StreamManagementScope, ns.t = inner, t
	return ns, nil
}

// resetStream resets the stream of p whose scope is ns: the swarm made
// the stream after its scope, so the scope is how to find it.
func (m *admittingRM) resetStream(p peer.ID, ns *negotiatingScope) {
	nw := m.net.Load()
	if nw == nil {
		return
	}
	go func() { // not under the gate's lock, nor inside the swarm's OpenStream
		for _, c := range (*nw).ConnsToPeer(p) {
			for _, s := range c.GetStreams() {
				if s.Scope() == network.StreamScope(ns) {
					s.ResetWithError(network.StreamResourceLimitExceeded)
					return
				}
			}
		}
	}()
}

// negotiatingScope is the scope of an inbound stream that holds a place
// at the negotiation gate until its protocol is set (or it ends).
type negotiatingScope struct {
	network.StreamManagementScope
	t *streamTicket
}

func (s *negotiatingScope) SetProtocol(proto protocol.ID) error {
	s.t.close()
	return s.StreamManagementScope.SetProtocol(proto)
}

func (s *negotiatingScope) Done() {
	s.t.close()
	s.StreamManagementScope.Done()
}

// ---- frame memory of unknown peers ----

// unknownMemory bounds the frame memory unknown peers' streams reserve,
// on top of each stream's libp2p scope: per peer, all of it; in all,
// what each stream holds beyond a small allowance (allowance). So a
// crowd declaring maximal frames and trickling their bodies shares a
// fixed amount, while the small requests of honest strangers, which fit
// the allowance, never wait on it (their total is bounded by the stream
// shares instead).
type unknownMemory struct {
	mu         sync.Mutex
	total      int // cap on the bytes beyond the allowances, in all
	perPeerCap int
	allowance  int
	used       int // beyond the allowances
	perPeer    map[peer.ID]int
}

// MemoryShareError is a frame refused because it does not fit unknown
// peers' share of frame memory.
type MemoryShareError struct {
	Size, Used, Limit int
	PerPeer           bool
}

func (e *MemoryShareError) Error() string {
	who := "unknown peers' large frames"
	if e.PerPeer {
		who = "this peer's frames"
	}
	return fmt.Sprintf("%s hold %d of their %d bytes; %d more do not fit", who, e.Used, e.Limit, e.Size)
}

// over is how much of own bytes of one stream count against total.
func (m *unknownMemory) over(own int) int { return max(0, own-m.allowance) }

// reserve charges size more bytes of a stream of p that holds *own.
func (m *unknownMemory) reserve(p peer.ID, own *int, size int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.perPeer[p]; u+size > m.perPeerCap {
		return &MemoryShareError{Size: size, Used: u, Limit: m.perPeerCap, PerPeer: true}
	}
	extra := m.over(*own+size) - m.over(*own)
	if m.used+extra > m.total {
		return &MemoryShareError{Size: size, Used: m.used, Limit: m.total}
	}
	m.used += extra
	m.perPeer[p] += size
	*own += size
	return nil
}

func (m *unknownMemory) release(p peer.ID, own *int, size int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= m.over(*own) - m.over(*own-size)
	*own -= size
	if m.perPeer[p] -= size; m.perPeer[p] <= 0 {
		delete(m.perPeer, p)
	}
}

// inUse is what unknown peers' streams hold beyond their allowances.
func (m *unknownMemory) inUse() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// unknownScope charges a stream's frames to unknownMemory as well as to
// the stream's scope.
type unknownScope struct {
	inner memScope
	m     *unknownMemory
	p     peer.ID
	own   int // bytes this stream's frames hold (guarded by m.mu)
}

func (u *unknownScope) ReserveMemory(size int, prio uint8) error {
	if err := u.m.reserve(u.p, &u.own, size); err != nil {
		return err
	}
	if err := u.inner.ReserveMemory(size, prio); err != nil {
		u.m.release(u.p, &u.own, size)
		return err
	}
	return nil
}

func (u *unknownScope) ReleaseMemory(size int) {
	u.inner.ReleaseMemory(size)
	u.m.release(u.p, &u.own, size)
}

// ---- evaluation slots ----

// slotPool hands out evaluation slots by class; see the top of the file.
type slotPool struct {
	lim     slotLimits
	mu      sync.Mutex
	inUse   int
	unknown int // slots held by unknown requests
	perPeer map[peerKey]int
	waiting list.List // of *slotWaiter, in arrival order
}

type slotWaiter struct {
	key     peerKey
	ready   chan struct{} // closed once granted
	granted bool
}

// acquire waits for a slot for a request of p of class c, until ctx is
// done. The returned function gives the slot back.
func (sp *slotPool) acquire(ctx context.Context, p peer.ID, c peerClass) (release func(), _ *CallError) {
	h, ce := sp.hold(ctx, p, c)
	if ce != nil {
		return nil, ce
	}
	return h.release, nil
}

// A slotHold is a slot taken with hold; its release gives it back.
type slotHold struct {
	sp *slotPool
	k  peerKey
}

func (h slotHold) release() { h.sp.release(h.k) }

// hold is acquire returning the slot as a value (no function made per
// request): the caller defers its release.
func (sp *slotPool) hold(ctx context.Context, p peer.ID, c peerClass) (slotHold, *CallError) {
	k := peerKey{p, c}
	h := slotHold{sp, k}
	sp.mu.Lock()
	// A waiter that can take a slot has been granted one (grantLocked
	// runs on every release), so taking one now jumps no queue.
	if sp.canTakeLocked(k) {
		sp.takeLocked(k)
		sp.mu.Unlock()
		return h, nil
	}
	w := &slotWaiter{key: k, ready: make(chan struct{})}
	e := sp.waiting.PushBack(w)
	sp.mu.Unlock()
	select {
	case <-w.ready:
		return h, nil
	case <-ctx.Done():
		sp.mu.Lock()
		granted := w.granted
		if !granted {
			sp.waiting.Remove(e)
		}
		sp.mu.Unlock()
		if granted {
			h.release()
		}
		return slotHold{}, sp.timeout(c)
	}
}

// timeout is the error of a request that found no slot in time.
func (sp *slotPool) timeout(c peerClass) *CallError {
	msg := "no evaluation slot free before the deadline"
	if c == unknownPeer {
		msg += fmt.Sprintf(" (callers the node does not know share %d slots, at most %d each)", sp.lim.unknown, sp.lim.unknownPerPeer)
	}
	return &CallError{Code: CodeTimeout, Msg: msg}
}

func (sp *slotPool) canTakeLocked(k peerKey) bool {
	if sp.inUse >= sp.lim.total {
		return false
	}
	if k.c == trustedPeer {
		return sp.perPeer[k] < sp.lim.trustedPerPeer
	}
	return sp.unknown < sp.lim.unknown && sp.perPeer[k] < sp.lim.unknownPerPeer
}

func (sp *slotPool) takeLocked(k peerKey) {
	sp.inUse++
	sp.perPeer[k]++
	if k.c == unknownPeer {
		sp.unknown++
	}
}

func (sp *slotPool) release(k peerKey) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.inUse--
	if sp.perPeer[k]--; sp.perPeer[k] <= 0 {
		delete(sp.perPeer, k)
	}
	if k.c == unknownPeer {
		sp.unknown--
	}
	sp.grantLocked()
}

// grantLocked gives free slots to the waiters that may take them:
// trusted ones first, each class in arrival order.
func (sp *slotPool) grantLocked() {
	for _, c := range []peerClass{trustedPeer, unknownPeer} {
		for e := sp.waiting.Front(); e != nil && sp.inUse < sp.lim.total; {
			next := e.Next()
			w := e.Value.(*slotWaiter)
			if w.key.c == c && sp.canTakeLocked(w.key) {
				sp.takeLocked(w.key)
				w.granted = true
				sp.waiting.Remove(e)
				close(w.ready)
			}
			e = next
		}
	}
}

// waitingCount is the number of requests waiting for a slot.
func (sp *slotPool) waitingCount() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.waiting.Len()
}

// inUseBy returns the slots held by class.
func (sp *slotPool) inUseBy() (unknown, trusted int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.unknown, sp.inUse - sp.unknown
}
