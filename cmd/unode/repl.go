package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/peterh/liner"

	"github.com/unode-dev/unode/eval/syntax"
	"github.com/unode-dev/unode/p2p/repo"
)

// The REPL (`unode repl`). Each line is a declaration, an expression or a
// :command. Declarations are added to the codebase as `unode add` adds a
// file (so they are there for `unode eval`, for :at and after the REPL
// ends; `unode rm NAME` unbinds one); expressions are evaluated as `unode
// eval` evaluates them, under the session's per-line budget, here or at
// the :at node. Both go through the same operations as the commands, so
// the REPL works with and without a daemon.
//
// Ctrl-C while a line evaluates cancels that line only; at the prompt it
// clears the line; Ctrl-D (or :quit) ends the session.

// replCommand is a :command. The table is what :help prints and what
// completes; a new command (:type, when static types come) is one more
// entry.
type replCommand struct {
	name string
	args string // placeholder text for :help
	help string
	run  func(s *replSession, arg string) error
}

var replCommands []replCommand

func init() {
	// Assigned here, not in the declaration: the :help entry refers to
	// the table itself.
	replCommands = []replCommand{
		{"add", "FILE.u...", "add the definitions of source files", (*replSession).cmdAdd},
		{"show", "NAME|#CID", "print a definition back as source", (*replSession).cmdShow},
		{"names", "[PREFIX]", "list the names in the codebase", (*replSession).cmdNames},
		{"rm", "NAME", "remove a name from the namespace", (*replSession).cmdRm},
		{"at", "[PEER|here] [EXPR]", "evaluate the following lines at PEER (\"here\": this node); with EXPR, only EXPR", (*replSession).cmdAt},
		{"fuel", "[N]", "fuel per line (0: the config default); no argument prints the budget", (*replSession).cmdFuel},
		{"memory", "[SIZE]", "memory per line, e.g. 64MiB (0: the default)", (*replSession).cmdMemory},
		{"timeout", "[DURATION]", "wall time per line, e.g. 10s (0: the config default)", (*replSession).cmdTimeout},
		{"raw", "[on|off]", "print Text results as plain text", (*replSession).cmdRaw},
		{"help", "", "list the commands", (*replSession).cmdHelp},
		{"quit", "", "end the session (also Ctrl-D)", (*replSession).cmdQuit},
	}
}

// lookupReplCommand finds a command by name or unique prefix.
func lookupReplCommand(name string) (*replCommand, error) {
	var found []*replCommand
	for i := range replCommands {
		c := &replCommands[i]
		if c.name == name {
			return c, nil
		}
		if strings.HasPrefix(c.name, name) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("unknown command :%s (:help lists the commands)", name)
	}
	names := make([]string, len(found))
	for i, c := range found {
		names[i] = ":" + c.name
	}
	return nil, fmt.Errorf(":%s is ambiguous: %s", name, strings.Join(names, ", "))
}

// errQuit ends the session.
var errQuit = errors.New("quit")

// lineReader reads the session's lines: with editing and history on a
// terminal, plainly (no prompt) otherwise.
type lineReader interface {
	// Prompt returns the next line; io.EOF at the end of input and
	// errAborted when the user pressed Ctrl-C at the prompt.
	Prompt(prompt string) (string, error)
	AddHistory(line string)
	Close() error
}

var errAborted = errors.New("aborted")

// linerReader is peterh/liner on the terminal.
type linerReader struct {
	st      *liner.State
	history string // file, "" for none
}

func newLinerReader(history string) *linerReader {
	st := liner.NewLiner()
	st.SetCtrlCAborts(true)
	st.SetMultiLineMode(true)
	st.SetCompleter(completeReplCommand)
	r := &linerReader{st: st, history: history}
	if history != "" {
		if f, err := os.Open(history); err == nil {
			st.ReadHistory(f) // a damaged history file only loses history
			f.Close()
		}
	}
	return r
}

