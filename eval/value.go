package eval

import (
	"strings"
	"sync"
	"unsafe"

	"github.com/unode-dev/unode/dag"
)

// Value is a runtime value. See the package documentation for the list of
// concrete types. Values are immutable once built and may be shared
// between goroutines.
type Value interface {
	// Type names the value's type for error messages ("Int", "List",
	// "function", the data type's reference, ...).
	Type() string
	// String is Show(v, nil).
	String() string
}

// Scalars. They are not charged to the memory budget: they fit in an
// interface word pair and are covered by fuel.
type (
	Int   int64
	Float float64
	Bool  bool
	Unit  struct{}
)

// Text is UTF-8 text. Text operations count code points, not bytes.
type Text string

// Bytes is an immutable byte string (a Go string holding raw bytes).
type Bytes string

// Tuple is (a, b, ...) with at least two elements.
type Tuple struct{ Elems []Value }

// Data is a constructor applied to all its fields.
type Data struct {
	ctor   *ctorDesc
	Fields []Value
}

// Closure is a function or a thunk (arity 0) written in the language:
// compiled code plus the values it captured.
type Closure struct {
	fc  *funcCode
	env []Value
}

// Builtin is a primitive function of arity >= 1, not yet applied.
type Builtin struct{ desc *builtinDesc }

// CtorFn is a constructor of arity >= 1 used as a function.
type CtorFn struct{ ctor *ctorDesc }

// Partial is a function applied to fewer arguments than its arity.
// Fn is a *Closure, *Builtin or *CtorFn; Args are never empty.
type Partial struct {
	Fn   Value
	Args []Value
}

// Node is a node of the network: a libp2p peer ID in text form, with
// optional multiaddress hints.
type Node struct {
	ID    string
	Addrs []string
}

// Channel is a logical channel: a random ID and the node listening on it.
type Channel struct {
	ID   []byte
	Node string
}

// Cluster is a named group of nodes: an open cluster (Cluster.named),
// which any node may join, or one owned by a node (Cluster.owned), whose
// members hold the owner's membership token.
type Cluster struct {
	Name  string
	Owner *Node // nil for an open cluster
}

// compareClusters orders open clusters first, then by owner, then by
// name.
func compareClusters(a, b *Cluster) int {
	switch {
	case a.Owner == nil && b.Owner != nil:
		return -1
	case a.Owner != nil && b.Owner == nil:
		return 1
	case a.Owner != nil:
		if c := strings.Compare(a.Owner.ID, b.Owner.ID); c != 0 {
			return c
		}
	}
	return strings.Compare(a.Name, b.Name)
}

func (Int) Type() string       { return "Int" }
func (Float) Type() string     { return "Float" }
func (Bool) Type() string      { return "Bool" }
func (Unit) Type() string      { return "Unit" }
func (Text) Type() string      { return "Text" }
func (Bytes) Type() string     { return "Bytes" }
func (*Tuple) Type() string    { return "Tuple" }
func (d *Data) Type() string   { return d.ctor.typ.String() }
func (*Closure) Type() string  { return "function" }
func (*Builtin) Type() string  { return "function" }
func (*CtorFn) Type() string   { return "function" }
func (*Partial) Type() string  { return "function" }
func (*Node) Type() string     { return "Node" }
func (*Channel) Type() string  { return "Channel" }
func (*Cluster) Type() string  { return "Cluster" }
func (v Int) String() string   { return Show(v, nil) }
func (v Float) String() string { return Show(v, nil) }
func (v Bool) String() string  { return Show(v, nil) }
func (v Unit) String() string  { return Show(v, nil) }
func (v Text) String() string  { return Show(v, nil) }
func (v Bytes) String() string { return Show(v, nil) }
func (v *Tuple) String() string {
	return Show(v, nil)
}
func (v *Data) String() string    { return Show(v, nil) }
func (v *Closure) String() string { return Show(v, nil) }
func (v *Builtin) String() string { return Show(v, nil) }
func (v *CtorFn) String() string  { return Show(v, nil) }
func (v *Partial) String() string { return Show(v, nil) }
func (v *Node) String() string    { return Show(v, nil) }
func (v *Channel) String() string { return Show(v, nil) }
func (v *Cluster) String() string { return Show(v, nil) }

