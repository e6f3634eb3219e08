package capabilities

import (
	"bytes"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Builtin groups. Every builtin of the language belongs to exactly one
// group; the caller's Catalog says which (this package does not know the
// evaluator's builtin table).
const (
	GroupPure    = "pure"    // computation: Int.*, List.*, operators, ...
	GroupRemote  = "remote"  // here, at, at', await, fallback, race, ...
	GroupChannel = "channel" // channel, send, deliver, listen, requests
	GroupCluster = "cluster" // Cluster.named, provision, pingTime, load
	// GroupDataRead and GroupDataWrite are granted per data key pattern
	// ("data.read:health/"), never as a whole group.
	GroupDataRead  = "data.read"  // Data.get, Data.list
	GroupDataWrite = "data.write" // Data.put, Data.delete
	// GroupData is what a Catalog may return for a data builtin whose
	// direction it does not distinguish: it is allowed when the sandbox
	// has any data pattern, and its key is checked at run time.
	GroupData = "data"
	// GroupClusterMember is granted per cluster name
	// ("cluster.member:stats"): membership of the issuer's owned cluster
	// of that name (docs/security.md, "Owned clusters"). It allows no
	// builtin.
	GroupClusterMember = "cluster.member"
	// GroupFFI is the group of native builtins a program embedding a
	// node registers from Go (Native.call): granted per native group
	// ("ffi:Sensor", Sandbox.FFI), never as a whole. A Catalog returns it
	// for Native.call, which is then allowed when the sandbox grants any
	// native group; the group of the native called is checked at run
	// time (Checker.CheckNative).
	GroupFFI = "ffi"
)

// builtinGroups are the groups a Sandbox grants as a whole, in their
// canonical order.
var builtinGroups = []string{GroupPure, GroupRemote, GroupChannel, GroupCluster}

func groupRank(name string) int {
	if i := slices.Index(builtinGroups, name); i >= 0 {
		return i
	}
	return len(builtinGroups)
}

// A Sandbox is what a foreign evaluation may reach: builtin groups (each
// minus the builtins it denies), node data by key pattern, definitions by
// CID, the nodes at/send may target, and budgets. Sandboxes form a
// lattice: Union grants what either grants, Intersect what both grant,
// and IsSubset is its order. The zero Sandbox grants nothing.
//
// The fields may be set directly; every operation works on the
// normalized form (see Normalize), and Validate says whether the value
// can be put in a token.
type Sandbox struct {
	// Groups are the whole builtin groups allowed (GroupPure,
	// GroupRemote, GroupChannel, GroupCluster), each with the builtins
	// of the group it denies.
	Groups []Group

	// Read and Write are data key patterns: "health/" allows every key
	// starting with "health/" ("" allows every key), and "=bob/n" allows
	// exactly the key "bob/n" (so a prefix cannot start with "="; keys
	// that do are reached by a shorter prefix or an exact pattern).
	// Read allows Data.get and Data.list, Write Data.put and Data.delete.
	Read, Write []string

	// AnyCode allows foreign code to call any definition; otherwise it
	// may call only those in Code (which may be empty: only the code it
	// sends itself, with no references to stored definitions).
	AnyCode bool
	Code    []cid.Cid

	// AnyTarget lets at/send target any node; otherwise only the caller,
	// this node itself, and Targets.
	AnyTarget bool
	Targets   []peer.ID

	// Members are the names of the clusters the holder may be a member
	// of ("cluster.member:stats"): in a token rooted at a node, the
	// clusters that node owns which the audience may join. They grant
	// nothing to an evaluation.
	Members []string

	// FFI are the groups of native builtins foreign code may call
	// ("ffi:Sensor" grants every native of group Sensor registered on
	// the node that enforces the sandbox).
	FFI []string

	Budget Budget
}

// A Group is a builtin group minus some of its builtins.
type Group struct {
	Name string
	// Deny lists builtins of the group that are not allowed. Denying an
	// operator's target (Int.sub) also denies the operator (Op.sub): see
	// Catalog.Covers.
	Deny []string
}

// A Budget bounds one evaluation. Zero in any field allows nothing: a
// sandbox that grants no fuel cannot run code (the node refuses it
// rather than fall back to the evaluator's defaults).
type Budget struct {
	Fuel   int64         // reduction steps
	Memory int64         // bytes allocated
	Time   time.Duration // wall time, whole milliseconds
	Result int64         // bytes of the encoded result
}

// PureSandbox returns the sandbox of the seed's "may evaluate pure code":
// the pure group, any definition, and budget b.
func PureSandbox(b Budget) Sandbox {
	return Sandbox{Groups: []Group{{Name: GroupPure}}, AnyCode: true, Budget: b}
}

// DefaultBudget is the budget of the default sandbox for unknown peers.
func DefaultBudget() Budget {
	return Budget{Fuel: DefaultFuel, Memory: DefaultMemory, Time: DefaultTime, Result: DefaultResult}
}

// Normalize returns the canonical form of s: groups in canonical order
// and merged, names sorted and deduplicated, patterns covered by another
// pattern dropped, CIDs and peer IDs sorted and deduplicated (and
// dropped when AnyCode or AnyTarget), negative budgets as zero and Time
// truncated to milliseconds. Two sandboxes grant the same things exactly
// when their normal forms are equal; Normalize never fails.
func (s Sandbox) Normalize() Sandbox {
	var out Sandbox
	// Merge duplicate groups as a union would: a builtin is denied only
	// if every occurrence denies it.
	byName := map[string][]string{}
	var names []string
	for _, g := range s.Groups {
		deny := sortedSet(g.Deny)
		if prev, ok := byName[g.Name]; ok {
			byName[g.Name] = intersectSorted(prev, deny)
			continue
		}
		names = append(names, g.Name)
		byName[g.Name] = deny
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := groupRank(a), groupRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		out.Groups = append(out.Groups, Group{Name: n, Deny: byName[n]})
	}
	out.Read = normPatterns(s.Read)
	out.Write = normPatterns(s.Write)
	out.AnyCode = s.AnyCode
	if !s.AnyCode {
		out.Code = sortedCIDs(s.Code)
	}
	out.AnyTarget = s.AnyTarget
	if !s.AnyTarget {
		out.Targets = sortedPeers(s.Targets)
	}
	out.Members = sortedSet(s.Members)
	out.FFI = sortedSet(s.FFI)
	out.Budget = s.Budget.normalize()
	return out
}

func (b Budget) normalize() Budget {
	b.Fuel = max(b.Fuel, 0)
	b.Memory = max(b.Memory, 0)
	b.Result = max(b.Result, 0)
	b.Time = max(b.Time, 0).Truncate(time.Millisecond)
	return b
}

// IsZero reports whether some field of b is zero, so that no evaluation
// can run under it.
func (b Budget) IsZero() bool {
	return b.Fuel <= 0 || b.Memory <= 0 || b.Time <= 0 || b.Result <= 0
}

// Validate reports why s cannot be granted in a token or policy: an
// unknown group, a malformed builtin name or data pattern, an undefined
// CID or empty peer ID, a limit in limits.go exceeded, a negative budget
// or a Time that is not whole milliseconds. Errors match
// ErrInvalidSandbox.
func (s Sandbox) Validate() error {
	seen := map[string]bool{}
	for _, g := range s.Groups {
		if !slices.Contains(builtinGroups, g.Name) {
			if g.Name == GroupDataRead || g.Name == GroupDataWrite || g.Name == GroupData {
				return invalidf("data access is granted by key pattern (Read, Write), not as group %q", g.Name)
			}
			if g.Name == GroupFFI {
				return invalidf("native builtins are granted by group (FFI, ffi:GROUP), not as group %q", g.Name)
			}
			if g.Name == GroupClusterMember {
				return invalidf("cluster membership is granted by cluster name (Members), not as group %q", g.Name)
			}
			return invalidf("unknown builtin group %q (want pure, remote, channel or cluster)", g.Name)
		}
		if seen[g.Name] {
			return invalidf("group %q listed twice", g.Name)
		}
		seen[g.Name] = true
		if len(g.Deny) > MaxDenied {
			return invalidf("group %s denies %d builtins, limit %d", g.Name, len(g.Deny), MaxDenied)
		}
		for _, n := range g.Deny {
			if err := checkBuiltinName(n); err != nil {
				return err
			}
		}
	}
	for _, ps := range [][]string{s.Read, s.Write} {
		if len(ps) > MaxPatterns {
			return invalidf("%d data patterns, limit %d", len(ps), MaxPatterns)
		}
		for _, p := range ps {
			if err := checkPattern(p); err != nil {
				return err
			}
		}
	}
	if s.AnyCode && len(s.Code) > 0 {
		return invalidf("both any code and a list of definitions")
	}
	if len(s.Code) > MaxCodeCIDs {
		return invalidf("%d definitions, limit %d", len(s.Code), MaxCodeCIDs)
	}
	for _, c := range s.Code {
		if !c.Defined() {
			return invalidf("undefined CID in the definition list")
		}
	}
	if s.AnyTarget && len(s.Targets) > 0 {
		return invalidf("both any target and a list of targets")
	}
	if len(s.Targets) > MaxTargets {
		return invalidf("%d targets, limit %d", len(s.Targets), MaxTargets)
	}
	for _, t := range s.Targets {
		if err := checkPeer(t); err != nil {
			return invalidf("target: %v", err)
		}
	}
	if len(s.Members) > MaxMemberships {
		return invalidf("%d cluster memberships, limit %d", len(s.Members), MaxMemberships)
	}
	for _, m := range s.Members {
		if err := CheckClusterName(m); err != nil {
			return err
		}
	}
	if len(s.FFI) > MaxFFIGroups {
		return invalidf("%d native groups, limit %d", len(s.FFI), MaxFFIGroups)
	}
	for _, g := range s.FFI {
		if err := CheckFFIGroup(g); err != nil {
			return err
		}
	}
	b := s.Budget
	if b.Fuel < 0 || b.Memory < 0 || b.Time < 0 || b.Result < 0 {
		return invalidf("negative budget")
	}
	if b.Time%time.Millisecond != 0 {
		return invalidf("time budget %v is not whole milliseconds", b.Time)
	}
	return nil
}

func checkPeer(p peer.ID) error {
	if _, err := peer.IDFromBytes([]byte(p)); err != nil {
		return invalidf("bad peer ID: %v", err)
	}
	return nil
}

// checkBuiltinName accepts what the language's builtin names look like
// (List.foldl, at', await!), loosely: printable, no spaces, no ':' (the
// text syntax's group separator), not starting with '-' or '='.
func checkBuiltinName(n string) error {
	if n == "" || len(n) > MaxBuiltinNameLen {
		return invalidf("builtin name %q: empty or longer than %d bytes", n, MaxBuiltinNameLen)
	}
	if !utf8.ValidString(n) || n[0] == '-' || n[0] == '=' {
		return invalidf("bad builtin name %q", n)
	}
	for _, r := range n {
		if r == ':' || r == '"' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return invalidf("bad builtin name %q", n)
		}
	}
	if strings.HasPrefix(n, "Data.") {
		return invalidf("cannot deny %s: data builtins are limited by data.read:/data.write: patterns", n)
	}
	return nil
}

