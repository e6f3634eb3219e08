package p2p

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Enforcement of the capabilities on foreign evaluations
// (docs/security.md). For each request the callee computes the
// effective sandbox (the policy's sandbox for the authenticated caller,
// joined with the verified tokens it presents), then:
//
//  1. links the code before any step runs: every builtin named by the
//     thunk and by the closure of every definition it refers to, and
//     every definition the thunk refers to directly, must be allowed
//     (Checker.CheckLink); the budget comes from the sandbox;
//  2. runs it on a thread whose CheckBuiltin and CheckDef hooks ask the
//     same Checker about code reached dynamically (values read from
//     node data or returned by other nodes), and whose host checks every
//     at/send target (CheckTarget) and data key (CheckData);
//  3. sends back only code this node may share with the caller: blocks
//     it published or the caller sent it, never its private code;
//  4. records the evaluation in the audit log.

// DeniedPrivate is the DeniedError kind (and CallError.Which) of a
// refusal to send code that is private to this node.
const DeniedPrivate = "private"

// catalog describes eval's builtins to the capabilities package.
var catalog = capabilities.Catalog{GroupOf: groupOf, Covers: covers}

var evalGroups = func() map[string]string {
	m := map[string]string{}
	for _, b := range eval.Builtins() {
		m[b.Name] = b.Group
	}
	return m
}()

// groupOf maps eval's builtin groups to capability groups, splitting
// node data by direction.
func groupOf(name string) string {
	switch name {
	case "Data.get", "Data.list":
		return capabilities.GroupDataRead
	case "Data.put", "Data.delete":
		return capabilities.GroupDataWrite
	}
	switch g := evalGroups[name]; g {
	case capabilities.GroupPure, capabilities.GroupRemote, capabilities.GroupChannel, capabilities.GroupCluster, capabilities.GroupFFI:
		return g
	}
	return "" // unknown: never allowed
}

// opCovers lists what each operator dispatches to (eval/builtins_op.go):
// arithmetic on Ints or Floats, comparisons of Ints, Floats or Text (the
// typed compare builtins compute what the operator tests), ++ on Text,
// Bytes or Lists, :: on Lists. An operator is allowed only if all of
// these are, so denying Int.sub denies `-` on any operands.
var opCovers = map[string][]string{
	"Op.add":    {"Int.add", "Float.add"},
	"Op.sub":    {"Int.sub", "Float.sub"},
	"Op.mul":    {"Int.mul", "Float.mul"},
	"Op.div":    {"Int.div", "Float.div"},
	"Op.mod":    {"Int.mod"},
	"Op.negate": {"Int.negate", "Float.negate"},
	"Op.eq":     {"Int.compare", "Float.compare", "Text.compare"},
	"Op.neq":    {"Int.compare", "Float.compare", "Text.compare"},
	"Op.lt":     {"Int.compare", "Float.compare", "Text.compare"},
	"Op.le":     {"Int.compare", "Float.compare", "Text.compare"},
	"Op.gt":     {"Int.compare", "Float.compare", "Text.compare"},
	"Op.ge":     {"Int.compare", "Float.compare", "Text.compare"},
	"Op.append": {"Text.concat", "Bytes.concat", "List.append"},
	"Op.cons":   {"List.cons"},
}

func covers(name string) []string { return opCovers[name] }

// sandboxDenial is a refusal as the evaluator sees it: it matches
// eval.ErrDenied (so await! gets Err.Denied) and unwraps to the
// *capabilities.DeniedError naming what was refused.
type sandboxDenial struct{ *capabilities.DeniedError }

func (e sandboxDenial) Is(target error) bool {
	return target == eval.ErrDenied || target == capabilities.ErrDenied
}

func (e sandboxDenial) Unwrap() error { return e.DeniedError }

func (e sandboxDenial) Error() string {
	if e.Kind == DeniedPrivate {
		return "denied: " + deniedText(e.DeniedError)
	}
	return e.DeniedError.Error()
}

