package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"

	"github.com/unode-dev/unode/p2p"
)

// churn: instances of the group "churner" leave and join for the whole
// workload (their node closed for a while, then started again with the
// same key, address and datastore, as a daemon restarts), while the
// other honest instances call through `fallback` and `race` on random
// sets of three honest nodes, and deliver messages to random honest
// nodes' requests channels; every honest instance listens on its own
// all along. Hostile instances attack meanwhile. Every call runs under
// a timeout in the language (param call_timeout_ms); one that takes
// longer than that plus a margin is hung. The case fails on any hung
// call, on an acknowledged delivery its receiver never got, or when no
// call succeeded at all; other failures (a set of nodes all down, a
// message that found no listener) are counted by kind.
func churnCase(env *runtime.RunEnv, ic *run.InitContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout(env))
	defer cancel()
	in, err := setup(env, ic)
	if err != nil {
		return err
	}
	if in.node, err = in.startNode(ctx, p2p.WithDHTMode(p2p.DHTOff)); err != nil {
		return err
	}
	if err := in.exchangeRecords(ctx); err != nil {
		return err
	}
	cur := &currentNode{n: in.node}
	defer func() {
		if n := cur.get(); n != nil {
			n.Close()
		}
	}()
	if err := in.trust(in.node); err != nil {
		return err
	}
	if err := in.learnAddrs(in.node); err != nil {
		return err
	}
	if in.hostile {
		return in.runHostile(ctx)
	}
	// The work's code, so that calls to a node that came back sync (or
	// find it kept what it had: the datastore outlives the node).
	if _, err := in.node.Codebase().Add(ctx, "work.u", []byte(workSource)); err != nil {
		return err
	}
	rcv := startReceiver(ctx, cur.get)
	if err := in.barrier(ctx, "ready", env.TestInstanceCount); err != nil {
		return err
	}

	duration := time.Duration(intParam(env, "duration_s", 10)) * time.Second
	timeout := time.Duration(intParam(env, "call_timeout_ms", 3000)) * time.Millisecond
	wctx, stopWork := context.WithTimeout(ctx, duration)
	defer stopWork()
	tally := newCallTally()
	rep := &deliveryReport{From: in.seq}
	churning := in.group == groupChurner
	var wg gosync.WaitGroup
	var churns atomic.Int64
	if churning {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.churn(wctx, cur, &churns)
		}()
	} else {
		others := in.honest()
		for _, op := range []string{"fallback", "race"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for wctx.Err() == nil {
					set := pick(in, others, 3)
					tally.add(in, op, in.callSet(ctx, cur, op, set, timeout))
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			byTarget := map[int64]*targetReport{}
			for seq := int64(1); wctx.Err() == nil; seq++ {
				to := pick(in, others, 1)[0]
				t := byTarget[to.Seq]
				if t == nil {
					t = &targetReport{To: to.Seq, Failures: map[string]int{}}
					byTarget[to.Seq] = t
				}
				s := &sender{node: cur.get, to: to, from: in.seq}
				t0 := time.Now()
				kind := s.deliver(ctx, seq, timeout)
				tally.add(in, "deliver", callOutcome{kind: kind, took: time.Since(t0)})
				t.Attempted++
				if kind == "ok" {
					t.Acked = append(t.Acked, seq)
				} else {
					t.Failures[kind]++
				}
			}
			for _, t := range byTarget {
				rep.To = append(rep.To, *t)
			}
		}()
	}
	wg.Wait()
	if churning {
		in.point("churn_restarts", float64(churns.Load()))
	}
	if err := in.barrier(ctx, "sent", in.honestCount()); err != nil {
		return err
	}
	pause(ctx, 4*in.link.rt()+200*time.Millisecond)
	received := rcv.stop()
	lost, err := in.checkDeliveries(ctx, rep, received, in.honestCount())
	if err != nil {
		return err
	}
	hung, ok := tally.record(in)
	var problems []string
	if hung > 0 {
		problems = append(problems, fmt.Sprintf("%d calls hung past their timeout", hung))
	}
	if lost > 0 {
		problems = append(problems, fmt.Sprintf("%d acknowledged deliveries to this instance were never received", lost))
	}
	if !churning && ok == 0 {
		problems = append(problems, "no call succeeded")
	}
	if err := in.finish(ctx); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("churn: %s", strings.Join(problems, "; "))
	}
	return nil
}

// workSource is the code the churn workload runs remotely.
const workSource = "work n = List.sum (List.map (x -> x * x) (List.range 0 n))\n"

// currentNode is a churner's node, nil while it is down.
type currentNode struct {
	mu gosync.Mutex
	n  *p2p.Node
}

func (c *currentNode) get() *p2p.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *currentNode) set(n *p2p.Node) {
	c.mu.Lock()
	c.n = n
	c.mu.Unlock()
}

