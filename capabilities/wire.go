package capabilities

import (
	"bytes"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The CBOR form of tokens and sandboxes. Maps have small integer keys
// (documented on each field and in docs/security.md); never renumber a
// key, only add. Encoding is canonical (definite lengths, shortest
// integers, keys in ascending order, absent rather than empty optional
// fields), and decoding accepts only what re-encodes to the same bytes.

// tokenWire is a token. The signature covers signingDomain followed by
// this map encoded with field 9 absent.
type tokenWire struct {
	Version   uint64      `cbor:"1,keyasint"`           // tokenVersion
	Issuer    []byte      `cbor:"2,keyasint"`           // issuer peer ID (binary multihash; must embed its public key)
	Audience  []byte      `cbor:"3,keyasint"`           // audience peer ID (binary multihash)
	Sandbox   sandboxWire `cbor:"4,keyasint"`           // what is granted
	NotBefore uint64      `cbor:"5,keyasint,omitempty"` // Unix seconds; absent: no lower bound
	Expires   uint64      `cbor:"6,keyasint"`           // Unix seconds, required
	Nonce     []byte      `cbor:"7,keyasint"`           // NonceSize random bytes
	Parent    []byte      `cbor:"8,keyasint,omitempty"` // the parent token's full encoding; absent for a root
	Signature []byte      `cbor:"9,keyasint,omitempty"` // issuer's signature; absent in the signed bytes
}

// sandboxWire is a Sandbox in normal form (see Sandbox.Normalize).
type sandboxWire struct {
	Groups    []groupWire `cbor:"1,keyasint,omitempty"`  // in canonical group order
	Read      []string    `cbor:"2,keyasint,omitempty"`  // data read patterns, sorted
	Write     []string    `cbor:"3,keyasint,omitempty"`  // data write patterns, sorted
	AnyCode   bool        `cbor:"4,keyasint,omitempty"`  // any definition (then 5 is absent)
	Code      [][]byte    `cbor:"5,keyasint,omitempty"`  // allowed definition CIDs (binary), sorted
	AnyTarget bool        `cbor:"6,keyasint,omitempty"`  // any at/send target (then 7 is absent)
	Targets   [][]byte    `cbor:"7,keyasint,omitempty"`  // allowed target peer IDs (binary), sorted
	Fuel      uint64      `cbor:"8,keyasint,omitempty"`  // steps
	Memory    uint64      `cbor:"9,keyasint,omitempty"`  // bytes
	TimeMS    uint64      `cbor:"10,keyasint,omitempty"` // milliseconds
	Result    uint64      `cbor:"11,keyasint,omitempty"` // bytes
	Members   []string    `cbor:"12,keyasint,omitempty"` // cluster names (cluster.member:NAME), sorted
	FFI       []string    `cbor:"13,keyasint,omitempty"` // native groups (ffi:GROUP), sorted
}

// groupWire is [name, [denied builtin, ...]] with the names sorted.
type groupWire struct {
	_    struct{} `cbor:",toarray"`
	Name string
	Deny []string
}

const (
	tokenVersion = 1
	// signingDomain is prepended to the bytes a token's issuer signs, so
	// that a signature made for a token can never be taken for one made
	// by the same libp2p key for another purpose (libp2p signs records
	// and handshakes with it too).
	signingDomain = "unode/token/v1\x00"
)

var (
	encMode = mustEncMode()
	decMode = mustDecMode()
)

func mustEncMode() cbor.EncMode {
	em, err := cbor.EncOptions{
		Sort:          cbor.SortCoreDeterministic,
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsEmpty,
		TagsMd:        cbor.TagsForbidden,
		String:        cbor.StringToTextString,
	}.EncMode()
	if err != nil {
		panic("capabilities: cbor encode options: " + err.Error())
	}
	return em
}

func mustDecMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   maxCBORNesting,
		MaxArrayElements:  max(MaxPatterns, MaxCodeCIDs, MaxTargets, MaxDenied, MaxMemberships, MaxFFIGroups, 16),
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertNone,
		BignumTag:         cbor.BignumTagForbidden,
		NaN:               cbor.NaNDecodeForbidden,
		Inf:               cbor.InfDecodeForbidden,
	}.DecMode()
	if err != nil {
		panic("capabilities: cbor decode options: " + err.Error())
	}
	return dm
}

// toWire encodes the normal form of a sandbox.
func (s Sandbox) toWire() sandboxWire { return s.Normalize().rawWire() }

// fromWire decodes a sandbox and checks that it is valid and in normal
// form (so that it has exactly one encoding).
func (w sandboxWire) fromWire() (Sandbox, error) {
	var s Sandbox
	for _, g := range w.Groups {
		s.Groups = append(s.Groups, Group{Name: g.Name, Deny: g.Deny})
	}
	s.Read, s.Write = w.Read, w.Write
	s.AnyCode, s.AnyTarget = w.AnyCode, w.AnyTarget
	s.Members = w.Members
	s.FFI = w.FFI
	for _, b := range w.Code {
		c, err := cid.Cast(b)
		if err != nil || !bytes.Equal(c.Bytes(), b) {
			return Sandbox{}, invalidf("bad definition CID")
		}
		s.Code = append(s.Code, c)
	}
	for _, b := range w.Targets {
		id, err := peer.IDFromBytes(b)
		if err != nil {
			return Sandbox{}, invalidf("bad target peer ID: %v", err)
		}
		s.Targets = append(s.Targets, id)
	}
	const maxMS = uint64(math.MaxInt64 / int64(time.Millisecond))
	if w.Fuel > math.MaxInt64 || w.Memory > math.MaxInt64 || w.Result > math.MaxInt64 || w.TimeMS > maxMS {
		return Sandbox{}, invalidf("budget out of range")
	}
	s.Budget = Budget{Fuel: int64(w.Fuel), Memory: int64(w.Memory),
		Time: time.Duration(w.TimeMS) * time.Millisecond, Result: int64(w.Result)}
	if err := s.Validate(); err != nil {
		return Sandbox{}, err
	}
	if !s.Normalize().sameForm(s) {
		return Sandbox{}, invalidf("sandbox not in normal form")
	}
	return s.Normalize(), nil
}

// sameForm reports whether s and t are written identically (unlike
// Equal, which compares normal forms).
func (s Sandbox) sameForm(t Sandbox) bool {
	a, err1 := encMode.Marshal(s.rawWire())
	b, err2 := encMode.Marshal(t.rawWire())
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// rawWire is toWire without normalizing first.
func (s Sandbox) rawWire() sandboxWire {
	var w sandboxWire
	for _, g := range s.Groups {
		w.Groups = append(w.Groups, groupWire{Name: g.Name, Deny: g.Deny})
	}
	w.Read, w.Write = s.Read, s.Write
	w.AnyCode, w.AnyTarget = s.AnyCode, s.AnyTarget
	w.Members = s.Members
	w.FFI = s.FFI
	for _, c := range s.Code {
		w.Code = append(w.Code, c.Bytes())
	}
	for _, t := range s.Targets {
		w.Targets = append(w.Targets, []byte(t))
	}
	w.Fuel, w.Memory, w.Result = uint64(s.Budget.Fuel), uint64(s.Budget.Memory), uint64(s.Budget.Result)
	w.TimeMS = uint64(s.Budget.Time / time.Millisecond)
	return w
}
