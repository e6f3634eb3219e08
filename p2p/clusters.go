package p2p

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	mh "github.com/multiformats/go-multihash"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p/discovery"
)

// Clusters (docs/protocol.md, "Clusters"; docs/security.md, "Owned
// clusters"). A cluster is a rendezvous key in the DHT: its members
// provide the key and keep providing it, and a node that looks the key up
// finds them. Kademlia cannot delete a provider record, so a record only
// says "this peer was a member": each candidate is asked (status) whether
// it is a member now, and for an owned cluster made to prove it
// (member.go). What the node learns is cached per cluster (a clusterView)
// for a few seconds, so that provision in a loop costs no round trip most
// of the time, and one refresh at a time runs per cluster, whatever the
// number of evaluations asking.

// ClusterRef names a cluster: Owner is empty for an open cluster.
type ClusterRef struct {
	Owner peer.ID
	Name  string
}

// OpenCluster is the open cluster name: any node may join it.
func OpenCluster(name string) ClusterRef { return ClusterRef{Name: name} }

// OwnedCluster is owner's cluster name: its members hold a membership
// token from owner.
func OwnedCluster(owner peer.ID, name string) ClusterRef { return ClusterRef{Owner: owner, Name: name} }

// String is `"stats"` or `"stats" of 12D3...`.
func (c ClusterRef) String() string {
	if c.Owner == "" {
		return eval.QuoteText(c.Name)
	}
	return eval.QuoteText(c.Name) + " of " + c.Owner.String()
}

// Key is the cluster's rendezvous key in the DHT.
func (c ClusterRef) Key() cid.Cid {
	if c.Owner == "" {
		return discovery.OpenClusterKey(c.Name)
	}
	return discovery.OwnedClusterKey(c.Owner, c.Name)
}

func (c ClusterRef) validate() error {
	if err := capabilities.CheckClusterName(c.Name); err != nil {
		return fmt.Errorf("cluster %q: %w", c.Name, err)
	}
	if c.Owner != "" {
		if err := c.Owner.Validate(); err != nil {
			return fmt.Errorf("cluster %s: owner: %w", c, err)
		}
	}
	return nil
}

// keyDigest is the sha2-256 digest of a rendezvous key: what status
// messages list.
func keyDigest(k cid.Cid) []byte {
	d, err := mh.Decode(k.Hash())
	if err != nil {
		panic(err) // discovery's keys are sha2-256 multihashes
	}
	return d.Digest
}

// ErrNoMembers means no member of a cluster answered and confirmed its
// membership (none was found, none answered in time, or none proved it).
var ErrNoMembers = errors.New("no member of the cluster answered")

// WithLoad sets the load the node states in status messages, 0 (idle) to
// 1 (busy) or more, read at each status exchange. The default is the
// foreign evaluations running relative to MaxConcurrentForeign; a node
// that shares its machine with other work can state more, so that
// provision sends work elsewhere.
func WithLoad(load func() float64) Option {
	return func(c *config) error {
		if load == nil {
			return errors.New("WithLoad: nil function")
		}
		c.load = load
		return nil
	}
}

// ---- this node's memberships ----

// joinedCluster is a cluster this node is a member of.
type joinedCluster struct {
	ref   ClusterRef
	key   cid.Cid
	token *capabilities.Token // the membership token, for an owned cluster
}

