package dag

import "unsafe"

// EncodeValue encodes a value as {"unode": 1, "kind": "value", "value":
// <value>}: the same envelope as blocks, so a value can be stored and
// addressed as a block (BlockKind reports "value", Links finds the
// definitions it refers to). Values are limited to MaxValueSize bytes.
func EncodeValue(v Value) ([]byte, error) {
	e := newEncoder(MaxValueSize)
	n, err := e.encodeValue(v, 2) // envelope, value
	if err != nil {
		return nil, err
	}
	return marshal(newEnvelope(ValueBlockKind, fieldValue, n), MaxValueSize)
}

// DecodeValue decodes and checks an encoding made by EncodeValue. A
// recursive closure (Rec) comes back with Env[0] pointing at itself.
func DecodeValue(data []byte) (Value, error) {
	x, err := decodeItem(data, MaxValueSize)
	if err != nil {
		return nil, err
	}
	body, err := envelope(x, ValueBlockKind, fieldValue)
	if err != nil {
		return nil, err
	}
	v, err := decodeValue(body)
	if err != nil {
		return nil, err
	}
	if err := checkCanonical(data, func() ([]byte, error) { return EncodeValue(v) }); err != nil {
		return nil, err
	}
	return v, nil
}

func (e *encoder) encodeValues(dst []any, vs []Value, lvl int) ([]any, error) {
	for _, v := range vs {
		n, err := e.encodeValue(v, lvl)
		if err != nil {
			return nil, err
		}
		dst = append(dst, n)
	}
	return dst, nil
}

