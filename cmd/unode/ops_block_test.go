package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// blockSource has a type, mutual recursion (one cycle block) and
// definitions that call across them: a closure of several blocks.
const blockSource = `type Shape = Circle Float | Rect Float Float

area s = match s with
  | Circle r -> 3.0 * r * r
  | Rect w h -> w * h

isEven n = if n == 0 then true else isOdd (n - 1)
isOdd n = if n == 0 then false else isEven (n - 1)

fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)

report n = (fib n, isEven n, area (Rect 2.0 3.0))
`

// cliIn runs one command in process with stdin.
func cliIn(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), nil, args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// useRepo points the CLI at a fresh repo under t's temp dir.
func useRepo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "repo")
	t.Setenv(repo.EnvPath, path)
	return path
}

// withStore opens the repo at path (no command may hold it) and calls f
// with its codebase.
func withStore(t *testing.T, path string, f func(cb *p2p.Codebase)) {
	t.Helper()
	r, err := repo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f(p2p.NewCodebase(r.Datastore))
}

// addedRef adds blockSource to the current repo and returns name's CID.
func addedRef(t *testing.T, name string) string {
	t.Helper()
	src := writeFile(t, t.TempDir(), "lib.u", blockSource)
	mustCLI(t, "add", src)
	var names namesResult
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "names", name)), &names); err != nil {
		t.Fatal(err)
	}
	for _, n := range names.Names {
		if n.Name == name {
			return strings.TrimPrefix(n.Ref, "#")
		}
	}
	t.Fatalf("%s not added", name)
	return ""
}

// readCARBlocks reads a CAR with go-car's own reader (which checks every
// block against its CID) and returns its version, roots and blocks.
func readCARBlocks(t *testing.T, data []byte) (uint64, []cid.Cid, []dag.Block) {
	t.Helper()
	br, err := car.NewBlockReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []dag.Block
	for {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("go-car: %v", err)
		}
		out = append(out, dag.Block{CID: b.Cid(), Data: b.RawData()})
	}
	return br.Version, br.Roots, out
}

func cidsOf(bs []dag.Block) []cid.Cid {
	var out []cid.Cid
	for _, b := range bs {
		out = append(out, b.CID)
	}
	return out
}

// Acceptance 1: the export of a definition's closure, read by go-car's
// reader, is exactly the closure's blocks with matching CIDs, in the
// documented order, the same bytes each time; CARv2 carries the same.
func TestDagExportReadByGoCar(t *testing.T) {
	path := useRepo(t)
	root := addedRef(t, "report")
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "r.car"), filepath.Join(dir, "r2.car")
	mustCLI(t, "dag", "export", "-o", v1, "report")
	mustCLI(t, "dag", "export", "--v2", "-o", v2, "#"+root)
	stdoutCAR := mustCLI(t, "dag", "export", root)

	var closure []cid.Cid
	withStore(t, path, func(cb *p2p.Codebase) {
		c, _ := cid.Decode(root)
		var err error
		if closure, err = cb.Store().ClosureOf(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	})
	if len(closure) < 5 {
		t.Fatalf("closure of %d blocks: want the type, the cycle, fib, area and report", len(closure))
	}
	data, err := os.ReadFile(v1)
	if err != nil {
		t.Fatal(err)
	}
	if stdoutCAR != string(data) {
		t.Error("the CAR on standard output differs from the one written with -o")
	}
	version, roots, blocks := readCARBlocks(t, data)
	if version != 1 || len(roots) != 1 || roots[0].String() != root {
		t.Errorf("CARv%d with roots %v, want CARv1 with root %s", version, roots, root)
	}
	if got := cidsOf(blocks); !slices.EqualFunc(got, closure, cid.Cid.Equals) {
		t.Errorf("CAR blocks %v,\nwant the closure in its order %v", got, closure)
	}
	// Every link a block needs is in the file, and comes before it.
	pos := map[cid.Cid]int{}
	for i, b := range blocks {
		links, err := dag.NeededLinks(b.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if j, ok := pos[l]; !ok || j >= i {
				t.Errorf("block %d (%s) links to %s, not before it in the file", i, b.CID, l)
			}
		}
		pos[b.CID] = i
	}

	data2, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	version, roots, blocks2 := readCARBlocks(t, data2)
	if version != 2 || len(roots) != 1 || roots[0].String() != root || !slices.EqualFunc(cidsOf(blocks2), closure, cid.Cid.Equals) {
		t.Errorf("CARv2: version %d, roots %v, %d blocks", version, roots, len(blocks2))
	}
	if _, err := car.NewReader(bytes.NewReader(data2)); err != nil {
		t.Errorf("go-car cannot open the CARv2 with its index: %v", err)
	}

	// Two roots sharing blocks: each block once, in first-seen order.
	fib := addedRef(t, "fib")
	both := mustCLI(t, "dag", "export", fib, root)
	_, roots, blocks = readCARBlocks(t, []byte(both))
	if len(roots) != 2 || roots[0].String() != fib || len(blocks) != len(closure) || !blocks[0].CID.Equals(roots[0]) {
		t.Errorf("export of fib and report: roots %v, %d blocks (want %d, fib first)", roots, len(blocks), len(closure))
	}
}

