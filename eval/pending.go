package eval

import "weak"

// What an evaluation leaves pending with its host: listeners (listen),
// timers (timeout) and futures it started (at', race, quorum, deliver).
// They hold host resources the memory budget does not see, so they are
// bounded per evaluation (Thread.MaxPending) and released when the
// evaluation ends.

// pendingEffect is a future the evaluation is waiting for, or may.
// release: cancel it when the evaluation ends (listeners and timers,
// which would otherwise wait forever; remote evaluations end on their
// own, with the evaluation's context, and are left alone). A listener is
// held weakly (w, with f nil): a listen whose future became garbage is
// released by its host, and this record must not keep it alive.
type pendingEffect struct {
	f       *Future
	w       weak.Pointer[Future]
	release bool
}

// future returns the effect's future, or nil for a listener collected.
func (p pendingEffect) future() *Future {
	if p.f != nil {
		return p.f
	}
	return p.w.Value()
}

// pending reports whether the effect still holds its place.
func (p pendingEffect) pending() bool {
	f := p.future()
	if f == nil {
		return false
	}
	_, _, done := f.Result()
	return !done
}

func (th *Thread) maxPending() int {
	if th.MaxPending > 0 {
		return th.MaxPending
	}
	return DefaultMaxPending
}

// reservePending fails the evaluation with a "pending" budget error
// unless n more effects fit, first dropping the completed ones: a
// listener that got its message, a listen whose future the collector
// found garbage, or a finished remote call frees its slot.
func (th *Thread) reservePending(n int) {
	limit := th.maxPending()
	if len(th.pending)+n <= limit {
		return
	}
	live := th.pending[:0]
	for _, p := range th.pending {
		if p.pending() {
			live = append(live, p)
		}
	}
	clear(th.pending[len(live):])
	th.pending = live
	if len(th.pending)+n > limit {
		panic(&BudgetError{Which: BudgetPending, Limit: int64(limit)})
	}
}

// trackPending records f (reserved with reservePending) until it
// completes or the evaluation ends.
func (th *Thread) trackPending(f *Future, release bool) {
	if f == nil {
		return
	}
	if _, _, done := f.Result(); done {
		return
	}
	th.pending = append(th.pending, pendingEffect{f: f, release: release})
}

// trackListener records a listen's future (reserved with
// reservePending) weakly, until it completes, becomes garbage or the
// evaluation ends.
func (th *Thread) trackListener(f *Future) {
	if _, _, done := f.Result(); done {
		return
	}
	th.pending = append(th.pending, pendingEffect{w: weak.Make(f), release: true})
}

// PendingEffects reports how many of the listeners, timers and futures
// the evaluation in progress started are still pending.
func (th *Thread) PendingEffects() int {
	n := 0
	for _, p := range th.pending {
		if p.pending() {
			n++
		}
	}
	return n
}

// OnEnd registers fn to run when the evaluation in progress ends (when
// the outermost Eval or Call returns, whether it succeeded, failed, ran
// out of budget or was canceled). Hosts use it to release what an
// evaluation registered with them, such as listeners. fn runs on the
// thread's goroutine, after the evaluation, and must not evaluate on the
// thread. Functions run in the reverse order of registration. Called
// outside an evaluation, fn runs when the next one ends.
func (th *Thread) OnEnd(fn func()) {
	th.onEnd = append(th.onEnd, fn)
}

// end runs when the outermost evaluation ends: it runs the OnEnd
// functions and cancels the listeners and timers still pending.
func (th *Thread) end() {
	fns := th.onEnd
	th.onEnd = nil
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	for _, p := range th.pending {
		if f := p.future(); p.release && f != nil {
			f.Cancel()
		}
	}
	clear(th.pending)
	th.pending = th.pending[:0]
	if cap(th.pending) > 64 {
		th.pending = nil
	}
}
