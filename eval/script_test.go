package eval

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// Script tests: each eval/testdata/*.u file is a program followed by
// expectations written as comments, one per line:
//
//	-- expect: <expression> ==> <value as Show prints it>
//	-- error: <expression> ==> <regexp the error message must match>
//
// and optional directives that set the budgets of every evaluation in
// the file:
//
//	-- fuel: <steps>
//	-- memory: <bytes>
//	-- depth: <units>
//
// The file is parsed with syntax.ParseFile and compiled with dag.Compile
// into an in-memory dag.Store. Each expression is parsed with
// syntax.ParseExpr, compiled with dag.CompileExpr against the file's
// names, and evaluated on a fresh Thread (with a LocalHost named
// "local"), so expectations do not share memoized values or budgets.
// Constructor names in expected values are the file's own.

type scriptCase struct {
	line    int
	expr    string
	want    string
	isError bool
}

type scriptFile struct {
	cases               []scriptCase
	fuel, memory, depth int64
}

func parseScript(t *testing.T, src []byte) scriptFile {
	var sf scriptFile
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "--")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		key, val, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "expect", "error":
			expr, want, ok := strings.Cut(val, "==>")
			if !ok {
				t.Fatalf("line %d: expectation without ==>", n)
			}
			sf.cases = append(sf.cases, scriptCase{line: n, expr: strings.TrimSpace(expr), want: strings.TrimSpace(want), isError: key == "error"})
		case "fuel", "memory", "depth":
			v, err := strconv.ParseInt(strings.ReplaceAll(val, "_", ""), 10, 64)
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			switch key {
			case "fuel":
				sf.fuel = v
			case "memory":
				sf.memory = v
			case "depth":
				sf.depth = v
			}
		}
	}
	return sf
}

// testNames names constructors and definitions from a compiled file.
type testNames struct {
	ctors map[[2]string]string
	defs  map[dag.DefRef]string
}

func newTestNames(entries []dag.NameEntry) *testNames {
	n := &testNames{ctors: map[[2]string]string{}, defs: map[dag.DefRef]string{}}
	for _, e := range entries {
		switch e.Ref.Kind {
		case dag.KindCtor:
			k := [2]string{dag.TypeRef{Def: e.Ref.Def}.String(), strconv.Itoa(e.Ref.Ctor)}
			if old, ok := n.ctors[k]; !ok || len(e.Name) < len(old) {
				n.ctors[k] = e.Name
			}
		case dag.KindTerm:
			n.defs[e.Ref.Def] = e.Name
		}
	}
	return n
}

func (n *testNames) CtorName(t dag.TypeRef, i int) string {
	return n.ctors[[2]string{t.String(), strconv.Itoa(i)}]
}

func (n *testNames) DefName(r dag.DefRef) string { return n.defs[r] }

func compileOptions(lookup func(string) (dag.NameRef, bool)) dag.CompileOptions {
	return dag.CompileOptions{IsBuiltin: IsBuiltin, BuiltinCtor: BuiltinCtor, Lookup: lookup}
}

// loadProgram parses and compiles src into a fresh store.
func loadProgram(t testing.TB, name string, src []byte) (*dag.Store, *dag.Compiled) {
	t.Helper()
	f, err := syntax.ParseFile(name, src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	c, err := dag.Compile(f, compileOptions(nil))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	if err := s.AddBlocks(context.Background(), c.Blocks); err != nil {
		t.Fatalf("add blocks: %v", err)
	}
	return s, c
}

// compileExpr compiles an expression against a program's names.
func compileExpr(t testing.TB, c *dag.Compiled, src string) dag.Term {
	t.Helper()
	e, err := syntax.ParseExpr("expr", []byte(src))
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	term, err := dag.CompileExpr(e, compileOptions(c.Lookup))
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	return term
}

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.u")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.u files")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".u"), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sf := parseScript(t, src)
			if len(sf.cases) == 0 {
				t.Fatal("no expectations")
			}
			store, c := loadProgram(t, file, src)
			names := newTestNames(c.Names)
			for _, tc := range sf.cases {
				term := compileExpr(t, c, tc.expr)
				th := &Thread{Loader: store, Host: NewLocalHost("local"), Names: names,
					Fuel: sf.fuel, MaxMemory: sf.memory, MaxDepth: int(sf.depth)}
				v, err := th.Eval(context.Background(), term)
				switch {
				case tc.isError && err == nil:
					t.Errorf("%s:%d: %s = %s, want an error matching %q", file, tc.line, tc.expr, Show(v, names), tc.want)
				case tc.isError:
					if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
						t.Errorf("%s:%d: %s failed with %q, want an error matching %q", file, tc.line, tc.expr, err, tc.want)
					}
				case err != nil:
					var bt string
					if re, ok := err.(*RuntimeError); ok {
						bt = re.Backtrace()
					}
					t.Errorf("%s:%d: %s: %v\n%s", file, tc.line, tc.expr, err, bt)
				default:
					if got := Show(v, names); got != tc.want {
						t.Errorf("%s:%d: %s\n got: %s\nwant: %s", file, tc.line, tc.expr, got, tc.want)
					}
				}
			}
		})
	}
}
