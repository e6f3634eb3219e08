package main

import (
	"slices"
	"strings"
	"testing"
)

// What the REPL reads as unfinished (and so continues on the next line)
// and what it reads as done, right or wrong.
func TestReplUnfinished(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"f x =", true},
		{"[1, 2", true},
		{"(1 +", true},
		{"let a = 1", true},
		{"f x =\n  x + 1", false},
		{"fib 20", false},
		{"f x = x + 1", false},
		{"type T = A | B", false},
		{"1 + + 2", false}, // an error, reported at once
		{")", false},
	} {
		if got := unfinished(c.text); got != c.want {
			t.Errorf("unfinished(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

// The command table resolves names and unique prefixes, and names the
// candidates of an ambiguous prefix.
func TestReplCommandTable(t *testing.T) {
	for name, want := range map[string]string{"show": "show", "sh": "show", "a": "", "at": "at", "q": "quit", "t": "timeout"} {
		c, err := lookupReplCommand(name)
		switch {
		case want == "" && err == nil:
			t.Errorf(":%s resolved to :%s, want ambiguous", name, c.name)
		case want != "" && (err != nil || c.name != want):
			t.Errorf(":%s = %v, %v; want :%s", name, c, err, want)
		}
	}
	if _, err := lookupReplCommand("a"); err == nil || !strings.Contains(err.Error(), ":add, :at") {
		t.Errorf(":a: %v", err)
	}
	if _, err := lookupReplCommand("type"); err == nil || !strings.Contains(err.Error(), ":help") {
		t.Errorf(":type: %v", err)
	}
	if got := completeReplCommand(":s"); !slices.Equal(got, []string{":show"}) {
		t.Errorf("complete :s = %v", got)
	}
}

func TestExprArgs(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"-7 / 2"}, []string{"--", "-7 / 2"}},
		{[]string{"--fuel", "10", "-7"}, []string{"--fuel", "10", "--", "-7"}},
		{[]string{"-v", "-(1 + 2)", "--json"}, []string{"-v", "--json", "--", "-(1 + 2)"}},
		{[]string{"--", "-x"}, []string{"--", "-x"}},
		{[]string{"fib 2", "-v"}, []string{"fib 2", "-v", "--"}},
		{[]string{"--fuel=-1", "1"}, []string{"--fuel=-1", "1", "--"}},
	} {
		if got := exprArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("exprArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSizeValue(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "512KiB": 512 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30, "10B": 10} {
		var v sizeValue
		if err := v.Set(in); err != nil || int64(v) != want {
			t.Errorf("size %q = %d, %v; want %d", in, v, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-1", "64MB", "1.5MiB", "9999999999GiB"} {
		var v sizeValue
		if err := v.Set(in); err == nil {
			t.Errorf("size %q accepted as %d", in, v)
		} else if strings.Contains(err.Error(), "strconv") {
			t.Errorf("size %q: %v", in, err)
		}
	}
}
