package p2p

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
	routedhost "github.com/libp2p/go-libp2p/p2p/host/routed"

	"github.com/unode-dev/unode/p2p/discovery"
)

// What the node announces (docs/protocol.md, "The DHT"). A provider
// record lives for a while (48 h by default) at the peers that keep it,
// and Kademlia cannot delete one; so the node keeps a set of keys it
// provides and provides each again every reprovide interval: the roots
// it published (from the datastore's /published marks at start, then at
// each publish) and the clusters it joined (announce/withdraw, from
// clusters.go). A key withdrawn is no longer provided: its records
// expire where they are (there is no unpublish; a node that leaves a
// cluster says so when asked). The set is in memory: at start it holds
// the published roots only, and the daemon joins its clusters again from
// its flags and config.

// announcer is the node's set of announced keys and the loop that
// provides them.
type announcer struct {
	n        *Node
	disc     *discovery.Discovery
	interval time.Duration
	mu       sync.Mutex
	keys     map[string]*announced // by multihash: the DHT's key
	kick     chan struct{}
}

// announced is the state of one key.
type announced struct {
	key      cid.Cid
	next     time.Time // when to provide it (again)
	failures int
	last     time.Time // the last successful provide
	running  bool
	err      error // the last failure
}

// startDHT starts the node's DHT and its announce loop, and makes the
// node's host the routed host over it (dht.go).
func (n *Node) startDHT(ctx context.Context, ds datastore.Batching, c dhtConfig) error {
	n.cb.onPublish = n.announceRoots
	n.cb.onUnpublish = func(root cid.Cid) { n.withdraw(context.Background(), root) }
	if c.mode == DHTOff {
		return nil
	}
	lim := dhtGateLimits
	if c.gate != nil {
		lim = *c.gate
	}
	n.dhtGate = newStreamGate(lim)
	d, err := discovery.New(ctx, n.host, ds, n.discoveryConfig(c))
	if err != nil {
		return err
	}
	n.disc = d
	// A stream to a peer the node knows only by ID looks its addresses
	// up in the DHT first (and again when the known ones fail).
	n.host = routedhost.Wrap(n.host, d)
	n.ann = &announcer{n: n, disc: d, interval: c.reprovide, keys: map[string]*announced{}, kick: make(chan struct{}, 1)}
	roots, err := n.publishedRoots(ctx)
	if err != nil {
		d.Close()
		return fmt.Errorf("reading the published roots: %w", err)
	}
	n.ann.add(roots...)
	n.goTracked(n.ann.loop)
	return nil
}

// publishedRoots lists what was published by name or CID.
func (n *Node) publishedRoots(ctx context.Context) ([]cid.Cid, error) {
	res, err := n.cb.ds().Query(ctx, query.Query{Prefix: strings.TrimSuffix(prefixPublished, "/")})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []cid.Cid
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		if string(e.Value) != publishedRoot {
			continue
		}
		if c, ok := cidOfMarkKey(prefixPublished, e.Key); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// announce adds key to the keys the node provides, and provides it soon
// (in the background: a node alone provides it once it has peers).
func (n *Node) announce(_ context.Context, key cid.Cid) error {
	if n.ann == nil {
		return ErrNoDHT
	}
	if !key.Defined() {
		return errors.New("announce: undefined CID")
	}
	n.ann.add(key)
	return nil
}

// withdraw stops providing key; the records already out expire.
func (n *Node) withdraw(_ context.Context, key cid.Cid) error {
	if n.ann == nil {
		return ErrNoDHT
	}
	n.ann.mu.Lock()
	delete(n.ann.keys, string(key.Hash()))
	n.ann.mu.Unlock()
	return nil
}

// findProviders returns up to limit providers of key other than this
// node (discovery.Discovery.FindProviders), or ErrNoDHT.
func (n *Node) findProviders(ctx context.Context, key cid.Cid, limit int) ([]peer.AddrInfo, error) {
	if n.disc == nil {
		return nil, ErrNoDHT
	}
	return n.disc.FindProviders(ctx, key, limit)
}

// announceRoots is the codebase's publish hook.
func (n *Node) announceRoots(roots []cid.Cid) {
	if n.ann != nil {
		n.ann.add(roots...)
	}
}

// Announcement is the state of a key the node provides.
type Announcement struct {
	Key cid.Cid
	// LastProvided is the last successful provide (zero: none yet).
	LastProvided time.Time
	// Err is the last failure since, if any.
	Err error
}

// Announcements lists the keys the node provides.
func (n *Node) Announcements() []Announcement {
	if n.ann == nil {
		return nil
	}
	n.ann.mu.Lock()
	defer n.ann.mu.Unlock()
	out := make([]Announcement, 0, len(n.ann.keys))
	for _, a := range n.ann.keys {
		out = append(out, Announcement{Key: a.key, LastProvided: a.last, Err: a.err})
	}
	return out
}

func (a *announcer) add(keys ...cid.Cid) {
	if len(keys) == 0 {
		return
	}
	now := time.Now()
	a.mu.Lock()
	for _, k := range keys {
		if old, ok := a.keys[string(k.Hash())]; ok {
			// Already announced: provide it now if it never was.
			if old.last.IsZero() && !old.running {
				old.next = now
			}
			continue
		}
		a.keys[string(k.Hash())] = &announced{key: k, next: now}
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// loop provides the keys that are due, a few at a time, and sleeps until
// the next is.
func (a *announcer) loop(ctx context.Context) {
	sem := make(chan struct{}, maxConcurrentProvides)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		now := time.Now()
		wait := a.interval
		var due []*announced
		a.mu.Lock()
		// With no peer, nothing can be provided: wait for one (a
		// bootstrap peer that comes up, a peer that connects) rather
		// than fail every key.
		alone := len(a.disc.RoutingTable()) == 0
		for _, k := range a.keys {
			if k.running {
				continue
			}
			if !alone && !k.next.After(now) {
				k.running = true
				due = append(due, k)
				continue
			}
			wait = min(wait, max(0, k.next.Sub(now)))
		}
		pending := len(a.keys)
		a.mu.Unlock()
		if alone && pending > 0 {
			wait = min(wait, announceRetry)
		}
		for _, k := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				a.provide(ctx, k)
			}()
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-a.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// provide provides one key and schedules the next time.
func (a *announcer) provide(ctx context.Context, k *announced) {
	pctx, cancel := context.WithTimeout(ctx, provideTimeout)
	err := a.disc.Provide(pctx, k.key)
	cancel()
	now := time.Now()
	a.mu.Lock()
	k.running = false
	if err == nil {
		k.last, k.err, k.failures = now, nil, 0
		k.next = now.Add(a.interval)
	} else if ctx.Err() == nil {
		k.err = err
		k.failures++
		k.next = now.Add(min(announceRetry<<min(k.failures-1, 16), announceRetryMax, a.interval))
		a.n.log.Debug("providing a key failed", "key", k.key.String(), "failures", k.failures, "err", err)
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}
