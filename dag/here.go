package dag

import (
	"bytes"

	"github.com/ipfs/go-cid"
)

// Node-fixed code (docs/security.md, "Private implementations").
//
// `here!` in a definition names the node that adds it: the compiler
// (CompileOptions.Here) turns it into FixedNodeBuiltin applied to the
// node's peer ID as a Text literal, so the CID of a definition that uses
// here! depends on the node that added it. A thunk sent to such a fixed
// node, `at here! 'e` (or at'), runs only there, so what e refers to is
// that node's business: another node may hold and call the definition
// without holding e's references. NeededLinks leaves those references
// out, and the store's closure invariant, ClosureOf and the sync protocol
// use NeededLinks, so the wrapper of a private implementation is complete
// (and can be published and synced) without the implementation.

// Names of node-fixed code.
const (
	// HereName is the source name that the compiler fixes to the node
	// adding the definition.
	HereName = "here!"
	// FixedNodeBuiltin is the builtin (Text -> Node) that here! compiles
	// to: FixedNodeBuiltin "<peer id>".
	FixedNodeBuiltin = "Node.fixed"
)

var fixedNodeMarker = []byte(FixedNodeBuiltin)

// FixedNode returns the term here! compiles to on the node with this
// peer ID.
func FixedNode(peerID string) Term {
	return &App{Fn: &Builtin{Name: FixedNodeBuiltin}, Args: []Term{&Text{V: peerID}}}
}

// FixedNodeOf reports whether t is a node-fixed literal (FixedNode) and
// returns the peer ID.
func FixedNodeOf(t Term) (string, bool) {
	a, ok := t.(*App)
	if !ok || len(a.Args) != 1 {
		return "", false
	}
	if b, ok := a.Fn.(*Builtin); !ok || b.Name != FixedNodeBuiltin {
		return "", false
	}
	txt, ok := a.Args[0].(*Text)
	if !ok {
		return "", false
	}
	return txt.V, true
}

// FixedThunk reports whether app sends a thunk to a fixed node, `at
// (Node.fixed "id") 'e` or at', and returns the thunk and the peer ID.
func FixedThunk(app *App) (*Delay, string, bool) {
	b, ok := app.Fn.(*Builtin)
	if !ok || (b.Name != "at" && b.Name != "at'") || len(app.Args) < 2 {
		return nil, "", false
	}
	id, ok := FixedNodeOf(app.Args[0])
	if !ok {
		return nil, "", false
	}
	d, ok := app.Args[1].(*Delay)
	if !ok {
		return nil, "", false
	}
	return d, id, true
}

