package eval

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// Loader gives the interpreter the definitions a program refers to.
// *dag.Store satisfies it.
type Loader interface {
	LoadTerm(ctx context.Context, ref dag.DefRef) (dag.Term, error)
}

// Namer names constructors for Show. CtorName returns "" when it does not
// know the constructor.
type Namer interface {
	CtorName(typ dag.TypeRef, index int) string
}

// DefNamer is an optional interface of a Thread's Names: it names
// definitions in error backtraces. DefName returns "" when unnamed.
type DefNamer interface {
	DefName(ref dag.DefRef) string
}

// DefPositioner is an optional interface of a Thread's Names: it gives
// the source positions of a definition's nodes (dag.DefPositions.Pos, as
// dag.Compile produced them), so that runtime errors say where they
// happened. It returns nil when it has none.
type DefPositioner interface {
	DefPositions(ref dag.DefRef) []syntax.Pos
}

// A Thread evaluates terms under a budget. Set the exported fields before
// the first Eval or Call; a zero budget field means the default in
// limits.go. Budgets are cumulative over all evaluations on the thread
// (Steps and MemoryUsed report what was spent), except MaxResultBytes,
// which applies to each result. A Thread is used by one goroutine at a
// time, except for Cancel, which any goroutine may call.
type Thread struct {
	// Name identifies the thread in logs.
	Name string
	// Loader resolves references to other definitions.
	Loader Loader
	// Host performs effects (here, at, await, channels, node data). With
	// no Host, effects fail with a runtime error.
	Host Host
	// Names names constructors and (if it is a DefNamer) definitions in
	// error messages.
	Names Namer
	// ExprPositions are the source positions of the nodes of the term
	// given to Eval, as dag.CompileExprPositions returns them; nil if
	// unknown.
	ExprPositions []syntax.Pos

	// Fuel is the maximum number of evaluation steps: one per
	// application, one per match arm tried, and more for builtins in
	// proportion to their work.
	Fuel int64
	// MaxMemory is the maximum number of bytes allocated (an estimate
	// counted at each allocation of a list, text, bytes, tuple,
	// constructor, closure, partial application or map node; never
	// reduced by garbage collection, so the count is deterministic).
	MaxMemory int64
	// MaxDepth bounds non-tail call nesting. A call counts 1 plus the
	// nesting of the expression it sits in, so that depth bounds the Go
	// stack actually used (see limits.go).
	MaxDepth int
	// MaxResultBytes bounds the estimated size of each value returned by
	// Eval or Call, and of each value Thread.ToWire encodes.
	MaxResultBytes int64
	// MaxPending bounds the listeners, timers and outstanding futures
	// (at', race, quorum, deliver) an evaluation has pending at once
	// (see DefaultMaxPending); past it the evaluation stops with a
	// "pending" *BudgetError.
	MaxPending int

	// CheckBuiltin, when set, is asked before a builtin runs for the
	// first time on this thread (however it is reached: named in code,
	// passed as a value, read from data or received from another node);
	// an error stops the evaluation with a *RuntimeError wrapping it, so
	// a denial (an error matching ErrDenied) reaches await! as
	// Err.Denied. Operators are asked about as their Op.* builtin. Nil
	// allows every builtin. The answers are remembered for the thread's
	// life, so set it before the first Eval or Call.
	CheckBuiltin func(name string) error
	// CheckDef, like CheckBuiltin, is asked before code first uses a
	// definition by reference (a reference in code, or a top-level
	// function received as a value); recursion within a definition block
	// is not asked about again. Nil allows every definition.
	CheckDef func(ref dag.DefRef) error

	// Trace, when set, receives Debug.trace's label and the value as
	// Show prints it (cut at a thousand bytes). Nil makes Debug.trace a
	// no-op. It does not change what the evaluation is charged, so
	// results and budgets are the same with and without it.
	Trace func(label, value string)

	ctx context.Context
	// ctxDone is ctx.Done(), asked for only once an effect blocks (done):
	// for most contexts Done makes a channel, which an evaluation that
	// never waits does without (check polls ctx.Err instead).
	ctxDone <-chan struct{}
	running int

	steps, checkAt, maxSteps int64
	// published is steps as of the last check, for a Meter (meter.go).
	published       atomic.Int64
	mem, maxMem     int64
	depth, maxDepth int
	maxDepthSeen    int

	// stack and frames are views of their arrays whose lengths are the
	// high-water marks of the evaluation in them: growStack and
	// growFrames lengthen them (within the array first), and every
	// write goes through them or a slice cut from them, so that
	// releaseStacks clears only what the evaluation used.
	stack []Value
	sp    int
	// frames[fp] is the innermost active call.
	frames []frame
	fp     int
	// stacks holds the pair taken from stackPool while it is out: an
	// outer evaluation takes it in start and gives it back, cleared,
	// when it ends (releaseStacks). Once the evaluation outgrows a
	// small array for a deep one, the small array waits in it (with its
	// high-water mark as its length) until then.
	stacks *evalStacks

	// A pending tail call: code in tail position leaves the callee and
	// its arguments (at stack[tcBase:tcBase+tcN]) here and returns nil.
	tcFn   Value
	tcBase int
	tcN    int

	globals map[*defCode]Value

	// at is the site of the call or failure in progress (see site in
	// compile.go); each frame keeps the site it was called from.
	at *site

	// What CheckBuiltin and CheckDef allowed (see guard.go).
	builtinOK []bool
	defOK     map[*defCode]bool
	unitOK    map[*codeUnit]bool
	// guardID names the thread in defCode.checked (0: not yet named);
	// defChecks counts the definitions' checks it ran (checkDef).
	guardID   uint64
	defChecks int

	// scratch: a thread that accounts nothing (FromWire, NewMap);
	// comparisons on it are bounded by maxCompareWork instead.
	scratch bool
	// polls counts Thread.poll calls, for the checks of inner loops.
	polls int
	// texts holds the buffers that Text ++ appends into in place
	// (builtins_text.go).
	texts textAppender
	// floats is the slab Floats made by arithmetic are boxed in
	// (value.go).
	floats []float64
	// retFp, retK and ret hand a tuple's elements from a function's
	// tail position to the match that called it (tupleRet, compile.go).
	retFp, retK int
	ret         [maxTupleRet]Value
	// rawFp, rawF and rawIsInt hand a number from a function's tail
	// position to the arithmetic that called it (raw_return.go).
	rawFp    int
	rawF     float64
	rawIsInt bool
	// foldK and foldF carry the key and the combining function from the
	// code of a fused fold's lambda to the fold (foldInsert).
	foldK, foldF Value
	// owned is the list the last in-place flip built for its argument
	// slot, which it may reverse in place next time (owned_list.go).
	owned *List
	// fregs and ftag hold let-bound numbers of call-free code
	// (raw_let.go).
	fregs [maxRawLets]float64
	ftag  [maxRawLets]uint8

	// What the evaluation in progress left pending (see pending.go), and
	// what to run when it ends (OnEnd).
	pending []pendingEffect
	onEnd   []func()

	cancelReason atomic.Pointer[string]
	cancelOnce   sync.Once
	cancelCh     chan struct{}
	cancelMu     sync.Mutex
}

