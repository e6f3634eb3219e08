package capabilities

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Flag names of the text syntax.
const (
	flagAllow       = "--allow"
	flagDeny        = "--deny"
	flagAllowCode   = "--allow-code"
	flagAllowTarget = "--allow-target"
	flagFuel        = "--fuel"
	flagMemory      = "--memory"
	flagTime        = "--time"
	flagResult      = "--result"
)

// ParseSandbox parses the text syntax of a sandbox, the CLI flags that
// grant it:
//
//	--allow pure                   a whole builtin group (pure, remote, channel, cluster)
//	--allow data.read:health/      data keys by prefix ("data.read" alone: every key)
//	--allow data.write:=notes/x    exactly one key
//	--allow cluster.member:stats   membership of the issuer's cluster "stats"
//	--allow ffi:Sensor             the native builtins of group Sensor (Sensor.*)
//	--deny Int.sub                 a builtin, in every group granted
//	--deny pure:Int.sub            a builtin, in one group
//	--allow-code CID               a definition foreign code may call (repeatable);
//	                               without one, any; "none": no stored definition
//	--allow-target PEER            a node at/send may target besides the caller; "any": all
//	--fuel N --memory SIZE --time DURATION --result SIZE
//
// SIZE is bytes, optionally with a KiB, MiB or GiB suffix; DURATION is Go
// syntax (10s, 1m30s). "--flag=value" works too. String prints the
// canonical form, which ParseSandbox reads back to an equal sandbox.
//
// The flags are separated by spaces; values with spaces are Go string
// literals in double quotes.
func ParseSandbox(text string) (Sandbox, error) {
	args, err := splitArgs(text)
	if err != nil {
		return Sandbox{}, err
	}
	return ParseSandboxArgs(args)
}

// ParseSandboxArgs parses the text syntax already split into arguments,
// as a shell or a flag library leaves them.
func ParseSandboxArgs(args []string) (Sandbox, error) {
	var b sandboxBuilder
	b.sb.AnyCode = true
	for i := 0; i < len(args); i++ {
		flag, val, hasVal := strings.Cut(args[i], "=")
		if !strings.HasPrefix(flag, "--") {
			return Sandbox{}, invalidf("expected a flag such as --allow, found %q", args[i])
		}
		if !hasVal {
			if i+1 >= len(args) {
				return Sandbox{}, invalidf("%s needs a value", flag)
			}
			i++
			val = args[i]
		}
		if err := b.apply(flag, val); err != nil {
			return Sandbox{}, err
		}
	}
	return b.finish()
}

type sandboxBuilder struct {
	sb         Sandbox
	codeSet    bool
	denyAll    []string
	denyIn     map[string][]string
	seenBudget map[string]bool
}

func (b *sandboxBuilder) apply(flag, val string) error {
	switch flag {
	case flagAllow:
		return b.allow(val)
	case flagDeny:
		group, name, scoped := strings.Cut(val, ":")
		if !scoped {
			name, group = group, ""
		} else if !slices.Contains(builtinGroups, group) {
			return invalidf("--deny %s: unknown group %q", val, group)
		}
		if err := checkBuiltinName(name); err != nil {
			return err
		}
		if scoped {
			if b.denyIn == nil {
				b.denyIn = map[string][]string{}
			}
			b.denyIn[group] = append(b.denyIn[group], name)
		} else {
			b.denyAll = append(b.denyAll, name)
		}
	case flagAllowCode:
		if !b.codeSet {
			b.codeSet = true
			b.sb.AnyCode = false
		}
		switch val {
		case "any":
			b.sb.AnyCode = true
		case "none":
		default:
			c, err := cid.Decode(val)
			if err != nil {
				return invalidf("--allow-code %s: %v", val, err)
			}
			b.sb.Code = append(b.sb.Code, c)
		}
	case flagAllowTarget:
		if val == "any" {
			b.sb.AnyTarget = true
			return nil
		}
		id, err := peer.Decode(val)
		if err != nil {
			return invalidf("--allow-target %s: %v", val, err)
		}
		b.sb.Targets = append(b.sb.Targets, id)
	case flagFuel, flagMemory, flagTime, flagResult:
		if b.seenBudget[flag] {
			return invalidf("%s given twice", flag)
		}
		if b.seenBudget == nil {
			b.seenBudget = map[string]bool{}
		}
		b.seenBudget[flag] = true
		switch flag {
		case flagFuel:
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return invalidf("--fuel %s: want a non-negative integer", val)
			}
			b.sb.Budget.Fuel = n
		case flagMemory, flagResult:
			n, err := parseSize(val)
			if err != nil {
				return invalidf("%s %s: %v", flag, val, err)
			}
			if flag == flagMemory {
				b.sb.Budget.Memory = n
			} else {
				b.sb.Budget.Result = n
			}
		case flagTime:
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 || d%time.Millisecond != 0 {
				return invalidf("--time %s: want a non-negative duration in whole milliseconds, such as 10s", val)
			}
			b.sb.Budget.Time = d
		}
	default:
		return invalidf("unknown flag %s (want --allow, --deny, --allow-code, --allow-target, --fuel, --memory, --time or --result)", flag)
	}
	return nil
}

