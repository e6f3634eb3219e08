package p2p

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// Codebase is a node's local code and evaluator: a dag.Store (blocks,
// names, hints) over one datastore, and the means to add source, show
// definitions and evaluate under a budget.
type Codebase struct {
	store *dag.Store
	host  eval.Host
	// here is the peer ID here! resolves to by default: the node's, for
	// the codebase of a Node.
	here string
	// onPublish, set by a Node, is told the roots just published, which
	// the node then announces in the DHT (announce.go).
	onPublish func(roots []cid.Cid)
	// onUnpublish, set by a Node, is told a root just unpublished, which
	// the node then stops announcing.
	onUnpublish func(root cid.Cid)
}

// NewCodebase opens a codebase over a datastore. Several codebases (and
// nodes) may share one datastore value.
func NewCodebase(ds datastore.Batching) *Codebase {
	return &Codebase{store: dag.NewStore(ds)}
}

// Store returns the underlying block store.
func (c *Codebase) Store() *dag.Store { return c.store }

// SetHere sets the peer ID that here! resolves to, and that `here` is on
// the default local host: the repo's identity, so that code fixed to this
// node (a private implementation) also runs on an opened repo with no
// daemon. A Node sets it to its own ID.
func (c *Codebase) SetHere(id string) { c.here = id }

// SetHost sets the effect handler used by evaluations. By default a
// codebase evaluates with an eval.LocalHost (no network) whose node data
// is the codebase's (DataGet and the like), so `Data.get` works on an
// opened repo without a running node.
func (c *Codebase) SetHost(h eval.Host) { c.host = h }

// NameInfo is one namespace entry as the CLI prints it.
type NameInfo struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Ref  string `json:"cid"`
}

// AddResult lists the names a file declared, with their CIDs.
type AddResult struct {
	Names  []NameInfo `json:"names"`
	Blocks int        `json:"blocks"`
}

func kindName(k dag.NameKind) string {
	switch k {
	case dag.KindTerm:
		return "term"
	case dag.KindType:
		return "type"
	case dag.KindCtor:
		return "ctor"
	}
	return "?"
}

func refText(r dag.NameRef) string {
	if r.Kind == dag.KindCtor {
		return fmt.Sprintf("%s#c%d", r.Def, r.Ctor)
	}
	return r.Def.String()
}

// compileOptions resolves names against the builtins and this codebase's
// namespace.
// A lookup that fails (the store is down, say) is remembered, and
// lookups.check reports it in place of the compile error it caused: a
// PostgreSQL server that went away must not read as "unknown name".
func (c *Codebase) compileOptions(ctx context.Context) (dag.CompileOptions, *lookups) {
	ls := &lookups{}
	return dag.CompileOptions{
		IsBuiltin:   eval.IsBuiltin,
		BuiltinCtor: eval.BuiltinCtor,
		Lookup: func(name string) (dag.NameRef, bool) {
			ref, ok, err := c.store.LookupName(ctx, name)
			ls.note(err)
			return ref, ok && err == nil
		},
		LookupType: func(name string) (dag.NameRef, bool) {
			ref, ok, err := c.store.LookupType(ctx, name)
			ls.note(err)
			return ref, ok && err == nil
		},
		Here: c.here,
	}, ls
}

// lookups keeps the first failure of a compilation's name lookups.
type lookups struct{ err error }

func (l *lookups) note(err error) {
	if err != nil && l.err == nil {
		l.err = err
	}
}

// check returns compileErr, or the lookup failure behind it.
func (l *lookups) check(compileErr error) error {
	if compileErr != nil && l.err != nil {
		return fmt.Errorf("reading the namespace: %w", l.err)
	}
	return compileErr
}

// Add parses and compiles a source file, stores its blocks (hash-checked,
// marked complete) and binds its names. Its definitions are private (see
// AddWith and Publish).
func (c *Codebase) Add(ctx context.Context, filename string, src []byte) (*AddResult, error) {
	return c.AddWith(ctx, filename, src, AddOptions{})
}

