package dag

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-datastore"
)

// Source forms are, like positions, a side record beside a definition:
// normalization gives some terms more than one spelling (`a || b` and
// `if a then true else b` are the same If), and the CID must not depend
// on which one the user wrote. The compiler notes the spelling of every
// such node, indexed in Preorder as DefPositions.Pos is, and `show` asks
// the decompiler for it back. Code with no record (received from a peer)
// prints in the decompiler's default spelling.

// Form is how the source spelled a node that has more than one spelling.
type Form uint8

const (
	// FormDefault is the decompiler's choice: no record.
	FormDefault Form = iota
	// FormIf is an If written as if/then/else, where the default would
	// print && or || (`if a then b else false`, `if a then true else b`).
	FormIf
	// FormAnd is an If written `a && b` (else false).
	FormAnd
	// FormOr is an If written `a || b` (then true).
	FormOr
	// FormPipe is an application written `x |> f` (x its last argument).
	FormPipe
	// FormCall is an operator builtin applied by name (`Op.add a b`,
	// `Op.negate x`), where the default prints the operator.
	FormCall
	// FormSection is a Lam written as an operator section: `(+)`,
	// `(+ 1)`, `(1 +)`.
	FormSection
	// FormLetPattern is a one-arm Match written as a destructuring let:
	// `let (a, b) = e in body`.
	FormLetPattern
	// FormLetNested is a Let or LetRec written as a `let` of its own in
	// the body of the one before it (`let a = 1 in let b = 2 in e`),
	// where the default prints the chain as one block.
	FormLetNested
	// FormLambda is the first of the forms of a Lam whose parameters the
	// source grouped otherwise than all on the left of `=` (for a
	// definition or let binding) or all before one `->` (for a lambda):
	// FormLambda-1+s for the lamShape s.
	FormLambda

	// numForms is one past the last known form.
	numForms = FormLambda + lamShapes - 1
)

// lamShape is how the source grouped a Lam's parameters, which the
// compiler merges into one Lam (`f x = y -> z -> e`, `f = x y z -> e` and
// `f x y z = e` are one term): lamWritten says the first group was a
// lambda's where the decompiler would put it on the left of `=`, and bit
// i (1 <= i <= lamMaxBreak) that a new `x ->` group starts after the
// i-th parameter. A break after a later parameter is not recorded, so
// the default merges it.
type lamShape uint8

const (
	lamWritten  lamShape = 1
	lamMaxBreak          = 6
	lamShapes            = 1 << (lamMaxBreak + 1) // shapes 0 (no record) .. lamShapes-1
)

// withBreak records that a group starts after the n-th parameter.
func (s lamShape) withBreak(n int) lamShape {
	if n < 1 || n > lamMaxBreak {
		return s
	}
	return s | 1<<n
}

// breakAfter reports whether a group starts after the n-th parameter.
func (s lamShape) breakAfter(n int) bool {
	return n >= 1 && n <= lamMaxBreak && s&(1<<n) != 0
}

func (s lamShape) form() Form { return FormLambda - 1 + Form(s) }

// shapeOf is the lamShape a form stands for; 0 for other forms.
func shapeOf(f Form) lamShape {
	if f < FormLambda || f >= numForms {
		return 0
	}
	return lamShape(f - FormLambda + 1)
}

// formTable numbers t's nodes in preorder and looks each up in the forms
// the resolver recorded; nil when none was recorded.
func formTable(t Term, forms map[Term]Form) []Form {
	if len(forms) == 0 {
		return nil
	}
	var out []Form
	found := false
	Preorder(t, func(x Term) {
		f := forms[x]
		found = found || f != FormDefault
		out = append(out, f)
	})
	if !found {
		return nil
	}
	return out
}

// prefixForms keys form tables by definition and name, beside
// /positions/.
const prefixForms = "/forms/"

func formsKey(r DefRef, name string) datastore.Key {
	return datastore.RawKey(prefixForms + mhKey(r.CID) + "/" + strconv.Itoa(r.Member) + "/" + name)
}

// encodeForms writes a table sparsely, as [node0, form0, node1, form1,
// ...] in increasing node order; nil when every node has the default.
func encodeForms(p DefPositions) ([]byte, error) {
	if len(p.Forms) > MaxPositions {
		return nil, fmt.Errorf("forms for %s: %d nodes, limit %d: %w", p.Def, len(p.Forms), MaxPositions, ErrTooLarge)
	}
	var a []any
	for i, f := range p.Forms {
		if f != FormDefault {
			a = append(a, int64(i), int64(f))
		}
	}
	if a == nil {
		return nil, nil
	}
	v, err := marshal(a, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("forms for %s: %w", p.Def, err)
	}
	return v, nil
}

// Forms returns the form table SetPositions recorded for r added under
// name (Forms[i] is the spelling of the i-th node of Preorder), or nil.
// A form this build does not know reads as FormDefault.
func (s *Store) Forms(ctx context.Context, r DefRef, name string) ([]Form, error) {
	if !r.CID.Defined() || r.Member < 0 || name == "" || strings.Contains(name, "/") {
		return nil, nil
	}
	v, err := s.ds.Get(ctx, formsKey(r, name))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading forms for %s: %w", r, err)
	}
	x, err := decodeItem(v, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("forms for %s: %w", r, err)
	}
	a, ok := x.([]any)
	if !ok || len(a)%2 != 0 || len(a)/2 > MaxPositions {
		return nil, fmt.Errorf("forms for %s: %w", r, malformed("expected [node, form, ...]"))
	}
	var out []Form
	last := -1
	for i := 0; i < len(a); i += 2 {
		node, err := decodeInt(a[i], "node")
		if err != nil {
			return nil, fmt.Errorf("forms for %s: %w", r, err)
		}
		f, err := decodeInt(a[i+1], "form")
		if err != nil {
			return nil, fmt.Errorf("forms for %s: %w", r, err)
		}
		if node <= last || node >= MaxPositions {
			return nil, fmt.Errorf("forms for %s: %w", r, malformed("node %d out of order or range", node))
		}
		last = node
		if f <= int(FormDefault) || f >= int(numForms) {
			continue
		}
		for len(out) <= node {
			out = append(out, FormDefault)
		}
		out[node] = Form(f)
	}
	return out, nil
}

// isOperatorCall reports whether a is an operator builtin applied to its
// operands, which the decompiler prints as the operator (a + b, -x)
// unless the source spelled it as a call.
func isOperatorCall(a *App) bool {
	b, ok := a.Fn.(*Builtin)
	if !ok {
		return false
	}
	if _, op := opSymbols[b.Name]; op && len(a.Args) == 2 {
		return true
	}
	return b.Name == "Op.negate" && len(a.Args) == 1
}

// isAndOr reports whether t is an If the decompiler prints as && (else
// false) or || (then true) unless the source spelled it as an if.
func isAndOr(t *If) bool {
	if b, ok := t.Else.(*Bool); ok && !b.V {
		return true
	}
	if b, ok := t.Then.(*Bool); ok && b.V {
		return true
	}
	return false
}
