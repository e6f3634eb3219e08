package eval

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/unode-dev/unode/eval/internal/bench"
)

// The interpreter benchmarks run the suite of eval/internal/bench in
// unode (fuel accounting on, default budgets), in gopher-lua (a plain
// lua.NewState(), and one with SetContext, as an embedder that cancels
// scripts needs) and in go.starlark.net (with a step limit set). Each
// b.N iteration is one round that runs every engine once, in an order
// that rotates from round to round, and the benchmark reports the median
// over rounds of each per-round ratio (x-vs-lua = gopher-lua's time /
// unode's time in the same round: above 1 means unode is faster), so
// that load from other processes hits both sides of a ratio alike. ns/op
// is the time of a whole round (all engines) and means little; the
// *-ms metrics are per-engine medians. Run with a fixed number of
// rounds:
//
//	go test ./eval -run '^$' -bench Suite -benchtime 7x

type suiteEngine struct {
	name string
	run  func(p bench.Program, arg any) (int64, error)
}

// unodeSuite compiles suite.u once; each run uses a fresh Thread.
type unodeSuite struct {
	p   *program
	fns map[string]Value
}

func newUnodeSuite(t testing.TB) *unodeSuite {
	u := &unodeSuite{p: newProgram(t, bench.Unode), fns: map[string]Value{}}
	for _, prog := range bench.Programs {
		v, err := u.p.eval(t, nil, prog.Name)
		if err != nil {
			t.Fatal(err)
		}
		u.fns[prog.Name] = v
	}
	return u
}

func (u *unodeSuite) run(p bench.Program, arg any) (int64, error) {
	var a Value
	switch x := arg.(type) {
	case int:
		a = MakeInt(int64(x))
	case string:
		a = Text(x)
	}
	th := &Thread{Loader: u.p.store, Names: u.p.names} // default budgets: fuel is counted
	v, err := th.Call(context.Background(), u.fns[p.Name], a)
	if err != nil {
		return 0, err
	}
	i, ok := v.(Int)
	if !ok {
		return 0, fmt.Errorf("unode %s: result %s", p.Name, Show(v, u.p.names))
	}
	return int64(i), nil
}

func suiteEngines(t testing.TB) []suiteEngine {
	u := newUnodeSuite(t)
	plain, err := bench.NewLuaRunner(false)
	if err != nil {
		t.Fatal(err)
	}
	withCtx, err := bench.NewLuaRunner(true)
	if err != nil {
		t.Fatal(err)
	}
	star, err := bench.NewStarlarkRunner()
	if err != nil {
		t.Fatal(err)
	}
	return []suiteEngine{
		{"unode", u.run},
		{"lua", func(p bench.Program, arg any) (int64, error) { return plain.Run(p.Name, arg) }},
		{"lua-ctx", func(p bench.Program, arg any) (int64, error) { return withCtx.Run(p.Name, arg) }},
		{"starlark", func(p bench.Program, arg any) (int64, error) { return star.Run(p.Name, arg) }},
	}
}

// TestSuiteAnswers checks that the three engines agree on every program
// of the suite at its small size (and on the known answers).
func TestSuiteAnswers(t *testing.T) {
	engines := suiteEngines(t)
	for _, p := range bench.Programs {
		t.Run(p.Name, func(t *testing.T) {
			arg := p.Arg(p.Small)
			var first int64
			for i, e := range engines {
				if e.name == "lua-ctx" {
					continue
				}
				got, err := e.run(p, arg)
				if err != nil {
					t.Fatalf("%s: %v", e.name, err)
				}
				if i == 0 {
					first = got
					if p.WantSmall != 0 && got != p.WantSmall {
						t.Errorf("%s: %d, want %d", e.name, got, p.WantSmall)
					}
				} else if got != first {
					t.Errorf("%s: %d, unode: %d", e.name, got, first)
				}
			}
		})
	}
}

// suiteMedians holds each program's median ratios from BenchmarkSuite,
// for the geometric means its last sub-benchmark reports.
var suiteMedians = map[string]map[string]float64{}

func BenchmarkSuite(b *testing.B) {
	engines := suiteEngines(b)
	for _, p := range bench.Programs {
		b.Run(p.Name, func(b *testing.B) {
			arg := p.Arg(p.Real)
			times := make([][]float64, len(engines))
			var unodeBytes, unodeAllocs, luaBytes, luaAllocs float64
			var ms runtime.MemStats
			for round := 0; round < b.N; round++ {
				var want int64
				for k := range engines {
					i := (k + round) % len(engines)
					e := engines[i]
					runtime.ReadMemStats(&ms)
					bytes0, allocs0 := ms.TotalAlloc, ms.Mallocs
					start := time.Now()
					got, err := e.run(p, arg)
					d := time.Since(start)
					runtime.ReadMemStats(&ms)
					if err != nil {
						b.Fatalf("%s: %v", e.name, err)
					}
					if k > 0 && got != want {
						b.Fatalf("%s: %d, another engine: %d", e.name, got, want)
					}
					want = got
					times[i] = append(times[i], float64(d.Nanoseconds()))
					switch e.name {
					case "unode":
						unodeBytes += float64(ms.TotalAlloc - bytes0)
						unodeAllocs += float64(ms.Mallocs - allocs0)
					case "lua":
						luaBytes += float64(ms.TotalAlloc - bytes0)
						luaAllocs += float64(ms.Mallocs - allocs0)
					}
				}
			}
			ratios := map[string]float64{}
			for i := 1; i < len(engines); i++ {
				rs := make([]float64, b.N)
				for r := range rs {
					rs[r] = times[i][r] / times[0][r]
				}
				ratios[engines[i].name] = bench.Median(rs)
				b.ReportMetric(ratios[engines[i].name], "x-vs-"+engines[i].name)
			}
			for i, e := range engines {
				b.ReportMetric(bench.Median(append([]float64(nil), times[i]...))/1e6, e.name+"-ms")
			}
			n := float64(b.N)
			b.ReportMetric(unodeBytes/n, "unode-B")
			b.ReportMetric(unodeAllocs/n, "unode-allocs")
			b.ReportMetric(luaBytes/n, "lua-B")
			b.ReportMetric(luaAllocs/n, "lua-allocs")
			suiteMedians[p.Name] = ratios
		})
	}
	b.Run("geomean", func(b *testing.B) {
		for _, ref := range []string{"lua", "lua-ctx", "starlark"} {
			var xs []float64
			for _, p := range bench.Programs {
				if p.Name == "fib" || p.Name == "mapInserts" {
					continue // not Benchmarks Game programs
				}
				if r, ok := suiteMedians[p.Name][ref]; ok {
					xs = append(xs, r)
				}
			}
			if len(xs) > 0 {
				b.ReportMetric(bench.GeoMean(xs), "x-vs-"+ref)
			}
		}
	})
}

// BenchmarkSuiteUnode runs only unode's side of the suite, for profiles
// (go test ./eval -run '^$' -bench SuiteUnode/nbody -cpuprofile cpu.out).
func BenchmarkSuiteUnode(b *testing.B) {
	u := newUnodeSuite(b)
	for _, p := range bench.Programs {
		b.Run(p.Name, func(b *testing.B) {
			arg := p.Arg(p.Real)
			b.ReportAllocs()
			for range b.N {
				if _, err := u.run(p, arg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
