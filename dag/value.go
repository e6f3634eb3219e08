package dag

// Value is the wire and storage form of a runtime value. The evaluator
// converts its own values to and from these; EncodeValue/DecodeValue turn
// them into DAG-CBOR.
type Value interface{ valueNode() }

type (
	VInt   struct{ V int64 }
	VFloat struct{ V float64 }
	VText  struct{ V string }
	VBool  struct{ V bool }
	VBytes struct{ V []byte }
	VUnit  struct{}
	VTuple struct{ Elems []Value }
	VList  struct{ Elems []Value }
	// VMap holds entries sorted by key in the evaluator's total order
	// (the encoder does not re-sort; the evaluator guarantees the order).
	VMap struct{ Keys, Vals []Value }
	// VData is a constructor applied to all its fields.
	VData struct {
		Type   TypeRef
		Ctor   int
		Fields []Value
	}
	// VClosure is a function value: Code is a *Lam (or a *Delay for a
	// thunk) whose free variables are numbered 0..len(Env)-1 past its own
	// parameters: inside the body of a Lam of arity n, Var{n+i} is Env[i].
	// When Rec is true the closure is a recursive local function and
	// Env[0] is the closure itself (encoded as VUnit, restored on decode).
	VClosure struct {
		Code Term
		Env  []Value
		Rec  bool
	}
	// VDef is a top-level definition used as a value (before it is applied).
	VDef struct{ Def DefRef }
	// VBuiltin is a builtin, possibly partially applied to Args.
	VBuiltin struct {
		Name string
		Args []Value
	}
	// VCtorFn is a constructor partially applied to Args.
	VCtorFn struct {
		Type  TypeRef
		Index int
		Arity int
		Args  []Value
	}
	// VPartial is any other function value partially applied to Args.
	VPartial struct {
		Fn   Value
		Args []Value
	}
	// VNode is a node (libp2p peer ID text, optional multiaddr hints).
	VNode struct {
		ID    string
		Addrs []string
	}
	// VChannel is a channel: a random ID and the node that listens on it.
	VChannel struct {
		ID   []byte
		Node string
	}
)

func (*VInt) valueNode()     {}
func (*VFloat) valueNode()   {}
func (*VText) valueNode()    {}
func (*VBool) valueNode()    {}
func (*VBytes) valueNode()   {}
func (*VUnit) valueNode()    {}
func (*VTuple) valueNode()   {}
func (*VList) valueNode()    {}
func (*VMap) valueNode()     {}
func (*VData) valueNode()    {}
func (*VClosure) valueNode() {}
func (*VDef) valueNode()     {}
func (*VBuiltin) valueNode() {}
func (*VCtorFn) valueNode()  {}
func (*VPartial) valueNode() {}
func (*VNode) valueNode()    {}
func (*VChannel) valueNode() {}
