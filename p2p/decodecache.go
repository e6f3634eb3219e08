package p2p

import (
	"math"
	"strconv"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// A decodeCache remembers what small encoded values (thunks received,
// results received) decoded to, keyed by their exact bytes: decoding a
// value with its canonical-form check (dag.DecodeValue re-encodes it) is
// a large part of a small call, and a warm caller sends the same thunk
// again and again. Only bytes that decoded without error are cached, and
// the same bytes always decode to the same value, so a hit is exactly
// what decoding would have returned; decoded values (dag.Value) are
// never modified after decoding. Entries are dropped all at once when
// the cache is full.
//
// It also remembers the other direction, for the caller: what the
// thunks this node sends encode to (encode).
//
// Each map has its own lock: a callee serving many calls at once takes
// two of them per call (the thunk's decoding, the result's encoding), a
// caller two others, and none waits behind a lookup of another map. The
// locks are read locks for lookups, which are nearly all of them on a
// warm path: concurrent calls of the same thunk do not queue on a hit.
type decodeCache struct {
	mu      sync.RWMutex // entries
	entries map[string]*decoded
	emu     sync.RWMutex // encoded
	encoded map[encodeKey]*encodedValue
	rmu     sync.RWMutex                 // results
	results map[string]*dag.EncodedValue // encodeResult
}

// decoded is a value and what serving or accepting it reads from it.
type decoded struct {
	w     dag.Value
	links []cid.Cid // dag.ValueLinks(w)
	// chunked is whether the value has chunked parts to read (chunks.go):
	// dag.HasChunkRefs of its bytes and dag.DeclaredChunkBytes(w) > 0.
	chunked bool

	refsOnce sync.Once
	builtins []string  // thunkRefs(w), on first use
	defs     []cid.Cid // thunkRefs(w), on first use

	valueOnce sync.Once
	value     eval.Value // eval.FromWire(w), on first use
	valueErr  error

	rootOnce sync.Once
	root     string // auditRoot, on first use
}

// evalValue is eval.FromWire(d.w), converted once: evaluator values are
// immutable (shared as definitions' values are among threads), and
// FromWire accounts nothing to any thread, so every call of the same
// thunk (or every receipt of the same result) can share one.
func (d *decoded) evalValue() (eval.Value, error) {
	d.valueOnce.Do(func() { d.value, d.valueErr = eval.FromWire(d.w) })
	return d.value, d.valueErr
}

// auditRoot is auditRoot(data, d.links) for the bytes d decoded from.
func (d *decoded) auditRoot(data []byte) string {
	d.rootOnce.Do(func() { d.root = auditRoot(data, d.links) })
	return d.root
}

// refs is thunkRefs(d.w). The slices are shared: read only.
func (d *decoded) refs() ([]string, []cid.Cid) {
	d.refsOnce.Do(func() { d.builtins, d.defs = thunkRefs(d.w) })
	return d.builtins, d.defs
}

const (
	decodeCacheEntries = 256
	decodeCacheMaxLen  = 2048 // bytes; larger values are decoded each time
)

func newDecodeCache() *decodeCache {
	return &decodeCache{entries: map[string]*decoded{}, encoded: map[encodeKey]*encodedValue{}, results: map[string]*dag.EncodedValue{}}
}

// decode is dag.DecodeValue(data) with its links, from the cache when
// the same bytes decoded before.
func (c *decodeCache) decode(data []byte) (*decoded, error) {
	small := len(data) <= decodeCacheMaxLen
	if small {
		c.mu.RLock()
		d, ok := c.entries[string(data)]
		c.mu.RUnlock()
		if ok {
			return d, nil
		}
	}
	w, err := dag.DecodeValue(data)
	if err != nil {
		return nil, err
	}
	d := &decoded{w: w, links: dag.ValueLinks(w), chunked: dag.HasChunkRefs(data) && dag.DeclaredChunkBytes(w) > 0}
	if small {
		c.mu.Lock()
		if len(c.entries) >= decodeCacheEntries {
			clear(c.entries)
		}
		c.entries[string(data)] = d
		c.mu.Unlock()
	}
	return d, nil
}

// ---- the caller's side: encodings of thunks sent ----

// An encodeKey identifies a thunk by its code, which the evaluator
// shares among every closure of the same expression and never modifies
// (eval's wireCode), and by a compact rendering of its environment when
// that holds only small scalars. Two thunks with the same key encode to
// the same bytes. The key holds the code, so the term cannot be freed
// and its address reused while the entry exists.
type encodeKey struct {
	code dag.Term
	rec  bool
	env  string
}

// encodedValue is a thunk's encoding and dag.ValueLinks of it (sorted);
// both are shared: read only.
type encodedValue struct {
	data  []byte
	links []cid.Cid
}

// maxEncodeKeyEnv bounds the rendered environment of a cached thunk:
// a larger one is encoded each time.
const maxEncodeKeyEnv = 256

// encodeKeyOf returns the key of a thunk whose encoding may be cached.
func encodeKeyOf(v dag.Value) (encodeKey, bool) {
	c, ok := v.(*dag.VClosure)
	if !ok || c.Code == nil {
		return encodeKey{}, false
	}
	k := encodeKey{code: c.Code, rec: c.Rec}
	if len(c.Env) == 0 {
		return k, true
	}
	var b []byte
	for _, e := range c.Env {
		switch x := e.(type) {
		case *dag.VInt:
			b = strconv.AppendInt(append(b, 'i'), x.V, 10)
		case *dag.VBool:
			b = strconv.AppendBool(append(b, 'b'), x.V)
		case *dag.VUnit:
			b = append(b, 'u')
		case *dag.VText:
			b = strconv.AppendInt(append(b, 't'), int64(len(x.V)), 10)
			b = append(append(b, ':'), x.V...)
		default:
			return encodeKey{}, false
		}
		b = append(b, ';')
		if len(b) > maxEncodeKeyEnv {
			return encodeKey{}, false
		}
	}
	k.env = string(b)
	return k, true
}

// encode returns the encoding of thunk v and its links: from the cache
// when a thunk with the same code and environment was sent before, else
// from enc. Only encodings of at most decodeCacheMaxLen bytes that refer
// to no chunk (whose blocks enc stores as it encodes) are kept; the
// entries are dropped all at once when there are decodeCacheEntries.
func (c *decodeCache) encode(v dag.Value, enc func() ([]byte, []cid.Cid, error)) ([]byte, []cid.Cid, error) {
	k, ok := encodeKeyOf(v)
	if ok {
		c.emu.RLock()
		e, hit := c.encoded[k]
		c.emu.RUnlock()
		if hit {
			return e.data, e.links, nil
		}
	}
	data, links, err := enc()
	if err != nil || !ok || len(data) > decodeCacheMaxLen || dag.HasChunkRefs(data) {
		return data, links, err
	}
	c.emu.Lock()
	if len(c.encoded) >= decodeCacheEntries {
		clear(c.encoded)
	}
	c.encoded[k] = &encodedValue{data: data, links: links}
	c.emu.Unlock()
	return data, links, nil
}

// ---- the callee's side: encodings of small results ----

// resultKey renders a scalar result (an Int, Bool, Unit, Float or a Text
// of at most maxEncodeKeyEnv bytes) exactly: two results with the same
// key are the same value, so they encode to the same bytes.
func resultKey(w dag.Value) (string, bool) {
	var b []byte
	switch x := w.(type) {
	case *dag.VInt:
		b = strconv.AppendInt(append(b, 'i'), x.V, 10)
	case *dag.VBool:
		b = strconv.AppendBool(append(b, 'b'), x.V)
	case *dag.VUnit:
		b = append(b, 'u')
	case *dag.VFloat:
		b = strconv.AppendUint(append(b, 'f'), math.Float64bits(x.V), 16)
	case *dag.VText:
		if len(x.V) > maxEncodeKeyEnv {
			return "", false
		}
		b = append(append(b, 't'), x.V...)
	default:
		return "", false
	}
	return string(b), true
}

// encodeResult is dag.EncodeValueChunked(w), from the cache for a
// scalar result encoded before (a warm caller asks the same small
// question again and again). The cached value is shared: read only.
func (c *decodeCache) encodeResult(w dag.Value) (*dag.EncodedValue, error) {
	k, ok := resultKey(w)
	if ok {
		c.rmu.RLock()
		e, hit := c.results[k]
		c.rmu.RUnlock()
		if hit {
			return e, nil
		}
	}
	ev, err := dag.EncodeValueChunked(w)
	if err != nil || !ok || len(ev.Chunks) > 0 || len(ev.Data) > decodeCacheMaxLen {
		return ev, err
	}
	c.rmu.Lock()
	if len(c.results) >= decodeCacheEntries {
		clear(c.results)
	}
	c.results[k] = ev
	c.rmu.Unlock()
	return ev, nil
}
