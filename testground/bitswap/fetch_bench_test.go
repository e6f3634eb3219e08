package bitswap

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
)

// oneWayDelay is the latency the proxy adds in each direction: a 40 ms
// round trip, a link across a continent.
const oneWayDelay = 20 * time.Millisecond

// delayProxy forwards TCP connections on loopback to target, holding
// every chunk of bytes for delay in each direction (the order kept, the
// bandwidth not limited): the kernel here has no tc netem.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
}

func startProxy(tb testing.TB, target string, delay time.Duration) *delayProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &delayProxy{ln: ln, target: target, delay: delay}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *delayProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *delayProxy) pipe(in net.Conn) {
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	go delayCopy(out, in, p.delay)
	go delayCopy(in, out, p.delay)
}

func delayCopy(dst, src net.Conn, d time.Duration) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	ch := make(chan chunk, 4096)
	go func() {
		for c := range ch {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.b); err != nil {
				break
			}
		}
		dst.Close()
		for range ch {
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			ch <- chunk{time.Now().Add(d), append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			close(ch)
			return
		}
	}
}

// chainSource is a chain of depth definitions, each calling the one
// before: a DAG of depth depth, one block per level.
func chainSource(depth int) string {
	var b strings.Builder
	b.WriteString("c0 x = x + 1\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "c%d x = c%d (x + %d) * 1\n", i, i-1, i)
	}
	return b.String()
}

// treeSource is n definitions in a binary tree: t<i> calls t<2i+1> and
// t<2i+2>, so the DAG has n blocks and depth about log2(n).
func treeSource(n int) string {
	var b strings.Builder
	for i := range n {
		l, r := 2*i+1, 2*i+2
		switch {
		case r < n:
			fmt.Fprintf(&b, "t%d x = t%d x + t%d x + %d\n", i, l, r, i)
		case l < n:
			fmt.Fprintf(&b, "t%d x = t%d x + %d\n", i, l, i)
		default:
			fmt.Fprintf(&b, "t%d x = x * %d\n", i, i)
		}
	}
	return b.String()
}

// provider is a unode node that published a DAG, with bitswap on the
// same host serving the same blocks (same bytes, same CIDs) from a
// blockstore of its own.
type provider struct {
	node   *p2p.Node
	bs     *bitswap.Bitswap
	root   cid.Cid
	blocks int
	depth  int
	proxy  *delayProxy
}

func memDS() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }

func newNode(tb testing.TB) *p2p.Node {
	n, err := p2p.New(context.Background(), p2p.WithDHTMode(p2p.DHTOff), p2p.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Close() })
	return n
}

func newProvider(tb testing.TB, src, rootName string) *provider {
	ctx := context.Background()
	n := newNode(tb)
	if _, err := n.Codebase().AddWith(ctx, "dag.u", []byte(src), p2p.AddOptions{Publish: true}); err != nil {
		tb.Fatal(err)
	}
	store := n.Codebase().Store()
	ref, ok, err := store.LookupName(ctx, rootName)
	if err != nil || !ok {
		tb.Fatalf("no %s: %v", rootName, err)
	}
	root := ref.Def.CID
	closure, err := store.ClosureOf(ctx, root)
	if err != nil {
		tb.Fatal(err)
	}
	bstore := blockstore.NewBlockstore(memDS())
	depth := map[cid.Cid]int{}
	for _, c := range closure { // dependencies first
		data, err := store.Get(ctx, c)
		if err != nil {
			tb.Fatal(err)
		}
		blk, err := blocks.NewBlockWithCid(data, c)
		if err != nil {
			tb.Fatal(err)
		}
		if err := bstore.Put(ctx, blk); err != nil {
			tb.Fatal(err)
		}
		links, _ := dag.NeededLinks(data)
		d := 1
		for _, l := range links {
			d = max(d, depth[l]+1)
		}
		depth[c] = d
	}
	bs := bitswap.New(ctx, bsnet.NewFromIpfsHost(n.Host()), nil, bstore)
	tb.Cleanup(func() { bs.Close() })
	tcp := strings.TrimPrefix(n.Addrs()[0].String(), "/ip4/127.0.0.1/tcp/")
	port := tcp[:strings.Index(tcp, "/")]
	p := &provider{node: n, bs: bs, root: root, blocks: len(closure), depth: depth[root]}
	p.proxy = startProxy(tb, "127.0.0.1:"+port, oneWayDelay)
	return p
}

// viaProxy is the provider's address through the delaying proxy.
func (p *provider) viaProxy() string {
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p.proxy.port(), p.node.ID())
}

