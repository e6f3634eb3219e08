package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/eval"
)

// The acceptance tests of code discovery (issue 8, points 1 to 3): real
// hosts on loopback, a private DHT, no connection made by hand beyond
// each node's bootstrap peer. 15 nodes, 6 under -short.

// blocksCounter counts the /unode/blocks streams each node of a network
// receives.
type blocksCounter struct {
	mu   sync.Mutex
	seen map[peer.ID]int // by receiving node
	from map[peer.ID]int // by asking node
}

func countBlocksRequests(nodes ...*Node) *blocksCounter {
	c := &blocksCounter{seen: map[peer.ID]int{}, from: map[peer.ID]int{}}
	for _, n := range nodes {
		n.Host().SetStreamHandler(ProtocolBlocks, func(s network.Stream) {
			c.mu.Lock()
			c.seen[n.ID()]++
			c.from[s.Conn().RemotePeer()]++
			c.mu.Unlock()
			n.handleFetch(s)
		})
	}
	return c
}

func (c *blocksCounter) total() (n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.seen {
		n += k
	}
	return n
}

func (c *blocksCounter) at(p peer.ID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[p]
}

func (c *blocksCounter) by(p peer.ID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.from[p]
}

// startFetchNet starts size nodes, nodes[1] .. nodes[size-1] (nodes[0]
// is nil, so that the numbering is the issue's): node 2 alone, every
// other bootstrapped from node 2 only.
func startFetchNet(t *testing.T, size int, opts ...Option) []*Node {
	t.Helper()
	nodes := make([]*Node, size+1)
	nodes[2] = newTestNode(t, append([]Option{fastDHT()}, opts...)...)
	for i := 1; i <= size; i++ {
		if i != 2 {
			nodes[i] = newTestNode(t, append([]Option{fastDHT(), WithBootstrap(addrOf(nodes[2]))}, opts...)...)
		}
	}
	waitTables(t, nodes[1:], min(size-1, 4))
	return nodes
}

// waitFindable waits until from's DHT lookup of key lists provider.
// waitProvided is not enough: a provide returns once its ADD_PROVIDERs
// are sent, not once the peers have stored them, so a lookup right after
// it may find no record yet. The lookup stores nothing at from (only
// addresses in its peerstore), so the fetch that follows still finds
// the provider through the DHT.
func waitFindable(t testing.TB, from *Node, key cid.Cid, provider *Node) {
	t.Helper()
	waitUntil(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ps, err := from.Discovery().FindProviders(ctx, key, 0)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.ID == provider.ID() {
				return nil
			}
		}
		return fmt.Errorf("the DHT does not list %s as a provider of %s yet (%d listed)", provider.ID(), key, len(ps))
	})
}

