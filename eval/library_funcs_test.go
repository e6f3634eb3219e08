package eval

import (
	"errors"
	"strings"
	"testing"
)

// TestLibraryCompiles compiles the library written in the language and
// checks the group each function gets from the effects its code names.
func TestLibraryCompiles(t *testing.T) {
	if err := loadLibrary(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sharedAt": "remote", "atVia": "remote", "RLE.encode": "pure", "RLE.decode": "pure"}
	got := map[string]string{}
	for _, b := range Builtins() {
		if _, ok := want[b.Name]; ok {
			got[b.Name] = b.Group
			if b.Doc == "" || b.Arity == 0 {
				t.Errorf("%s: arity %d, doc %q", b.Name, b.Arity, b.Doc)
			}
		}
	}
	for name, g := range want {
		if got[name] != g {
			t.Errorf("%s is in group %q, want %q", name, got[name], g)
		}
	}
}

// TestLibrarySandbox: the builtins a library function's code names are
// checked against the sandbox when it is called, so atVia cannot reach
// `at` where `at` is denied, even if atVia itself were allowed.
func TestLibrarySandbox(t *testing.T) {
	var asked []string
	th := &Thread{CheckBuiltin: func(name string) error {
		asked = append(asked, name)
		if name == "at" {
			return errors.New("denied: at")
		}
		return nil
	}}
	_, err := evalShare(t, th, `atVia here (RLE.encode, RLE.decode) '([1, 1])`)
	if err == nil || !strings.Contains(err.Error(), "denied: at") {
		t.Fatalf("atVia with at denied: %v (asked about %v)", err, asked)
	}
	th = &Thread{CheckBuiltin: func(name string) error { return nil }}
	v, err := evalShare(t, th, `atVia here (RLE.encode, RLE.decode) '([1, 1])`)
	if err != nil || Show(v, nil) != "[1, 1]" {
		t.Fatalf("atVia with everything allowed: %v, %v", v, err)
	}
}

// TestLibraryOnTheWire: a library function used as a value travels by
// name, like any builtin.
func TestLibraryOnTheWire(t *testing.T) {
	v := mustEvalShare(t, `(RLE.encode, RLE.decode)`)
	got := throughWire(t, mustEvalShare(t, `let c = (RLE.encode, RLE.decode) in '(match c with | (e, d) -> d (e [3, 3, 4]))`))
	if Show(got, nil) != "[3, 3, 4]" {
		t.Fatalf("library functions sent as values: %s", Show(got, nil))
	}
	if n := wireBytes(t, v); n > 64 {
		t.Errorf("a pair of library functions costs %d bytes on the wire", n)
	}
}