// Acceptance 1: the exported file imported into a fresh repo makes the
// definition evaluable with no network (no daemon: the repo alone), with
// the closure invariant intact.
func TestDagImportFreshRepoEvaluates(t *testing.T) {
	useRepo(t)
	root := addedRef(t, "report")
	file := filepath.Join(t.TempDir(), "r.car")
	mustCLI(t, "dag", "export", "-o", file, "report")
	want := mustCLI(t, "eval", "report 10")

	fresh := useRepo(t)
	var res importResults
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "dag", "import", file)), &res); err != nil {
		t.Fatal(err)
	}
	im := res.Imports[0]
	if im.Version != 1 || len(im.Roots) != 1 || im.Roots[0].CID != root || !im.Roots[0].Complete || im.New != im.Blocks || im.Blocks < 5 {
		t.Errorf("import: %+v", im)
	}
	if got := mustCLI(t, "eval", "#"+root+" 10"); got != want || want != "(55, true, 6.0)\n" {
		t.Errorf("eval in the fresh repo: %q, want %q", got, want)
	}
	withStore(t, fresh, func(cb *p2p.Codebase) {
		n, err := cb.Store().CheckCompleteMarkers(t.Context())
		if err != nil || n != im.Blocks {
			t.Errorf("closure invariant: %d markers, %v; want %d", n, err, im.Blocks)
		}
	})
	// Again: nothing new, still complete.
	if err := json.Unmarshal([]byte(mustCLI(t, "--json", "dag", "import", file)), &res); err != nil {
		t.Fatal(err)
	}
	if im := res.Imports[0]; im.New != 0 || !im.Roots[0].Complete {
		t.Errorf("second import: %+v", im)
	}
}

