package eval

import (
	"slices"
	"strings"

	"github.com/unode-dev/unode/dag"
)

// builtinDesc is a primitive. Builtins of arity 0 run each time they are
// referenced (constants, and effects such as here and channel).
type builtinDesc struct {
	name  string
	arity int
	doc   string
	fn    func(th *Thread, args []Value) Value
	f1    func(th *Thread, a Value) Value
	f2    func(th *Thread, a, b Value) Value
	// higherOrder builtins call back into the language.
	higherOrder bool
	// extraDepth is added to the depth of callbacks made from inside a
	// recursive Go implementation (sorting), to account for its frames.
	extraDepth int
	// group is the capability group: "pure", "remote", "channel",
	// "cluster", "data", "ffi" (Native.call, native.go).
	group string
	value Value // the *Builtin value, for arity >= 1
	// frame marks the call frame of a builtin applied through a function
	// value, for backtraces.
	frame *funcCode
	// id indexes a Thread's memo of builtins its CheckBuiltin allowed.
	id int
}

var builtins = map[string]*builtinDesc{}

func register(d *builtinDesc) *builtinDesc {
	if _, dup := builtins[d.name]; dup {
		panic("eval: builtin registered twice: " + d.name)
	}
	if d.group == "" {
		d.group = "pure"
	}
	if d.arity > 0 {
		d.value = &Builtin{desc: d}
	}
	d.frame = &funcCode{name: d.name}
	d.id = len(builtins)
	builtins[d.name] = d
	return d
}

func def0(name, doc string, f func(th *Thread) Value) *builtinDesc {
	return register(&builtinDesc{name: name, arity: 0, doc: doc,
		fn: func(th *Thread, _ []Value) Value { return f(th) }})
}

func def1(name, doc string, f func(th *Thread, a Value) Value) *builtinDesc {
	return register(&builtinDesc{name: name, arity: 1, doc: doc, f1: f,
		fn: func(th *Thread, args []Value) Value { return f(th, args[0]) }})
}

func def2(name, doc string, f func(th *Thread, a, b Value) Value) *builtinDesc {
	return register(&builtinDesc{name: name, arity: 2, doc: doc, f2: f,
		fn: func(th *Thread, args []Value) Value { return f(th, args[0], args[1]) }})
}

func def3(name, doc string, f func(th *Thread, a, b, c Value) Value) *builtinDesc {
	return register(&builtinDesc{name: name, arity: 3, doc: doc,
		fn: func(th *Thread, args []Value) Value { return f(th, args[0], args[1], args[2]) }})
}

func def4(name, doc string, f func(th *Thread, a, b, c, d Value) Value) *builtinDesc {
	return register(&builtinDesc{name: name, arity: 4, doc: doc,
		fn: func(th *Thread, args []Value) Value { return f(th, args[0], args[1], args[2], args[3]) }})
}

// ho marks a builtin as calling back into the language.
func (d *builtinDesc) ho() *builtinDesc {
	d.higherOrder = true
	return d
}

// deep sets extraDepth.
func (d *builtinDesc) deep(units int) *builtinDesc {
	d.extraDepth = units
	return d
}

func (d *builtinDesc) in(group string) *builtinDesc {
	d.group = group
	return d
}

func lookupBuiltin(name string) *builtinDesc {
	d, ok := builtins[name]
	if !ok {
		malformed("unknown builtin %q", name)
	}
	return d
}

// IsBuiltin reports whether name is a builtin function or constant.
// dag.Compile uses it (through CompileOptions.IsBuiltin) to resolve names.
func IsBuiltin(name string) bool {
	_, ok := builtins[name]
	return ok
}

// BuiltinInfo describes a builtin for documentation and sandboxes.
type BuiltinInfo struct {
	Name  string
	Arity int
	// Group is the capability group: "pure", "remote", "channel",
	// "cluster", "data" or "ffi" (Native.call).
	Group string
	Doc   string
}

