package p2p

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// bigChainSource is a chain of n definitions big0 .. big(n-1), each
// holding a text literal of size bytes and calling the one before, so
// that the closure of the last is n blocks of about size bytes: large
// enough to travel in several batches (blocksBatchTarget).
func bigChainSource(n, size int) string {
	var b strings.Builder
	for i := range n {
		lit := fmt.Sprintf("%d-%s", i, strings.Repeat("x", size))
		if i == 0 {
			fmt.Fprintf(&b, "big0 x = if x < 0 then %q else \"done\"\n", lit)
			continue
		}
		fmt.Fprintf(&b, "big%d x = if x < 0 then %q else big%d x\n", i, lit, i-1)
	}
	return b.String()
}

// publish adds src to n's codebase, published.
func publish(t testing.TB, n *Node, src string) {
	t.Helper()
	if _, err := n.Codebase().AddWith(context.Background(), "pub.u", []byte(src), AddOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
}

// closureBytes is the number of blocks and their bytes in the closure of
// root at n.
func closureBytes(t testing.TB, n *Node, root cid.Cid) (int, int64) {
	t.Helper()
	ctx := context.Background()
	cl, err := n.store.ClosureOf(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, c := range cl {
		data, err := n.store.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		size += int64(len(data))
	}
	return len(cl), size
}

func addrOf(n *Node) string { return n.Addrs()[0].String() }

// countSent counts, per CID, the blocks n sends; block, when set, is
// called before each (and may block the sender).
func countSent(n *Node, block func(c cid.Cid)) (sent func() map[cid.Cid]int) {
	var mu sync.Mutex
	m := map[cid.Cid]int{}
	hook := func(_ peer.ID, c cid.Cid) {
		mu.Lock()
		m[c]++
		mu.Unlock()
		if block != nil {
			block(c)
		}
	}
	n.sentHook.Store(&hook)
	return func() map[cid.Cid]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[cid.Cid]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
}

// A fetch of a deep closure is one request and two round trips (the
// list, then the blocks), the blocks are pinned and complete, and the
// fetched code runs.
func TestFetchClosureIsOneRequest(t *testing.T) {
	ctx := testCtx(t)
	pub, asker := newTestNode(t), newTestNode(t)
	publish(t, pub, chainSource("f", 50))
	root := defCID(t, pub.cb, "f49")
	blocks, size := closureBytes(t, pub, root)
	var seen []FetchProgress
	st, err := asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: []string{addrOf(pub)}, NoDiscovery: true,
		Progress: func(p FetchProgress) { seen = append(seen, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 1 || st.RoundTrips != 2 || st.Providers != 1 || st.Blocks != blocks || st.Bytes != size {
		t.Errorf("stats %+v, want 1 request, 2 round trips, %d blocks of %d bytes", st, blocks, size)
	}
	if len(st.Sources) != 1 || st.Sources[0].Outcome != OutcomeOK || st.Sources[0].Peer != pub.ID().String() {
		t.Errorf("sources %+v", st.Sources)
	}
	if len(seen) == 0 || seen[len(seen)-1].Blocks != blocks || seen[len(seen)-1].Expected != blocks {
		t.Errorf("progress %+v, want it to end at %d blocks", seen, blocks)
	}
	if ok, _ := asker.store.IsComplete(ctx, root); !ok {
		t.Fatal("the root is not complete")
	}
	if n, err := asker.store.CheckCompleteMarkers(ctx); err != nil || n != blocks {
		t.Errorf("closure invariant: %d markers, %v", n, err)
	}
	if ds, _ := asker.cb.DiskStat(ctx, 0); ds.Unpinned.Blocks != 0 {
		t.Errorf("fetched blocks are unpinned: %+v", ds.Unpinned)
	}
	res, err := asker.EvalAt(ctx, asker.ID().String(), "#"+root.String()+" 1", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text == "" {
		t.Error("no result")
	}
	// Again: nothing to do, nobody asked.
	st, err = asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: []string{addrOf(pub)}, NoDiscovery: true})
	if err != nil || st.Requests != 0 {
		t.Errorf("second fetch: %+v, %v", st, err)
	}
}

// resumeCase stops the first provider in the middle of the transfer:
// stop is called from its sending goroutine past the middle of the
// closure (the first batches have left by then); stored is closed once
// the asker has stored a batch from it, release when the test ends. stall
// is the fetch's StallTimeout (0: the default).
func testFetchResumes(t *testing.T, stall time.Duration, stop func(a *Node, stored, release <-chan struct{})) {
	ctx := testCtx(t)
	src := bigChainSource(12, 300<<10) // 12 definitions of 300 KiB literals, which go as chunks
	a, b, asker := newTestNode(t), newTestNode(t), newTestNode(t)
	publish(t, a, src)
	publish(t, b, src)
	root := defCID(t, a.cb, "big11")
	blocks, size := closureBytes(t, a, root)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the nodes close
	// stored is closed once the asker has stored a batch from A.
	stored := make(chan struct{})
	var storedOnce sync.Once
	progress := func(p FetchProgress) {
		if p.Provider == a.ID().String() && p.Blocks > 0 {
			storedOnce.Do(func() { close(stored) })
		}
	}
	var once sync.Once
	n := 0
	countSent(a, func(cid.Cid) {
		if n++; n == blocks/2+1 { // past the middle: the first batches have left
			once.Do(func() { stop(a, stored, release) })
		}
	})
	sentB := countSent(b, nil)
	st, err := asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: []string{addrOf(a), addrOf(b)},
		NoDiscovery: true, StallTimeout: stall, Progress: progress})
	if err != nil {
		t.Fatalf("%v (%+v)", err, st)
	}
	if ok, _ := asker.store.IsComplete(ctx, root); !ok {
		t.Fatal("the root is not complete")
	}
	if len(st.Sources) != 2 || st.Sources[0].Outcome != OutcomeFailed || st.Sources[1].Outcome != OutcomeOK {
		t.Fatalf("sources %+v", st.Sources)
	}
	fromA, fromB := st.Sources[0], st.Sources[1]
	t.Logf("A: %+v\nB: %+v", fromA, fromB)
	if fromA.Blocks == 0 || fromA.Blocks+fromB.Blocks != blocks || fromA.Bytes+fromB.Bytes != size || st.Bytes != size {
		t.Errorf("A sent %d blocks (%d bytes), B %d (%d): want them to add up to %d (%d bytes)",
			fromA.Blocks, fromA.Bytes, fromB.Blocks, fromB.Bytes, blocks, size)
	}
	// Nothing that arrived from A was asked of B: B sent each block
	// once, and only as many as the bytes above account for.
	for c, k := range sentB() {
		if k != 1 {
			t.Errorf("B sent %s %d times", c, k)
		}
	}
	if len(sentB()) != fromB.Blocks {
		t.Errorf("B sent %d blocks, the asker counted %d", len(sentB()), fromB.Blocks)
	}
	if n, err := asker.store.CheckCompleteMarkers(ctx); err != nil || n != blocks {
		t.Errorf("closure invariant: %d markers, %v", n, err)
	}
}

// A provider that dies mid-transfer: the fetch goes on from the next,
// which is asked only for what did not arrive.
func TestFetchResumesWhenProviderDies(t *testing.T) {
	// The default stall timeout: the connection closes under the fetch,
	// which must not turn from A for being slow under load.
	testFetchResumes(t, 0, func(a *Node, stored, release <-chan struct{}) {
		// Batches have left: once the asker has stored one, close A.
		// Close closes A's connections, then waits for the handler,
		// which is this goroutine: close from another, and send nothing
		// more until the test ends, so that A cannot complete the fetch
		// however the two are scheduled.
		select {
		case <-stored:
		case <-release:
		}
		go a.Close()
		<-release
	})
}

// A provider that stalls mid-transfer (alive, sending nothing): after
// the stall deadline the fetch goes on from the next.
func TestFetchResumesWhenProviderStalls(t *testing.T) {
	// The stall timeout is what turns the fetch from A; short, but not so
	// short that a provider merely slow on a loaded machine (A before it
	// stalls, or B) looks stalled: with 500 ms, A was given up before
	// its first batch left.
	testFetchResumes(t, 3*time.Second, func(_ *Node, _, release <-chan struct{}) { <-release })
}

// lyingProvider replaces n's /unode/blocks handler with one that answers
// from n's store as an honest provider would, except as lie changes the
// list (before it is sent) and the blocks (before each batch).
func lyingProvider(t *testing.T, n *Node, lie func(list []cid.Cid) []cid.Cid, send func(list []cid.Cid, idx []int, blocks [][]byte) [][]byte) {
	n.Host().SetStreamHandler(ProtocolBlocks, func(s network.Stream) {
		defer s.Close()
		ctx := context.Background()
		fc := newFrameConn(s, nil)
		msg, _, err := fc.readFrame(MaxFetchRequestSize)
		if err != nil {
			s.Reset()
			return
		}
		req, err := DecodeFetchRequest(msg)
		if err != nil {
			s.Reset()
			return
		}
		var list []cid.Cid
		for _, r := range digestList(req.Roots) {
			cl, err := n.store.ClosureOf(ctx, r)
			if err != nil {
				s.Reset()
				return
			}
			for i := len(cl) - 1; i >= 0; i-- {
				list = append(list, cl[i])
			}
		}
		list = lie(list)
		d, _ := digestsOf(list)
		fc.writeMessage(&FetchReply{List: d})
		msg, _, err = fc.readFrame(MaxStatusSize + (MaxSyncBlocks+7)/8)
		if err != nil {
			return
		}
		need, _ := DecodeFetchNeed(msg)
		idx, _ := bitsSet(need.Bits, len(list))
		var blocks [][]byte
		for _, i := range idx {
			data, err := n.store.Get(ctx, list[i])
			if err != nil {
				data = []byte("not a block")
			}
			blocks = append(blocks, data)
		}
		fc.writeMessage(&BlocksMessage{Blocks: send(list, idx, blocks)})
	})
}

// A provider that lies is dropped for the fetch, the fetch completes
// from an honest one, and nothing it sent that does not check out is
// stored.
func TestFetchRejectsLyingProvider(t *testing.T) {
	src := chainSource("g", 8)
	junkSrc := "junk x = x * 7\n"
	keep := func(l []cid.Cid) []cid.Cid { return l }
	asIs := func(_ []cid.Cid, _ []int, b [][]byte) [][]byte { return b }
	cases := []struct {
		name string
		lie  func(junk cid.Cid) func([]cid.Cid) []cid.Cid
		send func(junk []byte) func([]cid.Cid, []int, [][]byte) [][]byte
	}{
		{"wrong bytes for a CID", func(cid.Cid) func([]cid.Cid) []cid.Cid { return keep },
			func(junk []byte) func([]cid.Cid, []int, [][]byte) [][]byte {
				return func(_ []cid.Cid, _ []int, b [][]byte) [][]byte { b[3] = junk; return b }
			}},
		{"a block outside the closure, listed", func(junk cid.Cid) func([]cid.Cid) []cid.Cid {
			return func(l []cid.Cid) []cid.Cid { return append(l[:2:2], append([]cid.Cid{junk}, l[2:]...)...) }
		}, func(junk []byte) func([]cid.Cid, []int, [][]byte) [][]byte {
			return func(_ []cid.Cid, _ []int, b [][]byte) [][]byte { b[2] = junk; return b }
		}},
		{"a list that leaves out a block", func(cid.Cid) func([]cid.Cid) []cid.Cid {
			return func(l []cid.Cid) []cid.Cid { return l[:len(l)-1] }
		}, func([]byte) func([]cid.Cid, []int, [][]byte) [][]byte { return asIs }},
		{"more blocks than asked", func(cid.Cid) func([]cid.Cid) []cid.Cid { return keep },
			func(junk []byte) func([]cid.Cid, []int, [][]byte) [][]byte {
				return func(_ []cid.Cid, _ []int, b [][]byte) [][]byte { return append(b, junk) }
			}},
		{"the blocks out of order", func(cid.Cid) func([]cid.Cid) []cid.Cid { return keep },
			func([]byte) func([]cid.Cid, []int, [][]byte) [][]byte {
				return func(_ []cid.Cid, _ []int, b [][]byte) [][]byte { b[1], b[2] = b[2], b[1]; return b }
			}},
		{"a list that is not parents first", func(cid.Cid) func([]cid.Cid) []cid.Cid {
			return func(l []cid.Cid) []cid.Cid { l[1], l[len(l)-1] = l[len(l)-1], l[1]; return l }
		}, func([]byte) func([]cid.Cid, []int, [][]byte) [][]byte { return asIs }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			liar, honest, asker := newTestNode(t), newTestNode(t), newTestNode(t)
			publish(t, liar, src)
			publish(t, honest, src)
			root := defCID(t, liar.cb, "g7")
			blocks, size := closureBytes(t, honest, root)
			junk := scratchBlock(t, junkSrc, "junk")
			lyingProvider(t, liar, tc.lie(junk.CID), tc.send(junk.Data))
			st, err := asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: []string{addrOf(liar), addrOf(honest)}, NoDiscovery: true})
			if err != nil {
				t.Fatalf("%v (%+v)", err, st)
			}
			if len(st.Sources) != 2 || st.Sources[0].Outcome != OutcomeRejected || st.Sources[1].Outcome != OutcomeOK {
				t.Fatalf("sources %+v", st.Sources)
			}
			if st.Bytes != size || st.Blocks != blocks {
				t.Errorf("stored %d blocks (%d bytes), want the closure: %d (%d)", st.Blocks, st.Bytes, blocks, size)
			}
			if ok, _ := asker.store.Has(ctx, junk.CID); ok {
				t.Error("the junk block was stored")
			}
			if ok, _ := asker.store.IsComplete(ctx, root); !ok {
				t.Fatal("the root is not complete")
			}
			if n, err := asker.store.CheckCompleteMarkers(ctx); err != nil || n != blocks {
				t.Errorf("closure invariant: %d markers, %v", n, err)
			}
			stat, _ := asker.cb.DiskStat(ctx, 0)
			if stat.Blocks != int64(blocks) {
				t.Errorf("the asker holds %d blocks, want %d", stat.Blocks, blocks)
			}
		})
	}
}

