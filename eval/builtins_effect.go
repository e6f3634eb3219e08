package eval

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/unode-dev/unode/dag"
)

// Effects: the seed's Remote API in direct style. Every one goes through
// the thread's Host; with no Host they fail.

func init() {
	def0("here", "The node this code runs on", func(th *Thread) Value {
		n, err := th.host("here").Here(th)
		if err != nil {
			th.failErr(err, "here")
		}
		return n
	}).in("remote")
	def1("Node.fromText", "Node.fromText text: Some node named by a peer ID (or an address ending in /p2p/<peer id>), or None", func(th *Thread, t Value) Value {
		s := th.argText("Node.fromText", t)
		var n *Node
		ok := false
		if p, isParser := th.Host.(NodeParser); isParser {
			n, ok = p.ParseNode(s)
		} else if s != "" && !strings.ContainsAny(s, " \t\r\n") {
			n, ok = &Node{ID: s}, true
		}
		if !ok {
			return noneValue
		}
		th.alloc(sizeNode + int64(len(n.ID)))
		return th.some(n)
	}).in("remote")
	def1(dag.FixedNodeBuiltin, "Node.fixed id: the node with this peer ID; here! in a definition compiles to it, fixed to the node that added the definition. A malformed ID is an error", func(th *Thread, t Value) Value {
		s := th.argText(dag.FixedNodeBuiltin, t)
		var n *Node
		ok := false
		if p, isParser := th.Host.(NodeParser); isParser {
			n, ok = p.ParseNode(s)
		} else if s != "" && !strings.ContainsAny(s, " \t\r\n") {
			n, ok = &Node{ID: s}, true
		}
		if !ok {
			th.fail("%s: %q does not name a node", dag.FixedNodeBuiltin, s)
		}
		th.alloc(sizeNode + int64(len(n.ID)))
		return n
	}).in("remote")
	def2("at", "at node thunk: force thunk at node and wait for the result (a failure is an error)", func(th *Thread, node, thunk Value) Value {
		f := th.spawn("at", node, thunk)
		v, errv := th.await(f)
		if errv != nil {
			th.failFuture(f, "at %s: %s", th.argNode("at", node).ID, Show(errv, th.Names))
		}
		return v
	}).ho().in("remote")
	def2("at'", "at' node thunk: start forcing thunk at node; returns a Future", func(th *Thread, node, thunk Value) Value {
		th.reservePending(1)
		f := th.spawn("at'", node, thunk)
		th.trackPending(f, false)
		return f
	}).ho().in("remote")
	def1("await", "Wait for a Future; a failure is an error", func(th *Thread, fv Value) Value {
		f := th.argFuture("await", fv)
		v, errv := th.await(f)
		if errv != nil {
			th.failFuture(f, "await: %s", Show(errv, th.Names))
		}
		return v
	}).in("remote")
	def1("await!", "Wait for a Future: Right value, or Left Err (Timeout, Msg text, ...)", func(th *Thread, fv Value) Value {
		v, errv := th.await(th.argFuture("await!", fv))
		if errv != nil {
			return th.left(errv)
		}
		return th.right(v)
	}).in("remote")
	def2("timeout", "timeout ms future: a Future that fails with Timeout unless future completes within ms milliseconds", func(th *Thread, ms, fv Value) Value {
		d := th.argInt("timeout", ms)
		f := th.argFuture("timeout", fv)
		dur := time.Duration(math.MaxInt64) // "never", for an absurd ms
		if d < int64(math.MaxInt64/time.Millisecond) {
			dur = time.Duration(max(d, 0)) * time.Millisecond
		}
		if _, _, ok := f.Result(); ok {
			if f.ranFor > dur {
				// Forced here before timeout saw it, for longer than
				// allowed (ForceHere).
				th.alloc(sizeFuture)
				out := NewFuture()
				out.FailWith(errTimeoutValue)
				return out
			}
			return f
		}
		th.reservePending(1)
		th.alloc(sizeFuture)
		out := timeoutOf(f, dur)
		th.trackPending(out, true)
		return out
	}).in("remote")
	def2("fallback", "fallback nodes thunk: try each node in turn until one succeeds; returns a Future", func(th *Thread, nodes, thunk Value) Value {
		ns := th.nodes("fallback", nodes)
		var last *Future
		for _, n := range ns {
			f := th.spawn("fallback", n, thunk)
			_, errv := th.await(f)
			if errv == nil {
				return f
			}
			last = f // failed: the last failure, with its cause
		}
		if last != nil {
			return last
		}
		th.alloc(sizeFuture)
		out := NewFuture()
		out.FailWith(newData1(errMsgCtor, Text("fallback: no nodes")))
		return out
	}).ho().in("remote")
	def2("race", "race nodes thunk: force thunk at every node; the Future of the first success", func(th *Thread, nodes, thunk Value) Value {
		ns := th.nodes("race", nodes)
		th.reservePending(len(ns))
		fs := make([]*Future, len(ns))
		for i, n := range ns {
			fs[i] = th.spawn("race", n, thunk)
			th.trackPending(fs[i], false)
		}
		th.alloc(sizeFuture)
		out := NewFuture()
		if len(fs) == 0 {
			out.FailWith(newData1(errMsgCtor, Text("race: no nodes")))
			return out
		}
		if allComplete(fs) {
			// A local host completes futures at once: decide in list
			// order, deterministically.
			for _, f := range fs {
				if f.err == nil {
					out.Resolve(f.v)
					return out
				}
			}
			out.failAs(fs[len(fs)-1])
			return out
		}
		var mu sync.Mutex
		left := len(fs)
		for _, f := range fs {
			f.whenDone(func() {
				if f.err == nil {
					out.Resolve(f.v)
					cancelAll(fs) // the losers stop, on their nodes too
					return
				}
				mu.Lock()
				left--
				last := left == 0
				mu.Unlock()
				if last {
					out.failAs(f)
				}
			})
		}
		return out
	}).ho().in("remote")
	def3("quorum", "quorum k nodes thunk: force thunk at every node; the Future of the first value k of them agree on", func(th *Thread, kv, nodes, thunk Value) Value {
		k := th.argInt("quorum", kv)
		ns := th.nodes("quorum", nodes)
		th.reservePending(len(ns))
		fs := make([]*Future, len(ns))
		for i, n := range ns {
			fs[i] = th.spawn("quorum", n, thunk)
			th.trackPending(fs[i], false)
		}
		th.alloc(sizeFuture)
		out := NewFuture()
		if k < 1 || int(k) > len(fs) {
			out.FailWith(newData1(errMsgCtor, Text("quorum: cannot reach agreement of "+Show(kv, nil)+" of "+Show(MakeInt(int64(len(fs))), nil)+" nodes")))
			return out
		}
		results := make(chan *Future, len(fs))
		if allComplete(fs) {
			// Decide in list order, deterministically, on the thread:
			// the comparisons are charged to its fuel.
			for _, f := range fs {
				results <- f
			}
			quorumWait(out, int(k), len(fs), results, func(a, b Value) bool { return th.compare(a, b) == 0 })
			return out
		}
		for _, f := range fs {
			f.whenDone(func() { results <- f }) // never blocks: room for all
		}
		go func() {
			// Off the thread: each comparison is bounded by
			// maxCompareWork (Equal) instead of the thread's fuel.
			quorumWait(out, int(k), len(fs), results, func(a, b Value) bool {
				eq, err := Equal(a, b)
				return err == nil && eq
			})
			cancelAll(fs) // decided: the nodes still working stop
		}()
		return out
	}).ho().in("remote")

	def0("channel", "A new channel listened to on this node", func(th *Thread) Value {
		c, err := th.channelHost("channel").NewChannel(th)
		if err != nil {
			th.failErr(err, "channel")
		}
		th.alloc(sizeChannel)
		return c
	}).in("channel")
	def3("send", "send node channel v: send v, unreliably; returns ()", func(th *Thread, node, ch, v Value) Value {
		// Unreliable, but not unchecked: a host refuses a send (a
		// sandbox's target check) by returning a failed future.
		f := th.channelHost("send").Send(th, th.argNode("send", node), th.argChannel("send", ch), v, false)
		if f != nil {
			if _, errv, ok := f.Result(); ok && errv != nil {
				th.failFuture(f, "send: %s", Show(errv, th.Names))
			}
		}
		return UnitValue
	}).in("channel")
	def3("deliver", "deliver node channel v: a Future that resolves to () once a listener took v, or fails", func(th *Thread, node, ch, v Value) Value {
		h, n, c := th.channelHost("deliver"), th.argNode("deliver", node), th.argChannel("deliver", ch)
		th.reservePending(1)
		th.alloc(sizeFuture)
		f := h.Send(th, n, c, v, true)
		th.trackPending(f, false)
		return f
	}).in("channel")
	def1("listen", "listen channel: a Future of the next message on the channel", func(th *Thread, ch Value) Value {
		h, c := th.channelHost("listen"), th.argChannel("listen", ch)
		th.reservePending(1)
		th.alloc(sizeFuture)
		f := h.Listen(th, c)
		th.trackListener(f) // weakly: an abandoned listen is garbage
		return f
	}).in("channel")
	def1("requests", "requests node: the node's well-known request channel (one public ID on every node); only the node's own code may listen on it", func(th *Thread, node Value) Value {
		n := th.argNode("requests", node)
		th.alloc(sizeChannel + int64(len(requestsChannelID)))
		return RequestsChannel(n)
	}).in("channel")

	def1("Cluster.named", "Cluster.named name: the open cluster with this name, which any node may join (unode daemon --cluster NAME)", func(th *Thread, name Value) Value {
		s := th.argText("Cluster.named", name)
		th.alloc(sizeNode + int64(len(s)))
		return &Cluster{Name: s}
	}).in("cluster")
	def2("Cluster.owned", "Cluster.owned owner name: owner's cluster with this name, whose members hold a membership token from owner (cluster.member:NAME)", func(th *Thread, owner, name Value) Value {
		o, s := th.argNode("Cluster.owned", owner), th.argText("Cluster.owned", name)
		th.alloc(sizeNode + int64(len(s)))
		return &Cluster{Name: s, Owner: o}
	}).in("cluster")
	def1("Cluster.members", "Cluster.members cluster: the members that answer and confirm their membership (a List of Node)", func(th *Thread, c Value) Value {
		cl := th.argCluster("Cluster.members", c)
		ns, err := th.clusterHost("Cluster.members").Members(th, cl)
		if err != nil {
			th.failErr(err, "Cluster.members %s", Show(cl, nil))
		}
		th.chargeLen(len(ns))
		l, out := th.makeList(len(ns))
		for i, n := range ns {
			th.poll()
			th.alloc(sizeNode + int64(len(n.ID)))
			out[i] = n
		}
		return l
	}).in("cluster")
	def1("provision", "provision cluster: a member, chosen by load and ping time among those that answer; successive calls spread over equally good members", func(th *Thread, c Value) Value {
		cl := th.argCluster("provision", c)
		n, err := th.clusterHost("provision").Provision(th, cl)
		if err != nil {
			th.failErr(err, "provision %s", Show(cl, nil))
		}
		th.alloc(sizeNode + int64(len(n.ID)))
		return n
	}).in("cluster")
	def2("pingTime", "pingTime a b: round trip time from node a to node b in milliseconds (a Float); a node other than here is asked to measure it, and may refuse", func(th *Thread, a, b Value) Value {
		from, to := th.argNode("pingTime", a), th.argNode("pingTime", b)
		d, err := th.clusterHost("pingTime").PingTime(th, from, to)
		if err != nil {
			th.failErr(err, "pingTime")
		}
		return Float(float64(d) / float64(time.Millisecond))
	}).in("cluster")
	def1("load", "load node: the node's load (0.0 idle, 1.0 busy)", func(th *Thread, n Value) Value {
		l, err := th.clusterHost("load").Load(th, th.argNode("load", n))
		if err != nil {
			th.failErr(err, "load")
		}
		return Float(l)
	}).in("cluster")

	def1("Data.get", "Data.get key: Some value stored under key on this node, or None", func(th *Thread, k Value) Value {
		v, ok, err := th.dataHost("Data.get").DataGet(th, th.argText("Data.get", k))
		if err != nil {
			th.failErr(err, "Data.get")
		}
		if !ok {
			return noneValue
		}
		// The value is new to this evaluation: charge it like an
		// allocation, and check the code it may hold.
		size := valueSize(th, v, th.maxMem-th.mem+1)
		th.charge(size / 64)
		th.alloc(size)
		th.admit(v)
		return th.some(v)
	}).in("data")
	def2("Data.put", "Data.put key value: store value under key on this node", func(th *Thread, k, v Value) Value {
		h, key := th.dataHost("Data.put"), th.argText("Data.put", k)
		// The host stores the value's wire form: charge its size, and
		// refuse a value too big to store, before the host expands it.
		th.chargeWire(v)
		if err := h.DataPut(th, key, v); err != nil {
			th.failErr(err, "Data.put")
		}
		return UnitValue
	}).in("data")
	def1("Data.list", "Data.list prefix: the keys with that prefix, sorted", func(th *Thread, p Value) Value {
		keys, err := th.dataHost("Data.list").DataList(th, th.argText("Data.list", p))
		if err != nil {
			th.failErr(err, "Data.list")
		}
		th.chargeLen(len(keys))
		l, out := th.makeList(len(keys))
		for i, k := range keys {
			th.poll()
			out[i] = th.text(k)
		}
		return l
	}).in("data")
	def1("Data.delete", "Data.delete key: remove the key on this node", func(th *Thread, k Value) Value {
		if err := th.dataHost("Data.delete").DataDelete(th, th.argText("Data.delete", k)); err != nil {
			th.failErr(err, "Data.delete")
		}
		return UnitValue
	}).in("data")
}