// Acceptance 1: a definition published on node 1 is fetched and
// evaluated by node 15, whose only configured peer is node 2: the
// provider is found through the DHT, and the fetch is one /unode/blocks
// request for the whole closure.
func TestAcceptanceFetchThroughDHT(t *testing.T) {
	size := dhtNetSize()
	nodes := startFetchNet(t, size)
	ctx := testCtx(t)
	pub, asker := nodes[1], nodes[size]
	publish(t, pub, chainSource("deep", 30))
	root := defCID(t, pub.cb, "deep29")
	waitProvided(t, pub, root)
	other := nodes[size-1]
	waitFindable(t, asker, root, pub)
	waitFindable(t, other, root, pub)
	blocks, _ := closureBytes(t, pub, root)
	requests := countBlocksRequests(nodes[1:]...)
	// Whatever the DHT's own traffic did, node 15 starts the fetch
	// knowing nothing of node 1: no connection, no address.
	forget(asker, pub)
	if a := asker.host.Peerstore().Addrs(pub.ID()); len(a) != 0 {
		t.Fatalf("node %d still has node 1's addresses %v", size, a)
	}

	res, err := asker.EvalAt(ctx, asker.ID().String(), "#"+root.String()+" 10", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := pub.EvalAt(ctx, pub.ID().String(), "deep29 10", Budget{})
	if err != nil || res.Text != want.Text {
		t.Fatalf("node %d computed %s, node 1 %v (%v)", size, res.Text, want, err)
	}
	if got := requests.total(); got != 1 || requests.at(pub.ID()) != 1 || requests.by(asker.ID()) != 1 {
		t.Errorf("%d /unode/blocks requests (%d at node 1), want exactly 1, to node 1", got, requests.at(pub.ID()))
	}
	if n, err := asker.store.CheckCompleteMarkers(ctx); err != nil || n != blocks {
		t.Errorf("node %d: %d complete blocks, %v; want the closure's %d", size, n, err, blocks)
	}

	// The same through FetchClosure, on another node: its figures.
	st, err := other.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 1 || st.RoundTrips != 2 || st.Blocks != blocks || st.Providers != 1 {
		t.Errorf("fetch through the DHT: %+v, want 1 request, 2 round trips, %d blocks", st, blocks)
	}
}

// Acceptance 2: a provider killed mid-fetch, the fetch completes from
// another found through the DHT, which is asked only for what did not
// arrive; a lying provider is rejected, the fetch completes from an
// honest one found through the DHT, and nothing wrong is stored.
func TestAcceptanceFetchSurvivesBadProviders(t *testing.T) {
	size := dhtNetSize()
	nodes := startFetchNet(t, size)
	ctx := testCtx(t)

	t.Run("killed", func(t *testing.T) {
		src := bigChainSource(12, 300<<10)
		dying, honest, asker := nodes[1], nodes[3], nodes[size]
		publish(t, dying, src)
		publish(t, honest, src)
		root := defCID(t, dying.cb, "big11")
		waitProvided(t, honest, root)
		blocks, size := closureBytes(t, honest, root)
		waitFindable(t, asker, root, honest)
		// The asker's progress says when a batch from the dying provider
		// is stored; fetched, when the fetch is over (the dying provider
		// given up).
		stored, fetched := make(chan struct{}), make(chan struct{})
		var storedOnce sync.Once
		progress := func(p FetchProgress) {
			if p.Provider == dying.ID().String() && p.Blocks > 0 {
				storedOnce.Do(func() { close(stored) })
			}
		}
		n := 0
		countSent(dying, func(cid.Cid) {
			// Past the middle: the first batches have left (the 300 KiB
			// literals go as chunks, several to a block batch). Once the
			// asker has stored one, the provider dies: Close closes its
			// connections, then waits for the handler, which is this
			// goroutine, so it runs in another; this one sends nothing
			// more until the fetch is over, so that however the two are
			// scheduled the dying provider cannot complete the fetch.
			if n++; n == blocks/2+1 {
				select {
				case <-stored:
				case <-ctx.Done():
				}
				go dying.Close()
				select {
				case <-fetched:
				case <-ctx.Done():
				}
			}
		})
		sentHonest := countSent(honest, nil)
		// The dying provider is asked first (named, as a requester
		// would be); the rest come from the DHT.
		st, err := asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: []string{addrOf(dying)}, Progress: progress})
		close(fetched)
		if err != nil {
			t.Fatalf("%v (%+v)", err, st)
		}
		t.Logf("sources %+v", st.Sources)
		if len(st.Sources) != 2 || st.Sources[0].Outcome != OutcomeFailed || st.Sources[1].Outcome != OutcomeOK ||
			st.Sources[1].Peer != honest.ID().String() {
			t.Fatalf("sources %+v", st.Sources)
		}
		a, b := st.Sources[0], st.Sources[1]
		if a.Blocks == 0 || a.Bytes+b.Bytes != size || a.Blocks+b.Blocks != blocks {
			t.Errorf("%d+%d blocks, %d+%d bytes: want %d blocks, %d bytes, some from the first", a.Blocks, b.Blocks, a.Bytes, b.Bytes, blocks, size)
		}
		sent := sentHonest()
		for c, k := range sent {
			if k != 1 {
				t.Errorf("the honest provider sent %s %d times", c, k)
			}
		}
		if len(sent) != b.Blocks {
			t.Errorf("the honest provider sent %d blocks, want only the %d that had not arrived", len(sent), b.Blocks)
		}
	})

	t.Run("lying", func(t *testing.T) {
		src := chainSource("lie", 8)
		// Three distinct nodes at either size (-short has 6): the asker
		// must hold nothing of the closure.
		liar, honest, asker := nodes[2], nodes[4], nodes[size-1]
		publish(t, liar, src)
		publish(t, honest, src)
		root := defCID(t, liar.cb, "lie7")
		waitProvided(t, honest, root)
		waitFindable(t, asker, root, honest)
		junk := scratchBlock(t, "junk x = x * 7\n", "junk")
		// Wrong bytes for one CID.
		lyingProvider(t, liar, func(l []cid.Cid) []cid.Cid { return l },
			func(_ []cid.Cid, _ []int, b [][]byte) [][]byte { b[2] = junk.Data; return b })
		st, err := asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: []string{addrOf(liar)}})
		if err != nil {
			t.Fatalf("%v (%+v)", err, st)
		}
		if len(st.Sources) != 2 || st.Sources[0].Outcome != OutcomeRejected || st.Sources[1].Outcome != OutcomeOK ||
			st.Sources[1].Peer != honest.ID().String() {
			t.Fatalf("sources %+v", st.Sources)
		}
		blocks, _ := closureBytes(t, honest, root)
		if ok, _ := asker.store.Has(ctx, junk.CID); ok {
			t.Error("the junk block was stored")
		}
		if n, err := asker.store.CheckCompleteMarkers(ctx); err != nil || n != blocks {
			t.Errorf("closure invariant: %d markers, %v (want %d)", n, err, blocks)
		}
		if stat, _ := asker.cb.DiskStat(ctx, 0); stat.Blocks != int64(blocks) {
			t.Errorf("the asker holds %d blocks, want the closure's %d", stat.Blocks, blocks)
		}
	})
}

