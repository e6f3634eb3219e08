package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
)

// Metrics. A node counts what it does with atomic adds, always (a few
// nanoseconds an event; most counters existed already for ForeignStats,
// ChanStats and SyncTotals), and WithMetrics exports the counts to a
// Prometheus registry through one collector that reads them when
// scraped. No label takes a peer ID, a CID or a name: every series is
// one of a fixed set (outcome × peer class, reason, budget), so a
// stranger cannot grow the registry by calling with fresh identities.
// The names and what each counts are in docs/operations.md.

// WithMetrics registers the node's metrics with reg, and turns on
// go-libp2p's own (swarm, identify, transports, autonat, relay, hole
// punching) on the same registry. The node's collector is unregistered
// when the node closes; libp2p's stay (they are process-wide: with
// several hosts in one process they count them all).
//
// Several nodes need a registry each: the second node on one registry
// fails New with prometheus.AlreadyRegisteredError (its series would
// be the first's), and one on a registerer wrapped with a label fails
// it too (go-libp2p's series, registered unlabelled by the first, cannot
// take the label). The members of a Shared group export their own metrics but never
// libp2p's: those would sum every member's host in each series, and
// their per-event cost, small for one host, grows with the group.
//
// The resource manager's metrics come on too: its reporter does some
// work on every scope event (stream or connection opened, memory
// reserved), which nodes without WithMetrics do not pay.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *config) error {
		if reg == nil {
			return errors.New("WithMetrics: nil registerer")
		}
		c.metrics = reg
		return nil
	}
}

// libp2pOptions are the libp2p.New options of identify's self
// description and of metrics.
func (c *config) libp2pOptions() []libp2p.Option {
	if c.agent == "" {
		c.agent = DefaultAgentVersion()
	}
	opts := []libp2p.Option{libp2p.UserAgent(c.agent), libp2p.ProtocolVersion(IdentifyProtocolVersion)}
	if c.metrics != nil && c.shared == nil {
		c.libp2pReg = &guardedRegisterer{Registerer: c.metrics}
		return append(opts, libp2p.PrometheusRegisterer(c.libp2pReg))
	}
	return append(opts, libp2p.DisableMetrics())
}

// guardedRegisterer is the registerer go-libp2p gets. go-libp2p panics
// when registering a collector fails for any reason but an earlier
// registration of the same one (which it ignores: its collectors are
// package variables); this keeps the first such failure for New to
// report, and tells go-libp2p the collector is registered already.
type guardedRegisterer struct {
	prometheus.Registerer
	mu  sync.Mutex
	err error
}

func (g *guardedRegisterer) Register(c prometheus.Collector) error {
	err := g.Registerer.Register(c)
	var are prometheus.AlreadyRegisteredError
	if err == nil || errors.As(err, &are) {
		return err
	}
	g.mu.Lock()
	if g.err == nil {
		g.err = fmt.Errorf("registering go-libp2p's metrics: %w", err)
	}
	g.mu.Unlock()
	return prometheus.AlreadyRegisteredError{ExistingCollector: c, NewCollector: c}
}

func (g *guardedRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		g.Register(c)
	}
}

func (g *guardedRegisterer) failure() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// rcmgrOptions are the resource manager's metrics options: its
// reporter, with WithMetrics on a node of its own; none (metrics off)
// otherwise.
func (c *config) rcmgrOptions() []rcmgr.Option {
	if c.metrics == nil || c.shared != nil {
		return []rcmgr.Option{rcmgr.WithMetricsDisabled()}
	}
	// What rcmgr does by default unless metrics are disabled; named, as
	// newResourceManager disables them when given no option.
	sr, _ := rcmgr.NewStatsTraceReporter() // never fails
	return []rcmgr.Option{rcmgr.WithTraceReporter(sr)}
}

// ---- what the node counts for metrics alone ----

// Outcomes of a foreign evaluation (the "outcome" label): the code of
// its error reply, or ok.
const (
	evalOK = iota
	evalDenied
	evalBudget
	evalTimeout
	evalMissing
	evalInvalid
	evalCanceled
	evalError
	numEvalOutcomes
)

var evalOutcomeNames = [numEvalOutcomes]string{"ok", "denied", "budget", "timeout", "missing", "invalid", "canceled", "error"}

