package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
)

// Native builtins (docs/native.md): a program embedding a node registers
// Go functions that code in the language calls, to reach hardware, a
// sensor or an existing service. A native is named by its node and its
// qualified name: the language calls it as
//
//	Native.call "<node's peer ID>" "Sensor.temperature" [args...]
//
// and Register also adds, under the native's name, a definition that
// wraps that call (a thunk for a native of no arguments, a function of
// its arity otherwise). That definition is the same on every node, so
// code calling it may be written and shipped anywhere; the call itself
// runs only on its node (eval.NativeElsewhereError elsewhere). Foreign
// code may call a native only if its sandbox grants the native's group
// (ffi:Sensor): the node's policy for the caller, or a token.

// ErrNativeRegistered is returned by Register for a name already
// registered on the node.
var ErrNativeRegistered = errors.New("native builtin already registered")

// A NativeOption configures a native builtin at Register.
type NativeOption func(*nativeConfig) error

type nativeConfig struct {
	spec eval.NativeSpec
}

// NativeGroup sets the native group that grants the builtin (ffi:group);
// by default it is the first part of its name (Sensor for
// Sensor.temperature).
func NativeGroup(group string) NativeOption {
	return func(c *nativeConfig) error {
		if err := capabilities.CheckFFIGroup(group); err != nil {
			return err
		}
		c.spec.Group = group
		return nil
	}
}

// NativeDoc sets the builtin's one-line description.
func NativeDoc(doc string) NativeOption {
	return func(c *nativeConfig) error {
		c.spec.Doc = doc
		return nil
	}
}

// NativeFuel sets the fuel each call costs besides converting its
// arguments and result (default eval.NativeCallFuel): what a call is
// worth against the caller's budget.
func NativeFuel(fuel int64) NativeOption {
	return func(c *nativeConfig) error {
		if fuel <= 0 {
			return fmt.Errorf("native fuel %d: want a positive count", fuel)
		}
		c.spec.Fuel = fuel
		return nil
	}
}

// NativeConcurrency bounds the calls of the builtin running at once
// (default eval.NativeMaxConcurrent); callers beyond it wait within
// their deadline. Use 1 for a device that serves one request at a time.
func NativeConcurrency(n int) NativeOption {
	return func(c *nativeConfig) error {
		if n <= 0 {
			return fmt.Errorf("native concurrency %d: want a positive count", n)
		}
		c.spec.MaxConcurrent = n
		return nil
	}
}

// NativeInfo describes a registered native builtin.
type NativeInfo struct {
	// Name is its qualified name ("Sensor.temperature") and Group the
	// native group that grants it (ffi:Group).
	Name  string `json:"name"`
	Group string `json:"group"`
	Doc   string `json:"doc,omitempty"`
	// Arity is the number of arguments; 0 means the definition is a
	// thunk, forced with !Sensor.temperature.
	Arity int `json:"arity"`
	// Signature is the Go function's, without its context parameter.
	Signature string `json:"signature"`
	// Node is the node it runs on.
	Node peer.ID `json:"node"`
	// Def is the CID of the definition Register bound to Name, and
	// Source its source: adding Source on any node gives the same CID,
	// so other nodes can call the native by name.
	Def    cid.Cid `json:"cid"`
	Source string  `json:"source"`
}

// nativeRegistry is a node's native builtins, by name.
type nativeRegistry struct {
	mu     sync.RWMutex
	byName map[string]*eval.Native
	info   map[string]NativeInfo
}

func (r *nativeRegistry) lookup(name string) (*eval.Native, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	nat, ok := r.byName[name]
	return nat, ok
}

// Register makes fn a native builtin of this node called name, a
// qualified name whose first part is its group unless NativeGroup says
// otherwise, and binds name in the node's namespace to the definition
// that calls it (NativeInfo.Def). fn is
//
//	func([context.Context,] params...) ([result,] [error])
//
// with parameters and result of type bool, any integer or float type,
// string, []byte, or slices and maps of these; an unsupported type is an
// error naming it. The context ends when the calling evaluation is
// canceled or runs out of time, and the evaluation does not wait for fn
// past that. Arguments are fresh Go values (fn may keep or change them),
// and its result is copied into the language. An Int that does not fit
// the parameter's type, or a result the language cannot hold (a string
// that is not UTF-8, a uint64 above the largest Int), fails that call. So
// does a panic in fn or an error it returns: the node keeps serving.
//
// A node holds at most MaxNatives. Registering a name twice returns
// ErrNativeRegistered.
func (n *Node) Register(ctx context.Context, name string, fn any, opts ...NativeOption) (NativeInfo, error) {
	if err := checkNativeName(name); err != nil {
		return NativeInfo{}, err
	}
	cfg := nativeConfig{spec: eval.NativeSpec{Name: name, Fn: fn, OnPanic: func(pe *eval.NativePanicError) {
		n.log.Warn("native builtin panicked", "name", pe.Name, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	}}}
	group, _, _ := strings.Cut(name, ".")
	cfg.spec.Group = group
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return NativeInfo{}, fmt.Errorf("register %s: %w", name, err)
		}
	}
	if err := capabilities.CheckFFIGroup(cfg.spec.Group); err != nil {
		return NativeInfo{}, fmt.Errorf("register %s: %w", name, err)
	}
	nat, err := eval.NewNative(cfg.spec)
	if err != nil {
		return NativeInfo{}, fmt.Errorf("register %s: %w", name, err)
	}
	r := &n.natives
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byName[name]; dup {
		return NativeInfo{}, fmt.Errorf("register %s: %w", name, ErrNativeRegistered)
	}
	if len(r.byName) >= MaxNatives {
		return NativeInfo{}, fmt.Errorf("register %s: this node already has %d native builtins, the limit", name, MaxNatives)
	}
	info := NativeInfo{Name: name, Group: nat.Group(), Doc: nat.Doc(), Arity: nat.Arity(),
		Signature: nat.Signature(), Node: n.id}
	info.Source = NativeSource(n.id, name, nat.Arity())
	if _, err := n.cb.Add(ctx, "native "+name, []byte(info.Source)); err != nil {
		return NativeInfo{}, fmt.Errorf("register %s: adding its definition: %w", name, err)
	}
	ref, ok, err := n.store.LookupName(ctx, name)
	if err != nil || !ok {
		return NativeInfo{}, fmt.Errorf("register %s: its definition is not in the namespace (%v)", name, err)
	}
	info.Def = ref.Def.CID
	if r.byName == nil {
		r.byName, r.info = map[string]*eval.Native{}, map[string]NativeInfo{}
	}
	r.byName[name] = nat
	r.info[name] = info
	return info, nil
}