// Acceptance 3: a caller names published code it does not hold and ships
// the thunk; the callee fetches the code from a provider (not from the
// caller) on the caller's account and answers.
func TestAcceptanceCalleeFetches(t *testing.T) {
	size := dhtNetSize()
	nodes := startFetchNet(t, size)
	ctx := testCtx(t)
	pub, caller, callee := nodes[1], nodes[size], nodes[size-1]
	publish(t, pub, chainSource("lib", 12))
	root := defCID(t, pub.cb, "lib11")
	waitProvided(t, pub, root)
	tight := nodes[size-2]
	waitFindable(t, callee, root, pub)
	waitFindable(t, tight, root, pub)
	requests := countBlocksRequests(nodes[1:]...)
	var callerSent atomic.Int64
	hook := func(peer.ID, cid.Cid) { callerSent.Add(1) }
	caller.sentHook.Store(&hook)

	res, err := caller.EvalAt(ctx, callee.ID().String(), "#"+root.String()+" 5", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pub.EvalAt(ctx, pub.ID().String(), "lib11 5", Budget{})
	if res.Text != want.Text {
		t.Fatalf("got %s, want %s", res.Text, want.Text)
	}
	if ok, _ := caller.store.Has(ctx, root); ok {
		t.Error("the caller fetched the code itself")
	}
	if callerSent.Load() != 0 || requests.at(caller.ID()) != 0 {
		t.Errorf("the caller was asked for code it never had: sent %d blocks, %d blocks requests", callerSent.Load(), requests.at(caller.ID()))
	}
	if requests.by(callee.ID()) != 1 || requests.at(pub.ID()) != 1 {
		t.Errorf("the callee made %d blocks requests (node 1 got %d), want 1 to the provider", requests.by(callee.ID()), requests.at(pub.ID()))
	}
	// On the caller's account: unpinned, charged to it.
	stat, err := callee.cb.DiskStat(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stat.Peers) != 1 || stat.Peers[0].Peer != caller.ID().String() || stat.Peers[0].Blocks == 0 {
		t.Errorf("the callee's unpinned storage: %+v, want the closure charged to the caller", stat.Peers)
	}

	// Over the caller's disk quota at the callee: refused, as a budget.
	q := DefaultDiskQuota()
	q.PerPeer.Bytes = 200
	if err := tight.cb.SetDiskQuota(q); err != nil {
		t.Fatal(err)
	}
	_, err = caller.EvalAt(ctx, tight.ID().String(), "#"+root.String()+" 5", Budget{})
	var be *eval.BudgetError
	if !errors.As(err, &be) || be.Which != BudgetDisk {
		t.Errorf("over the caller's quota: %v, want a disk budget error", err)
	}

	// Code nobody provides: missing, naming it, after the callee looked.
	absent := scratchBlock(t, "nobody x = x - 1\n", "nobody").CID
	_, err = caller.EvalAt(ctx, callee.ID().String(), "#"+absent.String()+" 5", Budget{})
	var ce *CallError
	if !errors.Is(err, eval.ErrMissing) || !errors.As(err, &ce) || !ce.CID.Equals(absent) {
		t.Errorf("code nobody has: %v, want it missing", err)
	}
}

// The gate bounds a callee's fetches for foreign callers: per caller and
// in all; a caller over its share waits, and gives up at its deadline.
func TestForeignFetchGate(t *testing.T) {
	var g fetchGate
	ctx := context.Background()
	a, b := peer.ID("a"), peer.ID("b")
	var held []func()
	for range MaxForeignFetchesPerPeer {
		done, err := g.acquire(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, done)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(short, a); err == nil {
		t.Fatal("a caller got more than its share of fetches")
	}
	// Another caller is not held up by a's.
	done, err := g.acquire(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	done()
	// A waiting caller gets the slot that frees.
	got := make(chan error, 1)
	go func() {
		d, err := g.acquire(ctx, a)
		if err == nil {
			d()
		}
		got <- err
	}()
	held[0]()
	held[0]() // twice is once
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// The node-wide bound.
	for i := range MaxForeignFetches - 1 {
		if _, err := g.acquire(ctx, peer.ID(string(rune('c'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	short2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if _, err := g.acquire(short2, peer.ID("z")); err == nil {
		t.Fatal("more than MaxForeignFetches fetches at once")
	}
}
