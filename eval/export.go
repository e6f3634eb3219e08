package eval

import "github.com/unode-dev/unode/dag"

// BuiltinCtorName names a constructor of a builtin data type (Optional,
// Either, Err) as source code writes it, or "" if there is none.
func BuiltinCtorName(t dag.TypeRef, index int) string {
	return builtinCtorName(t.Builtin, index)
}