// frame is one active call: its local slots (a window of the value
// stack), its closure's captured values, and its code.
type frame struct {
	slots []Value
	env   []Value
	fc    *funcCode
	// site is where the caller was when it made this call.
	site *site
}

// Steps reports the fuel spent so far.
func (th *Thread) Steps() int64 { return th.steps }

// MemoryUsed reports the bytes charged so far.
func (th *Thread) MemoryUsed() int64 { return th.mem }

// MemoryLimit reports the memory budget of the evaluation in progress.
func (th *Thread) MemoryLimit() int64 { return th.maxMem }

// MemoryLeft reports the bytes the evaluation in progress may still
// allocate (a Host reading a large value bounds its reads by it).
func (th *Thread) MemoryLeft() int64 { return th.maxMem - th.mem }

// MaxDepthSeen reports the deepest call nesting reached so far.
func (th *Thread) MaxDepthSeen() int { return th.maxDepthSeen }

// Context returns the context of the evaluation in progress (for Hosts).
func (th *Thread) Context() context.Context {
	if th.ctx == nil {
		return context.Background()
	}
	return th.ctx
}

// Cancel stops the evaluation in progress at its next check (within a
// few thousand steps, or at once if it is waiting on an effect) with a
// *CanceledError. Cancellation is permanent: later evaluations on the
// thread fail at once. It is safe to call from any goroutine, more than
// once; the first reason is kept.
func (th *Thread) Cancel(reason string) {
	th.cancelReason.CompareAndSwap(nil, &reason)
	th.canceledChan()
	th.cancelOnce.Do(func() { close(th.cancelCh) })
}

// canceledChan is closed by Cancel; blocking effects select on it.
func (th *Thread) canceledChan() <-chan struct{} {
	th.cancelMu.Lock()
	defer th.cancelMu.Unlock()
	if th.cancelCh == nil {
		th.cancelCh = make(chan struct{})
	}
	return th.cancelCh
}

// Eval evaluates a closed term (no free local variables, no Self).
func (th *Thread) Eval(ctx context.Context, t dag.Term) (Value, error) {
	fc, err := compileTop(t)
	if err != nil {
		return nil, err
	}
	return th.exec(ctx, func() Value {
		th.checkUnit(fc.unit)
		return th.run(&Closure{fc: fc}, th.sp, 0, 1)
	})
}

// Call applies fn to args. It may also be called re-entrantly by a Host
// or other Go code running inside an evaluation on this thread; a
// re-entrant call shares the thread's budgets and returns runtime errors
// as errors instead of unwinding the outer evaluation.
func (th *Thread) Call(ctx context.Context, fn Value, args ...Value) (Value, error) {
	return th.exec(ctx, func() Value {
		th.admit(fn)
		for _, a := range args {
			th.admit(a)
		}
		base := th.sp
		for _, a := range args {
			th.push(a)
		}
		return th.run(fn, base, len(args), 1)
	})
}

