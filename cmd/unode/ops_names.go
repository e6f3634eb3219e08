package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
	"github.com/unode-dev/unode/p2p"
)

// Names are a local, editable index onto hashes (docs/cli.md): rm
// unbinds one, and run --scratch evaluates a file without binding any.

type rmRequest struct {
	Names []string `json:"names"`
}

// rmResult lists the bindings removed.
type rmResult struct {
	Removed []p2p.NameInfo `json:"removed"`
}

func (r *rmResult) Text() string {
	var b strings.Builder
	for _, n := range r.Removed {
		fmt.Fprintf(&b, "removed %s %s (%s)\n", n.Kind, n.Name, n.Ref)
	}
	return b.String()
}

// errNoSuchName: rm of a name that is not bound.
var errNoSuchName = errors.New("no such name")

// rmOp unbinds names. The definitions stay in the blockstore (other
// definitions and other names may use them; `unode repo gc` collects
// what nothing needs). A name bound both as a type and as a term or
// constructor (type Point = Point Int Int) loses both bindings; a type's
// constructors are names of their own.
var rmOp = &operation[rmRequest, rmResult]{
	name: "rm",
	do: func(ctx context.Context, b *backend, req *rmRequest) (*rmResult, error) {
		st := b.cb.Store()
		out := &rmResult{Removed: []p2p.NameInfo{}}
		// Check every name before removing any: a typo in the third
		// name leaves the first two bound.
		type binding struct {
			name string
			kind dag.NameKind
			ref  dag.NameRef
		}
		var found []binding
		for _, name := range req.Names {
			n := len(found)
			if ref, ok, err := st.LookupType(ctx, name); err != nil {
				return nil, err
			} else if ok {
				found = append(found, binding{name, dag.KindType, ref})
			}
			if ref, ok, err := st.LookupName(ctx, name); err != nil {
				return nil, err
			} else if ok {
				found = append(found, binding{name, ref.Kind, ref})
			}
			if len(found) == n {
				return nil, fmt.Errorf("%w %q in the namespace ('unode names' lists them)", errNoSuchName, name)
			}
		}
		for _, f := range found {
			if err := st.DeleteName(ctx, f.name, f.kind); err != nil {
				return nil, err
			}
			out.Removed = append(out.Removed, p2p.NameInfo{Name: f.name, Kind: f.kind.String(), Ref: nameRefText(f.ref)})
		}
		return out, nil
	},
}

func nameRefText(r dag.NameRef) string {
	if r.Kind == dag.KindCtor {
		return fmt.Sprintf("%s#c%d", r.Def, r.Ctor)
	}
	return r.Def.String()
}

// runScratch evaluates a file's main without binding its names: the
// file's definitions see the namespace and each other, their blocks are
// stored (the evaluator loads code from the blockstore) but no name is
// set, so nothing the namespace held changes. The blocks are not pinned:
// `unode repo gc` may collect them once the evaluation is over.
func (b *backend) runScratch(ctx context.Context, file sourceFile, budget p2p.Budget) (*p2p.EvalResult, error) {
	main, names, err := b.scratchMain(ctx, file)
	if err != nil {
		return nil, err
	}
	res, err := b.cb.EvalTerm(ctx, main, budget)
	return res, names.relocate(err)
}

// scratchNames names a scratch file's definitions, which the namespace
// does not, in its runtime errors.
type scratchNames map[dag.DefRef]string

func (n scratchNames) DefName(r dag.DefRef) string { return n[r] }

// relocate gives err's frames the file's names for its definitions.
func (n scratchNames) relocate(err error) error {
	var re *eval.RuntimeError
	if errors.As(err, &re) {
		re.Relocate(n, nil)
	}
	return err
}

// scratchMain compiles a file for runScratch (here or, with --at, at
// another node): its blocks and their positions are stored, no name is
// bound, and the result is the term naming its main.
func (b *backend) scratchMain(ctx context.Context, file sourceFile) (dag.Term, scratchNames, error) {
	f, err := syntax.ParseFile(file.Name, file.Source)
	if err != nil {
		return nil, nil, err
	}
	st := b.cb.Store()
	var lookupErr error
	note := func(err error) {
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
	}
	comp, err := dag.Compile(f, dag.CompileOptions{
		IsBuiltin:   eval.IsBuiltin,
		BuiltinCtor: eval.BuiltinCtor,
		Lookup: func(name string) (dag.NameRef, bool) {
			ref, ok, err := st.LookupName(ctx, name)
			note(err)
			return ref, ok && err == nil
		},
		LookupType: func(name string) (dag.NameRef, bool) {
			ref, ok, err := st.LookupType(ctx, name)
			note(err)
			return ref, ok && err == nil
		},
		Here: b.selfID(),
	})
	if err != nil {
		if lookupErr != nil {
			return nil, nil, fmt.Errorf("reading the namespace: %w", lookupErr)
		}
		return nil, nil, err
	}
	var main *dag.NameRef
	for i := range comp.Names {
		if comp.Names[i].Name == "main" && comp.Names[i].Ref.Kind == dag.KindTerm {
			main = &comp.Names[i].Ref
		}
	}
	if main == nil {
		return nil, nil, fmt.Errorf("%s: no main definition to run", file.Name)
	}
	if err := st.AddBlocks(ctx, comp.Blocks); err != nil {
		return nil, nil, fmt.Errorf("storing blocks: %w", err)
	}
	// Positions are decoration beside the blocks: a runtime error in
	// the file's code says where, here or reported by another node.
	// Forms are kept per bound name, and no name is bound: without the
	// name none is written (it would outlive the run, or replace how a
	// bound name of the same definition was written).
	ps := make([]dag.DefPositions, 0, len(comp.Positions))
	for _, p := range comp.Positions {
		p.Name, p.Forms = "", nil
		ps = append(ps, p)
	}
	if err := st.SetPositions(ctx, ps); err != nil {
		return nil, nil, err
	}
	names := scratchNames{}
	for _, e := range comp.Names {
		if e.Ref.Kind == dag.KindTerm {
			names[e.Ref.Def] = e.Name
		}
	}
	return &dag.Ref{Def: main.Def}, names, nil
}