// deniedText says what was refused, without the "denied: " prefix.
func deniedText(de *capabilities.DeniedError) string {
	var msg string
	if de.Kind == DeniedPrivate {
		msg = "block " + de.Name + " is private to this node"
	} else {
		msg = de.Kind + " " + de.Name + " is outside the sandbox"
	}
	if de.Detail != "" {
		msg += " (" + de.Detail + ")"
	}
	return msg
}

// asDenial wraps a Checker's error for the evaluator.
func asDenial(err error) error {
	var de *capabilities.DeniedError
	if errors.As(err, &de) {
		return sandboxDenial{de}
	}
	return err
}

func privateDenial(c cid.Cid, what string) error {
	return sandboxDenial{&capabilities.DeniedError{Kind: DeniedPrivate, Name: c.String(), Detail: what}}
}

// ---- the sandbox of a request ----

// access is what a foreign evaluation may do: the checker of its
// effective sandbox, the tokens that verified and the problems of those
// that did not.
type access struct {
	chk      *capabilities.Checker
	tokenIDs []string
	problems []string
}

// accessFor computes the effective sandbox of a request by remote that
// presents the raw tokens.
//
// Without tokens the sandbox depends only on the policy and the caller:
// the access is made once per policy and caller and shared (a Checker is
// safe for concurrent use and an access is read only), so the checks
// precomputed against its checker (link) stay valid. Setting a policy
// stores a new one (SetPolicy copies), which empties the cache.
func (n *Node) accessFor(ctx context.Context, remote peer.ID, raw [][]byte) *access {
	if len(raw) == 0 {
		return n.access.get(n, remote)
	}
	return n.newAccess(ctx, remote, raw)
}

// accessCache keeps the access of tokenless calls per caller, for one
// policy (pol): a call under another policy empties it.
type accessCache struct {
	mu  sync.Mutex
	pol *capabilities.Policy
	m   map[peer.ID]*access
}

func (c *accessCache) get(n *Node, remote peer.ID) *access {
	pol := n.policy.Load()
	c.mu.Lock()
	if c.pol == pol {
		if a, ok := c.m[remote]; ok {
			c.mu.Unlock()
			return a
		}
	}
	c.mu.Unlock()
	a := n.newAccessUnder(context.Background(), pol, remote, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pol != pol || len(c.m) >= accessCacheEntries {
		c.pol, c.m = pol, map[peer.ID]*access{}
	}
	c.m[remote] = a
	return a
}

func (n *Node) newAccess(ctx context.Context, remote peer.ID, raw [][]byte) *access {
	return n.newAccessUnder(ctx, n.policy.Load(), remote, raw)
}

func (n *Node) newAccessUnder(ctx context.Context, pol *capabilities.Policy, remote peer.ID, raw [][]byte) *access {
	a := &access{}
	var toks []*capabilities.Token
	var index []int     // toks[i] is raw[index[i]]
	var refused []error // for metrics.go
	for i, b := range raw {
		t, err := capabilities.DecodeToken(b)
		if err != nil {
			a.problems = append(a.problems, tokenProblem(i, "", err))
			refused = append(refused, err)
			continue
		}
		toks = append(toks, t)
		index = append(index, i)
	}
	// Fail closed, as grants.Revoked does, but remember why: a token
	// whose revocation could not be read (the store is down) is refused
	// as unchecked, not reported to its holder as revoked.
	var unreadable error
	revoked := func(id string) bool {
		ok, err := n.grants.IsRevoked(ctx, id)
		if err != nil && unreadable == nil {
			unreadable = err
		}
		return ok || err != nil
	}
	sb, problems := pol.For(n.id, remote, n.now(), revoked, toks...)
	bad := map[int]bool{}
	for _, p := range problems {
		bad[p.Index] = true
		why := p.Err
		if unreadable != nil && errors.Is(why, capabilities.ErrRevoked) {
			why = fmt.Errorf("its revocation status could not be read: %s", storeFailureText(unreadable))
		}
		a.problems = append(a.problems, tokenProblem(index[p.Index], p.TokenID, why))
		refused = append(refused, p.Err)
	}
	for i, t := range toks {
		if !bad[i] {
			a.tokenIDs = append(a.tokenIDs, t.ID())
		}
	}
	if len(raw) > 0 {
		n.met.countTokens(len(a.tokenIDs), refused)
	}
	a.chk = capabilities.NewChecker(sb, catalog, n.id, remote)
	return a
}

// tokenProblem says why presented token i did not verify.
func tokenProblem(i int, id string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "capabilities: ")
	if id != "" && !strings.Contains(msg, id) {
		msg = id + ": " + msg
	}
	return fmt.Sprintf("token %d: %s", i, msg)
}

