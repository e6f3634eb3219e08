package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime/debug"
	"strings"
	"unicode/utf8"
)

// Native builtins: Go functions that a program embedding a node exposes
// to the language (docs/native.md). The language reaches them through one
// builtin, Native.call node name args, whose identity is the pair (node,
// name): code that names a native may be shipped anywhere, but the call
// runs only on that node, and anywhere else fails with a
// *NativeElsewhereError saying where it lives. On its node the call goes
// through the Host (NativeHost), which finds the native and checks that
// the evaluation may call it.
//
// The boundary copies: arguments are converted to fresh Go values
// (strings are immutable and shared; everything else is copied) and the
// result to fresh language values, so a native function never holds a
// reference to the evaluator's values after it returns, and nothing it
// keeps can change a value the program sees. Conversions charge fuel and
// memory before they allocate. The function runs on its own goroutine
// with a context that ends with the evaluation (cancellation, wall-time
// budget), and the evaluation stops waiting for it when that context
// ends; a panic in it is recovered and fails the call with a
// *NativePanicError.

// NativeHost is implemented by hosts whose node has native builtins.
type NativeHost interface {
	// Native returns the native builtin called name on this node, for a
	// call from th. It fails, wrapping ErrDenied, when th may not call
	// it (a foreign evaluation whose sandbox lacks its group), and with
	// a *NativeMissingError when no such native is registered.
	Native(th *Thread, name string) (*Native, error)
}

// NativeSpec describes a native builtin for NewNative.
type NativeSpec struct {
	// Name is the qualified name the language calls it by
	// ("Sensor.temperature").
	Name string
	// Group is the native group that grants it (ffi:Group).
	Group string
	// Doc is a one-line description.
	Doc string
	// Fn is the Go function: func([context.Context,] params...)
	// ([result,] [error]). Parameters and the result may be bool, any
	// integer or float type, string, []byte, and slices and maps of
	// these (nested to NativeMaxTypeDepth); no result means ().
	Fn any
	// Fuel is charged for each call on top of the conversions; zero
	// means NativeCallFuel.
	Fuel int64
	// MaxConcurrent bounds the calls running at once (callers wait
	// their turn, within their own deadline); zero means
	// NativeMaxConcurrent.
	MaxConcurrent int
	// OnPanic, when set, is told of each call that panicked (to log
	// it with its stack); the panic is otherwise only that call's error.
	OnPanic func(*NativePanicError)
}

// Native is a native builtin ready to be called: its Go function with the
// conversions of its parameters and result worked out.
type Native struct {
	spec    NativeSpec
	fn      reflect.Value
	withCtx bool
	params  []reflect.Type
	result  reflect.Type // nil: returns ()
	withErr bool
	// slots bounds the calls running at once: a slot is held until the
	// Go function returns, even if the evaluation stopped waiting.
	slots chan struct{}
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// NewNative checks spec.Fn's signature and returns the native. An
// unsupported parameter or result type is an error naming it.
func NewNative(spec NativeSpec) (*Native, error) {
	if spec.Fn == nil {
		return nil, fmt.Errorf("native %s: nil function", spec.Name)
	}
	fv := reflect.ValueOf(spec.Fn)
	ft := fv.Type()
	if ft.Kind() != reflect.Func {
		return nil, fmt.Errorf("native %s: want a function, got %s", spec.Name, ft)
	}
	if ft.IsVariadic() {
		return nil, fmt.Errorf("native %s: variadic functions are not supported (take a slice)", spec.Name)
	}
	n := &Native{spec: spec, fn: fv}
	in := 0
	if ft.NumIn() > 0 && ft.In(0) == contextType {
		n.withCtx = true
		in = 1
	}
	for i := in; i < ft.NumIn(); i++ {
		t := ft.In(i)
		if err := checkNativeType(t, 0, nil); err != nil {
			return nil, fmt.Errorf("native %s: parameter %d: %w", spec.Name, i-in+1, err)
		}
		n.params = append(n.params, t)
	}
	out := ft.NumOut()
	if out > 0 && ft.Out(out-1) == errorType {
		n.withErr = true
		out--
	}
	switch out {
	case 0:
	case 1:
		t := ft.Out(0)
		if err := checkNativeType(t, 0, nil); err != nil {
			return nil, fmt.Errorf("native %s: result: %w", spec.Name, err)
		}
		n.result = t
	default:
		return nil, fmt.Errorf("native %s: %d results; want at most one value and an error", spec.Name, ft.NumOut())
	}
	if n.spec.Fuel <= 0 {
		n.spec.Fuel = NativeCallFuel
	}
	if n.spec.MaxConcurrent <= 0 {
		n.spec.MaxConcurrent = NativeMaxConcurrent
	}
	n.slots = make(chan struct{}, n.spec.MaxConcurrent)
	return n, nil
}

// Name is the native's qualified name.
func (n *Native) Name() string { return n.spec.Name }

// Group is the native group that grants it (ffi:Group).
func (n *Native) Group() string { return n.spec.Group }

// Doc is its one-line description.
func (n *Native) Doc() string { return n.spec.Doc }

// Arity is the number of arguments the language passes (the Go
// function's parameters, not counting a leading context).
func (n *Native) Arity() int { return len(n.params) }

// Signature is the Go signature, for documentation ("(float64) string").
func (n *Native) Signature() string {
	var b strings.Builder
	b.WriteString("(")
	for i, t := range n.params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
	b.WriteString(")")
	if n.result != nil {
		b.WriteString(" " + n.result.String())
	}
	return b.String()
}

const supportedNative = "bool, integers, floats, string, []byte, and slices and maps of these"

// checkNativeType accepts the Go types the boundary converts. seen
// guards against recursive types (type T []T), which could nest values
// without bound.
func checkNativeType(t reflect.Type, depth int, seen []reflect.Type) error {
	if depth > NativeMaxTypeDepth {
		return fmt.Errorf("Go type %s nests deeper than %d", t, NativeMaxTypeDepth)
	}
	for _, s := range seen {
		if s == t {
			return fmt.Errorf("recursive Go type %s is not supported", t)
		}
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // Bytes
		}
		return checkNativeType(t.Elem(), depth+1, append(seen, t))
	case reflect.Map:
		if err := checkNativeType(t.Key(), depth+1, append(seen, t)); err != nil {
			return err
		}
		if k := t.Key().Kind(); k == reflect.Slice || k == reflect.Map {
			return fmt.Errorf("map key type %s is not supported", t.Key())
		}
		return checkNativeType(t.Elem(), depth+1, append(seen, t))
	}
	return fmt.Errorf("unsupported Go type %s (supported: %s)", t, supportedNative)
}

