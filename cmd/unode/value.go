package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// valueFromJSON converts a JSON document to a value: numbers without a
// fraction or exponent to Int (out of int64 range is an error), other
// numbers to Float, strings to Text, booleans to Bool, null to (),
// arrays to List and objects to Map from Text keys.
func valueFromJSON(data []byte) (eval.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading the JSON value: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("reading the JSON value: trailing data after the value")
	}
	return jsonToValue(doc)
}

func jsonToValue(doc any) (eval.Value, error) {
	switch x := doc.(type) {
	case nil:
		return eval.Unit{}, nil
	case bool:
		return eval.MakeBool(x), nil
	case string:
		return eval.Text(x), nil
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("JSON number %s is out of the Int range (write it with a fraction, %s.0, for a Float)", s, s)
			}
			return eval.MakeInt(n), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("JSON number %s is out of the Float range", s)
		}
		return eval.Float(f), nil
	case []any:
		elems := make([]eval.Value, len(x))
		for i, e := range x {
			v, err := jsonToValue(e)
			if err != nil {
				return nil, err
			}
			elems[i] = v
		}
		return eval.NewList(elems), nil
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		ks := make([]eval.Value, len(keys))
		vs := make([]eval.Value, len(keys))
		for i, k := range keys {
			v, err := jsonToValue(x[k])
			if err != nil {
				return nil, err
			}
			ks[i], vs[i] = eval.Text(k), v
		}
		return eval.NewMap(ks, vs)
	}
	return nil, fmt.Errorf("unexpected JSON value %T", doc)
}

// ctorNamer names constructors from a store's namespace, for printing
// values; it reads the namespace once, on first use.
type ctorNamer struct {
	ctx   context.Context
	store *dag.Store

	once  sync.Once
	names map[ctorKey]string
}

type ctorKey struct {
	def  dag.DefRef
	ctor int
}

func newCtorNamer(ctx context.Context, store *dag.Store) *ctorNamer {
	return &ctorNamer{ctx: ctx, store: store}
}

func (n *ctorNamer) CtorName(t dag.TypeRef, i int) string {
	if t.Builtin != "" {
		return eval.BuiltinCtorName(t, i)
	}
	n.once.Do(func() {
		n.names = map[ctorKey]string{}
		all, err := n.store.ListNames(n.ctx)
		if err != nil {
			return
		}
		for _, e := range all {
			if e.Ref.Kind != dag.KindCtor {
				continue
			}
			k := ctorKey{def: e.Ref.Def, ctor: e.Ref.Ctor}
			// The shortest (unqualified) name, then the first in order.
			if old, ok := n.names[k]; !ok || len(e.Name) < len(old) {
				n.names[k] = e.Name
			}
		}
	})
	return n.names[ctorKey{def: t.Def, ctor: i}]
}
