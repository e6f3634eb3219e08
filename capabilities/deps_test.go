package capabilities

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeps keeps the package below the evaluator and the node: the node
// wires enforcement by passing a Catalog and asking a Checker, so
// capabilities must never import eval, p2p or cmd (DESIGN.md, "Layout").
func TestDeps(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/unode-dev/unode/dag":         true,
		"github.com/unode-dev/unode/eval/syntax": true,
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/unode-dev/unode/") && !allowed[path] {
				t.Errorf("%s imports %s", name, path)
			}
			if strings.HasPrefix(path, "github.com/libp2p/go-libp2p/") && !strings.HasPrefix(path, "github.com/libp2p/go-libp2p/core/") {
				t.Errorf("%s imports %s (only libp2p core packages)", name, path)
			}
		}
	}
}
