package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"

	"github.com/unode-dev/unode/p2p"
)

// remoteEval: every honest instance defines chains of definitions of
// each depth (param depths, "10,200"), unique to it, and evaluates the
// top of each at a few random other instances (param targets): a cold
// call (the callee lacks the chain), then a warm one (it holds it, and
// the caller knows). With param serial ("true"), the instances take
// turns (instance.inTurn), so that latency is the network's and one
// call's work; "false" runs every instance's calls at once. With param
// warmup ("true"), each caller first syncs a throwaway chain to each
// target, untimed. Each call
// records its sync figures (blocks, bytes,
// round trips beyond the request) and its latency, also in round trips
// of the added link delay. The case fails if a call fails, returns a
// wrong value, or syncs other than the design says: a cold call sends
// the whole chain in one extra round trip, a warm one nothing.
func remoteEval(env *runtime.RunEnv, ic *run.InitContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout(env))
	defer cancel()
	in, err := setup(env, ic)
	if err != nil {
		return err
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

	var depths []int
	for _, s := range strings.Split(stringParam(env, "depths", "10,200"), ",") {
		d, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || d < 1 {
			return fmt.Errorf("param depths: %q", s)
		}
		depths = append(depths, d)
	}
	want := map[int]string{}
	for _, d := range depths {
		src := chainSource(chainName(d, in.seq), d, in.seq*100_000+int64(d))
		if _, err := in.node.Codebase().Add(ctx, "chain.u", []byte(src)); err != nil {
			return fmt.Errorf("adding the chain of depth %d: %w", d, err)
		}
		res, err := in.node.Codebase().EvalSource(ctx, "<local>", chainTop(chainName(d, in.seq), d)+" 1", p2p.Budget{})
		if err != nil {
			return err
		}
		want[d] = res.Text
	}
	// Param warmup ("true"): a throwaway chain per target, synced
	// before the measured calls.
	warm := stringParam(env, "warmup", "true") == "true"
	warmDepth := slices.Max(depths)
	warmName := func(target int64) string { return fmt.Sprintf("w%d_i%d_t%d_", warmDepth, in.seq, target) }
	if warm {
		for _, r := range in.honest() {
			src := chainSource(warmName(r.Seq), warmDepth, -(in.seq*100_000 + r.Seq))
			if _, err := in.node.Codebase().Add(ctx, "warmup.u", []byte(src)); err != nil {
				return err
			}
		}
	}
	if err := in.barrier(ctx, "ready", env.TestInstanceCount); err != nil {
		return err
	}

	others := in.honest()
	in.rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	targets := others[:min(len(others), intParam(env, "targets", 3))]
	err = in.inTurn(ctx, "calls", stringParam(env, "serial", "true") == "true", func() error {
		for _, t := range targets {
			// The connection and the status exchange first, with no code to
			// sync: what follows measures the sync, not the dial.
			if _, err := in.node.EvalAt(ctx, t.ID, "1 + 1", p2p.Budget{}); err != nil {
				return fmt.Errorf("warming up the connection to %d: %w", t.Seq, err)
			}
			if warm {
				// And one untimed cold sync of a chain of its own, so that
				// what is measured is a running node's, not the first
				// sync of a fresh process (its caches, its heap).
				if _, err := in.node.EvalAt(ctx, t.ID, chainTop(warmName(t.Seq), warmDepth)+" 1", p2p.Budget{}); err != nil {
					return fmt.Errorf("warming up the sync path to %d: %w", t.Seq, err)
				}
			}
			for _, d := range depths {
				for _, kind := range []string{"cold", "warm"} {
					start := time.Now()
					res, err := in.node.EvalAt(ctx, t.ID, chainTop(chainName(d, in.seq), d)+" 1", p2p.Budget{})
					took := time.Since(start)
					if err != nil {
						return fmt.Errorf("%s call of depth %d at instance %d: %w", kind, d, t.Seq, err)
					}
					if res.Text != want[d] {
						return fmt.Errorf("%s call of depth %d at instance %d: %s, want %s", kind, d, t.Seq, res.Text, want[d])
					}
					tags := fmt.Sprintf(",depth=%d,kind=%s", d, kind)
					in.point("remote_eval_latency_ms"+tags, ms(took))
					if in.link.Delay > 0 {
						in.point("remote_eval_latency_rt"+tags, float64(took)/float64(in.link.rt()))
					}
					in.point("remote_eval_blocks"+tags, float64(res.Sync.Blocks))
					in.point("remote_eval_bytes"+tags, float64(res.Sync.Bytes))
					in.point("remote_eval_round_trips"+tags, float64(res.Sync.RoundTrips))
					wantBlocks, wantRT := d, 1
					if kind == "warm" {
						wantBlocks, wantRT = 0, 0
					}
					if res.Sync.Blocks != wantBlocks || res.Sync.RoundTrips != wantRT {
						return fmt.Errorf("%s call of depth %d at instance %d synced %d blocks in %d extra round trips, want %d in %d",
							kind, d, t.Seq, res.Sync.Blocks, res.Sync.RoundTrips, wantBlocks, wantRT)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return in.finish(ctx)
}

// finish ends an honest instance's part: it signals honest-done (which
// stops the hostile instances) and waits for every instance before its
// node closes, so that nobody's last calls find it gone.
func (in *instance) finish(ctx context.Context) error {
	if err := in.barrier(ctx, "honest-done", in.honestCount()); err != nil {
		return err
	}
	return in.barrier(ctx, "end", in.env.TestInstanceCount)
}

// chainSource is a chain of depth definitions, each calling the one
// below: <name>0 .. <name><depth-1>. The bottom one's constant is salt,
// so that chains of different salts share no block.
func chainSource(name string, depth int, salt int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s0 x = x + %d\n", name, salt)
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "%s%d x = %s%d (x + %d) * 1\n", name, i, name, i-1, i)
	}
	return b.String()
}

// chainTop is the name of the top of a chain.
func chainTop(name string, depth int) string { return fmt.Sprintf("%s%d", name, depth-1) }

// chainName names instance seq's chain of depth.
func chainName(depth int, seq int64) string { return fmt.Sprintf("c%d_i%d_", depth, seq) }

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
