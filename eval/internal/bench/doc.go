// Package bench holds the interpreter's benchmark suite: the same
// programs written in the language (suite.u), in Lua (suite.lua) and in
// Starlark (suite.star), runners for the two reference interpreters
// (gopher-lua and go.starlark.net), and the statistics the benchmarks in
// package eval report: per-round ratios between engines whose runs
// alternate within one benchmark, summarised by their median.
//
// The programs are binary-trees, n-body, spectral-norm and fannkuch-redux
// in the style of the Computer Language Benchmarks Game, a word-frequency
// count over a generated text, Map inserts and naive fib. Each is a
// function of one argument returning an Int, so that the three engines'
// answers can be compared exactly (Float results are scaled and rounded).
package bench