func decodeValues(xs []any) ([]Value, error) {
	vs := make([]Value, len(xs))
	for i, x := range xs {
		v, err := decodeValue(x)
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	return vs, nil
}

func newTagged(tag int64, extra int) []any {
	return append(make([]any, 0, 1+extra), tag)
}

// encodeValue returns the generic form of v, whose array sits at nesting
// level lvl. The level bound also stops cyclic values.
func (e *encoder) encodeValue(v Value, lvl int) (any, error) {
	if lvl > MaxNesting {
		return nil, errTooDeep()
	}
	if err := e.charge(1); err != nil {
		return nil, err
	}
	if isNil(v) {
		return nil, invalid("nil value")
	}
	switch v := v.(type) {
	case *VInt:
		return []any{int64(vtagInt), v.V}, nil
	case *VFloat:
		return []any{int64(vtagFloat), encodeFloat(v.V)}, nil
	case *VText:
		if e.chunks != nil && len(v.V) > ChunkThreshold {
			if _, err := encodeText(v.V, "Text value"); err != nil {
				return nil, err
			}
			if err := e.charge(chunkRefBytes); err != nil {
				return nil, err
			}
			return e.chunks.data(vtagChunked, ChunkText, v.V)
		}
		if err := e.charge(len(v.V)); err != nil {
			return nil, err
		}
		s, err := encodeText(v.V, "Text value")
		if err != nil {
			return nil, err
		}
		return []any{int64(vtagText), s}, nil
	case *VBool:
		return []any{int64(vtagBool), v.V}, nil
	case *VBytes:
		if e.chunks != nil && len(v.V) > ChunkThreshold {
			if err := e.charge(chunkRefBytes); err != nil {
				return nil, err
			}
			return e.chunks.data(vtagChunked, ChunkBytes, unsafe.String(unsafe.SliceData(v.V), len(v.V)))
		}
		if err := e.charge(len(v.V)); err != nil {
			return nil, err
		}
		return []any{int64(vtagBytes), encodeBytes(v.V)}, nil
	case *VUnit:
		return []any{int64(vtagUnit)}, nil
	case *VTuple:
		return e.encodeValues(newTagged(vtagTuple, len(v.Elems)), v.Elems, lvl+1)
	case *VList:
		if e.chunks != nil {
			return e.chunkedElems(ChunkList, unsafe.Pointer(v), len(v.Elems), func() (any, error) {
				return e.encodeValues(newTagged(vtagList, len(v.Elems)), v.Elems, lvl+1)
			})
		}
		return e.encodeValues(newTagged(vtagList, len(v.Elems)), v.Elems, lvl+1)
	case *VChunked:
		return encodeChunkedRef(vtagChunked, v.Kind, v.Count, v.Root)
	case *VMap:
		if len(v.Keys) != len(v.Vals) {
			return nil, invalid("VMap with %d keys and %d values", len(v.Keys), len(v.Vals))
		}
		if e.chunks != nil {
			return e.chunkedElems(ChunkMap, unsafe.Pointer(v), len(v.Keys), func() (any, error) { return e.inlineMap(v, lvl) })
		}
		return e.inlineMap(v, lvl)
	case *VData:
		r, err := encodeTypeRef(v.Type, lvl+1)
		if err != nil {
			return nil, err
		}
		c, err := encodeInt(v.Ctor, "VData ctor")
		if err != nil {
			return nil, err
		}
		return e.encodeValues(append(newTagged(vtagData, 2+len(v.Fields)), r, c), v.Fields, lvl+1)
	case *VClosure:
		switch v.Code.(type) {
		case *Lam, *Delay:
		default:
			return nil, invalid("closure code is %T, want *Lam or *Delay", v.Code)
		}
		code, err := e.encodeTerm(v.Code, lvl+1)
		if err != nil {
			return nil, err
		}
		out := append(newTagged(vtagClosure, 2+len(v.Env)), code, v.Rec)
		env := v.Env
		if v.Rec {
			// Env[0] is the closure itself: write unit, restore on decode.
			if len(env) == 0 {
				return nil, invalid("recursive closure with empty environment")
			}
			out = append(out, []any{int64(vtagUnit)})
			env = env[1:]
			if lvl+1 > MaxNesting {
				return nil, errTooDeep()
			}
		}
		return e.encodeValues(out, env, lvl+1)
	case *VDef:
		return encodeDefRef(newTagged(vtagDef, 2), v.Def)
	case *VBuiltin:
		if err := e.charge(len(v.Name)); err != nil {
			return nil, err
		}
		n, err := encodeName(v.Name, "builtin name")
		if err != nil {
			return nil, err
		}
		return e.encodeValues(append(newTagged(vtagBuiltin, 1+len(v.Args)), n), v.Args, lvl+1)
	case *VCtorFn:
		r, err := encodeTypeRef(v.Type, lvl+1)
		if err != nil {
			return nil, err
		}
		i, err := encodeInt(v.Index, "VCtorFn index")
		if err != nil {
			return nil, err
		}
		a, err := encodeInt(v.Arity, "VCtorFn arity")
		if err != nil {
			return nil, err
		}
		return e.encodeValues(append(newTagged(vtagCtorFn, 3+len(v.Args)), r, i, a), v.Args, lvl+1)
	case *VPartial:
		if len(v.Args) == 0 {
			return nil, invalid("VPartial with no arguments")
		}
		f, err := e.encodeValue(v.Fn, lvl+1)
		if err != nil {
			return nil, err
		}
		return e.encodeValues(append(newTagged(vtagPartial, 1+len(v.Args)), f), v.Args, lvl+1)
	case *VNode:
		if err := e.charge(len(v.ID)); err != nil {
			return nil, err
		}
		id, err := encodeName(v.ID, "node ID")
		if err != nil {
			return nil, err
		}
		out := append(newTagged(vtagNode, 1+len(v.Addrs)), id)
		for _, a := range v.Addrs {
			if err := e.charge(len(a)); err != nil {
				return nil, err
			}
			s, err := encodeText(a, "node address")
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case *VChannel:
		if err := e.charge(len(v.ID) + len(v.Node)); err != nil {
			return nil, err
		}
		n, err := encodeName(v.Node, "channel node")
		if err != nil {
			return nil, err
		}
		return []any{int64(vtagChannel), encodeBytes(v.ID), n}, nil
	}
	return nil, invalid("unknown value type %T", v)
}

func (e *encoder) inlineMap(v *VMap, lvl int) (any, error) {
	out := newTagged(vtagMap, 2*len(v.Keys))
	for i := range v.Keys {
		k, err := e.encodeValue(v.Keys[i], lvl+1)
		if err != nil {
			return nil, err
		}
		x, err := e.encodeValue(v.Vals[i], lvl+1)
		if err != nil {
			return nil, err
		}
		out = append(out, k, x)
	}
	return out, nil
}

// chunkedElems encodes a list or map (n elements or pairs) inline, then,
// if its encoding exceeds ChunkThreshold, as chunks instead: what its
// elements cost the inline encoding is refunded, and counted against the
// chunks' bound.
func (e *encoder) chunkedElems(kind ChunkKind, p unsafe.Pointer, n int, inline func() (any, error)) (any, error) {
	key := memoKey{p, n, kind}
	if ref, ok := e.chunks.memo[key]; ok {
		return ref, e.charge(chunkRefBytes)
	}
	// Inline, the elements may take up to the chunks' bound; only an
	// encoding that stays inline is charged to the value's.
	left := e.left
	e.left = MaxChunkedBytes
	x, err := inline()
	used := MaxChunkedBytes - e.left
	e.left = left
	if err != nil {
		return nil, err
	}
	a := x.([]any)
	if cborSize(a) <= ChunkThreshold {
		return x, e.charge(int(used))
	}
	if err := e.charge(chunkRefBytes); err != nil {
		return nil, err
	}
	per := 1
	if kind == ChunkMap {
		per = 2
	}
	ref, err := e.chunks.elems(kind, a[1:], per)
	if err != nil {
		return nil, err
	}
	e.chunks.memo[key] = ref
	return ref, nil
}

func decodeValue(x any) (Value, error) {
	a, tag, err := tagged(x, "value")
	if err != nil {
		return nil, err
	}
	switch tag {
	case vtagInt:
		if err := wantLen(a, 2, "Int value"); err != nil {
			return nil, err
		}
		n, err := decodeInt64(a[1], "Int value")
		return &VInt{V: n}, err
	case vtagFloat:
		if err := wantLen(a, 2, "Float value"); err != nil {
			return nil, err
		}
		f, err := decodeFloat(a[1])
		return &VFloat{V: f}, err
	case vtagText:
		if err := wantLen(a, 2, "Text value"); err != nil {
			return nil, err
		}
		s, err := decodeText(a[1], "Text value")
		return &VText{V: s}, err
	case vtagBool:
		if err := wantLen(a, 2, "Bool value"); err != nil {
			return nil, err
		}
		b, err := decodeBool(a[1], "Bool value")
		return &VBool{V: b}, err
	case vtagBytes:
		if err := wantLen(a, 2, "Bytes value"); err != nil {
			return nil, err
		}
		b, err := decodeBytes(a[1], "Bytes value")
		return &VBytes{V: b}, err
	case vtagUnit:
		if err := wantLen(a, 1, "Unit value"); err != nil {
			return nil, err
		}
		return &VUnit{}, nil
	case vtagTuple:
		vs, err := decodeValues(a[1:])
		return &VTuple{Elems: vs}, err
	case vtagList:
		vs, err := decodeValues(a[1:])
		return &VList{Elems: vs}, err
	case vtagMap:
		if len(a)%2 != 1 {
			return nil, malformed("Map value: odd number of keys and values")
		}
		m := &VMap{Keys: make([]Value, 0, len(a)/2), Vals: make([]Value, 0, len(a)/2)}
		for i := 1; i+1 < len(a); i += 2 {
			k, err := decodeValue(a[i])
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(a[i+1])
			if err != nil {
				return nil, err
			}
			m.Keys = append(m.Keys, k)
			m.Vals = append(m.Vals, v)
		}
		return m, nil
	case vtagData:
		if err := wantMin(a, 3, "Data value"); err != nil {
			return nil, err
		}
		r, err := decodeTypeRef(a[1])
		if err != nil {
			return nil, err
		}
		c, err := decodeInt(a[2], "Data ctor")
		if err != nil {
			return nil, err
		}
		fs, err := decodeValues(a[3:])
		return &VData{Type: r, Ctor: c, Fields: fs}, err
	case vtagClosure:
		if err := wantMin(a, 3, "closure"); err != nil {
			return nil, err
		}
		code, err := decodeTerm(a[1])
		if err != nil {
			return nil, err
		}
		rec, err := decodeBool(a[2], "closure rec flag")
		if err != nil {
			return nil, err
		}
		env, err := decodeValues(a[3:])
		if err != nil {
			return nil, err
		}
		c := &VClosure{Code: code, Env: env, Rec: rec}
		if rec && len(env) > 0 {
			env[0] = c // the canonical re-encode checks it was written as unit
		}
		return c, nil
	case vtagDef:
		if err := wantLen(a, 3, "Def value"); err != nil {
			return nil, err
		}
		d, err := decodeDefRef(a[1], a[2])
		return &VDef{Def: d}, err
	case vtagBuiltin:
		if err := wantMin(a, 2, "Builtin value"); err != nil {
			return nil, err
		}
		n, err := decodeText(a[1], "Builtin value name")
		if err != nil {
			return nil, err
		}
		args, err := decodeValues(a[2:])
		return &VBuiltin{Name: n, Args: args}, err
	case vtagCtorFn:
		if err := wantMin(a, 4, "CtorFn value"); err != nil {
			return nil, err
		}
		r, err := decodeTypeRef(a[1])
		if err != nil {
			return nil, err
		}
		i, err := decodeInt(a[2], "CtorFn index")
		if err != nil {
			return nil, err
		}
		n, err := decodeInt(a[3], "CtorFn arity")
		if err != nil {
			return nil, err
		}
		args, err := decodeValues(a[4:])
		return &VCtorFn{Type: r, Index: i, Arity: n, Args: args}, err
	case vtagPartial:
		if err := wantMin(a, 3, "Partial value"); err != nil {
			return nil, err
		}
		vs, err := decodeValues(a[1:])
		if err != nil {
			return nil, err
		}
		return &VPartial{Fn: vs[0], Args: vs[1:]}, nil
	case vtagNode:
		if err := wantMin(a, 2, "Node value"); err != nil {
			return nil, err
		}
		n := &VNode{}
		if n.ID, err = decodeText(a[1], "node ID"); err != nil {
			return nil, err
		}
		for _, x := range a[2:] {
			s, err := decodeText(x, "node address")
			if err != nil {
				return nil, err
			}
			n.Addrs = append(n.Addrs, s)
		}
		return n, nil
	case vtagChunked:
		k, n, root, err := decodeChunkedRef(a, true)
		if err != nil {
			return nil, err
		}
		return &VChunked{Kind: k, Count: n, Root: root}, nil
	case vtagChannel:
		if err := wantLen(a, 3, "Channel value"); err != nil {
			return nil, err
		}
		id, err := decodeBytes(a[1], "channel ID")
		if err != nil {
			return nil, err
		}
		n, err := decodeText(a[2], "channel node")
		return &VChannel{ID: id, Node: n}, err
	}
	return nil, malformed("unknown value tag %d", tag)
}