// churn closes and restarts the node until ctx ends, up and down for
// random spans (params churn_up_ms and churn_down_ms, the longest), and
// leaves it up.
func (in *instance) churn(ctx context.Context, cur *currentNode, restarts *atomic.Int64) {
	up := time.Duration(intParam(in.env, "churn_up_ms", 2000)) * time.Millisecond
	down := time.Duration(intParam(in.env, "churn_down_ms", 1000)) * time.Millisecond
	span := func(d time.Duration) time.Duration { return d/4 + time.Duration(in.rng.Int64N(int64(d)*3/4+1)) }
	for {
		pause(ctx, span(up))
		if ctx.Err() != nil {
			return
		}
		n := cur.get()
		cur.set(nil)
		n.Close()
		pause(ctx, span(down))
		// Back up even when the workload ended: the others' last
		// deliveries and the checks need it.
		n, err := in.restart()
		for tries := 1; err != nil && tries < 10; tries++ {
			in.env.RecordMessage("restart failed: %v", err)
			time.Sleep(200 * time.Millisecond)
			n, err = in.restart()
		}
		if err != nil {
			in.env.RecordMessage("restart failed for good: %v", err)
			return
		}
		cur.set(n)
		restarts.Add(1)
		if ctx.Err() != nil {
			return
		}
	}
}

// restart starts the node again, as it was.
func (in *instance) restart() (*p2p.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := in.startNode(ctx, p2p.WithDHTMode(p2p.DHTOff))
	if err != nil {
		return nil, err
	}
	if err := in.trust(n); err != nil {
		n.Close()
		return nil, err
	}
	if err := in.learnAddrs(n); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// pick returns k distinct random records of rs (fewer if rs is short).
func pick(in *instance, rs []peerRecord, k int) []peerRecord {
	idx := in.rng.Perm(len(rs))
	out := make([]peerRecord, 0, k)
	for _, i := range idx[:min(k, len(idx))] {
		out = append(out, rs[i])
	}
	return out
}

// callOutcome is one call's kind of outcome and how long it took.
type callOutcome struct {
	kind string
	took time.Duration
	text string // the failure, for the examples of each kind
}

// callSet evaluates `work` through op (fallback or race) over set,
// under timeout.
func (in *instance) callSet(ctx context.Context, cur *currentNode, op string, set []peerRecord, timeout time.Duration) callOutcome {
	nodes := make([]string, len(set))
	for i, r := range set {
		nodes[i] = fmt.Sprintf("Node.fixed %q", r.ID)
	}
	expr := fmt.Sprintf("await! (timeout %d (%s [%s] '(work 1000)))", timeout.Milliseconds(), op, strings.Join(nodes, ", "))
	n := cur.get()
	cctx, cancel := context.WithTimeout(ctx, timeout+hangMargin)
	defer cancel()
	t0 := time.Now()
	res, err := n.Codebase().EvalSource(cctx, "<"+op+">", expr, p2p.Budget{})
	o := callOutcome{took: time.Since(t0)}
	switch {
	case cctx.Err() != nil && ctx.Err() == nil, o.took > timeout+hangMargin:
		o.kind = "hung"
	case ctx.Err() != nil && err != nil:
		o.kind = "canceled" // the workload ended under it
	case err != nil:
		o.kind, o.text = errorKind(err), err.Error()
	case strings.HasPrefix(res.Text, "Left"):
		o.kind = classifyText(res.Text)
		o.text = res.Text
	case res.Text != "Right 332833500":
		o.kind = "wrong-value"
	default:
		o.kind = "ok"
	}
	return o
}

// callTally counts outcomes by operation and kind.
type callTally struct {
	mu       gosync.Mutex
	kinds    map[string]map[string]int
	took     map[string][]time.Duration
	examples map[string]int // failures logged, by op and kind
}

func newCallTally() *callTally {
	return &callTally{kinds: map[string]map[string]int{}, took: map[string][]time.Duration{}, examples: map[string]int{}}
}

func (t *callTally) add(in *instance, op string, o callOutcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := op + "/" + o.kind; o.text != "" && t.examples[k] < 2 {
		t.examples[k]++
		in.env.RecordMessage("%s failed (%s): %.300s", op, o.kind, o.text)
	}
	if t.kinds[op] == nil {
		t.kinds[op] = map[string]int{}
	}
	t.kinds[op][o.kind]++
	if o.kind == "ok" {
		t.took[op] = append(t.took[op], o.took)
	}
}

// record writes the tally to results and returns the hung calls and the
// successful ones.
func (t *callTally) record(in *instance) (hung, ok int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ops := make([]string, 0, len(t.kinds))
	for op := range t.kinds {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		total := 0
		for kind, n := range t.kinds[op] {
			in.point(fmt.Sprintf("churn_calls,op=%s,kind=%s", op, kind), float64(n))
			total += n
		}
		hung += t.kinds[op]["hung"]
		ok += t.kinds[op]["ok"]
		in.point("churn_calls_total,op="+op, float64(total))
		if total > 0 {
			in.point("churn_success_rate,op="+op, float64(t.kinds[op]["ok"])/float64(total))
		}
		for _, d := range t.took[op] {
			in.point("churn_ok_latency_ms,op="+op, ms(d))
		}
	}
	in.point("churn_hung", float64(hung))
	return hung, ok
}