func (th *Thread) exec(ctx context.Context, f func() Value) (v Value, err error) {
	outer := th.running == 0
	if outer {
		th.start(ctx)
	}
	sp, fp, depth, at := th.sp, th.fp, th.depth, th.at
	retFp, retK, rawFp := th.retFp, th.retK, th.rawFp
	th.running++
	defer func() {
		th.running--
		if r := recover(); r != nil {
			err = th.recovered(r)
			v = nil
		}
		// Discard anything a failed or finished evaluation left behind.
		th.sp, th.fp, th.depth, th.tcFn, th.at = sp, fp, depth, nil, at
		th.retFp, th.retK, th.rawFp = retFp, retK, rawFp
		th.owned = nil
		if outer {
			// Release what the evaluation registered with its host and
			// left pending (listeners, timers), however it ended.
			th.end()
			th.ctx, th.ctxDone = nil, nil
			th.releaseStacks()
		}
	}()
	v = f()
	if outer {
		if size := valueSize(th, v, th.MaxResultBytesOrDefault()); size > th.MaxResultBytesOrDefault() {
			return nil, &BudgetError{Which: BudgetResult, Limit: th.MaxResultBytesOrDefault()}
		}
	}
	return v, nil
}

// MaxResultBytesOrDefault is MaxResultBytes, or the default when zero.
func (th *Thread) MaxResultBytesOrDefault() int64 {
	if th.MaxResultBytes > 0 {
		return th.MaxResultBytes
	}
	return DefaultMaxResultBytes
}

func (th *Thread) start(ctx context.Context) {
	if ctx == nil {
		ctx = context.Background()
	}
	th.ctx = ctx
	th.meterFrom(ctx)
	th.maxSteps = th.Fuel
	if th.maxSteps <= 0 {
		th.maxSteps = DefaultFuel
	}
	th.maxMem = th.MaxMemory
	if th.maxMem <= 0 {
		th.maxMem = DefaultMaxMemory
	}
	th.maxDepth = th.MaxDepth
	if th.maxDepth <= 0 {
		th.maxDepth = DefaultMaxDepth
	}
	th.checkAt = th.steps // check at once: the thread may be canceled already
	if th.stack == nil && th.frames == nil {
		s := stackPool.Get().(*evalStacks)
		th.stack, th.frames, th.stacks = s.stack[:0], s.frames[:0], s
		s.stack, s.frames = nil, nil
	}
}

// evalStacks is a value stack and a frame stack between evaluations.
// A node makes a thread per foreign evaluation, so a warm remote call
// would otherwise allocate both (3 KB) every time; an evaluation takes
// a pair from stackPool when it starts and puts it back when it ends.
//
// Only the outermost evaluation on a thread takes and gives back (exec's
// outer, th.running == 0): nested Calls, Force (at' here), and effects
// that wait (await on a listener, a timer, a future) all run while the
// outer evaluation is still on the Go stack, so the stacks are never in
// the pool while anything can use them. Nothing else keeps a slice of
// them: closures, partial applications, tuples and data copy what they
// take from the stack, and a builtin's argument slice is used only
// until it returns. Every slot an evaluation used is cleared before its
// arrays go back, so no value of one evaluation (another peer's) is
// visible from, or kept alive by, the next. Arrays in stackPool and
// deepStacks are all nil, and have length 0.
type evalStacks struct {
	stack  []Value
	frames []frame
	// While the pair is out, outStack and outFrames hold the arrays the
	// evaluation took from deepStacks and then outgrew (with their
	// high-water marks as lengths): its frames may use them until it
	// ends, and then they are cleared and go back, so that evaluations
	// deeper than what deepStacks holds do not use it up. tookStack and
	// tookFrames say the arrays the evaluation runs on came from
	// deepStacks. An evaluation takes at most one array of each kind.
	// Nil and false in the pool.
	outStack              []Value
	outFrames             []frame
	tookStack, tookFrames bool
}

// stackPool holds the stacks of evaluations that have ended. Small at
// first: most evaluations (remote calls of small thunks above all)
// never need more, and the stacks grow when one does. Arrays past
// maxIdleStack or maxIdleFrames never go in: the pool holds at most
// what the evaluations running at once used of small stacks, and the
// garbage collector empties it.
var stackPool = sync.Pool{New: func() any {
	return &evalStacks{stack: make([]Value, 0, 128), frames: make([]frame, 0, 16)}
}}