// denied is the wire error of a refusal, with the token problems that
// may explain it.
func (a *access) denied(err error) *CallError {
	ce := evalFailure(err)
	if ce.Code == CodeDenied {
		ce.Tokens = a.problems
	}
	return ce
}

// budget is what a foreign evaluation runs under: the sandbox's budgets,
// within the node's caps (WithForeignBudget) and what the caller asked
// for; call depth is bounded so that the Go stack it takes fits the
// memory budget too. CheckLink has refused sandboxes with a zero budget, so no field
// falls back to the evaluator's (much larger) defaults.
func (n *Node) budget(sb capabilities.Budget, w *WireBudget) Budget {
	// The Go stack that call depth costs comes out of the memory budget.
	depth := int(min(int64(n.caps.MaxDepth), max(sb.Memory/stackPerDepth, 1)))
	g := Budget{Fuel: sb.Fuel, MaxMemory: sb.Memory, MaxDepth: depth,
		MaxResultBytes: min(sb.Result, n.caps.MaxResultBytes), Timeout: sb.Time}
	lower := func(cur *int64, lim int64) {
		if lim > 0 && lim < *cur {
			*cur = lim
		}
	}
	lower(&g.Fuel, n.caps.Fuel)
	lower(&g.MaxMemory, n.caps.MaxMemory)
	if n.caps.Timeout > 0 && n.caps.Timeout < g.Timeout {
		g.Timeout = n.caps.Timeout
	}
	if w != nil {
		lower(&g.Fuel, w.Fuel)
		lower(&g.MaxMemory, w.Memory)
		lower(&g.MaxResultBytes, w.Result)
		if w.Depth > 0 && w.Depth < int64(g.MaxDepth) {
			g.MaxDepth = int(w.Depth)
		}
		if t := msDuration(w.TimeoutMs); t > 0 && t < g.Timeout {
			g.Timeout = t
		}
	}
	return g
}

// ---- linking ----

// linked is what linking found: the blocks of the closures of the
// code's references (present ones, owner-side thunks' included). It
// holds the summaries themselves, shared with the cache, rather than a
// copy of their blocks: linking a warm root costs the same whatever the
// size of its closure. Past linkedShared summaries (code that reaches
// many definitions dynamically) the rest are merged into one set, so
// that has stays cheap.
//
// Looking a block up in the shared summaries one by one costs a map
// probe per summary missed. Once those misses have cost as many probes
// as copying the shared summaries' blocks would (ski rental: at most
// twice the better of the two), has folds them into the merged set
// too, and from then on a lookup is one probe. A call that looks
// little up keeps the cheap link; one that looks up much (a thread's
// check of each definition it reaches) pays the copy once. The merged
// set holds only blocks of linked summaries, so it is bounded by what
// is linked, as before.
type linked struct {
	mu     sync.Mutex
	sums   []*linkSummary
	merged map[cid.Cid]struct{}
	// folded is set once every block of sums is in merged too.
	folded bool
	// wasted counts the probes of sums that missed, until folded.
	wasted int
}

// linkedShared is how many summaries linked consults one by one.
const linkedShared = 8

