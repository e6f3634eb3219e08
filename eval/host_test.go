package eval

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// asyncHost answers from other goroutines after a per-node delay with a
// per-node result: node "fail" fails, node "slow" takes 200ms, any other
// node answers its own ID after 10ms.
type asyncHost struct{}

func (asyncHost) Here(*Thread) (*Node, error) { return &Node{ID: "me"}, nil }

func (asyncHost) Spawn(_ *Thread, n *Node, _ Value) *Future {
	f := NewFuture()
	go func() {
		switch n.ID {
		case "fail":
			time.Sleep(5 * time.Millisecond)
			f.Fail(errors.New("node failed"))
		case "denied":
			f.Fail(fmt.Errorf("%w: data.read:health/ not granted", ErrDenied))
		case "slow":
			time.Sleep(200 * time.Millisecond)
			f.Resolve(Text(n.ID))
		case "same1", "same2", "same3":
			time.Sleep(5 * time.Millisecond)
			f.Resolve(Text("same"))
		default:
			time.Sleep(10 * time.Millisecond)
			f.Resolve(Text(n.ID))
		}
	}()
	return f
}

func TestAsyncEffects(t *testing.T) {
	// Builtins are called as values, as a host would see them.
	th := &Thread{Host: asyncHost{}}
	// The call and the await are one evaluation: what an evaluation
	// leaves pending (the timer of timeout) ends with it.
	call := func(fn string, args ...Value) string {
		t.Helper()
		v, err := th.Call(context.Background(), callAwait, builtins[fn].value, NewList(args))
		if err != nil {
			return "error: " + err.Error()
		}
		return Show(v, nil)
	}
	ns := func(ids ...string) Value {
		vs := make([]Value, len(ids))
		for i, id := range ids {
			vs[i] = &Node{ID: id}
		}
		return NewList(vs)
	}
	thunk := shareValue()
	for _, tc := range []struct {
		got, want string
	}{
		{call("race", ns("slow", "fast"), thunk), `Right "fast"`},
		{call("race", ns("fail", "slow"), thunk), `Right "slow"`},
		{call("race", ns("fail", "fail"), thunk), `Left (Msg "node failed")`},
		{call("fallback", ns("fail", "b", "c"), thunk), `Right "b"`},
		{call("fallback", ns("fail"), thunk), `Left (Msg "node failed")`},
		{call("fallback", ns(), thunk), `Left (Msg "fallback: no nodes")`},
		{call("quorum", MakeInt(2), ns("same1", "x", "same2"), thunk), `Right "same"`},
		{call("quorum", MakeInt(2), ns("a", "b", "fail"), thunk), `Left (Msg "quorum: no agreement (last failure: Msg \"node failed\")")`},
		{call("at'", &Node{ID: "denied"}, thunk), `Left (Err.Denied "denied: data.read:health/ not granted")`},
		{call("timeout", MakeInt(20), mustSpawn(th, "slow")), `Left Timeout`},
		{call("timeout", MakeInt(1000), mustSpawn(th, "quick")), `Right "quick"`},
		{call("at", &Node{ID: "fail"}, thunk), `error: at fail: Msg "node failed" (in at)`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

// callAwait f args applies f to the list args and await!s a Future
// result, in one evaluation.
var callAwait = &Closure{fc: &funcCode{arity: 2, nslots: 2, body: func(th *Thread, fr *frame) Value {
	v := th.call(fr.slots[0], th.argList("callAwait", fr.slots[1]).Elems()...)
	if fut, ok := v.(*Future); ok {
		v, errv := th.await(fut)
		if errv != nil {
			return th.left(errv)
		}
		return th.right(v)
	}
	return v
}}}

func mustSpawn(th *Thread, id string) Value {
	return asyncHost{}.Spawn(th, &Node{ID: id}, shareValue())
}

func TestErrValue(t *testing.T) {
	for err, want := range map[error]string{
		ErrTimeout:                                       "Timeout",
		fmt.Errorf("x: %w", ErrTimeout):                  "Timeout",
		fmt.Errorf("%w: health/", ErrDenied):             `Err.Denied "denied: health/"`,
		&BudgetError{Which: BudgetFuel, Limit: 10}:       `Err.BudgetExceeded "fuel"`,
		fmt.Errorf("%w: #bafy", ErrMissing):              `Err.Missing "missing: #bafy"`,
		&RuntimeError{Msg: "boom", Stack: []string{"f"}}: `Msg "boom"`,
		errors.New("other"):                              `Msg "other"`,
	} {
		if got := Show(ErrValue(err), nil); got != want {
			t.Errorf("ErrValue(%v) = %s, want %s", err, got, want)
		}
	}
}