// Arity is the number of arguments the closure takes (0 for a thunk).
func (c *Closure) Arity() int { return c.fc.arity }

// Name is the builtin's stable name ("List.map").
func (b *Builtin) Name() string { return b.desc.name }

// TypeRef is the data type of the value.
func (d *Data) TypeRef() dag.TypeRef { return d.ctor.typ }

// Ctor is the constructor's index in its type.
func (d *Data) Ctor() int { return d.ctor.index }

// Canonical values.
var (
	True  Value = Bool(true)
	False Value = Bool(false)
	// UnitValue is ().
	UnitValue Value = Unit{}
)

// Small Ints are boxed once: converting an int64 outside 0..255 to an
// interface allocates, and loop counters and small results dominate.
// The boxes are one array of int64s that MakeInt points into (as the Go
// runtime does for 0..255): the array holds no pointers, so the garbage
// collector does not scan it, and boxing a small Int reads no table.
const (
	smallIntMin = -1024
	smallIntMax = 1 << 14
)

var smallInts = func() (t [smallIntMax - smallIntMin]int64) {
	for i := range t {
		t[i] = int64(i) + smallIntMin
	}
	return
}()

// intTemplate supplies the type word of a boxed small Int.
var intTemplate Value = Int(smallIntMax)

// MakeInt boxes an Int, sharing boxes for small values.
func MakeInt(i int64) Value {
	if uint64(i-smallIntMin) < uint64(smallIntMax-smallIntMin) {
		v := intTemplate
		(*ifaceWords)(unsafe.Pointer(&v)).data = unsafe.Pointer(&smallInts[i-smallIntMin])
		return v
	}
	return Int(i)
}

// MakeBool returns True or False.
func MakeBool(b bool) Value {
	if b {
		return True
	}
	return False
}

// ctorDesc describes one constructor. Descriptors are interned per
// (type, index) for the life of the process, so a constructor test is a
// pointer comparison.
type ctorDesc struct {
	typ     dag.TypeRef
	index   int
	arity   int
	name    string // for builtin types; "" for user types
	nullary *Data  // the shared value of an arity-0 constructor
	fn      *CtorFn
}

type ctorKey struct {
	typ   dag.TypeRef
	index int
}

var ctors sync.Map // ctorKey -> *ctorDesc

// internCtor returns the descriptor for (typ, index). The arity of the
// first use wins; a later use with another arity is malformed code and is
// caught when fields are counted.
func internCtor(typ dag.TypeRef, index, arity int) *ctorDesc {
	k := ctorKey{typ, index}
	if d, ok := ctors.Load(k); ok {
		return d.(*ctorDesc)
	}
	d := &ctorDesc{typ: typ, index: index, arity: arity}
	if typ.Builtin != "" {
		d.name = builtinCtorName(typ.Builtin, index)
	}
	d.nullary = &Data{ctor: d}
	d.fn = &CtorFn{ctor: d}
	actual, _ := ctors.LoadOrStore(k, d)
	return actual.(*ctorDesc)
}

// NewData builds a constructor value without budget accounting (for Go
// callers such as hosts and tests).
func NewData(typ dag.TypeRef, ctor int, fields ...Value) *Data {
	d := internCtor(typ, ctor, len(fields))
	if len(fields) == 0 {
		return d.nullary
	}
	return &Data{ctor: d, Fields: append([]Value(nil), fields...)}
}

