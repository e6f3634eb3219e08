package eval

import (
	"context"
	"testing"
)

// deepStacksProgram is a non-tail recursion shaped like the definitions
// of the cold-sync benchmark's depth-1000 chain (p2p, closureSource):
// local bindings, a text literal and a match on the recursive call, so
// that every level holds a frame and a few value slots while the levels
// below run. rep makes the same number of lvl calls at a shallow depth,
// in a tail-recursive loop.
const deepStacksProgram = `
lvl n x = let a = x * 3 + 1; b = if a > 100 then a - 100 else a + 7; label = "level"
  in if n == 0 then b else match lvl (n - 1) (b % 1000) with
    | 0 -> Text.length label
    | m -> if m > 500 then m - 1 else List.sum [m, Text.length label, 2]
rep k n x acc = if k == 0 then acc else rep (k - 1) n x (acc + lvl n x)
`

// A fresh Thread per evaluation, as a node makes one per remote call,
// evaluating a 1,000-deep non-tail recursion (depth=1000), and the same
// 1,000 calls of lvl nested only 10 deep (depth=10x100), the reference:
// what depth=1000 costs beyond it is what deep stacks cost (taking,
// growing, clearing them; B/op shows the growth). Run with -benchmem:
//
//	go test ./eval -run '^$' -bench DeepCallStacks -benchmem
func BenchmarkDeepCallStacks(b *testing.B) {
	p := newProgram(b, deepStacksProgram)
	for _, bc := range []struct {
		name string
		expr string
	}{
		{"depth=1000", "lvl 999 1"},
		{"depth=10x100", "rep 100 9 1 0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			fn, err := p.eval(b, nil, "_ -> "+bc.expr)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			call := func() Value {
				th := &Thread{Loader: p.store, Names: p.names}
				v, err := th.Call(ctx, fn, MakeInt(0))
				if err != nil {
					b.Fatal(err)
				}
				return v
			}
			call() // the definitions' first use
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				call()
			}
		})
	}
}