func (l *linked) has(c cid.Cid) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.folded {
		for i, s := range l.sums {
			if _, ok := s.blocks[c]; ok {
				l.waste(i)
				return true
			}
		}
		l.waste(len(l.sums))
	}
	_, ok := l.merged[c]
	return ok
}

// waste counts probes of the shared summaries that missed, and folds
// them into the merged set once the misses have cost what the fold
// does. With one summary there is nothing to gain: a lookup is one
// probe already (merged, when there is one, is probed as well either
// way).
func (l *linked) waste(probes int) {
	if probes == 0 || len(l.sums) < 2 {
		return
	}
	l.wasted += probes
	cost := 0
	for _, s := range l.sums {
		cost += len(s.blocks)
	}
	if l.wasted < cost {
		return
	}
	if l.merged == nil {
		l.merged = make(map[cid.Cid]struct{}, cost)
	}
	for _, s := range l.sums {
		for c := range s.blocks {
			l.merged[c] = struct{}{}
		}
	}
	l.folded = true
}

func (l *linked) add(s *linkSummary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(s, 0)
}

// addLocked is add; room is how many blocks the merged set is to have
// room for, if this makes it (addAll's sum, so that it is not rehashed
// as it fills).
func (l *linked) addLocked(s *linkSummary, room int) {
	if slices.Contains(l.sums, s) {
		return
	}
	if len(l.sums) < linkedShared && !l.folded {
		l.sums = append(l.sums, s)
		return
	}
	if l.merged == nil {
		l.merged = make(map[cid.Cid]struct{}, max(room, len(s.blocks)))
	}
	for c := range s.blocks {
		l.merged[c] = struct{}{}
	}
}

// addAll is add of each of sums, in order.
func (l *linked) addAll(sums []*linkSummary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	room := 0
	if len(sums) > linkedShared {
		// What the merged set may take (overlaps counted twice): the
		// summaries past the first linkedShared, held in memory already.
		for _, s := range sums[linkedShared:] {
			room += len(s.blocks)
		}
	}
	for _, s := range sums {
		l.addLocked(s, room)
	}
}

// thunkRefs returns what a thunk names directly: its builtins (sorted)
// and the definitions it refers to (sorted).
func thunkRefs(w dag.Value) (builtins []string, defs []cid.Cid) {
	r := dag.NewRefs()
	r.AddValue(w)
	builtins = slices.Sorted(maps.Keys(r.Builtins))
	defs = slices.SortedFunc(maps.Keys(r.Defs), compareCIDs)
	return builtins, defs
}

// link checks the closure of every block a thunk refers to (roots,
// dag.ValueLinks of the thunk; builtins and defs, its thunkRefs): the
// builtins they name must be allowed. It returns the linked blocks.
//
// The builtins of a root's closure are checked once per checker: a
// summary remembers the last checker that allowed them, and the node
// keeps one checker per policy and caller for calls without tokens
// (accessFor), so a warm call of a warm root checks nothing here.
func (n *Node) link(ctx context.Context, chk *capabilities.Checker, builtins []string, defs, roots []cid.Cid) (*linked, error) {
	l := &linked{}
	sums := make([]*linkSummary, 0, len(roots))
	allowed := true
	for _, root := range roots {
		s, err := n.summarize(ctx, root)
		if err != nil {
			return nil, err
		}
		sums = append(sums, s)
		if s.allowedBy.Load() == chk {
			continue
		}
		if allowed && chk.CheckLink(s.builtins, s.defs) == nil {
			s.allowedBy.Store(chk)
			continue
		}
		allowed = false
	}
	l.addAll(sums)
	if allowed {
		// The thunk's own builtins and defs: serveEval checked them.
		if err := chk.CheckLink(builtins, defs); err != nil {
			return nil, asDenial(err)
		}
		return l, nil
	}
	// A refusal: the first in sorted order, as one check of everything
	// would give it.
	all := map[string]bool{}
	for _, b := range builtins {
		all[b] = true
	}
	allDefs := map[cid.Cid]bool{}
	for _, d := range defs {
		allDefs[d] = true
	}
	for _, s := range sums {
		for _, b := range s.builtins {
			all[b] = true
		}
		for _, d := range s.defs {
			allDefs[d] = true
		}
	}
	if err := chk.CheckLink(slices.Sorted(maps.Keys(all)), slices.SortedFunc(maps.Keys(allDefs), compareCIDs)); err != nil {
		return nil, asDenial(err)
	}
	return l, nil
}

