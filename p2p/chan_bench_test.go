package p2p

import (
	"bufio"
	"context"
	"runtime"
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
//	go test ./p2p -run='^$' -bench=ChanVsRawStream -benchtime=20x -count=3

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

// rawChanProtocol is the reference: a bare stream with unode's framing.
const rawChanProtocol protocol.ID = "/unode-bench/rawchan/1.0.0"

// BenchmarkChanVsRawStream runs, in each iteration, chanBatch sends
// against chanBatch raw frames written on an open stream (each with one
// Write, as a sender without batching would), and chanRoundTrips
// delivers (each awaited before the next) against as many raw
// request/responses on an open stream with the same frame sizes.
func BenchmarkChanVsRawStream(b *testing.B) {
	const (
		chanBatch      = 2000
		chanRoundTrips = 200
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

	// Listeners on the receiver for the delivers, one per channel, each
	// listening again as soon as it took a message: deliver i goes to
	// channel i mod listeners.
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range chs {
		go func() {
			for {
				f := c.net.Listen(nil, ch)
				select {
				case <-f.Done():
				case <-stop:
					return
				}
				// Listeners are weak: waiting on Done alone does not
				// keep the future, and so the listener, alive.
				runtime.KeepAlive(f)
			}
		}()
	}
	if !pollUntil(func() bool { return c.net.LocalHost.Listening() == listeners }) {
		b.Fatal("listeners did not register")
	}
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
		if a.ChanStats().DroppedQueueFull > 0 {
			b.Fatalf("sends dropped at the queue: %+v", a.ChanStats())
		}
		// The sends took the listeners: let them listen again (not
		// timed).
		wait(func() bool { return c.net.LocalHost.Listening() == listeners })
		t2 = time.Now()
		// Raw request/response.
		for range chanRoundTrips {
			if err := rawRR.writeFrame(deliverFrame[1:]); err != nil {
				b.Fatal(err)
			}
			if _, _, err := rawRR.readFrame(MaxChanReplySize); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		// deliver, awaited.
		for k := range chanRoundTrips {
			f := a.net.Send(th, node, chs[k%listeners], payload, true)
			<-f.Done()
			if _, errv, _ := f.Result(); errv != nil {
				if misses == 0 {
					b.Logf("deliver failed: %s", show(errv))
				}
				misses++
			}
		}
		t4 := time.Now()
		rawSendT += t1.Sub(t0)
		sendT += t2.Sub(t1)
		rawRRT += t3.Sub(t2)
		deliverT += t4.Sub(t3)
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
	b.ReportMetric(float64(misses), "deliver-misses")
}