// Builtins lists every builtin, sorted by name.
func Builtins() []BuiltinInfo {
	if err := loadLibrary(); err != nil {
		panic("eval: " + err.Error()) // the library is part of the binary
	}
	out := make([]BuiltinInfo, 0, len(builtins))
	for _, d := range builtins {
		out = append(out, BuiltinInfo{Name: d.name, Arity: d.arity, Group: d.group, Doc: d.doc})
	}
	slices.SortFunc(out, func(a, b BuiltinInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// builtinCtorInfo is a constructor of a builtin data type.
type builtinCtorInfo struct {
	typ   string
	index int
	arity int
}

// Builtin data types and their constructors, by every accepted name.
// Err's Denied, BudgetExceeded and Missing are produced by hosts for
// failed remote evaluations; they have qualified names only, so user
// types may still use those names.
var builtinCtors = map[string]builtinCtorInfo{
	"None":               {"Optional", 0, 0},
	"Some":               {"Optional", 1, 1},
	"Optional.None":      {"Optional", 0, 0},
	"Optional.Some":      {"Optional", 1, 1},
	"Left":               {"Either", 0, 1},
	"Right":              {"Either", 1, 1},
	"Either.Left":        {"Either", 0, 1},
	"Either.Right":       {"Either", 1, 1},
	"Timeout":            {"Err", 0, 0},
	"Msg":                {"Err", 1, 1},
	"Err.Timeout":        {"Err", 0, 0},
	"Err.Msg":            {"Err", 1, 1},
	"Err.Denied":         {"Err", 2, 1},
	"Err.BudgetExceeded": {"Err", 3, 1},
	"Err.Missing":        {"Err", 4, 1},
}

// BuiltinCtor resolves the name of a constructor of a builtin data type
// (Optional: None=0, Some=1; Either: Left=0, Right=1; Err: Timeout=0,
// Msg=1, Err.Denied=2, Err.BudgetExceeded=3, Err.Missing=4).
func BuiltinCtor(name string) (typ dag.TypeRef, index, arity int, ok bool) {
	c, ok := builtinCtors[name]
	if !ok {
		return dag.TypeRef{}, 0, 0, false
	}
	return dag.TypeRef{Builtin: c.typ}, c.index, c.arity, true
}

// builtinCtorName is the name Show uses for a builtin constructor.
func builtinCtorName(typ string, index int) string {
	var names []string
	switch typ {
	case "Optional":
		names = []string{"None", "Some"}
	case "Either":
		names = []string{"Left", "Right"}
	case "Err":
		names = []string{"Timeout", "Msg", "Err.Denied", "Err.BudgetExceeded", "Err.Missing"}
	}
	if index < len(names) {
		return names[index]
	}
	return ""
}

// Argument checks. Each fails with a runtime error naming the builtin.

func (th *Thread) argInt(name string, v Value) int64 {
	x, ok := v.(Int)
	if !ok {
		th.fail("%s: expected an Int, got %s", name, describe(v))
	}
	return int64(x)
}

func (th *Thread) argFloat(name string, v Value) float64 {
	x, ok := v.(Float)
	if !ok {
		th.fail("%s: expected a Float, got %s", name, describe(v))
	}
	return float64(x)
}

func (th *Thread) argText(name string, v Value) string {
	x, ok := v.(Text)
	if !ok {
		th.fail("%s: expected a Text, got %s", name, describe(v))
	}
	return string(x)
}

func (th *Thread) argBytes(name string, v Value) string {
	x, ok := v.(Bytes)
	if !ok {
		th.fail("%s: expected Bytes, got %s", name, describe(v))
	}
	return string(x)
}

func (th *Thread) argBool(name string, v Value) bool {
	x, ok := v.(Bool)
	if !ok {
		th.fail("%s: expected a Bool, got %s", name, describe(v))
	}
	return bool(x)
}

func (th *Thread) argList(name string, v Value) *List {
	x, ok := v.(*List)
	if !ok {
		th.fail("%s: expected a List, got %s", name, describe(v))
	}
	return x
}

func (th *Thread) argMap(name string, v Value) *Map {
	x, ok := v.(*Map)
	if !ok {
		th.fail("%s: expected a Map, got %s", name, describe(v))
	}
	return x
}

func (th *Thread) argTuple(name string, v Value, n int) []Value {
	x, ok := v.(*Tuple)
	if !ok || len(x.Elems) != n {
		th.fail("%s: expected a %d-tuple, got %s", name, n, describe(v))
	}
	return x.Elems
}

func (th *Thread) argNode(name string, v Value) *Node {
	x, ok := v.(*Node)
	if !ok {
		th.fail("%s: expected a Node, got %s", name, describe(v))
	}
	return x
}

// argOptional returns the payload of Some, or nil for None.
func (th *Thread) argOptional(name string, v Value) (Value, bool) {
	d, ok := v.(*Data)
	if ok {
		switch d.ctor {
		case someCtor:
			return d.Fields[0], true
		case noneCtor:
			return nil, false
		}
	}
	th.fail("%s: expected an Optional, got %s", name, describe(v))
	return nil, false
}

// argEither returns the payload and whether it is Right.
func (th *Thread) argEither(name string, v Value) (Value, bool) {
	d, ok := v.(*Data)
	if ok {
		switch d.ctor {
		case rightCtor:
			return d.Fields[0], true
		case leftCtor:
			return d.Fields[0], false
		}
	}
	th.fail("%s: expected an Either, got %s", name, describe(v))
	return nil, false
}

// Allocation helpers for results.

func (th *Thread) some(v Value) Value {
	th.alloc(sizeData + sizeSlot)
	return newData1(someCtor, v)
}

func (th *Thread) left(v Value) Value {
	th.alloc(sizeData + sizeSlot)
	return newData1(leftCtor, v)
}

func (th *Thread) right(v Value) Value {
	th.alloc(sizeData + sizeSlot)
	return newData1(rightCtor, v)
}

func (th *Thread) text(s string) Value {
	th.alloc(sizeText + int64(len(s)))
	return Text(s)
}

func (th *Thread) bytes(s string) Value {
	th.alloc(sizeText + int64(len(s)))
	return Bytes(s)
}

func (th *Thread) tuple2(a, b Value) Value {
	th.alloc(sizeTuple + 2*sizeSlot)
	return newTuple2(a, b)
}

// truthy applies a predicate and requires a Bool.
func (th *Thread) truthy(name string, p, x Value) bool {
	return th.argBool(name+" (predicate result)", th.call1(p, x))
}
