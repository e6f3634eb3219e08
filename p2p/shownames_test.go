package p2p

import (
	"context"
	"strings"
	"testing"
)

// Two files whose mutually recursive definitions hash the same: show
// names each one's partner from the same set of names (issue 13: `show
// isEven` printed od inside isEven's body).
func TestShowCycleNames(t *testing.T) {
	ctx := context.Background()
	cb := NewCodebase(memDatastore())
	a := "isEven n = if n == 0 then true else isOdd (n - 1)\n\nisOdd n = if n == 0 then false else isEven (n - 1)\n"
	b := "ev n = if n == 0 then true else od (n - 1)\n\nod n = if n == 0 then false else ev (n - 1)\n"
	for i, src := range []string{a, b} {
		if _, err := cb.Add(ctx, []string{"a.u", "b.u"}[i], []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"isEven": "isOdd (", "isOdd": "isEven (", "ev": "od (", "od": "ev ("} {
		s, err := cb.Show(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s.Source, want) || !strings.HasPrefix(s.Source, name+" ") {
			t.Errorf("show %s:\n%s\nwant it to call %s", name, s.Source, strings.TrimSuffix(want, " ("))
		}
	}
}
