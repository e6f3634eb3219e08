package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// leakSource is private code at the victim whose values carry its code
// inline: the thunk leakAt sends with at, the lambda leakChan delivers
// on a channel, the thunk mkThunk returns.
const leakSource = `mkSecret k = (y -> y * 17 + k)
leakAt n = at n '((mkSecret 1) 2)
leakChan n c = deliver n c (y -> y * 17)
mkThunk k = '(k * 17)
`

// Attack: a stranger claims the victim's StoreID (public: status gives
// it to anyone), with no proof, with the proof a real sharer of the
// store sends to everyone it talks to (replayed), or with a proof of its
// own secret; in its status (both directions), in eval requests, or only
// in result replies. The victim must treat it as a stranger: a foreign
// caller's at or deliver to it with a closure of the victim's private
// code is refused, and its own request for such a closure too. Before
// store proofs, each claim made the victim skip checkShareableCode, and
// the closure's code went to the stranger inline. A real sharer (a node
// on the same datastore; a member of the same group) still is one. The
// victim is a node on a datastore shared with another node, and a
// member of a Shared group.
func TestStoreIDClaimAttack(t *testing.T) {
	for _, victimKind := range []string{"datastore", "group"} {
		t.Run(victimKind, func(t *testing.T) {
			ctx := testCtx(t)
			var victim, sharer *Node
			switch victimKind {
			case "datastore":
				ds := memDatastore()
				victim = newOpenNode(t, WithDatastore(ds))
				sharer = newOpenNode(t, WithDatastore(ds))
			case "group":
				g, err := NewShared(ctx, memDatastore(), SharedConfig{Nodes: 2})
				if err != nil {
					t.Fatal(err)
				}
				victim = newSharedNode(t, g, WithPolicy(openPolicy()))
				sharer = newSharedNode(t, g, WithPolicy(openPolicy()))
				t.Cleanup(func() { victim.Close(); sharer.Close(); g.Close() })
			}
			addSource(t, victim, leakSource)
			lookup := func(name string) *dag.Ref {
				ref, ok, err := victim.store.LookupName(ctx, name)
				if err != nil || !ok {
					t.Fatalf("%s: %v", name, err)
				}
				return &dag.Ref{Def: ref.Def}
			}
			mkThunk, leakAt, leakChan := lookup("mkThunk"), lookup("leakAt"), lookup("leakChan")
			foreign := newTestNode(t) // a stranger running code at the victim
			connectAll(t, foreign, victim)

			// The control: the real sharer gets the code, as it may.
			connectAll(t, victim, sharer)
			if r, _ := victim.peers.lookup(sharer.ID()); r == nil || !r.sameStore() {
				t.Fatal("the victim does not take its real sharer for one")
			}
			if v, err := leakAtVia(ctx, foreign, victim, sharer, leakAt); err != nil || show(v) != "35" {
				t.Fatalf("at the real sharer: %v, %v; want 35", v, err)
			}
			if res, err := sharer.EvalTermAt(ctx, victim.ID().String(), &dag.App{Fn: mkThunk, Args: []dag.Term{&dag.Int{V: 1}}}, Budget{}); err != nil {
				t.Fatalf("the real sharer asking for the thunk: %v", err)
			} else if show(res.Value) != "<function>" {
				t.Fatalf("the real sharer got %s, want the thunk", show(res.Value))
			}

			proofs := map[string]func(s *Node) []byte{
				"no proof": func(*Node) []byte { return nil },
				// What the sharer sends in every status, request and
				// result, to any peer.
				"replayed proof": func(*Node) []byte { return sharer.storeProof },
				"own secret": func(s *Node) []byte {
					k, err := s.store.StoreSecret(ctx)
					if err != nil {
						t.Fatal(err)
					}
					return k.Prove([]byte(s.ID()))
				},
				"random proof": func(*Node) []byte {
					p := make([]byte, StoreProofLen)
					rand.Read(p)
					return p
				},
			}
			claims := map[string]func(s *Node){
				"status": func(s *Node) {
					connectAll(t, s, victim) // s opens: the victim's handler reads s's claim
					st, err := victim.Status(ctx, s.ID())
					if err != nil {
						t.Fatal(err)
					}
					if st.Store != victim.StoreID() || st.SameStore {
						t.Errorf("Status = %+v; want the claimed StoreID, not the same store", st)
					}
				},
				"eval request": func(s *Node) {
					if _, err := s.EvalAt(ctx, victim.Addrs()[0].String(), "1 + 1", Budget{}); err != nil {
						t.Fatal(err)
					}
				},
				"result reply": func(s *Node) {
					if _, err := victim.EvalAt(ctx, s.Addrs()[0].String(), "1 + 1", Budget{}); err != nil {
						t.Fatal(err)
					}
				},
			}
			for proofName, proof := range proofs {
				for claimName, claim := range claims {
					t.Run(claimName+"/"+proofName, func(t *testing.T) {
						s := newOpenNode(t)
						// Before s talks to anyone: its status, requests
						// and replies now claim the victim's store.
						s.storeID, s.storeProof = victim.storeID, proof(s)
						claim(s)
						r, ok := victim.peers.lookup(s.ID())
						if !ok || r.store() != victim.StoreID() {
							t.Fatalf("the victim did not see the claim (record %v)", ok)
						}
						if r.sameStore() {
							t.Error("the victim takes the stranger for a sharer of its store")
						}
						served := s.ForeignStats().Started

						v, err := leakAtVia(ctx, foreign, victim, s, leakAt)
						if !deniedPrivate(v, err) {
							t.Errorf("at the stranger with the victim's private closure: %s, %v; want a denial naming private code", show(v), err)
						}
						if got := s.ForeignStats().Started; got != served {
							t.Errorf("the stranger evaluated %d thunks from the victim", got-served)
						}

						ch := newChan(t, s)
						got := listenChan(t, s, ch)
						v, err = foreignCall(ctx, foreign, victim, &dag.App{Fn: &dag.Builtin{Name: "await!"}, Args: []dag.Term{
							&dag.App{Fn: leakChan, Args: []dag.Term{&dag.Var{Index: 1}, &dag.Var{Index: 0}}}}},
							&dag.VChannel{ID: ch.ID, Node: ch.Node}, &dag.VNode{ID: s.ID().String()})
						if !deniedPrivate(v, err) {
							t.Errorf("deliver to the stranger of the victim's private closure: %s, %v; want a denial naming private code", show(v), err)
						}
						if _, _, ok := got.Result(); ok {
							t.Error("the victim's private closure reached the stranger's channel")
						}

						res, err := s.EvalTermAt(ctx, victim.ID().String(), &dag.App{Fn: mkThunk, Args: []dag.Term{&dag.Int{V: 1}}}, Budget{})
						if err == nil || !strings.Contains(err.Error(), "private to this node") {
							var got string
							if res != nil {
								got = show(res.Value)
							}
							t.Errorf("the stranger asking for the private closure: %s, %v; want it refused as private", got, err)
						}
					})
				}
			}
		})
	}
}

