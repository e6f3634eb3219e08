package capabilities

import (
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A Catalog describes the evaluator's builtins to this package, which
// does not import the evaluator: the node builds one from eval.Builtins().
type Catalog struct {
	// GroupOf returns the group of a builtin: GroupPure, GroupRemote,
	// GroupChannel, GroupCluster, GroupDataRead, GroupDataWrite,
	// GroupData or GroupFFI. An unknown name ("") is never allowed, so a builtin
	// added to the evaluator without a group stays out of every
	// sandbox.
	GroupOf func(builtin string) string

	// Covers returns, for a builtin that stands for others depending on
	// its arguments, the builtins it may stand for: operators compile to
	// Op.* builtins, so Covers("Op.sub") should be ["Int.sub",
	// "Float.sub"] (those that exist), and denying Int.sub then denies
	// Op.sub too. A covering builtin is allowed only if it and every
	// builtin it covers are. Nil means no builtin covers another.
	Covers func(builtin string) []string
}

// A Checker answers the questions the node asks while linking and running
// one foreign evaluation. Build one per evaluation with NewChecker; it is
// safe for concurrent use.
type Checker struct {
	sb      Sandbox
	cat     Catalog
	self    peer.ID
	caller  peer.ID
	deny    map[string]map[string]bool // group -> denied builtins
	code    map[cid.Cid]bool
	targets map[peer.ID]bool
}

// NewChecker returns a Checker for an evaluation that caller asked self
// to run under sandbox sb.
func NewChecker(sb Sandbox, cat Catalog, self, caller peer.ID) *Checker {
	sb = sb.Normalize()
	c := &Checker{sb: sb, cat: cat, self: self, caller: caller,
		deny: map[string]map[string]bool{}, code: map[cid.Cid]bool{}, targets: map[peer.ID]bool{}}
	for _, g := range sb.Groups {
		d := map[string]bool{}
		for _, n := range g.Deny {
			d[n] = true
		}
		c.deny[g.Name] = d
	}
	for _, x := range sb.Code {
		c.code[x] = true
	}
	for _, t := range sb.Targets {
		c.targets[t] = true
	}
	return c
}

// Sandbox returns the (normalized) sandbox being enforced; its Budget is
// what the evaluation runs under.
func (c *Checker) Sandbox() Sandbox { return c.sb }

// AllowsBuiltin reports whether foreign code may call the builtin.
func (c *Checker) AllowsBuiltin(name string) bool { return c.CheckBuiltin(name) == nil }

// CheckBuiltin returns a *DeniedError unless foreign code may call the
// builtin: its group is granted and does not deny it, and (for an
// operator) every builtin it covers is allowed too.
func (c *Checker) CheckBuiltin(name string) error {
	if !c.allowsName(name) {
		de := &DeniedError{Kind: DeniedBuiltin, Name: name}
		if c.cat.GroupOf != nil && c.cat.GroupOf(name) == GroupFFI {
			de.Detail = "native builtins need a grant of their group, ffi:GROUP"
		}
		return de
	}
	if c.cat.Covers != nil {
		for _, n := range c.cat.Covers(name) {
			if !c.allowsName(n) {
				return &DeniedError{Kind: DeniedBuiltin, Name: name, Detail: "it stands for " + n + ", which is denied"}
			}
		}
	}
	return nil
}

func (c *Checker) allowsName(name string) bool {
	if c.cat.GroupOf == nil {
		return false
	}
	switch g := c.cat.GroupOf(name); g {
	case GroupDataRead:
		return len(c.sb.Read) > 0
	case GroupDataWrite:
		return len(c.sb.Write) > 0
	case GroupData:
		return len(c.sb.Read) > 0 || len(c.sb.Write) > 0
	case GroupFFI:
		return len(c.sb.FFI) > 0
	case "":
		return false
	default:
		d, ok := c.deny[g]
		return ok && !d[name]
	}
}

// AllowsDef reports whether foreign code may refer to the definition.
func (c *Checker) AllowsDef(d cid.Cid) bool { return c.CheckDef(d) == nil }

// CheckDef returns a *DeniedError unless foreign code may refer to the
// definition d. Only references made by the foreign code itself are
// checked: what an allowed definition calls is part of it.
func (c *Checker) CheckDef(d cid.Cid) error {
	if c.sb.AnyCode || c.code[d] {
		return nil
	}
	return &DeniedError{Kind: DeniedDefinition, Name: d.String()}
}

// AllowsTarget reports whether at/send may target the node.
func (c *Checker) AllowsTarget(peerID string) bool { return c.CheckTarget(peerID) == nil }

// CheckTarget returns a *DeniedError unless at/send from the foreign
// evaluation may target the node with this peer ID (text form): the
// caller and this node always, others when the sandbox lists them or
// allows any target.
func (c *Checker) CheckTarget(peerID string) error {
	if c.sb.AnyTarget {
		return nil
	}
	id, err := peer.Decode(peerID)
	if err == nil && (id == c.caller || id == c.self || c.targets[id]) {
		return nil
	}
	return &DeniedError{Kind: DeniedTarget, Name: peerID}
}

// Data operations, for AllowsData.
const (
	DataGet    = "get"
	DataList   = "list"
	DataPut    = "put"
	DataDelete = "delete"
)

// AllowsData reports whether the data operation may touch key.
func (c *Checker) AllowsData(op, key string) bool { return c.CheckData(op, key) == nil }

// CheckNative returns a *DeniedError unless foreign code may call the
// native builtin name, of native group group (ffi:group).
func (c *Checker) CheckNative(name, group string) error {
	if c.sb.GrantsFFI(group) {
		return nil
	}
	return &DeniedError{Kind: DeniedFFI, Name: name, Detail: "needs " + GroupFFI + ":" + group}
}

// CheckData returns a *DeniedError unless foreign code may perform the
// data operation (DataGet, DataList, DataPut, DataDelete) on key; for
// DataList, key is the listing prefix, and every key it could list must
// be readable, so it must lie within a prefix pattern (an exact-key
// pattern never allows a listing).
func (c *Checker) CheckData(op, key string) error {
	switch op {
	case DataGet:
		if matchesAny(c.sb.Read, key) {
			return nil
		}
		return &DeniedError{Kind: DeniedDataRead, Name: key}
	case DataList:
		for _, p := range c.sb.Read {
			if k, exact := patternExact(p); !exact && strings.HasPrefix(key, k) {
				return nil
			}
		}
		return &DeniedError{Kind: DeniedDataRead, Name: key, Detail: "listing needs a prefix grant"}
	case DataPut, DataDelete:
		if matchesAny(c.sb.Write, key) {
			return nil
		}
		return &DeniedError{Kind: DeniedDataWrite, Name: key}
	}
	return &DeniedError{Kind: DeniedBuiltin, Name: "Data." + op, Detail: "unknown data operation"}
}

func matchesAny(ps []string, key string) bool {
	return slices.ContainsFunc(ps, func(p string) bool { return patternMatches(p, key) })
}

// CheckLink is the check made when foreign code is linked, before any
// step runs: every builtin its closure reaches and every definition it
// refers to directly must be allowed, and the budget must allow some
// work. The first refusal is returned (builtins in the order given, then
// definitions), so callers should pass sorted lists for stable errors.
func (c *Checker) CheckLink(builtins []string, defs []cid.Cid) error {
	if c.sb.Budget.IsZero() {
		return &DeniedError{Kind: DeniedBudget, Name: "zero", Detail: "the sandbox grants no " + zeroBudget(c.sb.Budget)}
	}
	for _, b := range builtins {
		if err := c.CheckBuiltin(b); err != nil {
			return err
		}
	}
	for _, d := range defs {
		if err := c.CheckDef(d); err != nil {
			return err
		}
	}
	return nil
}

func zeroBudget(b Budget) string {
	switch {
	case b.Fuel <= 0:
		return "fuel"
	case b.Memory <= 0:
		return "memory"
	case b.Time <= 0:
		return "time"
	}
	return "result size"
}