func (c *Codebase) addCompiled(ctx context.Context, comp *dag.Compiled) (*AddResult, error) {
	if err := c.store.AddBlocks(ctx, comp.Blocks); err != nil {
		return nil, fmt.Errorf("storing blocks: %w", err)
	}
	for _, b := range comp.Blocks {
		ok, err := c.store.IsComplete(ctx, b.CID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("storing %s: its dependencies are not all present", b.CID)
		}
	}
	// Names and hints in one write, after the blocks are complete: a
	// crash leaves either all of the file's names or none, and never a
	// name whose definition is not complete. With AddBlocks' two, an add
	// is three writes (three fsyncs on a repo) however many definitions
	// the file declares.
	if err := c.store.SetNames(ctx, comp.Names, comp.Hints); err != nil {
		return nil, fmt.Errorf("binding names: %w", err)
	}
	// Where each definition was written, for runtime errors (outside the
	// blocks: positions never change a CID).
	if err := c.store.SetPositions(ctx, comp.Positions); err != nil {
		return nil, fmt.Errorf("saving source positions: %w", err)
	}
	res := &AddResult{Names: []NameInfo{}, Blocks: len(comp.Blocks)}
	for _, n := range comp.Names {
		if n.Ref.Kind == dag.KindCtor && strings.Contains(n.Name, ".") {
			continue // the qualified alias of a constructor; listed once
		}
		res.Names = append(res.Names, NameInfo{Name: n.Name, Kind: kindName(n.Ref.Kind), Ref: refText(n.Ref)})
	}
	return res, nil
}

// Names lists the namespace, sorted by name.
func (c *Codebase) Names(ctx context.Context) ([]NameInfo, error) {
	all, err := c.store.ListNames(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NameInfo, 0, len(all))
	for _, n := range all {
		out = append(out, NameInfo{Name: n.Name, Kind: kindName(n.Ref.Kind), Ref: refText(n.Ref)})
	}
	return out, nil
}

// ShowResult is a definition printed back as source.
type ShowResult struct {
	Name   string
	Ref    string
	Source string
}

// ErrUnknownName is returned for a name that is not in the namespace.
var ErrUnknownName = errors.New("unknown name")

// parseRefText parses "#cid", "#cid#n" (or without the leading #).
func parseRefText(s string) (dag.DefRef, error) {
	s = strings.TrimPrefix(s, "#")
	parts := strings.Split(s, "#")
	c, err := cid.Decode(parts[0])
	if err != nil {
		return dag.DefRef{}, fmt.Errorf("%q is neither a name nor a CID: %w", s, err)
	}
	ref := dag.DefRef{CID: c}
	if len(parts) > 1 {
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 0 || len(parts) > 2 {
			return dag.DefRef{}, fmt.Errorf("bad member index in %q", s)
		}
		ref.Member = n
	}
	return ref, nil
}

// naming names references for the decompiler and the value printer from
// the namespace. It reads the namespace once, on first use.
type naming struct {
	ctx   context.Context
	store *dag.Store
	index *nameIndex
}

type nameKey struct {
	kind dag.NameKind
	def  dag.DefRef
	ctor int
}

type nameIndex struct {
	once  sync.Once
	names map[nameKey]string
}

func newNaming(ctx context.Context, store *dag.Store) naming {
	return naming{ctx: ctx, store: store, index: &nameIndex{}}
}

func (n naming) first(ref dag.NameRef) string {
	n.index.once.Do(func() {
		n.index.names = map[nameKey]string{}
		all, err := n.store.ListNames(n.ctx)
		if err != nil {
			return
		}
		for _, e := range all {
			k := nameKey{kind: e.Ref.Kind, def: e.Ref.Def, ctor: e.Ref.Ctor}
			// Prefer the shortest (unqualified) name, then the first in order.
			if old, ok := n.index.names[k]; !ok || len(e.Name) < len(old) {
				n.index.names[k] = e.Name
			}
		}
	})
	if ref.Kind != dag.KindCtor {
		ref.Ctor = 0
	}
	return n.index.names[nameKey{kind: ref.Kind, def: ref.Def, ctor: ref.Ctor}]
}

func (n naming) CtorName(t dag.TypeRef, i int) string {
	if t.Builtin != "" {
		return eval.BuiltinCtorName(t, i)
	}
	return n.first(dag.NameRef{Kind: dag.KindCtor, Def: t.Def, Ctor: i})
}

