package dag

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// canonicalOrder chooses the order of the members of a cycle block so that
// it depends only on the members' structure, never on their names or the
// order they were declared in.
//
// First, colour refinement (Weisfeiler–Lehman): each member's label is the
// hash of its structure with references to other members replaced by their
// current labels, repeated until the partition stops splitting. Members
// are sorted by label. Members still tied are then tried in every order
// (up to maxCyclePermutations in all) and the order whose rendering is
// smallest wins; ties left after that render identically, so any choice
// gives the same block.
//
// render(perm) must render the whole block with members in order perm
// (perm[new] = old). refine(labels) returns each member's structure key
// given the labels of the members it references.
func canonicalOrder(n int, render func(perm []int) string, refine func(labels []string) []string) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if n <= 1 {
		return order
	}
	labels := make([]string, n)
	distinct := 1
	for round := 0; round <= n; round++ {
		refined := refine(labels)
		next := make([]string, n)
		seen := map[string]bool{}
		for i := range next {
			next[i] = hashKey(labels[i] + "|" + refined[i])
			seen[next[i]] = true
		}
		labels = next
		if len(seen) == distinct && round > 0 {
			break
		}
		distinct = len(seen)
	}
	sort.SliceStable(order, func(i, j int) bool { return labels[order[i]] < labels[order[j]] })

	// Group the members that are still tied.
	var groups [][]int
	for i := 0; i < n; {
		j := i
		for j < n && labels[order[j]] == labels[order[i]] {
			j++
		}
		groups = append(groups, append([]int(nil), order[i:j]...))
		i = j
	}
	total := 1
	for _, g := range groups {
		for k := 2; k <= len(g); k++ {
			total *= k
			if total > maxCyclePermutations {
				return order // too symmetric to search; see limits.go
			}
		}
	}
	if total == 1 {
		return order
	}
	best := append([]int(nil), order...)
	bestKey := render(best)
	cur := make([]int, 0, n)
	var rec func(gi int)
	rec = func(gi int) {
		if gi == len(groups) {
			if k := render(cur); k < bestKey {
				bestKey = k
				best = append(best[:0], cur...)
			}
			return
		}
		permute(groups[gi], func(p []int) {
			mark := len(cur)
			cur = append(cur, p...)
			rec(gi + 1)
			cur = cur[:mark]
		})
	}
	rec(0)
	return best
}

// orderComponent chooses the canonical order of the n members of one
// strongly connected component. key(i, self) renders member i with each
// reference to member m rendered as self(m). It returns order
// (order[new] = old) and its inverse.
func orderComponent(n int, key func(i int, self func(int) string) string) (order, inv []int) {
	order = canonicalOrder(n, func(perm []int) string {
		inv := invert(perm)
		var b strings.Builder
		for _, p := range perm {
			b.WriteString(key(p, func(m int) string { return strconv.Itoa(inv[m]) }))
			b.WriteByte(';')
		}
		return b.String()
	}, func(labels []string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = hashKey(key(i, func(m int) string { return labels[m] }))
		}
		return out
	})
	return order, invert(order)
}

// permute calls f with every permutation of xs (Heap's algorithm).
func permute(xs []int, f func([]int)) {
	a := append([]int(nil), xs...)
	var gen func(k int)
	gen = func(k int) {
		if k <= 1 {
			f(a)
			return
		}
		for i := 0; i < k-1; i++ {
			gen(k - 1)
			if k%2 == 0 {
				a[i], a[k-1] = a[k-1], a[i]
			} else {
				a[0], a[k-1] = a[k-1], a[0]
			}
		}
		gen(k - 1)
	}
	gen(len(a))
}

func invert(perm []int) []int {
	inv := make([]int, len(perm))
	for newIdx, old := range perm {
		inv[old] = newIdx
	}
	return inv
}

func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// keyTerm renders a term deterministically, with Self references rendered
// by self. It is only used to order cycle members.
func keyTerm(t Term, self func(m int) string) string {
	var b strings.Builder
	writeKeyTerm(&b, t, self)
	return b.String()
}

