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

	// maxIdleStack is the largest value stack (in slots) a thread keeps
	// between evaluations; a bigger one, left by deep recursion, is
	// freed.
	maxIdleStack = 1 << 16

	// maxArity bounds the number of parameters of a lambda or fields of
	// a constructor in code the interpreter accepts; real code uses a
	// handful, and the bound keeps per-call slot counts small.
	maxArity = 1 << 16

	// maxListLen bounds the length of a list built by one builtin call
	// (List.range, List.replicate), so that lengths fit an int and size
	// computations cannot overflow; the memory budget stops far
	// shorter lists anyway.
	maxListLen = 1 << 40
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
	sizeMap     = 16
	sizeNode    = 64
	sizeFuture  = 128
	sizeChannel = 64
)
