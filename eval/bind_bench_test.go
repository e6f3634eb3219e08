package eval

import (
	"context"
	"testing"
)

// Benchmarks of the work issue 7 made bind as it goes: structural
// comparison, sorting with the general comparison, and encoding.

func pairList(n int) *List {
	vs := make([]Value, n)
	for i := range vs {
		k := MakeInt(int64(i * 7919 % 1000003))
		vs[i] = newTuple2(k, NewList([]Value{k}))
	}
	return NewList(vs)
}

func BenchmarkEqualPairs100k(b *testing.B) {
	xs, ys := pairList(100_000), pairList(100_000)
	eq := builtins["Op.eq"].value
	b.ResetTimer()
	for range b.N {
		th := &Thread{}
		if v, err := th.Call(context.Background(), eq, xs, ys); err != nil || v != True {
			b.Fatal(v, err)
		}
	}
}

func BenchmarkSortPairs100k(b *testing.B) {
	xs := pairList(100_000)
	sort := builtins["List.sort"].value
	b.ResetTimer()
	for range b.N {
		th := &Thread{}
		if _, err := th.Call(context.Background(), sort, xs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToWirePairs100k(b *testing.B) {
	xs := pairList(100_000)
	b.ResetTimer()
	for range b.N {
		if _, err := ToWire(xs); err != nil {
			b.Fatal(err)
		}
	}
}
