package eval

import (
	"context"
	"sync"
	"sync/atomic"
)

// A Meter reads, from another goroutine, the fuel the evaluations started
// under a context have used so far: the CLI's live progress line for a
// long evaluation. A thread publishes its fuel at every periodic check
// (every checkInterval steps), so the figure lags by at most that and
// costs the evaluator nothing per step.
type Meter struct {
	mu  sync.Mutex
	ths []*atomic.Int64
}

type meterKey struct{}

// WithMeter returns ctx with m attached: every outer Thread.Eval or Call
// under the returned context reports its fuel to m.
func WithMeter(ctx context.Context, m *Meter) context.Context {
	return context.WithValue(ctx, meterKey{}, m)
}

func (m *Meter) attach(p *atomic.Int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range m.ths {
		if q == p {
			return
		}
	}
	if len(m.ths) < maxMetered {
		m.ths = append(m.ths, p)
	}
}

// maxMetered bounds the threads one Meter follows (an operation makes a
// few: the evaluation, and those of values it stores).
const maxMetered = 64

// Fuel is the fuel used so far by the evaluations m follows, as of their
// last periodic check; ok is false until one has started.
func (m *Meter) Fuel() (fuel int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.ths {
		fuel += p.Load()
	}
	return fuel, len(m.ths) > 0
}

// meterFrom attaches th's published fuel to the context's Meter, if
// any, and takes the context's trace receiver when th has none.
func (th *Thread) meterFrom(ctx context.Context) {
	if m, ok := ctx.Value(meterKey{}).(*Meter); ok {
		m.attach(&th.published)
	}
	if th.Trace == nil {
		if f, ok := ctx.Value(traceKey{}).(func(label, value string)); ok {
			th.Trace = f
		}
	}
}

type traceKey struct{}

// WithTrace returns ctx with a receiver for Debug.trace: every outer
// Thread.Eval or Call under it whose Thread.Trace is nil sends its traces
// to f (which must be safe for concurrent use: at', race and the like
// run on other threads). The p2p node's own evaluations (unode eval and
// run) get one from the CLI; code another node sent never does.
func WithTrace(ctx context.Context, f func(label, value string)) context.Context {
	return context.WithValue(ctx, traceKey{}, f)
}
