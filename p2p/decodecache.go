package p2p

import (
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
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
type decodeCache struct {
	mu      sync.Mutex
	entries map[string]*decoded
}

// decoded is a value and what serving or accepting it reads from it.
type decoded struct {
	w     dag.Value
	links []cid.Cid // dag.ValueLinks(w)

	refsOnce sync.Once
	builtins []string  // thunkRefs(w), on first use
	defs     []cid.Cid // thunkRefs(w), on first use
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

func newDecodeCache() *decodeCache { return &decodeCache{entries: map[string]*decoded{}} }

// decode is dag.DecodeValue(data) with its links, from the cache when
// the same bytes decoded before.
func (c *decodeCache) decode(data []byte) (*decoded, error) {
	small := len(data) <= decodeCacheMaxLen
	if small {
		c.mu.Lock()
		d, ok := c.entries[string(data)]
		c.mu.Unlock()
		if ok {
			return d, nil
		}
	}
	w, err := dag.DecodeValue(data)
	if err != nil {
		return nil, err
	}
	d := &decoded{w: w, links: dag.ValueLinks(w)}
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
