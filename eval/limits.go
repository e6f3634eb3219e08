package eval

// Default budgets, used when a Thread's field is zero. They suit a local
// CLI run of the user's own code; foreign evaluations get their budgets
// from the sandbox that admits them.
const (
	// DefaultFuel: 10^9 steps is a few seconds to a minute of work
	// (about 10-50 ns per step), long enough for any interactive
	// computation and short enough that a runaway loop ends on its own.
	DefaultFuel = 1_000_000_000

	// DefaultMaxMemory: memory is counted as bytes allocated over the
	// whole evaluation (garbage is never subtracted, which keeps the
	// count deterministic), so live memory is always below it. 4 GiB
	// lets list-heavy programs over millions of elements run, and keeps
	// even a program that retains everything it allocates within the
	// RAM of a laptop.
	DefaultMaxMemory = 4 << 30

	// DefaultMaxDepth bounds non-tail call nesting so that the Go stack
	// stays far below Go's 1 GB limit (a Go stack overflow is fatal
	// and cannot be recovered). TestDepthStackUsage measures about 170
	// bytes of Go stack per depth unit (a direct recursive call nested
	// in one operator, `f n = f (n + 1) + 1`, costs 2 units and about
	// 340 bytes); 1<<19 units keeps the worst case near 100 MB, well
	// under the 256 MB target, while allowing a quarter of a million
	// nested calls of a non-tail recursive list function.
	DefaultMaxDepth = 1 << 19

	// DefaultMaxResultBytes bounds the estimated size of a returned
	// value: a result is printed or sent over the network, and 64 MiB
	// is more than any reasonable answer to print and below the
	// network layer's message cap.
	DefaultMaxResultBytes = 64 << 20

	// DefaultMaxPending bounds the effects one evaluation may leave
	// pending at once: listeners (listen), timers (timeout) and
	// outstanding futures it started (at', race, quorum, deliver). Each
	// holds host memory (a listener entry, a timer) that the memory
	// budget does not see, so a loop of listen or timeout calls could
	// otherwise grow the node without limit. Real programs wait on a
	// handful at a time; a few thousand is generous and keeps the worst
	// case to a few MB per evaluation. A future that completes frees its
	// slot, and whatever is still pending is released when the
	// evaluation ends.
	DefaultMaxPending = 4096
)

