package syntax

// Pos is a position in a source file. Line and Col are 1-based; Col counts
// bytes. A zero Pos means "unknown".
type Pos struct {
	File string
	Line int
	Col  int
}

// File is a parsed source file: its declarations in source order.
type File struct {
	Name  string
	Decls []Decl
}

// Decl is a top-level declaration: *TypeDecl or *DefDecl.
type Decl interface {
	declNode()
	DeclPos() Pos
	DeclName() string
}

// TypeDecl is `type Name a b = Ctor1 T1 T2 | Ctor2 | ...`.
type TypeDecl struct {
	Pos    Pos
	Name   string
	Params []string
	Ctors  []*CtorDecl
}

// CtorDecl is one constructor of a data type with its field types.
type CtorDecl struct {
	Pos    Pos
	Name   string
	Fields []TypeExpr
}

// DefDecl is `name p1 p2 = body` (Params may be empty).
// Type is reserved for a future type annotation and is always nil today.
type DefDecl struct {
	Pos    Pos
	Name   string
	Params []string
	Type   TypeExpr
	Body   Expr
}

func (*TypeDecl) declNode()          {}
func (*DefDecl) declNode()           {}
func (d *TypeDecl) DeclPos() Pos     { return d.Pos }
func (d *DefDecl) DeclPos() Pos      { return d.Pos }
func (d *TypeDecl) DeclName() string { return d.Name }
func (d *DefDecl) DeclName() string  { return d.Name }

// TypeExpr is a type expression: *TypeName, *TypeApp, *TypeFun, *TypeTuple.
type TypeExpr interface {
	typeNode()
	TypePos() Pos
}

// TypeName is a type variable (lower-case) or a type constructor name
// (upper-case, possibly qualified), e.g. `a`, `Int`, `List`.
type TypeName struct {
	Pos  Pos
	Name string
}

// TypeApp is `F a b`.
type TypeApp struct {
	Pos  Pos
	Fn   TypeExpr
	Args []TypeExpr
}

// TypeFun is `a -> b`.
type TypeFun struct {
	Pos      Pos
	Arg, Res TypeExpr
}

// TypeTuple is `(a, b)`; with no elements it is the unit type `()`.
type TypeTuple struct {
	Pos   Pos
	Elems []TypeExpr
}

func (*TypeName) typeNode()       {}
func (*TypeApp) typeNode()        {}
func (*TypeFun) typeNode()        {}
func (*TypeTuple) typeNode()      {}
func (t *TypeName) TypePos() Pos  { return t.Pos }
func (t *TypeApp) TypePos() Pos   { return t.Pos }
func (t *TypeFun) TypePos() Pos   { return t.Pos }
func (t *TypeTuple) TypePos() Pos { return t.Pos }

// Expr is an expression node. Every node records the position of its
// first token.
type Expr interface {
	exprNode()
	ExprPos() Pos
}

type (
	// Ident is a name: a local variable, a definition, a constructor or a
	// builtin, possibly qualified (`List.map`, `Maybe.Just`). Resolution
	// happens later, in dag.
	Ident struct {
		Pos  Pos
		Name string
	}
	// HashRef is `#bafy...` (optionally `#bafy...#2` for a cycle member or
	// constructor index; Index is -1 when absent).
	HashRef struct {
		Pos   Pos
		CID   string
		Index int
	}
	IntLit struct {
		Pos   Pos
		Value int64
	}
	FloatLit struct {
		Pos   Pos
		Value float64
	}
	TextLit struct {
		Pos   Pos
		Value string
	}
	BoolLit struct {
		Pos   Pos
		Value bool
	}
	// BytesLit is `0xs0a1b` (hex digits after `0xs`).
	BytesLit struct {
		Pos   Pos
		Value []byte
	}
	UnitLit struct {
		Pos Pos
	}
	// Tuple has at least two elements; `(e)` parses as e itself.
	Tuple struct {
		Pos   Pos
		Elems []Expr
	}
	List struct {
		Pos   Pos
		Elems []Expr
	}
	// Lambda is `x y -> body`.
	Lambda struct {
		Pos    Pos
		Params []string
		Body   Expr
	}
	// App is function application `f a b` (Args non-empty).
	App struct {
		Pos  Pos
		Fn   Expr
		Args []Expr
	}
	// BinOp is `l op r` for the operators + - * / % == != < <= > >= && ||
	// ++ :: |>. Neg is unary minus on a non-literal (`-x`).
	BinOp struct {
		Pos  Pos
		Op   string
		L, R Expr
		// OpPos is where the operator is written: a runtime error in
		// the operation points there rather than at L.
		OpPos Pos
	}
	Neg struct {
		Pos Pos
		X   Expr
	}
	// Let is `let b1; b2 ... in body`. Bindings are sequential: each sees
	// the ones before it. A binding with parameters (`let f x = ...`) may
	// call itself recursively.
	Let struct {
		Pos      Pos
		Bindings []*Binding
		Body     Expr
	}
	If struct {
		Pos              Pos
		Cond, Then, Else Expr
	}
	Match struct {
		Pos       Pos
		Scrutinee Expr
		Arms      []*Arm
		// Let marks the one-arm match a destructuring `let pat = e in
		// body` stands for; it changes only how the match is printed.
		Let bool
	}
	// Delay is `'e`, a thunk of no arguments.
	Delay struct {
		Pos  Pos
		Body Expr
	}
	// Force is `!e`.
	Force struct {
		Pos Pos
		X   Expr
	}
)

