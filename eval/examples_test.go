package eval

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Budgets of the default foreign sandbox (capabilities.DefaultFuel,
// DefaultMemory and DefaultResult; eval cannot import capabilities, and
// TestExampleBudgetsMatchSandbox in capabilities keeps them in step is
// not possible without a cycle, so they are repeated here).
const (
	sandboxFuel   = 10_000_000
	sandboxResult = 1 << 20
)

// TestExamples runs the programs of docs/examples/ as script files (the
// format of TestScripts): each expectation is evaluated on a fresh thread
// under the default foreign sandbox budget (10^7 steps, 64 MiB, a 1 MiB
// result), unless the file sets a budget of its own with a directive
// (-- fuel: N) and says why.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../docs/examples/*.u")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("%d examples in docs/examples, want at least 10", len(files))
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
			fuel, mem := sf.fuel, sf.memory
			if fuel == 0 {
				fuel = sandboxFuel
			}
			if mem == 0 {
				mem = sandboxMemory
			}
			store, c := loadProgram(t, file, src)
			names := newTestNames(c.Names)
			for _, tc := range sf.cases {
				th := &Thread{Loader: store, Host: NewLocalHost("local"), Names: names,
					Fuel: fuel, MaxMemory: mem, MaxDepth: int(sf.depth), MaxResultBytes: sandboxResult}
				v, err := th.Eval(context.Background(), compileExpr(t, c, tc.expr))
				switch {
				case tc.isError && err == nil:
					t.Errorf("%s:%d: %s = %s, want an error matching %q", file, tc.line, tc.expr, Show(v, names), tc.want)
				case tc.isError:
					if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
						t.Errorf("%s:%d: %s failed with %q, want an error matching %q", file, tc.line, tc.expr, err, tc.want)
					}
				case err != nil:
					t.Errorf("%s:%d: %s: %v", file, tc.line, tc.expr, err)
				default:
					if got := Show(v, names); got != tc.want {
						t.Errorf("%s:%d: %s\n got: %s\nwant: %s", file, tc.line, tc.expr, got, tc.want)
					}
				}
				t.Logf("%s: %d steps, %d bytes charged", tc.expr, th.Steps(), th.MemoryUsed())
			}
		})
	}
}