// cancelAll cancels the futures still pending.
func cancelAll(fs []*Future) {
	for _, f := range fs {
		f.Cancel()
	}
}

func allComplete(fs []*Future) bool {
	for _, f := range fs {
		if _, _, ok := f.Result(); !ok {
			return false
		}
	}
	return true
}

// quorumWait resolves out with the first value k of the n results agree
// on, or fails it once agreement is impossible.
func quorumWait(out *Future, k, n int, results <-chan *Future, equal func(a, b Value) bool) {
	type group struct {
		v Value
		n int
	}
	var groups []group
	var lastErr Value
	for left := n; left > 0; left-- {
		f := <-results
		if f.err != nil {
			lastErr = f.err
		} else {
			found := false
			for i := range groups {
				if equal(groups[i].v, f.v) {
					groups[i].n++
					found = true
					if groups[i].n >= k {
						out.Resolve(groups[i].v)
						return
					}
					break
				}
			}
			if !found {
				groups = append(groups, group{f.v, 1})
				if k == 1 {
					out.Resolve(f.v)
					return
				}
			}
		}
		best := 0
		for _, g := range groups {
			best = max(best, g.n)
		}
		if best+left-1 < k {
			break
		}
	}
	msg := "quorum: no agreement"
	if lastErr != nil {
		msg += " (last failure: " + Show(lastErr, nil) + ")"
	}
	out.FailWith(newData1(errMsgCtor, Text(msg)))
}

