package syntax

import (
	"sort"
	"strings"
)

// Did-you-mean suggestions for unknown names. A resolver has two kinds of
// names to offer: lists it holds (locals, the file's own definitions),
// scanned with an edit distance, and sets it can only ask about by
// predicate (builtins, the namespace), probed with every name one edit
// away. Both run only on the error path.

// maxSuggestLen bounds the names suggestions are computed for: probing
// costs about 60 lookups per byte, and nobody misspells a 100-byte name.
const maxSuggestLen = 64

// Closest returns the candidate nearest to name by edit distance
// (insertions, deletions, substitutions and swaps of adjacent bytes),
// ignoring case, if it is close enough to be a likely typo: one edit for
// names of three to five bytes, two for longer ones, none (only case) for
// shorter. Ties go to the first
// candidate in sorted order, so the answer is deterministic.
func Closest(name string, candidates []string) string {
	if len(name) > maxSuggestLen {
		return ""
	}
	limit := 1
	switch {
	case len(name) < 3:
		limit = 0 // x for y is noise: only a difference of case
	case len(name) >= 6:
		limit = 2
	}
	best, bestD := "", limit+1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		// "%..." names the parameters of operator sections.
		if c == name || c == "" || c[0] == '%' || abs(len(c)-len(name)) > limit {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Probe returns the first name one edit from name (in the order Closest
// would prefer: case changes, swaps, deletions, substitutions,
// insertions) for which known is true, or "".
func Probe(name string, known func(string) bool) string {
	if len(name) < 3 || len(name) > maxSuggestLen || known == nil {
		return ""
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'."
	try := func(s string) bool { return s != name && known(s) }
	// A wrong case in a segment: list.length, Int.Pow.
	segs := strings.Split(name, ".")
	for i, s := range segs {
		if s == "" {
			continue
		}
		for _, v := range []string{strings.ToUpper(s[:1]) + s[1:], strings.ToLower(s[:1]) + s[1:]} {
			alt := append([]string(nil), segs...)
			alt[i] = v
			if c := strings.Join(alt, "."); try(c) {
				return c
			}
		}
	}
	b := []byte(name)
	for i := 0; i+1 < len(b); i++ {
		s := string(b[:i]) + string(b[i+1]) + string(b[i]) + string(b[i+2:])
		if try(s) {
			return s
		}
	}
	for i := range b {
		if s := string(b[:i]) + string(b[i+1:]); try(s) {
			return s
		}
	}
	for i := range b {
		for j := 0; j < len(alphabet); j++ {
			if s := string(b[:i]) + string(alphabet[j]) + string(b[i+1:]); try(s) {
				return s
			}
		}
	}
	for i := 0; i <= len(b); i++ {
		for j := 0; j < len(alphabet); j++ {
			if s := string(b[:i]) + string(alphabet[j]) + string(b[i:]); try(s) {
				return s
			}
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
