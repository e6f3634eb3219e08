package p2p

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// testCtx bounds a test's network work; tests never assert times, the
// bound only keeps a broken test from hanging the run.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestNode(t testing.TB, opts ...Option) *Node {
	t.Helper()
	n, err := New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// connectAll connects every pair of nodes.
func connectAll(t testing.TB, nodes ...*Node) {
	t.Helper()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if _, err := a.Connect(testCtx(t), b.Addrs()[0].String()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func addSource(t testing.TB, n *Node, src string) {
	t.Helper()
	if _, err := n.Codebase().Add(context.Background(), "test.u", []byte(src)); err != nil {
		t.Fatal(err)
	}
}

func nodeValue(n *Node) *eval.Node { return &eval.Node{ID: n.ID().String()} }

// call applies the definition fn of n's namespace to args on n, with the
// node's network host, and returns the value and the sync figures of the
// remote calls it made.
func call(ctx context.Context, n *Node, fn string, args ...eval.Value) (eval.Value, SyncStats, error) {
	ref, ok, err := n.store.LookupName(ctx, fn)
	if err != nil {
		return nil, SyncStats{}, err
	}
	if !ok {
		return nil, SyncStats{}, fmt.Errorf("no %s", fn)
	}
	acc := &syncAccumulator{}
	th := n.cb.newThread(Budget{})
	th.Host = newNetHost(n, acc)
	f, err := th.Eval(ctx, &dag.Ref{Def: ref.Def})
	if err != nil {
		return nil, SyncStats{}, err
	}
	if len(args) == 0 {
		return f, acc.total(), nil
	}
	v, err := th.Call(ctx, f, args...)
	return v, acc.total(), err
}

func show(v eval.Value) string { return eval.Show(v, nil) }

// chainSource is a chain of depth definitions, f0 .. f(depth-1), each
// calling the previous one, and f = the last.
func chainSource(prefix string, depth int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s0 x = x + 1\n", prefix)
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "%s%d x = %s%d (x + %d) * 1\n", prefix, i, prefix, i-1, i)
	}
	return b.String()
}

func memDatastore() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }

// openSandbox lets a peer use pure code, remote evaluation and channels,
// target any node and read all node data, with large budgets.
const openSandbox = "--allow pure --allow remote --allow channel --allow data.read --allow-target any --fuel 1000000000 --memory 1GiB --time 5m --result 4MiB"

// openPolicy gives every peer openSandbox: for the tests of remote
// evaluation itself, whose foreign code uses effects. The security
// defaults are tested in capabilities_test.go.
func openPolicy() *capabilities.Policy {
	sb, err := capabilities.ParseSandbox(openSandbox)
	if err != nil {
		panic(err)
	}
	return &capabilities.Policy{Default: sb}
}

// newOpenNode is newTestNode with openPolicy.
func newOpenNode(t testing.TB, opts ...Option) *Node {
	t.Helper()
	return newTestNode(t, append([]Option{WithPolicy(openPolicy())}, opts...)...)
}
