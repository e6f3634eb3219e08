package p2p_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
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

// A personal data node grants an insurer read access to its health
// records for an hour; the insurer computes over them remotely, and is
// refused anything else.
func ExampleNode_Grant() {
	ctx := context.Background()
	owner, err := p2p.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer owner.Close()
	insurer, err := p2p.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer insurer.Close()
	if _, err := insurer.Connect(ctx, owner.Addrs()[0].String()); err != nil {
		log.Fatal(err)
	}
	for k, v := range map[string]int64{"health/2026-01-01": 70, "health/2026-01-02": 90, "finance/x": 1} {
		if err := owner.Codebase().DataPut(ctx, k, eval.MakeInt(v)); err != nil {
			log.Fatal(err)
		}
	}

	sb, err := capabilities.ParseSandbox("--allow pure --allow data.read:health/")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := owner.Grant(ctx, capabilities.Claims{Audience: insurer.ID(), Sandbox: sb, Expires: time.Now().Add(time.Hour)}, "insurer")
	if err != nil {
		log.Fatal(err)
	}

	// tok.String() is what the owner hands over; the insurer presents it.
	at := owner.ID().String()
	avg := `let ks = Data.list "health/" in List.sum (List.map (k -> Optional.withDefault 0 (Data.get k)) ks) / List.length ks`
	res, err := insurer.EvalAt(ctx, at, avg, p2p.Budget{}, p2p.WithTokens(tok))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Text)
	_, err = insurer.EvalAt(ctx, at, `Data.get "finance/x"`, p2p.Budget{}, p2p.WithTokens(tok))
	var ce *p2p.CallError
	if errors.As(err, &ce) {
		fmt.Println(ce.Code, ce.Which, ce.Name)
	}
	// Output:
	// 80
	// denied data.read finance/x
}