const (
	// checkInterval is how many steps pass between checks of
	// cancellation and the context deadline: rare enough to cost
	// nothing measurable, frequent enough (microseconds) that Cancel
	// and deadlines act at once.
	checkInterval = 1024

	// maxValueDepth bounds recursion over nested values in Compare,
	// Show, ToWire and size estimates, so that a deeply nested value
	// raises an error instead of overflowing the Go stack. Right-nested
	// structures (lists, and data types whose last field recurses,
	// such as Cons a (List a)) are walked in loops and do not count.
	maxValueDepth = 100_000

	// maxIdleStack and maxIdleFrames are the largest value stack (in
	// slots) and frame stack (in frames) kept in stackPool between
	// evaluations (thread.go): 8 KB each. The pool is emptied only by
	// the garbage collector and holds as many pairs as evaluations ran
	// at once, so what it may pin must stay small; bigger stacks go to
	// deepStacks, which is bounded by count.
	maxIdleStack  = 1 << 9
	maxIdleFrames = 1 << 7

	// maxDeepStacks, maxDeepStack and maxDeepFrames bound deepStacks
	// (thread.go): the stacks that deep evaluations grew, kept for the
	// next ones so that a 1,000-deep call chain evaluated per remote
	// call does not regrow them by doubling each time. Nothing frees
	// them, and strangers can make a burst of deep calls, so they are
	// bounded by count and size: at most 8 value stacks of up to 32768
	// slots (512 KiB) and 8 frame stacks of up to 8192 frames (512 KiB),
	// 8 MiB in all at worst. That covers call chains some 8,000 deep
	// (a frame per call, a few slots each), 8 of them at once; a deeper
	// one, or more at once, grows its own stacks as all did before. An
	// evaluation clears only what it used of an array (its high-water
	// mark), so a big kept array costs a less deep one no more.
	maxDeepStacks = 8
	maxDeepStack  = 1 << 15
	maxDeepFrames = 1 << 13

	// defChecksUnlisted is how many definition checks a thread runs
	// before it also lists what passed in a map of its own (guard.go,
	// checkDef): below it, the definitions remember their last checker,
	// and a thread whose slot another took checks again. It bounds those
	// repeated checks per thread, while a sent closure of a few thousand
	// definitions (checked once each) makes no map.
	defChecksUnlisted = 1 << 12

	// maxArity bounds the number of parameters of a lambda or fields of
	// a constructor in code the interpreter accepts; real code uses a
	// handful, and the bound keeps per-call slot counts small.
	maxArity = 1 << 16

	// maxListLen bounds the length of a list built by one builtin call
	// (List.range, List.replicate), so that lengths fit an int and size
	// computations cannot overflow; the memory budget stops far
	// shorter lists anyway.
	maxListLen = 1 << 40

	// pollInterval is how many iterations of a builtin's inner loop pass
	// between checks of cancellation and the deadline (Thread.poll), in
	// loops whose fuel was charged up front: a few microseconds of work.
	pollInterval = 1 << 12

	// compareChunk is how many values a structural comparison visits
	// between fuel charges (and so checks of cancellation): one unit of
	// fuel per 8 values, charged as the comparison goes rather than when
	// it ends.
	compareChunk = 1 << 10

	// memoStart is how many values one comparison visits before it
	// starts remembering the pairs of composite values it found equal:
	// comparisons of up to 65536 values (a third of a millisecond; the
	// usual map keys and sort elements are far smaller) never pay for the
	// memo's bookkeeping (about a third more time per value), while a
	// comparison of shared structures (a tower of pairs whose expansion
	// is 2^n values) does work proportional to the distinct pairs it
	// meets rather than to the expansion, after at most 8192 fuel.
	memoStart = 1 << 16

	// memoMinWork is the least work (values visited) a pair's comparison
	// must have cost for the pair to be remembered; cheaper pairs are
	// cheaper to compare again than to look up. It keeps the memo to at
	// most one entry per memoMinWork values visited.
	memoMinWork = 64

	// memoStride: along a right-nested chain (the last field of a
	// constructor, the last element of a list), which the comparison
	// walks in a loop, every memoStride-th pair is remembered, so a
	// shared chain reached again is walked at most memoStride steps
	// before a remembered pair ends the walk.
	memoStride = 256

	// maxCompareWork bounds the values one comparison made without a
	// thread (Compare, Equal, Map.Lookup and NewMap for Go callers, and
	// quorum's agreement check, which runs outside the evaluation) may
	// visit: about a second of work, far more than comparing any value
	// that fits a message (dag.MaxValueSize), and a bound on a hostile
	// one.
	maxCompareWork = 1 << 26

	// maxShowBytes bounds what Show prints for one value; past it the
	// output ends in "...". A result that passed MaxResultBytes prints in
	// far less; the bound only stops a value with much shared structure
	// (a tower of pairs) from printing its 2^n-fold expansion.
	maxShowBytes = 256 << 20

	// wireNodeBytes is the least number of bytes one value takes once
	// encoded (a CBOR array header and a tag); encoding estimates the
	// size of a value's wire form from it, as a lower bound, so that a
	// value is refused as soon as its encoding surely exceeds its limit
	// and never before.
	wireNodeBytes = 2
)

// Estimated sizes, in bytes, charged to the memory budget. They follow
// the Go representation on 64-bit platforms: an interface value is 16
// bytes, a slice header 24, and every heap object is rounded up by the
// allocator.
const (
	sizeSlot    = 16 // one Value in a slice
	sizeList    = 32 // *List view header
	sizeListBuf = 48 // list buffer header
	sizeTuple   = 32
	sizeData    = 48 // *Data header (constructor pointer + fields slice)
	sizeClosure = 48 // *Closure header (code pointer + env slice)
	sizePartial = 48
	sizeText    = 16 // string header boxed in an interface
	sizeMapNode = 64 // key, value, two children, size
	// sizeMapCopy is charged for a map node that copies one on the path
	// of an insert or delete (see map.go): a quarter of a node, so that
	// keeping every version of a map holds at most 4 times its charge.
	sizeMapCopy = 16
	sizeMap     = 16
	sizeNode    = 64
	sizeFuture  = 128
	sizeChannel = 64

	// sizeWireNode is charged for each node of a value's wire form
	// (Thread.ToWire, Data.put): a small dag.Value struct (a VInt is 8
	// bytes, a VText or VTuple 16 to 24); the slots of the slices that
	// hold the nodes are charged with their parent, like sizeSlot.
	sizeWireNode = 16
	// sizeMemoEntry is charged for each pair a comparison remembers.
	sizeMemoEntry = 64
)

