package dag

import (
	"testing"
)

// benchTerm is a typical definition of about 50 nodes:
//
//	area s = match s with
//	  | Circle r -> 3.14159 * r * r
//	  | Rect w h -> w * h
//	  | Poly ps -> List.foldl (acc p -> acc + norm p) 0.0 ps
//	  | _ -> if debug then trace "unknown" 0.0 else 0.0
func benchTerm() Term {
	shape := TypeRef{Def: codecRef("Shape", 0)}
	mul := func(a, b Term) Term { return &App{Fn: &Builtin{Name: "Op.mul"}, Args: []Term{a, b}} }
	add := func(a, b Term) Term { return &App{Fn: &Builtin{Name: "Op.add"}, Args: []Term{a, b}} }
	return &Lam{Arity: 1, Body: &Match{Scrutinee: &Var{Index: 0}, Arms: []Arm{
		{Pat: &PCtor{Type: shape, Index: 0, Args: []Pattern{&PVar{}}},
			Body: mul(mul(&Float{V: 3.14159}, &Var{Index: 0}), &Var{Index: 0})},
		{Pat: &PCtor{Type: shape, Index: 1, Args: []Pattern{&PVar{}, &PVar{}}},
			Body: mul(&Var{Index: 1}, &Var{Index: 0})},
		{Pat: &PCtor{Type: shape, Index: 2, Args: []Pattern{&PVar{}}},
			Body: &App{Fn: &Builtin{Name: "List.foldl"}, Args: []Term{
				&Lam{Arity: 2, Body: add(&Var{Index: 1}, &App{Fn: &Ref{Def: codecRef("norm", 0)}, Args: []Term{&Var{Index: 0}}})},
				&Float{V: 0},
				&Var{Index: 0},
			}}},
		{Pat: &PWild{}, Body: &If{
			Cond: &Ref{Def: codecRef("debug", 0)},
			Then: &App{Fn: &Ref{Def: codecRef("trace", 0)}, Args: []Term{&Text{V: "unknown"}, &Float{V: 0}}},
			Else: &Float{V: 0},
		}},
	}}}
}

func BenchmarkEncodeTermBlock(b *testing.B) {
	blk := &TermBlock{Members: []Term{benchTerm()}}
	data, err := EncodeTermBlock(blk)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeTermBlock(blk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTermBlock(b *testing.B) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{benchTerm()}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTermBlock(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLinks(b *testing.B) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{benchTerm()}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Links(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashBlock(b *testing.B) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{benchTerm()}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		NewBlock(data)
	}
}
