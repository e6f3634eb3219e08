package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"

	"github.com/unode-dev/unode/p2p"
)

// channels: honest instances in pairs (in sequence order; an odd one
// out joins the first pair) exchange messages on each other's requests
// channel (`requests n`, the channel every node has, that only its own
// code listens on). Each instance listens in a loop and, meanwhile,
// sends its partners param messages with `deliver` (acknowledged,
// retried while the partner is between two listens) and as many with
// `send` (fire and forget, param send_interval_ms apart). At the end
// every instance publishes what was acknowledged to it and what it
// sent, and each checks what it received: an acknowledged delivery that
// its listener never returned is lost, and fails the case. The figures:
// delivery rate and failures by kind, for both.
func channelsCase(env *runtime.RunEnv, ic *run.InitContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout(env))
	defer cancel()
	in, err := setup(env, ic)
	if err != nil {
		return err
	}
	if in.node, err = in.startNode(ctx, p2p.WithDHTMode(p2p.DHTOff)); err != nil {
		return err
	}
	defer in.node.Close()
	if err := in.meet(ctx); err != nil {
		return err
	}
	if in.hostile {
		return in.runHostile(ctx)
	}
	var honest []peerRecord
	for _, r := range in.peers {
		if !r.Hostile {
			honest = append(honest, r)
		}
	}
	partners := pairs(honest)[in.seq]

	node := func() *p2p.Node { return in.node }
	rcv := startReceiver(ctx, node)
	if err := in.barrier(ctx, "ready", env.TestInstanceCount); err != nil {
		return err
	}
	k := intParam(env, "messages", 50)
	interval := time.Duration(intParam(env, "send_interval_ms", 20)) * time.Millisecond
	rep := &deliveryReport{From: in.seq}
	var wg gosync.WaitGroup
	var mu gosync.Mutex
	for _, p := range partners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &sender{node: node, to: p, from: in.seq, retries: 20}
			var acked, sent []int64
			failures := map[string]int{}
			for seq := int64(1); seq <= int64(k); seq++ {
				t0 := time.Now()
				kind := s.deliver(ctx, seq, 5*time.Second)
				if kind == "ok" {
					acked = append(acked, seq)
					in.point("chan_deliver_ms", ms(time.Since(t0)))
				} else {
					failures[kind]++
				}
			}
			for seq := int64(k + 1); seq <= int64(2*k); seq++ {
				if kind := s.send(ctx, seq); kind == "ok" {
					sent = append(sent, seq)
				} else {
					failures["send-"+kind]++
				}
				pause(ctx, interval)
			}
			mu.Lock()
			rep.To = append(rep.To, targetReport{To: p.Seq, Acked: acked, Sent: sent, Attempted: k, Failures: failures})
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Everyone's last messages are in before the listeners stop.
	if err := in.barrier(ctx, "sent", in.honestCount()); err != nil {
		return err
	}
	pause(ctx, 4*in.link.rt()+200*time.Millisecond)
	received := rcv.stop()
	lost, err := in.checkDeliveries(ctx, rep, received, in.honestCount())
	if err != nil {
		return err
	}
	if lost > 0 {
		return fmt.Errorf("%d acknowledged deliveries to this instance were never received", lost)
	}
	return in.finish(ctx)
}

// pairs pairs the honest instances in sequence order: each seq maps to
// its partners.
func pairs(honest []peerRecord) map[int64][]peerRecord {
	out := map[int64][]peerRecord{}
	link := func(a, b peerRecord) {
		out[a.Seq] = append(out[a.Seq], b)
		out[b.Seq] = append(out[b.Seq], a)
	}
	for i := 0; i+1 < len(honest); i += 2 {
		link(honest[i], honest[i+1])
	}
	if len(honest)%2 == 1 && len(honest) > 1 {
		link(honest[len(honest)-1], honest[0])
	}
	return out
}

// message is a channel message's identity: its sender and number.
type message struct{ From, Seq int64 }

// receiver listens on the node's requests channel in a loop, one
// evaluation per message, and keeps what its listeners returned. The
// node may change under it (churn): it listens on whichever is current.
type receiver struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     gosync.Mutex
	got    map[message]int // how many times each arrived
}

