package eval

import (
	"context"
	"testing"
	"time"
)

// timeout on a thunk sent to this node: the host forces it at once
// (ForceHere), so the future is complete before timeout sees it; timeout
// must still fail it when the forcing took longer than allowed (issue
// 13: `await! (timeout 10 (at' here '(fib 30)))` gave Right 832040).
func TestTimeoutOfHere(t *testing.T) {
	slow := &Closure{fc: &funcCode{arity: 0, body: func(th *Thread, fr *frame) Value {
		time.Sleep(50 * time.Millisecond) // work that outlasts the 1 ms allowed
		return Text("slow")
	}}}
	quick := &Closure{fc: &funcCode{arity: 0, body: func(th *Thread, fr *frame) Value {
		return Text("quick")
	}}}
	// prog ms thunk = await! (timeout ms (at' here thunk)), in one evaluation.
	prog := &Closure{fc: &funcCode{arity: 2, nslots: 2, body: func(th *Thread, fr *frame) Value {
		here := &Node{ID: "me"}
		fut := th.call(builtins["at'"].value, here, fr.slots[1])
		out := th.call(builtins["timeout"].value, fr.slots[0], fut)
		return th.call(builtins["await!"].value, out)
	}}}
	for _, tc := range []struct {
		ms    int64
		thunk Value
		want  string
	}{
		{1, slow, "Left Timeout"},
		{60_000, slow, `Right "slow"`},
		{1, quick, `Right "quick"`},
	} {
		th := &Thread{Host: NewLocalHost("me")}
		v, err := th.Call(context.Background(), prog, MakeInt(tc.ms), tc.thunk)
		if err != nil {
			t.Fatal(err)
		}
		if got := Show(v, nil); got != tc.want {
			t.Errorf("await! (timeout %d (at' here ...)) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}