// deepStacks holds the arrays that deep evaluations grew, for the next
// ones: a node evaluating a 1,000-deep call chain per remote call would
// otherwise grow both stacks anew by doubling every time (over 300 KB).
// An evaluation takes (at most) one of each kind as it outgrows its
// small arrays (growStack, growFrames), and as it ends gives back what
// it took and the arrays it ends on if within the bounds, each cleared
// up to its high-water mark. Unlike stackPool it is not emptied by the
// collector, so it is bounded: at most maxDeepStacks arrays of each
// kind, of at most maxDeepStack slots and maxDeepFrames frames
// (limits.go).
var deepStacks struct {
	mu     sync.Mutex
	stacks [][]Value
	frames [][]frame
}

// stacksReleased, when set, sees the arrays an evaluation's end keeps
// for reuse, as they go back: the pair for stackPool (deep false), and
// the arrays for deepStacks (deep true; any may be nil). Tests check
// they come back cleared, and when.
var stacksReleased func(th *Thread, s *evalStacks, deep bool)

// takeDeepStack returns the biggest cleared value stack of deepStacks
// if it has room for need slots, or nil.
func takeDeepStack(need int) []Value {
	d := &deepStacks
	d.mu.Lock()
	defer d.mu.Unlock()
	var s []Value
	d.stacks, s = takeBiggest(d.stacks, need)
	return s
}

// takeDeepFrames is takeDeepStack for frame stacks.
func takeDeepFrames(need int) []frame {
	d := &deepStacks
	d.mu.Lock()
	defer d.mu.Unlock()
	var f []frame
	d.frames, f = takeBiggest(d.frames, need)
	return f
}

func takeBiggest[T any](kept [][]T, need int) ([][]T, []T) {
	big := -1
	for i := range kept {
		if cap(kept[i]) >= need && (big < 0 || cap(kept[i]) > cap(kept[big])) {
			big = i
		}
	}
	if big < 0 {
		return kept, nil
	}
	a := kept[big]
	last := len(kept) - 1
	kept[big] = kept[last]
	kept[last] = nil
	return kept[:last], a
}

// putDeep keeps the cleared arrays of s (any may be nil) in deepStacks.
// When it is full, an array replaces the smallest kept one if bigger, so
// that what is kept fits the deepest of the recent evaluations.
func putDeep(s evalStacks) {
	d := &deepStacks
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range [...][]Value{s.stack, s.outStack} {
		if a != nil {
			d.stacks = keepDeep(d.stacks, a)
		}
	}
	for _, a := range [...][]frame{s.frames, s.outFrames} {
		if a != nil {
			d.frames = keepDeep(d.frames, a)
		}
	}
}

func keepDeep[T any](kept [][]T, a []T) [][]T {
	if len(kept) < maxDeepStacks {
		if kept == nil {
			kept = make([][]T, 0, maxDeepStacks)
		}
		return append(kept, a[:0])
	}
	small := 0
	for i := range kept {
		if cap(kept[i]) < cap(kept[small]) {
			small = i
		}
	}
	if cap(a) > cap(kept[small]) {
		kept[small] = a[:0]
	}
	return kept
}

// releaseStacks gives the thread's stacks back as the outermost
// evaluation ends. Each array it ends on, cleared up to its high-water
// mark (the length of the thread's view of it), goes to stackPool if
// small, to deepStacks if within its bounds, or else to the garbage
// collector. The arrays it outgrew and parked in th.stacks (the pool's
// small ones, the deep ones it took) are cleared up to their own
// high-water marks and go back in the same way; other arrays it
// outgrew (those it made itself) are garbage already.
func (th *Thread) releaseStacks() {
	s, stack, frames := th.stacks, th.stack, th.frames
	th.stack, th.frames, th.stacks = nil, nil, nil
	if stack == nil && frames == nil && s == nil {
		return
	}
	clear(stack)
	clear(frames)
	if s == nil {
		// Stacks the thread grew outside an evaluation.
		s = new(evalStacks)
	}
	var deep evalStacks
	if cap(stack) <= maxIdleStack {
		s.stack = stack[:0]
	} else {
		if cap(stack) <= maxDeepStack {
			deep.stack = stack[:0]
		}
		clear(s.stack)
		s.stack = s.stack[:0]
	}
	if cap(frames) <= maxIdleFrames {
		s.frames = frames[:0]
	} else {
		if cap(frames) <= maxDeepFrames {
			deep.frames = frames[:0]
		}
		clear(s.frames)
		s.frames = s.frames[:0]
	}
	clear(s.outStack)
	clear(s.outFrames)
	deep.outStack, deep.outFrames = s.outStack[:0], s.outFrames[:0]
	s.outStack, s.outFrames = nil, nil
	s.tookStack, s.tookFrames = false, false
	if deep.stack != nil || deep.frames != nil || deep.outStack != nil || deep.outFrames != nil {
		if stacksReleased != nil {
			kept := deep // deep itself stays off the heap
			stacksReleased(th, &kept, true)
		}
		putDeep(deep)
	}
	if s.stack == nil || s.frames == nil {
		// No small array to keep: the pool makes new ones.
		return
	}
	if stacksReleased != nil {
		stacksReleased(th, s, false)
	}
	stackPool.Put(s)
}