func (th *Thread) host(name string) Host {
	if th.Host == nil {
		th.fail("%s: effects are not available (the thread has no Host)", name)
	}
	return th.Host
}

func (th *Thread) channelHost(name string) ChannelHost {
	h, ok := th.host(name).(ChannelHost)
	if !ok {
		th.fail("%s: this host has no channels", name)
	}
	return h
}

func (th *Thread) dataHost(name string) DataHost {
	h, ok := th.host(name).(DataHost)
	if !ok {
		th.fail("%s: this host has no node data", name)
	}
	return h
}

func (th *Thread) clusterHost(name string) ClusterHost {
	h, ok := th.host(name).(ClusterHost)
	if !ok {
		th.fail("%s: this host has no clusters", name)
	}
	return h
}

func (th *Thread) spawn(name string, node, thunk Value) *Future {
	n := th.argNode(name, node)
	if c, ok := thunk.(*Closure); !ok || c.fc.arity != 0 {
		th.fail("%s: expected a thunk ('expr), got %s", name, describe(thunk))
	}
	h := th.host(name)
	th.alloc(sizeFuture)
	f := h.Spawn(th, n, thunk)
	if f != nil {
		f.sent = thunk
	}
	return f
}

// failFuture raises the runtime error of a failed future, keeping the Go
// error that failed it (if any) as the cause, so that a denial or a
// remote error keeps its type.
func (th *Thread) failFuture(f *Future, format string, args ...any) {
	if e := th.remoteFailure(f); e != nil {
		panic(e)
	}
	panic(&RuntimeError{Msg: fmt.Sprintf(format, args...), Stack: th.backtrace(), Err: f.cause})
}

