package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Fetching code from providers (docs/protocol.md, "Fetching code"). A
// fetch wants the closures of some roots. It asks one provider at a time
// for everything still missing, in one /unode/blocks request (exchange):
// the peers the asker names first (FetchOptions.From), then those the
// DHT lists as providers of each root still missing. Blocks are stored
// as they arrive and checked before, so when a provider stalls, goes
// away or lies, what it sent that checked out stays and the next
// provider is asked only for the rest. The fetch ends when every root is
// complete, or fails when MaxFetchProviders were tried, no provider is
// left, or the context ends.

// FetchOptions change how FetchClosure finds providers and reports.
type FetchOptions struct {
	// From lists peers to ask first, in order: peer IDs or multiaddrs
	// ending in /p2p/<id> (the peer that named the code, or one the user
	// names).
	From []string
	// NoDiscovery asks only the From peers, not the DHT.
	NoDiscovery bool
	// Progress, when set, is called as blocks arrive (after each batch)
	// and when the fetch turns to another provider, from the fetching
	// goroutine: it must not block.
	Progress func(FetchProgress)
	// StallTimeout replaces FetchStallTimeout when positive: how long a
	// provider may send nothing before the fetch turns to the next.
	StallTimeout time.Duration
	// MaxProviders replaces MaxFetchProviders when positive and lower.
	MaxProviders int
}

// FetchProgress is where a fetch stands.
type FetchProgress struct {
	// Blocks and Bytes were received (and stored) so far, from every
	// provider.
	Blocks int   `json:"blocks"`
	Bytes  int64 `json:"bytes"`
	// Expected is the number of blocks the fetch will have received
	// once the current provider has sent what it was asked for.
	Expected int `json:"expected"`
	// Provider is the peer being asked; Providers counts those asked.
	Provider  string `json:"provider"`
	Providers int    `json:"providers"`
	// Elapsed is the time since the fetch started.
	Elapsed time.Duration `json:"elapsedNs"`
}

// FetchStats are the figures of a fetch.
type FetchStats struct {
	// Blocks and Bytes count the blocks received and stored (block
	// bytes, not framing).
	Blocks int   `json:"blocks"`
	Bytes  int64 `json:"bytes"`
	// Providers counts the providers asked. Requests counts the
	// /unode/blocks streams opened: one per provider asked, and one more
	// where a provider lacked some of several roots and was asked again
	// for its own. RoundTrips counts the exchanges on them: the request
	// and its list, and the need and its blocks when blocks were needed
	// (2 for a request that brought blocks, whatever the DAG's depth).
	Providers  int `json:"providers"`
	Requests   int `json:"requests"`
	RoundTrips int `json:"roundTrips"`
	// Sources says, for each provider asked, in order, what it sent and
	// how its part ended.
	Sources []ProviderStats `json:"sources"`
}

