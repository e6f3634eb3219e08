package dag

import (
	"fmt"

	"github.com/ipfs/go-cid"
)

// DefRef names one member of a definition block: the block's CID and the
// member's index inside it (0 for a block with one member; cycle blocks of
// mutually recursive definitions have several).
type DefRef struct {
	CID    cid.Cid
	Member int
}

func (r DefRef) String() string {
	if r.Member == 0 {
		return "#" + r.CID.String()
	}
	return fmt.Sprintf("#%s#%d", r.CID, r.Member)
}

// TypeRef names a data type: either a builtin type by stable name
// (Builtin != "", e.g. "Optional", "Either", "Err") or a member of a type block.
type TypeRef struct {
	Builtin string
	Def     DefRef
}

func (t TypeRef) String() string {
	if t.Builtin != "" {
		return t.Builtin
	}
	return t.Def.String()
}

// Term is a node of the normalized AST stored in definition blocks: no
// names, no positions. Locals are de Bruijn indices, other definitions are
// CID links, builtins are stable names.
//
// Binding order: a Lam of Arity n binds its parameters so that the last
// parameter is index 0 and the first is index n-1. Let binds its value at
// index 0 in Body. LetRec binds its value at index 0 in both Value and Body.
// A match Arm binds its pattern's variables left to right (depth first), so
// the last variable bound is index 0.
type Term interface{ termNode() }

type (
	// Var is a local variable by de Bruijn index (0 = innermost binder).
	Var struct{ Index int }
	// Ref is a definition in another block.
	Ref struct{ Def DefRef }
	// Self is a member of the block being defined (recursion); in a
	// singleton block, Self{0} is the definition itself.
	Self struct{ Member int }
	// Builtin is a primitive by stable name ("List.map", "Op.add").
	Builtin struct{ Name string }
	// Ctor is a data constructor. Arity is the number of fields; a Ctor of
	// arity 0 is a value, otherwise a function of Arity arguments.
	Ctor struct {
		Type  TypeRef
		Index int
		Arity int
	}
	Int   struct{ V int64 }
	Float struct{ V float64 }
	Text  struct{ V string }
	Bool  struct{ V bool }
	Bytes struct{ V []byte }
	Unit  struct{}
	// Lam is a function of Arity >= 1 parameters.
	Lam struct {
		Arity int
		Body  Term
	}
	// App applies Fn to Args (len(Args) >= 1). Application is curried in
	// meaning: f a b == (f a) b.
	App struct {
		Fn   Term
		Args []Term
	}
	// Let evaluates Value, then Body with it bound at index 0.
	Let struct{ Value, Body Term }
	// LetRec is a recursive local function: Value (always a *Lam) and Body
	// both see it at index 0.
	LetRec struct{ Value, Body Term }
	If     struct{ Cond, Then, Else Term }
	Match  struct {
		Scrutinee Term
		Arms      []Arm
	}
	Tuple struct{ Elems []Term } // len >= 2
	List  struct{ Elems []Term }
	// Delay is 'e: a thunk of no arguments.
	Delay struct{ Body Term }
	// Force is !e.
	Force struct{ X Term }
)

// Arm is one case of a Match.
type Arm struct {
	Pat  Pattern
	Body Term
}

func (*Var) termNode()     {}
func (*Ref) termNode()     {}
func (*Self) termNode()    {}
func (*Builtin) termNode() {}
func (*Ctor) termNode()    {}
func (*Int) termNode()     {}
func (*Float) termNode()   {}
func (*Text) termNode()    {}
func (*Bool) termNode()    {}
func (*Bytes) termNode()   {}
func (*Unit) termNode()    {}
func (*Lam) termNode()     {}
func (*App) termNode()     {}
func (*Let) termNode()     {}
func (*LetRec) termNode()  {}
func (*If) termNode()      {}
func (*Match) termNode()   {}
func (*Tuple) termNode()   {}
func (*List) termNode()    {}
func (*Delay) termNode()   {}
func (*Force) termNode()   {}

// Pattern is a match pattern in normalized form.
type Pattern interface{ patNode() }

type (
	PVar  struct{} // binds one variable
	PWild struct{}
	// PLit matches a literal; Lit is *Int, *Float, *Text, *Bool, *Bytes or *Unit.
	PLit  struct{ Lit Term }
	PCtor struct {
		Type  TypeRef
		Index int
		Args  []Pattern
	}
	PTuple struct{ Elems []Pattern }
	PList  struct{ Elems []Pattern } // exact length
	PCons  struct{ Head, Tail Pattern }
)

func (*PVar) patNode()   {}
func (*PWild) patNode()  {}
func (*PLit) patNode()   {}
func (*PCtor) patNode()  {}
func (*PTuple) patNode() {}
func (*PList) patNode()  {}
func (*PCons) patNode()  {}

// TypeTerm is a type expression in normalized form (field types of
// constructors). Type variables are indices into the declaration's
// parameters (0 = first parameter).
type TypeTerm interface{ typeNode() }

type (
	TVar     struct{ Index int }
	TRef     struct{ Def DefRef }
	TSelf    struct{ Member int }
	TBuiltin struct{ Name string } // Int, Float, Text, Bool, Bytes, List, Map, Optional, Either, ...
	TApp     struct {
		Fn   TypeTerm
		Args []TypeTerm
	}
	TFun   struct{ Arg, Res TypeTerm }
	TTuple struct{ Elems []TypeTerm } // empty = unit
)

func (*TVar) typeNode()     {}
func (*TRef) typeNode()     {}
func (*TSelf) typeNode()    {}
func (*TBuiltin) typeNode() {}
func (*TApp) typeNode()     {}
func (*TFun) typeNode()     {}
func (*TTuple) typeNode()   {}

// DataDecl is one data type: the number of type parameters and the
// constructors' field types, in declaration order.
type DataDecl struct {
	Params int
	Ctors  [][]TypeTerm
}

// TermBlock is a decoded definition block: one member, or several for a
// cycle of mutually recursive definitions.
type TermBlock struct {
	Members []Term
}

// TypeBlock is a decoded type block: one data declaration, or several for
// mutually recursive types.
type TypeBlock struct {
	Members []*DataDecl
}