// linkSummary is what the closure of one block names. It is immutable
// once made (allowedBy aside), and shared by the cache and the
// evaluations linking it.
type linkSummary struct {
	builtins []string // sorted
	// defs are the definitions that values in the closure's element
	// chunk leaves name (dag.StoredScan.Defs), sorted: parts of a value
	// (a thunk's chunked list of closures), checked as the thunk's own
	// references are, so chunked code is refused at link time as the
	// same code unchunked is by serveEval's first check.
	defs   []cid.Cid
	blocks map[cid.Cid]struct{}
	// bytes is an estimate of the memory the summary holds, what the
	// cache is bounded by.
	bytes int64
	// allowedBy is the last checker whose CheckLink allowed builtins.
	allowedBy atomic.Pointer[capabilities.Checker]
}

// Estimated memory of a summary: per block, a map entry (about 48
// bytes with its share of buckets) and the CID's bytes; per builtin, its
// name and a slice slot.
const (
	summaryBaseBytes     = 256
	summaryPerBlockBytes = 48
	summaryPerNameBytes  = 16
)

// summarize walks the closure of root as this node holds it: every
// block the closure invariant needs (which must be present), and the
// blocks that thunks sent to fixed nodes refer to, when present (they
// run here if this is that node). Summaries of complete walks are
// cached: blocks never change, and a summary that found every block it
// looked for is a fact about the blocks, whatever is later collected
// or added (a walk that missed an optional block is not cached, so the
// block, once present, is looked at).
func (n *Node) summarize(ctx context.Context, root cid.Cid) (*linkSummary, error) {
	if s, ok := n.links.get(root); ok {
		return s, nil
	}
	builtins := map[string]bool{}
	defs := map[cid.Cid]bool{}
	s := &linkSummary{blocks: map[cid.Cid]struct{}{}, bytes: summaryBaseBytes}
	partial := false
	type item struct {
		c      cid.Cid
		needed bool
	}
	stack := []item{{root, true}}
	// A block is in s.blocks from when it is first reached (so the walk
	// keeps no second set of the closure) and taken out again if it is
	// not here; missing keeps those, so they are looked up once.
	s.blocks[root] = struct{}{}
	var missing map[cid.Cid]bool
	for walked := 0; len(stack) > 0; walked++ {
		// Every summarizeCheckEvery blocks, the first included: a
		// budget context's Err reads the clock, a fair part of what
		// looking at a block the store has cached costs.
		if walked%summarizeCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		// What a stored block names (the store checked it when it took
		// it): its builtins, its links and the links it needs, read off
		// the decoding made when it was received, else in one decoding.
		sc, err := n.store.ScanStored(ctx, it.c)
		if errors.Is(err, dag.ErrNotFound) {
			if it.needed {
				return nil, &dag.MissingError{CIDs: []cid.Cid{it.c}}
			}
			partial = true // another node's implementation
			delete(s.blocks, it.c)
			if missing == nil {
				missing = map[cid.Cid]bool{}
			}
			missing[it.c] = true
			continue
		}
		if err != nil {
			return nil, err
		}
		s.bytes += summaryPerBlockBytes + int64(len(it.c.KeyString()))
		for _, b := range sc.Builtins {
			if !builtins[b] {
				builtins[b] = true
				s.bytes += summaryPerNameBytes + int64(len(b))
			}
		}
		for _, d := range sc.Defs {
			if !defs[d] {
				defs[d] = true
				s.bytes += summaryPerNameBytes + int64(len(d.KeyString()))
			}
		}
		// Needed is a subset of Links, both sorted and each once: of the
		// same length, they are the same.
		allNeeded := len(sc.Needed) == len(sc.Links)
		for _, l := range sc.Links {
			if _, ok := s.blocks[l]; ok || missing[l] {
				continue
			}
			s.blocks[l] = struct{}{}
			isNeeded := allNeeded
			if !isNeeded {
				_, isNeeded = slices.BinarySearchFunc(sc.Needed, l, compareCIDBytes)
			}
			stack = append(stack, item{l, it.needed && isNeeded})
		}
	}
	// Sized at once (slices.Sorted of the keys grows its slice).
	s.builtins = make([]string, 0, len(builtins))
	for b := range builtins {
		s.builtins = append(s.builtins, b)
	}
	slices.Sort(s.builtins)
	s.defs = make([]cid.Cid, 0, len(defs))
	for d := range defs {
		s.defs = append(s.defs, d)
	}
	slices.SortFunc(s.defs, compareCIDs)
	if !partial {
		n.links.put(root, s)
	}
	return s, nil
}

