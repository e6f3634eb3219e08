// Package syntax turns unode source text (.u files) into a syntax tree and
// back: a lexer, a hand-written recursive-descent parser with precedence
// levels, the AST (ast.go), positioned errors, and a pretty-printer.
//
// It is the first stage of the pipeline eval/syntax <- dag <- eval: it knows
// nothing of names, hashes or evaluation. dag resolves the names in a File
// and hashes its declarations; `unode show` prints decompiled trees with
// FormatDecl.
//
// # Entry points
//
//	ParseFile(filename, src) (*File, error)  // a whole .u file
//	ParseExpr(filename, src) (Expr, error)   // one expression (unode eval)
//	FormatFile, FormatDecl, FormatExpr        // and FormatPattern, FormatType
//
// Errors are an ErrorList of *Error{Pos, Msg}, sorted by position; each
// message says what was expected and what was found, as in
// `main.u:4:3: expected "in" after let bindings, found "x"`. After an error
// the parser skips to the next declaration, so a file reports one error per
// broken declaration.
//
// # Layout
//
// Newlines matter in exactly two ways.
//
//  1. Declarations. A top-level declaration starts in column 1. Any line
//     whose first token is in column 1 starts a new declaration; every
//     continuation line is indented (by any amount; a tab counts as one
//     column). Blank lines and comment lines do not count. ParseExpr has no
//     declarations and ignores this rule.
//
//  2. Let bindings. The column C of the first binding's name (whether it is
//     on the line of `let` or on the next one) is the binding column. While
//     the bindings of a let are parsed, a line whose first token is in a
//     column <= C ends the current binding: if it is in column C exactly
//     and is a name, it starts the next binding; otherwise it must be `in`.
//     Bindings may also be separated by `;` on one line (a `;` before `in`
//     is allowed). Lines that continue a binding must therefore be indented
//     past C. The rule is suspended inside ( ) and [ ]: brackets say where
//     they end, so their contents may be laid out freely. `in` ends the
//     innermost let wherever it is.
//
// For example:
//
//	main =
//	  let
//	    a = 1
//	    f x =
//	      x * a     -- right of the binding column: still part of f
//	    b = f 2     -- in the binding column: the next binding
//	  in f b
//
// Everything else (where an if, a match arm, an operator or an argument
// goes) is free-form. Match arms start with `|` and may share a line or
// sit on separate lines. A match (like a lambda, let or if) extends as far
// right as it can, so a match nested in an arm that is not the last one
// needs parentheses.
//
// # Precedence
//
// From loosest to tightest:
//
//	blocks   x y -> e, let ... in e, if ... then ... else e, match e with ...
//	         (extend as far right as possible)
//	|>       left
//	||       right
//	&&       right
//	== != < <= > >=  non-associative (a < b < c is an error)
//	:: ++    right (same level)
//	+ -      left
//	* / %    left
//	-x       unary minus
//	f x y    application, left (one App node with all the arguments)
//	'e !e    delay and force, prefix: 'f x is ('f) x; '(f x) delays f x
//	atoms    names, #cid refs, literals, (e), tuples, lists
//
// A block may also stand as an operand (`xs |> x -> f x`, `1 + if c then 1
// else 2`) and then takes the rest of the expression; the formatter always
// parenthesises blocks there. A prefix minus followed by a number literal
// belongs to the literal: `-5` is IntLit(-5) (so `-9223372036854775808` is
// legal, and `-5 x` applies -5), while `-x` and `-(5)` are Neg. `f -1` is
// subtraction, as in Haskell; write `f (-1)`. In patterns, `-1` is a
// literal wherever a pattern atom may stand.
//
// # Lexical details
//
// Identifiers are ASCII letters, digits, `_` and `'` (not first), joined
// into a qualified name by `.` with no spaces (`List.map`), optionally
// ending in one `!` glued to the name (`await!`; `x!=y` is still `x != y`).
// A name whose last segment is capitalised is a constructor or type name.
// Non-ASCII text may appear only in text literals and comments, which
// keeps look-alike identifiers out of a content-addressed namespace.
// Source must be valid UTF-8 (a leading byte order mark is skipped).
//
// Literals: Int in decimal or 0x hex (out of int64 range is an error);
// Float as 1.5, 1e3, 2.0e-3 (infinite results are an error); Text "..."
// with escapes \n \t \r \\ \" \0 \u{1F600}, on one line; Bytes as 0xs
// followed by an even number of hex digits; true, false, (). `--` starts a
// comment that runs to the end of the line.
//
// # Invariants
//
//   - Every node's Pos is the position of its first token (file, 1-based
//     line, 1-based byte column). For `(a + b) * c` that is the "(".
//   - A parsed tree is at most MaxNestingDepth levels deep (operator chains
//     count), so later recursive passes cannot overflow the stack; and the
//     parser itself neither panics nor overflows on any input.
//   - Parse, format and parse again gives the same tree, positions aside.
//     The formatter adds only the parentheses that precedence and the reach
//     of blocks require, and always brackets a block used as an operand.
//   - Tuple has at least two elements; `(e)` is e. App has at least one
//     argument. PLit holds a literal, negative numbers folded in.
//     DefDecl.Type is always nil (reserved for type annotations).
//
// Bounds are in limits.go, each with its reason.
package syntax
