package eval

import (
	"context"
	"errors"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// shipHost runs a spawned thunk as another node would: encoded, decoded,
// and forced on a thread that has the blocks but no names and no
// positions. A runtime error there comes back as shippedError, the way
// p2p.CallError brings the callee's frames.
type shipHost struct {
	loader Loader
	peer   string
}

type shippedError struct {
	re   *RuntimeError
	peer string
}

func (e *shippedError) Error() string { return "at " + e.peer + ": " + e.re.Backtrace() }
func (e *shippedError) RemoteRuntime() (string, []Frame, string, bool) {
	return e.re.Msg, e.re.Frames, e.peer, true
}

func (h *shipHost) Here(*Thread) (*Node, error) { return &Node{ID: h.peer}, nil }

func (h *shipHost) Spawn(th *Thread, node *Node, thunk Value) *Future {
	f := NewFuture()
	w, err := th.ToWire(thunk)
	if err != nil {
		f.Fail(err)
		return f
	}
	b, err := dag.EncodeValue(w)
	if err != nil {
		f.Fail(err)
		return f
	}
	w2, err := dag.DecodeValue(b)
	if err != nil {
		f.Fail(err)
		return f
	}
	v, err := FromWire(w2)
	if err != nil {
		f.Fail(err)
		return f
	}
	callee := &Thread{Loader: h.loader, Host: h}
	r, err := callee.Call(context.Background(), v)
	var re *RuntimeError
	switch {
	case errors.As(err, &re):
		f.Fail(&shippedError{re: re, peer: h.peer})
	case err != nil:
		f.Fail(err)
	default:
		f.Resolve(r)
	}
	return f
}

// A runtime error in code sent with at is reported in the sender's
// source: the definitions the callee ran, the thunk and a lambda it
// captured, each at the position the sender wrote it, then the sender's
// own calls (issue 13). The thunk of main tail-calls g, so it has no
// frame of its own.
func TestRemoteErrorRelocated(t *testing.T) {
	const peer = "12D3KooWCalleeCalleeCallee"
	src := "h x = x + \"one\"\n" +
		"g x = h x * 2\n" +
		"main =\n" +
		"  let k = x -> x ++ 1\n" +
		"  in at here '(g 1) + 0\n" +
		"lam = let k = x -> x ++ 1 in at here '(List.map k [1])\n" +
		"direct = at here '(1 + \"x\")\n"
	f, err := syntax.ParseFile("prog.u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dag.Compile(f, compileOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	if err := s.AddBlocks(context.Background(), c.Blocks); err != nil {
		t.Fatal(err)
	}
	names := &posNames{testNames: newTestNames(c.Names), pos: map[dag.DefRef][]syntax.Pos{}}
	for _, p := range c.Positions {
		names.pos[p.Def] = p.Pos
	}
	for _, tc := range []struct{ def, want string }{
		{"main", "prog.u:1:9: at 12D3…eeCallee: cannot apply + to an Int and a Text\n" +
			"\tin h at prog.u:1:9 (at 12D3…eeCallee)\n" +
			"\tin g at prog.u:2:7 (at 12D3…eeCallee)\n" +
			"\tin main at prog.u:5:6"},
		{"lam", "prog.u:6:22: at 12D3…eeCallee: cannot apply ++ to an Int and an Int\n" +
			"\tin lambda in lam at prog.u:6:22 (at 12D3…eeCallee)\n" +
			"\tin thunk in lam at prog.u:6:40 (at 12D3…eeCallee)\n" +
			"\tin lam at prog.u:6:30"},
		{"direct", "prog.u:7:22: at 12D3…eeCallee: cannot apply + to an Int and a Text\n" +
			"\tin thunk in direct at prog.u:7:22 (at 12D3…eeCallee)\n" +
			"\tin direct at prog.u:7:10"},
	} {
		ref, _ := c.Lookup(tc.def)
		th := &Thread{Loader: s, Host: &shipHost{loader: s, peer: peer}, Names: names}
		_, err := th.Eval(context.Background(), &dag.Ref{Def: ref.Def})
		var re *RuntimeError
		if !errors.As(err, &re) {
			t.Fatalf("%s: err = %v, want a *RuntimeError", tc.def, err)
		}
		if got := re.Backtrace(); got != tc.want {
			t.Errorf("%s: backtrace\n%s\nwant\n%s", tc.def, got, tc.want)
		}
		var se *shippedError
		if !errors.As(err, &se) {
			t.Errorf("%s: the remote error is not kept as the cause", tc.def)
		}
	}
}
