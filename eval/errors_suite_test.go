package eval

import (
	"context"
	"errors"
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

// The error suite, after starlark-go's chunked files: each
// eval/testdata/errors/*.u is a series of programs separated by lines
// holding only "---". A program that must fail marks the line of the
// failure with a comment
//
//	-- ### "regexp"
//
// and the whole error text (every parse error, or a runtime error's
// Backtrace) must match the regexp and name that line as file:LINE:col.
// The chunk is parsed, compiled and, when it compiles, its main is
// evaluated. Line numbers are those of the whole file: each chunk is
// padded with the blank lines before it.

type errorChunk struct {
	src     string
	line    int    // line of the ### mark
	pattern string // the expected-error regexp
}

// The text between the quotes is the regexp as written (up to the last
// quote on the line), as in starlark-go's chunkedfile.
var wantErrorRE = regexp.MustCompile(`###\s*"(.*)"`)

func splitErrorChunks(t *testing.T, src string) []errorChunk {
	var chunks []errorChunk
	var cur []string
	start := 0
	flush := func() {
		c := errorChunk{src: strings.Repeat("\n", start) + strings.Join(cur, "\n") + "\n"}
		for i, l := range cur {
			if m := wantErrorRE.FindStringSubmatch(l); m != nil {
				if c.pattern != "" {
					t.Fatalf("line %d: one expected error per chunk", start+i+1)
				}
				if _, err := regexp.Compile(m[1]); err != nil {
					t.Fatalf("line %d: %v", start+i+1, err)
				}
				c.pattern, c.line = m[1], start+i+1
			}
		}
		chunks = append(chunks, c)
	}
	for i, l := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		if strings.TrimSpace(l) == "---" {
			flush()
			cur, start = nil, i+1
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return chunks
}

// runErrorChunk returns the error text of a chunk, or "" if it runs.
func runErrorChunk(file, src string) string {
	f, err := syntax.ParseFile(file, []byte(src))
	if err != nil {
		return err.Error()
	}
	c, err := dag.Compile(f, compileOptions(nil))
	if err != nil {
		return err.Error()
	}
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	if err := s.AddBlocks(context.Background(), c.Blocks); err != nil {
		return "add blocks: " + err.Error()
	}
	ref, ok := c.Lookup("main")
	if !ok {
		return "no main"
	}
	names := &posNames{testNames: newTestNames(c.Names), pos: map[dag.DefRef][]syntax.Pos{}}
	for _, p := range c.Positions {
		names.pos[p.Def] = p.Pos
	}
	th := &Thread{Loader: s, Host: NewLocalHost("local"), Names: names, Fuel: 1e7}
	if _, err := th.Eval(context.Background(), &dag.Ref{Def: ref.Def}); err != nil {
		var re *RuntimeError
		if errors.As(err, &re) {
			return re.Backtrace()
		}
		return err.Error()
	}
	return ""
}

// posNames adds the compiled file's positions to testNames.
type posNames struct {
	*testNames
	pos map[dag.DefRef][]syntax.Pos
}

func (n *posNames) DefPositions(r dag.DefRef) []syntax.Pos { return n.pos[r] }

func TestErrorSuite(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.u")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/errors/*.u files (%v)", err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range splitErrorChunks(t, string(src)) {
			got := runErrorChunk(file, c.src)
			switch {
			case c.pattern == "" && got != "":
				t.Errorf("%s: unexpected error:\n%s", file, got)
			case c.pattern == "":
			case got == "":
				t.Errorf("%s:%d: no error, want one matching %q", file, c.line, c.pattern)
			case !regexp.MustCompile(c.pattern).MatchString(got):
				t.Errorf("%s:%d: error\n%s\ndoes not match %q", file, c.line, got, c.pattern)
			case !strings.Contains(got, file+":"+strconv.Itoa(c.line)+":"):
				t.Errorf("%s:%d: error\n%s\ndoes not name line %d", file, c.line, got, c.line)
			}
		}
	}
}

// An expression evaluated with its positions (as `unode eval` would)
// reports them, named after its file ("<eval>" here).
func TestExprPositions(t *testing.T) {
	e, err := syntax.ParseExpr("<eval>", []byte("1 +\n  (2 * \"x\")"))
	if err != nil {
		t.Fatal(err)
	}
	term, pos, err := dag.CompileExprPositions(e, compileOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	th := &Thread{ExprPositions: pos}
	_, err = th.Eval(context.Background(), term)
	var re *RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *RuntimeError", err)
	}
	if got, want := re.Error(), `<eval>:2:6: cannot apply * to an Int and a Text (in <expr>)`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if re.Pos.Line != 2 || re.Pos.Col != 6 || len(re.Frames) != 1 || re.Frames[0].Pos != re.Pos {
		t.Errorf("Pos %v, Frames %+v", re.Pos, re.Frames)
	}
	// Without positions the error is what it always was.
	_, err = (&Thread{}).Eval(context.Background(), term)
	if got, want := err.Error(), `cannot apply * to an Int and a Text (in <expr>)`; got != want {
		t.Errorf("without positions: %q, want %q", got, want)
	}
}

// Positions stay outside the hashed blocks: the same definitions written
// at other lines and columns have the same CIDs, and only their position
// tables differ.
func TestPositionsDoNotChangeCIDs(t *testing.T) {
	a := "f x = x + 1\ng y = f y * 2\n"
	b := "\n\n  -- moved\ng   y =\n  f y  *  2\nf x =    x + 1\n"
	compile := func(src string) *dag.Compiled {
		f, err := syntax.ParseFile("p.u", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		c, err := dag.Compile(f, compileOptions(nil))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, cb := compile(a), compile(b)
	ga, _ := ca.Lookup("g")
	gb, _ := cb.Lookup("g")
	if ga != gb {
		t.Fatalf("g hashes differently when moved: %v vs %v", ga, gb)
	}
	posOf := func(c *dag.Compiled, r dag.DefRef) []syntax.Pos {
		for _, p := range c.Positions {
			if p.Def == r {
				return p.Pos
			}
		}
		return nil
	}
	pa, pb := posOf(ca, ga.Def), posOf(cb, gb.Def)
	if len(pa) == 0 || len(pa) != len(pb) {
		t.Fatalf("position tables %v and %v", pa, pb)
	}
	// The call of f: line 2 col 7 in a, line 5 col 3 in b; the "*" at
	// 2:11 and 5:8.
	var la, lb []string
	for i := range pa {
		if pa[i].Line != 0 {
			la = append(la, pa[i].String())
			lb = append(lb, pb[i].String())
		}
	}
	if strings.Join(la, " ") != "p.u:2:11 p.u:2:7" || strings.Join(lb, " ") != "p.u:5:8 p.u:5:3" {
		t.Errorf("positions %v and %v", la, lb)
	}
}

// An error from code evaluated without its source (as at another node)
// carries definitions and node numbers; the side that has the source
// relocates it to names and positions.
func TestRelocate(t *testing.T) {
	src := "h x = x + \"one\"\ng x = h x * 2\n"
	f, err := syntax.ParseFile("prog.u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dag.Compile(f, compileOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	s := dag.NewStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	if err := s.AddBlocks(context.Background(), c.Blocks); err != nil {
		t.Fatal(err)
	}
	g, _ := c.Lookup("g")
	// The remote side: no names, no positions.
	th := &Thread{Loader: s}
	_, err = th.Eval(context.Background(), &dag.App{Fn: &dag.Ref{Def: g.Def}, Args: []dag.Term{&dag.Int{V: 1}}})
	var re *RuntimeError
	if !errors.As(err, &re) || re.Pos.Line != 0 || len(re.Frames) < 2 || re.Frames[0].Def == nil {
		t.Fatalf("remote error %v, frames %+v", err, re)
	}
	// The caller: its names and positions.
	names := &posNames{testNames: newTestNames(c.Names), pos: map[dag.DefRef][]syntax.Pos{}}
	for _, p := range c.Positions {
		names.pos[p.Def] = p.Pos
	}
	re.Relocate(names, names)
	want := "prog.u:1:9: cannot apply + to an Int and a Text\n\tin h at prog.u:1:9\n\tin g at prog.u:2:7"
	if got := re.Backtrace(); got != want {
		t.Errorf("relocated backtrace\n%s\nwant\n%s", got, want)
	}
}
