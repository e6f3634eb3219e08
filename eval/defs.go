package eval

import (
	"sync"

	"github.com/unode-dev/unode/dag"
)

// defRegistry is the process's definitions by reference (defFor): one
// defCode per DefRef, so that a definition is compiled once however
// many threads, nodes and compiled callers use it. It is bounded
// (maxDefEntries entries, maxDefWeight term nodes of compiled code):
// definitions come from peers, and without a bound every definition a
// node was ever sent would stay compiled in memory after its blocks had
// left the store. Past a bound an entry is evicted in CLOCK order (one
// used since the hand last passed is spared once). An evicted defCode
// stays valid for whatever holds it (compiled callers, values, running
// threads) and is garbage once they let go; the next defFor of its
// reference makes a new one, which compiles again on first use.
type defRegistry struct {
	mu     sync.RWMutex
	m      map[dag.DefRef]*defCode
	ring   []*defCode // the entries, in the hand's order
	hand   int
	weight int64 // the entries' compiled weights (defCode.weight)
	// The bounds (maxDefEntries and maxDefWeight for the process's).
	maxEntries int
	maxWeight  int64
}

func newDefRegistry(maxEntries int, maxWeight int64) *defRegistry {
	return &defRegistry{m: map[dag.DefRef]*defCode{}, maxEntries: maxEntries, maxWeight: maxWeight}
}

var defs = newDefRegistry(maxDefEntries, maxDefWeight)

func defFor(ref dag.DefRef) *defCode { return defs.get(ref) }

// get returns ref's defCode, made and entered if there is none.
func (r *defRegistry) get(ref dag.DefRef) *defCode {
	r.mu.RLock()
	d := r.m[ref]
	r.mu.RUnlock()
	if d != nil {
		d.used.Store(true)
		return d
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.m[ref]; d != nil {
		return d
	}
	d = &defCode{ref: ref, slot: -1}
	for len(r.ring) >= r.maxEntries {
		r.evictLocked()
	}
	d.slot = len(r.ring)
	r.ring = append(r.ring, d)
	r.m[ref] = d
	return d
}

// compiled charges d's compiled code, weight term nodes, to the
// registry, evicting entries past maxWeight (d, just used, is spared
// by the hand's first pass).
func (r *defRegistry) compiled(d *defCode, weight int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.slot < 0 || r.ring[d.slot] != d {
		return // evicted while it compiled: nothing to charge
	}
	d.weight = weight
	r.weight += weight
	d.used.Store(true)
	for r.weight > r.maxWeight && len(r.ring) > 1 {
		r.evictLocked()
	}
}

// evictLocked removes one entry: the first at or after the hand that
// has not been used since the hand last passed it. The last entry
// moves into the evicted one's slot.
func (r *defRegistry) evictLocked() {
	for {
		if r.hand >= len(r.ring) {
			r.hand = 0
		}
		d := r.ring[r.hand]
		if d.used.Swap(false) {
			r.hand++
			continue
		}
		last := len(r.ring) - 1
		r.ring[r.hand] = r.ring[last]
		r.ring[r.hand].slot = r.hand
		r.ring[last] = nil
		r.ring = r.ring[:last]
		delete(r.m, d.ref)
		r.weight -= d.weight
		d.slot = -1
		return
	}
}

// len is how many definitions the registry holds, and their weight.
func (r *defRegistry) len() (int, int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.ring), r.weight
}

// clear empties the registry (tests and benchmarks of first use).
func (r *defRegistry) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.ring {
		d.slot = -1
	}
	clear(r.m)
	r.ring, r.hand, r.weight = nil, 0, 0
}