// recovered turns a panic value into the error to return.
func (th *Thread) recovered(r any) error {
	switch e := r.(type) {
	case *RuntimeError:
		if e.Stack == nil {
			e.Stack = th.backtrace()
		}
		th.locate(e)
		return e
	case *BudgetError, *CanceledError, *MalformedError:
		return e.(error)
	case runtime.Error:
		// A Go runtime failure inside a builtin is a bug in the
		// interpreter; report it rather than take the node down.
		return th.locate(&RuntimeError{Msg: "internal error: " + e.Error(), Stack: th.backtrace()})
	case error:
		return th.locate(&RuntimeError{Msg: e.Error(), Stack: th.backtrace(), Err: e})
	}
	return th.locate(&RuntimeError{Msg: fmt.Sprint("internal error: ", r), Stack: th.backtrace()})
}

// locate fills in e's Frames and Pos from the active calls, once: an
// error caught and rethrown keeps where it first happened.
func (th *Thread) locate(e *RuntimeError) *RuntimeError {
	if e.Frames != nil {
		return e
	}
	e.Frames = []Frame{}
	at := th.at
	for i := th.fp; i >= 1 && i < len(th.frames) && len(e.Frames) < maxBacktrace; i-- {
		fc := th.frames[i].fc
		f := Frame{Name: th.defName(fc), Calls: 1, Node: -1}
		if fc != nil && at.placed() && (fc.owner == nil && fc.name != "" || sameOwner(at, fc.owner) && at.sent == unitSent(fc)) {
			// A builtin's frame is where it was called. Otherwise a
			// site left by code that has returned (sites are set
			// before calls and failures, not restored after) belongs
			// to another definition: no position rather than a wrong one.
			f.Pos = th.sitePos(at)
			f.Def, f.Node = at.owner, int(at.number())
			if at.sent != nil {
				f.Code, f.Node = at.sent.sum(), at.sent.node(at.term)
			}
		}
		at = th.frames[i].site
		if n := len(e.Frames); n > 0 && e.Frames[n-1].Name == f.Name && e.Frames[n-1].Pos == f.Pos && e.Frames[n-1].Node == f.Node {
			e.Frames[n-1].Calls++
			continue
		}
		e.Frames = append(e.Frames, f)
	}
	// The evaluated expression itself says nothing when it has no
	// position and something inside it failed.
	if n := len(e.Frames); n > 1 && e.Frames[n-1].Name == "<expr>" && e.Frames[n-1].Pos.Line == 0 {
		e.Frames = e.Frames[:n-1]
	}
	if len(e.Frames) > 0 {
		e.Pos = e.Frames[0].Pos
	}
	return e
}

func sameOwner(s *site, owner *dag.DefRef) bool {
	if s == nil {
		return false
	}
	if s.owner == nil || owner == nil {
		return s.owner == owner
	}
	return *s.owner == *owner
}

// sitePos is the source position of a site, or the zero Pos.
func (th *Thread) sitePos(s *site) syntax.Pos {
	if s == nil || s.sent != nil {
		return syntax.Pos{}
	}
	var table []syntax.Pos
	if s.owner == nil {
		table = th.ExprPositions
	} else if dp, ok := th.Names.(DefPositioner); ok {
		table = dp.DefPositions(*s.owner)
	}
	if n := s.number(); n >= 0 && int(n) < len(table) {
		return table[n]
	}
	return syntax.Pos{}
}

const maxBacktrace = 50

// backtrace names the active calls, innermost first, collapsing runs of
// the same definition.
func (th *Thread) backtrace() []string {
	out := []string{}
	last, count := "", 0
	flush := func() {
		if count == 0 {
			return
		}
		if count > 1 {
			last += " (" + strconv.Itoa(count) + " calls)"
		}
		out = append(out, last)
	}
	for i := th.fp; i >= 1 && i < len(th.frames) && len(out) < maxBacktrace; i-- {
		name := th.defName(th.frames[i].fc)
		if name == last {
			count++
			continue
		}
		flush()
		last, count = name, 1
	}
	flush()
	return out
}

func (th *Thread) defName(fc *funcCode) string {
	if fc == nil {
		return "<expr>"
	}
	name := "<expr>"
	switch {
	case fc.owner == nil && fc.name != "":
		return fc.name
	case fc.owner != nil:
		name = fc.owner.String()
		if dn, ok := th.Names.(DefNamer); ok {
			if n := dn.DefName(*fc.owner); n != "" {
				name = n
			}
		}
	}
	// Code written inside a definition is not the definition: say so,
	// rather than count a lambda as another call of its owner.
	switch fc.term.(type) {
	case *dag.Lam:
		if !fc.isDef {
			return "lambda in " + name
		}
	case *dag.Delay:
		return "thunk in " + name
	}
	return name
}

