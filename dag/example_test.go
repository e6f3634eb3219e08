package dag_test

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
)

func ExampleEncodeTermBlock() {
	// id x = x
	data, err := dag.EncodeTermBlock(&dag.TermBlock{Members: []dag.Term{
		&dag.Lam{Arity: 1, Body: &dag.Var{Index: 0}},
	}})
	if err != nil {
		panic(err)
	}
	blk := dag.NewBlock(data)
	back, err := dag.DecodeTermBlock(blk.Data)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes, %d member, codec 0x%x\n", len(data), len(back.Members), blk.CID.Prefix().Codec)
	// Output: 39 bytes, 1 member, codec 0x71
}

func ExampleStore_AddBlocks() {
	ctx := context.Background()
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))

	encode := func(t dag.Term) dag.Block {
		data, err := dag.EncodeTermBlock(&dag.TermBlock{Members: []dag.Term{t}})
		if err != nil {
			panic(err)
		}
		return dag.NewBlock(data)
	}
	two := encode(&dag.Int{V: 2})
	double := encode(&dag.Lam{Arity: 1, Body: &dag.App{
		Fn:   &dag.Builtin{Name: "Op.mul"},
		Args: []dag.Term{&dag.Ref{Def: dag.DefRef{CID: two.CID}}, &dag.Var{Index: 0}},
	}})

	// double arrives before what it needs: stored, but not complete.
	_ = s.AddBlocks(ctx, []dag.Block{double})
	missing, _ := s.MissingFrom(ctx, []cid.Cid{double.CID})
	fmt.Println("missing:", len(missing))

	_ = s.AddBlocks(ctx, []dag.Block{two})
	_ = s.MarkComplete(ctx, double.CID)
	ok, _ := s.IsComplete(ctx, double.CID)
	closure, _ := s.ClosureOf(ctx, double.CID)
	fmt.Println("complete:", ok, "closure:", len(closure))
	// Output:
	// missing: 1
	// complete: true closure: 2
}
