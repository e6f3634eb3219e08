package p2p

import (
	"bufio"
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Benchmark of channels (docs/benchmarks.md, "Channels"): messages per
// second with send, and the round trip of deliver, over one connection,
// against a raw libp2p stream carrying the same frames, interleaved in
// one run:
//
//	go test ./p2p -run='^$' -bench=ChanVsRawStream -benchtime=200x -count=5

// trustedPair is two connected nodes, each listing the other in its
// policy with openSandbox.
func trustedPair(tb testing.TB) (*Node, *Node) {
	tb.Helper()
	a, c := newOpenNode(tb), newOpenNode(tb)
	for _, x := range [][2]*Node{{a, c}, {c, a}} {
		pol := policyOf(tb, map[peer.ID]string{x[1].ID(): openSandbox})
		pol.Default = mustSandbox(tb, openSandbox)
		if err := x[0].SetPolicy(pol); err != nil {
			tb.Fatal(err)
		}
	}
	connectAll(tb, a, c)
	return a, c
}

// serveListeners runs, on n, a goroutine per channel that listens on it
// and, as soon as it took a message, listens again (as a serve loop
// does), until the returned stop is called.
func serveListeners(tb testing.TB, n *Node, chs []*eval.Channel) (stop func()) {
	tb.Helper()
	done := make(chan struct{})
	for _, ch := range chs {
		go func() {
			for {
				f := n.net.Listen(nil, ch)
				select {
				case <-f.Done():
				case <-done:
					return
				}
				// Listeners are weak: waiting on Done alone does not
				// keep the future, and so the listener, alive.
				runtime.KeepAlive(f)
			}
		}()
	}
	if !pollUntil(func() bool { return n.net.LocalHost.Listening() == len(chs) }) {
		tb.Fatal("listeners did not register")
	}
	return func() { close(done) }
}

// BenchmarkChanDeliver is one side at a time of BenchmarkChanVsRawStream's
// round trips, to profile (-cpuprofile, -memprofile) the path of a
// deliver alone, on both nodes, or of the raw request/response:
//
//	go test ./p2p -run='^$' -bench='ChanDeliver/deliver' -benchtime=100000x -cpuprofile cpu.out
func BenchmarkChanDeliver(b *testing.B) {
	const listeners = 32
	ctx := context.Background()
	a, c := trustedPair(b)
	payload := eval.Text("a message of a few dozen bytes, as programs send")
	chs := make([]*eval.Channel, listeners)
	for i := range chs {
		chs[i] = newChan(b, c)
	}
	enc, err := dag.EncodeValue(&dag.VText{V: string(payload)})
	if err != nil {
		b.Fatal(err)
	}
	request := chanFrame(b, &ChanMessage{Seq: 1, Channel: chs[0].ID, Value: enc, Ack: true})[1:]
	reply, _ := EncodeChanReply(&ChanReply{Seq: 1, Taken: 1})
	c.host.SetStreamHandler(rawChanProtocol, func(s network.Stream) {
		fc := &frameConn{r: bufio.NewReaderSize(s, chanReadBuffer), w: s}
		for {
			if _, _, err := fc.readFrame(MaxChanMessageSize); err != nil {
				s.Reset()
				return
			}
			if err := fc.writeFrame(reply); err != nil {
				s.Reset()
				return
			}
		}
	})
	defer serveListeners(b, c, chs)()
	th := a.cb.newThread(Budget{})
	node := nodeValue(c)
	for range 100 { // the stream open, the code paths warm
		<-a.net.Send(th, node, chs[0], payload, true).Done()
	}
	b.Run("deliver", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := a.net.Send(th, node, chs[i%listeners], payload, true)
			<-f.Done()
		}
	})
	b.Run("raw", func(b *testing.B) {
		s, err := a.host.NewStream(ctx, c.ID(), rawChanProtocol)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Reset()
		fc := newFrameConn(s, nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := fc.writeFrame(request); err != nil {
				b.Fatal(err)
			}
			if _, _, err := fc.readFrame(MaxChanReplySize); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// rawChanProtocol is the reference: a bare stream with unode's framing.
const rawChanProtocol protocol.ID = "/unode-bench/rawchan/1.0.0"

// BenchmarkChanVsRawStream runs, in each iteration, chanBatch sends
// against chanBatch raw frames written on an open stream (each with one
// Write, as a sender without batching would), and chanRoundTrips
// delivers (each awaited before the next) against as many raw
// request/responses on an open stream with the same frame sizes; and as
// many delivers to listeners that do not listen again (waiting-deliver).
// The round trips alternate in chunks of rtChunk, each round in another
// order, so that whatever else the machine does (a GC, a neighbour's
// process) falls on all sides alike.
func BenchmarkChanVsRawStream(b *testing.B) {
	const (
		chanBatch      = 2000
		chanRoundTrips = 200
		rtChunk        = 20
		listeners      = 32
	)
	ctx := context.Background()
	// Each lists the other in its policy: a peer the node knows is not
	// paced like a stranger (MaxUnknownChanRate).
	a, c := trustedPair(b)
	payload := eval.Text("a message of a few dozen bytes, as programs send")
	enc, err := dag.EncodeValue(&dag.VText{V: string(payload)})
	if err != nil {
		b.Fatal(err)
	}

	// The raw side: count frames; answer those whose first byte asks
	// for it with a reply of a deliver's reply size.
	var rawGot atomic.Int64
	chs := make([]*eval.Channel, listeners)
	for i := range chs {
		chs[i] = newChan(b, c)
	}
	sendFrame := chanFrame(b, &ChanMessage{Seq: 1, Channel: chs[0].ID, Value: enc})
	deliverFrame := chanFrame(b, &ChanMessage{Seq: 1, Channel: chs[0].ID, Value: enc, Ack: true})
	replyData, _ := EncodeChanReply(&ChanReply{Seq: 1, Taken: 1})
	c.host.SetStreamHandler(rawChanProtocol, func(s network.Stream) {
		fc := &frameConn{r: bufio.NewReaderSize(s, chanReadBuffer), w: s}
		for {
			msg, _, err := fc.readFrame(MaxChanMessageSize)
			if err != nil {
				s.Reset()
				return
			}
			rawGot.Add(1)
			if len(msg) == len(deliverFrame)-1 { // a request
				if err := fc.writeFrame(replyData); err != nil {
					s.Reset()
					return
				}
			}
		}
	})
	rawStream := func() (*frameConn, network.Stream) {
		s, err := a.host.NewStream(ctx, c.ID(), rawChanProtocol)
		if err != nil {
			b.Fatal(err)
		}
		return newFrameConn(s, nil), s
	}
	rawSend, s1 := rawStream()
	defer s1.Reset()
	rawRR, s2 := rawStream()
	defer s2.Reset()

	// Listeners on the receiver for the delivers, one per channel:
	// deliver i goes to channel i mod listeners.
	defer serveListeners(b, c, chs)()
	th := a.cb.newThread(Budget{})
	node := nodeValue(c)
	// Warm up both paths (streams open, code paths hot).
	for range 100 {
		a.net.Send(th, node, chs[0], payload, false)
	}
	pollUntil(func() bool { return c.ChanStats().Received >= 100 })

	wait := func(cond func() bool) {
		for !cond() {
			time.Sleep(20 * time.Microsecond)
		}
	}
	var rawSendT, sendT, rawRRT, deliverT time.Duration
	misses := 0
	roundTrips := func(k int) time.Duration {
		t0 := time.Now()
		for range k {
			if err := rawRR.writeFrame(deliverFrame[1:]); err != nil {
				b.Fatal(err)
			}
			if _, _, err := rawRR.readFrame(MaxChanReplySize); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	next := 0 // the channel of the next deliver
	deliver := func(k int) time.Duration {
		t0 := time.Now()
		for range k {
			f := a.net.Send(th, node, chs[next%listeners], payload, true)
			next++
			<-f.Done()
			if _, errv, _ := f.Result(); errv != nil {
				if misses == 0 {
					b.Logf("deliver failed: %s", show(errv))
				}
				misses++
			}
		}
		return time.Since(t0)
	}
	// The same delivers to listeners on fresh channels, registered
	// beforehand (not timed), each awaited by a goroutine that then
	// ends: the round trip without the receiving program's own work of
	// listening again (which the delivers above include, as a serve
	// loop's would, on the same two cores).
	var waitingT time.Duration
	deliverWaiting := func(k int) time.Duration {
		ls := make([]*eval.Future, k)
		fresh := make([]*eval.Channel, k)
		var woken sync.WaitGroup
		for j := range ls {
			fresh[j] = newChan(b, c)
			ls[j] = c.net.Listen(nil, fresh[j])
			woken.Go(func() { <-ls[j].Done() })
		}
		t0 := time.Now()
		for j := range k {
			f := a.net.Send(th, node, fresh[j], payload, true)
			<-f.Done()
			if _, errv, _ := f.Result(); errv != nil {
				b.Fatalf("deliver to a waiting listener: %s", show(errv))
			}
		}
		d := time.Since(t0)
		woken.Wait()
		// Listeners are weak: the waiting goroutines hold only the
		// futures' channels.
		runtime.KeepAlive(ls)
		return d
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Raw frames, one Write each.
		t0 := time.Now()
		want := rawGot.Load() + chanBatch
		for range chanBatch {
			if err := rawSend.writeFrame(sendFrame[1:]); err != nil {
				b.Fatal(err)
			}
		}
		wait(func() bool { return rawGot.Load() >= want })
		t1 := time.Now()
		// send.
		wantC := c.ChanStats().Received + chanBatch
		for k := range chanBatch {
			if f := a.net.Send(th, node, chs[k%listeners], payload, false); f != nil {
				b.Fatal("send failed")
			}
		}
		wait(func() bool { return c.ChanStats().Received >= wantC })
		t2 := time.Now()
		rawSendT += t1.Sub(t0)
		sendT += t2.Sub(t1)
		if a.ChanStats().DroppedQueueFull > 0 {
			b.Fatalf("sends dropped at the queue: %+v", a.ChanStats())
		}
		// The sends took the listeners: let them listen again (not
		// timed).
		wait(func() bool { return c.net.LocalHost.Listening() == listeners })
		// Raw request/responses and the two kinds of deliver, in
		// turn, each chunk in a different order.
		sides := []func(){
			func() { rawRRT += roundTrips(rtChunk) },
			func() { deliverT += deliver(rtChunk) },
			func() { waitingT += deliverWaiting(rtChunk) },
		}
		for k := 0; k < chanRoundTrips/rtChunk; k++ {
			for j := range sides {
				sides[(i+k+j)%len(sides)]()
			}
		}
	}
	b.StopTimer()
	msgs := float64(b.N * chanBatch)
	rts := float64(b.N * chanRoundTrips)
	b.ReportMetric(msgs/sendT.Seconds(), "send-msgs/s")
	b.ReportMetric(msgs/rawSendT.Seconds(), "raw-msgs/s")
	b.ReportMetric(rawSendT.Seconds()/sendT.Seconds(), "send/raw-rate")
	b.ReportMetric(float64(deliverT.Microseconds())/rts, "deliver-µs")
	b.ReportMetric(float64(rawRRT.Microseconds())/rts, "raw-rr-µs")
	b.ReportMetric(float64(deliverT)/float64(rawRRT), "deliver/raw-rr")
	b.ReportMetric(float64(waitingT.Microseconds())/rts, "waiting-deliver-µs")
	b.ReportMetric(float64(waitingT)/float64(rawRRT), "waiting-deliver/raw-rr")
	b.ReportMetric(float64(misses), "deliver-misses")
}