// currentDef names the innermost active definition.
func (th *Thread) currentDef() string {
	if th.fp >= 1 && th.fp < len(th.frames) {
		return th.defName(th.frames[th.fp].fc)
	}
	return "<expr>"
}

// fail raises a runtime error.
func (th *Thread) fail(format string, args ...any) {
	panic(&RuntimeError{Msg: fmt.Sprintf(format, args...), Stack: th.backtrace()})
}

// failErr raises a runtime error with a cause.
func (th *Thread) failErr(err error, format string, args ...any) {
	panic(&RuntimeError{Msg: fmt.Sprintf(format, args...) + ": " + err.Error(), Stack: th.backtrace(), Err: err})
}

// step charges one unit of fuel.
func (th *Thread) step() {
	th.steps++
	if th.steps >= th.checkAt {
		th.check()
	}
}

// charge charges n units of fuel.
func (th *Thread) charge(n int64) {
	th.steps += n
	if th.steps >= th.checkAt {
		th.check()
	}
}

// poll checks cancellation and the deadline every pollInterval calls:
// builtins call it in inner loops whose fuel they charged up front, so
// that no builtin runs long after a Cancel or past the deadline.
func (th *Thread) poll() {
	th.polls++
	if th.polls&(pollInterval-1) == 0 {
		th.check()
	}
}

// checkHook, when set, runs at the start of every check. Tests use it to
// cancel an evaluation at a chosen check, from inside a builtin.
var checkHook func(th *Thread)

// check runs every checkInterval steps: fuel, cancellation, deadline.
func (th *Thread) check() {
	if checkHook != nil {
		checkHook(th)
	}
	if th.steps > th.maxSteps {
		panic(&BudgetError{Which: BudgetFuel, Limit: th.maxSteps})
	}
	if r := th.cancelReason.Load(); r != nil {
		panic(&CanceledError{Reason: *r})
	}
	if th.ctx != nil && th.ctx.Err() != nil {
		panic(th.ctxError())
	}
	th.checkAt = min(th.steps+checkInterval, th.maxSteps+1)
	th.published.Store(th.steps)
}

// done is the context's Done channel, for effects that block (nil
// outside an evaluation: nothing to wait for).
func (th *Thread) done() <-chan struct{} {
	if th.ctxDone == nil && th.ctx != nil {
		th.ctxDone = th.ctx.Done()
	}
	return th.ctxDone
}

func (th *Thread) ctxError() error {
	err := th.ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return &BudgetError{Which: BudgetTime}
	}
	return &CanceledError{Reason: err.Error(), Err: err}
}

// alloc charges n bytes of memory.
func (th *Thread) alloc(n int64) {
	th.mem += n
	if th.mem > th.maxMem {
		panic(&BudgetError{Which: BudgetMemory, Limit: th.maxMem})
	}
}

// checkAlloc fails if n more bytes would exceed the memory budget,
// without charging them (for overflow-safe checks before big
// allocations).
func (th *Thread) checkAlloc(n int64) {
	if n < 0 || n > th.maxMem-th.mem {
		panic(&BudgetError{Which: BudgetMemory, Limit: th.maxMem})
	}
}

// checkCount fails if count items of size bytes cannot fit the memory
// budget; it is safe against overflow for any count.
func (th *Thread) checkCount(count int64, size int64) {
	if count < 0 || (count > 0 && count > (th.maxMem-th.mem)/size) {
		panic(&BudgetError{Which: BudgetMemory, Limit: th.maxMem})
	}
}

func (th *Thread) push(v Value) {
	if th.sp >= len(th.stack) {
		th.growStack(th.sp + 1)
	}
	th.stack[th.sp] = v
	th.sp++
}

// growStack makes room for need slots on the value stack. Within the
// array's capacity it lengthens the view of it, which is the
// evaluation's high-water mark, by an eighth (or to need), so that the
// mark stays close to what the evaluation used; past it, it moves the
// stack to a bigger array: a small one up to maxIdleStack, past that one
// of deepStacks if one is free and big enough. Active frames keep slices
// of the old array for their own slots, which only they use; all other
// stack accesses go through th.stack.
func (th *Thread) growStack(need int) {
	old := th.stack
	want := max(need+64, len(old)+len(old)/8)
	if need <= cap(old) {
		th.stack = old[:min(want, cap(old))]
		return
	}
	var pk parking[Value]
	if ps := th.stacks; ps != nil {
		pk = parking[Value]{&ps.stack, &ps.outStack, &ps.tookStack, takeDeepStack}
	}
	th.stack = grownArray(old, old[:th.sp], need, want, need+256, maxIdleStack, pk)
}

// growFrames makes room for frame fp, like growStack.
func (th *Thread) growFrames() {
	old := th.frames
	need := th.fp + 1
	want := max(need+16, len(old)+len(old)/8)
	if need <= cap(old) {
		th.frames = old[:min(want, cap(old))]
		return
	}
	var pk parking[frame]
	if ps := th.stacks; ps != nil {
		pk = parking[frame]{&ps.frames, &ps.outFrames, &ps.tookFrames, takeDeepFrames}
	}
	th.frames = grownArray(old, old, need, want, need+16, maxIdleFrames, pk)
}