func (th *Thread) argFuture(name string, v Value) *Future {
	f, ok := v.(*Future)
	if !ok {
		th.fail("%s: expected a Future, got %s", name, describe(v))
	}
	return f
}

func (th *Thread) argCluster(name string, v Value) *Cluster {
	c, ok := v.(*Cluster)
	if !ok {
		th.fail("%s: expected a Cluster, got %s", name, describe(v))
	}
	return c
}

func (th *Thread) argChannel(name string, v Value) *Channel {
	c, ok := v.(*Channel)
	if !ok {
		th.fail("%s: expected a Channel, got %s", name, describe(v))
	}
	return c
}

func (th *Thread) nodes(name string, v Value) []*Node {
	l := th.argList(name, v)
	out := make([]*Node, l.n)
	for i, e := range l.Elems() {
		th.poll()
		out[i] = th.argNode(name, e)
	}
	return out
}

// timeoutOf returns a future completed as f completes, or failed with
// Timeout once dur has passed. No goroutine: a callback on f and a
// timer, both dropped as soon as the result completes (the timeout
// builtin cancels it when the evaluation ends).
func timeoutOf(f *Future, dur time.Duration) *Future {
	out := NewFuture()
	stopF := f.whenDone(func() {
		if f.err != nil {
			out.failAs(f)
		} else {
			out.Resolve(f.v)
		}
	})
	t := time.AfterFunc(dur, func() {
		// A listener is failed first: if a message completed it just
		// before, that message is the answer (through the callback
		// above), and one arriving after finds it done and is not
		// counted as taken (LocalHost.DeliverLocal), so its deliver is
		// told there was no listener rather than acknowledged and lost.
		if f.listener && !f.failFirst(errTimeoutValue) {
			return
		}
		out.FailWith(errTimeoutValue)
	})
	out.whenDone(func() {
		t.Stop()
		stopF()
	})
	return out
}
