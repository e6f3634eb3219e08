package eval

import (
	"context"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Benchmarks run the same programs in unode, starlark-go (with a step
// limit set, as unode always counts fuel) and gopher-lua in one `go test
// -bench` run. The unode sub-benchmark runs last and reports how many
// times faster it was than the others (x-vs-starlark, x-vs-lua; above 1
// means unode is faster). Parsing and compiling happen outside the timed
// loops for all three.

const benchUnode = `
fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)

lcg n = let go i s acc = if i == n then acc else go (i + 1) (s * 16807 % 2147483647) (s % 1000000 :: acc) in go 0 42 []

sortLcg n = List.length (List.sort (lcg n))

mapBuild n = Map.size (List.foldl (m i -> Map.insert (i * 7919 % 1000003) i m) Map.empty (List.range 0 n))
`

const benchStarlark = `
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

def lcg(n):
    s = 42
    out = []
    for i in range(n):
        out.append(s % 1000000)
        s = s * 16807 % 2147483647
    return out

def sort_lcg(n):
    return len(sorted(lcg(n)))

def map_build(n):
    d = {}
    for i in range(n):
        d[i * 7919 % 1000003] = i
    return len(d)
`

const benchLua = `
function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

function lcg(n)
  local s = 42
  local out = {}
  for i = 1, n do
    out[i] = s % 1000000
    s = s * 16807 % 2147483647
  end
  return out
end

function sort_lcg(n)
  local t = lcg(n)
  table.sort(t)
  return #t
end

function map_build(n)
  local d = {}
  local c = 0
  for i = 0, n - 1 do
    local k = i * 7919 % 1000003
    if d[k] == nil then c = c + 1 end
    d[k] = i
  end
  return c
end
`

type benchCase struct {
	name     string
	unode    string // expression
	starlark string // expression
	lua      string // statement setting result
	want     int64
}

var benchCases = []benchCase{
	{"Fib27", "fib 27", "fib(27)", "result = fib(27)", 196418},
	{"Sort100k", "sortLcg 100000", "sort_lcg(100000)", "result = sort_lcg(100000)", 100000},
	{"Map100k", "mapBuild 100000", "map_build(100000)", "result = map_build(100000)", 100000},
}

func BenchmarkFib27(b *testing.B)    { runBench(b, benchCases[0]) }
func BenchmarkSort100k(b *testing.B) { runBench(b, benchCases[1]) }
func BenchmarkMap100k(b *testing.B)  { runBench(b, benchCases[2]) }

func runBench(b *testing.B, bc benchCase) {
	var starNs, luaNs float64

	b.Run("starlark", func(b *testing.B) {
		opts := &syntax.FileOptions{Recursion: true}
		_, prog, err := starlark.SourceProgramOptions(opts, "bench.star", benchStarlark+"\nresult = "+bc.starlark+"\n", func(string) bool { return false })
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			th := &starlark.Thread{}
			th.SetMaxExecutionSteps(1 << 40)
			g, err := prog.Init(th, nil)
			if err != nil {
				b.Fatal(err)
			}
			if r, _ := starlark.AsInt32(g["result"]); int64(r) != bc.want {
				b.Fatalf("result %v", g["result"])
			}
		}
		starNs = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})

	b.Run("lua", func(b *testing.B) {
		chunk, err := parse.Parse(strings.NewReader(benchLua+"\n"+bc.lua+"\n"), "bench.lua")
		if err != nil {
			b.Fatal(err)
		}
		proto, err := lua.Compile(chunk, "bench.lua")
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			L := lua.NewState()
			L.SetContext(context.Background())
			L.Push(L.NewFunctionFromProto(proto))
			if err := L.PCall(0, lua.MultRet, nil); err != nil {
				b.Fatal(err)
			}
			if r := L.GetGlobal("result"); r.(lua.LNumber) != lua.LNumber(bc.want) {
				b.Fatalf("result %v", r)
			}
			L.Close()
		}
		luaNs = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})

	b.Run("unode", func(b *testing.B) {
		p := newProgram(b, benchUnode)
		term := compileExpr(b, p.c, bc.unode)
		b.ResetTimer()
		start := time.Now()
		var steps int64
		for i := 0; i < b.N; i++ {
			th := &Thread{Loader: p.store} // default budgets: fuel is counted
			v, err := th.Eval(context.Background(), term)
			if err != nil {
				b.Fatal(err)
			}
			if v != MakeInt(bc.want) {
				b.Fatalf("result %s", Show(v, nil))
			}
			steps = th.Steps()
		}
		ns := float64(time.Since(start).Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(steps), "fuel/op")
		if starNs > 0 {
			b.ReportMetric(starNs/ns, "x-vs-starlark")
		}
		if luaNs > 0 {
			b.ReportMetric(luaNs/ns, "x-vs-lua")
		}
	})
}