// ProviderStats is one provider's part in a fetch.
type ProviderStats struct {
	Peer   string `json:"peer"`
	Blocks int    `json:"blocks"`
	Bytes  int64  `json:"bytes"`
	// Outcome is "ok" (it completed the fetch), "missing" (it does not
	// hold, or does not publish, what was asked), "failed" (unreachable,
	// stalled, or gone midway) or "rejected" (it sent what does not
	// check out: dropped for the fetch).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Provider outcomes (ProviderStats.Outcome).
const (
	OutcomeOK       = "ok"
	OutcomeMissing  = "missing"
	OutcomeFailed   = "failed"
	OutcomeRejected = "rejected"
)

// FetchError is a fetch that did not complete: Missing lists the roots
// still incomplete, Last is the last provider's failure (nil when no
// provider was found). It matches eval.ErrMissing and dag.ErrMissing (a
// Missing Err for await!), and does not unwrap to Last: the fetch as a
// whole is missing the code, whatever the last provider did.
type FetchError struct {
	Missing []cid.Cid
	Tried   int
	Last    error
	// NoProvider is set when no provider at all was found to ask.
	NoProvider bool
}

func (e *FetchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fetching %s", e.Missing[0])
	if len(e.Missing) > 1 {
		fmt.Fprintf(&b, " (and %d more)", len(e.Missing)-1)
	}
	switch {
	case e.NoProvider:
		b.WriteString(": no provider found")
	case e.Last != nil:
		fmt.Fprintf(&b, ": %s asked, the last: %v", plural(e.Tried, "provider"), e.Last)
	default:
		fmt.Fprintf(&b, ": %s asked", plural(e.Tried, "provider"))
	}
	return b.String()
}

func (e *FetchError) Is(target error) bool {
	return target == eval.ErrMissing || target == dag.ErrMissing
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// BudgetFetch is the budget (CallError.Which) of a fetch that would
// store more block bytes than it may.
const BudgetFetch = "fetch"

// fetchBudgetError: the fetch would store more than its byte bound.
type fetchBudgetError struct{ limit int64 }

func (e *fetchBudgetError) Error() string {
	return fmt.Sprintf("fetch budget exhausted: the closure exceeds %d bytes", e.limit)
}

func (e *fetchBudgetError) Unwrap() error {
	return &eval.BudgetError{Which: BudgetFetch, Limit: e.limit}
}

// fetchSink is where a fetch's blocks go: pinned for the owner, charged
// to a foreign caller for its evaluation.
type fetchSink interface {
	// store stores a batch of checked blocks received from a provider.
	store(ctx context.Context, from peer.ID, blocks []dag.Block) error
	// complete marks the roots complete, or fails with a
	// *dag.MissingError naming what is absent.
	complete(ctx context.Context, roots []cid.Cid) error
}

// pinnedSink keeps blocks for good: the owner's fetches.
type pinnedSink struct{ n *Node }

func (s pinnedSink) store(ctx context.Context, from peer.ID, blocks []dag.Block) error {
	n := s.n
	// Pinned before they are stored, with the unpinned blocks they link
	// to (retain.go): no pinned block links to an unpinned one.
	pin := make([]cid.Cid, 0, 2*len(blocks))
	for _, b := range blocks {
		pin = append(pin, b.CID)
		ls, err := dag.Links(b.Data)
		if err != nil {
			return fmt.Errorf("block %s: %w", b.CID, err)
		}
		pin = append(pin, ls...)
	}
	release, err := n.cb.pinFor(ctx, pin)
	if err != nil {
		return err
	}
	defer release()
	fresh, err := newBlocks(ctx, n.store, blocks)
	if err != nil {
		return err
	}
	if err := n.store.AddBlocks(ctx, blocks); err != nil {
		return err
	}
	return n.cb.markReceived(ctx, fresh, from)
}

func (s pinnedSink) complete(ctx context.Context, roots []cid.Cid) error {
	return s.n.cb.completeRoots(ctx, roots)
}

// chargedSink stores blocks on a foreign caller's say-so: unpinned,
// charged to it, protected by its evaluation's lease (retain.go).
type chargedSink struct {
	n      *Node
	caller peer.ID
	use    *lease
}

func (s chargedSink) store(ctx context.Context, from peer.ID, blocks []dag.Block) error {
	n := s.n
	st, fresh, err := n.cb.chargeForeign(ctx, s.use, s.caller, blocks, nil)
	if err != nil {
		return err
	}
	if err := n.store.AddBlocks(ctx, st); err != nil {
		return err
	}
	return n.cb.markReceived(ctx, fresh, from)
}

func (s chargedSink) complete(ctx context.Context, roots []cid.Cid) error {
	if err := s.n.cb.completeRoots(ctx, roots); err != nil {
		return err
	}
	s.n.cb.retainRoots(s.caller, roots)
	return nil
}

// fetch is one FetchClosure in progress.
type fetch struct {
	n            *Node
	sink         fetchSink
	stall        time.Duration
	maxProviders int
	maxBytes     int64
	// exclude is never asked: the foreign caller, for a callee's fetch.
	exclude  peer.ID
	progress func(FetchProgress)
	start    time.Time
	expect   int
	provider string
	st       FetchStats
}

func (f *fetch) report(provider string) {
	if f.progress == nil {
		return
	}
	f.progress(FetchProgress{Blocks: f.st.Blocks, Bytes: f.st.Bytes, Expected: max(f.expect, f.st.Blocks),
		Provider: provider, Providers: f.st.Providers, Elapsed: time.Since(f.start)})
}

// FetchClosure gets roots with their whole closures, asking providers
// for what this node lacks: the From peers, then (unless NoDiscovery)
// the providers the DHT lists for each root. The blocks are pinned (the
// owner's fetch). It returns the figures of the fetch, and a *FetchError
// if some root is still incomplete; a provider that failed or lied is
// reported in Sources, not as an error, when another completed the
// fetch.
func (n *Node) FetchClosure(ctx context.Context, roots []cid.Cid, o FetchOptions) (FetchStats, error) {
	if len(roots) == 0 || len(roots) > MaxFetchRoots {
		return FetchStats{}, fmt.Errorf("fetch: %d roots (want 1 to %d)", len(roots), MaxFetchRoots)
	}
	var from []peer.AddrInfo
	for _, t := range o.From {
		p, addrs, err := parseTarget(t)
		if err != nil {
			return FetchStats{}, err
		}
		if p == n.id {
			return FetchStats{}, errors.New("fetch: cannot fetch from this node itself")
		}
		from = append(from, peer.AddrInfo{ID: p, Addrs: addrs})
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultFetchTimeout)
		defer cancel()
	}
	f := &fetch{n: n, sink: pinnedSink{n}, stall: FetchStallTimeout, maxProviders: MaxFetchProviders,
		maxBytes: MaxFetchBytes, progress: o.Progress}
	if o.StallTimeout > 0 {
		f.stall = o.StallTimeout
	}
	if o.MaxProviders > 0 {
		f.maxProviders = min(o.MaxProviders, MaxFetchProviders)
	}
	var finder providerFinder
	if !o.NoDiscovery {
		finder = n.finder()
	}
	st, err := f.run(ctx, roots, from, finder)
	n.met.countFetch(fetchSelf, st, err) // metrics.go
	if err == nil {
		// Fetched for this node's own use: pinned, even the roots that
		// were here already on another peer's say-so.
		err = n.cb.pinLinks(ctx, roots)
	}
	return st, err
}

// run fetches roots from the providers in turn.
func (f *fetch) run(ctx context.Context, roots []cid.Cid, from []peer.AddrInfo, finder providerFinder) (FetchStats, error) {
	f.start = time.Now()
	f.st.Sources = []ProviderStats{}
	missing, err := f.incomplete(ctx, roots)
	if err != nil || len(missing) == 0 {
		return f.st, err
	}
	queue := &providerQueue{n: f.n, from: from, finder: finder, exclude: f.exclude, tried: map[peer.ID]bool{}}
	defer queue.close()
	var last error
	for len(missing) > 0 {
		if f.st.Providers >= f.maxProviders {
			break
		}
		c, foundFor, ok := queue.next(ctx, missing)
		if !ok {
			break
		}
		if len(c.Addrs) > 0 {
			f.n.host.Peerstore().AddAddrs(c.ID, c.Addrs, peerstore.TempAddrTTL)
		}
		f.st.Providers++
		f.st.Sources = append(f.st.Sources, ProviderStats{Peer: c.ID.String()})
		ps := &f.st.Sources[len(f.st.Sources)-1]
		err := f.exchange(ctx, c.ID, missing, ps)
		// A provider found for one root lacks some other: ask it again
		// for the root it provides alone.
		var pe *providerError
		var ce *CallError
		if errors.As(err, &pe) && !pe.lied && errors.As(pe.err, &ce) && ce.Code == CodeMissing &&
			foundFor.Defined() && len(missing) > 1 && !ce.CID.Equals(foundFor) && slices.ContainsFunc(missing, ce.CID.Equals) {
			err = f.exchange(ctx, c.ID, []cid.Cid{foundFor}, ps)
		}
		switch {
		case err == nil:
			ps.Outcome = OutcomeOK
		case errors.As(err, &pe):
			last = pe.err
			ps.Error = pe.err.Error()
			switch {
			case pe.lied:
				ps.Outcome = OutcomeRejected
				f.n.log.Warn("blocks: provider rejected: what it sent does not check out; dropped for this fetch",
					"peer", c.ID.String(), "err", pe.err)
			case errors.As(pe.err, &ce) && ce.Code == CodeMissing:
				ps.Outcome = OutcomeMissing
				f.n.log.Debug("blocks: provider lacks it", "peer", c.ID.String(), "err", pe.err)
			default:
				ps.Outcome = OutcomeFailed
				f.n.log.Info("blocks: provider failed; going on from the next", "peer", c.ID.String(),
					"blocks", ps.Blocks, "err", pe.err)
			}
		default:
			ps.Outcome = OutcomeFailed
			ps.Error = err.Error()
			return f.st, err
		}
		if missing, err = f.incomplete(ctx, missing); err != nil {
			return f.st, err
		}
	}
	if len(missing) == 0 {
		return f.st, nil
	}
	if err := ctx.Err(); err != nil {
		return f.st, &FetchError{Missing: missing, Tried: f.st.Providers, Last: streamFailure(ctx, "", "fetching", err)}
	}
	return f.st, &FetchError{Missing: missing, Tried: f.st.Providers, Last: last, NoProvider: f.st.Providers == 0}
}

// incomplete returns those of roots that are not complete here.
func (f *fetch) incomplete(ctx context.Context, roots []cid.Cid) ([]cid.Cid, error) {
	var out []cid.Cid
	for _, r := range roots {
		ok, err := f.n.store.IsComplete(ctx, r)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// providerFinder is what a fetch needs of the DHT (p2p/discovery).
type providerFinder interface {
	FindProvidersAsync(ctx context.Context, key cid.Cid, limit int) <-chan peer.AddrInfo
}

// finder is the node's DHT as a fetch uses it; nil when it runs none.
func (n *Node) finder() providerFinder {
	if n.disc == nil {
		return nil
	}
	return n.disc
}

// providerQueue yields the providers to ask, each once: the From peers,
// then the DHT's providers of each root still missing, in turn.
type providerQueue struct {
	n       *Node
	from    []peer.AddrInfo
	finder  providerFinder
	exclude peer.ID
	tried   map[peer.ID]bool

	looked map[cid.Cid]bool // roots whose lookup has started
	key    cid.Cid          // the root being looked up
	found  <-chan peer.AddrInfo
	cancel context.CancelFunc
}

// next returns the next provider to ask and the root it was found for
// (undefined for a From peer), or false when there is none.
func (c *providerQueue) next(ctx context.Context, missing []cid.Cid) (peer.AddrInfo, cid.Cid, bool) {
	usable := func(p peer.ID) bool {
		return p != "" && p != c.n.id && p != c.exclude && !c.tried[p]
	}
	for len(c.from) > 0 {
		ai := c.from[0]
		c.from = c.from[1:]
		if usable(ai.ID) {
			c.tried[ai.ID] = true
			return ai, cid.Undef, true
		}
	}
	if c.finder == nil {
		return peer.AddrInfo{}, cid.Undef, false
	}
	if c.looked == nil {
		c.looked = map[cid.Cid]bool{}
	}
	for {
		if c.found == nil {
			i := slices.IndexFunc(missing, func(r cid.Cid) bool { return !c.looked[r] })
			if i < 0 {
				return peer.AddrInfo{}, cid.Undef, false
			}
			c.key = missing[i]
			c.looked[c.key] = true
			var lctx context.Context
			lctx, c.cancel = context.WithCancel(ctx)
			c.found = c.finder.FindProvidersAsync(lctx, c.key, FindProvidersLimit)
		}
		select {
		case ai, ok := <-c.found:
			if !ok {
				c.close()
				continue
			}
			if usable(ai.ID) {
				c.tried[ai.ID] = true
				return ai, c.key, true
			}
		case <-ctx.Done():
			return peer.AddrInfo{}, cid.Undef, false
		}
	}
}

func (c *providerQueue) close() {
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	c.found = nil
}