// CheckClusterName accepts a cluster name: 1 to MaxClusterNameLen bytes
// of UTF-8 without control characters. Errors match ErrInvalidSandbox.
func CheckClusterName(name string) error {
	if name == "" || len(name) > MaxClusterNameLen {
		return invalidf("cluster name %q: empty or longer than %d bytes", name, MaxClusterNameLen)
	}
	if !utf8.ValidString(name) {
		return invalidf("cluster name %q is not UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return invalidf("cluster name %q has a control or unprintable character", name)
		}
	}
	return nil
}

// CheckFFIGroup accepts the name of a group of native builtins: 1 to
// MaxFFIGroupLen ASCII letters, digits and '_', starting with a letter
// (a name of the language, so that "ffi:Sensor" reads as Sensor.*).
// Errors match ErrInvalidSandbox.
func CheckFFIGroup(g string) error {
	if g == "" || len(g) > MaxFFIGroupLen {
		return invalidf("native group %q: empty or longer than %d bytes", g, MaxFFIGroupLen)
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c != '_' && (c < '0' || c > '9')) {
			return invalidf("native group %q: want letters, digits and _, starting with a letter", g)
		}
	}
	return nil
}

// GrantsFFI reports whether s grants the native builtins of group g
// (ffi:g).
func (s Sandbox) GrantsFFI(g string) bool {
	return slices.Contains(s.FFI, g)
}