// Binding is one `name params = value` inside a let.
type Binding struct {
	Pos    Pos
	Name   string
	Params []string
	Value  Expr
}

// Arm is `| pattern -> body` in a match.
type Arm struct {
	Pos     Pos
	Pattern Pattern
	Body    Expr
}

func (*Ident) exprNode()    {}
func (*HashRef) exprNode()  {}
func (*IntLit) exprNode()   {}
func (*FloatLit) exprNode() {}
func (*TextLit) exprNode()  {}
func (*BoolLit) exprNode()  {}
func (*BytesLit) exprNode() {}
func (*UnitLit) exprNode()  {}
func (*Tuple) exprNode()    {}
func (*List) exprNode()     {}
func (*Lambda) exprNode()   {}
func (*App) exprNode()      {}
func (*BinOp) exprNode()    {}
func (*Neg) exprNode()      {}
func (*Let) exprNode()      {}
func (*If) exprNode()       {}
func (*Match) exprNode()    {}
func (*Delay) exprNode()    {}
func (*Force) exprNode()    {}

func (e *Ident) ExprPos() Pos    { return e.Pos }
func (e *HashRef) ExprPos() Pos  { return e.Pos }
func (e *IntLit) ExprPos() Pos   { return e.Pos }
func (e *FloatLit) ExprPos() Pos { return e.Pos }
func (e *TextLit) ExprPos() Pos  { return e.Pos }
func (e *BoolLit) ExprPos() Pos  { return e.Pos }
func (e *BytesLit) ExprPos() Pos { return e.Pos }
func (e *UnitLit) ExprPos() Pos  { return e.Pos }
func (e *Tuple) ExprPos() Pos    { return e.Pos }
func (e *List) ExprPos() Pos     { return e.Pos }
func (e *Lambda) ExprPos() Pos   { return e.Pos }
func (e *App) ExprPos() Pos      { return e.Pos }
func (e *BinOp) ExprPos() Pos    { return e.Pos }
func (e *Neg) ExprPos() Pos      { return e.Pos }
func (e *Let) ExprPos() Pos      { return e.Pos }
func (e *If) ExprPos() Pos       { return e.Pos }
func (e *Match) ExprPos() Pos    { return e.Pos }
func (e *Delay) ExprPos() Pos    { return e.Pos }
func (e *Force) ExprPos() Pos    { return e.Pos }

// Pattern is a match pattern.
type Pattern interface {
	patNode()
	PatPos() Pos
}

type (
	// PVar binds a variable; PWild is `_`.
	PVar struct {
		Pos  Pos
		Name string
	}
	PWild struct {
		Pos Pos
	}
	// PLit matches a literal: Lit is *IntLit, *FloatLit, *TextLit,
	// *BoolLit, *BytesLit or *UnitLit (negative numbers fold into the
	// literal).
	PLit struct {
		Pos Pos
		Lit Expr
	}
	// PCtor is `Ctor p1 p2` (Name possibly qualified, or a HashRef text
	// `#cid#i`).
	PCtor struct {
		Pos  Pos
		Name string
		Args []Pattern
	}
	PTuple struct {
		Pos   Pos
		Elems []Pattern
	}
	// PList is `[]` or `[p1, p2]` (exact length).
	PList struct {
		Pos   Pos
		Elems []Pattern
	}
	// PCons is `head :: tail`.
	PCons struct {
		Pos        Pos
		Head, Tail Pattern
	}
)

func (*PVar) patNode()   {}
func (*PWild) patNode()  {}
func (*PLit) patNode()   {}
func (*PCtor) patNode()  {}
func (*PTuple) patNode() {}
func (*PList) patNode()  {}
func (*PCons) patNode()  {}

func (p *PVar) PatPos() Pos   { return p.Pos }
func (p *PWild) PatPos() Pos  { return p.Pos }
func (p *PLit) PatPos() Pos   { return p.Pos }
func (p *PCtor) PatPos() Pos  { return p.Pos }
func (p *PTuple) PatPos() Pos { return p.Pos }
func (p *PList) PatPos() Pos  { return p.Pos }
func (p *PCons) PatPos() Pos  { return p.Pos }