// Peer classes (the "peer_class" label): a caller the policy names, one
// that presented a token that verified, or a stranger.
const (
	classListed = iota
	classToken
	classUnknown
	numClasses
)

var classNames = [numClasses]string{"listed", "token", "unknown"}

// Budgets a foreign evaluation can exhaust (the "budget" label):
// eval's, the fetch and disk budgets of code it needed, and other for a
// name this list does not know (so that the set stays fixed).
var budgetNames = [...]string{
	eval.BudgetFuel, eval.BudgetMemory, eval.BudgetDepth, eval.BudgetTime, eval.BudgetResult,
	eval.BudgetPending, BudgetFetch, BudgetDisk, "other",
}

// Reasons a presented token was refused (the "reason" label), in the
// order they are tested: the capabilities package's errors.
var tokenReasons = [...]struct {
	name string
	err  error
}{
	{"malformed", capabilities.ErrMalformedToken},
	{"chain_too_deep", capabilities.ErrChainTooDeep},
	{"bad_signature", capabilities.ErrBadSignature},
	{"broken_chain", capabilities.ErrBrokenChain},
	{"widened", capabilities.ErrWidened},
	{"not_rooted_here", capabilities.ErrNotRootedHere},
	{"wrong_audience", capabilities.ErrWrongAudience},
	{"revoked", capabilities.ErrRevoked},
	{"not_yet_valid", capabilities.ErrNotYetValid},
	{"expired", capabilities.ErrExpired},
	{"other", nil},
}

// Whom a fetch was for (the "for" label): this node's own use, or a
// foreign evaluation's caller (fetchforeign.go).
const (
	fetchSelf = iota
	fetchForeign
	numFetchFor
)

var fetchForNames = [numFetchFor]string{"self", "foreign"}

// Outcomes of a fetch: everything was here already, fetched, no
// provider found, providers lacked it, over a budget or quota, failed.
const (
	fetchPresent = iota
	fetchOK
	fetchNoProvider
	fetchMissing
	fetchOverBudget
	fetchFailed
	numFetchOutcomes
)

var fetchOutcomeNames = [numFetchOutcomes]string{"present", "ok", "no_provider", "missing", "over_budget", "failed"}

// nodeMetrics are the counts that only metrics need, and the node's
// registration.
type nodeMetrics struct {
	foreign        [numEvalOutcomes][numClasses]counter
	budgets        [len(budgetNames)]counter
	tokensVerified counter
	tokensRefused  [len(tokenReasons)]counter
	fetches        [numFetchFor][numFetchOutcomes]counter
	fetchBlocks    [numFetchFor]counter
	fetchBytes     [numFetchFor]counter

	reg prometheus.Registerer // nil unless WithMetrics
	col prometheus.Collector
}

// counter is an atomic count; its own type so that the arrays above
// read as what they are.
type counter struct{ v atomic.Int64 }

func (c *counter) add(d int64)   { c.v.Add(d) }
func (c *counter) load() float64 { return float64(c.v.Load()) }

// countForeign counts a foreign evaluation that ended with ce (nil: a
// result), from a caller of class cls; ctx is the evaluation's, whose
// error tells a cancellation and the evaluation's own deadline apart
// from failures that look the same on the wire.
func (m *nodeMetrics) countForeign(ctx context.Context, cls int, ce *CallError) {
	o := evalOK
	if ce != nil {
		switch ce.Code {
		case CodeDenied:
			o = evalDenied
		case CodeBudget:
			o = evalBudget
			m.countBudget(ce.Which)
		case CodeTimeout:
			o = evalTimeout
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				m.countBudget(eval.BudgetTime)
			}
		case CodeMissing:
			o = evalMissing
		case CodeInvalid:
			o = evalInvalid
		default:
			o = evalError
			if errors.Is(ctx.Err(), context.Canceled) {
				o = evalCanceled
			}
		}
	}
	m.foreign[o][cls].add(1)
}

func (m *nodeMetrics) countBudget(which string) {
	i := len(budgetNames) - 1
	for j, b := range budgetNames {
		if b == which {
			i = j
			break
		}
	}
	m.budgets[i].add(1)
}

