package eval

import (
	"crypto/sha256"
	"errors"
	"strconv"
	"sync"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval/syntax"
)

// Remote runtime errors in the caller's source (issue 13). Code sent
// with at runs on a node that has its blocks but not its source: the
// positions of what the caller wrote are in the caller's side table
// (dag.DefPositions), keyed by definition. So the callee reports where a
// failure happened as frames (Frame.Def and Node for a definition it
// ran, Frame.Code and Node for code it was sent as a closure), and the
// caller's await or at turns them into names and positions of its own
// source before raising the error, as if the calls had run here:
//
//	prog.u:1:9: at 12D3…x7Qa: cannot apply + to an Int and a Text
//		in h at prog.u:1:9 (at 12D3…x7Qa)
//		in thunk in main at prog.u:4:22 (at 12D3…x7Qa)
//		in main at prog.u:4:8

// SentCodeDigestLen is the length of a SentCodeDigest.
const SentCodeDigestLen = 16

// SentCodeDigest identifies code sent as a closure: the first
// SentCodeDigestLen bytes of the SHA-256 of dag.EncodeTerm of the
// closure's code as sent (the *dag.Lam or *dag.Delay of a
// dag.VClosure). Sender and receiver compute it from the same term; nil
// if the term does not encode.
func SentCodeDigest(code dag.Term) []byte {
	b, err := dag.EncodeTerm(code)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(b)
	return h[:SentCodeDigestLen]
}

// sentCode is a unit of code this node was sent (a closure's code from
// the wire): it has no definition and no source here. Its sites record
// the term that can fail and its node number is worked out only when a
// runtime error needs it, so code from the wire compiles as fast as
// before.
type sentCode struct {
	root dag.Term

	once   sync.Once
	digest []byte
	index  map[dag.Term]int
}

func (s *sentCode) init() {
	s.once.Do(func() {
		s.digest = SentCodeDigest(s.root)
		s.index = map[dag.Term]int{}
		n := 0
		dag.Preorder(s.root, func(t dag.Term) {
			if _, dup := s.index[t]; !dup {
				s.index[t] = n
			}
			n++
		})
	})
}

// node is t's number in dag.Preorder of the code, or -1.
func (s *sentCode) node(t dag.Term) int {
	s.init()
	if n, ok := s.index[t]; ok {
		return n
	}
	return -1
}

func (s *sentCode) sum() []byte {
	s.init()
	return s.digest
}

// unitSent is the sent code fc is part of, or nil.
func unitSent(fc *funcCode) *sentCode {
	if fc == nil || fc.unit == nil {
		return nil
	}
	return fc.unit.sent
}

// RemoteRuntimeError is implemented by the error of a remote evaluation
// that failed with a runtime error in the program (p2p.CallError):
// RemoteRuntime gives the error's message (without position or stack),
// its frames as the callee reported them (innermost first, in the
// callee's terms: Def and Node, or Code and Node) and the callee's peer
// ID; ok is false for other failures (a timeout, a denial, ...).
type RemoteRuntimeError interface {
	error
	RemoteRuntime() (msg string, frames []Frame, peer string, ok bool)
}

// ShortPeer abbreviates a peer ID for messages: its first 4 and last 8
// characters.
func ShortPeer(id string) string {
	if len(id) > 16 {
		return id[:4] + "…" + id[len(id)-8:]
	}
	return id
}

// remoteFailure is the runtime error await and at raise for f when the
// evaluation failed at another node with a runtime error that reported
// its frames: the callee's frames, relocated into this node's source
// where they ran code it sent (f.sent) or definitions it has positions
// for, then this thread's own calls. Nil when f did not fail that way.
func (th *Thread) remoteFailure(f *Future) *RuntimeError {
	var rr RemoteRuntimeError
	if f.cause == nil || !errors.As(f.cause, &rr) {
		return nil
	}
	msg, frames, peer, ok := rr.RemoteRuntime()
	if !ok || len(frames) == 0 {
		return nil
	}
	remote := th.relocateSent(frames, th.sentTargets(f.sent), peer)
	local := th.locate(&RuntimeError{})
	return remoteError(msg, peer, append(remote, local.Frames...), f.cause)
}

// RemoteExprError is the runtime error for the evaluation of the closed
// term t at another node, sent as the thunk &dag.VClosure{Code:
// &dag.Delay{Body: t}}, that failed with cause, a runtime error with
// frames (an eval.RemoteRuntimeError): its frames in this node's source,
// named by names (a DefNamer, a DefPositioner for positions in
// definitions), pos giving the positions of t's nodes
// (dag.CompileExprPositions; nil if unknown). Nil when cause is not such
// an error.
func RemoteExprError(cause error, t dag.Term, pos []syntax.Pos, names Namer) *RuntimeError {
	var rr RemoteRuntimeError
	if cause == nil || !errors.As(cause, &rr) {
		return nil
	}
	msg, frames, peer, ok := rr.RemoteRuntime()
	if !ok || len(frames) == 0 {
		return nil
	}
	th := &Thread{Names: names, ExprPositions: pos}
	targets := map[string]sentTarget{}
	if d := SentCodeDigest(&dag.Delay{Body: t}); d != nil {
		// Node 0 of the code is the Delay, node 1 is t's root.
		targets[string(d)] = sentTarget{base: -1, name: "<expr>", whole: true}
	}
	rel := th.relocateSent(frames, targets, peer)
	// The thunk around the expression says nothing when it has no
	// position (a definition named alone, as unode run --at sends main).
	if n := len(rel); n > 1 && rel[n-1].Pos.Line == 0 && (rel[n-1].Name == "thunk in <expr>" || rel[n-1].Name == "<expr>") {
		rel = rel[:n-1]
	}
	return remoteError(msg, peer, rel, cause)
}

