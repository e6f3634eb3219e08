package dag

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/eval/syntax"
)

// CompileOptions tells the compiler which names exist outside the file.
// Predicates rather than imports keep dag below eval (the evaluator owns the
// builtin table).
type CompileOptions struct {
	// IsBuiltin reports whether name is a builtin function.
	IsBuiltin func(name string) bool
	// BuiltinCtor resolves a constructor of a builtin data type
	// (Optional, Either, Err).
	BuiltinCtor func(name string) (typ TypeRef, index, arity int, ok bool)
	// Lookup resolves a term or constructor name in the existing
	// namespace (definitions added earlier). It may be nil.
	Lookup func(name string) (NameRef, bool)
	// LookupType resolves a type name in the existing namespace. It may
	// be nil.
	LookupType func(name string) (NameRef, bool)
	// Here is the peer ID (text) of the node adding the code: here!
	// compiles to FixedNode(Here). Empty means here! is an error. The
	// CID of a definition that uses here! depends on it.
	Here string
}

// Compiled is the result of compiling a file: the new blocks in dependency
// order (every block's links precede it), the names the file declares, and
// the original local-variable names of each definition (for `show`).
type Compiled struct {
	Blocks []Block
	Names  []NameEntry
	Hints  []DefHints
	// Positions locates the definitions' nodes in the source, for
	// runtime errors; like Hints, not part of any hash.
	Positions []DefPositions
}

// DefHints records a definition's local-variable names in binder order,
// and the name the source gave the definition (empty: none), under which
// they are kept too (Store.HintsFor).
type DefHints struct {
	Def   DefRef
	Names []string
	Name  string
}

// Lookup finds a term or constructor name the file declared.
func (c *Compiled) Lookup(name string) (NameRef, bool) {
	for _, e := range c.Names {
		if e.Name == name && e.Ref.Kind != KindType {
			return e.Ref, true
		}
	}
	return NameRef{}, false
}

// LookupType finds a type name the file declared.
func (c *Compiled) LookupType(name string) (NameRef, bool) {
	for _, e := range c.Names {
		if e.Name == name && e.Ref.Kind == KindType {
			return e.Ref, true
		}
	}
	return NameRef{}, false
}

// builtinTypes are the type names usable in constructor fields without a
// declaration.
var builtinTypes = map[string]bool{
	"Int": true, "Float": true, "Text": true, "Bool": true, "Bytes": true,
	"List": true, "Map": true, "Optional": true, "Either": true, "Err": true,
	"Node": true, "Future": true, "Channel": true, "Unit": true, "Duration": true,
	"Set": true, // eval's persistent set (issue 13)
}

