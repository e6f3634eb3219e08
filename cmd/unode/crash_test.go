package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/dag"
	"github.com/unode-dev/unode/p2p/repo"
)

// The crash-recovery harness (issue 7, case 1; the habit of SQLite's and
// etcd's crash tests): a daemon runs a mixed concurrent workload — adds,
// data puts, grants, revokes, and evaluations from a second daemon with
// and without a token — and is killed with SIGKILL at a random moment.
// After each kill the test opens the datastore itself (it must open, and
// every definition marked complete must have its closure), restarts the
// daemon and checks that every operation acknowledged before the kill
// (its command exited 0) is there: data values, names bound to the CIDs
// `add` printed, grants, revocations (the second node's revoked tokens
// are refused), and the audit entries of the token evaluations that
// returned.
//
// UNODE_CRASH_ITERATIONS sets the number of kills (default
// crashIterations; the acceptance run is 50:
// `UNODE_CRASH_ITERATIONS=50 go test ./cmd/unode -run TestCrashRecovery
// -timeout 30m`). UNODE_CRASH_SEED replays a run's random choices (the
// test logs its seed). -short skips it with the other end-to-end tests.

// crashIterations is the default number of kills: enough to catch lost
// writes on every run, within about a minute on a 2-core machine.
const crashIterations = 5

// crashCommandTimeout bounds one workload command; a command still
// running then is a hang, reported as a failure.
const crashCommandTimeout = 60 * time.Second

// crashLedger is what the workload saw acknowledged, across iterations.
type crashLedger struct {
	mu      sync.Mutex
	data    map[string]int64  // key -> value
	big     map[string]int    // key -> length of a Text over 4 MiB (stored chunked)
	names   map[string]string // name -> CID printed by add
	grants  map[string]string // ID -> token
	live    []string          // granted, not being revoked: for evaluations
	revoked map[string]bool   // IDs whose revoke was acknowledged
	fresh   []string          // revoked in this iteration: presented again after restart
	audited map[string]int    // token ID -> evaluations with it that returned
	blocks  map[string]bool   // roots of acknowledged dag imports and block puts
	ops     map[string]int    // acknowledged operations by kind (for the log)
}

