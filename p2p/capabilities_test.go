package p2p

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/eval"
)

// Acceptance tests of issue 4 (sandboxes, tokens, node data, private
// implementations), with real libp2p hosts on loopback.

// testClock is a settable clock for token windows.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now().Truncate(time.Second)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustSandbox(t testing.TB, text string) capabilities.Sandbox {
	t.Helper()
	sb, err := capabilities.ParseSandbox(text)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// policyOf builds a policy: the built-in default for unknown peers, and
// the named sandboxes (text syntax) for the given peers.
func policyOf(t testing.TB, peers map[peer.ID]string) *capabilities.Policy {
	t.Helper()
	p := capabilities.DefaultPolicy()
	i := 0
	for id, text := range peers {
		name := "s" + string(rune('a'+i))
		i++
		if err := p.SetSandbox(name, mustSandbox(t, text)); err != nil {
			t.Fatal(err)
		}
		if err := p.SetPeer(id, name); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// wantDenied checks that err is a denial by the callee naming kind and
// name (and, if given, containing each of more).
func wantDenied(t *testing.T, what string, err error, kind, name string, more ...string) {
	t.Helper()
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != CodeDenied {
		t.Errorf("%s: %v, want a denial", what, err)
		return
	}
	if !errors.Is(err, eval.ErrDenied) || !errors.Is(err, capabilities.ErrDenied) {
		t.Errorf("%s: %v does not match the Denied sentinels", what, err)
	}
	if ce.Which != kind || ce.Name != name {
		t.Errorf("%s: denied %s %q, want %s %q (%v)", what, ce.Which, ce.Name, kind, name, err)
	}
	for _, m := range more {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: %q does not say %q", what, err, m)
		}
	}
}

const smallBudget = " --fuel 1000000 --memory 16MiB --time 10s --result 64KiB"

// 1. The seed's examples: Bob may evaluate pure code but not Int.sub
// (refused with Denied, also through `-`, at link time before any step
// runs, and at run time for code read from data); Carol may read just
// one number and nothing else; Eve may evaluate all pure code.
func TestSeedSandboxes(t *testing.T) {
	ctx := testCtx(t)
	bob, carol, eve := newTestNode(t), newTestNode(t), newTestNode(t)
	alice := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{
		bob.ID():   "--allow pure --deny Int.sub --allow data.read:=fn" + smallBudget,
		carol.ID(): "--allow data.read:=n --allow-code none" + smallBudget,
	})))
	connectAll(t, alice, bob, carol, eve)
	at := alice.ID().String()
	for _, kv := range []struct{ k, v string }{{"n", "42"}, {"m", "7"}, {"fn", "x -> x - 1"}} {
		if _, err := alice.EvalAt(ctx, at, `Data.put "`+kv.k+`" (`+kv.v+`)`, Budget{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*Node{bob, carol, eve} {
		addSource(t, n, "dec x = x - 1\ntryAt n t = await! (at' n t)\n")
	}

	ok := func(who *Node, src, want string) {
		t.Helper()
		res, err := who.EvalAt(ctx, at, src, Budget{})
		if err != nil || res.Text != want {
			t.Errorf("%s: %v, %v; want %s", src, res, err, want)
		}
	}
	// Bob: pure code, but no subtraction, however it is written.
	ok(bob, "10 + 3", "13")
	ok(bob, "Int.add 10 (Int.negate 3)", "7") // denying a name, not a function
	ok(bob, "List.sum (List.map (x -> x * 2) [1, 2, 3])", "12")
	before := alice.ForeignStats().Started
	_, err := bob.EvalAt(ctx, at, "10 - 3", Budget{})
	wantDenied(t, "10 - 3", err, capabilities.DeniedBuiltin, "Op.sub", "Int.sub")
	_, err = bob.EvalAt(ctx, at, "1.5 - 0.5", Budget{})
	wantDenied(t, "1.5 - 0.5", err, capabilities.DeniedBuiltin, "Op.sub")
	_, err = bob.EvalAt(ctx, at, "Int.sub 10 3", Budget{})
	wantDenied(t, "Int.sub 10 3", err, capabilities.DeniedBuiltin, "Int.sub")
	_, err = bob.EvalAt(ctx, at, "List.map (Int.sub 10) [1]", Budget{})
	wantDenied(t, "Int.sub as a value", err, capabilities.DeniedBuiltin, "Int.sub")
	// In a definition the callee has never seen: refused when linked,
	// after the sync and before any step.
	_, err = bob.EvalAt(ctx, at, "dec 5", Budget{})
	wantDenied(t, "dec 5", err, capabilities.DeniedBuiltin, "Op.sub")
	if got := alice.ForeignStats().Started; got != before {
		t.Errorf("%d denied evaluations started", got-before)
	}
	// At run time: a function read from data that subtracts.
	_, err = bob.EvalAt(ctx, at, `match Data.get "fn" with | Some g -> g 5 | None -> 0`, Budget{})
	wantDenied(t, "a subtracting function from data", err, capabilities.DeniedBuiltin, "Op.sub")
	// A program's await! sees Err.Denied.
	res, err := bob.EvalAt(ctx, bob.ID().String(), `match Node.fromText "`+at+`" with | Some n -> tryAt n '(7 - 1) | None -> Left (Msg "?")`, Budget{})
	if err != nil || !strings.HasPrefix(res.Text, `Left (Err.Denied "`) || !strings.Contains(res.Text, "Op.sub") {
		t.Errorf("await! of a denied evaluation = %v, %v", res, err)
	}

	// Carol: one number and nothing else.
	ok(carol, `Data.get "n"`, "Some 42")
	_, err = carol.EvalAt(ctx, at, `Data.get "m"`, Budget{})
	wantDenied(t, "another key", err, capabilities.DeniedDataRead, "m")
	_, err = carol.EvalAt(ctx, at, `Data.list ""`, Budget{})
	wantDenied(t, "a listing", err, capabilities.DeniedDataRead, "")
	_, err = carol.EvalAt(ctx, at, `Data.put "n" 43`, Budget{})
	wantDenied(t, "a write", err, capabilities.DeniedBuiltin, "Data.put")
	_, err = carol.EvalAt(ctx, at, "1 + 1", Budget{})
	wantDenied(t, "arithmetic", err, capabilities.DeniedBuiltin, "Op.add")
	ref, _, _ := carol.store.LookupName(ctx, "dec")
	_, err = carol.EvalAt(ctx, at, "dec", Budget{})
	wantDenied(t, "a definition", err, capabilities.DeniedDefinition, ref.Def.CID.String())

	// Eve: all pure code (the default for unknown peers), no data.
	ok(eve, "10 - 3", "7")
	ok(eve, "dec 5", "4")
	_, err = eve.EvalAt(ctx, at, `Data.get "n"`, Budget{})
	wantDenied(t, "Eve reading", err, capabilities.DeniedBuiltin, "Data.get")
}

// personalData is the owner of issue 4's personal-data scenario: health
// records and a finance record.
const averageHealth = `let ks = Data.list "health/" in List.sum (List.map (k -> Optional.withDefault 0 (Data.get k)) ks) / List.length ks`

func putData(t *testing.T, n *Node, kv map[string]int64) {
	t.Helper()
	for k, v := range kv {
		if err := n.Codebase().DataPut(context.Background(), k, eval.MakeInt(v)); err != nil {
			t.Fatal(err)
		}
	}
}

// 2. Personal data: the owner grants data.read:health/ to an insurer for
// an hour; the insurer computes an average over health/* remotely; other
// keys, writes and calls to a third node from inside are denied; an
// expired, revoked, misdirected or tampered token is denied, saying why.
func TestPersonalData(t *testing.T) {
	ctx := testCtx(t)
	clock := newTestClock()
	owner := newTestNode(t, WithClock(clock.now))
	insurer, third, eve := newTestNode(t), newOpenNode(t), newTestNode(t)
	connectAll(t, owner, insurer, third, eve)
	putData(t, owner, map[string]int64{"health/2026-01-01": 70, "health/2026-01-02": 80, "health/2026-01-03": 90, "finance/x": 1})

	tok, err := owner.Grant(ctx, capabilities.Claims{
		Audience: insurer.ID(),
		Sandbox:  mustSandbox(t, "--allow pure --allow remote --allow channel --allow data.read:health/"),
		Expires:  clock.now().Add(time.Hour),
	}, "insurer")
	if err != nil {
		t.Fatal(err)
	}
	at := owner.ID().String()
	with := WithTokens(tok)

	res, err := insurer.EvalAt(ctx, at, averageHealth, Budget{}, with)
	if err != nil || res.Text != "80" {
		t.Fatalf("average with the token = %v, %v; want 80", res, err)
	}
	_, err = insurer.EvalAt(ctx, at, averageHealth, Budget{})
	wantDenied(t, "without the token", err, capabilities.DeniedBuiltin, "Data.get")

	_, err = insurer.EvalAt(ctx, at, `Data.get "finance/x"`, Budget{}, with)
	wantDenied(t, "finance/x", err, capabilities.DeniedDataRead, "finance/x")
	_, err = insurer.EvalAt(ctx, at, `Data.put "health/2026-01-04" 60`, Budget{}, with)
	wantDenied(t, "a write", err, capabilities.DeniedBuiltin, "Data.put")
	// Phoning home: the data may go back to the caller, not elsewhere.
	thirdSrc := func(call string) string {
		return `match Node.fromText "` + third.ID().String() + `" with | Some t -> ` + call + ` | None -> 0`
	}
	_, err = insurer.EvalAt(ctx, at, thirdSrc(`at t '(Data.get "health/2026-01-01")`), Budget{}, with)
	wantDenied(t, "at a third node", err, capabilities.DeniedTarget, third.ID().String())
	_, err = insurer.EvalAt(ctx, at, thirdSrc(`await (deliver t channel (Data.get "health/2026-01-01"))`), Budget{}, with)
	wantDenied(t, "deliver to a third node", err, capabilities.DeniedTarget, third.ID().String())
	_, err = insurer.EvalAt(ctx, at, thirdSrc(`let u = send t channel (Data.get "health/2026-01-01") in 1`), Budget{}, with)
	wantDenied(t, "send to a third node", err, capabilities.DeniedTarget, third.ID().String())
	if third.ForeignStats().Started != 0 {
		t.Errorf("the third node ran %d evaluations", third.ForeignStats().Started)
	}
	res, err = insurer.EvalAt(ctx, at, `match Node.fromText "`+insurer.ID().String()+`" with | Some me -> at me '(1 + 1) | None -> 0`, Budget{}, with)
	if err != nil || res.Text != "2" {
		t.Errorf("at back to the caller = %v, %v", res, err)
	}

	// The same call with a token that fails: the error says which way.
	sameCall := func(what string, who *Node, tok *capabilities.Token, reason string) {
		t.Helper()
		_, err := who.EvalAt(ctx, at, averageHealth, Budget{}, WithTokens(tok))
		wantDenied(t, what, err, capabilities.DeniedBuiltin, "Data.get", reason)
	}
	sameCall("presented by another peer", eve, tok, "token presented by a peer other than its audience")
	sig := tok.Bytes()
	sig[len(sig)-1] ^= 1 // the signature is the last field
	tampered, err := capabilities.DecodeToken(sig)
	if err != nil {
		t.Fatal(err)
	}
	sameCall("a signature byte changed", insurer, tampered, "bad signature")
	clock.add(2 * time.Hour)
	sameCall("expired", insurer, tok, "token expired")
	clock.add(-2 * time.Hour)
	if _, err := insurer.EvalAt(ctx, at, averageHealth, Budget{}, with); err != nil {
		t.Fatalf("the token no longer works before revocation: %v", err)
	}
	if _, err := owner.Grants().Revoke(ctx, tok.ID()); err != nil {
		t.Fatal(err)
	}
	sameCall("revoked", insurer, tok, "token revoked")

	// The audit log has it all, newest first.
	log, err := owner.Grants().AuditLog(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var okWithToken, denied int
	for _, e := range log {
		if e.Outcome == capabilities.OutcomeOK && slices.Contains(e.Tokens, tok.ID()) && e.Peer == insurer.ID().String() {
			okWithToken++
		}
		if e.Outcome == capabilities.OutcomeDenied {
			denied++
		}
		if e.Root == "" || e.Time.IsZero() {
			t.Errorf("audit entry without root or time: %+v", e)
		}
	}
	if okWithToken < 3 || denied < 9 {
		t.Errorf("audit log: %d ok with the token, %d denied (of %d)", okWithToken, denied, len(log))
	}
	if log[0].Outcome != capabilities.OutcomeDenied || !strings.Contains(log[0].Detail, "revoked") {
		t.Errorf("newest audit entry %+v", log[0])
	}
}

// 3. Delegation: the insurer delegates a narrower grant to a contractor,
// which works for what it allows; a delegation that widens is refused.
func TestDelegation(t *testing.T) {
	ctx := testCtx(t)
	owner, insurer, contractor := newTestNode(t), newTestNode(t), newTestNode(t)
	connectAll(t, owner, insurer, contractor)
	putData(t, owner, map[string]int64{"health/2026-01-01": 70, "health/2026-01-02": 90, "health/2025-12-31": 10})
	parent, err := owner.Grant(ctx, capabilities.Claims{
		Audience: insurer.ID(),
		Sandbox:  mustSandbox(t, "--allow pure --allow data.read:health/"),
		Expires:  time.Now().Add(time.Hour),
	}, "insurer")
	if err != nil {
		t.Fatal(err)
	}
	child, err := insurer.Grant(ctx, capabilities.Claims{
		Audience: contractor.ID(),
		Sandbox:  mustSandbox(t, "--allow pure --allow data.read:health/2026-"),
		Expires:  time.Now().Add(30 * time.Minute),
		Parent:   parent,
	}, "contractor")
	if err != nil {
		t.Fatal(err)
	}
	at := owner.ID().String()
	src := `let ks = Data.list "health/2026-" in List.sum (List.map (k -> Optional.withDefault 0 (Data.get k)) ks)`
	res, err := contractor.EvalAt(ctx, at, src, Budget{}, WithTokens(child))
	if err != nil || res.Text != "160" {
		t.Fatalf("narrower delegation = %v, %v; want 160", res, err)
	}
	_, err = contractor.EvalAt(ctx, at, `Data.get "health/2025-12-31"`, Budget{}, WithTokens(child))
	wantDenied(t, "outside the delegation", err, capabilities.DeniedDataRead, "health/2025-12-31")
	_, err = contractor.EvalAt(ctx, at, src, Budget{}, WithTokens(parent))
	wantDenied(t, "the parent, held by the contractor", err, capabilities.DeniedBuiltin, "Data.get", "audience")

	for _, tc := range []struct {
		name    string
		sandbox string
		expires time.Duration
	}{
		{"a wider prefix", "--allow pure --allow data.read:", 30 * time.Minute},
		{"another group", "--allow pure --allow remote --allow data.read:health/", 30 * time.Minute},
		{"a longer life", "--allow pure --allow data.read:health/2026-", 2 * time.Hour},
	} {
		_, err := insurer.Grant(ctx, capabilities.Claims{
			Audience: contractor.ID(), Sandbox: mustSandbox(t, tc.sandbox),
			Expires: time.Now().Add(tc.expires), Parent: parent,
		}, "")
		if !errors.Is(err, capabilities.ErrWidened) {
			t.Errorf("%s: %v, want ErrWidened", tc.name, err)
		}
	}
	// Revoking the parent revokes the child.
	if _, err := owner.Grants().Revoke(ctx, parent.ID()); err != nil {
		t.Fatal(err)
	}
	_, err = contractor.EvalAt(ctx, at, src, Budget{}, WithTokens(child))
	wantDenied(t, "child of a revoked token", err, capabilities.DeniedBuiltin, "Data.get", "revoked")
}

const rateSource = `secretFactor age = if age < 25 then 3 else 1
rateQuote age tickets = 100 * secretFactor age + 37 * tickets
rateQuote' age tickets = at here! '(rateQuote age tickets)
`

// 4. Private implementation: the insurance company publishes rateQuote'
// (at here! '(rateQuote ...)); another node fetches and calls it and gets
// quotes, and so does a node that node sends the call to; no block of
// rateQuote's body ever leaves its owner.
func TestPrivateImplementation(t *testing.T) {
	ctx := testCtx(t)
	owner, customer, broker := newTestNode(t), newTestNode(t), newOpenNode(t)
	connectAll(t, owner, customer, broker)
	var mu sync.Mutex
	sent := map[cid.Cid]int{}
	record := func(_ peer.ID, c cid.Cid) {
		mu.Lock()
		sent[c]++
		mu.Unlock()
	}
	owner.sentHook.Store(&record)

	if _, err := owner.Codebase().AddWith(ctx, "rates.u", []byte(rateSource), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	pub, err := owner.Codebase().Publish(ctx, "rateQuote'")
	if err != nil {
		t.Fatal(err)
	}
	wrapper, _, _ := owner.store.LookupName(ctx, "rateQuote'")
	impl, _, _ := owner.store.LookupName(ctx, "rateQuote")
	private, err := owner.store.ClosureOf(ctx, impl.Def.CID)
	if err != nil {
		t.Fatal(err)
	}
	if len(private) != 2 {
		t.Fatalf("rateQuote's closure has %d blocks, want 2 (rateQuote, secretFactor)", len(private))
	}
	if len(pub) != 1 || pub[0].Name != "rateQuote'" {
		t.Errorf("Publish = %+v, want rateQuote' alone", pub)
	}
	if l, _ := owner.Codebase().Published(ctx); len(l) != 1 || l[0].Name != "rateQuote'" {
		t.Errorf("Published = %+v", l)
	}
	// here! is the owner: the same source added elsewhere is another
	// definition.
	if _, err := customer.Codebase().AddWith(ctx, "rates.u", []byte(rateSource), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if local, _, _ := customer.store.LookupName(ctx, "rateQuote'"); local.Def.CID.Equals(wrapper.Def.CID) {
		t.Error("rateQuote' has the same CID on two nodes")
	}
	other := newTestNode(t)
	if _, err := other.Codebase().AddWith(ctx, "rates.u", []byte(rateSource), AddOptions{Here: owner.ID().String()}); err != nil {
		t.Fatal(err)
	}
	if same, _, _ := other.store.LookupName(ctx, "rateQuote'"); !same.Def.CID.Equals(wrapper.Def.CID) {
		t.Error("AddOptions.Here does not fix here! to the given node")
	}
	show, err := owner.Codebase().Show(ctx, "rateQuote'")
	if err != nil || !strings.Contains(show.Source, `Node.fixed "`+owner.ID().String()+`"`) {
		t.Errorf("show rateQuote' = %v, %v", show, err)
	}

	// The customer fetches the wrapper, which is complete without the
	// implementation, and calls it: the call runs on the owner.
	st, err := customer.Fetch(ctx, owner.ID().String(), wrapper.Def.CID)
	if err != nil || st.Blocks != 1 {
		t.Fatalf("fetching rateQuote' = %+v, %v", st, err)
	}
	if ok, _ := customer.store.IsComplete(ctx, wrapper.Def.CID); !ok {
		t.Fatal("rateQuote' is not complete at the customer")
	}
	quote := func(n *Node, src string) string {
		t.Helper()
		res, err := n.EvalAt(ctx, n.ID().String(), src, Budget{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return res.Text
	}
	w := "#" + wrapper.Def.CID.String()
	if q := quote(customer, w+" 22 2"); q != "374" {
		t.Errorf("quote at 22 = %s, want 374", q)
	}
	if q := quote(customer, w+" 40 0"); q != "100" {
		t.Errorf("quote at 40 = %s, want 100", q)
	}
	// The customer sends the call on to a broker, which gets the wrapper
	// from the customer and calls the owner in turn.
	bsrc := `match Node.fromText "` + broker.ID().String() + `" with | Some b -> at b '(` + w + ` 30 1) | None -> 0`
	if q := quote(customer, bsrc); q != "137" {
		t.Errorf("quote through the broker = %s, want 137", q)
	}
	if owner.ForeignStats().Succeeded != 3 {
		t.Errorf("the owner ran %+v", owner.ForeignStats())
	}

	// The implementation cannot be had from the owner: not by fetching,
	// nor as a result.
	// Not published: the owner answers as for a block it does not hold.
	// (Asked by a node that lacks it: the customer holds its own copy,
	// and a fetch of what is complete here asks no one.)
	_, err = newTestNode(t).Fetch(ctx, owner.Addrs()[0].String(), impl.Def.CID)
	if ce := (*CallError)(nil); !errors.As(err, &ce) || ce.Code != CodeMissing || !ce.CID.Equals(impl.Def.CID) {
		t.Errorf("fetching rateQuote: %v, want it missing", err)
	}
	// Asked for as a value, it is not sent: a caller referring to a
	// definition is taken to hold it, and one that does not is told it
	// is missing.
	stranger := newTestNode(t)
	connectAll(t, stranger, owner)
	_, err = stranger.EvalAt(ctx, owner.ID().String(), "#"+impl.Def.CID.String(), Budget{})
	if !errors.Is(err, eval.ErrMissing) {
		t.Errorf("rateQuote as a value: %v, want it missing", err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, c := range private {
		if sent[c] > 0 {
			t.Errorf("block %s of rateQuote's closure left the owner %d times", c, sent[c])
		}
	}
	if sent[wrapper.Def.CID] != 1 || len(sent) != 1 {
		t.Errorf("the owner sent %v, want rateQuote' once", sent)
	}
	for _, n := range []*Node{customer, broker} {
		for _, c := range private {
			if ok, _ := n.store.Has(ctx, c); ok && n != customer {
				t.Errorf("%s holds block %s of rateQuote", n.ID(), c)
			}
		}
	}
}

// 5. Budgets: foreign infinite loops and memory bombs stop at the
// sandbox's budget, and the node keeps serving other peers meanwhile.
func TestForeignBudgets(t *testing.T) {
	ctx := testCtx(t)
	looper, other := newTestNode(t), newTestNode(t)
	owner := newTestNode(t, WithPolicy(policyOf(t, map[peer.ID]string{
		looper.ID(): "--allow pure --fuel 1000000000 --memory 8MiB --time 2s --result 1KiB",
	})))
	connectAll(t, owner, looper, other)
	addSource(t, looper, `loop n = loop (n + 1)
bomb n = bomb (List.replicate 1000 n :: [])
big n = List.range 0 n
deep n = 1 + deep (n + 1)
`)
	addSource(t, other, "loop n = loop (n + 1)\n")
	at := owner.ID().String()
	var be *eval.BudgetError

	// The default sandbox's fuel stops another peer's loop.
	_, err := other.EvalAt(ctx, at, "loop 0", Budget{})
	if !errors.As(err, &be) || be.Which != eval.BudgetFuel {
		t.Errorf("loop under the default sandbox: %v", err)
	}
	// The looper's sandbox has fuel to spare and two seconds: its loop
	// stops at the time budget, while the other peer is served.
	done := make(chan error, 1)
	go func() {
		_, err := looper.EvalAt(ctx, at, "loop 0", Budget{})
		done <- err
	}()
	waitFor(t, "the loop to run", func() bool { return owner.ForeignStats().Running == 1 })
	res, err := other.EvalAt(ctx, at, "List.sum (List.range 1 101)", Budget{})
	if err != nil || res.Text != "5050" {
		t.Errorf("another peer during the loop: %v, %v", res, err)
	}
	if owner.ForeignStats().Running != 1 {
		t.Errorf("the loop ended before the other call was served: %+v", owner.ForeignStats())
	}
	if err := <-done; !errors.As(err, &be) || be.Which != eval.BudgetTime {
		t.Errorf("loop under a 2 s sandbox: %v", err)
	}
	_, err = looper.EvalAt(ctx, at, "bomb 1", Budget{})
	if !errors.As(err, &be) || be.Which != eval.BudgetMemory {
		t.Errorf("memory bomb: %v", err)
	}
	_, err = looper.EvalAt(ctx, at, "deep 0", Budget{})
	if !errors.As(err, &be) || be.Which != eval.BudgetDepth {
		t.Errorf("deep recursion: %v", err)
	}
	_, err = looper.EvalAt(ctx, at, "big 1000", Budget{})
	if !errors.As(err, &be) || be.Which != eval.BudgetResult {
		t.Errorf("a result over the sandbox's size: %v", err)
	}
	// A sandbox without fuel runs nothing (rather than the evaluator's
	// defaults).
	p := owner.Policy()
	p.Default.Budget.Fuel = 0
	if err := owner.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	_, err = other.EvalAt(ctx, at, "1", Budget{})
	wantDenied(t, "a zero budget", err, capabilities.DeniedBudget, "zero", "fuel")
	log, _ := owner.Grants().AuditLog(ctx, 0)
	var budgets int
	for _, e := range log {
		if e.Outcome == capabilities.OutcomeBudget {
			budgets++
			if e.Fuel == 0 && e.Memory == 0 {
				t.Errorf("budget entry without usage: %+v", e)
			}
		}
	}
	if budgets != 5 {
		t.Errorf("%d budget outcomes in the audit log, want 5", budgets)
	}
}

// Node data: keys are validated, values round-trip, listings follow
// prefixes as text.
func TestNodeData(t *testing.T) {
	ctx := context.Background()
	cb := NewCodebase(memDatastore())
	for _, bad := range []string{"", "/a", "a/", "a//b", "a/../b", "./a", "a\nb", strings.Repeat("k", MaxDataKeyLen+1), "\xff"} {
		if err := cb.DataPut(ctx, bad, eval.MakeInt(1)); !errors.Is(err, ErrBadDataKey) {
			t.Errorf("key %q: %v", bad, err)
		}
	}
	vals := map[string]eval.Value{
		"health/2026-01-01": eval.MakeInt(70), "health/2026-01-02": eval.Text("x"),
		"healthy": eval.MakeBool(true), "notes/a b": eval.NewList([]eval.Value{eval.MakeInt(1)}),
	}
	for k, v := range vals {
		if err := cb.DataPut(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range vals {
		got, ok, err := cb.DataGet(ctx, k)
		if err != nil || !ok || eval.Show(got, nil) != eval.Show(v, nil) {
			t.Errorf("DataGet %s = %v, %v, %v", k, got, ok, err)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"health/", []string{"health/2026-01-01", "health/2026-01-02"}},
		{"health", []string{"health/2026-01-01", "health/2026-01-02", "healthy"}},
		{"health/2026-01-0", []string{"health/2026-01-01", "health/2026-01-02"}},
		{"", []string{"health/2026-01-01", "health/2026-01-02", "healthy", "notes/a b"}},
		{"zzz", []string{}},
	} {
		got, err := cb.DataList(ctx, tc.prefix)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("DataList %q = %v, %v; want %v", tc.prefix, got, err, tc.want)
		}
	}
	if err := cb.DataDelete(ctx, "healthy"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cb.DataGet(ctx, "healthy"); ok {
		t.Error("deleted key still there")
	}
	if err := cb.DataDelete(ctx, "healthy"); err != nil {
		t.Errorf("deleting an absent key: %v", err)
	}
	// The builtins use the same data on a codebase without a node.
	res, err := cb.EvalSource(ctx, "<t>", `Data.get "health/2026-01-01"`, Budget{})
	if err != nil || res.Text != "Some 70" {
		t.Errorf("Data.get on a codebase = %v, %v", res, err)
	}
}

// Every builtin has a capability group, and every operator covers the
// typed builtins it dispatches to.
func TestCatalog(t *testing.T) {
	for _, b := range eval.Builtins() {
		if groupOf(b.Name) == "" {
			t.Errorf("builtin %s (eval group %q) has no capability group", b.Name, b.Group)
		}
		if strings.HasPrefix(b.Name, "Op.") {
			for _, c := range covers(b.Name) {
				if !eval.IsBuiltin(c) {
					t.Errorf("%s covers %s, which is not a builtin", b.Name, c)
				}
			}
		}
	}
	for _, op := range []string{"Op.add", "Op.sub", "Op.mul", "Op.div", "Op.mod", "Op.negate", "Op.lt", "Op.append", "Op.cons"} {
		if len(covers(op)) == 0 {
			t.Errorf("%s covers nothing", op)
		}
	}
	if groupOf("Data.get") != capabilities.GroupDataRead || groupOf("Data.delete") != capabilities.GroupDataWrite || groupOf("nope") != "" {
		t.Error("data groups are not split by direction")
	}
}

// Publishing marks the closure a holder needs and nothing else; the
// markers say what may leave the node.
func TestPublish(t *testing.T) {
	ctx := context.Background()
	cb := NewCodebase(memDatastore())
	here := newTestNode(t).ID().String()
	if _, err := cb.AddWith(ctx, "r.u", []byte(rateSource+"type Car = Car Int\nage c = match c with | Car a -> a\n"), AddOptions{Here: here}); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.AddWith(ctx, "h.u", []byte("x = here!\n"), AddOptions{}); err == nil {
		t.Error("here! without a node was accepted")
	}
	blockOf := func(name string) cid.Cid {
		r, ok, _ := cb.Store().LookupName(ctx, name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return r.Def.CID
	}
	for _, name := range []string{"rateQuote'", "rateQuote", "secretFactor"} {
		if ok, _ := cb.shareable(ctx, blockOf(name), ""); ok {
			t.Errorf("%s is shareable before publishing", name)
		}
	}
	got, err := cb.Publish(ctx, "age")
	if err != nil || len(got) != 2 || got[0].Name != "age" || got[1].Name != "Car" {
		t.Errorf("Publish age = %+v, %v; want age and its type", got, err)
	}
	if _, err := cb.Publish(ctx, "#"+blockOf("rateQuote'").String()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"rateQuote'": true, "rateQuote": false, "secretFactor": false, "Car": true} {
		if ok, _ := cb.shareable(ctx, blockOf(name), ""); ok != want {
			t.Errorf("%s shareable = %v, want %v", name, ok, want)
		}
	}
	list, err := cb.Published(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "age" || list[1].Name != "rateQuote'" {
		t.Errorf("Published = %+v, %v", list, err)
	}
	if _, err := cb.Publish(ctx, "nothing"); !errors.Is(err, ErrUnknownName) {
		t.Errorf("publishing an unknown name: %v", err)
	}
	needed, _ := dag.NeededLinks(mustGet(t, cb, blockOf("rateQuote'")))
	if len(needed) != 0 {
		t.Errorf("rateQuote' needs %v", needed)
	}
}

func mustGet(t *testing.T, cb *Codebase, c cid.Cid) []byte {
	t.Helper()
	data, err := cb.Store().Get(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
