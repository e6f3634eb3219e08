package eval_test

import (
	"os"
	"strings"
	"testing"

	"github.com/unode-dev/unode/eval"
)

// TestLanguageDocListsEveryBuiltin keeps docs/language.md in step with the
// builtin table: a builtin added without documentation fails here.
func TestLanguageDocListsEveryBuiltin(t *testing.T) {
	data, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, b := range eval.Builtins() {
		if strings.HasPrefix(b.Name, "Test.") {
			// Registered by this package's tests only (Test.stackProbe):
			// not part of the library users see.
			if strings.Contains(doc, "`"+b.Name+"`") {
				t.Errorf("docs/language.md documents the test-only builtin %s", b.Name)
			}
			continue
		}
		if !strings.Contains(doc, "`"+b.Name+"`") {
			t.Errorf("docs/language.md does not document builtin %s", b.Name)
		}
	}
}
