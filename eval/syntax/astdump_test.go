package syntax

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// dump prints a tree as an S-expression, positions left out, so table
// tests can state the expected tree in one readable line.
func dump(n any) string {
	var b strings.Builder
	dumpTo(&b, n)
	return b.String()
}

func dumpTo(b *strings.Builder, n any) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	list := func(head string, items ...any) {
		b.WriteString("(" + head)
		for _, it := range items {
			b.WriteString(" ")
			dumpTo(b, it)
		}
		b.WriteString(")")
	}
	names := func(ns []string) string { return "[" + strings.Join(ns, " ") + "]" }
	switch n := n.(type) {
	case *File:
		for i, d := range n.Decls {
			if i > 0 {
				b.WriteString("\n")
			}
			dumpTo(b, d)
		}
	case *TypeDecl:
		b.WriteString("(type " + n.Name + " " + names(n.Params))
		for _, c := range n.Ctors {
			b.WriteString(" ")
			dumpTo(b, c)
		}
		b.WriteString(")")
	case *CtorDecl:
		list(n.Name, anySlice(n.Fields)...)
	case *DefDecl:
		b.WriteString("(def " + n.Name + " " + names(n.Params) + " ")
		dumpTo(b, n.Body)
		b.WriteString(")")
	case *TypeName:
		w("%s", n.Name)
	case *TypeApp:
		list("tapp", append([]any{n.Fn}, anySlice(n.Args)...)...)
	case *TypeFun:
		list("->", n.Arg, n.Res)
	case *TypeTuple:
		list("ttuple", anySlice(n.Elems)...)
	case *Ident:
		w("%s", n.Name)
	case *HashRef:
		w("%s", hashText(n.CID, n.Index))
	case *IntLit:
		w("%d", n.Value)
	case *FloatLit:
		w("%sf", strconv.FormatFloat(n.Value, 'g', -1, 64))
	case *TextLit:
		w("%q", n.Value)
	case *BoolLit:
		w("%t", n.Value)
	case *BytesLit:
		w("0xs%x", n.Value)
	case *UnitLit:
		w("()")
	case *Tuple:
		list("tuple", anySlice(n.Elems)...)
	case *List:
		list("list", anySlice(n.Elems)...)
	case *Lambda:
		b.WriteString("(fn " + names(n.Params) + " ")
		dumpTo(b, n.Body)
		b.WriteString(")")
	case *App:
		list("app", append([]any{n.Fn}, anySlice(n.Args)...)...)
	case *BinOp:
		list(n.Op, n.L, n.R)
	case *Neg:
		list("neg", n.X)
	case *Let:
		b.WriteString("(let [")
		for i, bd := range n.Bindings {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString("(" + bd.Name + " ")
			if len(bd.Params) > 0 {
				b.WriteString(names(bd.Params) + " ")
			}
			dumpTo(b, bd.Value)
			b.WriteString(")")
		}
		b.WriteString("] ")
		dumpTo(b, n.Body)
		b.WriteString(")")
	case *If:
		list("if", n.Cond, n.Then, n.Else)
	case *Match:
		b.WriteString("(match ")
		dumpTo(b, n.Scrutinee)
		for _, a := range n.Arms {
			b.WriteString(" (")
			dumpTo(b, a.Pattern)
			b.WriteString(" -> ")
			dumpTo(b, a.Body)
			b.WriteString(")")
		}
		b.WriteString(")")
	case *Delay:
		list("delay", n.Body)
	case *Force:
		list("force", n.X)
	case *PVar:
		w("%s", n.Name)
	case *PWild:
		w("_")
	case *PLit:
		list("lit", n.Lit)
	case *PCtor:
		if len(n.Args) == 0 {
			w("%s", n.Name)
		} else {
			list(n.Name, anySlice(n.Args)...)
		}
	case *PTuple:
		list("ptuple", anySlice(n.Elems)...)
	case *PList:
		list("plist", anySlice(n.Elems)...)
	case *PCons:
		list("::", n.Head, n.Tail)
	default:
		w("<%T>", n)
	}
}

func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

var posType = reflect.TypeFor[Pos]()

// equalAST compares two trees ignoring every Pos, treating nil and empty
// slices alike and comparing floats bit for bit (so -0.0 != 0.0). It
// returns "" when they are equal, else the path of the first difference.
func equalAST(a, b any) string {
	return diffValue(reflect.ValueOf(a), reflect.ValueOf(b), "")
}

func diffValue(a, b reflect.Value, path string) string {
	if a.IsValid() != b.IsValid() {
		return path + ": one side is missing"
	}
	if !a.IsValid() {
		return ""
	}
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s: %v vs %v", path, a.Type(), b.Type())
	}
	if a.Type() == posType {
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil vs non-nil"
			}
			return ""
		}
		return diffValue(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if d := diffValue(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d vs %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := diffValue(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Float64:
		x, y := a.Float(), b.Float()
		if math.Float64bits(x) != math.Float64bits(y) {
			return fmt.Sprintf("%s: %v vs %v", path, x, y)
		}
		return ""
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q vs %q", path, a.String(), b.String())
		}
		return ""
	case reflect.Int, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %d vs %d", path, a.Int(), b.Int())
		}
		return ""
	case reflect.Uint8:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %d vs %d", path, a.Uint(), b.Uint())
		}
		return ""
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Sprintf("%s: %v vs %v", path, a.Bool(), b.Bool())
		}
		return ""
	}
	return fmt.Sprintf("%s: cannot compare kind %v", path, a.Kind())
}
