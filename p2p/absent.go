package p2p

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// Code named by hash that is not here. Source may name any definition by
// #CID; before the codebase compiles or evaluates such source, the
// definitions it names that are not complete here are fetched from
// providers (Node.FetchClosure): the CLI's eval, run, add and show, and
// Node.EvalAt at the node itself, do so. A remote evaluation does not:
// the thunk names them, and the callee fetches what it lacks
// (fetchforeign.go).

// AbsentInExpr returns the definitions an expression names (by #CID)
// that are not complete in the codebase. A source error is returned as
// compiling would return it.
func (c *Codebase) AbsentInExpr(ctx context.Context, filename, src string) ([]cid.Cid, error) {
	e, err := syntax.ParseExpr(filename, []byte(src))
	if err != nil {
		return nil, err
	}
	co, ls := c.compileOptions(ctx)
	t, err := dag.CompileExpr(e, co)
	if err := ls.check(err); err != nil {
		return nil, err
	}
	return c.absentLinks(ctx, termLinks(t), nil)
}

// AbsentInFile returns the definitions a source file names (by #CID)
// outside itself that are not complete in the codebase.
func (c *Codebase) AbsentInFile(ctx context.Context, filename string, src []byte) ([]cid.Cid, error) {
	f, err := syntax.ParseFile(filename, src)
	if err != nil {
		return nil, err
	}
	co, ls := c.compileOptions(ctx)
	comp, err := dag.Compile(f, co)
	if err := ls.check(err); err != nil {
		return nil, err
	}
	own := make(map[cid.Cid]bool, len(comp.Blocks))
	for _, b := range comp.Blocks {
		own[b.CID] = true
	}
	var links []cid.Cid
	for _, b := range comp.Blocks {
		ls, err := dag.Links(b.Data)
		if err != nil {
			return nil, err
		}
		links = append(links, ls...)
	}
	return c.absentLinks(ctx, links, own)
}

// AbsentInRef returns the definition what names, if it is a #CID (not a
// name of the namespace) that is not complete in the codebase.
func (c *Codebase) AbsentInRef(ctx context.Context, what string) ([]cid.Cid, error) {
	if _, ok, err := c.store.LookupName(ctx, what); err != nil || ok {
		return nil, err
	}
	if _, ok, err := c.store.LookupType(ctx, what); err != nil || ok {
		return nil, err
	}
	ref, err := parseRefText(what)
	if err != nil {
		return nil, nil // Show reports it
	}
	return c.absentLinks(ctx, []cid.Cid{ref.CID}, nil)
}

// termLinks are the blocks a resolved term refers to.
func termLinks(t dag.Term) []cid.Cid {
	return dag.ValueLinks(&dag.VClosure{Code: &dag.Delay{Body: t}})
}

// absentLinks returns those of links, outside skip, that are not complete
// in the store, each once, in order.
func (c *Codebase) absentLinks(ctx context.Context, links []cid.Cid, skip map[cid.Cid]bool) ([]cid.Cid, error) {
	var out []cid.Cid
	seen := map[cid.Cid]bool{}
	for _, l := range links {
		if skip[l] || seen[l] {
			continue
		}
		seen[l] = true
		ok, err := c.store.IsComplete(ctx, l)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// fetchNamed fetches those of links that are not complete here. The
// fetch is best effort: code named by #CID may be needed only where a
// thunk is sent (a private implementation at its owner), so a fetch
// that finds no provider (a *FetchError, returned as fetchErr) does not
// stop the work; WithFetchError adds it to a missing block error the
// work ends with. err is any other failure.
func (n *Node) fetchNamed(ctx context.Context, links []cid.Cid, o FetchOptions) (fetchErr, err error) {
	absent, err := n.cb.absentLinks(ctx, links, nil)
	if err != nil || len(absent) == 0 {
		return nil, err
	}
	_, err = n.FetchAbsent(ctx, absent, o)
	var fe *FetchError
	if errors.As(err, &fe) {
		return err, nil
	}
	return nil, err
}

// WithFetchError returns err, saying why the block it finds missing
// could not be fetched when fetchErr (from a fetch of the code the work
// named) says so; errors.Is and errors.As see err as before.
func WithFetchError(err, fetchErr error) error {
	if fetchErr == nil || !(errors.Is(err, dag.ErrMissing) || errors.Is(err, eval.ErrMissing)) {
		return err
	}
	return &fetchNote{err: err, note: fetchErr}
}

type fetchNote struct{ err, note error }

func (e *fetchNote) Error() string { return e.err.Error() + " (" + e.note.Error() + ")" }
func (e *fetchNote) Unwrap() error { return e.err }

// FetchAbsent fetches roots (typically what AbsentIn* returned) in
// requests of at most MaxFetchRoots, summing the figures.
func (n *Node) FetchAbsent(ctx context.Context, roots []cid.Cid, o FetchOptions) (FetchStats, error) {
	var total FetchStats
	total.Sources = []ProviderStats{}
	for len(roots) > 0 {
		k := min(len(roots), MaxFetchRoots)
		st, err := n.FetchClosure(ctx, roots[:k], o)
		total.Blocks += st.Blocks
		total.Bytes += st.Bytes
		total.Providers += st.Providers
		total.Requests += st.Requests
		total.RoundTrips += st.RoundTrips
		total.Sources = append(total.Sources, st.Sources...)
		if err != nil {
			return total, err
		}
		roots = roots[k:]
	}
	return total, nil
}
