package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/unode-dev/unode/p2p/repo"
)

// commands lists the CLI's commands. Each is data: flags, help text and a
// body that returns a typed result. The bodies build a request and invoke
// an operation (ops.go), which runs in the daemon when one runs for the
// repo and in this process otherwise.
func commands(e *env) []*cobra.Command {
	return []*cobra.Command{
		initCmd(e), daemonCmd(e), idCmd(e), connectCmd(e), peersCmd(e),
		addCmd(e), namesCmd(e), showCmd(e), evalCmd(e), runCmd(e), fetchCmd(e),
		publishCmd(e), unpublishCmd(e), publishedCmd(e), dataCmd(e),
		policyCmd(e), grantCmd(e), grantsCmd(e), revokeCmd(e), tokenCmd(e), logCmd(e),
		blockCmd(e), dagCmd(e),
		repoCmd(e), clusterCmd(e), versionCmd(e),
		replCmd(e), rmCmd(e), // commands_repl.go, commands_names.go
	}
}

type initResult struct {
	Path    string `json:"path"`
	ID      string `json:"id"`
	Created bool   `json:"created"`
}

func (r *initResult) Text() string {
	if r.Created {
		return fmt.Sprintf("initialized repo at %s\npeer id %s", r.Path, r.ID)
	}
	return fmt.Sprintf("repo already initialized at %s\npeer id %s", r.Path, r.ID)
}

func initCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the repo (key, config, datastore) if it does not exist",
		Args:  cobra.NoArgs,
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			path, err := repo.DefaultPath()
			if err != nil {
				return nil, err
			}
			created := !repo.Exists(path)
			id, err := invoke(e, idOp, &idRequest{})
			if err != nil {
				return nil, err
			}
			return &initResult{Path: path, ID: id.ID, Created: created}, nil
		}),
	}
}

// readSource reads a source file named on the command line.
func readSource(name string) (sourceFile, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return sourceFile{}, err
	}
	return sourceFile{Name: name, Source: src}, nil
}

func addCmd(e *env) *cobra.Command {
	var publish bool
	cmd := &cobra.Command{
		Use:   "add FILE.u...",
		Short: "Add the definitions of source files to the codebase and print each name with its CID",
		Long: "Add the definitions of source files to the codebase and print each name with its\n" +
			"CID. here! in a definition is fixed to this node when it is added. Definitions\n" +
			"are private (other nodes cannot fetch them) unless added with --publish or\n" +
			"published later with `unode publish`.",
		Example: "  unode add fib.u\n  unode add --publish rates.u",
		Args:    cobra.MinimumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			req := &addRequest{Publish: publish}
			for _, name := range args {
				f, err := readSource(name)
				if err != nil {
					return nil, err
				}
				req.Files = append(req.Files, f)
			}
			return invoke(e, addOp, req)
		}),
	}
	cmd.Flags().BoolVar(&publish, "publish", false, "publish the definitions: other nodes may fetch and call them")
	return cmd
}

func namesCmd(e *env) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:     "names [PREFIX]",
		Short:   "List the names in the codebase with their CIDs",
		Long:    "List the names in the codebase with their kind and CID, sorted; with PREFIX (or\n--prefix PREFIX), only the names that start with it.",
		Example: "  unode names\n  unode names --prefix List.\n  unode names --json fib",
		Args:    cobra.MaximumNArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			req := &namesRequest{Prefix: prefix}
			if len(args) > 0 {
				if prefix != "" && prefix != args[0] {
					return nil, fmt.Errorf("two prefixes given (%q and --prefix %q): give one", args[0], prefix)
				}
				req.Prefix = args[0]
			}
			return invoke(e, namesOp, req)
		}),
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "list only the names that start with `PREFIX`")
	return cmd
}

func showCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|#CID",
		Short: "Print a definition back as source, with names restored",
		Args:  cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			return invoke(e, showOp, &showRequest{What: args[0]})
		}),
	}
}

// evalFlags are the flags eval and run share.
type evalFlags struct {
	budget    budgetFlags
	at        string
	cluster   string // --cluster: at a member of this cluster
	owner     string // --owner: the owner of the --cluster
	tokens    []string
	tokenFile string
	verbose   bool
	raw       bool // --raw: a Text result printed as plain text
}

