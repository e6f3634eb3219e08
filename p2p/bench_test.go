package p2p

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// Benchmarks of remote evaluation (docs/benchmarks.md, "Remote
// evaluation"). Run with:
//
//	go test ./p2p -run='^$' -bench=. -benchtime=2000x

// rawProtocol is the reference: a bare libp2p request/response with the
// same framing and message sizes as a warm eval call.
const rawProtocol protocol.ID = "/unode-bench/raw/1.0.0"

// serveRaw answers every request frame with a reply of replySize bytes.
func serveRaw(h interface {
	SetStreamHandler(protocol.ID, network.StreamHandler)
}, replySize int) {
	reply := make([]byte, replySize)
	h.SetStreamHandler(rawProtocol, func(s network.Stream) {
		fc := newFrameConn(s, nil)
		if _, _, err := fc.readFrame(MaxRequestSize); err != nil {
			s.Reset()
			return
		}
		if err := fc.writeFrame(reply); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
}

// rawRoundTrip opens a stream on the existing connection, sends req, reads
// the reply.
func rawRoundTrip(ctx context.Context, from, to *Node, req []byte) error {
	s, err := from.host.NewStream(ctx, to.ID(), rawProtocol)
	if err != nil {
		return err
	}
	fc := newFrameConn(s, nil)
	if err := fc.writeFrame(req); err != nil {
		s.Reset()
		return err
	}
	if _, _, err := fc.readFrame(MaxReplySize); err != nil {
		s.Reset()
		return err
	}
	return s.Close()
}

// tinyThunk is '(tiny 41) with tiny x = x + 1, already known to the callee.
func tinyThunk(b *testing.B, a *Node) dag.Value {
	addSource(b, a, "tiny x = x + 1\n")
	ref, _, _ := a.store.LookupName(context.Background(), "tiny")
	return &dag.VClosure{Code: &dag.Delay{Body: &dag.App{Fn: &dag.Ref{Def: ref.Def}, Args: []dag.Term{&dag.Int{V: 41}}}}}
}

// Warm remote `at` of a tiny thunk over an existing connection, against a
// raw libp2p request/response of the same sizes on the same connection,
// alternating in the same run.
func BenchmarkWarmAtVsRawRequest(b *testing.B) {
	ctx := context.Background()
	a, c := newTestNode(b), newTestNode(b)
	connectAll(b, a, c)
	thunk := tinyThunk(b, a)
	res, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
	if err != nil || show(res.value) != "42" {
		b.Fatalf("warm-up: %v, %v", res, err)
	}
	// The raw exchange moves as many bytes as the warm call does.
	res, _ = a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
	serveRaw(c.host, int(res.wire.in)-2)
	req := make([]byte, res.wire.out-2)
	if err := rawRoundTrip(ctx, a, c, req); err != nil {
		b.Fatal(err)
	}
	var atTime, rawTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := rawRoundTrip(ctx, a, c, req); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		rawTime += t1.Sub(t0)
		atTime += t2.Sub(t1)
	}
	b.StopTimer()
	b.ReportMetric(float64(atTime.Nanoseconds())/float64(b.N), "at-ns/op")
	b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(atTime)/float64(rawTime), "at/raw")
}

// closureSource is a program of defs definitions of depth depth (depth
// levels of defs/depth definitions, each calling one of the level below);
// top lists the top level. Small definitions are one conditional and a
// match (about 165 bytes as blocks); typical ones are a few lines with
// local bindings and a text literal (about 400 bytes), like real code.
func closureSource(defs, depth int, typical bool) (src string, top []string) {
	width := defs / depth
	var b strings.Builder
	for l := 0; l < depth; l++ {
		for j := 0; j < width; j++ {
			name := fmt.Sprintf("d%d_%d", l, j)
			below := fmt.Sprintf("d%d_%d", l-1, (j+l)%width)
			switch {
			case l == 0:
				fmt.Fprintf(&b, "%s x = if x < 0 then 0 - x else x * %d + %d\n", name, j+1, l)
			case !typical:
				fmt.Fprintf(&b, "%s x = if x > 1000000 then x\n  else match %s (x + %d) with\n    | 0 -> %d\n    | n -> n %% 1000 + %d\n", name, below, j, l, j)
			default:
				fmt.Fprintf(&b, "%s x = let a = x * 3 + %d; b = if a > 100 then a - 100 else a + 7; label = \"level %d, item %d\"\n"+
					"  in match %s (b %% 1000) with\n"+
					"    | 0 -> Text.length label\n"+
					"    | n -> if n > 500 then n - %d else List.sum [n, Text.length label, %d]\n", name, j, l, j, below, l, j)
			}
			if l == depth-1 {
				top = append(top, name)
			}
		}
	}
	return b.String(), top
}

