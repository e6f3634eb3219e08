package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p/repo/pgds"
	"github.com/unode-dev/unode/p2p/repo/pgds/pgtest"
)

// End-to-end tests of daemons in separate processes sharing one
// PostgreSQL store (issue 10, acceptance 2 and 3): each daemon has its own
// repo directory (its own identity key and config), the config's
// "datastore" naming the same database. The servers are pgtest's
// throwaway ones; without PostgreSQL's binaries the tests skip, saying
// so (and fail under UNODE_REQUIRE_POSTGRES=1, as in CI).

// sharedDatabase is a fresh database on the test binary's shared server.
// The binary comes first: under -short the test skips before a server
// starts.
func sharedDatabase(t *testing.T) string {
	t.Helper()
	unodeBinary(t)
	return pgtest.Shared(t).NewDatabase(t)
}

// pgNode is a node whose repo keeps its store in the database at url.
func pgNode(t *testing.T, name, url string) *node {
	t.Helper()
	n := newNode(t, name)
	n.ok("init")
	setStore(t, n, url)
	return n
}

// setStore points a repo's config at the database at url.
func setStore(t *testing.T, n *node, url string) {
	t.Helper()
	p := filepath.Join(n.path, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["datastore"] = map[string]any{"type": "postgres", "url": url, "max_conns": 4}
	raw, _ = json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkSharedStore opens the database itself and walks every complete
// marker: each must have its block, and every link of its block a marker
// (so, by induction, its whole closure). It returns the markers checked.
func checkSharedStore(t *testing.T, url, when string) int {
	t.Helper()
	ctx := context.Background()
	d, err := pgds.New(ctx, url, pgds.Options{MaxConns: 2})
	if err != nil {
		t.Fatalf("%s: opening the shared store: %v", when, err)
	}
	defer d.Close()
	n, err := dag.NewStore(d).CheckCompleteMarkers(ctx)
	if err != nil {
		t.Fatalf("%s: closure invariant broken (%d markers checked): %v", when, n, err)
	}
	return n
}

// chainSource is chained definitions prefix<from> .. prefix<n-1>, each
// calling the one before (prefix0 calls nothing; from > 0 leaves the
// caller to define prefix<from-1>... prefix0): with from 0, a closure of
// n blocks.
func chainSource(prefix string, from, n int) string {
	var b strings.Builder
	if from == 0 {
		fmt.Fprintf(&b, "%s0 x = x + 1\n", prefix)
		from = 1
	}
	for j := from; j < n; j++ {
		fmt.Fprintf(&b, "%s%d x = %s%d (x + %d)\n", prefix, j, prefix, j-1, j%7)
	}
	return b.String()
}

// TestE2EPostgresTwoDaemons is acceptance 2: two daemons, separate
// processes and identities, one PostgreSQL store. What one adds the other
// evaluates, and a call between them sends no block; a revocation written
// through one is refused by the other on the very next call; concurrent
// adds of 500 overlapping definitions through both leave every complete
// marker with its closure.
func TestE2EPostgresTwoDaemons(t *testing.T) {
	url := sharedDatabase(t)
	a, b := pgNode(t, "a", url), pgNode(t, "b", url)
	da := a.startDaemon()
	// B is pointed at the store by --store as well: the flag and the
	// config agree.
	db, ok := b.startDaemonWith("--listen", "/ip4/127.0.0.1/tcp/0", "--store", url)
	if !ok {
		t.Fatalf("daemon b: %s", db.stderr.String())
	}
	if da.ready.ID == db.ready.ID {
		t.Fatalf("both daemons have identity %s: the key must stay in each repo", da.ready.ID)
	}
	if da.ready.Store != db.ready.Store || da.ready.Store == "" {
		t.Fatalf("store IDs %q and %q: one shared store has one ID", da.ready.Store, db.ready.Store)
	}
	addrA, addrB := da.ready.Addrs[0], db.ready.Addrs[0]

	// Added through A, evaluable through B: by name (the namespace is in
	// the store), locally and at A, sending nothing.
	fib := writeFile(t, t.TempDir(), "fib.u", fibFile)
	a.ok("add", fib)
	if out := b.ok("eval", "fib 20"); out != "6765\n" {
		t.Errorf("b eval 'fib 20' after a added it: %q", out)
	}
	for _, c := range []struct {
		who    *node
		target string
	}{{b, addrA}, {a, addrB}, {b, addrA}} {
		var r evalResult
		c.who.json(&r, "eval", "--timeout", "20s", "--at", c.target, "fib 20 + square 3")
		if r.Text != "6774" {
			t.Errorf("eval --at %s: %q, want 6774", c.target, r.Text)
		}
		if r.Sync == nil || r.Sync.Blocks != 0 || r.Sync.Bytes != 0 {
			t.Errorf("eval --at %s between daemons sharing a store synced %+v; want no block", c.target, r.Sync)
		}
	}

	// A grant B issued to A, revoked through A: B refuses it on the next
	// call (grants and revocations live in the shared store, read afresh
	// by every evaluation).
	b.ok("data", "put", "health/a", "70")
	if out := a.ok("data", "get", "health/a"); out != "70\n" {
		t.Errorf("a data get of what b put: %q", out)
	}
	var g grantResult
	b.json(&g, "grant", "--to", da.ready.ID, "--allow", "data.read:health/", "--expires", "1h")
	const read = `Data.get "health/a"`
	if out := a.ok("eval", "--timeout", "20s", "--at", addrB, "--token", g.Token, read); out != "Some 70\n" {
		t.Fatalf("a -> b with b's token: %q", out)
	}
	if line := a.fail("eval", "--timeout", "20s", "--at", addrB, read); !strings.Contains(line, "denied") {
		t.Errorf("a -> b without the token: %q", line)
	}
	a.ok("revoke", g.ID)
	line := a.fail("eval", "--timeout", "20s", "--at", addrB, "--token", g.Token, read)
	if !strings.Contains(line, "denied") || !strings.Contains(line, "revoked") {
		t.Errorf("a -> b with the token a revoked: %q; want denied, revoked", line)
	}

	// Concurrent adds of overlapping DAGs: two files sharing most of a
	// chain of definitions (the same blocks, from two writers at once),
	// each with definitions of its own on top.
	const shared, own = 450, 50
	common := chainSource("s", 0, shared)
	var wg sync.WaitGroup
	for _, w := range []struct {
		n   *node
		tag string
		k   int
	}{{a, "a", 1000}, {b, "b", 2000}} {
		src := common
		var extra strings.Builder
		// Distinct bodies: the same body under two names is one block.
		fmt.Fprintf(&extra, "%s0 x = s%d x + %d\n", w.tag, shared-1, w.k)
		extra.WriteString(chainSource(w.tag, 1, own))
		f := writeFile(t, t.TempDir(), w.tag+".u", src+extra.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, errs, code := try(w.n, "--json", "add", f); code != 0 {
				t.Errorf("%s: concurrent add: exit %d: %s %s", w.tag, code, out, errs)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	markers := checkSharedStore(t, url, "after the concurrent adds")
	if markers < shared+2*own {
		t.Errorf("%d complete markers, want at least %d", markers, shared+2*own)
	}
	// Each daemon runs what the other added, at the other, sending
	// nothing.
	for _, c := range []struct {
		who    *node
		target string
		expr   string
	}{{a, addrB, fmt.Sprintf("b%d 0", own-1)}, {b, addrA, fmt.Sprintf("a%d 0", own-1)}} {
		var r evalResult
		c.who.json(&r, "eval", "--timeout", "20s", "--at", c.target, c.expr)
		if r.Sync == nil || r.Sync.Blocks != 0 {
			t.Errorf("eval --at %s %q: synced %+v; want no block", c.target, c.expr, r.Sync)
		}
		if local := strings.TrimSpace(c.who.ok("eval", c.expr)); local != r.Text {
			t.Errorf("%q: %s locally, %s remotely", c.expr, local, r.Text)
		}
	}
	for _, d := range []*daemonProc{da, db} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
}

// TestE2EPostgresServerRestart is acceptance 3's second half: the
// PostgreSQL server stops (an immediate shutdown, as a crash) under a
// running daemon. While it is down every command that needs the store
// fails at once with one line naming the store (not "unknown name", not a
// crash), and a peer calling in is told the node's store is unavailable
// (without the database's address, which is the owner's business); once
// the server is back the same daemon, never restarted, serves it all
// again. A peer's first call listing blocks by digest prefix, made while
// the server was down, used to leave the prefix index failing for good.
func TestE2EPostgresServerRestart(t *testing.T) {
	unodeBinary(t) // skips under -short before a server starts
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	a := pgNode(t, "a", url)
	da := a.startDaemon()
	caller := newNode(t, "caller") // pebble: a peer outside the store
	dc := caller.startDaemon()
	addrA := da.ready.Addrs[0]
	dir := t.TempDir()
	a.ok("add", writeFile(t, dir, "fib.u", fibFile))
	a.ok("data", "put", "k/a", "1")
	var g grantResult
	a.json(&g, "grant", "--to", dc.ready.ID, "--allow", "data.read:k/", "--expires", "1h")
	more := writeFile(t, dir, "more.u", "twice x = square x + square x\n")
	// The caller's own code: ninth depends on cube, which the first call
	// lists by digest prefix.
	caller.ok("add", writeFile(t, dir, "cube.u", "cube x = x * x * x\nninth x = cube (cube x)\n"))
	storeName := fmt.Sprintf("postgres store 127.0.0.1:%d/", srv.Port())

	srv.Stop()
	for _, args := range [][]string{
		{"data", "get", "k/a"},
		{"data", "put", "k/b", "2"},
		{"data", "ls", "k/"},
		{"eval", "fib 10"},
		{"names"},
		{"add", more},
		{"grant", "--to", dc.ready.ID, "--allow", "data.read:k/", "--expires", "1h"},
		{"grants"},
		{"revoke", g.ID},
		{"log"},
	} {
		line := a.fail(args...)
		if !strings.Contains(line, storeName) || strings.Contains(line, "unknown name") || strings.Contains(line, "panic") {
			t.Errorf("unode %s with the server down: %q; want one line naming %s", strings.Join(args, " "), line, storeName)
		}
	}
	for _, c := range []struct {
		expr  string
		token bool
	}{{"ninth 2", false}, {"cube 3", false}, {"ninth 2", true}, {"1 + 1", true}, {`Data.get "k/a"`, true}} {
		args := []string{"eval", "--timeout", "20s", "--at", addrA}
		if c.token {
			args = append(args, "--token", g.Token)
		}
		line := caller.fail(append(args, c.expr)...)
		if !strings.Contains(line, "store is unavailable") || strings.Contains(line, strconv.Itoa(srv.Port())) || strings.Contains(line, "pgtest") {
			t.Errorf("remote %q (token %v) with the server down: %q; want the node's store unavailable, without its address", c.expr, c.token, line)
		}
	}

	srv.Restart(t)
	for _, c := range []struct {
		expr, want string
		token      bool
	}{{"ninth 2", "512", false}, {"cube 3", "27", false}, {"1 + 1", "2", true}, {`Data.get "k/a"`, "Some 1", true}} {
		args := []string{"eval", "--timeout", "20s", "--at", addrA}
		if c.token {
			args = append(args, "--token", g.Token)
		}
		if out := strings.TrimSpace(caller.ok(append(args, c.expr)...)); out != c.want {
			t.Errorf("remote %q after the restart: %q, want %s", c.expr, out, c.want)
		}
	}
	if out := a.ok("data", "get", "k/a"); out != "1\n" {
		t.Errorf("data get after the restart: %q", out)
	}
	if out := a.ok("eval", "fib 10"); out != "55\n" {
		t.Errorf("eval after the restart: %q", out)
	}
	a.ok("add", more)
	a.ok("data", "put", "k/b", "2")
	a.ok("revoke", g.ID)
	if line := caller.fail("eval", "--timeout", "20s", "--at", addrA, "--token", g.Token, `Data.get "k/a"`); !strings.Contains(line, "revoked") {
		t.Errorf("the token revoked after the restart: %q", line)
	}
	for _, d := range []*daemonProc{da, dc} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
}

// pgKillIterations is how many times TestE2EPostgresKill kills the
// daemon (UNODE_PG_KILLS overrides it).
const pgKillIterations = 3

// pgChainLen is how many chained definitions the add that the kill
// interrupts holds (the "thousands").
const pgChainLen = 3000

// TestE2EPostgresKill is acceptance 3's first half: a daemon on a
// PostgreSQL store is killed with SIGKILL in the middle of an add of
// pgChainLen chained definitions, while grants, revocations, data writes
// and token evaluations from another daemon run beside it. After each
// kill every complete marker in the database must have its closure
// (checkStoreOpens: the repo opens on the database and the markers are
// walked), and once the daemon restarts everything acknowledged before
// the kill is there (crashLedger.check: data, names, grants,
// revocations refused, audit entries).
func TestE2EPostgresKill(t *testing.T) {
	iterations := pgKillIterations
	if v := os.Getenv("UNODE_PG_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("UNODE_PG_KILLS=%q: want a count", v)
		}
		iterations = n
	}
	url := sharedDatabase(t)
	victim := pgNode(t, "victim", url)
	caller := newNode(t, "caller")
	dc := caller.startDaemon()
	callerID := dc.ready.ID
	dv := victim.startDaemon()
	srcDir := t.TempDir()
	led := &crashLedger{data: map[string]int64{}, names: map[string]string{}, grants: map[string]string{},
		revoked: map[string]bool{}, audited: map[string]int{}, ops: map[string]int{}}

	// addChain adds a chain of n definitions named prefix0.. and records
	// the names if the add was acknowledged.
	addChain := func(prefix string, n int) (acked bool) {
		f := filepath.Join(srcDir, prefix+".u")
		if err := os.WriteFile(f, []byte(chainSource(prefix, 0, n)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, code := try(victim, "--json", "add", f)
		if code != 0 {
			return false
		}
		var res namesResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Names) != n {
			t.Errorf("add printed %q (%v)", out, err)
			return false
		}
		led.record(func() {
			for _, x := range res.Names {
				led.names[x.Name] = x.Ref
			}
			led.ops["add"]++
		})
		return true
	}
	// How long a whole add takes here: the kills land inside one.
	start := time.Now()
	if !addChain("warm", pgChainLen) {
		t.Fatal("the first add failed")
	}
	addTime := time.Since(start)
	t.Logf("an add of %d chained definitions took %v", pgChainLen, addTime)

	// The kill comes half an add's time after the add starts, and
	// sooner after an add it missed (the machine got faster), for a few
	// more rounds if none landed.
	delay := addTime / 2
	midAdd, it := 0, 0
	for ; it < iterations || (midAdd == 0 && it < iterations+3); it++ {
		round := it // the workload's goroutines read it
		addr := dv.ready.Addrs[0]
		stop := make(chan struct{})
		var wg sync.WaitGroup
		loop := func(work func(i int)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					work(i)
				}
			}()
		}
		// data writes
		loop(func(i int) {
			k := fmt.Sprintf("crash/pg%d/%d", round, i)
			v := int64(round)*1_000_000 + int64(i)
			if _, _, code := try(victim, "data", "put", k, strconv.FormatInt(v, 10)); code == 0 {
				led.record(func() { led.data[k] = v; led.ops["data put"]++ })
			}
		})
		// grants, and now and then a revocation of one
		loop(func(i int) {
			led.mu.Lock()
			revoke := len(led.live) > 2 && len(led.fresh) < 2 && i%3 == 2
			var id string
			if revoke {
				id = led.live[0]
				led.live = led.live[1:]
			}
			led.mu.Unlock()
			if revoke {
				if _, _, code := try(victim, "revoke", id); code == 0 {
					led.record(func() { led.revoked[id] = true; led.fresh = append(led.fresh, id); led.ops["revoke"]++ })
				}
				return
			}
			out, _, code := try(victim, "--json", "grant", "--to", callerID, "--allow", "data.read:crash/", "--expires", "1h")
			if code != 0 {
				return
			}
			var g grantResult
			if err := json.Unmarshal([]byte(out), &g); err != nil || g.ID == "" {
				t.Errorf("grant printed %q (%v)", out, err)
				return
			}
			led.record(func() { led.grants[g.ID] = g.Token; led.live = append(led.live, g.ID); led.ops["grant"]++ })
		})
		// the caller's evaluations with a token, reading node data
		loop(func(i int) {
			led.mu.Lock()
			var id, tok string
			if n := len(led.live); n > 0 {
				id = led.live[n-1]
				tok = led.grants[id]
			}
			led.mu.Unlock()
			if tok == "" {
				time.Sleep(20 * time.Millisecond)
				return
			}
			if _, _, code := try(caller, "eval", "--timeout", "20s", "--at", addr, "--token", tok, `List.length (Data.list "crash/")`); code == 0 {
				led.record(func() { led.audited[id]++; led.ops["eval with token"]++ })
			}
		})
		// the add the kill interrupts
		addDone := make(chan bool, 1)
		go func() { addDone <- addChain(fmt.Sprintf("k%d_", round), pgChainLen) }()

		time.Sleep(delay)
		dv.cmd.Process.Kill()
		<-dv.done
		close(stop)
		wg.Wait()
		if acked := <-addDone; !acked {
			midAdd++
		} else {
			delay /= 2
		}
		if t.Failed() {
			t.FailNow()
		}
		checkStoreOpens(t, victim.path, it)
		dv = victim.startDaemon()
		led.check(t, it, victim, caller, dv.ready.Addrs[0])
		if t.Failed() {
			t.Fatalf("iteration %d", it)
		}
	}
	t.Logf("%d of %d kills interrupted the add; acknowledged operations: %v", midAdd, it, led.ops)
	if midAdd == 0 {
		t.Errorf("no kill landed inside an add: the test did not test what it says")
	}
	for _, d := range []*daemonProc{dv, dc} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
	checkStoreOpens(t, victim.path, it)
}

// TestE2EPostgresSharedEviction is the eviction rule on a shared store
// (docs/scaling.md, "Several daemons on one PostgreSQL store"): daemon A
// holds a block a foreign peer sent for its call (unpinned: evictable,
// as far as A knows), and daemon B, on the same store, adds a definition
// that refers to that block by hash; the definition is complete, its
// closure resting on the block. A's `unode repo gc` used to evict it,
// leaving B's definition marked complete without its closure (and
// failing to evaluate). Nothing in one process can see what another
// relies on or is adding, so eviction is off on a store several
// processes share: the collection is refused, saying why, and the
// invariant holds.
func TestE2EPostgresSharedEviction(t *testing.T) {
	url := sharedDatabase(t)
	a, b := pgNode(t, "a", url), pgNode(t, "b", url)
	caller := newNode(t, "caller")
	da, db, dc := a.startDaemon(), b.startDaemon(), caller.startDaemon()
	dir := t.TempDir()
	b.ok("add", writeFile(t, dir, "one.u", "one = 1\n"))

	caller.ok("add", writeFile(t, dir, "cube.u", "cube x = x * x * x\n"))
	if out := caller.ok("eval", "--timeout", "20s", "--at", da.ready.Addrs[0], "cube 3"); out != "27\n" {
		t.Fatalf("caller -> a: %q", out)
	}
	var st repoStatResult
	a.json(&st, "repo", "stat")
	if st.Unpinned.Blocks < 1 {
		t.Fatalf("a holds no unpinned block after a foreign call: %+v", st)
	}
	var cube showResult
	caller.json(&cube, "show", "cube")
	b.ok("add", writeFile(t, dir, "use.u", "useCube x = "+cube.Ref+" x + 1\n"))
	if out := b.ok("eval", "useCube 2"); out != "9\n" {
		t.Fatalf("b eval useCube 2: %q", out)
	}

	if out, errs, code := a.run("repo", "gc"); code == 0 || !strings.Contains(errs, "several processes") {
		t.Errorf("repo gc on a shared store: exit %d, %q %q; want a refusal saying the store is shared", code, out, errs)
	}
	checkSharedStore(t, url, "after repo gc on a shared store")
	if out := b.ok("eval", "useCube 2"); out != "9\n" {
		t.Errorf("b eval useCube 2 after a's repo gc: %q", out)
	}
	for _, d := range []*daemonProc{da, db, dc} {
		if code := d.stop(os.Interrupt); code != 0 {
			t.Errorf("daemon exit %d: %s", code, d.stderr.String())
		}
	}
}
