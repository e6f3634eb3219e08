package dag

import "github.com/ipfs/go-cid"

// ValueLinks returns the links of a value without encoding it: the same
// CIDs, deduplicated and sorted, that Links finds in EncodeValue(v) (the
// definitions its closures' code refers to, its defined data types, its
// top-level functions). Callers that hold the decoded or unencoded value
// use it to skip a second parse.
func ValueLinks(v Value) []cid.Cid {
	w := linkWalker{seen: map[cid.Cid]struct{}{}}
	w.value(v)
	out := make([]cid.Cid, 0, len(w.seen))
	for c := range w.seen {
		out = append(out, c)
	}
	sortCIDs(out)
	return out
}

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

func (w *linkWalker) values(vs []Value) {
	for _, v := range vs {
		w.value(v)
	}
}

func (w *linkWalker) value(v Value) {
	for v != nil {
		switch x := v.(type) {
		case *VTuple:
			w.values(x.Elems)
		case *VList:
			w.values(x.Elems)
		case *VMap:
			w.values(x.Keys)
			w.values(x.Vals)
		case *VData:
			// Loop down the last field: long right-nested data in
			// constant stack.
			w.typ(x.Type)
			if n := len(x.Fields); n > 0 {
				w.values(x.Fields[:n-1])
				v = x.Fields[n-1]
				continue
			}
		case *VClosure:
			w.term(x.Code)
			env := x.Env
			if x.Rec && len(env) > 0 {
				env = env[1:] // the closure itself
			}
			w.values(env)
		case *VDef:
			w.def(x.Def)
		case *VBuiltin:
			w.values(x.Args)
		case *VCtorFn:
			w.typ(x.Type)
			w.values(x.Args)
		case *VPartial:
			w.value(x.Fn)
			w.values(x.Args)
		}
		return
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
