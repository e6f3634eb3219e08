package dag

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// NameKind says what a name refers to.
type NameKind int

const (
	KindTerm NameKind = iota // a definition (member of a term block)
	KindType                 // a data type (member of a type block)
	KindCtor                 // a constructor of a data type
)

func (k NameKind) String() string {
	switch k {
	case KindTerm:
		return "term"
	case KindType:
		return "type"
	case KindCtor:
		return "ctor"
	}
	return "NameKind(" + strconv.Itoa(int(k)) + ")"
}

// NameRef is what a name points at. For KindCtor, Def is the type and
// Ctor/Arity are the constructor's index and field count; they are zero
// for other kinds.
type NameRef struct {
	Kind  NameKind
	Def   DefRef
	Ctor  int
	Arity int
}

// NameEntry is one binding of the namespace.
type NameEntry struct {
	Name string
	Ref  NameRef
}

// checkName rejects names that cannot be a datastore key segment. Names
// are otherwise free-form: the compiler decides what an identifier is.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("%w %q", ErrInvalidName, name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w %q: not valid UTF-8", ErrInvalidName, name)
	}
	for _, r := range name {
		if r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w %q: contains %q", ErrInvalidName, name, r)
		}
	}
	return nil
}

func nameKey(name string) datastore.Key { return datastore.RawKey(prefixNames + name) }

// typeNameKey keys type names apart from term and constructor names, so
// that `type Point = Point Int Int` binds both.
func typeNameKey(name string) datastore.Key { return datastore.RawKey(prefixTypeNames + name) }

func keyFor(name string, kind NameKind) datastore.Key {
	if kind == KindType {
		return typeNameKey(name)
	}
	return nameKey(name)
}

// encodeNameRef: [kind, link, member] for terms and types,
// [kind, link, member, ctor, arity] for constructors.
func encodeNameRef(r NameRef) ([]byte, error) {
	out := []any{int64(r.Kind)}
	switch r.Kind {
	case KindTerm, KindType:
		if r.Ctor != 0 || r.Arity != 0 {
			return nil, invalid("%s name with Ctor/Arity set", r.Kind)
		}
	case KindCtor:
	default:
		return nil, invalid("unknown name kind %d", r.Kind)
	}
	out, err := encodeDefRef(out, r.Def)
	if err != nil {
		return nil, err
	}
	if r.Kind == KindCtor {
		ctor, err := encodeInt(r.Ctor, "constructor index")
		if err != nil {
			return nil, err
		}
		arity, err := encodeInt(r.Arity, "constructor arity")
		if err != nil {
			return nil, err
		}
		out = append(out, ctor, arity)
	}
	return marshal(out, MaxBlockSize)
}

func decodeNameRef(data []byte) (NameRef, error) {
	x, err := decodeItem(data, MaxBlockSize)
	if err != nil {
		return NameRef{}, err
	}
	a, ok := x.([]any)
	if !ok || (len(a) != 3 && len(a) != 5) {
		return NameRef{}, malformed("name entry: expected array of 3 or 5, found %s", describe(x))
	}
	k, err := decodeInt(a[0], "name kind")
	if err != nil {
		return NameRef{}, err
	}
	r := NameRef{Kind: NameKind(k)}
	if r.Def, err = decodeDefRef(a[1], a[2]); err != nil {
		return NameRef{}, err
	}
	if len(a) == 5 {
		if r.Ctor, err = decodeInt(a[3], "constructor index"); err != nil {
			return NameRef{}, err
		}
		if r.Arity, err = decodeInt(a[4], "constructor arity"); err != nil {
			return NameRef{}, err
		}
	}
	if err := checkCanonical(data, func() ([]byte, error) { return encodeNameRef(r) }); err != nil {
		return NameRef{}, err
	}
	return r, nil
}