// DefName names definitions in error backtraces.
func (n naming) DefName(r dag.DefRef) string {
	return n.first(dag.NameRef{Kind: dag.KindTerm, Def: r})
}

// DefPositions locates a definition's nodes in the source it was added
// from, for runtime errors (eval.DefPositioner); nil when unknown.
func (n naming) DefPositions(r dag.DefRef) []syntax.Pos {
	p, _ := n.store.Positions(n.ctx, r)
	return p
}

func (n naming) forBlock(block cid.Cid) dag.Naming {
	return dag.Naming{
		Def: func(r dag.DefRef) string { return n.first(dag.NameRef{Kind: dag.KindTerm, Def: r}) },
		Self: func(m int) string {
			return n.first(dag.NameRef{Kind: dag.KindTerm, Def: dag.DefRef{CID: block, Member: m}})
		},
		Ctor: n.CtorName,
		Type: func(r dag.DefRef) string { return n.first(dag.NameRef{Kind: dag.KindType, Def: r}) },
	}
}

// Show prints a definition (by name or #CID) back as source.
func (c *Codebase) Show(ctx context.Context, what string) (*ShowResult, error) {
	nm := newNaming(ctx, c.store)
	var ref dag.NameRef
	name := what
	if r, ok, err := c.store.LookupName(ctx, what); err != nil {
		return nil, err
	} else if ok {
		ref = r
	} else if r, ok, err := c.store.LookupType(ctx, what); err != nil {
		return nil, err
	} else if ok {
		ref = r
	} else {
		d, err := parseRefText(what)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrUnknownName, what)
		}
		ref = dag.NameRef{Kind: dag.KindTerm, Def: d}
		if kind, err := c.blockKind(ctx, d.CID); err == nil && kind == "type" {
			ref.Kind = dag.KindType
		}
		name = nm.first(ref)
		if name == "" {
			name = "x"
		}
	}
	if ref.Kind == dag.KindCtor {
		ref = dag.NameRef{Kind: dag.KindType, Def: ref.Def}
		name = nm.first(ref)
	}
	naming := nm.forBlock(ref.Def.CID)
	naming.Self = c.siblingNames(ctx, ref.Def.CID, name, naming.Self) // shownames.go
	var src string
	switch ref.Kind {
	case dag.KindType:
		dd, err := c.store.LoadType(ctx, ref.Def)
		if err != nil {
			return nil, err
		}
		ctors := make([]string, len(dd.Ctors))
		for i := range ctors {
			ctors[i] = nm.CtorName(dag.TypeRef{Def: ref.Def}, i)
			if j := strings.LastIndex(ctors[i], "."); j >= 0 {
				ctors[i] = ctors[i][j+1:]
			}
		}
		src = syntax.FormatDecl(dag.DecompileType(name, dd, ctors, naming))
	default:
		t, err := c.store.LoadTerm(ctx, ref.Def)
		if err != nil {
			return nil, err
		}
		hints, _ := c.store.HintsFor(ctx, ref.Def, name) // the local names written under name
		forms, _ := c.store.Forms(ctx, ref.Def, name)    // as written; none for a peer's code
		src = syntax.FormatDecl(dag.DecompileDefForms(name, t, hints, forms, naming))
	}
	return &ShowResult{Name: name, Ref: refText(ref), Source: src}, nil
}

func (c *Codebase) blockKind(ctx context.Context, id cid.Cid) (string, error) {
	data, err := c.store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	return dag.BlockKind(data)
}

// Budget bounds one evaluation. Zero fields take eval's defaults.
type Budget struct {
	Fuel           int64         `json:"fuel,omitempty"`
	MaxMemory      int64         `json:"memory,omitempty"`
	MaxDepth       int           `json:"depth,omitempty"`
	MaxResultBytes int64         `json:"resultBytes,omitempty"`
	Timeout        time.Duration `json:"timeout,omitempty"`
}

// Stats reports what an evaluation used.
type Stats struct {
	Fuel   int64 `json:"fuel"`
	Memory int64 `json:"memory"`
}

