package p2p_test

import (
	"context"
	"fmt"
	"log"

	"github.com/unode-dev/unode/p2p"
)

// Two nodes in one process: alice defines some code and evaluates an
// expression at bob, who receives the definitions he lacks (one extra
// round trip), then nothing the second time.
func ExampleNew() {
	ctx := context.Background()
	alice, err := p2p.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	bob, err := p2p.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	if _, err := alice.Connect(ctx, bob.Addrs()[0].String()); err != nil {
		log.Fatal(err)
	}

	src := "square x = x * x\nsumSquares n = List.sum (List.map square (List.range 1 (n + 1)))\n"
	if _, err := alice.Codebase().Add(ctx, "lib.u", []byte(src)); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		res, err := alice.EvalAt(ctx, bob.ID().String(), "sumSquares 10", p2p.Budget{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (blocks sent: %d, extra round trips: %d)\n", res.Text, res.Sync.Blocks, res.Sync.RoundTrips)
	}
	// Output:
	// 385 (blocks sent: 2, extra round trips: 1)
	// 385 (blocks sent: 0, extra round trips: 0)
}