func TestCrashRecovery(t *testing.T) {
	iterations := crashIterations
	if v := os.Getenv("UNODE_CRASH_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("UNODE_CRASH_ITERATIONS=%q: want a count", v)
		}
		iterations = n
	}
	if iterations == 0 {
		t.Skip("UNODE_CRASH_ITERATIONS=0")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("UNODE_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("UNODE_CRASH_SEED=%q: %v", v, err)
		}
	}
	t.Logf("UNODE_CRASH_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))

	victim, caller := newNode(t, "victim"), newNode(t, "caller")
	dc := caller.startDaemon()
	callerID := dc.ready.ID
	dv := victim.startDaemon()
	srcDir := t.TempDir()
	led := &crashLedger{data: map[string]int64{}, names: map[string]string{}, grants: map[string]string{},
		revoked: map[string]bool{}, audited: map[string]int{}, ops: map[string]int{}, big: map[string]int{},
		blocks: map[string]bool{}}

	for it := range iterations {
		addr := dv.ready.Addrs[0]
		runFor := time.Duration(300+rng.IntN(1200)) * time.Millisecond
		workloadSeed := rng.Uint64()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w, work := range []func(*rand.Rand, int){
			// data puts
			func(r *rand.Rand, i int) {
				k := fmt.Sprintf("crash/%d/%d", it, i)
				v := int64(it)*1_000_000 + int64(i)
				if _, _, code := try(victim, "data", "put", k, strconv.FormatInt(v, 10)); code == 0 {
					led.record(func() { led.data[k] = v; led.ops["data put"]++ })
				}
			},
			// data puts of Texts over 4 MiB: stored as chunks, synced
			// before the key that names them
			func(r *rand.Rand, i int) {
				k := fmt.Sprintf("big/%d/%d", it, i)
				n := 4<<20 + 1 + r.IntN(1<<20)
				if _, _, code := try(victim, "data", "put", k, fmt.Sprintf(`Text.repeat %d "x"`, n)); code == 0 {
					led.record(func() { led.big[k] = n; led.ops["big data put"]++ })
				}
			},
			// adds: a chain of definitions, long now and then (the issue
			// killed an add of 5,000)
			func(r *rand.Rand, i int) {
				n := 3
				if r.IntN(4) == 0 {
					n = 300
				}
				var b strings.Builder
				prefix := fmt.Sprintf("c%d_%d_", it, i)
				fmt.Fprintf(&b, "%s0 x = x + %d\n", prefix, i)
				for j := 1; j < n; j++ {
					fmt.Fprintf(&b, "%s%d x = %s%d (x + %d)\n", prefix, j, prefix, j-1, j)
				}
				f := filepath.Join(srcDir, prefix+".u")
				if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
					t.Error(err)
					return
				}
				out, _, code := try(victim, "--json", "add", f)
				if code != 0 {
					return
				}
				var res namesResult
				if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Names) != n {
					t.Errorf("add printed %q (%v)", out, err)
					return
				}
				led.record(func() {
					for _, x := range res.Names {
						led.names[x.Name] = x.Ref
					}
					led.ops["add"]++
				})
			},
			// grants, and revocations of some
			func(r *rand.Rand, i int) {
				led.mu.Lock()
				revoke := len(led.live) > 2 && len(led.fresh) < 2 && r.IntN(3) == 0
				var id string
				if revoke {
					j := r.IntN(len(led.live))
					id = led.live[j]
					led.live = slices.Delete(led.live, j, j+1)
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
			},
			// the caller's evaluations with a token, reading node data
			func(r *rand.Rand, i int) {
				led.mu.Lock()
				var id, tok string
				if len(led.live) > 0 {
					id = led.live[r.IntN(len(led.live))]
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
			},
			// blocks from outside: a chain the caller defines, exported
			// from it as a CAR and imported here (dag import), and the
			// head of another put here alone (block put; its closure is
			// one block)
			func(r *rand.Rand, i int) {
				prefix := fmt.Sprintf("k%d_%d_", it, i)
				src := fmt.Sprintf("%sa x = x * %d\n%sb x = %sa (x + %d)\n%sc x = %sb (x - %d)\n%sone x = x - %d\n",
					prefix, i+2, prefix, prefix, it, prefix, prefix, i, prefix, i+it*100000)
				f := filepath.Join(srcDir, prefix+".u")
				if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
					t.Error(err)
					return
				}
				out, _, code := try(caller, "--json", "add", f)
				if code != 0 {
					t.Errorf("add at the caller: exit %d", code)
					return
				}
				var res namesResult
				if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Names) != 4 {
					t.Errorf("add printed %q (%v)", out, err)
					return
				}
				car, _, code := try(caller, "dag", "export", prefix+"c")
				if code != 0 {
					t.Errorf("dag export at the caller: exit %d", code)
					return
				}
				carFile := filepath.Join(srcDir, prefix+".car")
				var one string
				for _, x := range res.Names {
					if x.Name == prefix+"one" {
						one = x.Ref
					}
				}
				blk, _, code := try(caller, "block", "get", one)
				if code != 0 {
					t.Errorf("block get at the caller: exit %d", code)
					return
				}
				blkFile := filepath.Join(srcDir, prefix+".block")
				if os.WriteFile(carFile, []byte(car), 0o600) != nil || os.WriteFile(blkFile, []byte(blk), 0o600) != nil {
					t.Error("writing the CAR or the block")
					return
				}
				if out, _, code := try(victim, "--json", "dag", "import", carFile); code == 0 {
					var imp struct{ Imports []dagImportResult }
					if err := json.Unmarshal([]byte(out), &imp); err != nil || len(imp.Imports) != 1 ||
						len(imp.Imports[0].Roots) != 1 || !imp.Imports[0].Roots[0].Complete {
						t.Errorf("dag import printed %q (%v)", out, err)
						return
					}
					led.record(func() { led.blocks[imp.Imports[0].Roots[0].CID] = true; led.ops["dag import"]++ })
				}
				if out, _, code := try(victim, "--json", "block", "put", blkFile); code == 0 {
					var put blockPutResult
					if err := json.Unmarshal([]byte(out), &put); err != nil || !put.Complete {
						t.Errorf("block put printed %q (%v)", out, err)
						return
					}
					led.record(func() { led.blocks[put.CID] = true; led.ops["block put"]++ })
				}
			},
			// the caller's pure evaluations (no token: default sandbox)
			func(r *rand.Rand, i int) {
				if _, _, code := try(caller, "eval", "--timeout", "20s", "--at", addr, fmt.Sprintf("%d * 2", i)); code == 0 {
					led.record(func() { led.ops["pure eval"]++ })
				}
			},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(workloadSeed, uint64(w)))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					work(r, i)
				}
			}()
		}

		time.Sleep(runFor)
		dv.cmd.Process.Kill()
		<-dv.done
		close(stop)
		wg.Wait() // commands in flight failed, or went to the repo directly
		if t.Failed() {
			t.FailNow()
		}

		checkStoreOpens(t, victim.path, it)
		dv = victim.startDaemon()
		led.check(t, it, victim, caller, dv.ready.Addrs[0])
		if t.Failed() {
			t.Fatalf("iteration %d (UNODE_CRASH_SEED=%d)", it, seed)
		}
	}
	t.Logf("acknowledged operations over %d kills: %v", iterations, led.ops)
	if code := dv.stop(os.Interrupt); code != 0 {
		t.Errorf("victim exit %d: %s", code, dv.stderr.String())
	}
	checkStoreOpens(t, victim.path, iterations)
	if code := dc.stop(os.Interrupt); code != 0 {
		t.Errorf("caller exit %d: %s", code, dc.stderr.String())
	}
}

