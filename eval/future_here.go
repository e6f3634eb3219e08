package eval

import "time"

// ForceHere is what a host does with a thunk sent to its own node
// (at' here, at' (Node.fixed <this node>)): it forces the thunk at once
// on the calling thread, so the result is deterministic and no second
// thread shares the budget, and returns the completed future. It records
// how long the forcing ran, because the future is complete before
// `timeout` sees it: `timeout ms (at' here t)` fails with Timeout when
// forcing t took longer than ms, as it would had t run elsewhere.
func ForceHere(th *Thread, thunk Value) *Future {
	f := NewFuture()
	start := time.Now()
	v, err := th.Force(thunk)
	f.ranFor = time.Since(start)
	if err != nil {
		f.Fail(err)
	} else {
		f.Resolve(v)
	}
	return f
}
