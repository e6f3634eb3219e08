package p2p

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
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
//	go test ./p2p -run='^$' -bench='WarmAt|Throughput64|ColdSync' -benchtime=2000x
//
// Each comparison runs the reference and unode in the same run, in
// alternating rounds (the order swapped every round), and reports the
// median of the per-round ratios: on a loaded machine a ratio of
// neighbouring rounds is what means something, not two totals taken
// seconds apart.

// The references are bare libp2p request/responses with the same
// framing and message sizes as a warm eval call, in two forms:
//
//   - "raw" (rawProtocol) is written the way go-libp2p's own
//     request/response protocols are (ping, identify, holepunch): each
//     side attaches the stream to its service's resource scope and
//     reserves the memory of what it reads, the handler bounds the
//     exchange with a stream deadline (a handler without one is held by
//     a peer that never sends), and the client resets the stream when
//     its deadline passes (ping's context.AfterFunc). unode's eval
//     streams do all of that too (SetService, memory reserved per
//     frame, deadlines), so the ratio to it measures what unode adds to
//     a well-behaved libp2p service: admission, decoding, the sandbox,
//     the evaluation, the audit.
//   - "bare" (bareProtocol) does none of it: no service scope, no
//     reservation, no deadline. It is the floor of what one libp2p
//     request/response costs, reported beside (at/bare, evals/bare) so
//     that what the references' extra steps cost is visible.
const (
	rawProtocol  protocol.ID = "/unode-bench/raw/1.0.0"
	bareProtocol protocol.ID = "/unode-bench/bare/1.0.0"
	rawService               = "unode-bench.raw"
)

type streamHandlerSetter interface {
	SetStreamHandler(protocol.ID, network.StreamHandler)
}