func writeKeyTerm(b *strings.Builder, t Term, self func(int) string) {
	list := func(tag string, ts []Term) {
		b.WriteString(tag)
		b.WriteByte('[')
		for _, x := range ts {
			writeKeyTerm(b, x, self)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	}
	switch t := t.(type) {
	case *Var:
		fmt.Fprintf(b, "v%d", t.Index)
	case *Ref:
		fmt.Fprintf(b, "r%s/%d", t.Def.CID, t.Def.Member)
	case *Self:
		b.WriteString("s(" + self(t.Member) + ")")
	case *Builtin:
		b.WriteString("b" + strconv.Quote(t.Name))
	case *Ctor:
		fmt.Fprintf(b, "c%s/%d/%d", t.Type, t.Index, t.Arity)
	case *Int:
		fmt.Fprintf(b, "i%d", t.V)
	case *Float:
		fmt.Fprintf(b, "f%x", math.Float64bits(t.V))
	case *Text:
		b.WriteString("t" + strconv.Quote(t.V))
	case *Bool:
		fmt.Fprintf(b, "o%v", t.V)
	case *Bytes:
		b.WriteString("y" + hex.EncodeToString(t.V))
	case *Unit:
		b.WriteString("u")
	case *Lam:
		fmt.Fprintf(b, "l%d(", t.Arity)
		writeKeyTerm(b, t.Body, self)
		b.WriteByte(')')
	case *App:
		list("a", append([]Term{t.Fn}, t.Args...))
	case *Let:
		list("e", []Term{t.Value, t.Body})
	case *LetRec:
		list("E", []Term{t.Value, t.Body})
	case *If:
		list("?", []Term{t.Cond, t.Then, t.Else})
	case *Match:
		b.WriteString("m(")
		writeKeyTerm(b, t.Scrutinee, self)
		for _, a := range t.Arms {
			b.WriteByte('|')
			writeKeyPat(b, a.Pat, self)
			b.WriteString("->")
			writeKeyTerm(b, a.Body, self)
		}
		b.WriteByte(')')
	case *Tuple:
		list("T", t.Elems)
	case *List:
		list("L", t.Elems)
	case *Delay:
		list("d", []Term{t.Body})
	case *Force:
		list("!", []Term{t.X})
	default:
		fmt.Fprintf(b, "?%T", t)
	}
}

func writeKeyPat(b *strings.Builder, p Pattern, self func(int) string) {
	list := func(tag string, ps []Pattern) {
		b.WriteString(tag + "[")
		for _, x := range ps {
			writeKeyPat(b, x, self)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	}
	switch p := p.(type) {
	case *PVar:
		b.WriteString("V")
	case *PWild:
		b.WriteString("_")
	case *PLit:
		b.WriteString("=")
		writeKeyTerm(b, p.Lit, self)
	case *PCtor:
		fmt.Fprintf(b, "C%s/%d", p.Type, p.Index)
		list("", p.Args)
	case *PTuple:
		list("T", p.Elems)
	case *PList:
		list("L", p.Elems)
	case *PCons:
		list("::", []Pattern{p.Head, p.Tail})
	default:
		fmt.Fprintf(b, "?%T", p)
	}
}

func keyDataDecl(d *DataDecl, self func(int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p%d", d.Params)
	for _, fields := range d.Ctors {
		b.WriteString("|")
		for _, f := range fields {
			writeKeyType(&b, f, self)
			b.WriteByte(',')
		}
	}
	return b.String()
}

func writeKeyType(b *strings.Builder, t TypeTerm, self func(int) string) {
	switch t := t.(type) {
	case *TVar:
		fmt.Fprintf(b, "v%d", t.Index)
	case *TRef:
		fmt.Fprintf(b, "r%s/%d", t.Def.CID, t.Def.Member)
	case *TSelf:
		b.WriteString("s(" + self(t.Member) + ")")
	case *TBuiltin:
		b.WriteString("b" + t.Name)
	case *TApp:
		b.WriteString("a(")
		writeKeyType(b, t.Fn, self)
		for _, a := range t.Args {
			b.WriteByte(' ')
			writeKeyType(b, a, self)
		}
		b.WriteByte(')')
	case *TFun:
		b.WriteString("f(")
		writeKeyType(b, t.Arg, self)
		b.WriteString("->")
		writeKeyType(b, t.Res, self)
		b.WriteByte(')')
	case *TTuple:
		b.WriteString("t(")
		for _, e := range t.Elems {
			writeKeyType(b, e, self)
			b.WriteByte(',')
		}
		b.WriteByte(')')
	default:
		fmt.Fprintf(b, "?%T", t)
	}
}

// renumberSelf copies t with Self{m} replaced by Self{inv[m]}.
func renumberSelf(t Term, inv []int) Term {
	return mapSelf(t, func(m int) int { return inv[m] })
}

func mapSelf(t Term, f func(int) int) Term {
	rec := func(x Term) Term { return mapSelf(x, f) }
	all := func(xs []Term) []Term {
		if xs == nil {
			return nil
		}
		out := make([]Term, len(xs))
		for i, x := range xs {
			out[i] = rec(x)
		}
		return out
	}
	switch t := t.(type) {
	case *Self:
		return &Self{Member: f(t.Member)}
	case *Lam:
		return &Lam{Arity: t.Arity, Body: rec(t.Body)}
	case *App:
		return &App{Fn: rec(t.Fn), Args: all(t.Args)}
	case *Let:
		return &Let{Value: rec(t.Value), Body: rec(t.Body)}
	case *LetRec:
		return &LetRec{Value: rec(t.Value), Body: rec(t.Body)}
	case *If:
		return &If{Cond: rec(t.Cond), Then: rec(t.Then), Else: rec(t.Else)}
	case *Match:
		m := &Match{Scrutinee: rec(t.Scrutinee), Arms: make([]Arm, len(t.Arms))}
		for i, a := range t.Arms {
			m.Arms[i] = Arm{Pat: a.Pat, Body: rec(a.Body)}
		}
		return m
	case *Tuple:
		return &Tuple{Elems: all(t.Elems)}
	case *List:
		return &List{Elems: all(t.Elems)}
	case *Delay:
		return &Delay{Body: rec(t.Body)}
	case *Force:
		return &Force{X: rec(t.X)}
	}
	return t
}

func renumberTypeSelf(d *DataDecl, inv []int) *DataDecl {
	var conv func(t TypeTerm) TypeTerm
	conv = func(t TypeTerm) TypeTerm {
		switch t := t.(type) {
		case *TSelf:
			return &TSelf{Member: inv[t.Member]}
		case *TApp:
			a := &TApp{Fn: conv(t.Fn)}
			for _, x := range t.Args {
				a.Args = append(a.Args, conv(x))
			}
			return a
		case *TFun:
			return &TFun{Arg: conv(t.Arg), Res: conv(t.Res)}
		case *TTuple:
			tt := &TTuple{Elems: []TypeTerm{}}
			for _, x := range t.Elems {
				tt.Elems = append(tt.Elems, conv(x))
			}
			return tt
		}
		return t
	}
	out := &DataDecl{Params: d.Params, Ctors: make([][]TypeTerm, len(d.Ctors))}
	for i, fields := range d.Ctors {
		out.Ctors[i] = []TypeTerm{}
		for _, f := range fields {
			out.Ctors[i] = append(out.Ctors[i], conv(f))
		}
	}
	return out
}

// maxCyclePermutations bounds the search for a canonical order of cycle
// members that colour refinement could not tell apart. Real cycles have a
// handful of members; 8! keeps a pathological one from stalling `add`
// (past it, the refined order stands, which may then depend on
// declaration order).
const maxCyclePermutations = 40320