// writeCAR writes a CARv1 (or, with v2, CARv2) of blocks as given (their
// CIDs and bytes unchecked: a test makes bad files with it).
func writeCAR(t *testing.T, roots []cid.Cid, blocks []dag.Block, v2 bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := carstorage.NewWritable(&buf, roots, car.WriteAsCarV1(true), car.AllowDuplicatePuts(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), b.CID.KeyString(), b.Data); err != nil {
			t.Fatal(err)
		}
	}
	if !v2 {
		return buf.Bytes()
	}
	var out bytes.Buffer
	if err := car.WrapV1(bytes.NewReader(buf.Bytes()), &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// exportedBlocks returns the closure of report, as the export gives it.
func exportedBlocks(t *testing.T) (cid.Cid, []dag.Block) {
	t.Helper()
	useRepo(t)
	addedRef(t, "report")
	data := mustCLI(t, "dag", "export", "report")
	_, roots, blocks := readCARBlocks(t, []byte(data))
	return roots[0], blocks
}

// Acceptance 1: a CAR holding a block with wrong bytes, a block outside
// the schema, or a truncated file is refused with a typed error, and
// none of its blocks is stored, good ones included (before the schema
// check, the schema-invalid block was stored).
func TestDagImportRefuses(t *testing.T) {
	root, good := exportedBlocks(t)
	full := writeCAR(t, []cid.Cid{root}, good, false)
	wrongBytes := slices.Clone(good)
	wrongBytes[len(wrongBytes)-1] = dag.Block{CID: good[len(good)-1].CID, Data: good[0].Data}
	junk := dag.NewBlock([]byte{0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02}) // {"a": 1, "b": 2}: DAG-CBOR, no unode block
	unsupported := dag.Block{CID: cid.NewCidV1(cid.Raw, good[0].CID.Hash()), Data: good[0].Data}
	cases := []struct {
		name  string
		file  []byte
		check func(t *testing.T, err error)
	}{
		{"wrong bytes", writeCAR(t, []cid.Cid{root}, wrongBytes, false), func(t *testing.T, err error) {
			var hm *dag.HashMismatchError
			if !errors.As(err, &hm) || !hm.Want.Equals(good[len(good)-1].CID) {
				t.Errorf("%v: want a *dag.HashMismatchError for %s", err, good[len(good)-1].CID)
			}
		}},
		{"wrong bytes, CARv2", writeCAR(t, []cid.Cid{root}, wrongBytes, true), func(t *testing.T, err error) {
			var hm *dag.HashMismatchError
			if !errors.As(err, &hm) {
				t.Errorf("%v: want a *dag.HashMismatchError", err)
			}
		}},
		{"schema-invalid block", writeCAR(t, []cid.Cid{root}, append(slices.Clone(good), junk), false), func(t *testing.T, err error) {
			var se *dag.SchemaError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), junk.CID.String()) {
				t.Errorf("%v: want a *dag.SchemaError naming %s", err, junk.CID)
			}
		}},
		{"raw-codec block", writeCAR(t, []cid.Cid{root}, append(slices.Clone(good), unsupported), false), func(t *testing.T, err error) {
			if !errors.Is(err, dag.ErrUnsupportedCID) {
				t.Errorf("%v: want ErrUnsupportedCID", err)
			}
		}},
		{"truncated", full[:len(full)-10], func(t *testing.T, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%v: want io.ErrUnexpectedEOF", err)
			}
		}},
		{"truncated CARv2", func() []byte { f := writeCAR(t, []cid.Cid{root}, good, true); return f[:len(f)/2] }(), func(t *testing.T, err error) {
			if !strings.Contains(err.Error(), "not a readable CAR") {
				t.Errorf("%v: want an unreadable CAR", err)
			}
		}},
		{"not a CAR", []byte("unode\n"), func(t *testing.T, err error) {
			if !strings.Contains(err.Error(), "not a readable CAR") {
				t.Errorf("%v: want an unreadable CAR", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := useRepo(t)
			mustCLI(t, "init")
			withStore(t, path, func(cb *p2p.Codebase) {
				b := &backend{cb: cb}
				_, err := dagImportOp.do(t.Context(), b, &dagImportRequest{Name: "f.car", CAR: tc.file})
				if !errors.Is(err, errRefused) {
					t.Fatalf("import: %v, want a refusal", err)
				}
				tc.check(t, err)
				for _, blk := range append(slices.Clone(good), junk) {
					if ok, _ := cb.Store().Has(t.Context(), blk.CID); ok {
						t.Errorf("block %s of the refused file was stored", blk.CID)
					}
				}
			})
			// The CLI: one line, non-zero exit, nothing stored.
			f := writeFile(t, t.TempDir(), "f.car", string(tc.file))
			if line := failCLI(t, "dag", "import", f); !strings.Contains(line, "refused") {
				t.Errorf("CLI: %s", line)
			}
			failCLI(t, "block", "stat", root.String())
		})
	}
}

