package eval

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/unode-dev/unode/dag"
)

// memLoader is a Loader over hand-built terms.
type memLoader map[dag.DefRef]dag.Term

func (m memLoader) LoadTerm(_ context.Context, ref dag.DefRef) (dag.Term, error) {
	t, ok := m[ref]
	if !ok {
		return nil, fmt.Errorf("no definition %s", ref)
	}
	return t, nil
}

func testCID(name string) cid.Cid {
	h, err := mh.Sum([]byte(name), mh.SHA2_256, -1)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(0x71, h)
}

func testRef(name string) dag.DefRef { return dag.DefRef{CID: testCID(name)} }

// Term constructors for hand-built tests.
func tv(i int) dag.Term       { return &dag.Var{Index: i} }
func ti(v int64) dag.Term     { return &dag.Int{V: v} }
func tb(name string) dag.Term { return &dag.Builtin{Name: name} }
func tapp(f dag.Term, args ...dag.Term) dag.Term {
	return &dag.App{Fn: f, Args: args}
}
func top(name string, a, b dag.Term) dag.Term { return tapp(tb("Op."+name), a, b) }
func tlam(n int, body dag.Term) dag.Term      { return &dag.Lam{Arity: n, Body: body} }
func tself() dag.Term                         { return &dag.Self{} }
func tref(r dag.DefRef) dag.Term              { return &dag.Ref{Def: r} }

// fibTerm is fib n = if n < 2 then n else fib (n - 1) + fib (n - 2).
func fibTerm() dag.Term {
	return tlam(1, &dag.If{
		Cond: top("lt", tv(0), ti(2)),
		Then: tv(0),
		Else: top("add", tapp(tself(), top("sub", tv(0), ti(1))), tapp(tself(), top("sub", tv(0), ti(2)))),
	})
}
