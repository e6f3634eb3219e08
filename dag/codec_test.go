package dag

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// codecCID returns a distinct, valid CID per seed.
func codecCID(seed string) cid.Cid { return SumCID([]byte(seed)) }

func codecRef(seed string, member int) DefRef { return DefRef{CID: codecCID(seed), Member: member} }

var codecTypeRef = TypeRef{Def: codecRef("Maybe", 0)}

// codecTerms covers every Term kind and the awkward literals.
var codecTerms = []struct {
	name string
	t    Term
}{
	{"var", &Var{Index: 3}},
	{"var0", &Var{}},
	{"ref", &Ref{Def: codecRef("a", 0)}},
	{"ref member", &Ref{Def: codecRef("a", 7)}},
	{"self", &Self{Member: 2}},
	{"builtin", &Builtin{Name: "List.map"}},
	{"ctor builtin type", &Ctor{Type: TypeRef{Builtin: "Optional"}, Index: 1, Arity: 1}},
	{"ctor def type", &Ctor{Type: codecTypeRef, Index: 0, Arity: 0}},
	{"int 0", &Int{V: 0}},
	{"int 23", &Int{V: 23}},
	{"int 24", &Int{V: 24}},
	{"int -1", &Int{V: -1}},
	{"int -25", &Int{V: -25}},
	{"int max", &Int{V: math.MaxInt64}},
	{"int min", &Int{V: math.MinInt64}},
	{"float", &Float{V: 1.5}},
	{"float tiny", &Float{V: 5e-324}},
	{"float -0", &Float{V: math.Copysign(0, -1)}},
	{"float +inf", &Float{V: math.Inf(1)}},
	{"float -inf", &Float{V: math.Inf(-1)}},
	{"float nan", &Float{V: math.NaN()}},
	{"text empty", &Text{V: ""}},
	{"text unicode", &Text{V: "héllo, 世界 🎉\x00"}},
	{"bool", &Bool{V: true}},
	{"bool false", &Bool{V: false}},
	{"bytes", &Bytes{V: []byte{0, 1, 0xff}}},
	{"bytes empty", &Bytes{V: []byte{}}},
	{"unit", &Unit{}},
	{"lam", &Lam{Arity: 2, Body: &Var{Index: 1}}},
	{"app", &App{Fn: &Builtin{Name: "Op.add"}, Args: []Term{&Int{V: 1}, &Var{Index: 0}}}},
	{"let", &Let{Value: &Int{V: 1}, Body: &Var{Index: 0}}},
	{"letrec", &LetRec{Value: &Lam{Arity: 1, Body: &App{Fn: &Var{Index: 1}, Args: []Term{&Var{Index: 0}}}}, Body: &Var{Index: 0}}},
	{"if", &If{Cond: &Bool{V: true}, Then: &Int{V: 1}, Else: &Int{V: 2}}},
	{"match", &Match{Scrutinee: &Var{Index: 0}, Arms: []Arm{
		{Pat: &PCtor{Type: codecTypeRef, Index: 1, Args: []Pattern{&PVar{}}}, Body: &Var{Index: 0}},
		{Pat: &PLit{Lit: &Text{V: "x"}}, Body: &Int{V: 1}},
		{Pat: &PLit{Lit: &Float{V: math.NaN()}}, Body: &Int{V: 1}},
		{Pat: &PTuple{Elems: []Pattern{&PWild{}, &PVar{}}}, Body: &Var{Index: 0}},
		{Pat: &PList{Elems: []Pattern{}}, Body: &Int{V: 2}},
		{Pat: &PList{Elems: []Pattern{&PVar{}, &PLit{Lit: &Int{V: -3}}}}, Body: &Int{V: 2}},
		{Pat: &PCons{Head: &PVar{}, Tail: &PCons{Head: &PWild{}, Tail: &PVar{}}}, Body: &Var{Index: 1}},
		{Pat: &PLit{Lit: &Unit{}}, Body: &Unit{}},
		{Pat: &PWild{}, Body: &Int{V: 0}},
	}}},
	{"match no arms", &Match{Scrutinee: &Int{V: 1}, Arms: []Arm{}}},
	{"tuple", &Tuple{Elems: []Term{&Int{V: 1}, &Text{V: "a"}, &Bool{V: false}}}},
	{"list", &List{Elems: []Term{&Int{V: 1}, &Int{V: 2}}}},
	{"list empty", &List{Elems: []Term{}}},
	{"delay", &Delay{Body: &App{Fn: &Ref{Def: codecRef("fib", 0)}, Args: []Term{&Int{V: 25}}}}},
	{"force", &Force{X: &Var{Index: 0}}},
	{"nested closures", &Lam{Arity: 1, Body: &Lam{Arity: 2, Body: &Delay{Body: &App{
		Fn: &Var{Index: 2}, Args: []Term{&Var{Index: 1}, &Lam{Arity: 1, Body: &Var{Index: 3}}}}}}}},
}

