package eval_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

const src = `
type Shape = Circle Float | Rect Float Float

area s = match s with
  | Circle r -> 3.0 * r * r
  | Rect w h -> w * h

loop n = loop (n + 1)
`

func ExampleThread_Eval() {
	ctx := context.Background()
	f, err := syntax.ParseFile("shapes.u", []byte(src))
	if err != nil {
		panic(err)
	}
	opts := dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor}
	compiled, err := dag.Compile(f, opts)
	if err != nil {
		panic(err)
	}
	store := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	if err := store.AddBlocks(ctx, compiled.Blocks); err != nil {
		panic(err)
	}

	opts.Lookup = compiled.Lookup
	expr, _ := syntax.ParseExpr("expr", []byte(`List.map area [Circle 1.0, Rect 2.0 3.5]`))
	term, err := dag.CompileExpr(expr, opts)
	if err != nil {
		panic(err)
	}
	th := &eval.Thread{Loader: store}
	v, err := th.Eval(ctx, term)
	fmt.Println(eval.Show(v, nil), err)

	// Budgets: a runaway loop stops with a typed error.
	expr, _ = syntax.ParseExpr("expr", []byte(`loop 0`))
	term, _ = dag.CompileExpr(expr, opts)
	th = &eval.Thread{Loader: store, Fuel: 100_000}
	_, err = th.Eval(ctx, term)
	var be *eval.BudgetError
	fmt.Println(errors.As(err, &be), be.Which, errors.Is(err, eval.ErrBudget))
	// Output:
	// [3.0, 7.0] <nil>
	// true fuel true
}