// Natives lists the node's native builtins, sorted by name.
func (n *Node) Natives() []NativeInfo {
	r := &n.natives
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]NativeInfo, 0, len(r.info))
	for _, i := range r.info {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b NativeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// NativeSource is the source of the definition that calls the native
// builtin name of node, of the given arity: what Register adds on that
// node, and what any other node may add to call it by name. The same
// source gives the same CID on every node.
//
//	Sensor.temperature = '(Native.call "12D3KooW..." "Sensor.temperature" [])
//	Sensor.read a1 = Native.call "12D3KooW..." "Sensor.read" [a1]
func NativeSource(node peer.ID, name string, arity int) string {
	params := make([]string, arity)
	for i := range params {
		params[i] = fmt.Sprintf("a%d", i+1)
	}
	// The node is named by its peer ID as Text rather than Node.fixed,
	// so that foreign code calling it needs no grant of the remote group.
	call := fmt.Sprintf("Native.call %q %q [%s]", node.String(), name, strings.Join(params, ", "))
	if arity == 0 {
		return fmt.Sprintf("%s = '(%s)\n", name, call)
	}
	return fmt.Sprintf("%s %s = %s\n", name, strings.Join(params, " "), call)
}

// checkNativeName accepts a qualified name of the language made of two
// or more parts (Group.name), each a letter followed by letters, digits,
// '_' or '\”, that is not a builtin's and is not in a builtin module
// (List.*, Native.*, ...).
func checkNativeName(name string) error {
	if len(name) > MaxNativeNameLen {
		return fmt.Errorf("register %q: name longer than %d bytes", name, MaxNativeNameLen)
	}
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return fmt.Errorf("register %q: want a qualified name such as Sensor.temperature (its first part is its group)", name)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("register %q: empty part in the name", name)
		}
		for i, c := range p {
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (i == 0 || c != '_' && c != '\'' && (c < '0' || c > '9')) {
				return fmt.Errorf("register %q: each part of the name is a letter followed by letters, digits, _ or '", name)
			}
		}
	}
	if eval.IsBuiltin(name) || builtinModules[parts[0]] {
		return fmt.Errorf("register %q: %s is a module of the language's builtins", name, parts[0])
	}
	return nil
}

// builtinModules are the first parts of the builtins' qualified names.
var builtinModules = func() map[string]bool {
	m := map[string]bool{}
	for _, b := range eval.Builtins() {
		if mod, _, ok := strings.Cut(b.Name, "."); ok {
			m[mod] = true
		}
	}
	for _, mod := range []string{"Optional", "Either", "Err", "Set", "Debug"} {
		m[mod] = true
	}
	return m
}()

var (
	_ eval.NativeHost = (*netHost)(nil)
	_ eval.NativeHost = (*foreignHost)(nil)
)

// Native finds a native builtin for the node's own evaluations.
func (h *netHost) Native(th *eval.Thread, name string) (*eval.Native, error) {
	nat, ok := h.n.natives.lookup(name)
	if !ok {
		return nil, &eval.NativeMissingError{Name: name, Node: h.n.selfID}
	}
	return nat, nil
}

// Native finds a native builtin for a foreign evaluation, which may call
// it only if its sandbox grants the native's group. A caller without the
// grant is denied whether the native exists or not (the group of a name
// that is not registered is its first part), so natives cannot be
// probed for.
func (h *foreignHost) Native(th *eval.Thread, name string) (*eval.Native, error) {
	nat, ok := h.n.natives.lookup(name)
	group, _, _ := strings.Cut(name, ".")
	if ok {
		group = nat.Group()
	}
	if err := h.chk.CheckNative(name, group); err != nil {
		return nil, asDenial(err)
	}
	if !ok {
		return nil, &eval.NativeMissingError{Name: name, Node: h.n.selfID}
	}
	return nat, nil
}