func (l *crashLedger) record(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// try runs a workload command without failing the test when it fails
// (a command cut off by the kill fails; only a hang is an error).
func try(n *node, args ...string) (stdout, stderr string, code int) {
	cmd := n.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	ctx, cancel := context.WithTimeout(context.Background(), crashCommandTimeout)
	defer cancel()
	if err := cmd.Start(); err != nil {
		n.t.Error(err)
		return "", "", -1
	}
	stopKill := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	stopKill()
	if ctx.Err() != nil {
		n.t.Errorf("unode %s: no exit within %v", strings.Join(args, " "), crashCommandTimeout)
		return out.String(), errb.String(), -1
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		n.t.Error(err)
		return out.String(), errb.String(), -1
	}
	return out.String(), errb.String(), 0
}

// checkStoreOpens opens the repo of a dead daemon in this process: it
// must open, and every block marked complete must have its closure.
func checkStoreOpens(t *testing.T, path string, it int) {
	t.Helper()
	r, err := repo.Open(path)
	if err != nil {
		t.Fatalf("iteration %d: the repo does not open after kill -9: %v", it, err)
	}
	defer r.Close()
	if n, err := dag.NewStore(r.Datastore).CheckCompleteMarkers(context.Background()); err != nil {
		t.Fatalf("iteration %d: closure invariant broken after kill -9 (%d markers checked): %v", it, n, err)
	}
}

// check verifies, through the restarted daemon, that everything
// acknowledged so far survived.
func (l *crashLedger) check(t *testing.T, it int, victim, caller *node, addr string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()

	// Node data: every acknowledged key with its value.
	var ev struct {
		Value []json.RawMessage `json:"value"`
	}
	victim.json(&ev, "eval", `List.map (k -> (k, Optional.withDefault (0 - 1) (Data.get k))) (Data.list "crash/")`)
	got := map[string]int64{}
	for _, raw := range ev.Value {
		var pair []json.RawMessage
		var k string
		var v int64
		if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 || json.Unmarshal(pair[0], &k) != nil || json.Unmarshal(pair[1], &v) != nil {
			t.Fatalf("data listing entry %s", raw)
		}
		got[k] = v
	}
	lost := 0
	for k, v := range l.data {
		if got[k] != v {
			lost++
			if lost <= 3 {
				t.Errorf("iteration %d: acknowledged data %s = %d is %d after kill -9 (0: missing)", it, k, v, got[k])
			}
		}
	}
	if lost > 0 {
		t.Errorf("iteration %d: %d of %d acknowledged data puts lost", it, lost, len(l.data))
	}

	// Large node data: after a collection (which must keep the chunks
	// of every key), each acknowledged key with its length.
	if len(l.big) > 0 {
		if _, stderr, code := try(victim, "repo", "gc"); code != 0 {
			t.Fatalf("iteration %d: repo gc: %s", it, stderr)
		}
	}
	lost = 0
	for k, n := range l.big {
		var r struct {
			Value int `json:"value"`
		}
		victim.json(&r, "eval", fmt.Sprintf(`match Data.get %q with | Some t -> Text.length t | None -> 0 - 1`, k))
		if r.Value != n {
			lost++
			if lost <= 3 {
				t.Errorf("iteration %d: acknowledged large data %s of %d characters has %d after kill -9 and a gc (-1: missing)", it, k, n, r.Value)
			}
		}
	}
	if lost > 0 {
		t.Errorf("iteration %d: %d of %d acknowledged large data puts lost", it, lost, len(l.big))
	}

	// Names: bound to what add printed.
	var names namesResult
	victim.json(&names, "names")
	bound := map[string]string{}
	for _, n := range names.Names {
		bound[n.Name] = n.Ref
	}
	lost = 0
	for name, c := range l.names {
		if bound[name] != c {
			lost++
			if lost <= 3 {
				t.Errorf("iteration %d: name %s printed by add as %s is %q after kill -9", it, name, c, bound[name])
			}
		}
	}
	if lost > 0 {
		t.Errorf("iteration %d: %d of %d acknowledged names lost", it, lost, len(l.names))
	}

	// Grants and revocations.
	var grants grantsResult
	victim.json(&grants, "grants")
	listed := map[string]bool{}
	for _, g := range grants.Grants {
		listed[g.ID] = g.Revoked
	}
	for id := range l.grants {
		if revoked, ok := listed[id]; !ok {
			t.Errorf("iteration %d: acknowledged grant %s missing after kill -9", it, id)
		} else if l.revoked[id] && !revoked {
			t.Errorf("iteration %d: acknowledged revocation of %s lost after kill -9", it, id)
		}
	}
	// A token revoked before the crash is refused when presented again:
	// what only it allowed (reading node data) is denied.
	for _, id := range l.fresh {
		_, errs, code := try(caller, "eval", "--timeout", "20s", "--at", addr, "--token", l.grants[id], `Data.list "crash/"`)
		if code == 0 || !strings.Contains(errs, "denied") || !strings.Contains(errs, "revoked") {
			t.Errorf("iteration %d: token %s, revoked before kill -9, presented again: exit %d, %q", it, id, code, errs)
		}
	}
	l.fresh = nil

	// Blocks taken from outside: each acknowledged root is here with its
	// whole closure.
	for c := range l.blocks {
		var st blockStatResult
		out, errs, code := try(victim, "--json", "block", "stat", c)
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.Complete {
			t.Errorf("iteration %d: block %s, imported or put before kill -9: exit %d, %q %q", it, c, code, out, errs)
		}
	}

	// Audit entries of the token evaluations that returned.
	var log logResult
	victim.json(&log, "log", "--limit", "0")
	ok := map[string]int{}
	for _, e := range log.Entries {
		if e.Outcome != capabilities.OutcomeOK {
			continue
		}
		for _, id := range e.Tokens {
			ok[id]++
		}
	}
	for id, n := range l.audited {
		if ok[id] < n {
			t.Errorf("iteration %d: %d evaluations with token %s returned, %d audit entries after kill -9", it, n, id, ok[id])
		}
	}
}

// BenchmarkDaemonDataPut: `unode data put` through a running daemon (the
// real node, an on-disk repo), the command run in process: flag parsing,
// the API round trip over the socket and the synced write
// (docs/benchmarks.md, "Durability").
func BenchmarkDaemonDataPut(b *testing.B) {
	b.Setenv(repo.EnvPath, filepath.Join(b.TempDir(), "r"))
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, nil, []string{"daemon", "--json", "--listen", "/ip4/127.0.0.1/tcp/0"}, nil, stdout, io.Discard)
	}()
	b.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stdout.String(), "\n"); {
		if time.Now().After(deadline) {
			b.Fatal("daemon not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := run(ctx, nil, []string{"data", "put", "bench/" + strconv.Itoa(i), strconv.Itoa(i)}, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("data put: exit %d", code)
		}
	}
}