func startReceiver(ctx context.Context, node func() *p2p.Node) *receiver {
	ctx, cancel := context.WithCancel(ctx)
	r := &receiver{cancel: cancel, done: make(chan struct{}), got: map[message]int{}}
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			n := node()
			if n == nil {
				pause(ctx, 20*time.Millisecond)
				continue
			}
			// No timeout around the listen: a message that arrives as
			// a timeout fires is acknowledged to its sender (a listener
			// took it) while the program sees Left Timeout, and is lost
			// to it. The loop ends by ctx, once every delivery is in.
			res, err := n.Codebase().EvalSource(ctx, "<listen>", "await! (listen (requests here))", p2p.Budget{Timeout: listenBudget})
			if err != nil {
				// A node closing under the listener; the next one listens.
				pause(ctx, 20*time.Millisecond)
				continue
			}
			var m message
			if _, err := fmt.Sscanf(res.Text, "Right (%d, %d)", &m.From, &m.Seq); err == nil {
				r.mu.Lock()
				r.got[m]++
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// listenBudget is the time budget of one listen: longer than any case,
// so that the budget never ends a listen (it would race a message the
// way a timeout does).
const listenBudget = time.Hour

// stop stops the loop and returns what arrived.
func (r *receiver) stop() map[message]int {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

// sender sends one instance's messages to another's requests channel.
type sender struct {
	node    func() *p2p.Node
	to      peerRecord
	from    int64
	retries int // deliveries that found no listener, tried again
}

// deliver delivers (from, seq) and returns "ok" once acknowledged, else
// the kind of failure. Within the deadline, a delivery that found no
// listener is tried again s.retries times; a delivery that takes longer
// than deadline (plus a margin for the machine) is "hung".
func (s *sender) deliver(ctx context.Context, seq int64, deadline time.Duration) string {
	expr := fmt.Sprintf("let n = Node.fixed %q in await! (timeout %d (deliver n (requests n) (%d, %d)))", s.to.ID, deadline.Milliseconds(), s.from, seq)
	wait := 5 * time.Millisecond
	for try := 0; ; try++ {
		kind := s.eval(ctx, expr, deadline)
		if kind != "no-listener" || try >= s.retries {
			return kind
		}
		pause(ctx, wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// send sends (from, seq) unacknowledged.
func (s *sender) send(ctx context.Context, seq int64) string {
	expr := fmt.Sprintf("let n = Node.fixed %q in send n (requests n) (%d, %d)", s.to.ID, s.from, seq)
	return s.eval(ctx, expr, 5*time.Second)
}

// eval evaluates expr on the current node and classifies its outcome.
func (s *sender) eval(ctx context.Context, expr string, deadline time.Duration) string {
	n := s.node()
	if n == nil {
		return "node-down"
	}
	cctx, cancel := context.WithTimeout(ctx, deadline+hangMargin)
	defer cancel()
	res, err := n.Codebase().EvalSource(cctx, "<send>", expr, p2p.Budget{})
	switch {
	case cctx.Err() != nil && ctx.Err() == nil:
		return "hung"
	case err != nil:
		return errorKind(err)
	case strings.HasPrefix(res.Text, "Left"):
		return classifyText(res.Text)
	}
	return "ok"
}

// hangMargin is how much longer than its own timeout a call may take
// before it counts as hung: room for a busy machine (two cores, tens of
// processes), not for a call that ignores its timeout.
const hangMargin = 5 * time.Second

// deliveryReport is what one instance sent to each of its targets.
type deliveryReport struct {
	From int64          `json:"from"`
	To   []targetReport `json:"to"`
}

type targetReport struct {
	To        int64          `json:"to"`
	Attempted int            `json:"attempted"` // deliveries tried
	Acked     []int64        `json:"acked"`     // seqs acknowledged
	Sent      []int64        `json:"sent"`      // seqs sent unacknowledged
	Failures  map[string]int `json:"failures"`
}

var deliveriesTopic = sync.NewTopic("deliveries", &deliveryReport{})

// checkDeliveries publishes this instance's report, reads the others'
// (senders of them), compares what was acknowledged to this instance
// with what its listeners returned, records the figures and returns how
// many acknowledged deliveries were lost.
func (in *instance) checkDeliveries(ctx context.Context, mine *deliveryReport, received map[message]int, senders int) (int, error) {
	if _, err := in.sync.Publish(ctx, deliveriesTopic, mine); err != nil {
		return 0, err
	}
	reps, err := collect[deliveryReport](ctx, in.sync, "deliveries", senders)
	if err != nil {
		return 0, err
	}
	var acked, lost, sent, sentGot, attempted, dup int
	for _, r := range reps {
		for _, t := range r.To {
			if t.To != in.seq {
				continue
			}
			attempted += t.Attempted
			for _, s := range t.Acked {
				acked++
				if received[message{r.From, s}] == 0 {
					lost++
					if lost <= 10 {
						in.env.RecordMessage("lost: delivery %d from instance %d was acknowledged, never received", s, r.From)
					}
				}
			}
			for _, s := range t.Sent {
				sent++
				if received[message{r.From, s}] > 0 {
					sentGot++
				}
			}
		}
	}
	for _, n := range received {
		if n > 1 {
			dup += n - 1
		}
	}
	for _, t := range mine.To {
		kinds := make([]string, 0, len(t.Failures))
		for k := range t.Failures {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			in.point("chan_failures,kind="+k, float64(t.Failures[k]))
		}
	}
	in.point("chan_deliver_attempted", float64(attempted))
	in.point("chan_deliver_acked", float64(acked))
	if attempted > 0 {
		in.point("chan_deliver_rate", float64(acked)/float64(attempted))
	}
	in.point("chan_acked_lost", float64(lost))
	in.point("chan_duplicates", float64(dup))
	in.point("chan_send_sent", float64(sent))
	if sent > 0 {
		in.point("chan_send_rate", float64(sentGot)/float64(sent))
	}
	return lost, nil
}
