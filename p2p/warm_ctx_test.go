package p2p

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/unode-dev/unode/dag"
)

// closedWithin reports whether ch is closed within a generous bound (a
// guard against hanging, not a timing assertion).
func closedWithin(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

func newBudgetCtx(parent context.Context, d time.Duration) *budgetCtx {
	c := new(budgetCtx)
	c.init(parent, time.Now().Add(d))
	return c
}

// budgetCtx behaves as context.WithDeadline: the deadline, the parent's
// end and stop each end it, with Err and Done in agreement, whether or
// not anything waited on it before.
func TestBudgetCtxEnds(t *testing.T) {
	type key struct{}
	parentOf := func() (context.Context, context.CancelFunc) {
		return context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	}
	for _, waitFirst := range []bool{false, true} {
		sfx := "/polled"
		if waitFirst {
			sfx = "/waited-on"
		}
		t.Run("deadline"+sfx, func(t *testing.T) {
			p, cancel := parentOf()
			defer cancel()
			c := newBudgetCtx(p, 20*time.Millisecond)
			defer c.stop()
			if d, ok := c.Deadline(); !ok || d != c.deadline {
				t.Fatalf("Deadline() = %v, %v", d, ok)
			}
			if c.Value(key{}) != "v" {
				t.Fatal("the parent's value is not seen")
			}
			var done <-chan struct{}
			if waitFirst {
				done = c.Done()
			} else {
				for c.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				done = c.Done()
			}
			if !closedWithin(done) {
				t.Fatal("Done not closed after the deadline")
			}
			if !errors.Is(c.Err(), context.DeadlineExceeded) {
				t.Fatalf("Err() = %v, want DeadlineExceeded", c.Err())
			}
			cancel()
			c.stop()
			if !errors.Is(c.Err(), context.DeadlineExceeded) {
				t.Fatalf("after the parent's end and stop, Err() = %v: it must stay the first error", c.Err())
			}
		})
		t.Run("stop"+sfx, func(t *testing.T) {
			p, cancel := parentOf()
			defer cancel()
			c := newBudgetCtx(p, time.Hour)
			var done <-chan struct{}
			if waitFirst {
				done = c.Done()
			}
			var ran sync.WaitGroup
			ran.Add(1)
			child, childCancel := context.WithCancel(c)
			defer childCancel()
			context.AfterFunc(c, ran.Done)
			if c.Err() != nil {
				t.Fatalf("Err() = %v before the end", c.Err())
			}
			c.stop()
			if !errors.Is(c.Err(), context.Canceled) {
				t.Fatalf("Err() = %v, want Canceled", c.Err())
			}
			if done == nil {
				done = c.Done()
			}
			if !closedWithin(done) || !closedWithin(child.Done()) {
				t.Fatal("stop did not end waiters and derived contexts")
			}
			ran.Wait()
			if cause := context.Cause(c); !errors.Is(cause, context.Canceled) {
				t.Fatalf("Cause = %v", cause)
			}
			if c.Value(key{}) != "v" {
				t.Fatal("the parent's value is not seen after the end")
			}
		})
		t.Run("parent"+sfx, func(t *testing.T) {
			p, cancel := parentOf()
			c := newBudgetCtx(p, time.Hour)
			defer c.stop()
			var done <-chan struct{}
			if waitFirst {
				done = c.Done()
			}
			cancel()
			if !errors.Is(c.Err(), context.Canceled) {
				t.Fatalf("Err() = %v, want the parent's Canceled", c.Err())
			}
			if done == nil {
				done = c.Done()
			}
			if !closedWithin(done) {
				t.Fatal("Done not closed when the parent ended")
			}
		})
	}
}

// A parent's earlier deadline is the context's, as with WithDeadline.
func TestBudgetCtxParentDeadline(t *testing.T) {
	p, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newBudgetCtx(p, time.Hour)
	defer c.stop()
	pd, _ := p.Deadline()
	if d, _ := c.Deadline(); !d.Equal(pd) {
		t.Fatalf("Deadline() = %v, want the parent's %v", d, pd)
	}
	c2 := newBudgetCtx(p, time.Millisecond)
	defer c2.stop()
	if d, _ := c2.Deadline(); !d.Before(pd) {
		t.Fatalf("Deadline() = %v, want its own, before %v", d, pd)
	}
}

// Done asked for while stop runs: every waiter is woken.
func TestBudgetCtxStopRacesDone(t *testing.T) {
	for range 200 {
		c := newBudgetCtx(context.Background(), time.Hour)
		var wg sync.WaitGroup
		chans := make([]<-chan struct{}, 4)
		for i := range chans {
			wg.Add(1)
			go func() {
				defer wg.Done()
				chans[i] = c.Done()
			}()
		}
		c.stop()
		wg.Wait()
		for _, ch := range chans {
			if !closedWithin(ch) {
				t.Fatal("a Done channel made while stopping stayed open")
			}
		}
	}
}

// linkless holds for exactly the values whose links are none.
func TestLinklessHasNoLinks(t *testing.T) {
	for _, w := range []dag.Value{&dag.VInt{V: 1}, &dag.VFloat{V: 1.5}, &dag.VText{V: "x"}, &dag.VBool{V: true}, &dag.VBytes{V: []byte{1}}, &dag.VUnit{}} {
		if !linkless(w) {
			t.Errorf("%T: not linkless", w)
		}
		if ls := dag.ValueLinks(w); len(ls) != 0 {
			t.Errorf("%T: linkless, but links %v", w, ls)
		}
	}
	if linkless(&dag.VTuple{Elems: []dag.Value{&dag.VInt{V: 1}}}) {
		t.Error("a tuple is not a scalar")
	}
}

// A store ID read twice is one string; bytes that are not UTF-8 are
// refused however the table is filled.
func TestStoreTextInterned(t *testing.T) {
	enc := func(s string) []byte { return append([]byte{0x60 | byte(len(s))}, s...) }
	read := func(b []byte) (string, bool) {
		r := &fastReader{data: b}
		s := r.storeText()
		return s, !r.bad && r.pos == len(b)
	}
	a, ok1 := read(enc("store-id-123"))
	b, ok2 := read(enc("store-id-123"))
	if !ok1 || !ok2 || a != "store-id-123" || b != a {
		t.Fatalf("read %q, %q (%v, %v)", a, b, ok1, ok2)
	}
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("the second read copied the text again")
	}
	bad := enc("store-id-12\xff")
	for range 2 {
		if s, ok := read(bad); ok {
			t.Fatalf("invalid UTF-8 read as %q", s)
		}
	}
}