// summarizeCheckEvery is how many blocks summarize looks at between two
// looks at its context: tens of microseconds of a walk of cached
// blocks, a few milliseconds of one that reads a database store.
const summarizeCheckEvery = 64

func compareCIDBytes(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) }

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// linkCache keeps closure summaries, least recently used out, within a
// bound on entries (linkCacheEntries) and one on the memory they hold
// (linkCacheBytes). There is no bound on the size of one closure short
// of the whole budget: a warm call of a 10,000-definition root costs
// what one of a 10-definition root does.
type linkCache struct {
	mu       sync.Mutex
	max      int
	maxBytes int64
	bytes    int64     // held by the entries
	lru      list.List // of *linkEntry, most recently used first
	items    map[cid.Cid]*list.Element
}

type linkEntry struct {
	root cid.Cid
	s    *linkSummary
}

func newLinkCache(max int) *linkCache {
	return &linkCache{max: max, maxBytes: linkCacheBytes, items: map[cid.Cid]*list.Element{}}
}

func (c *linkCache) get(root cid.Cid) (*linkSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[root]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*linkEntry).s, true
}

func (c *linkCache) put(root cid.Cid, s *linkSummary) {
	if s.bytes > c.maxBytes {
		return // larger than the whole cache: made afresh each time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.items[root]; ok {
		c.bytes -= old.Value.(*linkEntry).s.bytes
		c.lru.Remove(old)
	}
	c.items[root] = c.lru.PushFront(&linkEntry{root: root, s: s})
	c.bytes += s.bytes
	for len(c.items) > c.max || c.bytes > c.maxBytes {
		back := c.lru.Back()
		e := back.Value.(*linkEntry)
		c.lru.Remove(back)
		delete(c.items, e.root)
		c.bytes -= e.s.bytes
	}
}

// ---- running ----

// guard sets the thread's run-time checks: builtins and definitions
// reached dynamically (see eval/guard.go).
func (n *Node) guard(ctx context.Context, th *eval.Thread, chk *capabilities.Checker, l *linked) {
	th.CheckBuiltin = func(name string) error {
		if err := chk.CheckBuiltin(name); err != nil {
			return asDenial(err)
		}
		return nil
	}
	th.CheckDef = func(ref dag.DefRef) error {
		if l.has(ref.CID) {
			return nil
		}
		if err := chk.CheckDef(ref.CID); err != nil {
			return asDenial(err)
		}
		// Allowed: what it calls is part of it.
		s, err := n.summarize(ctx, ref.CID)
		if err != nil {
			return err
		}
		l.add(s)
		return nil
	}
}

// foreignHost is the effect host of a foreign evaluation: the node's own
// host, with every at/send target and every data key checked against
// the sandbox, and with remote calls that send only code shareable with
// the caller.
type foreignHost struct {
	*netHost
	chk *capabilities.Checker
	// touchedData is set once the evaluation asks for node data, allowed
	// or not: its audit entry must then be durable before the reply
	// (serveEval).
	touchedData atomic.Bool
}