// tokenTexts returns the tokens of --token and --token-file.
func (f *evalFlags) tokenTexts() ([]string, error) {
	out := append([]string(nil), f.tokens...)
	if f.tokenFile != "" {
		more, err := readTokenFile(f.tokenFile)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

func (f *evalFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	// Budget flags take clean values (flags.go): one size syntax, errors
	// without strconv's text. A backquoted word in a usage string is
	// pflag's placeholder name, so the help below quotes commands with
	// '...' and names placeholders with `...` on purpose.
	fl.Var((*countValue)(&f.budget.Fuel), "fuel", "fuel (evaluation steps) allowed; 0 = the config default")
	fl.Var((*durationValue)(&f.budget.Timeout), "timeout", "wall-clock limit, e.g. 10s; 0 = the config default")
	fl.Var((*sizeValue)(&f.budget.Memory), "memory", "memory the evaluation may use, e.g. 64MiB; 0 = the default")
	fl.StringVar(&f.at, "at", "", "evaluate at another node: a `PEER` ID or a /p2p/ multiaddr (needs a running 'unode daemon')")
	fl.StringVar(&f.cluster, "cluster", "", "evaluate at a member of the cluster `NAME`, chosen by load and ping time (needs a running 'unode daemon')")
	fl.StringVar(&f.owner, "owner", "", "with --cluster, the owned cluster of this `PEER`: only members holding its membership token")
	fl.StringArrayVar(&f.tokens, "token", nil, "with --at, present this capability `TOKEN` (from 'unode grant' on that node); repeatable")
	fl.StringVar(&f.tokenFile, "token-file", "", "with --at, present the tokens in this `FILE` (separated by white space; # starts a comment line)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print the budget used and, with --at, the sync figures on stderr")
	fl.BoolVar(&f.raw, "raw", false, "print a Text result as plain text, unquoted and unescaped (other values print as usual)")
}

// target checks the flags that say where to evaluate.
func (f *evalFlags) target() error {
	switch {
	case f.at != "" && f.cluster != "":
		return fmt.Errorf("--at and --cluster both say where to evaluate: give one")
	case f.owner != "" && f.cluster == "":
		return fmt.Errorf("--owner names the owner of a --cluster: add --cluster NAME")
	}
	return nil
}

// finish prints -v details on stderr and adapts the result for printing.
func (e *env) finishEval(f *evalFlags, res *evalResult, err error) (result, error) {
	if err != nil {
		return nil, err
	}
	if f.verbose {
		fmt.Fprintln(e.stderr, res.details())
	}
	return evalText{res, f.raw}, nil
}

func evalCmd(e *env) *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval EXPR",
		Short: "Evaluate an expression against the codebase, here or at another node, and print its value",
		Long: "Evaluate an expression against the codebase and print its value.\n\n" +
			"An expression that starts with \"-\" (a negative number, '-7 / 2') is taken as the\n" +
			"expression, not as flags; after \"--\" every argument is. --raw prints a Text\n" +
			"result as plain text.\n\n" +
			"With --at PEER|MULTIADDR the expression runs at another node: names resolve against\n" +
			"this node's namespace, and the definitions the other node lacks are sent to it first.\n" +
			"--json adds the sync figures: \"sync\": {\"blocks\", \"bytes\", \"roundTrips\"}.\n\n" +
			"--token presents a capability token that node granted this one ('unode grant'):\n" +
			"the evaluation may then do what the token allows besides what the node's policy\n" +
			"gives this node.\n\n" +
			"With --cluster NAME the node provisions a member of the cluster NAME (as 'provision\n" +
			"(Cluster.named NAME)' does: by load and ping time, among the members that answer)\n" +
			"and evaluates there; --owner PEER makes it PEER's owned cluster NAME, whose members\n" +
			"must prove they hold PEER's membership token. The result's \"at\" names the member.",
		Example: "  unode eval 'fib 20'\n  unode eval '-7 / 2'\n  unode eval --raw 'Text.join \", \" [\"a\", \"b\"]'\n" +
			"  unode eval --at 12D3KooW... 'fib 20'\n  unode eval -- --fuel\n" +
			"  unode eval --cluster stats 'List.sum [1, 2, 3]'\n  unode eval --cluster stats --owner 12D3KooW... 'fib 20'",
		// An expression may start with "-" ('-7 / 2'), which pflag would
		// read as flags; evalArgs parses the flags itself (flags.go).
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: evalArgs(e.run(func(cmd *cobra.Command, args []string) (result, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("eval takes one expression, got %d (quote it: unode eval 'f 1 2')", len(args))
			}
			if err := f.target(); err != nil {
				return nil, err
			}
			tokens, err := f.tokenTexts()
			if err != nil {
				return nil, err
			}
			ctx := e.ctx
			e.ctx = withTracePrinter(ctx, e.stderr) // trace.go
			stop := e.evalProgress("eval")          // progress_eval.go
			res, err := invoke(e, evalOp, &evalRequest{Expr: args[0], At: f.at, Cluster: f.cluster, Owner: f.owner, Tokens: tokens, Budget: f.budget})
			stop()
			e.ctx = ctx
			return e.finishEval(&f, res, err)
		})),
	}
	f.register(cmd)
	return cmd
}

func runCmd(e *env) *cobra.Command {
	var f evalFlags
	var scratch bool
	cmd := &cobra.Command{
		Use:   "run FILE.u",
		Short: "Add a file's definitions and evaluate its main, here or at another node",
		Long: "Add a file's definitions to the codebase and evaluate its main: here, at another\n" +
			"node (--at PEER), or at a member of a cluster (--cluster NAME, with --owner PEER for\n" +
			"an owned cluster), chosen by load and ping time. The definitions the other node\n" +
			"lacks are sent to it first.\n\n" +
			"With --scratch the file's names are not bound: its definitions see the namespace\n" +
			"and each other, main is evaluated (here, or where --at says), and the namespace\n" +
			"is left as it was.\n" +
			"--raw prints a Text result as plain text (for programs that build text).",
		Example: "  unode run main.u\n  unode run --scratch --raw report.u\n  unode run --cluster stats main.u",
		Args:    cobra.ExactArgs(1),
		RunE: e.run(func(cmd *cobra.Command, args []string) (result, error) {
			if err := f.target(); err != nil {
				return nil, err
			}
			file, err := readSource(args[0])
			if err != nil {
				return nil, err
			}
			tokens, err := f.tokenTexts()
			if err != nil {
				return nil, err
			}
			ctx := e.ctx
			e.ctx = withTracePrinter(ctx, e.stderr) // trace.go
			stop := e.evalProgress("run")
			res, err := invoke(e, runOp, &runRequest{File: file, At: f.at, Cluster: f.cluster, Owner: f.owner, Tokens: tokens, Budget: f.budget, Scratch: scratch})
			stop()
			e.ctx = ctx
			return e.finishEval(&f, res, err)
		}),
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&scratch, "scratch", false, "evaluate the file without binding its names: the namespace is left as it was")
	return cmd
}
