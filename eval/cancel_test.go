package eval

import (
	"context"
	"sync"
	"testing"
	"time"
)

// pendingHost answers "fast" at once and leaves every other node's
// future pending until it is canceled, recording the cancellations.
type pendingHost struct {
	mu       sync.Mutex
	canceled []string
}

func (*pendingHost) Here(*Thread) (*Node, error) { return &Node{ID: "me"}, nil }

func (h *pendingHost) Spawn(_ *Thread, n *Node, _ Value) *Future {
	f := NewFuture()
	f.OnCancel(func() {
		h.mu.Lock()
		h.canceled = append(h.canceled, n.ID)
		h.mu.Unlock()
	})
	if n.ID == "fast" || n.ID == "fast2" {
		go func() {
			time.Sleep(time.Millisecond)
			f.Resolve(Text("ok"))
		}()
	}
	return f
}

func (h *pendingHost) waitCanceled(t *testing.T, want int) []string {
	t.Helper()
	for range 5000 {
		h.mu.Lock()
		n := len(h.canceled)
		h.mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.canceled...)
}

func TestRaceCancelsLosers(t *testing.T) {
	h := &pendingHost{}
	th := &Thread{Host: h}
	ns := NewList([]Value{&Node{ID: "slow1"}, &Node{ID: "fast"}, &Node{ID: "slow2"}})
	f, err := th.Call(context.Background(), builtins["race"].value, ns, shareValue())
	if err != nil {
		t.Fatal(err)
	}
	v, err := th.Call(context.Background(), builtins["await"].value, f)
	if err != nil || Show(v, nil) != `"ok"` {
		t.Fatalf("race = %v, %v", v, err)
	}
	got := h.waitCanceled(t, 2)
	if len(got) != 2 {
		t.Fatalf("canceled %v, want slow1 and slow2", got)
	}
	for _, id := range got {
		if id == "fast" {
			t.Errorf("the winner was canceled")
		}
	}
}

func TestQuorumCancelsTheRest(t *testing.T) {
	h := &pendingHost{}
	th := &Thread{Host: h}
	ns := NewList([]Value{&Node{ID: "fast"}, &Node{ID: "slow"}, &Node{ID: "fast2"}})
	f, err := th.Call(context.Background(), builtins["quorum"].value, MakeInt(2), ns, shareValue())
	if err != nil {
		t.Fatal(err)
	}
	v, err := th.Call(context.Background(), builtins["await"].value, f)
	if err != nil || Show(v, nil) != `"ok"` {
		t.Fatalf("quorum = %v, %v", v, err)
	}
	if got := h.waitCanceled(t, 1); len(got) != 1 || got[0] != "slow" {
		t.Fatalf("canceled %v, want [slow]", got)
	}
}

func TestFutureCancel(t *testing.T) {
	calls := 0
	f := NewFuture()
	f.OnCancel(func() { calls++ })
	f.Cancel()
	f.Cancel()
	if _, errv, ok := f.Result(); !ok || Show(errv, nil) != `Msg "canceled"` || calls != 1 {
		t.Fatalf("after Cancel: %v %v, %d calls", errv, ok, calls)
	}
	done := NewFuture()
	done.OnCancel(func() { calls++ })
	done.Resolve(MakeInt(1))
	done.Cancel()
	if v, _, _ := done.Result(); Show(v, nil) != "1" || calls != 1 {
		t.Fatalf("Cancel changed a completed future")
	}
}

type parserHost struct{ asyncHost }

func (parserHost) ParseNode(s string) (*Node, bool) {
	if s == "good" {
		return &Node{ID: "GOOD"}, true
	}
	return nil, false
}

func TestNodeFromText(t *testing.T) {
	for _, tc := range []struct {
		host Host
		text string
		want string
	}{
		{nil, "abc", "Some <node abc>"},
		{nil, "", "None"},
		{nil, "a b", "None"},
		{NewLocalHost("x"), "peer", "Some <node peer>"},
		{parserHost{}, "good", "Some <node GOOD>"},
		{parserHost{}, "bad", "None"},
	} {
		th := &Thread{Host: tc.host}
		v, err := th.Call(context.Background(), builtins["Node.fromText"].value, Text(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if got := Show(v, nil); got != tc.want {
			t.Errorf("Node.fromText %q with %T = %s, want %s", tc.text, tc.host, got, tc.want)
		}
	}
}