// NativeElsewhereError is the failure of a call of a native builtin on a
// node other than its own: Node is where it lives, Here where it was
// called. The call can be made there with at.
type NativeElsewhereError struct {
	Name, Node, Here string
}

func (e *NativeElsewhereError) Error() string {
	return fmt.Sprintf("%s is a native builtin of node %s, not of this node (%s): run the call there, as in at (Node.fixed %q) '(...)",
		e.Name, e.Node, e.Here, e.Node)
}

// NativeMissingError is the failure of a call of a native builtin its
// node does not have (not registered, or not since its last restart).
type NativeMissingError struct{ Name, Node string }

func (e *NativeMissingError) Error() string {
	return fmt.Sprintf("node %s has no native builtin %s", e.Node, e.Name)
}

// NativePanicError is the failure of a call whose Go function panicked:
// the panic is that call's error, not the node's.
type NativePanicError struct {
	Name  string
	Value any
	// Stack is the Go stack of the panic, for the node's log; it is not
	// part of Error (which may be sent to the caller).
	Stack []byte
}

func (e *NativePanicError) Error() string {
	return fmt.Sprintf("native builtin %s panicked: %v", e.Name, e.Value)
}

// NativeCallError is the failure of a call whose Go function returned an
// error.
type NativeCallError struct {
	Name string
	Err  error
}

func (e *NativeCallError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *NativeCallError) Unwrap() error { return e.Err }

func init() {
	def3("Native.call", "Native.call node name args: call the native builtin name (a Go function registered on node, given as a Node or its peer ID as Text; docs/native.md) with the arguments in the list; it runs only on node and fails elsewhere, saying where it lives", func(th *Thread, nv, namev, argsv Value) Value {
		var node string
		switch x := nv.(type) {
		case *Node:
			node = x.ID
		case Text:
			node = string(x)
		default:
			th.fail("Native.call: expected a Node or a peer ID (Text), got %s", describe(nv))
		}
		name := th.argText("Native.call", namev)
		args := th.argList("Native.call", argsv)
		return th.callNative(node, name, args)
	}).in("ffi")
}

