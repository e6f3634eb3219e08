package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"

	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo/pgds"
)

// sharedStore: each honest group is a set of instances on one
// PostgreSQL store (param pg_url, the database; the table is the
// group's, so groups need only one database between them), each in its
// own process as nodes on several machines would be. Each instance adds
// a chain of definitions (param depth) unique to it, then calls
//
//	same-group    a member of its own group: the callee shares the
//	              store, so nothing is synced;
//	cross-first   a member of another group: the chain is synced, once,
//	              into that group's store;
//	cross-second  another member of that group: the store already holds
//	              the chain, so nothing needs sending.
//
// and records the sync of each call; with param serial ("true") the
// instances take turns, as in remote-eval. The case fails on a failed
// call or a wrong value, when a call within a group syncs anything, or a
// first call across groups other than the whole chain. A second call
// across may send blocks again (the callee's digest-prefix index does
// not see what another process wrote: dag/prefix.go); it is recorded,
// and fails only past what a cold call sends.
//
// pg_url must not contain "=" (Testground's parameter syntax cannot
// carry one): give sslmode and the like through PG* environment
// variables, which pgx reads.
func sharedStore(env *runtime.RunEnv, ic *run.InitContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout(env))
	defer cancel()
	in, err := setup(env, ic)
	if err != nil {
		return err
	}
	if !in.hostile {
		url := stringParam(env, "pg_url", "")
		if url == "" {
			return fmt.Errorf("shared-store needs param pg_url: a PostgreSQL database every instance reaches")
		}
		table := "store_" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, strings.ToLower(in.group))
		// Two connections each: 32 instances stay well within a
		// server's max_connections.
		ds, err := pgds.New(ctx, url, pgds.Options{Table: table, MaxConns: 2})
		if err != nil {
			return fmt.Errorf("opening the group's store: %w", err)
		}
		defer ds.Close()
		in.ds = ds
	}
	if in.node, err = in.startNode(ctx, p2p.WithDHTMode(p2p.DHTOff)); err != nil {
		return err
	}
	defer in.node.Close()
	if err := in.meet(ctx); err != nil {
		return err
	}
	if in.hostile {
		return in.runHostile(ctx)
	}
	for _, r := range in.honest() {
		if (r.Group == in.group) != (r.StoreID == in.node.StoreID()) {
			return fmt.Errorf("instance %d of group %s has store %s, this one (group %s) %s", r.Seq, r.Group, r.StoreID, in.group, in.node.StoreID())
		}
	}

	depth := intParam(env, "depth", 50)
	// Names of its own: the namespace is the group's. The call names the
	// chain by CID, which means the same at every callee.
	name := chainName(depth, in.seq)
	if _, err := in.node.Codebase().Add(ctx, "chain.u", []byte(chainSource(name, depth, in.seq))); err != nil {
		return err
	}
	root, err := in.node.Codebase().BlockOf(ctx, chainTop(name, depth))
	if err != nil {
		return err
	}
	call := fmt.Sprintf("#%s 1", root)
	want, err := in.node.Codebase().EvalSource(ctx, "<local>", call, p2p.Budget{})
	if err != nil {
		return err
	}
	if err := in.barrier(ctx, "ready", env.TestInstanceCount); err != nil {
		return err
	}

	var mine, theirs []peerRecord
	for _, r := range in.honest() {
		if r.Group == in.group {
			mine = append(mine, r)
		} else {
			theirs = append(theirs, r)
		}
	}
	type step struct {
		kind string
		to   peerRecord
	}
	var steps []step
	if len(mine) > 0 {
		steps = append(steps, step{"same-group", pick(in, mine, 1)[0]})
	}
	if len(theirs) > 0 {
		// Two members of one other group, when it has two.
		first := pick(in, theirs, 1)[0]
		steps = append(steps, step{"cross-first", first})
		for _, r := range pick(in, theirs, len(theirs)) {
			if r.Group == first.Group && r.Seq != first.Seq {
				steps = append(steps, step{"cross-second", r})
				break
			}
		}
	}
	err = in.inTurn(ctx, "calls", stringParam(env, "serial", "true") == "true", func() error {
		for _, s := range steps {
			// The connection and the store proof first, with no code to
			// sync: what follows measures the sync, not the dial.
			if _, err := in.node.EvalAt(ctx, s.to.ID, "1 + 1", p2p.Budget{}); err != nil {
				return fmt.Errorf("warming up the connection to %d: %w", s.to.Seq, err)
			}
			t0 := time.Now()
			res, err := in.node.EvalAt(ctx, s.to.ID, call, p2p.Budget{})
			took := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s call at instance %d: %w", s.kind, s.to.Seq, err)
			}
			if res.Text != want.Text {
				return fmt.Errorf("%s call at instance %d: %s, want %s", s.kind, s.to.Seq, res.Text, want.Text)
			}
			tags := ",kind=" + s.kind
			in.point("shared_blocks"+tags, float64(res.Sync.Blocks))
			in.point("shared_bytes"+tags, float64(res.Sync.Bytes))
			in.point("shared_round_trips"+tags, float64(res.Sync.RoundTrips))
			in.point("shared_latency_ms"+tags, ms(took))
			if in.link.Delay > 0 {
				in.point("shared_latency_rt"+tags, float64(took)/float64(in.link.rt()))
			}
			switch {
			case s.kind == "cross-first" && res.Sync.Blocks != depth,
				s.kind == "same-group" && res.Sync.Blocks != 0:
				return fmt.Errorf("%s call at instance %d synced %d blocks, want %d", s.kind, s.to.Seq, res.Sync.Blocks, map[bool]int{true: depth}[s.kind == "cross-first"])
			case s.kind == "cross-second" && res.Sync.Blocks > depth:
				return fmt.Errorf("%s call at instance %d synced %d blocks, more than the chain's %d", s.kind, s.to.Seq, res.Sync.Blocks, depth)
			case s.kind == "cross-second" && res.Sync.Blocks > 0:
				// The design says 0: the callee's store holds the chain
				// (another process of its group wrote it). Recorded, not
				// failed: see docs/benchmarks.md, "Testground plans".
				in.env.RecordMessage("%s call at instance %d: %d of %d blocks sent again, which the callee's store already held", s.kind, s.to.Seq, res.Sync.Blocks, depth)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return in.finish(ctx)
}