// countTokens counts the tokens a request presented: verified many
// verified, and each of refused did not, for the reason its error names.
func (m *nodeMetrics) countTokens(verified int, refused []error) {
	m.tokensVerified.add(int64(verified))
	for _, err := range refused {
		i := len(tokenReasons) - 1
		for j, r := range tokenReasons[:len(tokenReasons)-1] {
			if errors.Is(err, r.err) {
				i = j
				break
			}
		}
		m.tokensRefused[i].add(1)
	}
}

// countFetch counts a fetch that ended with st and err.
func (m *nodeMetrics) countFetch(forWhom int, st FetchStats, err error) {
	o := fetchOK
	var fe *FetchError
	var dq *DiskQuotaError
	var fb *fetchBudgetError
	switch {
	case err == nil && st.Providers == 0:
		o = fetchPresent
	case err == nil:
	case errors.As(err, &dq), errors.As(err, &fb):
		o = fetchOverBudget
	case errors.As(err, &fe) && fe.NoProvider:
		o = fetchNoProvider
	case errors.As(err, &fe):
		o = fetchMissing
	default:
		o = fetchFailed
	}
	m.fetches[forWhom][o].add(1)
	m.fetchBlocks[forWhom].add(int64(st.Blocks))
	m.fetchBytes[forWhom].add(st.Bytes)
}

// metricClass is the peer class of a foreign evaluation's caller that
// presented verified tokens.
func (n *Node) metricClass(remote peer.ID, verified int) int {
	switch {
	case n.policyLists(remote):
		return classListed
	case verified > 0:
		return classToken
	}
	return classUnknown
}

// ---- export ----

// registerMetrics registers the node's collector with the registerer of
// WithMetrics, if any, after go-libp2p registered its own.
func (n *Node) registerMetrics(c *config) error {
	if err := c.libp2pReg.failure(); err != nil {
		return err
	}
	reg := c.metrics
	if reg == nil {
		return nil
	}
	col := &nodeCollector{n: n}
	if err := reg.Register(col); err != nil {
		return err
	}
	n.met.reg, n.met.col = reg, col
	return nil
}

// unregisterMetrics undoes registerMetrics (Close): a registry that
// outlives the node stops reporting it, and may take another.
func (n *Node) unregisterMetrics() {
	if n.met.reg != nil {
		n.met.reg.Unregister(n.met.col)
	}
}

// nodeCollector reads a node's counts when the registry is scraped.
type nodeCollector struct{ n *Node }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descForeign = desc("unode_foreign_evaluations_total",
		"Evaluations other nodes asked this node for that were decoded and audited, by outcome and the caller's class.",
		"outcome", "peer_class")
	descForeignRunning = desc("unode_foreign_evaluations_running",
		"Foreign evaluations running now.")
	descBudget = desc("unode_foreign_budget_exhausted_total",
		"Foreign evaluations stopped because a budget ran out, by budget.", "budget")
	descTokensVerified = desc("unode_tokens_verified_total",
		"Capability tokens presented with foreign evaluations that verified.")
	descTokensRefused = desc("unode_tokens_refused_total",
		"Capability tokens presented with foreign evaluations that did not verify, by reason.", "reason")
	descSyncBlocks = desc("unode_sync_blocks_sent_total",
		"Blocks this node's remote calls sent to their callees (code the callee lacked).")
	descSyncBytes = desc("unode_sync_bytes_sent_total",
		"Bytes of the blocks this node's remote calls sent to their callees.")
	descSyncRoundTrips = desc("unode_sync_round_trips_total",
		"Extra round trips this node's remote calls took to sync code (beyond the request and its reply).")
	descFetches = desc("unode_fetches_total",
		"Closure fetches over /unode/blocks, by whom they were for and outcome.", "for", "outcome")
	descFetchBlocks = desc("unode_fetch_blocks_total",
		"Blocks received and stored by fetches, by whom they were for.", "for")
	descFetchBytes = desc("unode_fetch_bytes_total",
		"Bytes of the blocks received and stored by fetches, by whom they were for.", "for")
	descAuditQueue = desc("unode_audit_queue_depth",
		"Audit log entries queued and not yet committed to the datastore.")
	descChanSent = desc("unode_chan_messages_sent_total",
		"Channel messages written to other nodes' streams.")
	descChanDelivered = desc("unode_chan_delivers_acked_total",
		"Delivers (acknowledged sends) that another node acknowledged.")
	descChanFailed = desc("unode_chan_delivers_failed_total",
		"Delivers that failed, whatever the reason.")
	descChanReceived = desc("unode_chan_messages_received_total",
		"Channel messages other nodes sent here.")
	descChanTaken = desc("unode_chan_messages_taken_total",
		"Channel messages received that a listener took.")
	descChanDropped = desc("unode_chan_messages_dropped_total",
		"Channel messages dropped, by reason: queue_full and unreachable (outgoing), no_listener, refused and rejected (incoming).",
		"reason")
	descChanQueued = desc("unode_chan_queued_bytes",
		"Bytes of channel messages waiting in the queues to other nodes.")
	descAdmitRefused = desc("unode_admission_streams_refused_total",
		"Inbound streams reset because their opener was over its class's share, by protocol.", "protocol")
	descAdmitEvicted = desc("unode_admission_streams_evicted_total",
		"Inbound streams of unknown peers evicted before their first frame to make room, by protocol.", "protocol")
	descPeers = desc("unode_peers_connected",
		"Peers this node has a connection to.")
)