func (th *Thread) callNative(node string, name string, args *List) Value {
	h := th.host("Native.call")
	here, err := h.Here(th)
	if err != nil {
		th.failErr(err, "Native.call %s", name)
	}
	if here.ID != node {
		e := &NativeElsewhereError{Name: name, Node: node, Here: here.ID}
		panic(&RuntimeError{Msg: e.Error(), Stack: th.backtrace(), Err: e})
	}
	nh, ok := h.(NativeHost)
	if !ok {
		e := &NativeMissingError{Name: name, Node: node}
		panic(&RuntimeError{Msg: e.Error(), Stack: th.backtrace(), Err: e})
	}
	nat, err := nh.Native(th, name)
	if err != nil {
		panic(&RuntimeError{Msg: err.Error(), Stack: th.backtrace(), Err: err})
	}
	if args.Len() != nat.Arity() {
		th.fail("%s: takes %d arguments (as a list), got %d", name, nat.Arity(), args.Len())
	}
	th.charge(nat.spec.Fuel)
	in := make([]reflect.Value, 0, len(nat.params)+1)
	ctx, cancel := context.WithCancel(th.Context())
	defer cancel()
	if nat.withCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i, t := range nat.params {
		c := nativeConv{th: th, name: name}
		in = append(in, c.toGo(args.At(i), t, fmt.Sprintf("argument %d", i+1)))
	}
	out := th.runNative(ctx, nat, in)
	if nat.withErr {
		if e := out[len(out)-1]; !e.IsNil() {
			err := &NativeCallError{Name: name, Err: e.Interface().(error)}
			panic(&RuntimeError{Msg: err.Error(), Stack: th.backtrace(), Err: err})
		}
	}
	if nat.result == nil {
		return UnitValue
	}
	c := nativeConv{th: th, name: name}
	return c.fromGo(out[0], "result")
}

type nativeResult struct {
	out []reflect.Value
	err *NativePanicError
}

// runNative calls nat on its own goroutine, once a slot is free, and
// waits for it within the evaluation's context and Cancel.
func (th *Thread) runNative(ctx context.Context, nat *Native, in []reflect.Value) []reflect.Value {
	select {
	case nat.slots <- struct{}{}:
	case <-th.done():
		panic(th.ctxError())
	case <-th.canceledChan():
		th.check()
	}
	done := make(chan nativeResult, 1)
	go func() {
		defer func() { <-nat.slots }()
		defer func() {
			if r := recover(); r != nil {
				pe := &NativePanicError{Name: nat.spec.Name, Value: r, Stack: debug.Stack()}
				if nat.spec.OnPanic != nil {
					nat.spec.OnPanic(pe)
				}
				done <- nativeResult{err: pe}
			}
		}()
		done <- nativeResult{out: nat.fn.Call(in)}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			panic(&RuntimeError{Msg: r.err.Error(), Stack: th.backtrace(), Err: r.err})
		}
		return r.out
	case <-th.done():
		panic(th.ctxError())
	case <-th.canceledChan():
		th.check()
		panic(&CanceledError{Reason: "canceled"}) // not reached: check panics
	}
}

// nativeConv converts values across the boundary, charging the thread.
type nativeConv struct {
	th    *Thread
	name  string
	count int64 // values converted, charged one fuel unit per 8
}

func (c *nativeConv) fail(where, format string, args ...any) {
	c.th.fail("%s: %s: %s", c.name, where, fmt.Sprintf(format, args...))
}

// visit charges a converted value and polls for cancellation.
func (c *nativeConv) visit() {
	c.count++
	if c.count&7 == 0 {
		c.th.charge(1)
	}
	c.th.poll()
}

