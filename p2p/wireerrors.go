package p2p

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/fxamacker/cbor/v2"
)

// Decode errors a peer can act on. A client written in another language
// from docs/protocol.md sees the message of an `invalid` error reply and
// nothing else, so it must name the field by its wire key and the
// protocol's name for it, and say what the spec wants there, rather than
// the Go struct field and type the CBOR library reports:
//
//	status message: key 2 (store) is a byte string, want a text string
//
// instead of "cbor: cannot unmarshal byte string into Go struct field
// p2p.StatusMessage.Store of type string".

// describeDecodeError rewrites a CBOR decode error of message v (a
// pointer to one of the message structs), decoded from data, in the
// protocol's terms; other errors keep their text.
func describeDecodeError(v any, data []byte, err error) string {
	top := reflect.TypeOf(v)
	for top.Kind() == reflect.Pointer {
		top = top.Elem()
	}
	var ufe *cbor.UnknownFieldError
	if errors.As(err, &ufe) {
		if keys := undefinedKeys(top, data); len(keys) > 0 {
			return "key " + strings.Join(keys, ", ") + " is not defined for this message (decoders reject unknown keys)"
		}
		return err.Error()
	}
	var ute *cbor.UnmarshalTypeError
	if !errors.As(err, &ute) || ute.StructFieldName == "" {
		return err.Error()
	}
	// The library names the field "<package>.<struct>.<key>": the
	// message's top-level field, even when what failed is inside it.
	parts := strings.Split(ute.StructFieldName, ".")
	if len(parts) < 3 || parts[len(parts)-2] != top.Name() {
		return err.Error()
	}
	key := parts[len(parts)-1]
	f, ok := fieldByKey(top, key)
	if !ok {
		return err.Error()
	}
	found := cborTypeName(ute.CBORType)
	// What the field holds, not the element of it the library stumbled
	// on (an array where a byte string belongs).
	if t, ok := topLevelType(data, key); ok {
		found = t
	}
	field := "key " + key + " (" + lowerFirst(f.Name) + ")"
	if want := wantName(f.Type.String()); found != want {
		return field + " is " + article(found) + ", want " + article(want)
	}
	// The field has the right type; something inside it does not (the
	// library reports the outer field only).
	return field + " holds " + article(cborTypeName(ute.CBORType)) + " where " + article(wantName(ute.GoType)) + " belongs"
}

// itemType records the CBOR major type of a value and skips it: the
// library hands UnmarshalCBOR a slice of the message, so nothing is
// copied.
type itemType struct{ major byte }

func (t *itemType) UnmarshalCBOR(b []byte) error {
	if len(b) > 0 {
		t.major = b[0] >> 5
	}
	return nil
}

// describeDecMode reads a message's top level only to describe an error
// (on the error path, for every malformed request a peer sends): within
// the bounds of msgDecMode, and without keeping any of it.
var describeDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  8,
		MaxArrayElements: MaxSyncBlocks,
		MaxMapPairs:      16,
	}.DecMode()
	if err != nil {
		panic("p2p: cbor decode options: " + err.Error())
	}
	return dm
}()

// topLevelMap reads data as a map of integer keys and the major types
// of their values.
func topLevelMap(data []byte) (map[uint64]itemType, bool) {
	var m map[uint64]itemType
	if err := describeDecMode.Unmarshal(data, &m); err != nil {
		return nil, false
	}
	return m, true
}

// topLevelType is the CBOR type of the value under key in data.
func topLevelType(data []byte, key string) (string, bool) {
	k, err := strconv.ParseUint(key, 10, 64)
	if err != nil {
		return "", false
	}
	m, ok := topLevelMap(data)
	if !ok {
		return "", false
	}
	t, ok := m[k]
	if !ok {
		return "", false
	}
	names := []string{"integer", "integer", "byte string", "text string", "array", "map", "tag", "simple value or float"}
	return names[t.major], true
}

// undefinedKeys lists the keys of data that no field of st has.
func undefinedKeys(st reflect.Type, data []byte) []string {
	m, ok := topLevelMap(data)
	if !ok {
		return nil
	}
	var out []string
	for k := range m {
		if _, ok := fieldByKey(st, strconv.FormatUint(k, 10)); !ok {
			out = append(out, strconv.FormatUint(k, 10))
		}
	}
	slices.Sort(out)
	return out
}

// fieldByKey is the field of st whose CBOR key is key.
func fieldByKey(st reflect.Type, key string) (reflect.StructField, bool) {
	for i := range st.NumField() {
		f := st.Field(i)
		if k, _, _ := strings.Cut(f.Tag.Get("cbor"), ","); k == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func lowerFirst(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

// cborTypeName is the CBOR major type as the spec says it.
func cborTypeName(t string) string {
	switch t {
	case "UTF-8 text string":
		return "text string"
	case "positive integer", "negative integer":
		return "integer"
	case "primitives":
		return "simple value or float"
	}
	return t
}

// wantName is what the Go type of a message field is on the wire.
func wantName(goType string) string {
	switch {
	case goType == "string":
		return "text string"
	case goType == "[]uint8":
		return "byte string"
	case goType == "[][]uint8":
		return "array of byte strings"
	case goType == "[]string":
		return "array of text strings"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "integer"
	case strings.HasPrefix(goType, "p2p."), strings.HasPrefix(goType, "*p2p."), strings.HasPrefix(goType, "map["):
		return "map"
	}
	return goType
}

func article(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + s
	}
	return "a " + s
}

// malformedRequest is the error reply to a first message that arrived
// whole but cannot be acted on: over its cap, empty, or not a valid
// message. Nil for everything else — a stream that ended inside a frame,
// a late or silent opener, bytes that are not a frame at all — which the
// status and blocks handlers answer with a reset, as before: there is no
// request to answer, or no one reading.
func malformedRequest(err error) *CallError {
	var tl *FrameTooLargeError
	var me *MessageError
	switch {
	case errors.As(err, &tl):
		return invalid("%v", tl)
	case errors.As(err, &me):
		return invalid("%v", me)
	}
	return nil
}