var codecTypes = []struct {
	name string
	t    TypeTerm
}{
	{"tvar", &TVar{Index: 0}},
	{"tref", &TRef{Def: codecRef("T", 1)}},
	{"tself", &TSelf{Member: 0}},
	{"tbuiltin", &TBuiltin{Name: "Int"}},
	{"tapp", &TApp{Fn: &TBuiltin{Name: "List"}, Args: []TypeTerm{&TVar{Index: 0}}}},
	{"tfun", &TFun{Arg: &TVar{Index: 0}, Res: &TFun{Arg: &TBuiltin{Name: "Int"}, Res: &TVar{Index: 1}}}},
	{"ttuple", &TTuple{Elems: []TypeTerm{&TBuiltin{Name: "Text"}, &TSelf{Member: 1}}}},
	{"tunit", &TTuple{Elems: []TypeTerm{}}},
}

var codecValues = []struct {
	name string
	v    Value
}{
	{"int", &VInt{V: 42}},
	{"int max", &VInt{V: math.MaxInt64}},
	{"int min", &VInt{V: math.MinInt64}},
	{"float", &VFloat{V: 13.0}},
	{"float -0", &VFloat{V: math.Copysign(0, -1)}},
	{"float nan", &VFloat{V: math.NaN()}},
	{"float inf", &VFloat{V: math.Inf(-1)}},
	{"text", &VText{V: "ünïcödé"}},
	{"text empty", &VText{V: ""}},
	{"bool", &VBool{V: true}},
	{"bytes", &VBytes{V: []byte("abc")}},
	{"bytes empty", &VBytes{V: []byte{}}},
	{"unit", &VUnit{}},
	{"tuple", &VTuple{Elems: []Value{&VInt{V: 1}, &VText{V: "x"}}}},
	{"list", &VList{Elems: []Value{&VInt{V: 1}, &VInt{V: 2}, &VInt{V: 3}}}},
	{"list empty", &VList{Elems: []Value{}}},
	{"map", &VMap{Keys: []Value{&VText{V: "a"}, &VText{V: "b"}}, Vals: []Value{&VInt{V: 1}, &VList{Elems: []Value{}}}}},
	{"map empty", &VMap{Keys: []Value{}, Vals: []Value{}}},
	{"data", &VData{Type: codecTypeRef, Ctor: 1, Fields: []Value{&VInt{V: 5}}}},
	{"data builtin", &VData{Type: TypeRef{Builtin: "Optional"}, Ctor: 0, Fields: []Value{}}},
	{"closure", &VClosure{Code: &Lam{Arity: 1, Body: &App{Fn: &Builtin{Name: "Op.add"}, Args: []Term{&Var{Index: 0}, &Var{Index: 1}}}}, Env: []Value{&VInt{V: 10}}}},
	{"thunk", &VClosure{Code: &Delay{Body: &App{Fn: &Ref{Def: codecRef("fib", 0)}, Args: []Term{&Var{Index: 0}}}}, Env: []Value{&VInt{V: 25}}}},
	{"nested closure", &VClosure{Code: &Lam{Arity: 1, Body: &Var{Index: 1}}, Env: []Value{
		&VClosure{Code: &Lam{Arity: 2, Body: &Var{Index: 2}}, Env: []Value{&VText{V: "inner"}}},
	}}},
	{"def", &VDef{Def: codecRef("main", 0)}},
	{"builtin", &VBuiltin{Name: "List.map", Args: []Value{}}},
	{"builtin partial", &VBuiltin{Name: "Op.add", Args: []Value{&VInt{V: 1}}}},
	{"ctorfn", &VCtorFn{Type: codecTypeRef, Index: 1, Arity: 2, Args: []Value{&VInt{V: 1}}}},
	{"partial", &VPartial{Fn: &VDef{Def: codecRef("f", 0)}, Args: []Value{&VInt{V: 1}, &VUnit{}}}},
	{"node", &VNode{ID: "12D3KooWExample"}},
	{"node addrs", &VNode{ID: "12D3KooWExample", Addrs: []string{"/ip4/127.0.0.1/tcp/4001", "/ip6/::1/udp/4001/quic-v1"}}},
	{"channel", &VChannel{ID: []byte{1, 2, 3, 4}, Node: "12D3KooWExample"}},
}

