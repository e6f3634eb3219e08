package syntax

// Bounds on what the parser accepts. Exceeding any of them is an *Error at
// the offending position, never a panic or a Go stack overflow.
const (
	// MaxSourceSize is the largest source file ParseFile and ParseExpr
	// accept (8 MiB). A .u file is hand-written code; anything larger is a
	// mistake or an attack, and refusing it up front bounds the memory the
	// token stream and the AST can take.
	MaxSourceSize = 8 << 20

	// MaxNestingDepth bounds the depth of the syntax tree: nested
	// parentheses, brackets, lets, lambdas, patterns and type expressions,
	// prefix operators, and chains of binary operators (each operator in
	// `a + b + c` counts as one level, because the tree it builds is that
	// deep). The parser is recursive descent, and so is every later pass
	// over the tree (dag compilation, the formatter); the bound keeps all of
	// them far from the Go stack limit. Real code nests a few dozen levels.
	MaxNestingDepth = 1000

	// MaxErrors is how many errors one ParseFile call reports before it
	// gives up. Past the first few, errors are mostly consequences of
	// earlier ones, and an unbounded list would let a garbage file produce
	// output proportional to its size.
	MaxErrors = 50
	// MaxShownErrors is how many of them ErrorList.Error spells out; the
	// rest are counted. A screenful is what a person reads before fixing
	// the first few and trying again.
	MaxShownErrors = 20

	// MaxIdentLen bounds an identifier (including its qualifier segments).
	// Names become namespace keys and appear in every error message about
	// them; nobody types a 1 KiB name on purpose.
	MaxIdentLen = 1024

	// MaxHashRefLen bounds the CID text after `#`. A CIDv1 with a sha2-256
	// multihash is 59 characters in base32; 256 leaves room for longer
	// hash functions and other bases while keeping junk out of error
	// messages. Validity of the CID itself is checked by dag.
	MaxHashRefLen = 256

	// MaxHashRefIndex bounds the member index in `#cid#n`. Cycle blocks and
	// data types with more members than this do not occur in practice, and
	// a small bound keeps the index safely inside an int on every platform.
	MaxHashRefIndex = 1 << 20
)
