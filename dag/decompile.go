package dag

import (
	"fmt"
	"strings"

	"github.com/unode-dev/unode/eval/syntax"
)

// Naming tells the decompiler what to call things that blocks refer to by
// hash. Any function may be nil or return "" when there is no name; the
// decompiler then prints a hash reference.
type Naming struct {
	Def  func(DefRef) string
	Self func(member int) string
	Ctor func(t TypeRef, index int) string
	Type func(DefRef) string
}

// DecompileDef turns a definition back into source syntax. hints are the
// original local names in binder order (Store.Hints); missing or clashing
// names are replaced by fresh ones. Nodes with more than one spelling
// (forms.go) get the default one: && and || for the Ifs they stand for,
// operators for operator builtins, plain application for |>, lambdas for
// sections, matches for destructuring lets, one block for a chain of
// lets, and a Lam's parameters in one group, on the left of `=` for a
// definition or let binding.
func DecompileDef(name string, t Term, hints []string, n Naming) *syntax.DefDecl {
	return DecompileDefForms(name, t, hints, nil, n)
}

// DecompileDefForms is DecompileDef that spells each node as forms says
// the source did (Store.Forms: forms[i] for the i-th node of Preorder).
// A form that does not fit its node (a table for another term) is
// ignored, so any table gives source that means the definition.
func DecompileDefForms(name string, t Term, hints []string, forms []Form, n Naming) *syntax.DefDecl {
	d := &decompiler{n: n, hints: hints, globals: map[string]bool{}}
	d.collectGlobals(t)
	d.indexForms(t, forms)
	decl := &syntax.DefDecl{Name: name}
	decl.Body = d.expr(t)
	decl.Params, decl.Body = d.lift(t, decl.Body)
	return decl
}

// lift moves the first parameters of a definition's or binding's value
// to the left of `=` (`f x = e` rather than `f = x -> e`), unless the
// value is a section or the source wrote them as a lambda.
func (d *decompiler) lift(t Term, e syntax.Expr) ([]string, syntax.Expr) {
	lam, ok := e.(*syntax.Lambda)
	if !ok || isSectionLambda(lam) || shapeOf(d.form(t))&lamWritten != 0 {
		return nil, e
	}
	return lam.Params, lam.Body
}

// DecompileType turns a data declaration back into source syntax.
func DecompileType(name string, dd *DataDecl, ctorNames []string, n Naming) *syntax.TypeDecl {
	td := &syntax.TypeDecl{Name: name}
	for i := 0; i < dd.Params; i++ {
		td.Params = append(td.Params, string(rune('a'+i%26))+strings.Repeat("'", i/26))
	}
	var conv func(t TypeTerm) syntax.TypeExpr
	conv = func(t TypeTerm) syntax.TypeExpr {
		switch t := t.(type) {
		case *TVar:
			if t.Index < len(td.Params) {
				return &syntax.TypeName{Name: td.Params[t.Index]}
			}
		case *TRef:
			if n.Type != nil {
				if s := n.Type(t.Def); s != "" {
					return &syntax.TypeName{Name: s}
				}
			}
			return &syntax.TypeName{Name: t.Def.String()}
		case *TSelf:
			if n.Self != nil {
				if s := n.Self(t.Member); s != "" {
					return &syntax.TypeName{Name: s}
				}
			}
			return &syntax.TypeName{Name: fmt.Sprintf("Self%d", t.Member)}
		case *TBuiltin:
			return &syntax.TypeName{Name: t.Name}
		case *TApp:
			a := &syntax.TypeApp{Fn: conv(t.Fn)}
			for _, x := range t.Args {
				a.Args = append(a.Args, conv(x))
			}
			return a
		case *TFun:
			return &syntax.TypeFun{Arg: conv(t.Arg), Res: conv(t.Res)}
		case *TTuple:
			tt := &syntax.TypeTuple{}
			for _, x := range t.Elems {
				tt.Elems = append(tt.Elems, conv(x))
			}
			return tt
		}
		return &syntax.TypeName{Name: "?"}
	}
	for i, fields := range dd.Ctors {
		cn := fmt.Sprintf("C%d", i)
		if i < len(ctorNames) && ctorNames[i] != "" {
			cn = ctorNames[i]
		}
		cd := &syntax.CtorDecl{Name: cn}
		for _, f := range fields {
			cd.Fields = append(cd.Fields, conv(f))
		}
		td.Ctors = append(td.Ctors, cd)
	}
	return td
}

