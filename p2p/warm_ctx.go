package p2p

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// budgetCtx is the context of one foreign evaluation: its parent's
// values and cancellation, the time budget's deadline, and a cancel of
// its own (the watcher's, and the end of the call). It behaves as
// context.WithDeadline(parent, deadline) does, but costs nothing until
// something waits on it: a warm call's evaluation only polls Err (the
// thread's periodic check), which compares the clock with the deadline,
// so the call arms no timer and registers nothing with its parent (the
// node's context, shared by every evaluation: registering took its lock
// twice a call). The first Done or AfterFunc (an effect that blocks, a
// derived context) builds the equivalent context.WithDeadline, with its
// timer, and everything after that defers to it, so a waiter is woken
// at the deadline, when the parent ends or at cancel, as before.
//
// Err latches the first error it sees: the one the derived context
// reports too (a deadline already past, the parent's error, or
// Canceled), so Err and Done always agree.
type budgetCtx struct {
	parent   context.Context
	deadline time.Time

	err atomic.Pointer[error] // latched: the first non-nil Err

	mu     sync.Mutex // guards building inner
	inner  atomic.Pointer[context.Context]
	cancel context.CancelFunc // inner's

	// watcher, once the evaluation runs on an eval stream, is told of an
	// evaluation that runs long or waits (evalStream.arm).
	watcher atomic.Pointer[evalStream]
}

// init sets c up as a fresh context under parent with deadline d, or
// the parent's if that is earlier (as context.WithDeadline).
func (c *budgetCtx) init(parent context.Context, d time.Time) {
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	c.parent, c.deadline = parent, d
}

func (c *budgetCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *budgetCtx) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	if in := c.inner.Load(); in != nil {
		return c.latch((*in).Err())
	}
	if err := c.parent.Err(); err != nil {
		return c.latch(err)
	}
	now := time.Now()
	if !now.Before(c.deadline) {
		return c.latchPtr(&errDeadline)
	}
	if es := c.watcher.Load(); es != nil && !es.armed.Load() && now.Sub(es.watchFrom) >= watchDelay {
		es.arm() // a long evaluation: watch its stream
	}
	return nil
}

// errCanceled and errDeadline are what latchPtr records for the two
// usual ends, without an allocation each.
var errCanceled, errDeadline error = context.Canceled, context.DeadlineExceeded

// latch records err as the context's error unless one was recorded
// first, and returns the recorded one.
func (c *budgetCtx) latch(err error) error {
	if err == nil {
		return nil
	}
	switch err {
	case context.Canceled:
		return c.latchPtr(&errCanceled)
	case context.DeadlineExceeded:
		return c.latchPtr(&errDeadline)
	}
	return c.latchPtr(&err)
}

func (c *budgetCtx) latchPtr(p *error) error {
	if c.err.CompareAndSwap(nil, p) {
		return *p
	}
	return *c.err.Load()
}

func (c *budgetCtx) Done() <-chan struct{} { return c.materialize().Done() }

// AfterFunc makes context.AfterFunc and derived contexts (WithCancel
// and the like) use the derived context rather than a goroutine each.
func (c *budgetCtx) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(c.materialize(), f)
}

func (c *budgetCtx) Value(key any) any {
	if in := c.inner.Load(); in != nil {
		return (*in).Value(key)
	}
	if c.err.Load() != nil {
		// Ended: context.Cause finds the cause through Value.
		return c.materialize().Value(key)
	}
	return c.parent.Value(key)
}

// materialize returns the context.WithDeadline c stands for, building
// it on first use. What c has already reported, it reports too: a
// deadline already past, the parent's error, or (after cancel) Canceled.
func (c *budgetCtx) materialize() context.Context {
	if in := c.inner.Load(); in != nil {
		return *in
	}
	in, built := c.build()
	if es := c.watcher.Load(); built && es != nil {
		// Something waits on the evaluation: watch its stream. (Not
		// under mu: the watcher holds its stream's lock as it stops c.)
		es.arm()
	}
	return in
}

// build makes the derived context unless another goroutine did first,
// and reports whether it made it.
func (c *budgetCtx) build() (context.Context, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.inner.Load(); in != nil {
		return *in, false
	}
	in, cancel := context.WithDeadline(c.parent, c.deadline)
	if p := c.err.Load(); p != nil && *p == context.Canceled {
		cancel()
	}
	c.cancel = cancel
	c.inner.Store(&in)
	return in, true
}

// stop cancels c (a context.CancelFunc): Err reports Canceled unless it
// reported something else first, and a waiter, if any, is woken.
func (c *budgetCtx) stop() {
	c.latchPtr(&errCanceled)
	// Under mu: a materialize in progress either sets cancel first or
	// sees the latched error and cancels what it builds itself.
	c.mu.Lock()
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (c *budgetCtx) String() string { return "p2p.budgetCtx" }

// A watchTimer starts an eval stream's watcher (evalStream.arm). Its
// timer is made once and reset for each evaluation that needs one, so
// none allocates a timer or a function for it: the timers of calls that
// have ended wait in watchTimers.
type watchTimer struct {
	t  *time.Timer
	es *evalStream // the stream watched; set before each Reset
}

var watchTimers = sync.Pool{New: func() any {
	wt := &watchTimer{}
	wt.t = time.AfterFunc(time.Hour, wt.fire)
	wt.t.Stop()
	return wt
}}

// startWatchTimer arms a timer to run es.watcher after d (at once for
// d <= 0).
func startWatchTimer(es *evalStream, d time.Duration) *watchTimer {
	wt := watchTimers.Get().(*watchTimer)
	wt.es = es
	wt.t.Reset(d)
	return wt
}

// fire runs the watcher of the stream the timer was armed for (the
// Reset that armed it happens before, so es is that stream's).
func (wt *watchTimer) fire() { wt.es.watcher() }

// free gives back a timer that is stopped and whose function, if it
// ran, has returned.
func (wt *watchTimer) free() {
	wt.es = nil
	watchTimers.Put(wt)
}