var (
	_ eval.Host        = (*foreignHost)(nil)
	_ eval.ChannelHost = (*foreignHost)(nil)
	_ eval.DataHost    = (*foreignHost)(nil)
)

func newForeignHost(n *Node, chk *capabilities.Checker, caller peer.ID) *foreignHost {
	h := newNetHost(n, nil)
	h.onBehalfOf = caller
	return &foreignHost{netHost: h, chk: chk}
}

func (h *foreignHost) Spawn(th *eval.Thread, node *eval.Node, thunk eval.Value) *eval.Future {
	if err := h.chk.CheckTarget(node.ID); err != nil {
		f := eval.NewFuture()
		f.Fail(asDenial(err))
		return f
	}
	return h.netHost.Spawn(th, node, thunk)
}

func (h *foreignHost) Send(th *eval.Thread, node *eval.Node, ch *eval.Channel, v eval.Value, ack bool) *eval.Future {
	if err := h.chk.CheckTarget(node.ID); err != nil {
		f := eval.NewFuture() // failed even without ack: send fails too
		f.Fail(asDenial(err))
		return f
	}
	if err := h.checkChannelSend(ch); err != nil {
		f := eval.NewFuture()
		f.Fail(err)
		return f
	}
	return h.netHost.Send(th, node, ch, v, ack)
}

func (h *foreignHost) DataGet(th *eval.Thread, key string) (eval.Value, bool, error) {
	h.touchedData.Store(true)
	if err := h.chk.CheckData(capabilities.DataGet, key); err != nil {
		return nil, false, asDenial(err)
	}
	return h.netHost.DataGet(th, key)
}

func (h *foreignHost) DataPut(th *eval.Thread, key string, v eval.Value) error {
	h.touchedData.Store(true)
	if err := h.chk.CheckData(capabilities.DataPut, key); err != nil {
		return asDenial(err)
	}
	return h.netHost.DataPut(th, key, v)
}

func (h *foreignHost) DataList(th *eval.Thread, prefix string) ([]string, error) {
	h.touchedData.Store(true)
	if err := h.chk.CheckData(capabilities.DataList, prefix); err != nil {
		return nil, asDenial(err)
	}
	return h.netHost.DataList(th, prefix)
}

func (h *foreignHost) DataDelete(th *eval.Thread, key string) error {
	h.touchedData.Store(true)
	if err := h.chk.CheckData(capabilities.DataDelete, key); err != nil {
		return asDenial(err)
	}
	return h.netHost.DataDelete(th, key)
}

// ---- what may leave this node on behalf of foreign code ----

// checkShareableCode refuses a value that carries code of a definition
// this node does not share with peer p (closures made by running its
// private code): sent as a result to p or on a call made on p's behalf,
// it would give the code away inline.
func (n *Node) checkShareableCode(ctx context.Context, v eval.Value, p peer.ID) error {
	for _, ref := range eval.CodeOwners(v) {
		ok, err := n.cb.shareable(ctx, ref.CID, p)
		if err != nil {
			return err
		}
		if !ok {
			return privateDenial(ref.CID, "the value carries code of its definition inline")
		}
	}
	return nil
}

// ---- audit ----

// auditRoot is the CID the audit log names for a thunk: the definition
// it calls when it refers to exactly one, else the CID of the thunk's
// own encoding.
func auditRoot(thunk []byte, roots []cid.Cid) string {
	if len(roots) == 1 {
		return roots[0].String()
	}
	return dag.NewBlock(thunk).CID.String()
}

// outcomeOf classifies the end of a foreign evaluation for the audit log.
func outcomeOf(ce *CallError) string {
	switch {
	case ce == nil:
		return capabilities.OutcomeOK
	case ce.Code == CodeDenied:
		return capabilities.OutcomeDenied
	case ce.Code == CodeBudget:
		return capabilities.OutcomeBudget
	}
	return capabilities.OutcomeError
}