func (b *sandboxBuilder) allow(val string) error {
	name, pattern, hasPattern := strings.Cut(val, ":")
	switch name {
	case GroupPure, GroupRemote, GroupChannel, GroupCluster:
		if hasPattern {
			return invalidf("--allow %s: group %s takes no pattern", val, name)
		}
		b.sb.Groups = append(b.sb.Groups, Group{Name: name})
	case GroupDataRead, GroupDataWrite:
		if err := checkPattern(pattern); err != nil {
			return err
		}
		if name == GroupDataRead {
			b.sb.Read = append(b.sb.Read, pattern)
		} else {
			b.sb.Write = append(b.sb.Write, pattern)
		}
	case GroupClusterMember:
		if !hasPattern {
			return invalidf("--allow %s: name the cluster (cluster.member:NAME)", val)
		}
		if err := CheckClusterName(pattern); err != nil {
			return err
		}
		b.sb.Members = append(b.sb.Members, pattern)
	case GroupFFI:
		if !hasPattern {
			return invalidf("--allow %s: name the native group (ffi:GROUP, such as ffi:Sensor)", val)
		}
		if err := CheckFFIGroup(pattern); err != nil {
			return err
		}
		b.sb.FFI = append(b.sb.FFI, pattern)
	default:
		return invalidf("--allow %s: unknown group %q (want pure, remote, channel, cluster, data.read:PREFIX, data.write:PREFIX, cluster.member:NAME or ffi:GROUP)", val, name)
	}
	return nil
}

func (b *sandboxBuilder) finish() (Sandbox, error) {
	s := &b.sb
	for i := range s.Groups {
		g := &s.Groups[i]
		g.Deny = append(g.Deny, b.denyAll...)
		g.Deny = append(g.Deny, b.denyIn[g.Name]...)
	}
	out := s.Normalize()
	if err := out.Validate(); err != nil {
		return Sandbox{}, err
	}
	return out, nil
}

// Args returns the canonical text syntax of s as separate arguments.
func (s Sandbox) Args() []string {
	s = s.Normalize()
	var out []string
	add := func(flag, val string) { out = append(out, flag, val) }
	for _, g := range s.Groups {
		add(flagAllow, g.Name)
	}
	for _, p := range s.Read {
		add(flagAllow, dataItem(GroupDataRead, p))
	}
	for _, p := range s.Write {
		add(flagAllow, dataItem(GroupDataWrite, p))
	}
	for _, m := range s.Members {
		add(flagAllow, GroupClusterMember+":"+m)
	}
	for _, g := range s.FFI {
		add(flagAllow, GroupFFI+":"+g)
	}
	// Denials common to every group print once, unscoped.
	var common []string
	for i, g := range s.Groups {
		if i == 0 {
			common = g.Deny
		} else {
			common = intersectSorted(common, g.Deny)
		}
	}
	for _, n := range common {
		add(flagDeny, n)
	}
	for _, g := range s.Groups {
		for _, n := range g.Deny {
			if _, ok := slices.BinarySearch(common, n); !ok {
				add(flagDeny, g.Name+":"+n)
			}
		}
	}
	switch {
	case s.AnyCode:
	case len(s.Code) == 0:
		add(flagAllowCode, "none")
	default:
		for _, c := range s.Code {
			add(flagAllowCode, c.String())
		}
	}
	if s.AnyTarget {
		add(flagAllowTarget, "any")
	}
	for _, t := range s.Targets {
		add(flagAllowTarget, t.String())
	}
	bu := s.Budget
	if bu.Fuel != 0 {
		add(flagFuel, strconv.FormatInt(bu.Fuel, 10))
	}
	if bu.Memory != 0 {
		add(flagMemory, formatSize(bu.Memory))
	}
	if bu.Time != 0 {
		add(flagTime, bu.Time.String())
	}
	if bu.Result != 0 {
		add(flagResult, formatSize(bu.Result))
	}
	return out
}

func dataItem(group, pattern string) string {
	if pattern == "" {
		return group
	}
	return group + ":" + pattern
}

// String returns the canonical text syntax of s, one line, values quoted
// where they contain spaces or quotes. ParseSandbox(s.String()) equals s
// (normalized) for every valid s.
func (s Sandbox) String() string {
	args := s.Args()
	for i, a := range args {
		if needsQuote(a) {
			args[i] = strconv.Quote(a)
		}
	}
	return strings.Join(args, " ")
}

func needsQuote(a string) bool {
	if a == "" {
		return true
	}
	for _, r := range a {
		if r == '"' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// splitArgs splits on spaces; an argument starting with a double quote is
// a Go string literal.
func splitArgs(text string) ([]string, error) {
	var out []string
	for i := 0; i < len(text); {
		if text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r' {
			i++
			continue
		}
		if text[i] == '"' {
			q, err := strconv.QuotedPrefix(text[i:])
			if err != nil {
				return nil, invalidf("bad quoted value at byte %d", i)
			}
			s, _ := strconv.Unquote(q)
			out = append(out, s)
			i += len(q)
			continue
		}
		j := i
		for j < len(text) && text[j] != ' ' && text[j] != '\t' && text[j] != '\n' && text[j] != '\r' {
			if text[j] == '"' {
				return nil, invalidf("quote inside a value at byte %d (quote the whole value)", j)
			}
			j++
		}
		out = append(out, text[i:j])
		i = j
	}
	return out, nil
}

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}}

func parseSize(s string) (int64, error) {
	shift := uint(0)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a non-negative number of bytes, optionally with KiB, MiB or GiB")
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("too large")
	}
	return n << shift, nil
}

func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
