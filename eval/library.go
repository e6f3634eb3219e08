package eval

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// The library written in the language: library/*.u. Each definition there
// is a builtin of the same name and arity (its parameters), whose work is
// the definition's code, compiled once per process; the comment just
// above it is its documentation. Being builtins, library functions are
// named by their stable name in code and on the wire, like the builtins
// written in Go, so no block needs to travel for them; their group is
// that of the effects their code names ("remote" for atVia), and the
// builtins their code names are checked against the thread's sandbox
// when they are called, as for any code.
//
// The code is compiled on first use (or when Builtins is listed): by
// then every builtin it names is registered, whatever the order of the
// package's init functions.

//go:embed library/*.u
var libraryFiles embed.FS

// libraryFunc is one definition of the library.
type libraryFunc struct {
	desc *builtinDesc
	decl *syntax.DefDecl
	fn   *Closure // set by loadLibrary
}

var (
	libraryFuncs []*libraryFunc
	libraryOnce  sync.Once
	libraryErr   error
)

func init() {
	files, err := fs.Glob(libraryFiles, "library/*.u")
	if err != nil {
		panic(err)
	}
	for _, name := range files {
		src, err := libraryFiles.ReadFile(name)
		if err != nil {
			panic(err)
		}
		f, err := syntax.ParseFile(path.Base(name), src)
		if err != nil {
			panic(fmt.Sprintf("eval: library %s: %v", name, err))
		}
		lines := strings.Split(string(src), "\n")
		for _, d := range f.Decls {
			dd, ok := d.(*syntax.DefDecl)
			if !ok || len(dd.Params) == 0 {
				panic(fmt.Sprintf("eval: library %s: %s: only functions (definitions with parameters) may be library builtins", name, d.DeclPos()))
			}
			lf := &libraryFunc{decl: dd}
			lf.desc = register(&builtinDesc{name: dd.Name, arity: len(dd.Params), doc: docAbove(lines, dd.Pos.Line),
				higherOrder: true, fn: lf.call})
			libraryFuncs = append(libraryFuncs, lf)
		}
	}
}

// docAbove is the comment line just above line (1-based), without "-- ".
func docAbove(lines []string, line int) string {
	if line >= 2 {
		if s, ok := strings.CutPrefix(lines[line-2], "-- "); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// call runs the definition's code on the thread, after checking the
// builtins it names against the sandbox.
func (lf *libraryFunc) call(th *Thread, args []Value) Value {
	if err := loadLibrary(); err != nil {
		th.failErr(err, "%s", lf.desc.name)
	}
	th.checkUnit(lf.fn.fc.unit)
	return th.call(lf.fn, args...)
}

// loadLibrary compiles the library and sets each function's group.
func loadLibrary() error {
	libraryOnce.Do(func() { libraryErr = compileLibrary() })
	return libraryErr
}

func compileLibrary() error {
	opts := dag.CompileOptions{IsBuiltin: IsBuiltin, BuiltinCtor: BuiltinCtor}
	for _, lf := range libraryFuncs {
		d := lf.decl
		t, err := dag.CompileExpr(&syntax.Lambda{Pos: d.Pos, Params: d.Params, Body: d.Body}, opts)
		if err != nil {
			return fmt.Errorf("library %s: %w", d.Name, err)
		}
		lam, ok := t.(*dag.Lam)
		if !ok || lam.Arity != lf.desc.arity {
			return fmt.Errorf("library %s: compiles to %T, not a function of %d parameters", d.Name, t, lf.desc.arity)
		}
		fc, err := compileLibraryCode(lam)
		if err != nil {
			return fmt.Errorf("library %s: %w", d.Name, err)
		}
		lf.fn = &Closure{fc: fc}
	}
	// A function's group is the first effect group its code names,
	// directly or through other library functions.
	groupOf := map[*builtinDesc]string{}
	var group func(d *builtinDesc, seen map[*builtinDesc]bool) string
	group = func(d *builtinDesc, seen map[*builtinDesc]bool) string {
		if g, ok := groupOf[d]; ok {
			return g
		}
		lf := libraryFuncOf(d)
		if lf == nil {
			return d.group
		}
		if seen[d] {
			return "pure"
		}
		seen[d] = true
		g := "pure"
		for _, b := range lf.fn.fc.unit.builtins {
			if bg := group(b, seen); bg != "pure" {
				g = bg
				break
			}
		}
		groupOf[d] = g
		return g
	}
	for _, lf := range libraryFuncs {
		lf.desc.group = group(lf.desc, map[*builtinDesc]bool{})
	}
	return nil
}

func libraryFuncOf(d *builtinDesc) *libraryFunc {
	for _, lf := range libraryFuncs {
		if lf.desc == d {
			return lf
		}
	}
	return nil
}

func compileLibraryCode(lam *dag.Lam) (fc *funcCode, err error) {
	defer catchMalformed(&err)
	checkArity(lam)
	c := newCompiler(nil, lam)
	return c.function(lam.Arity, lam.Body, lam, nil, false), nil
}