// An evaluation that computes without ever waiting is watched too: its
// thread's periodic check arms the watcher once it has run for
// watchDelay, and the caller's cancel (a reset) ends it.
func TestCancelReachesComputingCallee(t *testing.T) {
	ctx := testCtx(t)
	a, c := newTestNode(t), newTestNode(t)
	pol := c.Policy()
	if err := pol.SetSandbox("friend", mustSandbox(t, "--allow pure --fuel 1000000000000 --memory 16MiB --time 10m --result 64KiB")); err != nil {
		t.Fatal(err)
	}
	if err := pol.SetPeer(a.ID(), "friend"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPolicy(pol); err != nil {
		t.Fatal(err)
	}
	connectAll(t, a, c)
	addSource(t, a, "spin n = if n == 0 then 0 else spin (n - 1)\n")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := a.EvalAt(cctx, c.ID().String(), "spin 1000000000000", Budget{})
		errc <- err
	}()
	var early error
	waitFor(t, "the callee to start evaluating", func() bool {
		select {
		case early = <-errc:
			t.Fatalf("the call ended before it was canceled: %v", early)
		default:
		}
		return c.ForeignStats().Running == 1
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("EvalAt after cancel: %v", err)
	}
	waitFor(t, "the callee to cancel", func() bool { return c.ForeignStats().Canceled == 1 })
	if st := c.ForeignStats(); st.Running != 0 || st.Failed != 0 {
		t.Errorf("callee's stats %+v", st)
	}
}