// ClusterInfo describes a cluster this node is a member of.
type ClusterInfo struct {
	Name string `json:"name"`
	// Owner, Token and Expires are set for an owned cluster: its owner,
	// the ID of the membership token and when it expires.
	Owner   string    `json:"owner,omitempty"`
	Token   string    `json:"token,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// Key is the cluster's rendezvous key.
	Key string `json:"key"`
}

// JoinCluster makes this node a member of the open cluster name: it
// provides the cluster's key in the DHT, keeps it provided, and says so
// in its status, until LeaveCluster.
func (n *Node) JoinCluster(ctx context.Context, name string) error {
	return n.join(ctx, OpenCluster(name), nil)
}

// JoinOwnedCluster makes this node a member of the cluster name owned by
// the root of tok, which must verify as a membership token for this node
// (capabilities.VerifyMembership). The node proves its membership with
// tok to every node that asks.
func (n *Node) JoinOwnedCluster(ctx context.Context, tok *capabilities.Token, name string) error {
	if tok == nil {
		return errors.New("joining an owned cluster: no membership token")
	}
	ref := OwnedCluster(tok.Root().Issuer(), name)
	var revoked func(string) bool
	if ref.Owner == n.id {
		revoked = n.grants.Revoked(ctx)
	}
	if err := capabilities.VerifyMembership(tok, n.now(), ref.Owner, n.id, name, n.id, revoked, capabilities.ClockSkew); err != nil {
		return fmt.Errorf("joining cluster %s: %w", ref, err)
	}
	return n.join(ctx, ref, tok)
}

func (n *Node) join(ctx context.Context, ref ClusterRef, tok *capabilities.Token) error {
	if err := ref.validate(); err != nil {
		return err
	}
	j := &joinedCluster{ref: ref, key: ref.Key(), token: tok}
	if err := n.clusters.addJoined(j); err != nil {
		return err
	}
	if err := n.announce(ctx, j.key); err != nil {
		n.clusters.removeJoined(j.key)
		return fmt.Errorf("joining cluster %s: %w", ref, err)
	}
	n.log.Info("joined cluster", "cluster", ref.String(), "key", j.key.String())
	return nil
}

// LeaveCluster stops this node's membership: it no longer provides the
// key nor lists the cluster in its status, and answers that it is not a
// member. Provider records already stored elsewhere expire on their own;
// askers drop this node from the cluster at their next status exchange.
func (n *Node) LeaveCluster(ctx context.Context, ref ClusterRef) error {
	key := ref.Key()
	if !n.clusters.removeJoined(key) {
		return fmt.Errorf("not a member of cluster %s", ref)
	}
	n.withdraw(ctx, key)
	n.log.Info("left cluster", "cluster", ref.String())
	return nil
}

// Clusters lists the clusters this node is a member of.
func (n *Node) Clusters() []ClusterInfo {
	n.clusters.mu.Lock()
	defer n.clusters.mu.Unlock()
	out := make([]ClusterInfo, 0, len(n.clusters.joined))
	for _, j := range n.clusters.joined {
		ci := ClusterInfo{Name: j.ref.Name, Key: j.key.String()}
		if j.ref.Owner != "" {
			ci.Owner = j.ref.Owner.String()
		}
		if j.token != nil {
			ci.Token, ci.Expires = j.token.ID(), j.token.Expires()
		}
		out = append(out, ci)
	}
	slices.SortFunc(out, func(a, b ClusterInfo) int {
		if c := strings.Compare(a.Owner, b.Owner); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// ---- the node's cluster state ----

// clusterState is what the node knows of clusters: those it joined, and
// a bounded cache of views of the clusters it provisioned from.
type clusterState struct {
	mu     sync.Mutex
	joined map[cid.Cid]*joinedCluster
	// digests is the status message's cluster list: the sorted,
	// concatenated digests of the joined clusters' keys.
	digests atomic.Pointer[[]byte]
	views   map[cid.Cid]*list.Element // of *clusterView
	lru     list.List                 // of *clusterView, most recently used first
	counts  clusterCounts
}

// clusterCounts counts what cluster lookups cost (benchmarks, tests).
type clusterCounts struct {
	lookups, statuses, pings, proofs, revocations atomic.Int64
}

func newClusterState() *clusterState {
	s := &clusterState{joined: map[cid.Cid]*joinedCluster{}, views: map[cid.Cid]*list.Element{}}
	empty := []byte(nil)
	s.digests.Store(&empty)
	return s
}

func (s *clusterState) addJoined(j *joinedCluster) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.joined[j.key]; !ok && len(s.joined) >= MaxJoinedClusters {
		return fmt.Errorf("joining cluster %s: this node is already a member of %d clusters, the limit", j.ref, MaxJoinedClusters)
	}
	s.joined[j.key] = j // a new token replaces the old one
	s.storeDigestsLocked()
	return nil
}

func (s *clusterState) removeJoined(key cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.joined[key]; !ok {
		return false
	}
	delete(s.joined, key)
	s.storeDigestsLocked()
	return true
}

func (s *clusterState) storeDigestsLocked() {
	ds := make([][]byte, 0, len(s.joined))
	for k := range s.joined {
		ds = append(ds, keyDigest(k))
	}
	slices.SortFunc(ds, bytes.Compare)
	out := bytes.Join(ds, nil)
	s.digests.Store(&out)
}

// statusClusters is the cluster list of this node's status messages.
func (s *clusterState) statusClusters() []byte { return *s.digests.Load() }

// isMember reports whether this node joined the cluster with this key,
// and its token.
func (s *clusterState) isMember(key cid.Cid) (*joinedCluster, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.joined[key]
	return j, ok
}

// membership is this node's membership token of owner's cluster name,
// or nil.
func (s *clusterState) membership(owner peer.ID, name string) *capabilities.Token {
	j, ok := s.isMember(discovery.OwnedClusterKey(owner, name))
	if !ok {
		return nil
	}
	return j.token
}

// view returns the view of ref, creating it (and dropping the least
// recently used one beyond MaxClusterViews).
func (s *clusterState) view(ref ClusterRef) *clusterView {
	key := ref.Key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.views[key]; ok {
		s.lru.MoveToFront(el)
		return el.Value.(*clusterView)
	}
	v := &clusterView{ref: ref, key: key, digest: keyDigest(key),
		members: map[peer.ID]*memberState{}, turn: rand.Uint64()}
	s.views[key] = s.lru.PushFront(v)
	for s.lru.Len() > MaxClusterViews {
		el := s.lru.Back()
		s.lru.Remove(el)
		delete(s.views, el.Value.(*clusterView).key)
	}
	return v
}

// ---- views of clusters ----

// clusterView is what this node knows of one cluster's members. Its
// fields are guarded by mu; one refresh runs at a time (refreshing).
type clusterView struct {
	ref    ClusterRef
	key    cid.Cid
	digest []byte

	mu         sync.Mutex
	found      time.Time // when the candidates were looked up
	cands      []peer.AddrInfo
	members    map[peer.ID]*memberState
	turn       uint64        // provision's next turn (chooseMember)
	refreshing chan struct{} // closed when the running refresh ends
}

// memberState is what a view knows of one candidate.
type memberState struct {
	member   bool      // it confirmed (and for an owned cluster proved) membership
	load     float64   // as stated
	statusAt time.Time // when it last answered status
	failedAt time.Time // when it last failed to answer or to confirm
	rtt      time.Duration
	pingAt   time.Time
	provedTo time.Time // an owned cluster's proof holds until then
	why      error     // why it is not a member (for logs)
}

// needsProbe reports whether the candidate must be asked again at now.
func (m *memberState) needsProbe(now time.Time, owned bool) bool {
	switch {
	case m == nil:
		return true
	case !m.failedAt.IsZero():
		return now.Sub(m.failedAt) >= MemberRetryDelay
	case now.Sub(m.statusAt) >= MemberStatusTTL:
		return true
	case owned && !now.Before(m.provedTo):
		return true
	}
	return false
}

// MemberInfo is a member of a cluster as provision saw it.
type MemberInfo struct {
	ID     string  `json:"id"`
	Load   float64 `json:"load"`
	PingMs float64 `json:"pingMs"`
	// Self is set for this node itself (a member of the cluster).
	Self bool `json:"self,omitempty"`
}

// maxProvisionConfirms bounds the members one provision confirms one by
// one (a status exchange each) before it asks all of them at once: the
// one it picked on what it last knew left, stopped, or turned out busy.
const maxProvisionConfirms = 3

// Provision returns a member of ref chosen by load and ping time among
// those that answer and confirm their membership (chooseMember);
// successive calls spread over equally good members. It fails with
// ErrNoMembers when none does.
//
// It chooses on what it last learned of the members; when what it knows
// of the one it picks is older than MemberStatusTTL, it asks that one
// alone (one status round trip) and keeps it if it is still a member and
// no worse than it seemed (within provisionTolerance), else chooses
// again. So a warm provision costs at most one status round trip, and a
// member that left is never returned on a stale record.
func (n *Node) Provision(ctx context.Context, ref ClusterRef) (peer.ID, error) {
	if err := ref.validate(); err != nil {
		return "", err
	}
	v := n.clusters.view(ref)
	cands, err := n.members(ctx, v, false)
	if err != nil {
		return "", err
	}
	for range maxProvisionConfirms {
		if len(cands) == 0 {
			return "", fmt.Errorf("provision %s: %w", ref, ErrNoMembers)
		}
		i := chooseMember(cands, v.nextTurn())
		c := cands[i]
		if c.ID == n.id || v.fresh(c.ID, time.Now()) {
			return c.ID, nil
		}
		now, ok := n.confirm(ctx, v, c.ID)
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if !ok {
			cands = slices.Delete(cands, i, i+1)
			continue
		}
		if now.cost() <= c.cost()+provisionTolerance {
			return c.ID, nil
		}
		cands[i] = now
	}
	// Several picks in a row were stale: learn about all of them.
	if cands, err = n.members(ctx, v, true); err != nil {
		return "", err
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("provision %s: %w", ref, ErrNoMembers)
	}
	return cands[chooseMember(cands, v.nextTurn())].ID, nil
}

// nextTurn returns provision's turn and advances it.
func (v *clusterView) nextTurn() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.turn
	v.turn++
	return t
}

// fresh reports whether v's status of member p is recent enough to use
// without asking it again.
func (v *clusterView) fresh(p peer.ID, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.members[p]
	return m != nil && m.member && !m.needsProbe(now, v.ref.Owner != "")
}

// confirm asks member p of v again (status, and ping or proof when
// theirs are old) and records the answer; ok is false when it is no
// longer a member or did not answer.
func (n *Node) confirm(ctx context.Context, v *clusterView, p peer.ID) (memberCandidate, bool) {
	v.mu.Lock()
	var ai peer.AddrInfo
	for _, c := range v.cands {
		if c.ID == p {
			ai = c
		}
	}
	var old memberState
	if m := v.members[p]; m != nil {
		old = *m
	}
	v.mu.Unlock()
	if ai.ID == "" {
		return memberCandidate{}, false // dropped by a lookup meanwhile
	}
	r := n.probe(ctx, v, ai, old)
	if ctx.Err() != nil {
		return memberCandidate{}, false
	}
	v.mu.Lock()
	v.members[p] = &r
	v.mu.Unlock()
	return memberCandidate{ID: p, Load: r.load, RTT: r.rtt}, r.member
}

// ClusterMembers lists the members of ref that answer and confirm their
// membership, in peer ID order, with their load and ping time.
func (n *Node) ClusterMembers(ctx context.Context, ref ClusterRef) ([]MemberInfo, error) {
	if err := ref.validate(); err != nil {
		return nil, err
	}
	cands, err := n.members(ctx, n.clusters.view(ref), true)
	if err != nil {
		return nil, err
	}
	out := make([]MemberInfo, len(cands))
	for i, c := range cands {
		out[i] = MemberInfo{ID: c.ID.String(), Load: c.Load, PingMs: float64(c.RTT) / float64(time.Millisecond), Self: c.ID == n.id}
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// members returns the confirmed members of v, refreshing first what is
// stale: with all, every member whose status is older than
// MemberStatusTTL (a listing); without, only an old list, or candidates
// due for another try when none is a confirmed member (provision, which
// confirms the member it picks). Concurrent callers share one refresh.
func (n *Node) members(ctx context.Context, v *clusterView, all bool) ([]memberCandidate, error) {
	v.mu.Lock()
	for {
		now := time.Now()
		if !v.staleLocked(now, all) {
			out := v.confirmedLocked()
			v.mu.Unlock()
			return n.withSelf(v, out), nil
		}
		if ch := v.refreshing; ch != nil {
			v.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			v.mu.Lock()
			continue
		}
		ch := make(chan struct{})
		v.refreshing = ch
		v.mu.Unlock()
		err := n.refresh(ctx, v, now)
		v.mu.Lock()
		v.refreshing = nil
		close(ch)
		if err != nil {
			v.mu.Unlock()
			return nil, err
		}
		out := v.confirmedLocked()
		v.mu.Unlock()
		return n.withSelf(v, out), nil
	}
}

// staleLocked reports whether v must be refreshed: its candidates are
// old, or (all) some candidate must be asked again, or (not all) no
// candidate is a confirmed member and some may be asked again.
func (v *clusterView) staleLocked(now time.Time, all bool) bool {
	if v.found.IsZero() || now.Sub(v.found) >= MemberListTTL {
		return true
	}
	due, confirmed := false, false
	for _, c := range v.cands {
		m := v.members[c.ID]
		if m != nil && m.member {
			confirmed = true
		}
		if m.needsProbe(now, v.ref.Owner != "") {
			if all || m == nil {
				return true
			}
			due = due || !m.member
		}
	}
	return due && !confirmed
}

// confirmedLocked lists the candidates that confirmed membership.
func (v *clusterView) confirmedLocked() []memberCandidate {
	out := make([]memberCandidate, 0, len(v.cands))
	for _, c := range v.cands {
		if m := v.members[c.ID]; m != nil && m.member {
			out = append(out, memberCandidate{ID: c.ID, Load: m.load, RTT: m.rtt})
		}
	}
	return out
}

// withSelf adds this node when it is a member of v's cluster (with a
// membership token still valid, for an owned one): it answers itself,
// at no ping time.
func (n *Node) withSelf(v *clusterView, cs []memberCandidate) []memberCandidate {
	j, ok := n.clusters.isMember(v.key)
	if !ok {
		return cs
	}
	if j.token != nil && capabilities.WindowStatus(j.token, n.now(), n.id, 0) != "active" {
		return cs
	}
	return append(cs, memberCandidate{ID: n.id, Load: float64(n.loadPermille()) / 1000})
}

// refresh looks v's members up again when the list is old, and probes
// the candidates that need it, in parallel.
func (n *Node) refresh(ctx context.Context, v *clusterView, now time.Time) error {
	v.mu.Lock()
	lookup := v.found.IsZero() || now.Sub(v.found) >= MemberListTTL
	v.mu.Unlock()
	if lookup {
		cands, err := n.findMembers(ctx, v.key)
		if err != nil {
			return fmt.Errorf("finding the members of cluster %s: %w", v.ref, err)
		}
		v.mu.Lock()
		v.cands, v.found = cands, now
		// Forget candidates no longer listed.
		keep := make(map[peer.ID]*memberState, len(cands))
		for _, c := range cands {
			if m, ok := v.members[c.ID]; ok {
				keep[c.ID] = m
			}
		}
		v.members = keep
		v.mu.Unlock()
	}
	v.mu.Lock()
	type job struct {
		ai  peer.AddrInfo
		old memberState
	}
	var jobs []job
	for _, c := range v.cands {
		m := v.members[c.ID]
		if m.needsProbe(now, v.ref.Owner != "") {
			var old memberState
			if m != nil {
				old = *m
			}
			jobs = append(jobs, job{c, old})
		}
	}
	v.mu.Unlock()
	results := make([]memberState, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = n.probe(ctx, v, j.ai, j.old)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err // what was probed under a canceled context proves nothing
	}
	v.mu.Lock()
	for i, j := range jobs {
		r := results[i]
		v.members[j.ai.ID] = &r
	}
	v.mu.Unlock()
	return nil
}

// findMembers looks the cluster's key up in the DHT: at most
// MaxClusterCandidates providers other than this node.
func (n *Node) findMembers(ctx context.Context, key cid.Cid) ([]peer.AddrInfo, error) {
	n.clusters.counts.lookups.Add(1)
	ctx, cancel := context.WithTimeout(ctx, ClusterLookupTimeout)
	defer cancel()
	found, err := n.findProviders(ctx, key, MaxClusterCandidates)
	if err != nil && len(found) == 0 {
		if _, self := n.clusters.isMember(key); self && errors.Is(err, discovery.ErrNoPeers) {
			return nil, nil // alone, and a member: this node is the cluster
		}
		return nil, err
	}
	out := make([]peer.AddrInfo, 0, len(found))
	for _, ai := range found {
		if ai.ID != n.id && len(out) < MaxClusterCandidates {
			out = append(out, ai)
		}
	}
	return out, nil
}

// probe asks a candidate, within MemberProbeTimeout, for its status
// (load, and whether it lists the cluster), its ping time (when the last
// one is older than PingTTL) and, for an owned cluster whose proof has
// run out, its membership proof and the owner's word on revocation, all
// at once.
func (n *Node) probe(ctx context.Context, v *clusterView, ai peer.AddrInfo, old memberState) memberState {
	ctx, cancel := context.WithTimeout(ctx, MemberProbeTimeout)
	defer cancel()
	if len(ai.Addrs) > 0 && n.host.Network().Connectedness(ai.ID) != network.Connected {
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	}
	now := time.Now()
	out := old
	var (
		wg        sync.WaitGroup
		st        *StatusMessage
		stErr     error
		stRTT     time.Duration
		rtt       time.Duration
		pingErr   error
		proofErr  error
		provedTo  time.Time
		needPing  = old.pingAt.IsZero() || now.Sub(old.pingAt) >= PingTTL
		needProof = v.ref.Owner != "" && !now.Before(old.provedTo)
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		st, stRTT, stErr = n.exchangeStatus(ctx, ai.ID)
	}()
	if needPing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, pingErr = n.ping(ctx, ai.ID)
		}()
	}
	if needProof {
		wg.Add(1)
		go func() {
			defer wg.Done()
			provedTo, proofErr = n.verifyMember(ctx, ai.ID, v.ref)
		}()
	}
	wg.Wait()
	fail := func(err error) memberState {
		return memberState{failedAt: now, rtt: out.rtt, pingAt: out.pingAt, why: err}
	}
	if stErr != nil {
		return fail(stErr)
	}
	if !st.listsCluster(v.digest) {
		return fail(fmt.Errorf("%s says it is not a member", shortPeer(ai.ID.String())))
	}
	if needProof {
		if proofErr != nil {
			n.log.Info("cluster member did not prove membership", "cluster", v.ref.String(), "peer", ai.ID.String(), "err", proofErr)
			return fail(proofErr)
		}
		out.provedTo = provedTo
	}
	switch {
	case needPing && pingErr == nil:
		out.rtt, out.pingAt = rtt, now
	case needPing:
		// No ping service: the status round trip is an upper bound.
		out.rtt, out.pingAt = stRTT, now
	}
	out.member, out.load, out.statusAt, out.failedAt, out.why = true, float64(st.Load)/1000, now, time.Time{}, nil
	return out
}

// verifyMember makes member prove its membership of ref (an owned
// cluster) and asks the owner whether the token is revoked. It returns
// until when the proof may be reused: MemberProofTTL, or the token's
// expiry if sooner. An owner that cannot be asked leaves the token to
// its chain and expiry (docs/security.md, "Owned clusters").
func (n *Node) verifyMember(ctx context.Context, member peer.ID, ref ClusterRef) (time.Time, error) {
	tok, err := n.proveMember(ctx, member, ref)
	if err != nil {
		return time.Time{}, err
	}
	if err := n.checkRevoked(ctx, tok); err != nil {
		if errors.Is(err, capabilities.ErrRevoked) {
			return time.Time{}, fmt.Errorf("%w: %s: %w", ErrNotProven, shortPeer(member.String()), err)
		}
		n.log.Info("cluster owner unreachable: membership taken on its token's chain and expiry", "cluster", ref.String(), "member", member.String(), "err", err)
	}
	until := time.Now().Add(MemberProofTTL)
	for _, t := range tok.Chain() {
		// The owner's clock set the expiry; this node's may be off by
		// ClockSkew either way, which VerifyMembership allowed.
		if exp := t.Expires().Add(capabilities.ClockSkew); exp.Before(until) {
			until = exp
		}
	}
	return until, nil
}

// pingSamples is how many back-to-back pings one measurement takes: the
// first includes the ping protocol's negotiation, and any one can be
// delayed by work on either host; the least of three is close to the
// link's round trip.
const pingSamples = 3

// ping measures the round trip to p with libp2p ping: the least of
// pingSamples pings on one stream.
func (n *Node) ping(ctx context.Context, p peer.ID) (time.Duration, error) {
	n.clusters.counts.pings.Add(1)
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	results := ping.Ping(ctx, n.host, p)
	var best time.Duration
	got := 0
	for got < pingSamples {
		select {
		case r, ok := <-results:
			switch {
			case !ok && got > 0, r.Error != nil && got > 0:
				return best, nil
			case !ok:
				return 0, streamFailure(ctx, p.String(), "pinging", ctx.Err())
			case r.Error != nil:
				return 0, streamFailure(ctx, p.String(), "pinging", r.Error)
			}
			if got == 0 || r.RTT < best {
				best = r.RTT
			}
			got++
		case <-ctx.Done():
			if got > 0 {
				return best, nil
			}
			return 0, streamFailure(ctx, p.String(), "pinging", ctx.Err())
		}
	}
	return best, nil
}

// PingTime measures the round trip time to p (libp2p ping); 0 for this
// node itself.
func (n *Node) PingTime(ctx context.Context, p peer.ID) (time.Duration, error) {
	if p == n.id {
		return 0, nil
	}
	return n.ping(ctx, p)
}

// Load is p's load as it states it now (a status exchange); this node's
// own for itself.
func (n *Node) Load(ctx context.Context, p peer.ID) (float64, error) {
	if p == n.id {
		return float64(n.loadPermille()) / 1000, nil
	}
	st, _, err := n.exchangeStatus(ctx, p)
	if err != nil {
		return 0, err
	}
	return float64(st.Load) / 1000, nil
}

// ---- the effect host ----

// clusterRefOf reads a Cluster value; an owner's address hints go to
// the peerstore, so that the owner can be asked about revocations.
func (h *netHost) clusterRefOf(c *eval.Cluster) (ClusterRef, error) {
	if c.Owner == nil {
		return OpenCluster(c.Name), nil
	}
	owner, addrs, err := parseNode(c.Owner)
	if err != nil {
		return ClusterRef{}, err
	}
	if len(addrs) > 0 {
		h.n.host.Peerstore().AddAddrs(owner, addrs, peerstore.TempAddrTTL)
	}
	return OwnedCluster(owner, c.Name), nil
}

// Provision is provision's effect: Node.Provision.
func (h *netHost) Provision(th *eval.Thread, c *eval.Cluster) (*eval.Node, error) {
	ref, err := h.clusterRefOf(c)
	if err != nil {
		return nil, err
	}
	p, err := h.n.Provision(th.Context(), ref)
	if err != nil {
		return nil, err
	}
	if p == h.n.id {
		return h.self, nil
	}
	return &eval.Node{ID: h.n.peerName(p)}, nil
}

// Members is Cluster.members' effect: Node.ClusterMembers.
func (h *netHost) Members(th *eval.Thread, c *eval.Cluster) ([]*eval.Node, error) {
	ref, err := h.clusterRefOf(c)
	if err != nil {
		return nil, err
	}
	ms, err := h.n.ClusterMembers(th.Context(), ref)
	if err != nil {
		return nil, err
	}
	out := make([]*eval.Node, len(ms))
	for i, m := range ms {
		out[i] = &eval.Node{ID: m.ID}
	}
	return out, nil
}

// Load is load's effect: Node.Load.
func (h *netHost) Load(th *eval.Thread, node *eval.Node) (float64, error) {
	pid, addrs, err := parseNode(node)
	if err != nil {
		return 0, err
	}
	if len(addrs) > 0 {
		h.n.host.Peerstore().AddAddrs(pid, addrs, peerstore.TempAddrTTL)
	}
	return h.n.Load(th.Context(), pid)
}

// remotePingBudget is what asking another node for a ping time may cost
// there: a builtin call and a Float.
var remotePingBudget = Budget{Fuel: 1000, MaxMemory: 64 << 10, MaxResultBytes: 1 << 10, Timeout: 2 * PingTimeout}

// PingTime is pingTime's effect: measured here when from is this node;
// otherwise from is asked to evaluate `pingTime from to`, which its
// sandbox for this node may refuse.
func (h *netHost) PingTime(th *eval.Thread, from, to *eval.Node) (time.Duration, error) {
	fid, faddrs, err := parseNode(from)
	if err != nil {
		return 0, err
	}
	tid, taddrs, err := parseNode(to)
	if err != nil {
		return 0, err
	}
	if fid == h.n.id {
		if len(taddrs) > 0 {
			h.n.host.Peerstore().AddAddrs(tid, taddrs, peerstore.TempAddrTTL)
		}
		return h.n.PingTime(th.Context(), tid)
	}
	// '(pingTime from to), with both nodes captured.
	thunk := &dag.VClosure{
		Code: &dag.Delay{Body: &dag.App{Fn: &dag.Builtin{Name: "pingTime"}, Args: []dag.Term{&dag.Var{Index: 0}, &dag.Var{Index: 1}}}},
		Env:  []dag.Value{&dag.VNode{ID: from.ID}, &dag.VNode{ID: to.ID, Addrs: to.Addrs}},
	}
	ctx, cancel := context.WithTimeout(th.Context(), remotePingBudget.Timeout)
	defer cancel()
	res, err := h.n.callThunk(ctx, fid, faddrs, thunk, remotePingBudget, callOptions{tokens: tokensFor(h.tokens, fid), onBehalfOf: h.onBehalfOf})
	if err != nil {
		return 0, fmt.Errorf("asking %s for its ping time to %s: %w", shortPeer(from.ID), shortPeer(to.ID), err)
	}
	ms, ok := res.value.(eval.Float)
	if !ok || ms < 0 {
		return 0, fmt.Errorf("asking %s for its ping time: it answered %s, not a ping time", shortPeer(from.ID), eval.Show(res.value, nil))
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}

// PingTime and Load of a foreign evaluation contact the nodes named, so
// each must be a target the sandbox allows (this node and the caller
// always are): contacting a node is a way to signal it. Provision and
// Cluster.members are allowed with the cluster group: they contact only
// what the DHT lists under the cluster's key (docs/security.md).
func (h *foreignHost) PingTime(th *eval.Thread, from, to *eval.Node) (time.Duration, error) {
	for _, x := range []*eval.Node{from, to} {
		if err := h.chk.CheckTarget(x.ID); err != nil {
			return 0, asDenial(err)
		}
	}
	return h.netHost.PingTime(th, from, to)
}

func (h *foreignHost) Load(th *eval.Thread, node *eval.Node) (float64, error) {
	if err := h.chk.CheckTarget(node.ID); err != nil {
		return 0, asDenial(err)
	}
	return h.netHost.Load(th, node)
}

var _ eval.ClusterHost = (*foreignHost)(nil)