// GrantsMembership reports whether s grants membership of the cluster
// with this name (cluster.member:name).
func (s Sandbox) GrantsMembership(name string) bool {
	return slices.Contains(s.Members, name)
}

func checkPattern(p string) error {
	if len(p) > MaxPatternLen {
		return invalidf("data pattern longer than %d bytes", MaxPatternLen)
	}
	if !utf8.ValidString(p) {
		return invalidf("data pattern %q is not UTF-8", p)
	}
	return nil
}

// ---- lattice ----

// Union is the join: a sandbox that grants what a or b grants. Budgets
// take the larger of each field.
func Union(a, b Sandbox) Sandbox {
	a, b = a.Normalize(), b.Normalize()
	var out Sandbox
	out.Groups = append(out.Groups, a.Groups...)
	out.Groups = append(out.Groups, b.Groups...) // merged by Normalize
	out.Read = append(slices.Clone(a.Read), b.Read...)
	out.Write = append(slices.Clone(a.Write), b.Write...)
	out.AnyCode = a.AnyCode || b.AnyCode
	out.Code = append(slices.Clone(a.Code), b.Code...)
	out.AnyTarget = a.AnyTarget || b.AnyTarget
	out.Targets = append(slices.Clone(a.Targets), b.Targets...)
	out.Members = append(slices.Clone(a.Members), b.Members...)
	out.FFI = append(slices.Clone(a.FFI), b.FFI...)
	out.Budget = Budget{
		Fuel:   max(a.Budget.Fuel, b.Budget.Fuel),
		Memory: max(a.Budget.Memory, b.Budget.Memory),
		Time:   max(a.Budget.Time, b.Budget.Time),
		Result: max(a.Budget.Result, b.Budget.Result),
	}
	return out.Normalize()
}