// leakAtVia has from call (at victim) the victim's leakAt with target
// as its argument: the victim's at sends target a closure of its
// private code, on from's behalf.
func leakAtVia(ctx context.Context, from, victim, target *Node, leakAt *dag.Ref) (eval.Value, error) {
	return foreignCall(ctx, from, victim, &dag.App{Fn: leakAt, Args: []dag.Term{&dag.Var{Index: 0}}}, &dag.VNode{ID: target.ID().String()})
}

// foreignCall evaluates body, with env, at victim on from's behalf.
func foreignCall(ctx context.Context, from, victim *Node, body dag.Term, env ...dag.Value) (eval.Value, error) {
	thunk := &dag.VClosure{Code: &dag.Delay{Body: body}, Env: env}
	res, err := from.callThunk(ctx, victim.ID(), nil, thunk, Budget{})
	if err != nil {
		return nil, err
	}
	return res.value, nil
}

// deniedPrivate reports whether a call was refused for carrying private
// code (as an error, or as an error value the evaluation returned).
func deniedPrivate(v eval.Value, err error) bool {
	text := fmt.Sprint(err)
	if v != nil {
		text = show(v)
	}
	return strings.Contains(text, "private")
}

// A store proof has one form on the wire: 32 bytes, with a StoreID.
func TestStoreProofForm(t *testing.T) {
	thunk := encodedThunk(t, &dag.Int{V: 1})
	proof := make([]byte, StoreProofLen)
	for _, c := range []struct {
		name   string
		decode func() error
		ok     bool
	}{
		{"request with proof", reqDecode(&EvalRequest{Thunk: thunk, Store: "s", StoreProof: proof}), true},
		{"request, short proof", reqDecode(&EvalRequest{Thunk: thunk, Store: "s", StoreProof: proof[:31]}), false},
		{"request, long proof", reqDecode(&EvalRequest{Thunk: thunk, Store: "s", StoreProof: append(proof, 0)}), false},
		{"request, proof without store", reqDecode(&EvalRequest{Thunk: thunk, StoreProof: proof}), false},
		{"status with proof", statusDecode(&StatusMessage{Version: 1, Store: "s", StoreProof: proof}), true},
		{"status, short proof", statusDecode(&StatusMessage{Version: 1, Store: "s", StoreProof: proof[:1]}), false},
		{"result with proof", replyDecode(&ResultReply{Value: thunk, Store: "s", StoreProof: proof}), true},
		{"result, proof without store", replyDecode(&ResultReply{Value: thunk, StoreProof: proof}), false},
	} {
		if err := c.decode(); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func reqDecode(r *EvalRequest) func() error {
	return func() error {
		b, err := EncodeEvalRequest(r)
		if err == nil {
			_, err = DecodeEvalRequest(b)
		}
		return err
	}
}

func statusDecode(m *StatusMessage) func() error {
	return func() error {
		b, err := EncodeStatusMessage(m)
		if err == nil {
			_, err = DecodeStatusMessage(b)
		}
		return err
	}
}

func replyDecode(r *ResultReply) func() error {
	return func() error {
		b, err := EncodeEvalReply(&EvalReply{Result: r})
		if err == nil {
			_, err = DecodeEvalReply(b)
		}
		return err
	}
}

// A peer's latest word decides: a sharer that later claims the store
// without a proof is a stranger again; a peer that names another store
// is one too.
func TestStoreProofLatestWordDecides(t *testing.T) {
	ctx := testCtx(t)
	ds := memDatastore()
	a, b := newTestNode(t, WithDatastore(ds)), newTestNode(t, WithDatastore(ds))
	connectAll(t, a, b)
	rec, _ := a.peers.lookup(b.ID())
	if !rec.sameStore() {
		t.Fatal("a sharer's status did not prove it")
	}
	b.storeProof = nil
	if _, err := a.Status(ctx, b.ID()); err != nil {
		t.Fatal(err)
	}
	if rec.sameStore() {
		t.Error("a claim without a proof kept the record proven")
	}
	b.storeProof = b.storeSecret.Prove([]byte(b.ID()))
	if _, err := a.Status(ctx, b.ID()); err != nil || !rec.sameStore() {
		t.Fatalf("a proof again: %v, same %v", err, rec.sameStore())
	}
	b.storeID = "elsewhere"
	if _, err := a.Status(ctx, b.ID()); err != nil || rec.sameStore() || rec.store() != "elsewhere" {
		t.Errorf("another StoreID: %v, same %v, store %q", err, rec.sameStore(), rec.store())
	}
}

// Calls between nodes of one process that share a store copy no block:
// in a group, and between nodes that share only the datastore (as two
// processes on one PostgreSQL store do, proving it with the store's
// secret), in both directions, with and without a status exchange
// first. Counted three ways: the blocks the nodes' sync code sends
// (sentHook), the block bytes on their eval streams, and the block
// writes that reach the datastore. The same counters see the blocks a
// node on its own store is sent, so they are not blind.
func TestSharedStoreCopiesNoBlocks(t *testing.T) {
	ctx := testCtx(t)
	ds := &countingDS{Batching: memDatastore()}
	g, err := NewShared(ctx, ds, SharedConfig{Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	m1, m2 := newSharedNode(t, g), newSharedNode(t, g)
	t.Cleanup(func() { m1.Close(); m2.Close(); g.Close() })
	p1, p2 := newTestNode(t, WithDatastore(ds)), newTestNode(t, WithDatastore(ds))
	outside := newTestNode(t)
	src := chainSource("k", 30)
	addSource(t, m1, src)
	ref, _, _ := m1.store.LookupName(ctx, "k29")
	thunk := &dag.VClosure{Code: &dag.Delay{Body: &dag.App{Fn: &dag.Ref{Def: ref.Def}, Args: []dag.Term{&dag.Int{V: 1}}}}}

	var hookSent atomic.Int64
	hook := func(peer.ID, cid.Cid) { hookSent.Add(1) }
	for _, n := range []*Node{m1, m2, p1, p2, outside} {
		n.sentHook.Store(&hook)
	}
	writes := ds.blockWrites()
	call := func(from, to *Node) *callResult {
		t.Helper()
		from.host.Peerstore().AddAddrs(to.ID(), to.host.Addrs(), time.Hour)
		res, err := from.callThunk(ctx, to.ID(), nil, thunk, Budget{})
		if err != nil {
			t.Fatalf("%s to %s: %v", from.ID(), to.ID(), err)
		}
		return res
	}
	nodes := []*Node{m1, m2, p1, p2}
	for round := range 2 {
		for _, from := range nodes {
			for _, to := range nodes {
				if from == to {
					continue
				}
				res := call(from, to)
				if res.sync != (SyncStats{}) || res.wire.blocks != 0 {
					t.Fatalf("round %d: a call between sharers synced %+v, %d block bytes", round, res.sync, res.wire.blocks)
				}
			}
		}
		if round == 0 {
			connectAll(t, nodes...) // status exchanges: proofs
		}
	}
	if hookSent.Load() != 0 || ds.blockWrites() != writes {
		t.Fatalf("calls between sharers sent %d blocks and wrote %d", hookSent.Load(), ds.blockWrites()-writes)
	}
	for _, from := range nodes {
		for _, to := range nodes {
			if r, ok := from.peers.lookup(to.ID()); from != to && (!ok || !r.sameStore()) {
				t.Errorf("%s does not take %s for a sharer", from.ID(), to.ID())
			}
		}
	}
	// Not blind: a node on its own store is sent the 30 blocks, and
	// takes them into its own datastore (not ds).
	res := call(p1, outside)
	if res.sync.Blocks != 30 || res.wire.blocks == 0 || hookSent.Load() != 30 {
		t.Fatalf("to a node on its own store: synced %+v, %d block bytes, hook saw %d", res.sync, res.wire.blocks, hookSent.Load())
	}
	// And a block written through the shared datastore is counted.
	addSource(t, p2, "fresh x = x * 1234\n")
	if ds.blockWrites() == writes {
		t.Fatal("the datastore counter does not see block writes")
	}
}

// countingDS counts the block writes (keys under /blocks/) that reach a
// datastore, directly or in batches.
type countingDS struct {
	datastore.Batching
	mu     sync.Mutex
	writes int
}

func (d *countingDS) blockWrites() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes
}

func (d *countingDS) note(k datastore.Key) {
	if strings.HasPrefix(k.String(), "/blocks/") {
		d.mu.Lock()
		d.writes++
		d.mu.Unlock()
	}
}

func (d *countingDS) Put(ctx context.Context, k datastore.Key, v []byte) error {
	d.note(k)
	return d.Batching.Put(ctx, k, v)
}

func (d *countingDS) Batch(ctx context.Context) (datastore.Batch, error) {
	b, err := d.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &countingBatch{Batch: b, d: d}, nil
}

type countingBatch struct {
	datastore.Batch
	d *countingDS
}

func (b *countingBatch) Put(ctx context.Context, k datastore.Key, v []byte) error {
	b.d.note(k)
	return b.Batch.Put(ctx, k, v)
}