// With no provider that has it, a fetch fails with a missing error
// naming the root; a provider that lacks it is reported as such.
func TestFetchNoProvider(t *testing.T) {
	ctx := testCtx(t)
	pub, empty, asker := newTestNode(t), newTestNode(t), newTestNode(t)
	addSource(t, pub, "secret = 41\n") // not published
	root := defCID(t, pub.cb, "secret")
	st, err := asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: []string{addrOf(empty), addrOf(pub)}, NoDiscovery: true})
	var fe *FetchError
	if !errors.As(err, &fe) || !errors.Is(err, dag.ErrMissing) || !fe.Missing[0].Equals(root) {
		t.Fatalf("err %v, want a fetch error for %s", err, root)
	}
	if len(st.Sources) != 2 || st.Sources[0].Outcome != OutcomeMissing || st.Sources[1].Outcome != OutcomeMissing {
		t.Errorf("sources %+v", st.Sources)
	}
	if _, err := asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{NoDiscovery: true}); !errors.As(err, &fe) || !fe.NoProvider {
		t.Errorf("no providers at all: %v", err)
	}
}

// A fetch stops at its byte bound (what a foreign caller may make a
// callee fetch: ForeignFetchBytes) and at its provider bound, storing
// nothing past the bound.
func TestFetchBounds(t *testing.T) {
	ctx := testCtx(t)
	pub, asker := newTestNode(t), newTestNode(t)
	publish(t, pub, bigChainSource(6, 300<<10))
	root := defCID(t, pub.cb, "big5")
	p, _, _ := parseTarget(addrOf(pub))
	f := &fetch{n: asker, sink: pinnedSink{asker}, stall: FetchStallTimeout, maxProviders: 4, maxBytes: 500 << 10}
	st, err := f.run(ctx, []cid.Cid{root}, []peer.AddrInfo{{ID: p, Addrs: pub.host.Addrs()}}, nil)
	var be *eval.BudgetError
	if !errors.As(err, &be) || be.Which != BudgetFetch {
		t.Fatalf("over the byte bound: %v (%+v), want a fetch budget error", err, st)
	}
	if st.Bytes > 500<<10 {
		t.Errorf("stored %d bytes past the bound of %d", st.Bytes, 500<<10)
	}

	empty := []*Node{newTestNode(t), newTestNode(t), newTestNode(t)}
	var from []string
	for _, e := range empty {
		from = append(from, addrOf(e))
	}
	st, err = asker.FetchClosure(ctx, []cid.Cid{root}, FetchOptions{From: append(from, addrOf(pub)), NoDiscovery: true, MaxProviders: 2})
	if !errors.Is(err, dag.ErrMissing) || st.Providers != 2 {
		t.Errorf("provider bound: %d asked, %v; want 2 and a missing error", st.Providers, err)
	}
}
