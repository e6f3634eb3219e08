package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p"
)

// `unode block` and `unode dag`: blocks and CAR files in and out
// (ops_block.go). docs/cli.md, "Blocks and CAR files".

func blockCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "block",
		Short: "Read, describe and add single blocks by CID (raw DAG-CBOR bytes)",
		Long: "A block is one DAG-CBOR encoded definition (or group of mutually recursive ones),\n" +
			"named by a CIDv1 (dag-cbor, sha2-256). These commands move single blocks in and out\n" +
			"as raw bytes, for IPLD tools; see also `unode dag export|import` for whole DAGs.",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(blockGetCmd(e), blockStatCmd(e), blockPutCmd(e))
	return cmd
}

func blockGetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get CID",
		Short: "Write a block's raw bytes to standard output",
		Long: "Write the raw bytes of a stored block to standard output (--json: {\"cid\", \"data\"}\n" +
			"with the bytes in base64). A block that is not here is an error (code missing).",
		Example: "  unode block get bafyreib... > fib.cbor",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			res, err := invoke(e, blockGetOp, &blockGetRequest{CID: args[0]})
			if err != nil {
				return nil, err
			}
			if !e.json {
				if _, err := e.stdout.Write(res.Data); err != nil {
					return nil, err
				}
			}
			return res, nil
		}),
	}
}

func blockStatCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "stat CID",
		Short: "Describe a stored block: size, codec, kind, links, and whether its closure is here",
		Long: "Describe a stored block: its size in bytes, codec (dag-cbor), kind (term or type),\n" +
			"whether its whole closure is here (complete), and every CID it links to. --json:\n" +
			"{\"cid\", \"size\", \"codec\", \"kind\", \"complete\", \"links\"}, CIDs as plain strings.",
		Example: "  unode block stat bafyreib...",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, blockStatOp, &blockStatRequest{CID: args[0]})
		}),
	}
}

func blockPutCmd(e *env) *cobra.Command {
	var want string
	cmd := &cobra.Command{
		Use:   "put [FILE]",
		Short: "Add one block from raw bytes (a file, or standard input) and print its CID",
		Long: "Add one block, its raw DAG-CBOR bytes read from FILE or standard input, and print\n" +
			"its CID. The block is checked as blocks from the network are: it must be canonical\n" +
			"DAG-CBOR of unode's block schema (docs/protocol.md, \"Block schema\") with every link\n" +
			"to a CIDv1 dag-cbor sha2-256 block, and with --cid CID its bytes must hash to CID;\n" +
			"otherwise it is refused (code refused) and nothing is stored. It is kept for good\n" +
			"and marked complete if everything it links to is here (--json: \"complete\").",
		Example: "  unode block put fib.cbor\n  unode block get bafyreib... | unode block put --cid bafyreib...",
		Args:    cobra.MaximumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			name, data, err := e.readInput(args, dag.MaxBlockSize, "a block")
			if err != nil {
				return nil, err
			}
			return invoke(e, blockPutOp, &blockPutRequest{Name: name, Data: data, CID: want})
		}),
	}
	cmd.Flags().StringVar(&want, "cid", "", "refuse the bytes unless they hash to this CID")
	return cmd
}

// readInput reads the file args names (at most one; none or "-" is
// standard input), refusing more than limit bytes. It returns a name for
// messages.
func (e *env) readInput(args []string, limit int64, what string) (string, []byte, error) {
	name, r := "standard input", e.stdin
	if len(args) > 0 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return "", nil, err
		}
		defer f.Close()
		name, r = args[0], f
	}
	if r == nil {
		return "", nil, fmt.Errorf("no standard input to read %s from", what)
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return "", nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return "", nil, fmt.Errorf("%s is larger than %s, the limit for %s", name, byteSize(limit), what)
	}
	return name, data, nil
}

func dagCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dag",
		Short: "Export and import whole DAGs as CAR files",
		Long: "CAR (content-addressed archive) files carry blocks with their CIDs, for IPFS and\n" +
			"IPLD tools (go-car, @ipld/car, `ipfs dag import`). `unode dag export` writes the\n" +
			"whole closure of definitions; `unode dag import` checks every block and adds them.",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(dagExportCmd(e), dagImportCmd(e))
	return cmd
}

// exportSummary is what `dag export -o FILE` prints: the export without
// the CAR's bytes.
type exportSummary struct {
	File string `json:"file"`
	dagExportResult
}

func (r *exportSummary) Text() string {
	return fmt.Sprintf("exported %s (%s) of %s to %s (CARv%d)", plural(r.Blocks, "block"), byteSize(r.Bytes),
		plural(len(r.Roots), "root"), r.File, r.Version)
}

// carBytes adapts an export written to standard output to result: the
// bytes went out already.
type carBytes struct{}

func (carBytes) Text() string { return "" }