// SetName binds name to ref, replacing any previous binding. Names may not
// be empty, "." or "..", or contain '/', spaces or control characters
// (ErrInvalidName).
func (s *Store) SetName(ctx context.Context, name string, ref NameRef) error {
	if err := checkName(name); err != nil {
		return err
	}
	v, err := encodeNameRef(ref)
	if err != nil {
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := s.ds.Put(ctx, keyFor(name, ref.Kind), v); err != nil {
		return fmt.Errorf("setting name %q: %w", name, err)
	}
	return nil
}

// SetNames binds every name of names (as SetName does) and records every
// hints entry (as SetHints does, and under its Name too, see HintsFor) in
// one atomic write: a crash leaves all of them or none, and on a synced
// datastore they cost one fsync, not one per name. Everything is checked
// before anything is written.
//
// A term name that was bound to another definition loses that
// definition's per-name records (forms and hints kept for the name) in the
// same write: they describe source the name no longer stands for, and
// nothing else would ever remove them. Written together with the new
// binding, a crash leaves either the old binding with its records or the
// new one without them, never an orphan and never a live binding stripped
// of its own records.
func (s *Store) SetNames(ctx context.Context, names []NameEntry, hints []DefHints) error {
	type put struct {
		key datastore.Key
		v   []byte // nil: delete key
	}
	puts := make([]put, 0, len(names)+2*len(hints))
	for _, h := range hints {
		v, err := encodeHints(h.Def, h.Names)
		if err != nil {
			return err
		}
		puts = append(puts, put{hintsKey(h.Def), v})
		if nameKeyable(h.Name) {
			puts = append(puts, put{hintsNameKey(h.Def, h.Name), v})
		}
	}
	for _, n := range names {
		if err := checkName(n.Name); err != nil {
			return err
		}
		v, err := encodeNameRef(n.Ref)
		if err != nil {
			return fmt.Errorf("name %q: %w", n.Name, err)
		}
		if n.Ref.Kind != KindType {
			old, ok, err := s.LookupName(ctx, n.Name)
			if err != nil {
				return err
			}
			if ok && old.Kind == KindTerm && (n.Ref.Kind != KindTerm || old.Def != n.Ref.Def) {
				for _, k := range perNameKeys(old.Def, n.Name) {
					puts = append(puts, put{k, nil})
				}
			}
		}
		puts = append(puts, put{keyFor(n.Name, n.Ref.Kind), v})
	}
	if len(puts) == 0 {
		return nil
	}
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("setting names: %w", err)
	}
	for _, p := range puts {
		if p.v == nil {
			err = batch.Delete(ctx, p.key)
		} else {
			err = batch.Put(ctx, p.key, p.v)
		}
		if err != nil {
			return fmt.Errorf("setting names: %w", err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("setting %d names: %w", len(names), err)
	}
	return nil
}

// DeleteName removes a term or constructor binding (a type binding when
// kind is KindType); removing an unbound name is not an error. A term
// name's per-name records (forms, hints) for its definition go in the same
// write, so a crash leaves the binding with them or neither.
func (s *Store) DeleteName(ctx context.Context, name string, kind NameKind) error {
	if err := checkName(name); err != nil {
		return err
	}
	var side []datastore.Key
	if kind != KindType {
		old, ok, err := s.LookupName(ctx, name)
		if err != nil {
			return err
		}
		if ok && old.Kind == KindTerm {
			side = perNameKeys(old.Def, name)
		}
	}
	if len(side) == 0 {
		if err := s.ds.Delete(ctx, keyFor(name, kind)); err != nil {
			return fmt.Errorf("deleting name %q: %w", name, err)
		}
		return nil
	}
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("deleting name %q: %w", name, err)
	}
	for _, k := range append(side, keyFor(name, kind)) {
		if err := batch.Delete(ctx, k); err != nil {
			return fmt.Errorf("deleting name %q: %w", name, err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("deleting name %q: %w", name, err)
	}
	return nil
}

// LookupName returns the term or constructor name is bound to; ok is
// false if it is unbound. Types live in their own namespace (LookupType).
func (s *Store) LookupName(ctx context.Context, name string) (ref NameRef, ok bool, err error) {
	return s.lookup(ctx, name, nameKey(name))
}

// LookupType returns the type name is bound to.
func (s *Store) LookupType(ctx context.Context, name string) (ref NameRef, ok bool, err error) {
	return s.lookup(ctx, name, typeNameKey(name))
}

func (s *Store) lookup(ctx context.Context, name string, key datastore.Key) (ref NameRef, ok bool, err error) {
	if checkName(name) != nil {
		return NameRef{}, false, nil // such a name can never be bound
	}
	v, err := s.ds.Get(ctx, key)
	if errors.Is(err, datastore.ErrNotFound) {
		return NameRef{}, false, nil
	}
	if err != nil {
		return NameRef{}, false, fmt.Errorf("looking up name %q: %w", name, err)
	}
	ref, err = decodeNameRef(v)
	if err != nil {
		return NameRef{}, false, fmt.Errorf("name %q: %w", name, err)
	}
	return ref, true, nil
}

// ListNames returns every binding, types and terms alike, sorted by name
// (a type before a term or constructor of the same name).
func (s *Store) ListNames(ctx context.Context) ([]NameEntry, error) {
	var out []NameEntry
	for _, prefix := range []string{prefixNames, prefixTypeNames} {
		for e, err := range datastore.QueryIter(ctx, s.ds, query.Query{Prefix: prefix}) {
			if err != nil {
				return nil, fmt.Errorf("listing names: %w", err)
			}
			name, ok := strings.CutPrefix(e.Key, prefix)
			if !ok || checkName(name) != nil {
				continue // not ours (e.g. a deeper key written by something else)
			}
			ref, err := decodeNameRef(e.Value)
			if err != nil {
				return nil, fmt.Errorf("name %q: %w", name, err)
			}
			out = append(out, NameEntry{Name: name, Ref: ref})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Ref.Kind == KindType && out[j].Ref.Kind != KindType
	})
	return out, nil
}

// NamesOf returns every name bound to ref, sorted. It scans the namespace,
// which is fine for the CLI's `show`; a reverse index can come later.
func (s *Store) NamesOf(ctx context.Context, ref NameRef) ([]string, error) {
	all, err := s.ListNames(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range all {
		if e.Ref == ref {
			out = append(out, e.Name)
		}
	}
	return out, nil
}

func hintsKey(r DefRef) datastore.Key {
	return datastore.RawKey(prefixHints + mhKey(r.CID) + "/" + strconv.Itoa(r.Member))
}

// hintsNameKey keys the hints of r as added under name, below r's own
// record (as /forms/ keys forms by definition and name).
func hintsNameKey(r DefRef, name string) datastore.Key {
	return datastore.RawKey(prefixHints + mhKey(r.CID) + "/" + strconv.Itoa(r.Member) + "/" + name)
}

// nameKeyable reports whether name can be the last segment of a side
// record's key (a definition name always can).
func nameKeyable(name string) bool { return checkName(name) == nil }

// perNameKeys are the side records kept for r under name: what rm and a
// rebinding delete with the binding.
func perNameKeys(r DefRef, name string) []datastore.Key {
	if !r.CID.Defined() || r.Member < 0 || !nameKeyable(name) {
		return nil
	}
	return []datastore.Key{formsKey(r, name), hintsNameKey(r, name)}
}

// SetHints records the original local-variable names of a definition, in
// binder order, for `show`. Hints are not part of the definition's hash:
// the same definition written with other names keeps the latest hints
// here; SetNames also keeps each name's own (HintsFor).
func (s *Store) SetHints(ctx context.Context, r DefRef, names []string) error {
	v, err := encodeHints(r, names)
	if err != nil {
		return err
	}
	if err := s.ds.Put(ctx, hintsKey(r), v); err != nil {
		return fmt.Errorf("saving hints for %s: %w", r, err)
	}
	return nil
}

func encodeHints(r DefRef, names []string) ([]byte, error) {
	if !r.CID.Defined() || r.Member < 0 {
		return nil, fmt.Errorf("hints for %v: %w", r, ErrInvalid)
	}
	if len(names) > MaxHints {
		return nil, fmt.Errorf("hints for %s: %d names, limit %d: %w", r, len(names), MaxHints, ErrTooLarge)
	}
	a := make([]any, len(names))
	for i, n := range names {
		v, err := encodeText(n, "hint")
		if err != nil {
			return nil, fmt.Errorf("hints for %s: %w", r, err)
		}
		a[i] = v
	}
	v, err := marshal(a, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("hints for %s: %w", r, err)
	}
	return v, nil
}

// Hints returns the names recorded by SetHints (the latest source of the
// definition under any name), or nil if there are none.
func (s *Store) Hints(ctx context.Context, r DefRef) ([]string, error) {
	if !r.CID.Defined() || r.Member < 0 {
		return nil, nil
	}
	return s.readHints(ctx, r, hintsKey(r))
}

// HintsFor returns the local names r's source used when it was added
// under name; for a name with no record of its own (code added before
// hints were kept per name, shown by CID, or with name "") it returns
// Hints(r). Two names whose definitions hash the same thus each show
// the local names written under them.
func (s *Store) HintsFor(ctx context.Context, r DefRef, name string) ([]string, error) {
	if !r.CID.Defined() || r.Member < 0 {
		return nil, nil
	}
	if nameKeyable(name) {
		h, err := s.readHints(ctx, r, hintsNameKey(r, name))
		if h != nil || err != nil {
			return h, err
		}
	}
	return s.readHints(ctx, r, hintsKey(r))
}

func (s *Store) readHints(ctx context.Context, r DefRef, key datastore.Key) ([]string, error) {
	v, err := s.ds.Get(ctx, key)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading hints for %s: %w", r, err)
	}
	x, err := decodeItem(v, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("hints for %s: %w", r, err)
	}
	a, ok := x.([]any)
	if !ok {
		return nil, fmt.Errorf("hints for %s: %w", r, malformed("expected array of text"))
	}
	out := make([]string, len(a))
	for i, e := range a {
		if out[i], err = decodeText(e, "hint"); err != nil {
			return nil, fmt.Errorf("hints for %s: %w", r, err)
		}
	}
	return out, nil
}
