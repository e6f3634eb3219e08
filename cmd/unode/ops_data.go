package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p"
)

// Node data (/data/<key> in the datastore: what Data.get and friends read
// and write) and published definitions.

// errNoData: data get of a key that holds nothing.
var errNoData = errors.New("no data under this key")

// Formats of a data put request's value.
const (
	formatSource = "source" // source syntax, evaluated as a pure expression
	formatJSON   = "json"   // a JSON document (valueFromJSON)
	formatBytes  = "bytes"  // raw bytes, stored as a Bytes value
)

type dataPutRequest struct {
	Key    string          `json:"key"`
	Format string          `json:"format"`
	Source string          `json:"source,omitempty"`
	JSON   json.RawMessage `json:"json,omitempty"`
	Bytes  []byte          `json:"bytes,omitempty"`
}

// dataValueResult is a stored value: as JSON (value, the format of
// `unode eval --json`) and in source syntax (text).
type dataValueResult struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
	Text  string `json:"text"`
	// Bytes is the raw content of a Bytes value, when asked for
	// (`data get --file`).
	Bytes []byte `json:"bytes,omitempty"`
}

// dataText adapts dataValueResult to result without clashing with its
// Text field: get prints the value, put (put set) what it stored.
type dataText struct {
	*dataValueResult
	put bool
}

func (r dataText) Text() string {
	if r.put {
		return fmt.Sprintf("stored %s = %s", r.Key, r.dataValueResult.Text)
	}
	return r.dataValueResult.Text
}

func (r dataText) MarshalJSON() ([]byte, error) { return jsonMarshal(r.dataValueResult) }

// pureValue evaluates source as a pure expression: names resolve against
// the codebase, and the evaluation's host has no effects, so Data.*, at
// and the other effects fail instead of running.
func (b *backend) pureValue(ctx context.Context, src string) (eval.Value, error) {
	budget, err := b.budget(budgetFlags{})
	if err != nil {
		return nil, err
	}
	cb := p2p.NewCodebase(b.repo.Datastore)
	cb.SetHost(pureHost{})
	res, err := cb.EvalSource(ctx, "<value>", src, budget)
	if err != nil {
		return nil, fmt.Errorf("evaluating the value (a pure expression): %w", err)
	}
	return res.Value, nil
}

// pureHost is the host of a pure evaluation: it performs no effect. It
// implements none of the optional interfaces, so channels, node data and
// clusters fail too.
type pureHost struct{}

var errEffect = errors.New("a stored value is a pure expression: it cannot use effects")

func (pureHost) Here(*eval.Thread) (*eval.Node, error) { return nil, errEffect }

func (pureHost) Spawn(*eval.Thread, *eval.Node, eval.Value) *eval.Future {
	f := eval.NewFuture()
	f.Fail(errEffect)
	return f
}

func (b *backend) showValue(ctx context.Context, key string, v eval.Value) *dataValueResult {
	nm := newCtorNamer(ctx, b.cb.Store())
	return &dataValueResult{Key: key, Value: eval.ToJSON(v, nm), Text: eval.Show(v, nm)}
}

var dataPutOp = &operation[dataPutRequest, dataValueResult]{
	name: "data/put",
	do: func(ctx context.Context, b *backend, req *dataPutRequest) (*dataValueResult, error) {
		var v eval.Value
		var err error
		switch req.Format {
		case formatSource, "":
			v, err = b.pureValue(ctx, req.Source)
		case formatJSON:
			v, err = valueFromJSON(req.JSON)
		case formatBytes:
			v = eval.Bytes(req.Bytes)
		default:
			err = fmt.Errorf("unknown value format %q (want %s, %s or %s)", req.Format, formatSource, formatJSON, formatBytes)
		}
		if err != nil {
			return nil, err
		}
		if err := b.cb.DataPut(ctx, req.Key, v); err != nil {
			return nil, err
		}
		return b.showValue(ctx, req.Key, v), nil
	},
}

