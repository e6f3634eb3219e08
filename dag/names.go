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
// hints entry (as SetHints does) in one atomic write: a crash leaves all
// of them or none, and on a synced datastore they cost one fsync, not
// one per name. Everything is checked before anything is written.
func (s *Store) SetNames(ctx context.Context, names []NameEntry, hints []DefHints) error {
	type put struct {
		key datastore.Key
		v   []byte
	}
	puts := make([]put, 0, len(names)+len(hints))
	for _, h := range hints {
		v, err := encodeHints(h.Def, h.Names)
		if err != nil {
			return err
		}
		puts = append(puts, put{hintsKey(h.Def), v})
	}
	for _, n := range names {
		if err := checkName(n.Name); err != nil {
			return err
		}
		v, err := encodeNameRef(n.Ref)
		if err != nil {
			return fmt.Errorf("name %q: %w", n.Name, err)
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
		if err := batch.Put(ctx, p.key, p.v); err != nil {
			return fmt.Errorf("setting names: %w", err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("setting %d names: %w", len(names), err)
	}
	return nil
}

// DeleteName removes a term or constructor binding (a type binding when
// kind is KindType); removing an unbound name is not an error.
func (s *Store) DeleteName(ctx context.Context, name string, kind NameKind) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := s.ds.Delete(ctx, keyFor(name, kind)); err != nil {
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

// SetHints records the original local-variable names of a definition, in
// binder order, for `show`. Hints are not part of the definition's hash:
// the same definition written with other names keeps the latest hints.
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

// Hints returns the names recorded by SetHints, or nil if there are none.
func (s *Store) Hints(ctx context.Context, r DefRef) ([]string, error) {
	if !r.CID.Defined() || r.Member < 0 {
		return nil, nil
	}
	v, err := s.ds.Get(ctx, hintsKey(r))
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