// toGo converts v to a fresh Go value of type t.
func (c *nativeConv) toGo(v Value, t reflect.Type, where string) reflect.Value {
	c.visit()
	th := c.th
	switch t.Kind() {
	case reflect.Bool:
		b, ok := v.(Bool)
		if !ok {
			c.fail(where, "expected a Bool for Go %s, got %s", t, describe(v))
		}
		return reflect.ValueOf(bool(b)).Convert(t)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := v.(Int)
		if !ok {
			c.fail(where, "expected an Int for Go %s, got %s", t, describe(v))
		}
		x := reflect.New(t).Elem()
		if x.OverflowInt(int64(i)) {
			c.fail(where, "%d does not fit Go %s", int64(i), t)
		}
		x.SetInt(int64(i))
		return x
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := v.(Int)
		if !ok {
			c.fail(where, "expected an Int for Go %s, got %s", t, describe(v))
		}
		x := reflect.New(t).Elem()
		if i < 0 || x.OverflowUint(uint64(i)) {
			c.fail(where, "%d does not fit Go %s", int64(i), t)
		}
		x.SetUint(uint64(i))
		return x
	case reflect.Float32, reflect.Float64:
		f, ok := v.(Float)
		if !ok {
			c.fail(where, "expected a Float for Go %s, got %s", t, describe(v))
		}
		x := reflect.New(t).Elem()
		if !math.IsInf(float64(f), 0) && !math.IsNaN(float64(f)) && x.OverflowFloat(float64(f)) {
			c.fail(where, "%v does not fit Go %s", float64(f), t)
		}
		x.SetFloat(float64(f))
		return x
	case reflect.String:
		s, ok := v.(Text)
		if !ok {
			c.fail(where, "expected a Text for Go %s, got %s", t, describe(v))
		}
		// Go strings are immutable: sharing the bytes is not a reference
		// the native could change.
		return reflect.ValueOf(string(s)).Convert(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			b, ok := v.(Bytes)
			if !ok {
				c.fail(where, "expected Bytes for Go %s, got %s", t, describe(v))
			}
			th.alloc(int64(len(b)))
			x := reflect.MakeSlice(t, len(b), len(b))
			reflect.Copy(x, reflect.ValueOf(string(b))) // a copy: the native may keep or change it
			return x
		}
		l, ok := v.(*List)
		if !ok {
			c.fail(where, "expected a List for Go %s, got %s", t, describe(v))
		}
		n := l.Len()
		th.checkCount(int64(n), sizeSlot)
		th.alloc(int64(n) * int64(max(t.Elem().Size(), 1)))
		x := reflect.MakeSlice(t, n, n)
		for i := range n {
			x.Index(i).Set(c.toGo(l.At(i), t.Elem(), fmt.Sprintf("%s[%d]", where, i)))
		}
		return x
	case reflect.Map:
		m, ok := v.(*Map)
		if !ok {
			c.fail(where, "expected a Map for Go %s, got %s", t, describe(v))
		}
		n := m.Len()
		th.checkCount(int64(n), sizeMapNode)
		th.alloc(int64(n) * sizeMapNode)
		keys, vals := m.Entries()
		x := reflect.MakeMapWithSize(t, n)
		for i := range keys {
			k := c.toGo(keys[i], t.Key(), where+" key")
			x.SetMapIndex(k, c.toGo(vals[i], t.Elem(), fmt.Sprintf("%s[%s]", where, Show(keys[i], nil))))
		}
		return x
	}
	c.fail(where, "unsupported Go type %s", t) // NewNative refuses these
	return reflect.Value{}
}

// fromGo converts a Go value to a fresh language value, charging memory
// before each allocation.
func (c *nativeConv) fromGo(x reflect.Value, where string) Value {
	c.visit()
	th := c.th
	t := x.Type()
	switch t.Kind() {
	case reflect.Bool:
		return MakeBool(x.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return MakeInt(x.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := x.Uint()
		if u > math.MaxInt64 {
			c.fail(where, "%d does not fit an Int", u)
		}
		return MakeInt(int64(u))
	case reflect.Float32, reflect.Float64:
		return Float(x.Float())
	case reflect.String:
		s := x.String()
		if !utf8.ValidString(s) {
			c.fail(where, "Go string is not valid UTF-8 (return []byte for binary data)")
		}
		th.alloc(sizeText + int64(len(s)))
		return Text(strings.Clone(s))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			n := x.Len()
			th.checkAlloc(sizeText + int64(n))
			th.alloc(sizeText + int64(n))
			return Bytes(string(x.Bytes()))
		}
		n := x.Len()
		th.checkCount(int64(n), sizeSlot)
		th.alloc(sizeList + sizeListBuf + int64(n)*sizeSlot)
		elems := make([]Value, n)
		for i := range n {
			elems[i] = c.fromGo(x.Index(i), fmt.Sprintf("%s[%d]", where, i))
		}
		return NewList(elems)
	case reflect.Map:
		n := x.Len()
		th.checkCount(int64(n), sizeMapNode)
		th.alloc(sizeMap + int64(n)*sizeMapNode)
		keys, vals := make([]Value, 0, n), make([]Value, 0, n)
		it := x.MapRange()
		for it.Next() {
			keys = append(keys, c.fromGo(it.Key(), where+" key"))
			vals = append(vals, c.fromGo(it.Value(), where+" value"))
		}
		m, err := NewMap(keys, vals)
		if err != nil {
			c.fail(where, "%v", err)
		}
		return m
	}
	c.fail(where, "unsupported Go type %s", t)
	return nil
}

// IsNativeElsewhere reports whether err is the failure of a native
// builtin called on a node other than its own, and which node that is.
func IsNativeElsewhere(err error) (node string, ok bool) {
	var e *NativeElsewhereError
	if errors.As(err, &e) {
		return e.Node, true
	}
	return "", false
}