// Intersect is the meet: a sandbox that grants what both a and b grant.
// Budgets take the smaller of each field.
func Intersect(a, b Sandbox) Sandbox {
	a, b = a.Normalize(), b.Normalize()
	var out Sandbox
	for _, g := range a.Groups {
		if h, ok := findGroup(b.Groups, g.Name); ok {
			out.Groups = append(out.Groups, Group{Name: g.Name, Deny: unionSorted(g.Deny, h.Deny)})
		}
	}
	out.Read = meetPatterns(a.Read, b.Read)
	out.Write = meetPatterns(a.Write, b.Write)
	switch {
	case a.AnyCode && b.AnyCode:
		out.AnyCode = true
	case a.AnyCode:
		out.Code = b.Code
	case b.AnyCode:
		out.Code = a.Code
	default:
		for _, c := range a.Code {
			if slices.Contains(b.Code, c) {
				out.Code = append(out.Code, c)
			}
		}
	}
	switch {
	case a.AnyTarget && b.AnyTarget:
		out.AnyTarget = true
	case a.AnyTarget:
		out.Targets = b.Targets
	case b.AnyTarget:
		out.Targets = a.Targets
	default:
		for _, t := range a.Targets {
			if slices.Contains(b.Targets, t) {
				out.Targets = append(out.Targets, t)
			}
		}
	}
	out.Members = intersectSorted(a.Members, b.Members)
	out.FFI = intersectSorted(a.FFI, b.FFI)
	out.Budget = Budget{
		Fuel:   min(a.Budget.Fuel, b.Budget.Fuel),
		Memory: min(a.Budget.Memory, b.Budget.Memory),
		Time:   min(a.Budget.Time, b.Budget.Time),
		Result: min(a.Budget.Result, b.Budget.Result),
	}
	return out.Normalize()
}