// sameEncoding compares by encoding, which handles NaN (NaN != NaN) and
// the cyclic Env[0] of recursive closures.
func mustEncodeValue(t testing.TB, v Value) []byte {
	t.Helper()
	b, err := EncodeValue(v)
	if err != nil {
		t.Fatalf("EncodeValue: %v", err)
	}
	return b
}

func hasNaN(x any) bool {
	found := false
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Float64:
			found = found || math.IsNaN(v.Float())
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i))
			}
		}
	}
	walk(reflect.ValueOf(x))
	return found
}

func TestTermRoundTrip(t *testing.T) {
	for _, tc := range codecTerms {
		t.Run(tc.name, func(t *testing.T) {
			// bare
			data, err := EncodeTerm(tc.t)
			if err != nil {
				t.Fatalf("EncodeTerm: %v", err)
			}
			got, err := DecodeTerm(data)
			if err != nil {
				t.Fatalf("DecodeTerm(%x): %v", data, err)
			}
			if !hasNaN(tc.t) && !reflect.DeepEqual(got, tc.t) {
				t.Errorf("bare round trip: got %#v, want %#v", got, tc.t)
			}
			again, _ := EncodeTerm(got)
			if !bytes.Equal(again, data) {
				t.Errorf("re-encoding differs")
			}

			// in a block, with a second member
			blk := &TermBlock{Members: []Term{tc.t, &Self{Member: 0}}}
			data, err = EncodeTermBlock(blk)
			if err != nil {
				t.Fatalf("EncodeTermBlock: %v", err)
			}
			gotBlk, err := DecodeTermBlock(data)
			if err != nil {
				t.Fatalf("DecodeTermBlock: %v", err)
			}
			if !hasNaN(tc.t) && !reflect.DeepEqual(gotBlk, blk) {
				t.Errorf("block round trip: got %#v, want %#v", gotBlk, blk)
			}
			if k, err := BlockKind(data); err != nil || k != TermBlockKind {
				t.Errorf("BlockKind = %q, %v", k, err)
			}
		})
	}
}

func TestFloatSpecials(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0} {
		data, err := EncodeTerm(&Float{V: f})
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTerm(data)
		if err != nil {
			t.Fatal(err)
		}
		g := got.(*Float).V
		if math.IsNaN(f) != math.IsNaN(g) || (!math.IsNaN(f) && math.Float64bits(f) != math.Float64bits(g)) {
			t.Errorf("%v round-tripped to %v", f, g)
		}
	}
	// A NaN with another payload is written as the canonical "NaN".
	odd := math.Float64frombits(0x7ff8000000000123)
	a, _ := EncodeTerm(&Float{V: odd})
	b, _ := EncodeTerm(&Float{V: math.NaN()})
	if !bytes.Equal(a, b) {
		t.Errorf("NaN payloads encode differently: %x vs %x", a, b)
	}
}