type decompiler struct {
	n       Naming
	hints   []string
	next    int
	scope   []string
	globals map[string]bool
	fresh   int
	forms   map[Term]Form // nil: every node in the default form
}

// indexForms keys the form table by node.
func (d *decompiler) indexForms(t Term, forms []Form) {
	if len(forms) == 0 {
		return
	}
	d.forms = map[Term]Form{}
	i := 0
	Preorder(t, func(x Term) {
		if i < len(forms) && forms[i] != FormDefault {
			d.forms[x] = forms[i]
		}
		i++
	})
}

func (d *decompiler) form(t Term) Form { return d.forms[t] }

func (d *decompiler) defName(r DefRef) string {
	if d.n.Def != nil {
		if s := d.n.Def(r); s != "" {
			return s
		}
	}
	return ""
}

func (d *decompiler) selfName(m int) string {
	if d.n.Self != nil {
		if s := d.n.Self(m); s != "" {
			return s
		}
	}
	return fmt.Sprintf("self%d", m)
}

func (d *decompiler) ctorName(t TypeRef, i int) string {
	if d.n.Ctor != nil {
		if s := d.n.Ctor(t, i); s != "" {
			return s
		}
	}
	return fmt.Sprintf("%s#c%d", t, i)
}

func (d *decompiler) collectGlobals(t Term) {
	var walk func(t Term)
	walkPat := func(p Pattern) {}
	walk = func(t Term) {
		switch t := t.(type) {
		case *Ref:
			if s := d.defName(t.Def); s != "" {
				d.globals[s] = true
			}
		case *Self:
			d.globals[d.selfName(t.Member)] = true
		case *Builtin:
			d.globals[t.Name] = true
		case *Ctor:
			d.globals[d.ctorName(t.Type, t.Index)] = true
		case *Lam:
			walk(t.Body)
		case *App:
			walk(t.Fn)
			for _, a := range t.Args {
				walk(a)
			}
		case *Let:
			walk(t.Value)
			walk(t.Body)
		case *LetRec:
			walk(t.Value)
			walk(t.Body)
		case *If:
			walk(t.Cond)
			walk(t.Then)
			walk(t.Else)
		case *Match:
			walk(t.Scrutinee)
			for _, a := range t.Arms {
				walkPat(a.Pat)
				walk(a.Body)
			}
		case *Tuple:
			for _, e := range t.Elems {
				walk(e)
			}
		case *List:
			for _, e := range t.Elems {
				walk(e)
			}
		case *Delay:
			walk(t.Body)
		case *Force:
			walk(t.X)
		}
	}
	walk(t)
}

// newName picks the next binder's name: the hint when it is usable, a
// fresh name otherwise.
func (d *decompiler) newName() string {
	hint := ""
	if d.next < len(d.hints) {
		hint = d.hints[d.next]
	}
	d.next++
	ok := func(s string) bool {
		if s == "" || s == "_" || d.globals[s] {
			return false
		}
		for _, x := range d.scope {
			if x == s {
				return false
			}
		}
		return true
	}
	if ok(hint) {
		return hint
	}
	base := hint
	if base == "" || base == "_" {
		base = "x"
	}
	for {
		d.fresh++
		s := fmt.Sprintf("%s%d", base, d.fresh)
		if ok(s) {
			return s
		}
	}
}

func (d *decompiler) bind(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = d.newName()
		d.scope = append(d.scope, names[i])
	}
	return names
}

func (d *decompiler) unbind(n int) { d.scope = d.scope[:len(d.scope)-n] }

var opSymbols = map[string]string{}

func init() {
	for sym, name := range binopBuiltins {
		opSymbols[name] = sym
	}
}

