// Package eval is the unode interpreter: runtime values, the evaluator,
// the standard library of builtins, evaluation budgets, value printing
// and the conversion of values to and from their wire form.
//
// # Values
//
// Runtime values are represented by the Value interface. The concrete
// types are:
//
//	Int        -- 64-bit integer; arithmetic is checked (overflow is an error)
//	Float      -- IEEE 754 double
//	Text       -- UTF-8 text; positions and lengths count code points
//	Bool       -- true, false
//	Bytes      -- immutable byte string
//	Unit       -- ()
//	*Tuple     -- (a, b, ...), two or more elements
//	*List      -- list with O(1) length/index/tail and amortised O(1) cons and snoc
//	*Map       -- persistent map ordered by Compare (a weight-balanced tree)
//	*Data      -- a constructor applied to all its fields (Optional, Either,
//	              Err, Set and user data types; a Set is the builtin type
//	              "Set" whose one field is a *Map of its elements to (),
//	              see set.go)
//	*Closure   -- a function or thunk (arity 0) written in the language
//	*Builtin   -- a primitive function, not yet applied
//	*CtorFn    -- a constructor of arity >= 1 used as a function
//	*Partial   -- a function applied to fewer arguments than its arity
//	*DefFn     -- a top-level function received by reference, not yet loaded
//	*Node      -- a node (libp2p peer ID)
//	*Channel   -- a logical channel (random, unguessable ID + listening node)
//	*Cluster   -- a named group of nodes
//	*Future    -- the pending result of a remote evaluation
//
// Values are immutable and may be shared between goroutines. Compare is
// a total order on every value except functions and futures; Map and
// List.sort use it, and == compares with it.
//
// # Evaluation
//
// A Thread evaluates a dag.Term (Thread.Eval) or applies a function value
// (Thread.Call). Definitions the term refers to are loaded through the
// thread's Loader (a *dag.Store satisfies it) and compiled once per
// process into trees of Go closures, keyed by their DefRef: the same
// reference names the same code everywhere, so the cache is shared by all
// threads. Function definitions are shared closures; other top-level
// definitions are evaluated on first use on each thread and memoized
// there.
//
// Evaluation is strict; application is curried in meaning (f a b is
// (f a) b) and run uncurried: a closure, builtin or constructor given
// fewer arguments than its arity becomes a *Partial, and one given more
// applies its result to the rest. A call in tail position does not grow
// the Go stack or the depth count, so loops written as tail recursion run
// in constant space. 'e builds a thunk (a closure of arity 0) and !t forces
// one; forcing anything else, or applying a thunk to arguments, is an
// error.
//
// # Budgets
//
// Every evaluation runs under the thread's budgets (zero fields take the
// defaults in limits.go):
//
//   - Fuel: one step per application, per match arm tried and per
//     builtin call, plus work-proportional charges in builtins (sorting n
//     elements costs n log n, a structural comparison one unit per 8
//     values it visits, text and list operations their length / 8,
//     encoding a value to send it one unit per 8 values).
//   - MaxMemory: bytes allocated, estimated at each allocation of a list,
//     text, bytes, tuple, constructor, closure, partial application or map
//     node (scalars are free), and of the wire form of a value sent
//     (Thread.ToWire, Data.put). The count only grows, so it is
//     deterministic.
//   - MaxDepth: non-tail call nesting, weighted by the expression nesting
//     of the call site so that it bounds the Go stack.
//   - Wall time: the context's deadline, checked every 1024 steps and
//     while waiting on effects.
//   - MaxResultBytes: the estimated size of each value Eval or Call
//     returns, and the encoded size of each value Thread.ToWire encodes.
//   - MaxPending: the listeners, timers and started remote evaluations
//     (listen, timeout, at', race, quorum, deliver) pending at once.
//
// Exhausting a budget returns a *BudgetError naming it ("fuel", "memory",
// "depth", "time", "result", "pending"), never a crash: deep recursion
// stops at MaxDepth long before the Go stack limit, and nested values are
// walked in loops or with bounded recursion. Thread.Cancel stops an
// evaluation from another goroutine with a *CanceledError. Errors raised
// by the program itself (match failure, overflow, division by zero, type
// mismatches, a failed remote evaluation awaited with await) are
// *RuntimeError values carrying a backtrace of definitions. Compiled code
// knows each failing node's number in dag.Preorder (a site), never its
// source position: Thread.at is set to the site before a call or a
// failure, and only when an error is reported are sites turned into
// file:line:col, through a Names that is a DefPositioner (or
// Thread.ExprPositions for the evaluated term). Code therefore runs the
// same, and hashes the same, with or without its source.
//
// Memory is charged at allocation and never given back (so the count is
// deterministic), and the data structures keep that close to what a
// program holds: Text and Bytes ++ append in place into buffers with
// headroom (builtins_text.go), lists cons and snoc into shared buffers
// (list.go), and a map insert charges the node it adds in full and the
// path it copies at a quarter (map.go); docs/language.md, "How memory is
// charged", gives the numbers.
//
// Budgets bind while the work is done. A builtin whose work grows with
// its input charges its fuel (and checks its memory) before the work when
// the size is known, or as it goes (comparison, encoding), and checks
// cancellation and the deadline every few thousand iterations or every
// MB of text (Thread.poll), so a canceled evaluation stops within a few
// milliseconds of work whatever builtin it is in, and a panic from such a
// check only ever abandons values the builtin was building. Work on
// shared structure is proportional to its distinct parts where that is
// possible: a comparison that has visited 65536 values starts
// remembering the pairs it found equal (by pointer identity), and the
// walks that check the code a value brings in (admit, CodeOwners) skip
// parts already visited. The wire form has no sharing, so encoding
// (ToWire, Thread.ToWire) first measures the encoded size without
// allocating and refuses a value past its limit before converting it.
// The exported Compare, Equal, ToWire and Show, which have no thread, are
// bounded by internal caps instead (limits.go).
//
// When the outermost Eval or Call returns, however it ended, the
// functions hosts registered with Thread.OnEnd run (LocalHost removes the
// evaluation's listeners) and the listeners and timers still pending are
// canceled. Listeners are weak before that: neither the host's registry
// nor the thread's record of pending effects holds a listen's future, so
// one the program dropped is removed by a runtime cleanup once collected.