func errAt(pos syntax.Pos, format string, args ...any) *syntax.Error {
	return &syntax.Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Compile resolves the names of a parsed file, normalizes every
// declaration (de Bruijn locals, CID links, builtins by name), groups
// mutually recursive declarations into cycle blocks and hashes them.
//
// The CIDs depend only on the structure of the code: renaming a definition
// or its locals, reformatting, and reordering declarations change nothing.
func Compile(f *syntax.File, opts CompileOptions) (*Compiled, error) {
	c := &compiler{
		opts:   opts,
		types:  map[string]*syntax.TypeDecl{},
		ctors:  map[string]localCtor{},
		defs:   map[string]*syntax.DefDecl{},
		typeOf: map[string]DefRef{},
		defOf:  map[string]DefRef{},
		out:    &Compiled{},
	}
	var errs syntax.ErrorList
	declared := map[string]syntax.Pos{}
	declare := func(name string, pos syntax.Pos) {
		if prev, ok := declared[name]; ok {
			errs = append(errs, errAt(pos, "%s is declared twice (first at %d:%d)", name, prev.Line, prev.Col))
			return
		}
		declared[name] = pos
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *syntax.TypeDecl:
			declare("type "+d.Name, d.Pos) // types have their own namespace
			c.types[d.Name] = d
			c.typeOrder = append(c.typeOrder, d)
			for i, k := range d.Ctors {
				lc := localCtor{typ: d, index: i, arity: len(k.Fields)}
				declare(k.Name, k.Pos)
				c.ctors[k.Name] = lc
				c.ctors[d.Name+"."+k.Name] = lc
			}
		case *syntax.DefDecl:
			declare(d.Name, d.Pos)
			c.defs[d.Name] = d
			c.defOrder = append(c.defOrder, d)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := c.compileTypes(); err != nil {
		return nil, err
	}
	if err := c.compileDefs(); err != nil {
		return nil, err
	}
	return c.out, nil
}

// CompileExpr resolves a standalone expression (as typed at `unode eval`)
// against the options' namespace and builtins.
func CompileExpr(e syntax.Expr, opts CompileOptions) (Term, error) {
	t, _, err := CompileExprPositions(e, opts)
	return t, err
}

// CompileExprPositions is CompileExpr that also returns the positions of
// the expression's nodes, indexed as DefPositions.Pos is.
func CompileExprPositions(e syntax.Expr, opts CompileOptions) (Term, []syntax.Pos, error) {
	c := &compiler{
		opts:   opts,
		types:  map[string]*syntax.TypeDecl{},
		ctors:  map[string]localCtor{},
		defs:   map[string]*syntax.DefDecl{},
		typeOf: map[string]DefRef{},
		defOf:  map[string]DefRef{},
		out:    &Compiled{},
	}
	r := &resolver{c: c, at: map[Term]syntax.Pos{}}
	t := r.expr(e, nil)
	if len(r.errs) > 0 {
		return nil, nil, r.errs
	}
	return t, positionTable(t, r.at), nil
}

type localCtor struct {
	typ   *syntax.TypeDecl
	index int
	arity int
}

type compiler struct {
	opts      CompileOptions
	types     map[string]*syntax.TypeDecl
	typeOrder []*syntax.TypeDecl
	ctors     map[string]localCtor
	defs      map[string]*syntax.DefDecl
	defOrder  []*syntax.DefDecl
	typeOf    map[string]DefRef // hashed local types
	defOf     map[string]DefRef // hashed local definitions
	out       *Compiled
}

// ---- strongly connected components ----

// sccs returns the strongly connected components of the graph in
// dependency order (a component comes after every component it uses).
// Tarjan's algorithm emits exactly that order.
func sccs(nodes []string, edges map[string][]string) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	var visit func(v string)
	visit = func(v string) {
		index[v] = next
		low[v] = next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			out = append(out, comp)
		}
	}
	for _, v := range nodes {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	return out
}

// ---- types ----

func (c *compiler) compileTypes() error {
	var names []string
	edges := map[string][]string{}
	var errs syntax.ErrorList
	for _, d := range c.typeOrder {
		names = append(names, d.Name)
		seen := map[string]bool{}
		for _, k := range d.Ctors {
			for _, fld := range k.Fields {
				walkTypeNames(fld, func(n *syntax.TypeName) {
					if _, ok := c.types[n.Name]; ok && !seen[n.Name] {
						seen[n.Name] = true
						edges[d.Name] = append(edges[d.Name], n.Name)
					}
				})
			}
		}
	}
	for _, comp := range sccs(names, edges) {
		inCycle := map[string]bool{}
		for _, n := range comp {
			inCycle[n] = true
		}
		// Resolve each member with in-cycle references as TSelf keyed by
		// a provisional member number (position in comp), then choose a
		// canonical order.
		prov := map[string]int{}
		for i, n := range comp {
			prov[n] = i
		}
		decls := make([]*DataDecl, len(comp))
		for i, n := range comp {
			d, err := c.dataDecl(c.types[n], prov, inCycle)
			if err != nil {
				errs = append(errs, err...)
				continue
			}
			decls[i] = d
		}
		if len(errs) > 0 {
			continue
		}
		order, inv := orderComponent(len(comp), func(i int, self func(int) string) string {
			return keyDataDecl(decls[i], self)
		})
		block := &TypeBlock{}
		for _, p := range order {
			block.Members = append(block.Members, renumberTypeSelf(decls[p], inv))
		}
		data, err := EncodeTypeBlock(block)
		if err != nil {
			return fmt.Errorf("encoding type block: %w", err)
		}
		blk := NewBlock(data)
		c.out.Blocks = append(c.out.Blocks, blk)
		for i, n := range comp {
			ref := DefRef{CID: blk.CID, Member: inv[i]}
			c.typeOf[n] = ref
			d := c.types[n]
			c.out.Names = append(c.out.Names, NameEntry{Name: n, Ref: NameRef{Kind: KindType, Def: ref}})
			for ci, k := range d.Ctors {
				cref := NameRef{Kind: KindCtor, Def: ref, Ctor: ci, Arity: len(k.Fields)}
				c.out.Names = append(c.out.Names,
					NameEntry{Name: k.Name, Ref: cref},
					NameEntry{Name: n + "." + k.Name, Ref: cref})
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func walkTypeNames(t syntax.TypeExpr, f func(*syntax.TypeName)) {
	switch t := t.(type) {
	case *syntax.TypeName:
		f(t)
	case *syntax.TypeApp:
		walkTypeNames(t.Fn, f)
		for _, a := range t.Args {
			walkTypeNames(a, f)
		}
	case *syntax.TypeFun:
		walkTypeNames(t.Arg, f)
		walkTypeNames(t.Res, f)
	case *syntax.TypeTuple:
		for _, e := range t.Elems {
			walkTypeNames(e, f)
		}
	}
}

func (c *compiler) dataDecl(d *syntax.TypeDecl, prov map[string]int, inCycle map[string]bool) (*DataDecl, syntax.ErrorList) {
	var errs syntax.ErrorList
	params := map[string]int{}
	for i, p := range d.Params {
		if _, dup := params[p]; dup {
			errs = append(errs, errAt(d.Pos, "type parameter %s is declared twice in %s", p, d.Name))
		}
		params[p] = i
	}
	var conv func(t syntax.TypeExpr) TypeTerm
	conv = func(t syntax.TypeExpr) TypeTerm {
		switch t := t.(type) {
		case *syntax.TypeName:
			if isLowerName(t.Name) {
				i, ok := params[t.Name]
				if !ok {
					errs = append(errs, errAt(t.Pos, "type variable %s is not a parameter of %s", t.Name, d.Name))
					return &TVar{}
				}
				return &TVar{Index: i}
			}
			if inCycle[t.Name] {
				return &TSelf{Member: prov[t.Name]}
			}
			if ref, ok := c.typeOf[t.Name]; ok {
				return &TRef{Def: ref}
			}
			if c.opts.LookupType != nil {
				if nr, ok := c.opts.LookupType(t.Name); ok && nr.Kind == KindType {
					return &TRef{Def: nr.Def}
				}
			}
			if builtinTypes[t.Name] {
				return &TBuiltin{Name: t.Name}
			}
			errs = append(errs, errAt(t.Pos, "unknown type %s", t.Name))
			return &TBuiltin{Name: t.Name}
		case *syntax.TypeApp:
			app := &TApp{Fn: conv(t.Fn)}
			for _, a := range t.Args {
				app.Args = append(app.Args, conv(a))
			}
			return app
		case *syntax.TypeFun:
			return &TFun{Arg: conv(t.Arg), Res: conv(t.Res)}
		case *syntax.TypeTuple:
			tt := &TTuple{}
			for _, e := range t.Elems {
				tt.Elems = append(tt.Elems, conv(e))
			}
			return tt
		}
		errs = append(errs, errAt(d.Pos, "unsupported type expression %T", t))
		return &TTuple{}
	}
	dd := &DataDecl{Params: len(d.Params), Ctors: [][]TypeTerm{}}
	for _, k := range d.Ctors {
		fields := []TypeTerm{}
		for _, fld := range k.Fields {
			fields = append(fields, conv(fld))
		}
		dd.Ctors = append(dd.Ctors, fields)
	}
	return dd, errs
}

func isLowerName(s string) bool {
	return s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] == '_')
}

// ---- definitions ----

func (c *compiler) compileDefs() error {
	var names []string
	edges := map[string][]string{}
	var errs syntax.ErrorList
	// Pass 1: discover which local definitions each definition uses.
	for _, d := range c.defOrder {
		names = append(names, d.Name)
		seen := map[string]bool{}
		r := &resolver{c: c, onLocalDef: func(name string) Term {
			if !seen[name] {
				seen[name] = true
				edges[d.Name] = append(edges[d.Name], name)
			}
			return &Unit{}
		}}
		r.def(d)
		errs = append(errs, r.errs...)
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool {
			a, b := errs[i].Pos, errs[j].Pos
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return errs
	}
	// Pass 2: hash each strongly connected component in dependency order.
	for _, comp := range sccs(names, edges) {
		prov := map[string]int{}
		for i, n := range comp {
			prov[n] = i
		}
		terms := make([]Term, len(comp))
		hints := make([][]string, len(comp))
		positions := make([][]syntax.Pos, len(comp))
		forms := make([][]Form, len(comp))
		for i, n := range comp {
			r := &resolver{c: c, onLocalDef: func(name string) Term {
				if p, ok := prov[name]; ok {
					return &Self{Member: p}
				}
				return &Ref{Def: c.defOf[name]}
			}, at: map[Term]syntax.Pos{}, forms: map[Term]Form{}}
			terms[i] = r.def(c.defs[n])
			hints[i] = r.hints
			positions[i] = positionTable(terms[i], r.at)
			forms[i] = formTable(terms[i], r.forms)
			if len(r.errs) > 0 {
				return r.errs
			}
		}
		order, inv := orderComponent(len(comp), func(i int, self func(int) string) string {
			return keyTerm(terms[i], self)
		})
		block := &TermBlock{}
		for _, p := range order {
			block.Members = append(block.Members, renumberSelf(terms[p], inv))
		}
		data, chunks, err := EncodeTermBlockChunked(block)
		if err != nil {
			return fmt.Errorf("encoding definition block: %w", err)
		}
		blk := NewBlock(data)
		c.out.Blocks = append(c.out.Blocks, chunks...) // large literals, before the block that links to them
		c.out.Blocks = append(c.out.Blocks, blk)
		for i, n := range comp {
			ref := DefRef{CID: blk.CID, Member: inv[i]}
			c.defOf[n] = ref
			c.out.Names = append(c.out.Names, NameEntry{Name: n, Ref: NameRef{Kind: KindTerm, Def: ref}})
			c.out.Hints = append(c.out.Hints, DefHints{Def: ref, Names: hints[i], Name: n})
			if positions[i] != nil || forms[i] != nil {
				c.out.Positions = append(c.out.Positions, DefPositions{Def: ref, Pos: positions[i], Name: n, Forms: forms[i]})
			}
		}
	}
	return nil
}

// resolver turns syntax into normalized terms. Locals are kept innermost
// last in scope; Var indices count from the end.
type resolver struct {
	c          *compiler
	onLocalDef func(name string) Term // reference to a definition in the same file
	errs       syntax.ErrorList
	hints      []string
	scope      []string
	// at records where each failing-capable node came from (see
	// positions.go); nil to record nothing.
	at map[Term]syntax.Pos
	// forms records how the source spelled nodes that have more than
	// one spelling (see forms.go); nil to record nothing.
	forms map[Term]Form
}

// spell notes that t was written in form f.
func (r *resolver) spell(t Term, f Form) Term {
	if r.forms != nil {
		r.forms[t] = f
	}
	return t
}

func (r *resolver) fail(pos syntax.Pos, format string, args ...any) {
	r.errs = append(r.errs, errAt(pos, format, args...))
}

func (r *resolver) push(name string) {
	r.scope = append(r.scope, name)
	if strings.HasPrefix(name, "%") {
		// An operator section's parameter (see syntax.parseParen) is
		// no source name: let show pick a fresh one.
		name = ""
	}
	r.hints = append(r.hints, name)
}

func (r *resolver) pop(n int) { r.scope = r.scope[:len(r.scope)-n] }

func (r *resolver) def(d *syntax.DefDecl) Term {
	r.scope = r.scope[:0]
	return r.rhs(d.Pos, d.Params, d.Body)
}

// rhs compiles what a definition or let binding with params binds: a
// Lam when there are params or the value is a lambda, which the source
// may have written as `f x = e` or `f = x -> e` (lamShape records which).
func (r *resolver) rhs(pos syntax.Pos, params []string, body syntax.Expr) Term {
	if len(params) > 0 {
		return r.lambda(pos, params, body, false)
	}
	if l, ok := body.(*syntax.Lambda); ok && len(l.Params) > 0 && !strings.HasPrefix(l.Params[0], "%") {
		// r.expr would give the same Lam (no position is kept for a
		// Lam); an operator section keeps its own form.
		return r.lambda(l.Pos, l.Params, l.Body, true)
	}
	return r.expr(body, nil)
}

// lambda builds a Lam, merging directly nested lambdas: `x -> y -> e`,
// `x y -> e` and `f x = y -> e` all normalize to one Lam of arity 2.
// What the merge erases, the source's grouping of the parameters, is
// recorded as the Lam's form (lamShape); written is set when params are
// a lambda's where a definition or binding could have had them on the
// left of `=`.
func (r *resolver) lambda(pos syntax.Pos, params []string, body syntax.Expr, written bool) Term {
	r.checkParams(pos, params)
	for _, p := range params {
		r.push(p)
	}
	n := len(params)
	var shape lamShape
	if written {
		shape |= lamWritten
	}
	for {
		inner, ok := body.(*syntax.Lambda)
		if !ok {
			break
		}
		shape = shape.withBreak(n)
		r.checkParams(inner.Pos, inner.Params)
		for _, p := range inner.Params {
			r.push(p)
		}
		n += len(inner.Params)
		body = inner.Body
	}
	b := r.expr(body, nil)
	r.pop(n)
	t := &Lam{Arity: n, Body: b}
	if shape != 0 {
		r.spell(t, shape.form())
	}
	return t
}

// checkParams rejects `f x x = ...`: the second x would silently shadow
// the first.
func (r *resolver) checkParams(pos syntax.Pos, params []string) {
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p] && p != "_" {
			r.fail(pos, "parameter %s is declared twice", p)
		}
		seen[p] = true
	}
}

func (r *resolver) lookupLocal(name string) (int, bool) {
	for i := len(r.scope) - 1; i >= 0; i-- {
		if r.scope[i] == name {
			return len(r.scope) - 1 - i, true
		}
	}
	return 0, false
}

func (r *resolver) ident(pos syntax.Pos, name string) Term {
	if i, ok := r.lookupLocal(name); ok {
		return &Var{Index: i}
	}
	if name == HereName {
		if r.c.opts.Here == "" {
			r.fail(pos, "%s names the node that adds the definition, and this code is not being added by a node", HereName)
			return &Unit{}
		}
		return FixedNode(r.c.opts.Here)
	}
	if _, ok := r.c.defs[name]; ok && r.onLocalDef != nil {
		return r.onLocalDef(name)
	}
	if lc, ok := r.c.ctors[name]; ok {
		ref, hashed := r.c.typeOf[lc.typ.Name]
		if !hashed {
			r.fail(pos, "internal error: type %s used before it was hashed", lc.typ.Name)
		}
		return &Ctor{Type: TypeRef{Def: ref}, Index: lc.index, Arity: lc.arity}
	}
	if r.c.opts.Lookup != nil {
		if nr, ok := r.c.opts.Lookup(name); ok {
			switch nr.Kind {
			case KindTerm:
				return &Ref{Def: nr.Def}
			case KindCtor:
				return &Ctor{Type: TypeRef{Def: nr.Def}, Index: nr.Ctor, Arity: nr.Arity}
			}
		}
	}
	if r.c.opts.BuiltinCtor != nil {
		if typ, idx, arity, ok := r.c.opts.BuiltinCtor(name); ok {
			return &Ctor{Type: typ, Index: idx, Arity: arity}
		}
	}
	if r.c.opts.IsBuiltin != nil && r.c.opts.IsBuiltin(name) {
		return &Builtin{Name: name}
	}
	r.fail(pos, "unknown name %s%s", name, r.suggest(name))
	return &Unit{}
}

// suggest is the hint after "unknown name x": the likely typo fix among
// the locals in scope, the file's names, the namespace and the builtins
// (issue 13), or what a character literal is written as.
func (r *resolver) suggest(name string) string {
	if len(name) == 2 && name[1] == '\'' {
		// 'a' lexes as a delay of the name a'.
		return fmt.Sprintf(` (there are no character literals; for a one-character Text write "%c")`, name[0])
	}
	var near []string
	near = append(near, r.scope...)
	for n := range r.c.defs {
		near = append(near, n)
	}
	for n := range r.c.ctors {
		near = append(near, n)
	}
	known := func(n string) bool {
		if r.c.opts.IsBuiltin != nil && r.c.opts.IsBuiltin(n) {
			return true
		}
		if r.c.opts.BuiltinCtor != nil {
			if _, _, _, ok := r.c.opts.BuiltinCtor(n); ok {
				return true
			}
		}
		if r.c.opts.Lookup != nil {
			_, ok := r.c.opts.Lookup(n)
			return ok
		}
		return false
	}
	s := syntax.Closest(name, near)
	if s == "" {
		s = syntax.Probe(name, known)
	}
	if s == "" && !strings.Contains(name, ".") {
		// length for List.length, lenght for List.length.
		for _, m := range suggestModules {
			if known(m + "." + name) {
				s = m + "." + name
				break
			}
		}
		for _, m := range suggestModules {
			if s != "" {
				break
			}
			if p := syntax.Probe(m+"."+name, known); strings.HasPrefix(p, m+".") {
				s = p
			}
		}
	}
	if s == "" {
		return ""
	}
	return " (did you mean " + s + "?)"
}

// suggestModules are the builtin namespaces an unknown unqualified name
// is looked for in, most used first. Only suggestions depend on it.
var suggestModules = []string{"List", "Text", "Map", "Set", "Int", "Float", "Bytes", "Optional", "Either", "Data", "Cluster", "Node"}

// ctorRef resolves a constructor name in a pattern.
func (r *resolver) ctorRef(pos syntax.Pos, name string) (TypeRef, int, int, bool) {
	if lc, ok := r.c.ctors[name]; ok {
		return TypeRef{Def: r.c.typeOf[lc.typ.Name]}, lc.index, lc.arity, true
	}
	if r.c.opts.Lookup != nil {
		if nr, ok := r.c.opts.Lookup(name); ok && nr.Kind == KindCtor {
			return TypeRef{Def: nr.Def}, nr.Ctor, nr.Arity, true
		}
	}
	if r.c.opts.BuiltinCtor != nil {
		if typ, idx, arity, ok := r.c.opts.BuiltinCtor(name); ok {
			return typ, idx, arity, true
		}
	}
	r.fail(pos, "unknown constructor %s", name)
	return TypeRef{}, 0, 0, false
}

var binopBuiltins = map[string]string{
	"+": "Op.add", "-": "Op.sub", "*": "Op.mul", "/": "Op.div", "%": "Op.mod",
	"==": "Op.eq", "!=": "Op.neq", "<": "Op.lt", "<=": "Op.le", ">": "Op.gt", ">=": "Op.ge",
	"++": "Op.append", "::": "Op.cons",
}

// app builds an application, flattening `(f a) b` into `f a b` so that
// parenthesization does not change hashes.
func app(fn Term, args ...Term) Term {
	if inner, ok := fn.(*App); ok {
		all := make([]Term, 0, len(inner.Args)+len(args))
		all = append(all, inner.Args...)
		all = append(all, args...)
		return &App{Fn: inner.Fn, Args: all}
	}
	return &App{Fn: fn, Args: args}
}

func (r *resolver) expr(e syntax.Expr, _ any) Term {
	t := r.expr1(e)
	if r.at != nil && hasPosition(t) {
		if _, seen := r.at[t]; !seen {
			pos := e.ExprPos()
			if b, ok := e.(*syntax.BinOp); ok && b.OpPos.Line != 0 {
				pos = b.OpPos
			}
			r.at[t] = pos
		}
	}
	return t
}

func (r *resolver) expr1(e syntax.Expr) Term {
	switch e := e.(type) {
	case *syntax.Ident:
		return r.ident(e.Pos, e.Name)
	case *syntax.HashRef:
		c, err := cid.Decode(e.CID)
		if err != nil {
			r.fail(e.Pos, "bad hash reference #%s: %v", e.CID, err)
			return &Unit{}
		}
		m := e.Index
		if m < 0 {
			m = 0
		}
		return &Ref{Def: DefRef{CID: c, Member: m}}
	case *syntax.IntLit:
		return &Int{V: e.Value}
	case *syntax.FloatLit:
		return &Float{V: e.Value}
	case *syntax.TextLit:
		return &Text{V: e.Value}
	case *syntax.BoolLit:
		return &Bool{V: e.Value}
	case *syntax.BytesLit:
		return &Bytes{V: append([]byte{}, e.Value...)}
	case *syntax.UnitLit:
		return &Unit{}
	case *syntax.Tuple:
		t := &Tuple{}
		for _, x := range e.Elems {
			t.Elems = append(t.Elems, r.expr(x, nil))
		}
		return t
	case *syntax.List:
		l := &List{Elems: []Term{}}
		for _, x := range e.Elems {
			l.Elems = append(l.Elems, r.expr(x, nil))
		}
		return l
	case *syntax.Lambda:
		t := r.lambda(e.Pos, e.Params, e.Body, false)
		if len(e.Params) > 0 && strings.HasPrefix(e.Params[0], "%") {
			// An operator section (see syntax.parseParen); its body
			// is a BinOp, so no inner lambda was merged into it.
			r.spell(t, FormSection)
		}
		return t
	case *syntax.App:
		fn := r.expr(e.Fn, nil)
		args := make([]Term, len(e.Args))
		for i, a := range e.Args {
			args[i] = r.expr(a, nil)
		}
		t := app(fn, args...)
		if a, ok := t.(*App); ok && isOperatorCall(a) {
			r.spell(t, FormCall) // Op.add a b, not a + b
		}
		return t
	case *syntax.BinOp:
		switch e.Op {
		case "&&":
			return r.spell(&If{Cond: r.expr(e.L, nil), Then: r.expr(e.R, nil), Else: &Bool{V: false}}, FormAnd)
		case "||":
			return r.spell(&If{Cond: r.expr(e.L, nil), Then: &Bool{V: true}, Else: r.expr(e.R, nil)}, FormOr)
		case "|>":
			x := r.expr(e.L, nil)
			return r.spell(app(r.expr(e.R, nil), x), FormPipe)
		}
		name, ok := binopBuiltins[e.Op]
		if !ok {
			r.fail(e.Pos, "unknown operator %s", e.Op)
			return &Unit{}
		}
		return &App{Fn: &Builtin{Name: name}, Args: []Term{r.expr(e.L, nil), r.expr(e.R, nil)}}
	case *syntax.Neg:
		switch x := e.X.(type) {
		case *syntax.IntLit:
			if x.Value == -x.Value && x.Value != 0 {
				break // minInt cannot be negated; leave it to the runtime
			}
			return &Int{V: -x.Value}
		case *syntax.FloatLit:
			return &Float{V: -x.Value}
		}
		return &App{Fn: &Builtin{Name: "Op.negate"}, Args: []Term{r.expr(e.X, nil)}}
	case *syntax.Let:
		return r.let(e.Bindings, e.Body)
	case *syntax.If:
		t := &If{Cond: r.expr(e.Cond, nil), Then: r.expr(e.Then, nil), Else: r.expr(e.Else, nil)}
		if isAndOr(t) {
			r.spell(t, FormIf) // if a then true else b, not a || b
		}
		return t
	case *syntax.Match:
		m := &Match{Scrutinee: r.expr(e.Scrutinee, nil)}
		if e.Let && len(e.Arms) == 1 {
			r.spell(m, FormLetPattern)
		}
		for _, arm := range e.Arms {
			var bound []string
			pat := r.pattern(arm.Pattern, &bound)
			for _, n := range bound {
				r.push(n)
			}
			body := r.expr(arm.Body, nil)
			r.pop(len(bound))
			m.Arms = append(m.Arms, Arm{Pat: pat, Body: body})
		}
		return m
	case *syntax.Delay:
		return &Delay{Body: r.expr(e.Body, nil)}
	case *syntax.Force:
		return &Force{X: r.expr(e.X, nil)}
	}
	r.fail(e.ExprPos(), "unsupported expression %T", e)
	return &Unit{}
}

// let compiles sequential bindings. A binding that is a function (has
// parameters or is a lambda) and refers to itself becomes a LetRec; every
// other binding is a plain Let and does not see its own name.
func (r *resolver) let(bs []*syntax.Binding, body syntax.Expr) Term {
	if len(bs) == 0 {
		return r.expr(body, nil)
	}
	b := bs[0]
	var value Term
	rec := false
	_, isLam := b.Value.(*syntax.Lambda)
	if len(b.Params) > 0 || isLam {
		// Try it as recursive; keep the recursion only if used.
		hints, errs := len(r.hints), len(r.errs)
		r.push(b.Name)
		value = r.rhs(b.Pos, b.Params, b.Value)
		r.pop(1)
		if usesVar(value, 0) {
			rec = true
		} else {
			r.hints, r.errs = r.hints[:hints], r.errs[:errs]
		}
	}
	if !rec {
		value = r.rhs(b.Pos, b.Params, b.Value)
	}
	if rec {
		// Its hint is in already, before the value's, where the
		// decompiler names a LetRec's binder.
		r.scope = append(r.scope, b.Name)
	} else {
		r.push(b.Name)
	}
	rest := r.let(bs[1:], body)
	r.pop(1)
	if len(bs) == 1 {
		if _, nested := body.(*syntax.Let); nested {
			switch rest.(type) {
			case *Let, *LetRec:
				// `let a = 1 in let b = 2 in e`: the same terms as
				// `let a = 1; b = 2 in e`, which show prints by default.
				r.spell(rest, FormLetNested)
			}
		}
	}
	if rec {
		return &LetRec{Value: value, Body: rest}
	}
	return &Let{Value: value, Body: rest}
}

func (r *resolver) pattern(p syntax.Pattern, bound *[]string) Pattern {
	switch p := p.(type) {
	case *syntax.PVar:
		for _, n := range *bound {
			if n == p.Name {
				r.fail(p.Pos, "variable %s is bound twice in one pattern", p.Name)
			}
		}
		*bound = append(*bound, p.Name)
		return &PVar{}
	case *syntax.PWild:
		return &PWild{}
	case *syntax.PLit:
		lit := r.expr(p.Lit, nil)
		switch lit.(type) {
		case *Int, *Float, *Text, *Bool, *Bytes, *Unit:
		default:
			r.fail(p.Pos, "a pattern literal must be a number, text, bool, bytes or ()")
		}
		return &PLit{Lit: lit}
	case *syntax.PCtor:
		typ, idx, arity, ok := r.ctorRef(p.Pos, p.Name)
		if ok && arity != len(p.Args) {
			r.fail(p.Pos, "constructor %s takes %d arguments, the pattern gives %d", p.Name, arity, len(p.Args))
		}
		pc := &PCtor{Type: typ, Index: idx}
		for _, a := range p.Args {
			pc.Args = append(pc.Args, r.pattern(a, bound))
		}
		return pc
	case *syntax.PTuple:
		pt := &PTuple{}
		for _, a := range p.Elems {
			pt.Elems = append(pt.Elems, r.pattern(a, bound))
		}
		return pt
	case *syntax.PList:
		pl := &PList{Elems: []Pattern{}}
		for _, a := range p.Elems {
			pl.Elems = append(pl.Elems, r.pattern(a, bound))
		}
		return pl
	case *syntax.PCons:
		h := r.pattern(p.Head, bound)
		t := r.pattern(p.Tail, bound)
		return &PCons{Head: h, Tail: t}
	}
	r.fail(p.PatPos(), "unsupported pattern %T", p)
	return &PWild{}
}

// PatternVars counts the variables a pattern binds.
func PatternVars(p Pattern) int {
	switch p := p.(type) {
	case *PVar:
		return 1
	case *PCtor:
		n := 0
		for _, a := range p.Args {
			n += PatternVars(a)
		}
		return n
	case *PTuple:
		n := 0
		for _, a := range p.Elems {
			n += PatternVars(a)
		}
		return n
	case *PList:
		n := 0
		for _, a := range p.Elems {
			n += PatternVars(a)
		}
		return n
	case *PCons:
		return PatternVars(p.Head) + PatternVars(p.Tail)
	}
	return 0
}

// usesVar reports whether t refers to the local at de Bruijn index i
// (counted from t's own scope).
func usesVar(t Term, i int) bool {
	found := false
	walkVars(t, 0, func(idx, depth int) {
		if idx == i+depth {
			found = true
		}
	})
	return found
}

// walkVars calls f for every Var in t with the number of binders between
// t's root and the Var.
func walkVars(t Term, depth int, f func(idx, depth int)) {
	switch t := t.(type) {
	case *Var:
		f(t.Index, depth)
	case *Lam:
		walkVars(t.Body, depth+t.Arity, f)
	case *App:
		walkVars(t.Fn, depth, f)
		for _, a := range t.Args {
			walkVars(a, depth, f)
		}
	case *Let:
		walkVars(t.Value, depth, f)
		walkVars(t.Body, depth+1, f)
	case *LetRec:
		walkVars(t.Value, depth+1, f)
		walkVars(t.Body, depth+1, f)
	case *If:
		walkVars(t.Cond, depth, f)
		walkVars(t.Then, depth, f)
		walkVars(t.Else, depth, f)
	case *Match:
		walkVars(t.Scrutinee, depth, f)
		for _, a := range t.Arms {
			walkVars(a.Body, depth+PatternVars(a.Pat), f)
		}
	case *Tuple:
		for _, e := range t.Elems {
			walkVars(e, depth, f)
		}
	case *List:
		for _, e := range t.Elems {
			walkVars(e, depth, f)
		}
	case *Delay:
		walkVars(t.Body, depth, f)
	case *Force:
		walkVars(t.X, depth, f)
	}
}

// FreeVars returns the de Bruijn indices (relative to t's scope) of the
// locals t uses from outside itself, sorted ascending.
func FreeVars(t Term) []int {
	set := map[int]bool{}
	walkVars(t, 0, func(idx, depth int) {
		if idx >= depth {
			set[idx-depth] = true
		}
	})
	out := make([]int, 0, len(set))
	for i := range set {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}