func (r *linerReader) Prompt(p string) (string, error) {
	line, err := r.st.Prompt(p)
	if errors.Is(err, liner.ErrPromptAborted) {
		return "", errAborted
	}
	return line, err
}

func (r *linerReader) AddHistory(line string) { r.st.AppendHistory(line) }

func (r *linerReader) Close() error {
	if r.history != "" {
		// liner keeps at most liner.HistoryLimit (1000) entries.
		if f, err := os.OpenFile(r.history, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
			r.st.WriteHistory(f)
			f.Close()
		}
	}
	return r.st.Close()
}

func completeReplCommand(line string) []string {
	if !strings.HasPrefix(line, ":") || strings.Contains(line, " ") {
		return nil
	}
	var out []string
	for _, c := range replCommands {
		if strings.HasPrefix(":"+c.name, line) {
			out = append(out, ":"+c.name)
		}
	}
	return out
}

// plainReader reads lines from a pipe or file: no prompt, no history.
type plainReader struct{ sc *bufio.Scanner }

func newPlainReader(in io.Reader) *plainReader {
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, maxReplLine)
	return &plainReader{sc: sc}
}

func (r *plainReader) Prompt(string) (string, error) {
	if r.sc.Scan() {
		return r.sc.Text(), nil
	}
	if err := r.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

func (r *plainReader) AddHistory(string) {}
func (r *plainReader) Close() error      { return nil }

// replSession is one run of `unode repl`.
type replSession struct {
	e      *env
	base   context.Context // the session's; SIGINT does not cancel it
	in     lineReader
	tty    bool
	budget budgetFlags
	at     string // "" evaluates here
	tokens []string
	raw    bool

	// interrupts delivers SIGINT while a line evaluates.
	interrupts chan os.Signal
}

const (
	replPrompt      = "unode> "
	replContinue    = "  ...> "
	replHistoryFile = "repl_history"
)

// runRepl runs the session until the end of input, :quit or SIGTERM.
func (e *env) runRepl(s *replSession) error {
	// The root context ends at the first SIGINT (Main's
	// signal.NotifyContext); the session outlives it, and each line gets
	// a context that SIGINT cancels.
	s.base = context.WithoutCancel(e.ctx)
	s.interrupts = make(chan os.Signal, 1)
	signal.Notify(s.interrupts, os.Interrupt)
	defer signal.Stop(s.interrupts)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	defer signal.Stop(term)

	if f, ok := e.stdin.(*os.File); ok && f == os.Stdin && isTerminal(f) {
		s.tty = true
		history := ""
		if path, err := repo.DefaultPath(); err == nil && repo.Exists(path) {
			history = filepath.Join(path, replHistoryFile)
		}
		s.in = newLinerReader(history)
		fmt.Fprintln(e.stdout, "unode repl: definitions, expressions and :commands (:help lists them; Ctrl-D ends)")
	} else {
		s.in = newPlainReader(e.stdin)
	}
	defer s.in.Close()

	for {
		select {
		case <-term:
			return nil
		default:
		}
		text, err := s.readInput()
		switch {
		case errors.Is(err, io.EOF):
			if s.tty {
				fmt.Fprintln(e.stdout)
			}
			return nil
		case errors.Is(err, errAborted):
			continue
		case err != nil:
			return err
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		s.in.AddHistory(text)
		if err := s.line(text); errors.Is(err, errQuit) {
			return nil
		} else if err != nil {
			fmt.Fprintln(e.stderr, errorText(err))
		}
	}
}

// readInput reads one line, and continuation lines while the input so
// far is an unfinished declaration or expression (it ends where a line
// is blank, or the text parses).
func (s *replSession) readInput() (string, error) {
	p := ""
	if s.tty {
		p = replPrompt
	}
	text, err := s.in.Prompt(p)
	if err != nil {
		return "", err
	}
	if len(text) > maxReplLine {
		return "", fmt.Errorf("line longer than %d bytes", maxReplLine)
	}
	if strings.HasPrefix(strings.TrimSpace(text), ":") {
		return text, nil
	}
	for lines := 1; unfinished(text) && lines < maxReplLines; lines++ {
		if s.tty {
			p = replContinue
		}
		more, err := s.in.Prompt(p)
		if errors.Is(err, io.EOF) || errors.Is(err, errAborted) {
			return text, nil
		}
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(more) == "" {
			break
		}
		// A top-level declaration continues on indented lines.
		if more[0] != ' ' && more[0] != '\t' {
			more = "  " + more
		}
		text += "\n" + more
	}
	return text, nil
}

// unfinished reports whether text is neither an expression nor a file
// of declarations, and both parsers stopped at its end: the user has
// more to type.
func unfinished(text string) bool {
	_, exprErr := syntax.ParseExpr("<repl>", []byte(text))
	if exprErr == nil {
		return false
	}
	_, fileErr := syntax.ParseFile("<repl>", []byte(text))
	if fileErr == nil {
		return false
	}
	const eof = "found end of input"
	return strings.Contains(exprErr.Error(), eof) || strings.Contains(fileErr.Error(), eof)
}

// line runs one input: a :command, declarations or an expression.
func (s *replSession) line(text string) error {
	ctx, cancel := context.WithCancel(s.base)
	defer cancel()
	// Drop a Ctrl-C pressed before this line started.
	select {
	case <-s.interrupts:
	default:
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-s.interrupts:
			cancel()
		case <-done:
		}
	}()
	s.e.ctx = ctx
	// Without a daemon each line opens the repo and closes it after, so
	// that other commands can use it between lines and a daemon started
	// meanwhile is found.
	defer func() {
		s.e.close()
		s.e.cb = nil
		s.e.probed = false
		s.e.client = nil
	}()

	err := s.dispatch(text)
	if ctx.Err() != nil && !errors.Is(err, errQuit) {
		return errors.New("interrupted")
	}
	return err
}

func (s *replSession) dispatch(text string) error {
	trimmed := strings.TrimSpace(text)
	if name, ok := strings.CutPrefix(trimmed, ":"); ok {
		name, arg, _ := strings.Cut(name, " ")
		c, err := lookupReplCommand(name)
		if err != nil {
			return err
		}
		return c.run(s, strings.TrimSpace(arg))
	}
	_, exprErr := syntax.ParseExpr("<repl>", []byte(text))
	if exprErr == nil {
		return s.evaluate(s.at, text)
	}
	_, fileErr := syntax.ParseFile("<repl>", []byte(text))
	if fileErr == nil {
		res, err := invoke(s.e, addOp, &addRequest{Files: []sourceFile{{Name: "<repl>", Source: []byte(text + "\n")}}})
		if err != nil {
			return err
		}
		return s.e.emit(res)
	}
	// Neither: report the error of the reading the line looks like.
	if strings.Contains(fileErr.Error(), "expected a declaration") {
		return exprErr
	}
	return fileErr
}

func (s *replSession) evaluate(at, expr string) error {
	req := &evalRequest{Expr: expr, At: at, Budget: s.budget}
	if at != "" {
		req.Tokens = s.tokens
	}
	ctx := s.e.ctx
	s.e.ctx = withTracePrinter(ctx, s.e.stderr) // trace.go
	stop := s.e.evalProgress("evaluating")
	res, err := invoke(s.e, evalOp, req)
	stop()
	s.e.ctx = ctx
	if err != nil {
		return err
	}
	return s.e.emit(evalText{res, s.raw})
}

func (s *replSession) cmdAdd(arg string) error {
	if arg == "" {
		return errors.New(":add needs a file name")
	}
	req := &addRequest{}
	for _, name := range strings.Fields(arg) {
		f, err := readSource(name)
		if err != nil {
			return err
		}
		req.Files = append(req.Files, f)
	}
	res, err := invoke(s.e, addOp, req)
	if err != nil {
		return err
	}
	return s.e.emit(res)
}

func (s *replSession) cmdShow(arg string) error {
	if arg == "" {
		return errors.New(":show needs a name or #CID")
	}
	res, err := invoke(s.e, showOp, &showRequest{What: arg})
	if err != nil {
		return err
	}
	return s.e.emit(res)
}

func (s *replSession) cmdNames(arg string) error {
	res, err := invoke(s.e, namesOp, &namesRequest{Prefix: arg})
	if err != nil {
		return err
	}
	return s.e.emit(res)
}

func (s *replSession) cmdRm(arg string) error {
	if arg == "" {
		return errors.New(":rm needs a name")
	}
	res, err := invoke(s.e, rmOp, &rmRequest{Names: strings.Fields(arg)})
	if err != nil {
		return err
	}
	return s.e.emit(res)
}

func (s *replSession) cmdAt(arg string) error {
	target, expr, _ := strings.Cut(arg, " ")
	if target == "here" {
		target = ""
	}
	if expr = strings.TrimSpace(expr); expr != "" {
		return s.evaluate(target, expr)
	}
	if arg == "" {
		if s.at == "" {
			fmt.Fprintln(s.e.stdout, "evaluating here")
		} else {
			fmt.Fprintln(s.e.stdout, "evaluating at "+s.at)
		}
		return nil
	}
	s.at = target
	if target == "" {
		fmt.Fprintln(s.e.stdout, "evaluating here")
	} else {
		fmt.Fprintln(s.e.stdout, "evaluating at "+target)
	}
	return nil
}

func (s *replSession) printBudget() {
	show := func(what string, set bool, v string) string {
		if !set {
			return what + " default"
		}
		return what + " " + v
	}
	fmt.Fprintf(s.e.stdout, "per line: %s, %s, %s\n",
		show("fuel", s.budget.Fuel > 0, fmt.Sprint(s.budget.Fuel)),
		show("memory", s.budget.Memory > 0, formatSize(s.budget.Memory)),
		show("timeout", s.budget.Timeout > 0, s.budget.Timeout.String()))
}

func (s *replSession) cmdFuel(arg string) error {
	if arg != "" {
		var v countValue
		if err := v.Set(arg); err != nil {
			return fmt.Errorf(":fuel %s: %w", arg, err)
		}
		s.budget.Fuel = int64(v)
	}
	s.printBudget()
	return nil
}

func (s *replSession) cmdMemory(arg string) error {
	if arg != "" {
		var v sizeValue
		if err := v.Set(arg); err != nil {
			return fmt.Errorf(":memory %s: %w", arg, err)
		}
		s.budget.Memory = int64(v)
	}
	s.printBudget()
	return nil
}

func (s *replSession) cmdTimeout(arg string) error {
	if arg != "" {
		var v durationValue
		if err := v.Set(arg); err != nil {
			return fmt.Errorf(":timeout %s: %w", arg, err)
		}
		s.budget.Timeout = v.d()
	}
	s.printBudget()
	return nil
}

func (s *replSession) cmdRaw(arg string) error {
	switch arg {
	case "", "on":
		s.raw = true
	case "off":
		s.raw = false
	default:
		return errors.New(":raw takes on or off")
	}
	return nil
}

func (s *replSession) cmdHelp(string) error {
	rows := make([][2]string, 0, len(replCommands))
	w := 0
	for _, c := range replCommands {
		left := ":" + c.name
		if c.args != "" {
			left += " " + c.args
		}
		w = max(w, len(left))
		rows = append(rows, [2]string{left, c.help})
	}
	var b strings.Builder
	b.WriteString("A line is a declaration (name params = body, type T = ...), an expression, or a command:\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, r[0], r[1])
	}
	b.WriteString("Ctrl-C stops the line being evaluated; an unfinished line continues on the next (a blank line ends it).\n")
	io.WriteString(s.e.stdout, b.String())
	return nil
}

func (s *replSession) cmdQuit(string) error { return errQuit }