// # Determinism
//
// The same definition applied to the same arguments gives the same
// result, and spends the same fuel and memory, on every node: there is no
// clock, randomness or hash order in pure code; maps iterate in key
// order; Float printing is the shortest round-trip form; Float.exp, log
// and pow use portable implementations instead of Go's assembly ones.
// Effects (here, at, channels, node data) are the only source of
// variation, and they go through the Host.
//
// # Effects and hosts
//
// The effect builtins (here, at, at', await, await!, timeout, fallback,
// race, quorum, channel, send, deliver, listen, provision, pingTime, load,
// Data.*) call the thread's Host; the p2p package implements it over the
// network, and LocalHost implements it for a single node in memory, where
// at runs the thunk on the calling thread. A thread without a Host fails
// on any effect, which makes it a sandbox for pure code.
//
// # Run-time capability checks
//
// A node running code another node sent sets Thread.CheckBuiltin and
// Thread.CheckDef. Code is compiled in units (a definition, or an
// expression's or a wire value's code) that record the builtins they
// name; a unit's builtins are checked once per thread before its code can
// run — a definition's on its first use by reference, with CheckDef, an
// expression's by Eval, a value's when it enters the thread through Call,
// Data.get, await or at — and a builtin applied as a value when applied.
// So the hooks see everything however it is reached, and cost nothing on
// the interpreter's hot paths. CodeOwners lists the definitions whose code
// a value carries inline, so a node can keep private code from leaving in
// values. A failed future keeps the Go error that failed it, so a denial
// stays a denial through at and await.
//
// # Builtin names
//
// IsBuiltin and BuiltinCtor tell the compiler (dag.CompileOptions) which
// names are builtins and builtin constructors: Optional (None, Some),
// Either (Left, Right) and Err (Timeout, Msg, Err.Denied,
// Err.BudgetExceeded, Err.Missing — the last three are produced by hosts
// for failed remote evaluations). Builtins lists every builtin with its
// arity, capability group and a one-line description.
//
// Some builtins are written in the language: every definition in
// library/*.u (sharedAt, atVia, RLE.encode, RLE.decode) is a builtin of
// the same name whose work is that definition's code, compiled once per
// process (library.go). They travel by name like the others; their group
// is that of the effects their code names, and those effects are checked
// against the thread's sandbox when they are called.
//
// # Printing and the wire
//
// Show prints a value in source syntax (constructor names from a Namer,
// falling back to hash references); ToJSON gives a JSON-ready form.
// ToWire and FromWire convert to and from dag.Value: a closure travels as
// its code, a *dag.Lam whose free variables are renumbered to a compact
// environment holding only what the body uses, plus that environment; a
// top-level function travels as its DefRef.
//
// The wire form has no sharing. share (builtins_share.go) makes sharing
// explicit instead: it walks a value once, finds the parts reached more
// than once (by identity in memory), and returns a thunk whose code
// rebuilds the value with a let per shared part and whose environment
// holds the unshared leaves once each, so the plain encoder writes every
// shared part once and forcing the thunk restores the sharing.
package eval
