package dag

import "github.com/ipfs/go-cid"

// ValueLinks returns the links of a value without encoding it: the same
// CIDs, deduplicated and sorted, that Links finds in EncodeValue(v) (the
// definitions its closures' code refers to, its defined data types, its
// top-level functions, the roots of its chunk trees). Callers that hold the decoded or unencoded value
// use it to skip a second parse.
func ValueLinks(v Value) []cid.Cid {
	r := NewRefs()
	r.AddValue(v)
	out := make([]cid.Cid, 0, len(r.Defs)+len(r.Types))
	for c := range r.Defs {
		out = append(out, c)
	}
	for c := range r.Types {
		if !r.Defs[c] {
			out = append(out, c)
		}
	}
	for c := range r.Chunks {
		if !r.Defs[c] && !r.Types[c] {
			out = append(out, c)
		}
	}
	sortCIDs(out)
	return out
}

// linkWalker collects the links of terms; neededWalker (here.go) uses two
// of them to tell owner-side links from the rest.
type linkWalker struct{ seen map[cid.Cid]struct{} }

func (w *linkWalker) def(r DefRef) {
	if r.CID.Defined() {
		w.seen[r.CID] = struct{}{}
	}
}

func (w *linkWalker) typ(t TypeRef) {
	if t.Builtin == "" {
		w.def(t.Def)
	}
}

func (w *linkWalker) terms(ts []Term) {
	for _, t := range ts {
		w.term(t)
	}
}

func (w *linkWalker) term(t Term) {
	switch x := t.(type) {
	case *Ref:
		w.def(x.Def)
	case *Ctor:
		w.typ(x.Type)
	case *Lam:
		w.term(x.Body)
	case *App:
		w.term(x.Fn)
		w.terms(x.Args)
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
			w.pattern(a.Pat)
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
	case *ChunkedLit:
		w.seen[x.Root] = struct{}{}
	}
}

func (w *linkWalker) pattern(p Pattern) {
	switch x := p.(type) {
	case *PCtor:
		w.typ(x.Type)
		for _, a := range x.Args {
			w.pattern(a)
		}
	case *PTuple:
		for _, e := range x.Elems {
			w.pattern(e)
		}
	case *PList:
		for _, e := range x.Elems {
			w.pattern(e)
		}
	case *PCons:
		w.pattern(x.Head)
		w.pattern(x.Tail)
	}
}