var allDescs = []*prometheus.Desc{
	descForeign, descForeignRunning, descBudget, descTokensVerified, descTokensRefused,
	descSyncBlocks, descSyncBytes, descSyncRoundTrips, descFetches, descFetchBlocks, descFetchBytes,
	descAuditQueue, descChanSent, descChanDelivered, descChanFailed, descChanReceived, descChanTaken,
	descChanDropped, descChanQueued, descAdmitRefused, descAdmitEvicted, descPeers,
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	m := &n.met
	count := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for o := range numEvalOutcomes {
		for cl := range numClasses {
			count(descForeign, m.foreign[o][cl].load(), evalOutcomeNames[o], classNames[cl])
		}
	}
	gauge(descForeignRunning, float64(n.counters.running.Load()))
	for i, b := range budgetNames {
		count(descBudget, m.budgets[i].load(), b)
	}
	count(descTokensVerified, m.tokensVerified.load())
	for i, r := range tokenReasons {
		count(descTokensRefused, m.tokensRefused[i].load(), r.name)
	}
	st := n.SyncTotals()
	count(descSyncBlocks, float64(st.Blocks))
	count(descSyncBytes, float64(st.Bytes))
	count(descSyncRoundTrips, float64(st.RoundTrips))
	for f := range numFetchFor {
		for o := range numFetchOutcomes {
			count(descFetches, m.fetches[f][o].load(), fetchForNames[f], fetchOutcomeNames[o])
		}
		count(descFetchBlocks, m.fetchBlocks[f].load(), fetchForNames[f])
		count(descFetchBytes, m.fetchBytes[f].load(), fetchForNames[f])
	}
	gauge(descAuditQueue, float64(n.grants.AuditQueued()))
	cs := n.ChanStats()
	count(descChanSent, float64(cs.Sent))
	count(descChanDelivered, float64(cs.Delivered))
	count(descChanFailed, float64(cs.Failed))
	count(descChanReceived, float64(cs.Received))
	count(descChanTaken, float64(cs.Taken))
	for _, d := range []struct {
		reason string
		v      int64
	}{
		{"queue_full", cs.DroppedQueueFull}, {"unreachable", cs.DroppedUnreachable},
		{"no_listener", cs.DroppedNoListener}, {"refused", cs.Refused}, {"rejected", cs.Rejected},
	} {
		count(descChanDropped, float64(d.v), d.reason)
	}
	gauge(descChanQueued, float64(n.chans.queued.Load()))
	for _, g := range []struct {
		proto string
		g     *streamGate
	}{
		{"eval", n.admit.eval}, {"blocks", n.admit.blocks}, {"status", n.admit.status},
		{"member", n.admit.member}, {"chan", n.admit.channel}, {"dht", n.dhtGate},
	} {
		if g.g == nil {
			continue // no DHT
		}
		count(descAdmitRefused, float64(g.g.refused.Load()), g.proto)
		count(descAdmitEvicted, float64(g.g.evicted.Load()), g.proto)
	}
	gauge(descPeers, float64(len(n.host.Network().Peers())))
}