// NeededLinks returns the links of a block that a holder of the block
// needs: all its links (Links) except those that occur only inside thunks
// sent to a fixed node (FixedThunk). For blocks without node-fixed code
// it is Links; deduplicated and sorted the same way.
func NeededLinks(data []byte) ([]cid.Cid, error) {
	links, err := Links(data)
	if err != nil || len(links) == 0 || !bytes.Contains(data, fixedNodeMarker) {
		return links, err
	}
	if kind, err := BlockKind(data); err != nil || kind != TermBlockKind {
		return links, err
	}
	tb, err := DecodeTermBlock(data)
	if err != nil {
		return nil, err
	}
	w := &neededWalker{needed: linkWalker{seen: map[cid.Cid]struct{}{}}, fixed: linkWalker{seen: map[cid.Cid]struct{}{}}}
	for _, m := range tb.Members {
		w.term(m)
	}
	// Leave out what only the fixed thunks link to; anything else stays,
	// even a link neither walk found.
	out := links[:0:0]
	for _, l := range links {
		_, inFixed := w.fixed.seen[l]
		_, inNeeded := w.needed.seen[l]
		if inFixed && !inNeeded {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// neededWalker sorts a term's links into those under fixed thunks and the
// others.
type neededWalker struct {
	needed, fixed linkWalker
}

func (w *neededWalker) terms(ts []Term) {
	for _, t := range ts {
		w.term(t)
	}
}

func (w *neededWalker) term(t Term) {
	switch x := t.(type) {
	case *App:
		if d, _, ok := FixedThunk(x); ok {
			w.term(x.Fn)
			w.term(x.Args[0])
			w.fixed.term(d)
			w.terms(x.Args[2:])
			return
		}
		w.term(x.Fn)
		w.terms(x.Args)
	case *Lam:
		w.term(x.Body)
	case *Let:
		w.term(x.Value)
		w.term(x.Body)
	case *LetRec:
		w.term(x.Value)
		w.term(x.Body)
	case *If:
		w.term(x.Cond)
		w.term(x.Then)
		w.term(x.Else)
	case *Match:
		w.term(x.Scrutinee)
		for _, a := range x.Arms {
			w.needed.pattern(a.Pat)
			w.term(a.Body)
		}
	case *Tuple:
		w.terms(x.Elems)
	case *List:
		w.terms(x.Elems)
	case *Delay:
		w.term(x.Body)
	case *Force:
		w.term(x.X)
	default:
		w.needed.term(t) // Ref, Ctor and leaves
	}
}

// Refs is what code names: builtins, definitions by reference, and data
// types. The node checks foreign code against its sandbox with it.
type Refs struct {
	Builtins map[string]bool
	Defs     map[cid.Cid]bool // blocks of definitions referred to (Ref, VDef)
	Types    map[cid.Cid]bool // blocks of data types (constructors, patterns)
	Chunks   map[cid.Cid]bool // roots of chunk trees (VChunked, ChunkedLit)
}

// NewRefs returns an empty Refs.
func NewRefs() *Refs {
	return &Refs{Builtins: map[string]bool{}, Defs: map[cid.Cid]bool{}, Types: map[cid.Cid]bool{}, Chunks: map[cid.Cid]bool{}}
}

// AddTerm adds what t names, including inside thunks sent to fixed nodes.
func (r *Refs) AddTerm(t Term) {
	switch x := t.(type) {
	case *Ref:
		r.def(x.Def)
	case *Builtin:
		r.Builtins[x.Name] = true
	case *Ctor:
		r.typ(x.Type)
	case *Lam:
		r.AddTerm(x.Body)
	case *App:
		r.AddTerm(x.Fn)
		for _, a := range x.Args {
			r.AddTerm(a)
		}
	case *Let:
		r.AddTerm(x.Value)
		r.AddTerm(x.Body)
	case *LetRec:
		r.AddTerm(x.Value)
		r.AddTerm(x.Body)
	case *If:
		r.AddTerm(x.Cond)
		r.AddTerm(x.Then)
		r.AddTerm(x.Else)
	case *Match:
		r.AddTerm(x.Scrutinee)
		for _, a := range x.Arms {
			r.pattern(a.Pat)
			r.AddTerm(a.Body)
		}
	case *Tuple:
		for _, e := range x.Elems {
			r.AddTerm(e)
		}
	case *List:
		for _, e := range x.Elems {
			r.AddTerm(e)
		}
	case *Delay:
		r.AddTerm(x.Body)
	case *Force:
		r.AddTerm(x.X)
	case *ChunkedLit:
		r.Chunks[x.Root] = true
	}
}

func (r *Refs) def(d DefRef) {
	if d.CID.Defined() {
		r.Defs[d.CID] = true
	}
}

func (r *Refs) typ(t TypeRef) {
	if t.Builtin == "" && t.Def.CID.Defined() {
		r.Types[t.Def.CID] = true
	}
}

func (r *Refs) pattern(p Pattern) {
	switch x := p.(type) {
	case *PCtor:
		r.typ(x.Type)
		for _, a := range x.Args {
			r.pattern(a)
		}
	case *PTuple:
		for _, e := range x.Elems {
			r.pattern(e)
		}
	case *PList:
		for _, e := range x.Elems {
			r.pattern(e)
		}
	case *PCons:
		r.pattern(x.Head)
		r.pattern(x.Tail)
	}
}

// AddValue adds what a value's code names: its closures' code, builtins
// and definitions held as values, and its data types. Long right-nested
// data is walked in a loop.
func (r *Refs) AddValue(v Value) {
	for v != nil {
		switch x := v.(type) {
		case *VTuple:
			r.addValues(x.Elems)
		case *VList:
			r.addValues(x.Elems)
		case *VMap:
			r.addValues(x.Keys)
			r.addValues(x.Vals)
		case *VData:
			r.typ(x.Type)
			if n := len(x.Fields); n > 0 {
				r.addValues(x.Fields[:n-1])
				v = x.Fields[n-1]
				continue
			}
		case *VClosure:
			r.AddTerm(x.Code)
			env := x.Env
			if x.Rec && len(env) > 0 {
				env = env[1:]
			}
			r.addValues(env)
		case *VDef:
			r.def(x.Def)
		case *VBuiltin:
			r.Builtins[x.Name] = true
			r.addValues(x.Args)
		case *VCtorFn:
			r.typ(x.Type)
			r.addValues(x.Args)
		case *VPartial:
			r.AddValue(x.Fn)
			r.addValues(x.Args)
		case *VChunked:
			r.Chunks[x.Root] = true
		}
		return
	}
}

func (r *Refs) addValues(vs []Value) {
	for _, v := range vs {
		r.AddValue(v)
	}
}

// AddBlock adds what a block names: every member of a term block (type
// blocks name only other types).
func (r *Refs) AddBlock(data []byte) error {
	kind, err := BlockKind(data)
	if err != nil {
		return err
	}
	switch kind {
	case TermBlockKind:
		tb, err := DecodeTermBlock(data)
		if err != nil {
			return err
		}
		for _, m := range tb.Members {
			r.AddTerm(m)
		}
	case TypeBlockKind:
		links, err := Links(data)
		if err != nil {
			return err
		}
		for _, l := range links {
			r.Types[l] = true
		}
	case ChunkBlockKind:
		// Element leaves hold values, whose code names builtins and
		// definitions like a thunk's.
		nd, err := decodeChunkBlock(data)
		if err != nil {
			return err
		}
		for _, u := range nd.units {
			r.AddValue(u)
		}
		for _, k := range nd.kids {
			r.Chunks[k.c] = true
		}
	}
	return nil
}