func TestPatternRoundTrip(t *testing.T) {
	pats := []Pattern{
		&PVar{}, &PWild{}, &PLit{Lit: &Bytes{V: []byte{9}}}, &PLit{Lit: &Bool{V: true}},
		&PCtor{Type: TypeRef{Builtin: "Either"}, Index: 1, Args: []Pattern{&PTuple{Elems: []Pattern{&PVar{}, &PWild{}}}}},
		&PCtor{Type: codecTypeRef, Index: 0, Args: []Pattern{}},
		&PList{Elems: []Pattern{&PCons{Head: &PVar{}, Tail: &PWild{}}}},
	}
	for _, p := range pats {
		data, err := EncodePattern(p)
		if err != nil {
			t.Fatalf("EncodePattern(%#v): %v", p, err)
		}
		got, err := DecodePattern(data)
		if err != nil {
			t.Fatalf("DecodePattern: %v", err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("got %#v, want %#v", got, p)
		}
	}
}

func TestTypeRoundTrip(t *testing.T) {
	var decl DataDecl
	decl.Params = 2
	for _, tc := range codecTypes {
		t.Run(tc.name, func(t *testing.T) {
			data, err := EncodeTypeTerm(tc.t)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeTypeTerm(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.t) {
				t.Errorf("got %#v, want %#v", got, tc.t)
			}
		})
		decl.Ctors = append(decl.Ctors, []TypeTerm{tc.t})
	}
	decl.Ctors = append(decl.Ctors, []TypeTerm{})
	blk := &TypeBlock{Members: []*DataDecl{&decl, {Params: 0, Ctors: [][]TypeTerm{}}}}
	data, err := EncodeTypeBlock(blk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTypeBlock(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, blk) {
		t.Errorf("type block: got %#v, want %#v", got, blk)
	}
	if k, err := BlockKind(data); err != nil || k != TypeBlockKind {
		t.Errorf("BlockKind = %q, %v", k, err)
	}
	if _, err := DecodeTermBlock(data); !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeTermBlock(type block) = %v, want ErrMalformed", err)
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, tc := range codecValues {
		t.Run(tc.name, func(t *testing.T) {
			data := mustEncodeValue(t, tc.v)
			got, err := DecodeValue(data)
			if err != nil {
				t.Fatalf("DecodeValue(%x): %v", data, err)
			}
			if !hasNaN(tc.v) && !reflect.DeepEqual(got, tc.v) {
				t.Errorf("got %#v, want %#v", got, tc.v)
			}
			if again := mustEncodeValue(t, got); !bytes.Equal(again, data) {
				t.Errorf("re-encoding differs")
			}
			if k, err := BlockKind(data); err != nil || k != ValueBlockKind {
				t.Errorf("BlockKind = %q, %v", k, err)
			}
		})
	}
}

func TestRecursiveClosure(t *testing.T) {
	c := &VClosure{Code: &Lam{Arity: 1, Body: &App{Fn: &Var{Index: 1}, Args: []Term{&Var{Index: 0}}}}, Rec: true}
	c.Env = []Value{c, &VInt{V: 7}}
	data := mustEncodeValue(t, c)
	got, err := DecodeValue(data)
	if err != nil {
		t.Fatal(err)
	}
	gc := got.(*VClosure)
	if !gc.Rec || len(gc.Env) != 2 || gc.Env[0] != Value(gc) || !reflect.DeepEqual(gc.Env[1], &VInt{V: 7}) {
		t.Errorf("decoded %#v", gc)
	}
	// Env[0] must be written as unit: anything else is not canonical.
	bad := bytes.Replace(data, []byte{0xf5, 0x81, 0x05}, []byte{0xf5, 0x82, 0x00, 0x01}, 1)
	if bytes.Equal(bad, data) {
		t.Fatal("test did not find the rec env slot")
	}
	if _, err := DecodeValue(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("rec closure with real Env[0]: %v, want ErrMalformed", err)
	}
	if _, err := EncodeValue(&VClosure{Code: &Lam{Arity: 1, Body: &Var{}}, Rec: true}); !errors.Is(err, ErrInvalid) {
		t.Errorf("rec closure without env: %v, want ErrInvalid", err)
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	var nilLam *Lam
	terms := map[string]Term{
		"nil":              nil,
		"typed nil":        nilLam,
		"nil body":         &Lam{Arity: 1},
		"negative var":     &Var{Index: -1},
		"lam arity 0":      &Lam{Arity: 0, Body: &Unit{}},
		"app no args":      &App{Fn: &Unit{}},
		"tuple of 1":       &Tuple{Elems: []Term{&Unit{}}},
		"bad utf8":         &Text{V: "\xff"},
		"empty builtin":    &Builtin{},
		"undefined ref":    &Ref{},
		"negative member":  &Ref{Def: DefRef{CID: codecCID("x"), Member: -1}},
		"both typeref":     &Ctor{Type: TypeRef{Builtin: "X", Def: codecRef("y", 0)}},
		"empty typeref":    &Ctor{},
		"letrec not lam":   &LetRec{Value: &Int{}, Body: &Unit{}},
		"plit non literal": &Match{Scrutinee: &Unit{}, Arms: []Arm{{Pat: &PLit{Lit: &Var{}}, Body: &Unit{}}}},
		"nil pattern":      &Match{Scrutinee: &Unit{}, Arms: []Arm{{Body: &Unit{}}}},
	}
	for name, tm := range terms {
		if _, err := EncodeTerm(tm); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: EncodeTerm = %v, want ErrInvalid", name, err)
		}
	}
	values := map[string]Value{
		"nil":           nil,
		"map mismatch":  &VMap{Keys: []Value{&VUnit{}}},
		"closure code":  &VClosure{Code: &Var{}},
		"partial noarg": &VPartial{Fn: &VUnit{}},
		"empty node":    &VNode{},
	}
	for name, v := range values {
		if _, err := EncodeValue(v); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: EncodeValue = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := EncodeTermBlock(&TermBlock{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty term block: %v", err)
	}
	if _, err := EncodeTypeBlock(&TypeBlock{Members: []*DataDecl{nil}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil type member: %v", err)
	}
	// A value that contains itself is stopped by the nesting bound.
	l := &VList{}
	l.Elems = []Value{l}
	if _, err := EncodeValue(l); !errors.Is(err, ErrInvalid) {
		t.Errorf("cyclic list: %v", err)
	}
}

func TestNestingLimitAgrees(t *testing.T) {
	// A bare term at level 1; each List adds one level.
	nest := func(levels int) Term {
		var tm Term = &Unit{}
		for i := 1; i < levels; i++ {
			tm = &List{Elems: []Term{tm}}
		}
		return tm
	}
	data, err := EncodeTerm(nest(MaxNesting))
	if err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if _, err := DecodeTerm(data); err != nil {
		t.Fatalf("decoding at the limit: %v", err)
	}
	if _, err := EncodeTerm(nest(MaxNesting + 1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("beyond the limit: %v", err)
	}
	// Hand-made: one more level than allowed.
	deep := append(bytes.Repeat([]byte{0x82, 0x12}, MaxNesting), 0x81, 0x0a)
	if _, err := DecodeTerm(deep); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decoding beyond the limit: %v", err)
	}
	if _, err := Links(deep); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Links beyond the limit: %v", err)
	}
}

func TestSizeLimits(t *testing.T) {
	big := &Text{V: strings.Repeat("x", MaxBlockSize)}
	if _, err := EncodeTermBlock(&TermBlock{Members: []Term{big}}); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized block: %v", err)
	}
	data, err := EncodeTerm(big) // fits MaxValueSize
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeTermBlock(data); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized input: %v", err)
	}
}

// TestProtocolExample keeps the example in docs/protocol.md honest.
func TestProtocolExample(t *testing.T) {
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{&Lam{Arity: 1, Body: &Var{Index: 0}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "a3" + "646b696e64" + "647465726d" + "65756e6f6465" + "01" + "676d656d62657273" +
		"81" + "a1" + "647465726d" + "830b01" + "820000"
	if got := hex.EncodeToString(data); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	good, err := EncodeTermBlock(&TermBlock{Members: []Term{&Lam{Arity: 1, Body: &Var{Index: 0}}}})
	if err != nil {
		t.Fatal(err)
	}
	// The same block with "unode" before "kind" (bytewise on the text,
	// not length-first).
	unsorted := mustHex(t, "a3 65756e6f6465 01 646b696e64 647465726d 676d656d62657273 81 a1 647465726d 830b01820000")
	link := codecCID("l")
	tag42 := func(prefix []byte) string {
		b := append(prefix, link.Bytes()...)
		return "d82a58" + hex.EncodeToString([]byte{byte(len(b))}) + hex.EncodeToString(b)
	}

	termCases := map[string]string{
		"non-shortest int":     "82 00 18 01",       // [0, 1] with 1 as uint8
		"non-shortest tag":     "82 1800 01",        // tag 0 as uint8
		"float32":              "82 06 fa 3fc00000", // [6, 1.5f]
		"float16":              "82 06 f9 3e00",
		"float64 nan":          "82 06 fb 7ff8000000000000",
		"float64 inf":          "82 06 fb 7ff0000000000000",
		"bad float text":       "82 06 63 6e616e", // "nan"
		"indefinite array":     "9f 00 01 ff",
		"indefinite text":      "82 07 7f 61 61 ff",
		"unknown tag":          "81 18 63",
		"wrong arity":          "81 00",
		"unit with field":      "82 0a 00",
		"lam missing body":     "82 0b 01",
		"match odd":            "83 10 810a 8100",
		"tuple of one":         "82 11 810a",
		"tuple of none":        "81 11",
		"lam arity 0":          "83 0b 00 810a",
		"negative var":         "82 00 20",
		"int too big":          "82 05 1b ffffffffffffffff",
		"int too small":        "82 05 3b 8000000000000000",
		"not an array":         "00",
		"empty array":          "80",
		"tag not int":          "81 61 61",
		"trailing bytes":       "810a 00",
		"truncated":            "82 05",
		"empty":                "",
		"bad utf8":             "82 07 61 ff",
		"undefined":            "82 08 f7",
		"null":                 "82 08 f6",
		"bignum":               "82 05 c2 41 01",
		"other tag":            "83 01 d82b 41 00 00",
		"tag 42 no prefix":     "83 01" + tag42(nil) + "00",
		"tag 42 wrong prefix":  "83 01" + tag42([]byte{1}) + "00",
		"tag 42 not bytes":     "83 01 d82a 61 61 00",
		"tag 42 bad cid":       "83 01 d82a 43 000102 00",
		"nested tag":           "83 01 d82a" + tag42([]byte{0}) + "00",
		"typeref empty text":   "84 04 60 00 00",
		"typeref short":        "84 04 81 00 00 00",
		"plit not literal":     "83 10 810a 82 02 8200 00",
		"letrec value not lam": "83 0e 810a 810a",
		"var index text":       "82 00 61 30",
	}
	for name, h := range termCases {
		data := mustHex(t, h)
		if _, err := DecodeTerm(data); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeTerm(%x) = %v, want ErrMalformed", name, data, err)
		}
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Errorf("%s: %T is not a *DecodeError", name, err)
		}
	}

	// Sanity: the valid link encoding decodes.
	if _, err := DecodeTerm(mustHex(t, "83 01"+tag42([]byte{0})+"00")); err != nil {
		t.Errorf("valid Ref: %v", err)
	}

	// Envelope-level cases.
	dup := mustHex(t, "a4 646b696e64 647465726d 65756e6f6465 01 65756e6f6465 01 676d656d62657273 81 a1 647465726d 830b01820000")
	blockCases := map[string][]byte{
		"unsorted keys": unsorted,
		"dup keys":      dup,
		"version 2":     bytes.Replace(good, mustHex(t, "65756e6f6465 01"), mustHex(t, "65756e6f6465 02"), 1),
		"kind type":     bytes.Replace(good, mustHex(t, "647465726d 65756e6f6465"), mustHex(t, "6474797065 65756e6f6465"), 1),
		"extra key":     mustHex(t, "a4 636b6579 00 646b696e64 647465726d 65756e6f6465 01 676d656d62657273 81 a1 647465726d 830b01820000"),
		"no members":    mustHex(t, "a3 646b696e64 647465726d 65756e6f6465 01 676d656d62657273 80"),
		"member key":    mustHex(t, "a3 646b696e64 647465726d 65756e6f6465 01 676d656d62657273 81 a1 6474797065 830b01820000"),
		"int map key":   mustHex(t, "a1 00 00"),
		"appended":      append(append([]byte{}, good...), 0),
	}
	for name, data := range blockCases {
		if _, err := DecodeTermBlock(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeTermBlock = %v, want ErrMalformed", name, err)
		}
	}
	for _, name := range []string{"unsorted keys", "dup keys", "int map key", "appended"} {
		if _, err := Links(blockCases[name]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Links = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := DecodeTermBlock(good); err != nil {
		t.Errorf("good block: %v", err)
	}
}

func TestLinks(t *testing.T) {
	a, b, c := codecCID("a"), codecCID("b"), codecCID("c")
	tm := &App{Fn: &Ref{Def: DefRef{CID: b}}, Args: []Term{
		&Ref{Def: DefRef{CID: a, Member: 1}},
		&Ctor{Type: TypeRef{Def: DefRef{CID: c}}, Index: 0, Arity: 1},
		&Ref{Def: DefRef{CID: b}},
	}}
	data, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Links(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []cid.Cid{a, b, c}
	sortCIDs(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Links = %v, want %v", got, want)
	}
	v := &VList{Elems: []Value{&VDef{Def: DefRef{CID: c}}, &VClosure{Code: &Lam{Arity: 1, Body: &Ref{Def: DefRef{CID: a}}}}}}
	got, err = Links(mustEncodeValue(t, v))
	if err != nil {
		t.Fatal(err)
	}
	want = []cid.Cid{a, c}
	sortCIDs(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("value Links = %v, want %v", got, want)
	}
	got, err = Links(mustHex(t, "810a"))
	if err != nil || len(got) != 0 {
		t.Errorf("no links: %v, %v", got, err)
	}
}

// TestSharedValueBlowup: a value that is tiny in memory but 2^60 nodes
// when written out is refused promptly, not expanded.
func TestSharedValueBlowup(t *testing.T) {
	var v Value = &VText{V: "x"}
	for i := 0; i < 60; i++ {
		v = &VList{Elems: []Value{v, v}}
	}
	if _, err := EncodeValue(v); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("EncodeValue = %v, want ErrTooLarge", err)
	}
	var tm Term = &Unit{}
	for i := 0; i < 60; i++ {
		tm = &Tuple{Elems: []Term{tm, tm}}
	}
	if _, err := EncodeTermBlock(&TermBlock{Members: []Term{tm}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("EncodeTermBlock = %v, want ErrTooLarge", err)
	}
}