// asker is a fresh node connected to the provider through the proxy,
// with a fresh bitswap on the same host (an empty blockstore).
func newAsker(tb testing.TB, p *provider) (*p2p.Node, *bitswap.Bitswap) {
	ctx := context.Background()
	n := newNode(tb)
	if _, err := n.Connect(ctx, p.viaProxy()); err != nil {
		tb.Fatal(err)
	}
	bs := bitswap.New(ctx, bsnet.NewFromIpfsHost(n.Host()), nil, blockstore.NewBlockstore(memDS()))
	tb.Cleanup(func() { bs.Close() })
	return n, bs
}

// fetchUnode fetches the closure with one /unode/blocks request.
func fetchUnode(tb testing.TB, n *p2p.Node, p *provider) (time.Duration, p2p.FetchStats) {
	start := time.Now()
	st, err := n.FetchClosure(context.Background(), []cid.Cid{p.root}, p2p.FetchOptions{From: []string{p.viaProxy()}, NoDiscovery: true})
	d := time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	if st.Blocks != p.blocks {
		tb.Fatalf("unode fetched %d blocks, want %d", st.Blocks, p.blocks)
	}
	return d, st
}

// fetchBitswap fetches the closure with bitswap, as a DAG walker does
// (boxo's merkledag.FetchGraph): one session, every level's links asked
// for at once as soon as the level's blocks arrive. It returns the
// levels walked.
func fetchBitswap(tb testing.TB, bs *bitswap.Bitswap, p *provider) (time.Duration, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	session := bs.NewSession(ctx)
	seen := map[cid.Cid]bool{p.root: true}
	frontier := []cid.Cid{p.root}
	got, levels := 0, 0
	for len(frontier) > 0 {
		levels++
		ch, err := session.GetBlocks(ctx, frontier)
		if err != nil {
			tb.Fatal(err)
		}
		var next []cid.Cid
		n := 0
		for blk := range ch {
			n++
			links, err := dag.NeededLinks(blk.RawData())
			if err != nil {
				tb.Fatal(err)
			}
			for _, l := range links {
				if !seen[l] {
					seen[l] = true
					next = append(next, l)
				}
			}
		}
		if n != len(frontier) {
			tb.Fatalf("bitswap returned %d of %d blocks (%v)", n, len(frontier), ctx.Err())
		}
		got += n
		frontier = next
	}
	d := time.Since(start)
	if got != p.blocks {
		tb.Fatalf("bitswap fetched %d blocks, want %d", got, p.blocks)
	}
	return d, levels
}

// benchFetch runs unode and bitswap rounds interleaved (alternating which
// goes first), each on a fresh asker, and reports both and their ratio.
func benchFetch(b *testing.B, src, rootName string) {
	p := newProvider(b, src, rootName)
	var mu sync.Mutex
	var tu, tb time.Duration
	var rts, reqs, levels int
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		n, bs := newAsker(b, p)
		b.StartTimer()
		var du, db time.Duration
		var st p2p.FetchStats
		var lv int
		if i%2 == 0 {
			du, st = fetchUnode(b, n, p)
			db, lv = fetchBitswap(b, bs, p)
		} else {
			db, lv = fetchBitswap(b, bs, p)
			du, st = fetchUnode(b, n, p)
		}
		mu.Lock()
		tu += du
		tb += db
		rts, reqs, levels = st.RoundTrips, st.Requests, lv
		mu.Unlock()
		b.StopTimer()
		bs.Close()
		n.Close()
		b.StartTimer()
	}
	b.StopTimer()
	N := float64(b.N)
	b.ReportMetric(float64(tu.Microseconds())/1000/N, "unode-ms")
	b.ReportMetric(float64(tb.Microseconds())/1000/N, "bitswap-ms")
	b.ReportMetric(float64(tb)/float64(tu), "x-faster")
	b.ReportMetric(float64(rts), "unode-roundtrips")
	b.ReportMetric(float64(reqs), "unode-requests")
	b.ReportMetric(float64(levels), "bitswap-levels")
	b.ReportMetric(float64(p.blocks), "blocks")
	b.ReportMetric(float64(p.depth), "depth")
	b.ReportMetric(0, "ns/op") // the two figures above are the result
}

// BenchmarkClosureFetchDepth50: a chain of 50 definitions (depth 50).
func BenchmarkClosureFetchDepth50(b *testing.B) { benchFetch(b, chainSource(50), "c49") }

// BenchmarkClosureFetch1000Blocks: 1,000 definitions in a binary tree
// (depth 10).
func BenchmarkClosureFetch1000Blocks(b *testing.B) { benchFetch(b, treeSource(1000), "t0") }

// TestProxyDelays checks the proxy: a round trip through it takes at
// least twice the one-way delay.
func TestProxyDelays(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		c, err := echo.Accept()
		if err == nil {
			io.Copy(c, c)
		}
	}()
	p := startProxy(t, echo.Addr().String(), oneWayDelay)
	c, err := net.Dial("tcp", p.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*oneWayDelay || string(buf) != "ping" {
		t.Fatalf("round trip %v through the proxy (%q), want at least %v", rtt, buf, 2*oneWayDelay)
	}
}