func (d *decompiler) expr(t Term) syntax.Expr {
	switch t := t.(type) {
	case *Var:
		if t.Index < len(d.scope) {
			return &syntax.Ident{Name: d.scope[len(d.scope)-1-t.Index]}
		}
		return &syntax.Ident{Name: fmt.Sprintf("unbound%d", t.Index)}
	case *Ref:
		if s := d.defName(t.Def); s != "" {
			return &syntax.Ident{Name: s}
		}
		idx := -1
		if t.Def.Member != 0 {
			idx = t.Def.Member
		}
		return &syntax.HashRef{CID: t.Def.CID.String(), Index: idx}
	case *Self:
		return &syntax.Ident{Name: d.selfName(t.Member)}
	case *Builtin:
		return &syntax.Ident{Name: t.Name}
	case *Ctor:
		return &syntax.Ident{Name: d.ctorName(t.Type, t.Index)}
	case *Int:
		return &syntax.IntLit{Value: t.V}
	case *Float:
		return &syntax.FloatLit{Value: t.V}
	case *Text:
		return &syntax.TextLit{Value: t.V}
	case *Bool:
		return &syntax.BoolLit{Value: t.V}
	case *Bytes:
		return &syntax.BytesLit{Value: t.V}
	case *Unit:
		return &syntax.UnitLit{}
	case *Lam:
		if d.form(t) == FormSection {
			if e, ok := d.section(t); ok {
				return e
			}
		}
		params := d.bind(t.Arity)
		var body syntax.Expr = d.expr(t.Body)
		d.unbind(t.Arity)
		// The groups the source split the parameters into, the
		// innermost lambda first; one group without a record.
		shape := shapeOf(d.form(t))
		end := t.Arity
		for i := t.Arity - 1; i >= 1; i-- {
			if shape.breakAfter(i) {
				body = &syntax.Lambda{Params: params[i:end], Body: body}
				end = i
			}
		}
		return &syntax.Lambda{Params: params[:end], Body: body}
	case *App:
		form := d.form(t)
		if form == FormPipe && len(t.Args) > 0 {
			// x |> f a: the piped argument was resolved first, so
			// its binders come first in the hints.
			x := d.expr(t.Args[len(t.Args)-1])
			var f syntax.Expr = d.expr(t.Fn)
			if rest := t.Args[:len(t.Args)-1]; len(rest) > 0 {
				a := &syntax.App{Fn: f}
				for _, y := range rest {
					a.Args = append(a.Args, d.expr(y))
				}
				f = a
			}
			return &syntax.BinOp{Op: "|>", L: x, R: f}
		}
		if b, ok := t.Fn.(*Builtin); ok && form != FormCall {
			if sym, ok := opSymbols[b.Name]; ok && len(t.Args) == 2 {
				return &syntax.BinOp{Op: sym, L: d.expr(t.Args[0]), R: d.expr(t.Args[1])}
			}
			if b.Name == "Op.negate" && len(t.Args) == 1 {
				return &syntax.Neg{X: d.expr(t.Args[0])}
			}
		}
		a := &syntax.App{Fn: d.expr(t.Fn)}
		for _, x := range t.Args {
			a.Args = append(a.Args, d.expr(x))
		}
		return a
	case *Let, *LetRec:
		return d.let(t)
	case *If:
		form := d.form(t)
		and := false
		if b, ok := t.Else.(*Bool); ok && !b.V {
			and = true
		}
		or := false
		if b, ok := t.Then.(*Bool); ok && b.V {
			or = true
		}
		// `if a then true else false` is both; without a record it
		// is a && true.
		switch {
		case form == FormIf:
		case or && (form == FormOr || !and):
			return &syntax.BinOp{Op: "||", L: d.expr(t.Cond), R: d.expr(t.Else)}
		case and:
			return &syntax.BinOp{Op: "&&", L: d.expr(t.Cond), R: d.expr(t.Then)}
		}
		return &syntax.If{Cond: d.expr(t.Cond), Then: d.expr(t.Then), Else: d.expr(t.Else)}
	case *Match:
		m := &syntax.Match{Scrutinee: d.expr(t.Scrutinee)}
		m.Let = d.form(t) == FormLetPattern && len(t.Arms) == 1
		for _, a := range t.Arms {
			var bound []string
			pat := d.pattern(a.Pat, &bound)
			body := d.expr(a.Body)
			d.unbind(len(bound))
			m.Arms = append(m.Arms, &syntax.Arm{Pattern: pat, Body: body})
		}
		return m
	case *Tuple:
		tu := &syntax.Tuple{}
		for _, x := range t.Elems {
			tu.Elems = append(tu.Elems, d.expr(x))
		}
		return tu
	case *List:
		l := &syntax.List{}
		for _, x := range t.Elems {
			l.Elems = append(l.Elems, d.expr(x))
		}
		return l
	case *Delay:
		return &syntax.Delay{Body: d.expr(t.Body)}
	case *Force:
		return &syntax.Force{X: d.expr(t.X)}
	}
	return &syntax.Ident{Name: fmt.Sprintf("<%T>", t)}
}