// parking is where grownArray parks a thread's arrays of one kind and
// takes deep ones (the fields of its evalStacks, see there); the zero
// parking, for a thread without evalStacks, parks nothing.
type parking[T any] struct {
	idle, out *[]T
	took      *bool
	take      func(need int) []T
}

// grownArray is growStack's and growFrames' array past old's capacity:
// room for need elements, want of them in use, live (old's elements in
// use) copied in. An array growing past maxIdle parks old if it is to
// be kept and takes a deep one when it leaves the small ones; one that
// has to be made doubles old's capacity, to floor at least, and stays
// within maxIdle while need does.
func grownArray[T any](old, live []T, need, want, floor, maxIdle int, pk parking[T]) []T {
	var s []T
	if pk.take != nil && need > maxIdle {
		switch {
		case cap(old) <= maxIdle:
			*pk.idle = old
			s = pk.take(need)
			*pk.took = s != nil
		case *pk.took:
			*pk.out, *pk.took = old, false
		}
	}
	if s == nil {
		n := max(2*cap(old), floor)
		if need <= maxIdle {
			n = min(n, maxIdle)
		}
		s = make([]T, 0, n)
	}
	s = s[:min(want, cap(s))]
	copy(s, live)
	return s
}

// run applies fn to the n arguments at stack[base:base+n] and returns the
// result, running tail calls in a loop. weight is the call's depth cost.
func (th *Thread) run(fn Value, base, n, weight int) Value {
	th.depth += weight
	if th.depth > th.maxDepth {
		panic(&BudgetError{Which: BudgetDepth, Limit: int64(th.maxDepth)})
	}
	if th.depth > th.maxDepthSeen {
		th.maxDepthSeen = th.depth
	}
	th.fp++
	if th.fp >= len(th.frames) {
		th.growFrames()
	}
	th.frames[th.fp].site = th.at
	for {
		th.steps++
		if th.steps >= th.checkAt {
			th.check()
		}
		if c, ok := fn.(*Closure); ok && c.fc.arity == n {
			fc := c.fc
			top := base + fc.nslots
			if top > len(th.stack) {
				th.growStack(top)
			}
			fr := &th.frames[th.fp]
			fr.slots = th.stack[base:top:top]
			fr.env = c.env
			fr.fc = fc
			th.sp = top
			if v := fc.body(th, fr); v != nil {
				th.sp = base
				th.fp--
				th.depth -= weight
				return v
			}
			fn, n = th.tcFn, th.tcN
			th.tcFn = nil
			copy(th.stack[base:base+n], th.stack[th.tcBase:th.tcBase+n])
			continue
		}
		if v := th.applyOther(&fn, base, &n); v != nil {
			th.sp = base
			th.fp--
			th.depth -= weight
			return v
		}
	}
}

// applyOther handles every application but a closure given exactly its
// arity. It returns the result, or nil after rewriting fn and n (and the
// arguments at base) for another round of run's loop.
func (th *Thread) applyOther(fn *Value, base int, n *int) Value {
	args := th.stack[base : base+*n]
	switch f := (*fn).(type) {
	case *Closure:
		a := f.fc.arity
		switch {
		case *n == 0:
			th.fail("cannot force a function of arity %d (apply it instead)", a)
		case a == 0:
			th.fail("cannot apply a thunk to arguments (force it with ! first)")
		case *n < a:
			return th.partial(f, args)
		}
		return th.overApply(fn, base, n, a)
	case *Builtin:
		a := f.desc.arity
		switch {
		case *n == a:
			th.guard(f.desc)
			th.sp = base + a
			th.frames[th.fp].fc = f.desc.frame
			if f.desc.extraDepth == 0 {
				return f.desc.fn(th, args)
			}
			th.depth += f.desc.extraDepth
			v := f.desc.fn(th, args)
			th.depth -= f.desc.extraDepth
			return v
		case *n == 0:
			th.fail("cannot force the function %s (apply it instead)", f.desc.name)
		case *n < a:
			return th.partial(f, args)
		}
		return th.overApply(fn, base, n, a)
	case *CtorFn:
		a := f.ctor.arity
		switch {
		case *n == a:
			return th.newData(f.ctor, args)
		case *n == 0:
			th.fail("cannot force a constructor function (apply it instead)")
		case *n < a:
			return th.partial(f, args)
		}
		return th.overApply(fn, base, n, a)
	case *Partial:
		if *n == 0 {
			th.fail("cannot force a partially applied function (apply it instead)")
		}
		k := len(f.Args)
		if base+k+*n > len(th.stack) {
			th.growStack(base + k + *n)
		}
		copy(th.stack[base+k:], th.stack[base:base+*n])
		copy(th.stack[base:], f.Args)
		*n += k
		th.sp = base + *n
		*fn = f.Fn
		return nil
	case *DefFn:
		th.guardDef(f.dc)
		*fn = th.defValue(f.dc)
		return nil
	case nil:
		panic(&RuntimeError{Msg: "internal error: nil function value"})
	}
	if *n == 0 {
		th.fail("cannot force %s (only thunks can be forced)", describe(*fn))
	}
	th.fail("cannot apply %s to arguments", describe(*fn))
	return nil
}

