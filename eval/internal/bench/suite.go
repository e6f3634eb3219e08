package bench

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
	starlarkmath "go.starlark.net/lib/math"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Sources of the suite.
var (
	//go:embed suite.u
	Unode string
	//go:embed suite.lua
	Lua string
	//go:embed suite.star
	Starlark string
)

// Program is one program of the suite: the function Name, in all three
// sources, applied to one argument.
type Program struct {
	Name string
	// Small and Real are the argument sizes of the answer test and of the
	// benchmark; for WordFreq the size is the text's length in bytes.
	Small, Real int
	// WantSmall is the answer at size Small (the same in every engine).
	WantSmall int64
	// Text: the argument is WordText(size) rather than the size.
	Text bool
}

// Programs is the suite.
var Programs = []Program{
	{Name: "binaryTrees", Small: 6, Real: 12, WantSmall: 4398},
	{Name: "nbody", Small: 1000, Real: 10000, WantSmall: -169087605},
	{Name: "spectralNorm", Small: 10, Real: 100, WantSmall: 1271844019},
	{Name: "fannkuch", Small: 7, Real: 8, WantSmall: 228016},
	{Name: "wordFreq", Small: 1 << 12, Real: 1 << 20, WantSmall: 460000027, Text: true},
	{Name: "mapInserts", Small: 1000, Real: 100000, WantSmall: 1000},
	{Name: "fib", Small: 15, Real: 27, WantSmall: 610},
}

// Arg is the program's argument at size n, as a Go value: an int or the
// text.
func (p Program) Arg(n int) any {
	if p.Text {
		return WordText(n)
	}
	return n
}

var textCache = map[int]string{}

// WordText is n bytes of lower-case words separated by spaces and
// newlines, drawn with a skewed distribution from a vocabulary of a few
// thousand words by a fixed LCG, so it is the same on every run.
func WordText(n int) string {
	if s, ok := textCache[n]; ok {
		return s
	}
	const vocab = 4096
	seed := uint64(42)
	next := func() uint64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return seed >> 33
	}
	words := make([]string, vocab)
	for i := range words {
		l := 2 + int(next()%9)
		b := make([]byte, l)
		for j := range b {
			b[j] = byte('a' + next()%26)
		}
		words[i] = string(b)
	}
	var sb strings.Builder
	col := 0
	for sb.Len() < n {
		// Skewed: small indices are much more frequent.
		r := float64(next()%1000000) / 1000000
		w := words[int(math.Pow(r, 3)*vocab)]
		if sb.Len()+len(w)+1 > n {
			break
		}
		sb.WriteString(w)
		col += len(w) + 1
		if col > 70 {
			sb.WriteByte('\n')
			col = 0
		} else {
			sb.WriteByte(' ')
		}
	}
	s := sb.String()
	textCache[n] = s
	return s
}

// LuaRunner runs the suite in gopher-lua.
type LuaRunner struct {
	proto *lua.FunctionProto
	// Context: call SetContext on each state, as an embedder that wants
	// to cancel a script must (it costs Lua a check per instruction).
	Context bool
}

// NewLuaRunner compiles suite.lua.
func NewLuaRunner(withContext bool) (*LuaRunner, error) {
	chunk, err := parse.Parse(strings.NewReader(Lua), "suite.lua")
	if err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, "suite.lua")
	if err != nil {
		return nil, err
	}
	return &LuaRunner{proto: proto, Context: withContext}, nil
}

// Run calls the program on arg in a fresh state.
func (r *LuaRunner) Run(name string, arg any) (int64, error) {
	L := lua.NewState()
	defer L.Close()
	if r.Context {
		L.SetContext(context.Background())
	}
	L.Push(L.NewFunctionFromProto(r.proto))
	if err := L.PCall(0, 0, nil); err != nil {
		return 0, err
	}
	var a lua.LValue
	switch x := arg.(type) {
	case int:
		a = lua.LNumber(x)
	case string:
		a = lua.LString(x)
	}
	if err := L.CallByParam(lua.P{Fn: L.GetGlobal(name), NRet: 1, Protect: true}, a); err != nil {
		return 0, err
	}
	v := L.Get(-1)
	n, ok := v.(lua.LNumber)
	if !ok {
		return 0, fmt.Errorf("lua %s: result %v", name, v)
	}
	return int64(n), nil
}

// StarlarkRunner runs the suite in go.starlark.net with a step limit, as
// the language always counts fuel.
type StarlarkRunner struct {
	prog *starlark.Program
}

var starOpts = &syntax.FileOptions{Recursion: true, While: true}

// NewStarlarkRunner compiles suite.star.
func NewStarlarkRunner() (*StarlarkRunner, error) {
	_, prog, err := starlark.SourceProgramOptions(starOpts, "suite.star", Starlark, starPredeclared.Has)
	if err != nil {
		return nil, err
	}
	return &StarlarkRunner{prog: prog}, nil
}

var starPredeclared = starlark.StringDict{"math": starlarkmath.Module}

// Run calls the program on arg in a fresh thread.
func (r *StarlarkRunner) Run(name string, arg any) (int64, error) {
	th := &starlark.Thread{}
	th.SetMaxExecutionSteps(1 << 40)
	g, err := r.prog.Init(th, starPredeclared)
	if err != nil {
		return 0, err
	}
	var a starlark.Value
	switch x := arg.(type) {
	case int:
		a = starlark.MakeInt(x)
	case string:
		a = starlark.String(x)
	}
	v, err := starlark.Call(th, g[name], starlark.Tuple{a}, nil)
	if err != nil {
		return 0, err
	}
	n, ok := v.(starlark.Int)
	if !ok {
		return 0, fmt.Errorf("starlark %s: result %v", name, v)
	}
	i, ok := n.Int64()
	if !ok {
		return 0, fmt.Errorf("starlark %s: result %v", name, v)
	}
	return i, nil
}

// Median of xs (xs is reordered).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// GeoMean is the geometric mean of xs.
func GeoMean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += math.Log(x)
	}
	return math.Exp(s / float64(len(xs)))
}