// Builtin data types.
var (
	optionalType = dag.TypeRef{Builtin: "Optional"}
	eitherType   = dag.TypeRef{Builtin: "Either"}
	errType      = dag.TypeRef{Builtin: "Err"}

	noneCtor  = internCtor(optionalType, 0, 0)
	someCtor  = internCtor(optionalType, 1, 1)
	leftCtor  = internCtor(eitherType, 0, 1)
	rightCtor = internCtor(eitherType, 1, 1)

	errTimeoutCtor  = internCtor(errType, 0, 0)
	errMsgCtor      = internCtor(errType, 1, 1)
	errDeniedCtor   = internCtor(errType, 2, 1)
	errBudgetCtor   = internCtor(errType, 3, 1)
	errMissingCtor  = internCtor(errType, 4, 1)
	noneValue       = noneCtor.nullary
	errTimeoutValue = errTimeoutCtor.nullary
)

// None is Optional's None.
func None() Value { return noneValue }

// Some wraps v in Optional's Some.
func Some(v Value) Value { return &Data{ctor: someCtor, Fields: []Value{v}} }

// Left and Right build Either values.
func Left(v Value) Value  { return &Data{ctor: leftCtor, Fields: []Value{v}} }
func Right(v Value) Value { return &Data{ctor: rightCtor, Fields: []Value{v}} }

// newData1/newData2 allocate a Data and its fields in one object.
func newData1(c *ctorDesc, a Value) *Data {
	x := &struct {
		d Data
		f [1]Value
	}{}
	x.f[0] = a
	x.d.ctor = c
	x.d.Fields = x.f[:]
	return &x.d
}

func newData2(c *ctorDesc, a, b Value) *Data {
	x := &struct {
		d Data
		f [2]Value
	}{}
	x.f[0], x.f[1] = a, b
	x.d.ctor = c
	x.d.Fields = x.f[:]
	return &x.d
}

// newDataN allocates a Data of n fields (filled by the caller) and its
// fields in one object.
func newDataN(c *ctorDesc, n int) *Data {
	var d *Data
	var f []Value
	switch n {
	case 3:
		x := &struct {
			d Data
			f [3]Value
		}{}
		d, f = &x.d, x.f[:]
	case 4:
		x := &struct {
			d Data
			f [4]Value
		}{}
		d, f = &x.d, x.f[:]
	case 5:
		x := &struct {
			d Data
			f [5]Value
		}{}
		d, f = &x.d, x.f[:]
	case 6:
		x := &struct {
			d Data
			f [6]Value
		}{}
		d, f = &x.d, x.f[:]
	case 7:
		x := &struct {
			d Data
			f [7]Value
		}{}
		d, f = &x.d, x.f[:]
	case 8:
		x := &struct {
			d Data
			f [8]Value
		}{}
		d, f = &x.d, x.f[:]
	default:
		d, f = &Data{}, make([]Value, n)
	}
	d.ctor, d.Fields = c, f
	return d
}

func newTuple2(a, b Value) *Tuple {
	x := &struct {
		t Tuple
		e [2]Value
	}{}
	x.e[0], x.e[1] = a, b
	x.t.Elems = x.e[:]
	return &x.t
}

// isFunction reports whether v is a function value (not comparable).
func isFunction(v Value) bool {
	switch v.(type) {
	case *Closure, *Builtin, *CtorFn, *Partial, *DefFn:
		return true
	}
	return false
}

// Floats made by arithmetic are boxed in slabs: converting a float64 to
// an interface allocates 8 bytes each time, and float code makes one per
// operation. boxFloat stores the value in the thread's current slab and
// returns an interface pointing into it (the technique of gopher-lua's
// number allocator). A slab lives while any of its Floats does, so a
// kept Float holds at most floatSlab*8 bytes; the slab is small to keep
// that bound low. Like every scalar, Floats are not charged to the memory
// budget: what holds them (a list slot, a field) is.
const floatSlab = 16

// floatTemplate supplies the type word of a boxed Float.
var floatTemplate Value = Float(0)

type ifaceWords struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func (th *Thread) boxFloat(f float64) Value {
	if th == nil {
		return Float(f)
	}
	if len(th.floats) == cap(th.floats) {
		th.floats = make([]float64, 0, floatSlab)
	}
	th.floats = append(th.floats, f)
	v := floatTemplate
	(*ifaceWords)(unsafe.Pointer(&v)).data = unsafe.Pointer(&th.floats[len(th.floats)-1])
	return v
}