// EvalResult is an evaluated value with its printed forms.
type EvalResult struct {
	Value eval.Value
	Text  string // source syntax
	JSON  any
	Stats Stats
}

// EvalSource parses, resolves and evaluates an expression.
func (c *Codebase) EvalSource(ctx context.Context, filename, src string, b Budget) (*EvalResult, error) {
	e, err := syntax.ParseExpr(filename, []byte(src))
	if err != nil {
		return nil, err
	}
	co, ls := c.compileOptions(ctx)
	t, pos, err := dag.CompileExprPositions(e, co)
	if err := ls.check(err); err != nil {
		return nil, err
	}
	return c.evalTerm(ctx, t, pos, b)
}

// EvalTerm evaluates a resolved term under a budget.
func (c *Codebase) EvalTerm(ctx context.Context, t dag.Term, b Budget) (*EvalResult, error) {
	return c.evalTerm(ctx, t, nil, b)
}

// evalTerm is EvalTerm with the term's source positions, if known.
func (c *Codebase) evalTerm(ctx context.Context, t dag.Term, pos []syntax.Pos, b Budget) (*EvalResult, error) {
	// Remote calls the evaluation started (at', race losers) end with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.Timeout)
		defer cancel()
	}
	th := c.newThread(b)
	th.ExprPositions = pos
	v, err := th.Eval(ctx, t)
	if err != nil {
		return nil, err
	}
	nm := newNaming(ctx, c.store)
	return &EvalResult{
		Value: v,
		Text:  eval.Show(v, nm),
		JSON:  eval.ToJSON(v, nm),
		Stats: Stats{Fuel: th.Steps(), Memory: th.MemoryUsed()},
	}, nil
}

func (c *Codebase) newThread(b Budget) *eval.Thread {
	h := c.host
	if h == nil {
		h = newLocalDataHost(c)
	}
	return &eval.Thread{
		Loader:         c.store,
		Host:           h,
		Names:          newNaming(context.Background(), c.store),
		Fuel:           b.Fuel,
		MaxMemory:      b.MaxMemory,
		MaxDepth:       b.MaxDepth,
		MaxResultBytes: b.MaxResultBytes,
	}
}

// Run adds a file and evaluates its main.
func (c *Codebase) Run(ctx context.Context, filename string, src []byte, b Budget) (*EvalResult, error) {
	f, err := syntax.ParseFile(filename, src)
	if err != nil {
		return nil, err
	}
	hasMain := false
	for _, d := range f.Decls {
		if d, ok := d.(*syntax.DefDecl); ok && d.Name == "main" {
			hasMain = true
		}
	}
	if !hasMain {
		return nil, fmt.Errorf("%s: no main definition to run", filename)
	}
	res, err := c.Add(ctx, filename, src)
	if err != nil {
		return nil, err
	}
	for _, n := range res.Names {
		if n.Name == "main" {
			ref, _, err := c.store.LookupName(ctx, "main")
			if err != nil {
				return nil, err
			}
			return c.EvalTerm(ctx, &dag.Ref{Def: ref.Def}, b)
		}
	}
	return nil, fmt.Errorf("%s: main was not added", filename)
}

// localDataHost is the default host of a codebase without a node: an
// eval.LocalHost whose node data is the codebase's datastore.
type localDataHost struct {
	*eval.LocalHost
	c *Codebase
}

func newLocalDataHost(c *Codebase) *localDataHost {
	id := c.here
	if id == "" {
		id = "local"
	}
	return &localDataHost{LocalHost: eval.NewLocalHost(id), c: c}
}

func (h *localDataHost) DataGet(th *eval.Thread, key string) (eval.Value, bool, error) {
	return h.c.dataGetFor(th, key)
}

func (h *localDataHost) DataPut(th *eval.Thread, key string, v eval.Value) error {
	return h.c.DataPut(th.Context(), key, v)
}

func (h *localDataHost) DataList(th *eval.Thread, prefix string) ([]string, error) {
	return h.c.DataList(th.Context(), prefix)
}

func (h *localDataHost) DataDelete(th *eval.Thread, key string) error {
	return h.c.DataDelete(th.Context(), key)
}