// let merges a chain of Let/LetRec into one `let ... in` block.
func (d *decompiler) let(t Term) syntax.Expr {
	l := &syntax.Let{}
	bound := 0
	for {
		if bound > 0 && d.form(t) == FormLetNested {
			break // a let of its own in the source: l.Body below
		}
		var b *syntax.Binding
		switch x := t.(type) {
		case *Let:
			value := d.expr(x.Value)
			name := d.newName()
			d.scope = append(d.scope, name)
			bound++
			b = &syntax.Binding{Name: name}
			b.Params, b.Value = d.lift(x.Value, value)
			t = x.Body
		case *LetRec:
			name := d.newName()
			d.scope = append(d.scope, name)
			bound++
			b = &syntax.Binding{Name: name}
			b.Params, b.Value = d.lift(x.Value, d.expr(x.Value))
			t = x.Body
		}
		if b == nil {
			break
		}
		l.Bindings = append(l.Bindings, b)
	}
	l.Body = d.expr(t)
	d.unbind(bound)
	return l
}

func (d *decompiler) pattern(p Pattern, bound *[]string) syntax.Pattern {
	switch p := p.(type) {
	case *PVar:
		name := d.newName()
		d.scope = append(d.scope, name)
		*bound = append(*bound, name)
		return &syntax.PVar{Name: name}
	case *PWild:
		return &syntax.PWild{}
	case *PLit:
		return &syntax.PLit{Lit: d.expr(p.Lit)}
	case *PCtor:
		pc := &syntax.PCtor{Name: d.ctorName(p.Type, p.Index)}
		for _, a := range p.Args {
			pc.Args = append(pc.Args, d.pattern(a, bound))
		}
		return pc
	case *PTuple:
		pt := &syntax.PTuple{}
		for _, a := range p.Elems {
			pt.Elems = append(pt.Elems, d.pattern(a, bound))
		}
		return pt
	case *PList:
		pl := &syntax.PList{}
		for _, a := range p.Elems {
			pl.Elems = append(pl.Elems, d.pattern(a, bound))
		}
		return pl
	case *PCons:
		h := d.pattern(p.Head, bound)
		t := d.pattern(p.Tail, bound)
		return &syntax.PCons{Head: h, Tail: t}
	}
	return &syntax.PWild{}
}

// Section parameters have names no source name can have, as the parser
// gives them (syntax.FormatExpr prints such a lambda as the section).
const (
	sectionL = "%l"
	sectionR = "%r"
	sectionX = "%x" // the one parameter of (op e) or (e op), side unknown yet
)

func isSectionLambda(l *syntax.Lambda) bool {
	return len(l.Params) > 0 && strings.HasPrefix(l.Params[0], "%")
}

// section decompiles a Lam the source wrote as an operator section: its
// body must print as an operator whose operands are the parameters in
// order, (op), or one parameter once as one operand, (op e) or (e op).
// Otherwise it undoes its work and reports false.
func (d *decompiler) section(t *Lam) (syntax.Expr, bool) {
	if t.Arity != 1 && t.Arity != 2 {
		return nil, false
	}
	next, fresh := d.next, d.fresh
	names := []string{sectionX}
	if t.Arity == 2 {
		names = []string{sectionL, sectionR}
	}
	d.scope = append(d.scope, names...)
	d.next += t.Arity // their hints are empty (see resolver.push)
	body := d.expr(t.Body)
	d.unbind(t.Arity)
	isVar := func(e syntax.Expr, name string) bool {
		id, ok := e.(*syntax.Ident)
		return ok && id.Name == name
	}
	once := func(i int) bool { return countVar(t.Body, i) == 1 }
	if b, ok := body.(*syntax.BinOp); ok {
		switch {
		case t.Arity == 2 && isVar(b.L, sectionL) && isVar(b.R, sectionR) && once(0) && once(1):
			return &syntax.Lambda{Params: names, Body: b}, true
		case t.Arity == 1 && isVar(b.L, sectionX) && once(0) && b.Op != "-": // (- e) is negation
			b.L = &syntax.Ident{Name: sectionL}
			return &syntax.Lambda{Params: []string{sectionL}, Body: b}, true
		case t.Arity == 1 && isVar(b.R, sectionX) && once(0):
			b.R = &syntax.Ident{Name: sectionR}
			return &syntax.Lambda{Params: []string{sectionR}, Body: b}, true
		}
	}
	d.next, d.fresh = next, fresh
	return nil, false
}

// countVar counts t's uses of the local at de Bruijn index i.
func countVar(t Term, i int) int {
	n := 0
	walkVars(t, 0, func(idx, depth int) {
		if idx == i+depth {
			n++
		}
	})
	return n
}
