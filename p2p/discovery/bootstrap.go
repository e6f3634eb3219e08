package discovery

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Joining. At start the node dials its bootstrap peers and the peers it
// saved last run (table.go); kad-dht takes each one that speaks its
// protocol into the routing table, and its refresh then fills the table
// from theirs. A bootstrap peer that does not answer is dialed again
// after BootstrapBackoff, then twice as long each time up to
// MaxBootstrapBackoff (with jitter, so that nodes restarted together do
// not dial together), until it answers: never fatal, logged at each
// failure. A saved peer is dialed once (many are gone for good). Every
// CheckInterval the node checks its table: when it is empty (every peer
// gone), it starts over with both lists.

// joinTarget is a peer the loop dials until it answers.
type joinTarget struct {
	ai        peer.AddrInfo
	bootstrap bool // retried with backoff; saved peers are dialed once
	done      bool
	failures  int
	backoff   time.Duration
	next      time.Time
}

// joinPeers is kad-dht's BootstrapPeersFunc (its own fallback when the
// table is empty): the bootstrap peers and the saved ones.
func (d *Discovery) joinPeers() []peer.AddrInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := append([]peer.AddrInfo(nil), d.cfg.Bootstrap...)
	return append(out, d.saved...)
}

// targets lists what to dial at start or after the table emptied.
func (d *Discovery) targets() []*joinTarget {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[peer.ID]bool{d.self: true}
	var out []*joinTarget
	for _, ai := range d.cfg.Bootstrap {
		if !seen[ai.ID] {
			seen[ai.ID] = true
			out = append(out, &joinTarget{ai: ai, bootstrap: true})
		}
	}
	for _, ai := range d.saved {
		if !seen[ai.ID] {
			seen[ai.ID] = true
			out = append(out, &joinTarget{ai: ai})
		}
	}
	return out
}

func (d *Discovery) bootstrapLoop() {
	defer d.wg.Done()
	targets := d.targets()
	if len(targets) > 0 {
		d.log.Info("joining the DHT", "bootstrap", len(d.cfg.Bootstrap), "saved", len(targets)-countBootstrap(targets))
	}
	for {
		now := time.Now()
		var due []*joinTarget
		for _, t := range targets {
			if !t.done && !t.next.After(now) {
				due = append(due, t)
			}
		}
		if len(due) > 0 && d.dialAll(due) > 0 {
			// Peers answered: let kad-dht look for more through them.
			d.refresh()
		}
		wait := d.cfg.CheckInterval
		for _, t := range targets {
			if !t.done {
				wait = min(wait, max(0, time.Until(t.next)))
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-d.ctx.Done():
			timer.Stop()
			return
		case <-d.kick:
		case <-timer.C:
		}
		timer.Stop()
		if d.kad.RoutingTable().Size() == 0 && allDone(targets) {
			// Alone again (every peer went away): start over.
			targets = d.targets()
		}
	}
}

// dialAll dials the targets, a few at a time, and returns how many
// answered.
func (d *Discovery) dialAll(ts []*joinTarget) int {
	var mu sync.Mutex
	reached := 0
	sem := make(chan struct{}, maxParallelDials)
	var wg sync.WaitGroup
	for _, t := range ts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := d.dial(t.ai)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				reached++
				t.done = true
				if t.bootstrap {
					d.log.Info("reached bootstrap peer", "peer", t.ai.ID.String(), "after_failures", t.failures)
				}
				return
			}
			if d.ctx.Err() != nil {
				return
			}
			if !t.bootstrap {
				t.done = true
				d.log.Debug("saved peer unreachable", "peer", t.ai.ID.String(), "err", err)
				return
			}
			t.failures++
			if t.backoff == 0 {
				t.backoff = d.cfg.BootstrapBackoff
			} else {
				t.backoff = min(2*t.backoff, d.cfg.MaxBootstrapBackoff)
			}
			// Jitter: 75% to 125% of the backoff.
			retry := t.backoff*3/4 + time.Duration(rand.Int64N(int64(t.backoff)/2+1))
			t.next = time.Now().Add(retry)
			d.log.Warn("bootstrap peer unreachable; retrying", "peer", t.ai.ID.String(), "failures", t.failures, "retry_in", retry.Round(time.Millisecond).String(), "err", err)
		}()
	}
	wg.Wait()
	return reached
}

// dial connects to a peer through the node's host, past the swarm's own
// dial backoff (this loop keeps its own).
func (d *Discovery) dial(ai peer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(d.ctx, dialTimeout)
	defer cancel()
	ctx = network.WithForceDirectDial(ctx, "unode DHT join")
	return d.h.Connect(ctx, ai)
}

// refresh asks kad-dht to refresh its routing table, without waiting.
func (d *Discovery) refresh() {
	go func() {
		select {
		case <-d.kad.RefreshRoutingTable():
		case <-d.ctx.Done():
		}
	}()
}

func countBootstrap(ts []*joinTarget) int {
	n := 0
	for _, t := range ts {
		if t.bootstrap {
			n++
		}
	}
	return n
}

func allDone(ts []*joinTarget) bool {
	for _, t := range ts {
		if !t.done {
			return false
		}
	}
	return true
}
