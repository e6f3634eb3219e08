package p2p

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/unode-dev/unode/eval"
)

// A file added to a codebase keeps its source positions beside the
// blocks, so a runtime error in its code, evaluated later by name or by
// an expression, says where it happened (issue 13).
func TestCodebaseRuntimeErrorPositions(t *testing.T) {
	ctx := context.Background()
	cb := NewCodebase(memDatastore())
	src := "h x = x + \"one\"\ng x = h x * 2\n"
	if _, err := cb.Add(ctx, "prog.u", []byte(src)); err != nil {
		t.Fatal(err)
	}
	_, err := cb.EvalSource(ctx, "<eval>", "1 +\n  g 1", Budget{})
	var re *eval.RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *eval.RuntimeError", err)
	}
	want := "prog.u:1:9: cannot apply + to an Int and a Text\n\tin h at prog.u:1:9\n\tin g at prog.u:2:7\n\tin <expr> at <eval>:2:3"
	if got := re.Backtrace(); got != want {
		t.Errorf("backtrace\n%s\nwant\n%s", got, want)
	}
}

// A runtime error in code sent with at names the caller's source: the
// callee has the blocks, the caller has the positions, and the callee's
// frames come back as definitions, sent code and node numbers that the
// caller's await relocates (issue 13). Through a relay too: A sends a
// thunk to B that sends one to C, and the frames of all three come
// back to A in A's source.
func TestRemoteRuntimeErrorInCallerSource(t *testing.T) {
	ctx := testCtx(t)
	a, b, c := newOpenNode(t), newOpenNode(t), newOpenNode(t)
	connectAll(t, a, b, c)
	src := fmt.Sprintf("h x = x + \"one\"\n"+
		"g x = h x * 2\n"+
		"main = at (Node.fixed %q) '(g 1) + 1\n"+
		"relay = at (Node.fixed %q) '(1 + at (Node.fixed %q) '(g 2))\n"+
		"sent = at (Node.fixed %q) '(1 + at (Node.fixed %q) '(2 * \"x\"))\n",
		b.ID(), b.ID(), c.ID(), b.ID(), c.ID())
	if _, err := a.Codebase().Add(ctx, "prog.u", []byte(src)); err != nil {
		t.Fatal(err)
	}
	sb, sc := eval.ShortPeer(b.ID().String()), eval.ShortPeer(c.ID().String())
	for _, tc := range []struct{ def, want string }{
		{"main", "prog.u:1:9: at " + sb + ": cannot apply + to an Int and a Text\n" +
			"\tin h at prog.u:1:9 (at " + sb + ")\n" +
			"\tin g at prog.u:2:7 (at " + sb + ")\n" +
			"\tin main at prog.u:3:8"},
		// The thunk's frame at B is at its inner at (the +'s second
		// operand): "relay = at (Node.fixed "B") '(1 + at".
		{"relay", "prog.u:1:9: at " + sb + ": at " + sc + ": cannot apply + to an Int and a Text\n" +
			"\tin h at prog.u:1:9 (at " + sc + ")\n" +
			"\tin g at prog.u:2:7 (at " + sc + ")\n" +
			fmt.Sprintf("\tin thunk in relay at prog.u:4:%d (at %s)\n", 34+len(b.ID().String()), sb) +
			"\tin relay at prog.u:4:9"},
		// C's frame is in code B was sent by A, and sent on in turn:
		// B relocates it into A's code, A into its source.
		{"sent", fmt.Sprintf("prog.u:5:%d: at %s: at %s: cannot apply * to an Int and a Text\n", 56+2*len(b.ID().String()), sb, sc) +
			fmt.Sprintf("\tin thunk in sent at prog.u:5:%d (at %s)\n", 56+2*len(b.ID().String()), sc) +
			fmt.Sprintf("\tin thunk in sent at prog.u:5:%d (at %s)\n", 33+len(b.ID().String()), sb) +
			"\tin sent at prog.u:5:8"},
	} {
		_, _, err := call(ctx, a, tc.def)
		var re *eval.RuntimeError
		if !errors.As(err, &re) {
			t.Fatalf("%s: err = %v, want a *eval.RuntimeError", tc.def, err)
		}
		if got := re.Backtrace(); got != tc.want {
			t.Errorf("%s: backtrace\n%s\nwant\n%s", tc.def, got, tc.want)
		}
		var ce *CallError
		if !errors.As(err, &ce) || ce.Code != CodeMsg {
			t.Errorf("%s: the callee's CallError is not kept: %v", tc.def, err)
		}
	}

	// unode eval --at: the expression's own positions and the caller's
	// names.
	_, err := a.EvalAt(ctx, b.ID().String(), "1 +\n  g 1", Budget{})
	var re *eval.RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("EvalAt: err = %v, want a *eval.RuntimeError", err)
	}
	want := "prog.u:1:9: at " + sb + ": cannot apply + to an Int and a Text\n" +
		"\tin h at prog.u:1:9 (at " + sb + ")\n" +
		"\tin g at prog.u:2:7 (at " + sb + ")\n" +
		"\tin <expr> at <eval>:2:3 (at " + sb + ")"
	if got := re.Backtrace(); got != want {
		t.Errorf("EvalAt: backtrace\n%s\nwant\n%s", got, want)
	}
}

// The frames of a wire error are bounded and checked like every other
// field a peer sends.
func TestWireFramesValidated(t *testing.T) {
	node := int64(3)
	ok := WireFrame{Name: "g", Code: make([]byte, eval.SentCodeDigestLen), Node: &node}
	for _, tc := range []struct {
		name string
		e    WireError
		bad  bool
	}{
		{"fine", WireError{Code: "msg", Frames: []WireFrame{ok}, Runtime: "boom"}, false},
		{"not msg", WireError{Code: "timeout", Frames: []WireFrame{ok}}, true},
		{"runtime without frames", WireError{Code: "msg", Runtime: "boom"}, true},
		{"short digest", WireError{Code: "msg", Frames: []WireFrame{{Name: "g", Code: []byte{1}}}}, true},
		{"both", WireError{Code: "msg", Frames: []WireFrame{{Name: "g", Code: ok.Code, Def: []byte{1, 2}}}}, true},
		{"too many", WireError{Code: "msg", Frames: make([]WireFrame, MaxErrorFrames+1)}, true},
		{"long name", WireError{Code: "msg", Frames: []WireFrame{{Name: strings.Repeat("x", MaxErrorFrameName+1)}}}, true},
		{"negative node", WireError{Code: "msg", Frames: []WireFrame{{Name: "g", Node: new(int64(-1))}}}, true},
	} {
		err := tc.e.validate()
		if (err != nil) != tc.bad {
			t.Errorf("%s: validate = %v, want bad=%v", tc.name, err, tc.bad)
		}
	}
	// The innermost frames and the outermost are what is sent of a
	// deep stack.
	frames := make([]eval.Frame, 40)
	for i := range frames {
		frames[i] = eval.Frame{Name: fmt.Sprint("f", i), Node: -1, Calls: 1}
	}
	w := wireFrames(frames)
	if len(w) != MaxErrorFrames || w[0].Name != "f0" || w[len(w)-1].Name != "f39" {
		t.Errorf("wireFrames kept %d frames, %q .. %q", len(w), w[0].Name, w[len(w)-1].Name)
	}
	back := framesFromWire(w)
	if back[0].Name != "f0" || back[0].Node != -1 || back[0].Calls != 1 {
		t.Errorf("framesFromWire: %+v", back[0])
	}
}