func remoteError(msg, peer string, frames []Frame, cause error) *RuntimeError {
	e := &RuntimeError{Msg: "at " + ShortPeer(peer) + ": " + msg, Frames: frames, Err: cause}
	if len(e.Frames) > maxBacktrace {
		e.Frames = e.Frames[:maxBacktrace]
	}
	e.Stack = make([]string, len(e.Frames))
	for i, fr := range e.Frames {
		e.Stack[i] = fr.Name
		if fr.Calls > 1 {
			e.Stack[i] += " (" + strconv.Itoa(fr.Calls) + " calls)"
		}
	}
	// Where the failure is in this node's source: the innermost frame
	// whose position is known here.
	for _, fr := range e.Frames {
		if fr.Pos.Line != 0 {
			e.Pos = fr.Pos
			break
		}
	}
	return e
}

// maxSentWalk bounds the values sentTargets looks through for the
// closures a future's thunk carried (its environment, and theirs).
const maxSentWalk = 4096

// sentTarget is where code this node sent came from: the definition
// (owner) or expression it was written in, the number base of its root
// there, or the code this node was sent in turn (sent).
type sentTarget struct {
	owner *dag.DefRef
	base  int
	sent  *sentCode
	name  string // the definition's or expression's name here
	// whole: the code is the whole expression, wrapped in a Delay.
	whole bool
}

// sentTargets finds the closures in sent (a thunk, and the closures in
// its environment, and theirs) by the digest of their code as sent.
func (th *Thread) sentTargets(sent Value) map[string]sentTarget {
	out := map[string]sentTarget{}
	walked := 0
	var walk func(v Value)
	walk = func(v Value) {
		if walked >= maxSentWalk {
			return
		}
		walked++
		switch x := v.(type) {
		case *Closure:
			if x.fc.isDef && len(x.env) == 0 {
				return // sent as a reference to the definition
			}
			if code, err := x.fc.wireCode(); err == nil {
				if d := SentCodeDigest(code); d != nil {
					if _, seen := out[string(d)]; seen {
						return
					}
					t := sentTarget{owner: x.fc.owner, base: int(x.fc.node), sent: unitSent(x.fc), name: th.unitName(x.fc)}
					if t.sent != nil {
						t.base = t.sent.node(x.fc.term)
					}
					out[string(d)] = t
				}
			}
			for _, e := range x.env {
				walk(e)
			}
		case *Partial:
			walk(x.Fn)
			for _, a := range x.Args {
				walk(a)
			}
		case *Tuple:
			for _, e := range x.Elems {
				walk(e)
			}
		case *Data:
			for _, e := range x.Fields {
				walk(e)
			}
		}
	}
	if sent != nil {
		walk(sent)
	}
	return out
}

// relocateSent returns a copy of frames (reported by peer) with what this
// node knows filled in: a frame in code it sent (Code, found in targets)
// becomes a frame of the definition or expression that code was written
// in, with its name and position here; a frame of a definition (Def)
// gets the name and position this node's Names give it. The rest keep
// what the callee said.
func (th *Thread) relocateSent(frames []Frame, targets map[string]sentTarget, peer string) []Frame {
	dn, _ := th.Names.(DefNamer)
	dp, _ := th.Names.(DefPositioner)
	out := make([]Frame, len(frames))
	for i, f := range frames {
		if f.Peer == "" {
			f.Peer = peer
		}
		switch {
		case f.Code != nil:
			t, ok := targets[string(f.Code)]
			if !ok {
				break
			}
			if f.Node < 0 || t.base < -1 || t.base == -1 && !t.whole {
				f.Node = -1
			} else {
				f.Node += t.base
			}
			if t.whole && f.Name == "thunk in <expr>" {
				f.Name = t.name
			} else {
				f.Name = relocatedName(f.Name, "<expr>", t.name)
			}
			f.Def, f.Code = t.owner, nil
			if t.sent != nil {
				// Code this node was sent in turn: its sender
				// relocates it further.
				f.Code = t.sent.sum()
			}
			f.Pos = th.positionIn(f.Def, f.Code, f.Node)
		case f.Def != nil:
			if dn != nil {
				if n := dn.DefName(*f.Def); n != "" {
					f.Name = relocatedName(f.Name, f.Def.String(), n)
				}
			}
			if dp != nil && f.Node >= 0 {
				if t := dp.DefPositions(*f.Def); f.Node < len(t) && t[f.Node].Line != 0 {
					f.Pos = t[f.Node]
				}
			}
		}
		out[i] = f
	}
	return out
}

// unitName names the definition or expression fc was compiled in.
func (th *Thread) unitName(fc *funcCode) string {
	if fc.owner == nil {
		return "<expr>"
	}
	if dn, ok := th.Names.(DefNamer); ok {
		if n := dn.DefName(*fc.owner); n != "" {
			return n
		}
	}
	return fc.owner.String()
}

// positionIn is the position here of node n of a definition (def), of
// the evaluated expression (def and code nil) or none (sent code).
func (th *Thread) positionIn(def *dag.DefRef, code []byte, n int) syntax.Pos {
	if n < 0 || code != nil {
		return syntax.Pos{}
	}
	var table []syntax.Pos
	if def == nil {
		table = th.ExprPositions
	} else if dp, ok := th.Names.(DefPositioner); ok {
		table = dp.DefPositions(*def)
	}
	if n < len(table) {
		return table[n]
	}
	return syntax.Pos{}
}