// block put, get and stat, without a daemon and through one (the same
// operations, and the same typed refusals).
func TestBlockCommands(t *testing.T) {
	for _, mode := range []string{"direct", "daemon"} {
		t.Run(mode, func(t *testing.T) {
			root, blocks := exportedBlocks(t)
			useRepo(t)
			if mode == "daemon" {
				inProcessDaemon(t)
			}
			last := blocks[len(blocks)-1] // the root: links to the others
			if !last.CID.Equals(root) {
				t.Fatal("the root is not last")
			}
			// The root first: stored, incomplete.
			var put blockPutResult
			out, errs, code := cliIn(t, last.Data, "--json", "block", "put")
			if code != 0 || json.Unmarshal([]byte(out), &put) != nil {
				t.Fatalf("block put: %d %s %s", code, out, errs)
			}
			if put.CID != root.String() || !put.New || put.Complete || put.Size != len(last.Data) {
				t.Errorf("put root: %+v", put)
			}
			for _, b := range blocks[:len(blocks)-1] {
				if out, errs, code := cliIn(t, b.Data, "block", "put", "--cid", b.CID.String()); code != 0 || out != b.CID.String()+"\n" {
					t.Fatalf("block put %s: %q %s", b.CID, out, errs)
				}
			}
			// Put again, the root completes: its closure is here now.
			f := writeFile(t, t.TempDir(), "root.cbor", string(last.Data))
			if err := json.Unmarshal([]byte(mustCLI(t, "--json", "block", "put", f)), &put); err != nil || put.New || !put.Complete {
				t.Errorf("put root again: %+v %v", put, err)
			}
			if got := mustCLI(t, "eval", "#"+root.String()+" 10"); got != "(55, true, 6.0)\n" {
				t.Errorf("eval: %q", got)
			}
			if got := mustCLI(t, "block", "get", "#"+root.String()); got != string(last.Data) {
				t.Errorf("block get: %x, want %x", got, last.Data)
			}
			var stat blockStatResult
			if err := json.Unmarshal([]byte(mustCLI(t, "--json", "block", "stat", root.String())), &stat); err != nil {
				t.Fatal(err)
			}
			links, _ := dag.Links(last.Data)
			if stat.CID != root.String() || stat.Size != len(last.Data) || stat.Codec != "dag-cbor" || stat.Kind != "term" ||
				!stat.Complete || len(stat.Links) != len(links) || strings.Contains(strings.Join(stat.Links, " "), "#") {
				t.Errorf("stat: %+v", stat)
			}
			if text := mustCLI(t, "block", "stat", root.String()); !strings.Contains(text, "kind      term") {
				t.Errorf("stat text: %s", text)
			}

			// Refusals: typed, nothing stored.
			junk := []byte{0xa1, 0x61, 'a', 0x01}
			_, errs, code = cliIn(t, junk, "block", "put")
			if code == 0 || !strings.Contains(errs, "refused") || !strings.Contains(errs, "outside the schema") {
				t.Errorf("put junk: %d %s", code, errs)
			}
			_, errs, code = cliIn(t, blocks[0].Data, "block", "put", "--cid", root.String())
			if code == 0 || !strings.Contains(errs, "hash mismatch") {
				t.Errorf("put with the wrong --cid: %d %s", code, errs)
			}
			if line := failCLI(t, "block", "get", dag.NewBlock(junk).CID.String()); !strings.Contains(line, "not here") {
				t.Errorf("get of junk: %s", line)
			}
			if line := failCLI(t, "dag", "export", dag.NewBlock(junk).CID.String()); !strings.Contains(line, "missing") {
				t.Errorf("export of an absent root: %s", line)
			}
			if line := failCLI(t, "--json", "dag", "export", "fib"); !strings.Contains(line, "-o FILE") {
				t.Errorf("export --json without -o: %s", line)
			}
		})
	}
}

// The refusals keep their type across the local API: the daemon answers
// code "refused", which the client matches to errRefused.
func TestBlockRefusalThroughAPI(t *testing.T) {
	useRepo(t)
	inProcessDaemon(t)
	e := &env{ctx: t.Context(), stdout: io.Discard, stderr: io.Discard}
	defer e.close()
	_, err := invoke(e, dagImportOp, &dagImportRequest{Name: "x.car", CAR: []byte("not a car")})
	var ae *apiError
	if !errors.As(err, &ae) || ae.Code != codeRefused || !errors.Is(err, errRefused) {
		t.Errorf("import through the daemon: %v (%T), want code %s", err, err, codeRefused)
	}
}

// Progress: on a terminal, an import or export that lasts draws one
// line on stderr, with its verb, and ends it; not on a terminal, nothing.
func TestTransferProgress(t *testing.T) {
	slow := &operation[slowFetchRequest, fetchResult]{
		name: "slowtransfer",
		do: func(ctx context.Context, _ *backend, req *slowFetchRequest) (*fetchResult, error) {
			report := progressOf(ctx)
			for i := 1; i <= req.Steps; i++ {
				if report == nil {
					continue // not drawn: no need to last
				}
				report(p2p.FetchProgress{Blocks: i, Bytes: int64(i) << 20, Expected: req.Steps, Elapsed: time.Duration(i) * time.Second})
				time.Sleep(progressDelay/2 + progressEvery)
			}
			return &fetchResult{}, nil
		},
	}
	useRepo(t)
	mustCLI(t, "init")
	for _, tty := range []bool{false, true} {
		old := isTerminal
		isTerminal = func(io.Writer) bool { return tty }
		var stderr bytes.Buffer
		e := &env{ctx: t.Context(), stdout: io.Discard, stderr: &stderr}
		_, err := invokeTransfer(e, "exporting", slow, &slowFetchRequest{Steps: 4})
		e.close()
		isTerminal = old
		if err != nil {
			t.Fatal(err)
		}
		got := stderr.String()
		switch {
		case !tty && got != "":
			t.Errorf("not a terminal: stderr %q, want nothing", got)
		case tty && (!strings.Contains(got, "\r\x1b[Kexporting: 4/4 blocks, 4.0 MiB") || !strings.HasSuffix(got, "\n")):
			t.Errorf("terminal: stderr %q, want an exporting line ending with the final figures", got)
		}
	}
}
