package eval

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/unode-dev/unode/dag"
)

// firstUseSource is a program like the p2p cold-sync benchmark's typical
// closure: defs definitions in depth levels, each calling one of the
// level below, with local bindings, a text literal and a list literal.
func firstUseSource(defs, depth int) (src string, top []string) {
	width := defs / depth
	var b strings.Builder
	for l := 0; l < depth; l++ {
		for j := 0; j < width; j++ {
			name := fmt.Sprintf("d%d_%d", l, j)
			below := fmt.Sprintf("d%d_%d", l-1, (j+l)%width)
			if l == 0 {
				fmt.Fprintf(&b, "%s x = if x < 0 then 0 - x else x * %d + %d\n", name, j+1, l)
			} else {
				fmt.Fprintf(&b, "%s x = let a = x * 3 + %d; b = if a > 100 then a - 100 else a + 7; label = \"level %d, item %d\"\n"+
					"  in match %s (b %% 1000) with\n"+
					"    | 0 -> Text.length label\n"+
					"    | n -> if n > 500 then n - %d else List.sum [n, Text.length label, %d]\n", name, j, l, j, below, l, j)
			}
			if l == depth-1 {
				top = append(top, name)
			}
		}
	}
	return b.String(), top
}

// BenchmarkFirstUse runs, on a fresh sandboxed thread, a thunk that uses
// every definition of a freshly loaded program once: each definition is
// checked, loaded and compiled on its first use (the compiled-definition
// cache is emptied between iterations, untimed), as on a node that has
// just received the code. Warm runs the same thunk with the definitions
// compiled but on a fresh thread, as a warm call does. ns/def and B/def
// are per definition.
func BenchmarkFirstUse(b *testing.B) {
	const ndefs, depth = 1000, 10
	src, top := firstUseSource(ndefs, depth)
	p := newProgram(b, src)
	body := "List.sum [" + strings.Join(func() []string {
		var xs []string
		for _, n := range top {
			xs = append(xs, n+" 1")
		}
		return xs
	}(), ", ") + "]"
	expr := compileExpr(b, p.c, body)
	compile := func(b *testing.B) *Closure {
		fc, err := compileTop(expr)
		if err != nil {
			b.Fatal(err)
		}
		return &Closure{fc: fc}
	}
	ctx := context.Background()
	thread := func() *Thread {
		th := p.thread()
		th.CheckBuiltin = func(string) error { return nil }
		th.CheckDef = func(dag.DefRef) error { return nil }
		return th
	}
	var want string
	run := func(b *testing.B, fn *Closure) {
		v, err := thread().Call(ctx, fn)
		if err != nil {
			b.Fatal(err)
		}
		if got := describe(v); want == "" {
			want = got
		} else if got != want {
			b.Fatalf("got %s, want %s", got, want)
		}
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*ndefs), "ns/def")
	}
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			// The thunk's code holds the definitions it names: it is
			// compiled again against the emptied cache.
			defs.clear()
			fn := compile(b)
			b.StartTimer()
			run(b, fn)
		}
		report(b)
	})
	b.Run("warm", func(b *testing.B) {
		b.ReportAllocs()
		fn := compile(b)
		run(b, fn)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			run(b, fn)
		}
		report(b)
	})
}
