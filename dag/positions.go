package dag

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-datastore"

	"github.com/unode-dev/unode/eval/syntax"
)

// Source positions live beside definitions, never in them: a definition
// block is the same (same CID) whatever file, line or column it came
// from, so positions are a side table keyed by the definition and by the
// node's number in Preorder. The interpreter uses them to say where a
// runtime error happened (issue 13).

// DefPositions gives the source positions of one definition's nodes:
// Pos[i] is where the i-th node of Preorder(term) was written, the zero
// Pos where it has none. Only nodes that can fail at run time get one
// (applications, matches, conditionals, forces).
type DefPositions struct {
	Def DefRef
	Pos []syntax.Pos
	// Name is what the source called the definition, and Forms[i] how
	// it spelled the i-th node (forms.go), nil when every node has the
	// default spelling. Forms are kept per name under their own key:
	// two names whose definitions hash the same may be spelled
	// differently, and a positions record reads as before.
	Name  string
	Forms []Form
}

// Preorder calls visit for t and every term inside it, parents before
// children, children in field order (a Match's scrutinee, then its arms'
// bodies; pattern literals are not visited). The numbering it implies is
// how DefPositions indexes nodes, so it must not change.
func Preorder(t Term, visit func(Term)) {
	if t == nil {
		return
	}
	visit(t)
	switch t := t.(type) {
	case *Lam:
		Preorder(t.Body, visit)
	case *App:
		Preorder(t.Fn, visit)
		for _, a := range t.Args {
			Preorder(a, visit)
		}
	case *Let:
		Preorder(t.Value, visit)
		Preorder(t.Body, visit)
	case *LetRec:
		Preorder(t.Value, visit)
		Preorder(t.Body, visit)
	case *If:
		Preorder(t.Cond, visit)
		Preorder(t.Then, visit)
		Preorder(t.Else, visit)
	case *Match:
		Preorder(t.Scrutinee, visit)
		for _, a := range t.Arms {
			Preorder(a.Body, visit)
		}
	case *Tuple:
		for _, x := range t.Elems {
			Preorder(x, visit)
		}
	case *List:
		for _, x := range t.Elems {
			Preorder(x, visit)
		}
	case *Delay:
		Preorder(t.Body, visit)
	case *Force:
		Preorder(t.X, visit)
	}
}

// hasPosition reports whether a node of this kind gets a position.
func hasPosition(t Term) bool {
	switch t.(type) {
	case *App, *Match, *If, *Force:
		return true
	}
	return false
}

// positionTable numbers t's nodes in preorder and looks each up in the
// positions the resolver recorded; nil when none was recorded.
func positionTable(t Term, at map[Term]syntax.Pos) []syntax.Pos {
	if len(at) == 0 {
		return nil
	}
	var out []syntax.Pos
	found := false
	Preorder(t, func(x Term) {
		p := at[x]
		found = found || p.Line != 0
		out = append(out, p)
	})
	if !found {
		return nil
	}
	return out
}

// prefixPositions keys position tables by definition, beside /hints/.
const prefixPositions = "/positions/"

func positionsKey(r DefRef) datastore.Key {
	return datastore.RawKey(prefixPositions + mhKey(r.CID) + "/" + strconv.Itoa(r.Member))
}

// SetPositions records the position tables of a compiled file, and
// their form tables, in one write. Like hints they are decoration, not semantics: the latest source
// of a definition gives its positions.
func (s *Store) SetPositions(ctx context.Context, ps []DefPositions) error {
	if len(ps) == 0 {
		return nil
	}
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("saving positions: %w", err)
	}
	for _, p := range ps {
		v, err := encodePositions(p)
		if err != nil {
			return err
		}
		if err := batch.Put(ctx, positionsKey(p.Def), v); err != nil {
			return fmt.Errorf("saving positions for %s: %w", p.Def, err)
		}
		if p.Name == "" || strings.Contains(p.Name, "/") {
			continue // no key for it (a definition name has no "/")
		}
		// The forms of the same source, or none: an earlier source of
		// the name spelled differently must not outlive it.
		f, err := encodeForms(p)
		if err != nil {
			return err
		}
		if f == nil {
			err = batch.Delete(ctx, formsKey(p.Def, p.Name))
		} else {
			err = batch.Put(ctx, formsKey(p.Def, p.Name), f)
		}
		if err != nil {
			return fmt.Errorf("saving forms for %s: %w", p.Def, err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("saving positions: %w", err)
	}
	return nil
}

// encodePositions writes a table as [file, line0, col0, line1, col1, ...]:
// one definition comes from one file.
func encodePositions(p DefPositions) ([]byte, error) {
	if !p.Def.CID.Defined() || p.Def.Member < 0 {
		return nil, fmt.Errorf("positions for %v: %w", p.Def, ErrInvalid)
	}
	if len(p.Pos) > MaxPositions {
		return nil, fmt.Errorf("positions for %s: %d nodes, limit %d: %w", p.Def, len(p.Pos), MaxPositions, ErrTooLarge)
	}
	file := ""
	a := make([]any, 1, 1+2*len(p.Pos))
	for _, q := range p.Pos {
		if q.Line != 0 && file == "" {
			file = q.File
		}
		a = append(a, int64(q.Line), int64(q.Col))
	}
	f, err := encodeText(file, "file name")
	if err != nil {
		return nil, fmt.Errorf("positions for %s: %w", p.Def, err)
	}
	a[0] = f
	v, err := marshal(a, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("positions for %s: %w", p.Def, err)
	}
	return v, nil
}

// Positions returns the table SetPositions recorded for r, or nil.
func (s *Store) Positions(ctx context.Context, r DefRef) ([]syntax.Pos, error) {
	if !r.CID.Defined() || r.Member < 0 {
		return nil, nil
	}
	v, err := s.ds.Get(ctx, positionsKey(r))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading positions for %s: %w", r, err)
	}
	x, err := decodeItem(v, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("positions for %s: %w", r, err)
	}
	a, ok := x.([]any)
	if !ok || len(a)%2 != 1 || len(a)/2 > MaxPositions {
		return nil, fmt.Errorf("positions for %s: %w", r, malformed("expected [file, line, col, ...]"))
	}
	file, err := decodeText(a[0], "file name")
	if err != nil {
		return nil, fmt.Errorf("positions for %s: %w", r, err)
	}
	out := make([]syntax.Pos, len(a)/2)
	for i := range out {
		line, err := decodeInt(a[1+2*i], "line")
		if err != nil {
			return nil, fmt.Errorf("positions for %s: %w", r, err)
		}
		col, err := decodeInt(a[2+2*i], "column")
		if err != nil {
			return nil, fmt.Errorf("positions for %s: %w", r, err)
		}
		if line != 0 {
			out[i] = syntax.Pos{File: file, Line: line, Col: col}
		}
	}
	return out, nil
}
