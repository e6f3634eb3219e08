package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"

	"github.com/unode-dev/unode/p2p"
)

// dhtDiscovery: the instances find each other, their clusters and code
// through the private DHT alone. The first honest instance to claim it
// is the bootstrap node, and every other instance is started with it as
// its only bootstrap peer (no other address given). Of the other honest
// instances, taken in sequence order, the first is the provider: it
// publishes a chain of definitions (param depth) whose root everyone
// fetches through provider records (FetchClosure, no peer named). Every
// other one in two (the provider included) joins the open cluster
// (param cluster); the rest (and the bootstrap) provision a member of
// it and evaluate the provider's definition there, by its CID, through
// `at (provision (Cluster.named ...))`.
func dhtDiscovery(env *runtime.RunEnv, ic *run.InitContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout(env))
	defer cancel()
	in, err := setup(env, ic)
	if err != nil {
		return err
	}
	bootTopic := sync.NewTopic("bootstrap", &peerRecord{})
	isBoot := false
	if !in.hostile {
		claim, err := in.sync.SignalEntry(ctx, "bootstrap-claim")
		if err != nil {
			return err
		}
		isBoot = claim == 1
	}
	start := time.Now()
	if isBoot {
		if in.node, err = in.startNode(ctx, p2p.WithDHTMode(p2p.DHTServer)); err != nil {
			return err
		}
		if _, err := in.sync.Publish(ctx, bootTopic, in.record()); err != nil {
			return err
		}
	} else {
		recs, err := collect[peerRecord](ctx, in.sync, "bootstrap", 1)
		if err != nil {
			return err
		}
		if in.node, err = in.startNode(ctx, p2p.WithDHTMode(p2p.DHTServer), p2p.WithBootstrap(recs[0].addr())); err != nil {
			return err
		}
	}
	defer in.node.Close()
	if err := in.exchangeRecords(ctx); err != nil {
		return err
	}
	if err := in.trust(in.node); err != nil {
		return err
	}
	if in.hostile {
		// The attacker needs addresses to attack; honest instances find
		// theirs through the DHT only.
		if err := in.learnAddrs(in.node); err != nil {
			return err
		}
		return in.runHostile(ctx)
	}

	// Routing tables: a few peers each before anything is looked up.
	want := min(len(in.peers)-1, 4)
	for len(in.node.Discovery().RoutingTable()) < want {
		if ctx.Err() != nil {
			return fmt.Errorf("routing table: %d peers, want %d: %w", len(in.node.Discovery().RoutingTable()), want, ctx.Err())
		}
		pause(ctx, 50*time.Millisecond)
	}
	in.point("dht_table_ready_ms", ms(time.Since(start)))
	if err := in.barrier(ctx, "ready", env.TestInstanceCount); err != nil {
		return err
	}

	// Roles, by sequence order among the honest instances but the
	// bootstrap.
	bootID := ""
	if !isBoot {
		recs, err := collect[peerRecord](ctx, in.sync, "bootstrap", 1)
		if err != nil {
			return err
		}
		bootID = recs[0].ID
	} else {
		bootID = in.node.ID().String()
	}
	rank, members := -1, map[string]bool{}
	var providerID string
	r := 0
	for _, p := range in.peers {
		if p.Hostile || p.ID == bootID {
			continue
		}
		if r == 0 {
			providerID = p.ID
		}
		if r%2 == 0 {
			members[p.ID] = true
		}
		if p.Seq == in.seq {
			rank = r
		}
		r++
	}
	isProvider := providerID == in.node.ID().String()
	cluster := stringParam(env, "cluster", "tg-stats")
	ref := p2p.OpenCluster(cluster)

	defTopic := sync.NewTopic("definition", &definition{})
	if isProvider {
		depth := intParam(env, "depth", 30)
		if _, err := in.node.Codebase().Add(ctx, "lib.u", []byte(chainSource("lib", depth, 7))); err != nil {
			return err
		}
		top := chainTop("lib", depth)
		if _, err := in.node.Codebase().Publish(ctx, top); err != nil {
			return fmt.Errorf("publishing %s: %w", top, err)
		}
		root, err := in.node.Codebase().BlockOf(ctx, top)
		if err != nil {
			return err
		}
		if err := waitProvided(ctx, in.node, root); err != nil {
			return err
		}
		res, err := in.node.Codebase().EvalSource(ctx, "<local>", top+" 10", p2p.Budget{})
		if err != nil {
			return err
		}
		if _, err := in.sync.Publish(ctx, defTopic, &definition{Root: root.String(), Want: res.Text, Blocks: depth}); err != nil {
			return err
		}
	}
	if members[in.node.ID().String()] {
		t0 := time.Now()
		if err := in.node.JoinCluster(ctx, cluster); err != nil {
			return err
		}
		if err := waitProvided(ctx, in.node, ref.Key()); err != nil {
			return err
		}
		in.point("dht_join_ms", ms(time.Since(t0)))
	}
	defs, err := collect[definition](ctx, in.sync, "definition", 1)
	if err != nil {
		return err
	}
	def := defs[0]
	root, err := cid.Decode(def.Root)
	if err != nil {
		return err
	}
	if err := in.barrier(ctx, "announced", in.honestCount()); err != nil {
		return err
	}

	if !isProvider {
		t0 := time.Now()
		st, err := in.node.FetchClosure(ctx, []cid.Cid{root}, p2p.FetchOptions{})
		took := time.Since(t0)
		if err != nil {
			return fmt.Errorf("fetching the provider's definition through the DHT: %w", err)
		}
		in.point("dht_fetch_ms", ms(took))
		if in.link.Delay > 0 {
			in.point("dht_fetch_rt", float64(took)/float64(in.link.rt()))
		}
		in.point("dht_fetch_blocks", float64(st.Blocks))
		in.point("dht_fetch_providers", float64(st.Providers))
		in.point("dht_fetch_round_trips", float64(st.RoundTrips))
		if st.Blocks != def.Blocks {
			return fmt.Errorf("fetched %d blocks, want the closure's %d", st.Blocks, def.Blocks)
		}
	}
	if !members[in.node.ID().String()] && !isProvider {
		t0 := time.Now()
		p, err := in.node.Provision(ctx, ref)
		if err != nil {
			return fmt.Errorf("provision %s: %w", ref, err)
		}
		in.point("dht_provision_ms", ms(time.Since(t0)))
		if !members[p.String()] {
			return fmt.Errorf("provisioned %s, not a member", p)
		}
		t0 = time.Now()
		expr := fmt.Sprintf("at (provision (Cluster.named %q)) '(#%s 10)", cluster, def.Root)
		res, err := in.node.Codebase().EvalSource(ctx, "<provision>", expr, p2p.Budget{})
		if err != nil {
			return fmt.Errorf("%s: %w", expr, err)
		}
		in.point("dht_provision_eval_ms", ms(time.Since(t0)))
		if res.Text != def.Want {
			return fmt.Errorf("%s gave %s, want %s", expr, res.Text, def.Want)
		}
		members, err := in.node.ClusterMembers(ctx, ref)
		if err != nil {
			return err
		}
		in.point("dht_cluster_members_seen", float64(len(members)))
	}
	in.env.RecordMessage("dht-discovery: rank %d, provider %v, member %v", rank, isProvider, members[in.node.ID().String()])
	return in.finish(ctx)
}

// definition is what the provider tells the others it published.
type definition struct {
	Root   string `json:"root"`
	Want   string `json:"want"`   // the value of `root 10`
	Blocks int    `json:"blocks"` // the closure's size
}

// waitProvided waits until n has provided key in the DHT at least once.
func waitProvided(ctx context.Context, n *p2p.Node, key cid.Cid) error {
	for {
		for _, a := range n.Announcements() {
			if a.Key.Hash().HexString() == key.Hash().HexString() && !a.LastProvided.IsZero() {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s never provided: %w", key, ctx.Err())
		}
		pause(ctx, 50*time.Millisecond)
	}
}