func dagExportCmd(e *env) *cobra.Command {
	var v2 bool
	var output string
	cmd := &cobra.Command{
		Use:   "export ROOT... > FILE.car",
		Short: "Write the whole closure of definitions as a CAR file (CARv1; --v2 for CARv2)",
		Long: "Write a CAR file holding every block the ROOTs (names, or CIDs with or without #)\n" +
			"need: their whole closures, each block once, with the ROOTs as the CAR's roots.\n" +
			"CARv1 by default; --v2 writes CARv2 (the same blocks, with an index). The order is\n" +
			"deterministic: for each ROOT in turn, its closure depth first (links in CID byte\n" +
			"order), every block after the blocks it links to and the ROOT last, blocks already\n" +
			"written skipped; the same ROOTs give the same file. Code a private implementation\n" +
			"runs at its node (`at here! ...`) is not part of a closure and is not exported.\n\n" +
			"The CAR goes to standard output (not a terminal), or to FILE with -o, which then\n" +
			"prints what it wrote (--json: {\"file\", \"roots\", \"version\", \"blocks\", \"bytes\"}).",
		Example: "  unode dag export fib > fib.car\n  unode dag export --v2 -o lib.car '#bafyreib...' sumTo",
		Args:    cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			if output == "" {
				if e.json {
					return nil, fmt.Errorf("--json prints a summary on standard output: give -o FILE for the CAR")
				}
				if isTerminal(e.stdout) {
					return nil, fmt.Errorf("refusing to write a binary CAR file to a terminal: redirect standard output or give -o FILE")
				}
			}
			res, err := invokeTransfer(e, "exporting", dagExportOp, &dagExportRequest{Roots: args, V2: v2})
			if err != nil {
				return nil, err
			}
			if output == "" {
				_, err := e.stdout.Write(res.CAR)
				return carBytes{}, err
			}
			if err := os.WriteFile(output, res.CAR, 0o644); err != nil {
				return nil, err
			}
			sum := &exportSummary{File: output, dagExportResult: *res}
			sum.CAR = nil
			return sum, nil
		}),
	}
	cmd.Flags().BoolVar(&v2, "v2", false, "write CARv2 (CARv1 with an index) instead of CARv1")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the CAR to this file instead of standard output")
	return cmd
}

// importResults is what `dag import` prints: one result per file.
type importResults struct {
	Imports []*dagImportResult `json:"imports"`
}

func (r *importResults) Text() string {
	var s string
	for _, im := range r.Imports {
		s += im.Text()
	}
	return s
}

func dagImportCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.car...",
		Short: "Add the blocks of CAR files (v1 or v2), each checked, and report their roots",
		Long: "Add the blocks of CAR files (CARv1 or CARv2; - reads standard input). Every block is\n" +
			"checked as blocks from the network are: a CIDv1 dag-cbor sha2-256, bytes that hash\n" +
			"to it, canonical DAG-CBOR of unode's block schema. A file with one block that fails,\n" +
			"or that is truncated or not a CAR, is refused whole (code refused) and nothing of it\n" +
			"is stored. The blocks are kept for good; a block is marked complete only once its\n" +
			"whole closure is here, so a file that lacks some of what its blocks need stores them\n" +
			"but leaves them incomplete. Prints each file's roots and whether each is complete\n" +
			"(--json: {\"imports\": [{\"name\", \"version\", \"roots\": [{\"cid\", \"complete\"}],\n" +
			"\"blocks\", \"bytes\", \"new\"}]}). Imported definitions have no names: call them by\n" +
			"CID (`unode eval '#bafy... 10'`). A file may hold up to 32 MiB.",
		Example: "  unode dag import fib.car\n  curl -s https://example.org/lib.car | unode dag import -",
		Args:    cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			out := &importResults{Imports: []*dagImportResult{}}
			for _, a := range args {
				name, data, err := e.readInput([]string{a}, maxCARBytes, "a CAR file")
				if err != nil {
					return nil, err
				}
				res, err := invokeTransfer(e, "importing "+name, dagImportOp, &dagImportRequest{Name: name, CAR: data})
				if err != nil {
					return nil, err
				}
				out.Imports = append(out.Imports, res)
			}
			return out, nil
		}),
	}
}

// ---- progress ----

// invokeTransfer is invoke for an import or export, with its progress
// drawn on stderr when that is a terminal (as fetches draw theirs,
// commands_fetch.go): from the daemon's progress lines when one runs,
// else from the operation run here. verb says what is happening.
func invokeTransfer[Req, Res any](e *env, verb string, op *operation[Req, Res], req *Req) (*Res, error) {
	if !isTerminal(e.stderr) {
		return invoke(e, op, req)
	}
	l := &transferLine{w: e.stderr, verb: verb, start: time.Now()}
	defer l.done()
	c, err := e.daemon()
	if err != nil {
		return nil, err
	}
	if c != nil {
		res := new(Res)
		if err := c.callWithProgress(e.ctx, op.name, req, res, l.report); err != nil {
			return nil, err
		}
		return res, nil
	}
	ctx := e.ctx
	e.ctx = withProgress(ctx, l.report)
	defer func() { e.ctx = ctx }()
	return invoke(e, op, req)
}

// transferLine draws an import's or export's progress on one line of a
// terminal, like progressLine: only once it has lasted progressDelay,
// at most every progressEvery, with the final figures when done.
type transferLine struct {
	mu     sync.Mutex
	w      io.Writer
	verb   string
	start  time.Time
	last   time.Time
	drawn  bool
	latest p2p.FetchProgress
}

func (l *transferLine) report(p p2p.FetchProgress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latest = p
	now := time.Now()
	if now.Sub(l.start) < progressDelay || now.Sub(l.last) < progressEvery {
		return
	}
	l.last = now
	l.draw()
}

func (l *transferLine) draw() {
	p := l.latest
	blocks := fmt.Sprintf("%d blocks", p.Blocks)
	if p.Expected > 0 {
		blocks = fmt.Sprintf("%d/%d blocks", p.Blocks, p.Expected)
	}
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Bytes) / s
	}
	fmt.Fprintf(l.w, "\r\x1b[K%s: %s, %s, %s/s", l.verb, blocks, byteSize(p.Bytes), byteSize(int64(rate)))
	l.drawn = true
}

func (l *transferLine) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		l.draw()
		fmt.Fprintln(l.w)
	}
}