// serveRaw answers every request frame on rawProtocol with a reply of
// replySize bytes, as a libp2p service does (see above).
func serveRaw(h streamHandlerSetter, replySize int) {
	reply := make([]byte, replySize)
	h.SetStreamHandler(rawProtocol, func(s network.Stream) {
		if err := s.Scope().SetService(rawService); err != nil {
			s.Reset()
			return
		}
		s.SetDeadline(time.Now().Add(RequestReadTimeout))
		fc := newFrameConn(s, s.Scope())
		_, release, err := fc.readFrame(MaxRequestSize)
		if err != nil {
			s.Reset()
			return
		}
		release()
		if err := fc.writeFrame(reply); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
	serveBare(h, replySize)
}

// serveBare is serveRaw on bareProtocol without the service scope, the
// memory reservation or the deadline.
func serveBare(h streamHandlerSetter, replySize int) {
	reply := make([]byte, replySize)
	h.SetStreamHandler(bareProtocol, func(s network.Stream) {
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

// rawRoundTrip opens a rawProtocol stream on the existing connection,
// attaches it to the service's scope, sends req and reads the reply
// with its memory reserved, the whole bounded by a deadline that resets
// the stream when it passes (as go-libp2p's ping client does with its
// context; a warm call's deadline is DefaultCallTimeout too).
func rawRoundTrip(ctx context.Context, from, to *Node, req []byte) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	s, err := from.host.NewStream(ctx, to.ID(), rawProtocol)
	if err != nil {
		return err
	}
	defer context.AfterFunc(ctx, func() { s.Reset() })()
	if err := s.Scope().SetService(rawService); err != nil {
		s.Reset()
		return err
	}
	fc := newFrameConn(s, s.Scope())
	if err := fc.writeFrame(req); err != nil {
		s.Reset()
		return err
	}
	_, release, err := fc.readFrame(MaxReplySize)
	if err != nil {
		s.Reset()
		return err
	}
	release()
	return s.Close()
}

// bareRoundTrip is rawRoundTrip on bareProtocol, without the scope.
func bareRoundTrip(ctx context.Context, from, to *Node, req []byte) error {
	s, err := from.host.NewStream(ctx, to.ID(), bareProtocol)
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

// roundCalls is how many calls of one side a round makes: enough that
// a round lasts a few milliseconds, few enough for many rounds.
const roundCalls = 20

// interleave runs b.N calls of each of fs in rounds of roundCalls calls,
// the order of fs rotating every round, and returns the nanoseconds per
// call of each side in each round: ns[r][k] is round r of fs[k].
func interleave(b *testing.B, fs ...func() error) [][]float64 {
	var ns [][]float64
	for done := 0; done < b.N; done += roundCalls {
		calls := min(roundCalls, b.N-done)
		row := make([]float64, len(fs))
		r := len(ns)
		for j := range fs {
			k := (j + r) % len(fs)
			t0 := time.Now()
			for range calls {
				if err := fs[k](); err != nil {
					b.Fatal(err)
				}
			}
			row[k] = float64(time.Since(t0).Nanoseconds()) / float64(calls)
		}
		ns = append(ns, row)
	}
	return ns
}

// medianOf is the median of xs (which it sorts).
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// column k of ns, and the per-round ratios of column k to column ref.
func column(ns [][]float64, k int) []float64 {
	out := make([]float64, len(ns))
	for r, row := range ns {
		out[r] = row[k]
	}
	return out
}

func ratios(ns [][]float64, k, ref int) []float64 {
	out := make([]float64, len(ns))
	for r, row := range ns {
		out[r] = row[k] / row[ref]
	}
	return out
}

// Warm remote `at` of a tiny thunk over an existing connection, against
// libp2p request/responses of the same sizes on the same connection (the
// raw and bare references, see rawProtocol), in alternating rounds.
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
	if err := bareRoundTrip(ctx, a, c, req); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	ns := interleave(b,
		func() error { return rawRoundTrip(ctx, a, c, req) },
		func() error { _, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{}); return err },
		func() error { return bareRoundTrip(ctx, a, c, req) })
	b.StopTimer()
	b.ReportMetric(medianOf(column(ns, 1)), "at-ns/op")
	b.ReportMetric(medianOf(column(ns, 0)), "raw-ns/op")
	b.ReportMetric(medianOf(column(ns, 2)), "bare-ns/op")
	b.ReportMetric(medianOf(ratios(ns, 1, 0)), "at/raw")
	b.ReportMetric(medianOf(ratios(ns, 1, 2)), "at/bare")
}

// treeSource is a program of n definitions p0 .. p(n-1) in which pi
// refers to p(10i+1) .. p(10i+10) (those below n), so that the closure
// of p0 is all n; a call of p0 on a positive number takes the first
// branch and does the same work whatever n is. The constants make every
// program's blocks its own.
func treeSource(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		first := 10*i + 1
		if first >= n {
			fmt.Fprintf(&b, "%s%d x = x + %d\n", prefix, i, i+7*n)
			continue
		}
		fmt.Fprintf(&b, "%s%d x = if x > 0 - %d then x + 1 else ", prefix, i, n+i)
		for k := first; k < min(first+10, n); k++ {
			if k > first {
				b.WriteString(" + ")
			}
			fmt.Fprintf(&b, "%s%d x", prefix, k)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Warm `at` of a thunk whose closure has 10 to 10,000 definitions (the
// same work in each), in alternating rounds with a raw request/response:
// the cost of a warm call must not depend on the size of its closure
// (no cliff at any size). Reports each size's ns/op, its ratio to the
// 10-definition call and to the raw exchange (medians of per-round
// ratios).
func BenchmarkWarmAtClosureSize(b *testing.B) {
	ctx := context.Background()
	a, c := newTestNode(b), newTestNode(b)
	connectAll(b, a, c)
	sizes := []int{10, 1000, 4095, 4100, 10000}
	fs := []func() error{nil} // [0] is the raw exchange, set below
	var src strings.Builder
	for _, n := range sizes {
		src.WriteString(treeSource(fmt.Sprintf("t%d_", n), n))
	}
	addSource(b, a, src.String())
	var wireIn, wireOut int64
	for _, n := range sizes {
		ref, ok, err := a.store.LookupName(ctx, fmt.Sprintf("t%d_0", n))
		if err != nil || !ok {
			b.Fatalf("t%d_0: %v", n, err)
		}
		thunk := &dag.VClosure{Code: &dag.Delay{Body: &dag.App{Fn: &dag.Ref{Def: ref.Def}, Args: []dag.Term{&dag.Int{V: 41}}}}}
		// The first call syncs the closure; the second is warm.
		for range 2 {
			res, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
			if err != nil || show(res.value) != "42" {
				b.Fatalf("%d definitions: %v, %v", n, res, err)
			}
			wireIn, wireOut = res.wire.in, res.wire.out
		}
		if s, err := c.summarize(ctx, ref.Def.CID); err != nil || len(s.blocks) < n {
			b.Fatalf("%d definitions: the callee's closure summary lists %d blocks (%v)", n, len(s.blocks), err)
		}
		fs = append(fs, func() error { _, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{}); return err })
	}
	serveRaw(c.host, int(wireIn)-2)
	req := make([]byte, wireOut-2)
	fs[0] = func() error { return rawRoundTrip(ctx, a, c, req) }
	b.ResetTimer()
	ns := interleave(b, fs...)
	b.StopTimer()
	b.ReportMetric(medianOf(column(ns, 0)), "raw-ns/op")
	for k, n := range sizes {
		b.ReportMetric(medianOf(column(ns, k+1)), fmt.Sprintf("ns/op-%d", n))
		b.ReportMetric(medianOf(ratios(ns, k+1, 1)), fmt.Sprintf("x%d/x10", n))
		b.ReportMetric(medianOf(ratios(ns, k+1, 0)), fmt.Sprintf("x%d/raw", n))
	}
}

// closureSource is a program of defs definitions of depth depth (depth
// levels of defs/depth definitions, each calling one of the level below);
// top lists the top level. Small definitions are one conditional and a
// match (about 165 bytes as blocks); typical ones are a few lines with
// local bindings and a text literal (about 400 bytes), like real code.
func closureSource(defs, depth int, typical bool) (src string, top []string) {
	return closureSourceRun(defs, depth, typical, 0)
}

// closureSourceRun is closureSource's closure made new for run: every
// definition differs from every other run's in a constant (of the same
// encoded width where the shape allows, so blocks keep their sizes
// within a byte or two), so that no block or compiled code of another
// run serves it. Run 0 is closureSource's.
func closureSourceRun(defs, depth int, typical bool, run int) (src string, top []string) {
	width := defs / depth
	label := "level"
	if run > 0 {
		label = fmt.Sprintf("r%04d", run)
	}
	var b strings.Builder
	for l := 0; l < depth; l++ {
		for j := 0; j < width; j++ {
			name := fmt.Sprintf("d%d_%d", l, j)
			below := fmt.Sprintf("d%d_%d", l-1, (j+l)%width)
			switch {
			case l == 0:
				fmt.Fprintf(&b, "%s x = if x < %d then 0 - x else x * %d + %d\n", name, -run, j+1, l)
			case !typical:
				fmt.Fprintf(&b, "%s x = if x > %d then x\n  else match %s (x + %d) with\n    | 0 -> %d\n    | n -> n %% 1000 + %d\n", name, 1000000+run, below, j, l, j)
			default:
				fmt.Fprintf(&b, "%s x = let a = x * 3 + %d; b = if a > 100 then a - 100 else a + 7; label = \"%s %d, item %d\"\n"+
					"  in match %s (b %% 1000) with\n"+
					"    | 0 -> Text.length label\n"+
					"    | n -> if n > 500 then n - %d else List.sum [n, Text.length label, %d]\n", name, j, label, l, j, below, l, j)
			}
			if l == depth-1 {
				top = append(top, name)
			}
		}
	}
	return b.String(), top
}

// coldSyncRuns numbers BenchmarkColdSync's closures (closureSourceRun).
var coldSyncRuns atomic.Int64

// Cold sync of a 1,000-definition closure at depth 10 and depth 1,000:
// every byte on the stream (both directions, framing included) against
// the sum of the blocks the callee lacked, and the extra round trips.
func BenchmarkColdSync(b *testing.B) {
	if os.Getenv(coldSyncCalleeEnv) != "" {
		serveColdSyncCallee(b) // this process is another run's callee
		return
	}
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
			// thunkRun adds run's closure to a and returns the call of
			// its top definitions: every call, measured or not, is of a
			// closure that neither node nor process has seen (compiled
			// code is shared by a process's nodes, eval's registry).
			thunkRun := func(run int) *dag.VClosure {
				src, top := closureSourceRun(1000, bc.depth, bc.typical, run)
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
				return &dag.VClosure{Code: &dag.Delay{Body: t}}
			}
			// Runs are numbered across the process (coldSyncRuns): the
			// rounds Go makes of a benchmark (b.N = 1, then more) and
			// the other cases do not meet either.
			nextThunk := func() *dag.VClosure {
				return thunkRun(int(coldSyncRuns.Add(1)))
			}
			thunk := nextThunk()
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
			var cpu time.Duration
			// The same call to a callee in a process of its own: its CPU
			// alone (coldsync_callee_test.go).
			proc := startCalleeProc(b)
			// measure makes the cold call once on a fresh node of the
			// callee process, then the same call warm, and returns the
			// callee's CPU for each and what it used idle over as long.
			measure := func(thunk *dag.VClosure) (cold, warm, idle time.Duration, blocks int64) {
				// What it uses while idle for as long (a libp2p host's
				// timers) is taken off.
				info, err := a.Connect(ctx, proc.fresh(b))
				if err != nil {
					b.Fatal(err)
				}
				i0 := proc.cpu(b)
				time.Sleep(calleeSettle)
				i1 := proc.cpu(b)
				res, err := a.callThunk(ctx, info.ID, nil, thunk, Budget{})
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(calleeSettle)
				i2 := proc.cpu(b)
				// The same call again, now warm (nothing to sync, the
				// code decoded and linked): what the cold call cost
				// beyond it is the sync's.
				again, err := a.callThunk(ctx, info.ID, nil, thunk, Budget{})
				if err != nil {
					b.Fatal(err)
				}
				if again.sync.Blocks != 0 {
					b.Fatalf("the second call synced %d blocks", again.sync.Blocks)
				}
				time.Sleep(calleeSettle)
				idle = i1 - i0
				return i2 - i1 - idle, proc.cpu(b) - i2 - idle, idle, int64(res.sync.Blocks)
			}
			// A daemon serving cold calls is a process that has run for a
			// while: its heap grown, its pools and page tables filled.
			// The callee process serves calleeWarmups cold calls, each to
			// a fresh node of its own, before the measured ones (each to
			// a fresh node too: nothing of the code is in it); the first
			// of them, a fresh process's first cold call, is reported
			// apart (callee-first-cpu-us/block).
			var firstCPU time.Duration
			var firstBlocks int64
			for w := range calleeWarmups {
				cold, _, _, nb := measure(nextThunk())
				if w == 0 {
					firstCPU, firstBlocks = cold, nb
				}
			}
			var calleeCPU, calleeIdle, calleeWarm time.Duration
			var calleeBlocks int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if i > 0 {
					thunk = nextThunk() // the first is the one planned above
				}
				c := newTestNode(b)
				connectAll(b, a, c)
				b.StartTimer()
				cpu0 := processCPU()
				res, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
				cpu += processCPU() - cpu0
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				wire += res.wire.out + res.wire.in
				blockWire += res.wire.blocks
				rounds += int64(res.sync.RoundTrips)
				blocks += int64(res.sync.Blocks)
				c.Close()

				// Untimed: the separate callee.
				cold, warm, idle, nb := measure(thunk)
				calleeCPU += cold
				calleeWarm += warm
				calleeIdle += idle
				calleeBlocks += nb
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
			// Both nodes run in this process: the caller's share (planning
			// the sync, reading and sending the blocks) is in it too, so
			// this bounds the callee's CPU per definition from above.
			b.ReportMetric(float64(cpu.Microseconds())/float64(blocks), "cpu-us/block")
			// The callee's CPU alone, measured in its own process: from
			// the request to calleeSettle after the reply, less what it
			// uses idle over as long (reported beside it).
			b.ReportMetric(float64(calleeCPU.Microseconds())/float64(calleeBlocks), "callee-cpu-us/block")
			b.ReportMetric(float64(calleeIdle.Microseconds())/float64(calleeBlocks), "callee-idle-us/block")
			b.ReportMetric(float64(firstCPU.Microseconds())/float64(firstBlocks), "callee-first-cpu-us/block")
			// The warm call's CPU over the same blocks (the evaluation
			// itself and a call's fixed work), and the cold call's less
			// it: receiving, checking, storing and linking the code.
			b.ReportMetric(float64(calleeWarm.Microseconds())/float64(calleeBlocks), "callee-warm-us/block")
			b.ReportMetric(float64((calleeCPU-calleeWarm).Microseconds())/float64(calleeBlocks), "callee-sync-us/block")
		})
	}
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
// connection, against request/responses of the same sizes 64 at once
// (the raw and bare references, see rawProtocol), in alternating rounds
// of 64*8 calls; evals/raw and evals/bare are the medians of the
// per-round ratios of throughputs.
//
// The caller is a peer c's policy lists (a friend, as a client of a
// service would be): an unknown peer gets only a few streams at once
// (MaxUnknownNegotiatingPerPeer, MaxEvalStreamsPerPeer), so 64 at once
// from a stranger measures the admission bounds, not the protocol.
func BenchmarkThroughput64Callers(b *testing.B) {
	ctx := context.Background()
	a, c := newTestNode(b), newTestNode(b)
	pol := c.Policy()
	if err := pol.SetSandbox("friend", mustSandbox(b, "--allow pure"+smallBudget)); err != nil {
		b.Fatal(err)
	}
	if err := pol.SetPeer(a.ID(), "friend"); err != nil {
		b.Fatal(err)
	}
	if err := c.SetPolicy(pol); err != nil {
		b.Fatal(err)
	}
	connectAll(b, a, c)
	thunk := tinyThunk(b, a)
	if _, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{}); err != nil {
		b.Fatal(err)
	}
	res, _ := a.callThunk(ctx, c.ID(), nil, thunk, Budget{})
	serveRaw(c.host, int(res.wire.in)-2)
	req := make([]byte, res.wire.out-2)
	const callers = 64
	const round = callers * 8
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, &err)
	}
	sides := []func(){
		func() {
			if err := rawRoundTrip(ctx, a, c, req); err != nil {
				fail(err)
			}
		},
		func() {
			if _, err := a.callThunk(ctx, c.ID(), nil, thunk, Budget{}); err != nil {
				fail(err)
			}
		},
		func() {
			if err := bareRoundTrip(ctx, a, c, req); err != nil {
				fail(err)
			}
		},
	}
	var rawRate, evalRate, bareRate, rel, relBare []float64
	b.ResetTimer()
	for done, r := 0, 0; done < b.N; done, r = done+round, r+1 {
		calls := min(round, b.N-done)
		var secs [3]float64
		for j := range sides {
			k := (j + r) % len(sides)
			start := time.Now()
			runParallelExactly(calls, callers, sides[k])
			secs[k] = time.Since(start).Seconds()
		}
		rawRate = append(rawRate, float64(calls)/secs[0])
		evalRate = append(evalRate, float64(calls)/secs[1])
		bareRate = append(bareRate, float64(calls)/secs[2])
		rel = append(rel, secs[0]/secs[1])
		relBare = append(relBare, secs[2]/secs[1])
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d calls failed, the first: %v", failed.Load(), *firstErr.Load())
	}
	if conns := len(a.host.Network().ConnsToPeer(c.ID())); conns != 1 {
		b.Fatalf("%d connections, want one", conns)
	}
	b.ReportMetric(medianOf(evalRate), "evals/s")
	b.ReportMetric(medianOf(rawRate), "raw-reqs/s")
	b.ReportMetric(medianOf(bareRate), "bare-reqs/s")
	b.ReportMetric(medianOf(rel), "evals/raw")
	b.ReportMetric(medianOf(relBare), "evals/bare")
	b.ReportMetric(callers, "callers")
}

// runParallelExactly runs calls calls of f spread over exactly workers
// goroutines.
func runParallelExactly(calls, workers int, f func()) {
	var next atomic.Int64
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for next.Add(1) <= int64(calls) {
				f()
			}
		}()
	}
	for range workers {
		<-done
	}
}