// IsSubset reports whether s grants nothing that other does not: every
// group of s is in other and other denies only builtins s denies too,
// every data pattern of s is covered by one of other's, the definitions
// and targets of s are among other's (or other allows any), its cluster
// memberships are among other's, and every budget of s is at most
// other's.
//
// Builtin groups are treated as open sets (this package does not know
// their members), so "pure minus X" is never a subset of "pure minus Y"
// unless Y ⊆ X, even if X or Y is not a pure builtin at all.
func (s Sandbox) IsSubset(other Sandbox) bool {
	a, b := s.Normalize(), other.Normalize()
	for _, g := range a.Groups {
		h, ok := findGroup(b.Groups, g.Name)
		if !ok || !subsetSorted(h.Deny, g.Deny) {
			return false
		}
	}
	for _, p := range a.Read {
		if !coveredBy(b.Read, p) {
			return false
		}
	}
	for _, p := range a.Write {
		if !coveredBy(b.Write, p) {
			return false
		}
	}
	if !b.AnyCode {
		if a.AnyCode {
			return false
		}
		for _, c := range a.Code {
			if !slices.Contains(b.Code, c) {
				return false
			}
		}
	}
	if !b.AnyTarget {
		if a.AnyTarget {
			return false
		}
		for _, t := range a.Targets {
			if !slices.Contains(b.Targets, t) {
				return false
			}
		}
	}
	if !subsetSorted(a.FFI, b.FFI) {
		return false
	}
	if !subsetSorted(a.Members, b.Members) {
		return false
	}
	ab, bb := a.Budget, b.Budget
	return ab.Fuel <= bb.Fuel && ab.Memory <= bb.Memory && ab.Time <= bb.Time && ab.Result <= bb.Result
}

// Equal reports whether s and other grant the same things.
func (s Sandbox) Equal(other Sandbox) bool {
	a, b := s.Normalize(), other.Normalize()
	if len(a.Groups) != len(b.Groups) {
		return false
	}
	for i := range a.Groups {
		if a.Groups[i].Name != b.Groups[i].Name || !slices.Equal(a.Groups[i].Deny, b.Groups[i].Deny) {
			return false
		}
	}
	return slices.Equal(a.Read, b.Read) && slices.Equal(a.Write, b.Write) &&
		a.AnyCode == b.AnyCode && slices.Equal(a.Code, b.Code) &&
		a.AnyTarget == b.AnyTarget && slices.Equal(a.Targets, b.Targets) &&
		slices.Equal(a.Members, b.Members) && slices.Equal(a.FFI, b.FFI) && a.Budget == b.Budget
}

func findGroup(gs []Group, name string) (Group, bool) {
	for _, g := range gs {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// ---- data key patterns ----

// A pattern is a key prefix, or "=" followed by one exact key.

func patternExact(p string) (key string, exact bool) {
	if strings.HasPrefix(p, "=") {
		return p[1:], true
	}
	return p, false
}

// patternCovers reports whether every key matched by p is matched by q.
func patternCovers(q, p string) bool {
	qk, qExact := patternExact(q)
	pk, pExact := patternExact(p)
	if qExact {
		return pExact && qk == pk
	}
	return strings.HasPrefix(pk, qk)
}

// patternMeet returns the pattern matching the keys both p and q match.
func patternMeet(p, q string) (string, bool) {
	switch {
	case patternCovers(q, p):
		return p, true
	case patternCovers(p, q):
		return q, true
	}
	return "", false // disjoint: two prefixes where neither extends the other, or exact keys outside
}

func coveredBy(ps []string, p string) bool {
	for _, q := range ps {
		if patternCovers(q, p) {
			return true
		}
	}
	return false
}

// patternMatches reports whether key matches p.
func patternMatches(p, key string) bool {
	k, exact := patternExact(p)
	if exact {
		return key == k
	}
	return strings.HasPrefix(key, k)
}

// normPatterns sorts, deduplicates and drops patterns covered by another,
// which leaves the unique minimal list matching the same keys.
func normPatterns(ps []string) []string {
	ps = sortedSet(ps)
	var out []string
	for i, p := range ps {
		covered := false
		for j, q := range ps {
			if i != j && patternCovers(q, p) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

func meetPatterns(a, b []string) []string {
	var out []string
	for _, p := range a {
		for _, q := range b {
			if m, ok := patternMeet(p, q); ok {
				out = append(out, m)
			}
		}
	}
	return normPatterns(out)
}

// ---- sorted sets ----

func sortedSet(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

func intersectSorted(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); ok {
			out = append(out, x)
		}
	}
	return out
}

func unionSorted(a, b []string) []string {
	return sortedSet(append(slices.Clone(a), b...))
}

// subsetSorted reports whether every element of a is in b.
func subsetSorted(a, b []string) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}

func sortedCIDs(cs []cid.Cid) []cid.Cid {
	if len(cs) == 0 {
		return nil
	}
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b cid.Cid) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	return slices.Compact(out)
}

func sortedPeers(ps []peer.ID) []peer.ID {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}