// Text appends (builtins_text.go, appendText).
const (
	// textAppendMin is the least length of a ++ result that goes into a
	// growable buffer; shorter texts are copied, which is cheaper than a
	// buffer twice their size.
	textAppendMin = 256

	// textAppendSlots is how many growable text buffers a thread
	// remembers: enough for a few texts built side by side (a program
	// building two accumulators at once), small enough that the lookup
	// at every ++ is a handful of comparisons.
	textAppendSlots = 4
)

// Library bounds (issue 13).
const (
	// maxFixedDigits bounds Float.toFixed's digits after the point: a
	// float64 has at most 17 significant digits and its smallest
	// subnormal needs 1074 decimals to print exactly; 100 is more than
	// any display needs and keeps the result small.
	maxFixedDigits = 100

	// traceShowBytes bounds what Debug.trace prints of its value. The
	// printing is not charged (so that fuel does not depend on whether
	// a trace hook is set), and the bound keeps its cost a few
	// microseconds whatever the value.
	traceShowBytes = 1000
)

// Native builtins (native.go).
const (
	// NativeCallFuel is the fuel a call of a native builtin costs on top
	// of converting its arguments and result, unless its registration
	// says otherwise: a Go call through reflection and a goroutine costs
	// about a microsecond, some hundred interpreter steps, and a native
	// usually reaches hardware or a service, so calls must not be free
	// to loop over.
	NativeCallFuel = 1000

	// NativeMaxConcurrent bounds the calls of one native builtin running
	// at once, unless its registration says otherwise. A call whose
	// evaluation was canceled keeps its slot until the Go function
	// returns (Go cannot stop a goroutine), so this also bounds the
	// goroutines that a Go function ignoring its context can pile up;
	// further callers wait for a slot within their own deadline.
	NativeMaxConcurrent = 64

	// NativeMaxTypeDepth bounds the nesting of a native's parameter and
	// result types ([][]int is depth 1); recursive types are refused,
	// so converted values nest no deeper than this.
	NativeMaxTypeDepth = 8
)

// Sharing (builtins_share.go).
const (
	// minShareBytes is the least length of a Text or Bytes that share
	// looks for twice: a shorter one costs about as much on the wire as
	// the variable that would name it, so it is written where it is used.
	minShareBytes = 16

	// maxShareBindings bounds the lets one thunk made by share may hold.
	// The lets nest, one CBOR level each, under dag.MaxNesting (10000)
	// with the rest of the value; 4096 leaves room for the rebuilding
	// code and deep values in the environment. A value needing more (a
	// tower of over 4096 shared levels) is refused with a runtime error
	// rather than expanded.
	maxShareBindings = 4096

	// maxShareTermDepth bounds how deeply the code share writes nests
	// parts rebuilt in place (a long user-defined list whose cells hold
	// shared parts): past it the part gets a let of its own, so that the
	// code stays far below dag.MaxNesting and is compiled in little Go
	// stack.
	maxShareTermDepth = 256

	// Memory charged by share: per distinct part it records (the table
	// entry and its index), per walk frame, and per term of the code it
	// writes (the term and its compiled form).
	sizeShareNode  = 96
	sizeShareFrame = 16
	sizeShareTerm  = 96
)

// MaxWireNodes bounds the nodes of one value's wire form (the dag.Value
// tree ToWire builds before encoding): about 8 million, under 1 GiB of Go
// memory at the 50 to 100 bytes a node takes. The encoded size alone does
// not bound it once large parts travel as chunks (dag.MaxChunkedBytes is
// 1 GiB): a tower of shared pairs encodes to a few bytes a leaf but
// expands to a node per leaf, and was allocating 8 GiB before this bound.
const MaxWireNodes = 1 << 23

// The registry of compiled definitions (defs.go), one per process: what
// a definition's first use compiles stays for the next use, by any
// thread or node, until these bounds evict it. Definitions come from
// peers, whose blocks the store evicts within their quotas; without a
// bound their compiled code would stay for the life of the process.
const (
	// maxDefEntries: 65,536 definitions, at about 150 bytes an entry
	// with nothing compiled (a reference named by code compiled so far),
	// and the code of a few-line definition (30 to 40 nodes, a few KB)
	// for those that ran: a warm closure of 10,000 definitions fits
	// several times over.
	maxDefEntries = 1 << 16

	// maxDefWeight: 2^20 term nodes of compiled code, at 100 to 200
	// bytes a node (code, sites and the decoded term it keeps for
	// errors), 100-200 MB at most, whatever size the definitions are.
	maxDefWeight = 1 << 20
)
