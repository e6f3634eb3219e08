package dag_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/eval/syntax"
)

// Every block unode makes fits its schema: the blocks of every program
// the language tests and examples compile (eval/testdata, the syntax
// examples, the golden-CID source), with the links the store uses.
func TestCompiledBlocksFitSchema(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "eval", "testdata", "*.u"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "eval", "syntax", "testdata", "examples.u"))
	if len(files) < 10 {
		t.Fatalf("found only %d programs: %v", len(files), files)
	}
	srcs := map[string][]byte{"baseSrc": []byte(baseSrc)}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = src
	}
	blocks := 0
	for name, src := range srcs {
		f, err := syntax.ParseFile(name, src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c, err := dag.Compile(f, dag.CompileOptions{IsBuiltin: eval.IsBuiltin, BuiltinCtor: eval.BuiltinCtor, Here: "12D3KooWschema"})
		if err != nil {
			t.Logf("%s does not compile alone (%v): skipped", name, err)
			continue
		}
		for _, b := range c.Blocks {
			blocks++
			links, err := dag.ValidatedLinks(b.Data)
			if err != nil {
				t.Errorf("%s: block %s: %v", name, b.CID, err)
				continue
			}
			want, _ := dag.NeededLinks(b.Data)
			if !slices.EqualFunc(links, want, cid.Cid.Equals) {
				t.Errorf("%s: block %s: ValidatedLinks %v, NeededLinks %v", name, b.CID, links, want)
			}
		}
	}
	if blocks < 100 {
		t.Errorf("checked only %d blocks", blocks)
	}
	t.Logf("%d blocks of %d programs fit the schema", blocks, len(srcs))
}