// overApply applies *fn to its first a arguments, then leaves the result
// and the remaining arguments for run's loop.
func (th *Thread) overApply(fn *Value, base int, n *int, a int) Value {
	extra := append([]Value(nil), th.stack[base+a:base+*n]...)
	th.sp = base + a
	at := th.at
	r := th.run(*fn, base, a, 1)
	th.at = at // the call's site, not what ran inside it
	if !isFunction(r) {
		// Say which function got too many arguments, not that its
		// result is not a function (issue 13).
		th.fail("%s takes %d argument%s but is given %d (its result, %s, is not a function)",
			th.funcName(*fn), a, plural(a), *n, describe(r))
	}
	if base+len(extra) > len(th.stack) {
		th.growStack(base + len(extra))
	}
	copy(th.stack[base:], extra)
	th.sp = base + len(extra)
	*fn, *n = r, len(extra)
	return nil
}

func (th *Thread) partial(fn Value, args []Value) Value {
	th.alloc(sizePartial + int64(len(args))*sizeSlot)
	switch len(args) {
	case 1:
		// One object for the partial and its argument (List.map (f x)).
		x := &struct {
			p Partial
			a [1]Value
		}{}
		x.a[0] = args[0]
		x.p.Fn, x.p.Args = fn, x.a[:]
		return &x.p
	case 2:
		x := &struct {
			p Partial
			a [2]Value
		}{}
		x.a[0], x.a[1] = args[0], args[1]
		x.p.Fn, x.p.Args = fn, x.a[:]
		return &x.p
	}
	return &Partial{Fn: fn, Args: append([]Value(nil), args...)}
}

func (th *Thread) newData(c *ctorDesc, fields []Value) Value {
	switch len(fields) {
	case 0:
		return c.nullary
	case 1:
		th.alloc(sizeData + sizeSlot)
		return newData1(c, fields[0])
	case 2:
		th.alloc(sizeData + 2*sizeSlot)
		return newData2(c, fields[0], fields[1])
	}
	th.alloc(sizeData + int64(len(fields))*sizeSlot)
	x := newDataN(c, len(fields))
	copy(x.Fields, fields)
	return x
}

// call applies fn to args from Go code (builtins): a non-tail call. The
// site is put back afterwards, so that a builtin failing after it called
// back into the language is reported at its own call, not inside the
// function it was given.
func (th *Thread) call(fn Value, args ...Value) Value {
	base, at := th.sp, th.at
	for _, a := range args {
		th.push(a)
	}
	v := th.run(fn, base, len(args), 1)
	th.at = at
	return v
}

func (th *Thread) call1(fn, a Value) Value {
	base, at := th.sp, th.at
	th.push(a)
	v := th.run(fn, base, 1, 1)
	th.at = at
	return v
}

func (th *Thread) call2(fn, a, b Value) Value {
	base, at := th.sp, th.at
	th.push(a)
	th.push(b)
	v := th.run(fn, base, 2, 1)
	th.at = at
	return v
}

func (th *Thread) call3(fn, a, b, c Value) Value {
	base, at := th.sp, th.at
	th.push(a)
	th.push(b)
	th.push(c)
	v := th.run(fn, base, 3, 1)
	th.at = at
	return v
}

// callCatch forces thunk like a nested Call: runtime errors come back as
// errors; budget exhaustion and cancellation keep unwinding.
func (th *Thread) callCatch(fn Value, args ...Value) (v Value, err error) {
	sp, fp, depth, at := th.sp, th.fp, th.depth, th.at
	retFp, retK, rawFp := th.retFp, th.retK, th.rawFp
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case *RuntimeError:
				if e.Stack == nil {
					e.Stack = th.backtrace()
				}
				err = th.locate(e)
			case *MalformedError:
				err = e
			default:
				panic(r)
			}
			th.sp, th.fp, th.depth, th.tcFn, th.at = sp, fp, depth, nil, at
			th.retFp, th.retK, th.rawFp = retFp, retK, rawFp
			th.owned = nil
		}
	}()
	return th.call(fn, args...), nil
}

// funcName names a function value for error messages.
func (th *Thread) funcName(v Value) string {
	switch f := v.(type) {
	case *Closure:
		return th.defName(f.fc)
	case *Builtin:
		return f.desc.name
	case *CtorFn:
		return "the constructor " + ctorName(f.ctor, th.Names)
	case *Partial:
		return th.funcName(f.Fn)
	case *DefFn:
		return th.refName(f.dc.ref)
	}
	return describe(v)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