type dataGetRequest struct {
	Key string `json:"key"`
	// Raw asks for the bytes of a Bytes value in the result.
	Raw bool `json:"raw,omitempty"`
}

var dataGetOp = &operation[dataGetRequest, dataValueResult]{
	name: "data/get",
	do: func(ctx context.Context, b *backend, req *dataGetRequest) (*dataValueResult, error) {
		v, ok, err := b.cb.DataGet(ctx, req.Key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s", errNoData, req.Key)
		}
		res := b.showValue(ctx, req.Key, v)
		if req.Raw {
			raw, ok := v.(eval.Bytes)
			if !ok {
				return nil, fmt.Errorf("%s holds a %s, not Bytes", req.Key, v.Type())
			}
			res.Bytes = []byte(raw)
			if res.Bytes == nil {
				res.Bytes = []byte{}
			}
		}
		return res, nil
	},
}

type dataLsRequest struct {
	Prefix string `json:"prefix,omitempty"`
}

type dataLsResult struct {
	Keys []string `json:"keys"`
}

func (r *dataLsResult) Text() string {
	if len(r.Keys) == 0 {
		return ""
	}
	return strings.Join(r.Keys, "\n") + "\n"
}

var dataLsOp = &operation[dataLsRequest, dataLsResult]{
	name: "data/ls",
	do: func(ctx context.Context, b *backend, req *dataLsRequest) (*dataLsResult, error) {
		keys, err := b.cb.DataList(ctx, req.Prefix)
		if err != nil {
			return nil, err
		}
		return &dataLsResult{Keys: nonNilSlice(keys)}, nil
	},
}

type dataRmRequest struct {
	Key string `json:"key"`
}

type dataRmResult struct {
	Key     string `json:"key"`
	Removed bool   `json:"removed"` // false: the key held nothing
}

func (r *dataRmResult) Text() string {
	if !r.Removed {
		return "nothing under " + r.Key
	}
	return "removed " + r.Key
}

var dataRmOp = &operation[dataRmRequest, dataRmResult]{
	name: "data/rm",
	do: func(ctx context.Context, b *backend, req *dataRmRequest) (*dataRmResult, error) {
		_, had, err := b.cb.DataGet(ctx, req.Key)
		if err != nil {
			return nil, err
		}
		if err := b.cb.DataDelete(ctx, req.Key); err != nil {
			return nil, err
		}
		return &dataRmResult{Key: req.Key, Removed: had}, nil
	},
}

// --- publish, published ---

type publishRequest struct {
	What []string `json:"what"` // names or #CIDs
}

var publishOp = &operation[publishRequest, namesResult]{
	name: "publish",
	do: func(ctx context.Context, b *backend, req *publishRequest) (*namesResult, error) {
		out := &namesResult{Names: []p2p.NameInfo{}}
		for _, w := range req.What {
			names, err := b.cb.Publish(ctx, w)
			if err != nil {
				return nil, err
			}
			out.Names = append(out.Names, names...)
		}
		return out, nil
	},
}

type unpublishRequest struct {
	What []string `json:"what"` // names or #CIDs published as roots
}

var unpublishOp = &operation[unpublishRequest, namesResult]{
	name: "unpublish",
	do: func(ctx context.Context, b *backend, req *unpublishRequest) (*namesResult, error) {
		out := &namesResult{Names: []p2p.NameInfo{}}
		for _, w := range req.What {
			names, err := b.cb.Unpublish(ctx, w)
			if err != nil {
				return nil, err
			}
			out.Names = append(out.Names, names...)
		}
		return out, nil
	},
}

type publishedRequest struct{}

var publishedOp = &operation[publishedRequest, namesResult]{
	name: "published",
	do: func(ctx context.Context, b *backend, _ *publishedRequest) (*namesResult, error) {
		names, err := b.cb.Published(ctx)
		if err != nil {
			return nil, err
		}
		return &namesResult{Names: nonNilSlice(names)}, nil
	},
}