// Cold sync of a 1,000-definition closure at depth 10 and depth 1,000:
// every byte on the stream (both directions, framing included) against
// the sum of the blocks the callee lacked, and the extra round trips.
func BenchmarkColdSync(b *testing.B) {
	for _, bc := range []struct {
		depth   int
		typical bool
	}{{10, false}, {1000, false}, {10, true}, {1000, true}} {
		size := "small"
		if bc.typical {
			size = "typical"
		}
		b.Run(fmt.Sprintf("defs=1000/depth=%d/%s", bc.depth, size), func(b *testing.B) {
			ctx := context.Background()
			a := newTestNode(b)
			src, top := closureSource(1000, bc.depth, bc.typical)
			addSource(b, a, src)
			var body strings.Builder
			body.WriteString("List.sum [")
			for i, name := range top {
				if i > 0 {
					body.WriteString(", ")
				}
				body.WriteString(name + " 1")
			}
			body.WriteString("]")
			t, err := compileExpr(ctx, a, body.String())
			if err != nil {
				b.Fatal(err)
			}
			thunk := &dag.VClosure{Code: &dag.Delay{Body: t}}
			enc, _ := dag.EncodeValue(thunk)
			roots, _ := dag.Links(enc)
			deps, err := planDeps(ctx, a.store, roots, nil)
			if err != nil {
				b.Fatal(err)
			}
			var blockBytes int64
			for _, c := range deps {
				data, _ := a.store.Get(ctx, c)
				blockBytes += int64(len(data))
			}
			var wire, blockWire, rounds, blocks int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := newTestNode(b)
				connectAll(b, a, c)
				b.StartTimer()
				res, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				wire += res.wire.out + res.wire.in
				blockWire += res.wire.blocks
				rounds += int64(res.sync.RoundTrips)
				blocks += int64(res.sync.Blocks)
				c.Close()
				b.StartTimer()
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(len(deps)), "closure-blocks")
			b.ReportMetric(float64(blockBytes)/float64(len(deps)), "bytes/block")
			b.ReportMetric(float64(blocks)/n, "blocks-sent")
			b.ReportMetric(float64(blockBytes), "missing-bytes")
			b.ReportMetric(float64(wire)/n, "wire-bytes")
			b.ReportMetric(float64(wire)/n/float64(blockBytes), "wire/missing")
			b.ReportMetric(float64(blockWire)/n/float64(blockBytes), "blockmsgs/missing")
			b.ReportMetric(float64(rounds)/n+1, "round-trips")
		})
	}
}

func compileExpr(ctx context.Context, n *Node, src string) (dag.Term, error) {
	e, err := syntax.ParseExpr("bench", []byte(src))
	if err != nil {
		return nil, err
	}
	co, _ := n.cb.compileOptions(ctx)
	return dag.CompileExpr(e, co)
}

// Remote evaluations per second with 64 concurrent callers on one
// connection.
func BenchmarkThroughput64Callers(b *testing.B) {
	ctx := context.Background()
	a, c := newTestNode(b), newTestNode(b)
	connectAll(b, a, c)
	thunk := tinyThunk(b, a)
	if _, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{}); err != nil {
		b.Fatal(err)
	}
	res, _ := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
	serveRaw(c.host, int(res.wire.in)-2)
	req := make([]byte, res.wire.out-2)
	const callers = 64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	runParallelExactly(b, callers, func() {
		if _, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{}); err != nil {
			failed.Add(1)
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	// The reference: raw request/responses of the same sizes, 64 at once.
	rawStart := time.Now()
	runParallelExactly(b, callers, func() {
		if err := rawRoundTrip(ctx, a, c, req); err != nil {
			failed.Add(1)
		}
	})
	rawElapsed := time.Since(rawStart)
	if failed.Load() > 0 {
		b.Fatalf("%d calls failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/rawElapsed.Seconds(), "raw-reqs/s")
	if conns := len(a.host.Network().ConnsToPeer(c.ID())); conns != 1 {
		b.Fatalf("%d connections, want one", conns)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "evals/s")
	b.ReportMetric(callers, "callers")
}

// runParallelExactly runs b.N calls of f spread over exactly workers
// goroutines.
func runParallelExactly(b *testing.B, workers int, f func()) {
	var next atomic.Int64
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for next.Add(1) <= int64(b.N) {
				f()
			}
		}()
	}
	for range workers {
		<-done
	}
}
