package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/p2p"
)

// clusterNode is what the cluster operations need of the running node,
// beyond netNode: *p2p.Node provides it through p2pNode; a node without
// it (the tests' fake) has no clusters.
type clusterNode interface {
	// Provision returns a member of the cluster (owner "" for an open
	// cluster) chosen by load and ping time.
	Provision(ctx context.Context, ref p2p.ClusterRef) (string, error)
	// ClusterMembers lists the members that answer and confirm their
	// membership.
	ClusterMembers(ctx context.Context, ref p2p.ClusterRef) ([]p2p.MemberInfo, error)
	// Clusters lists the clusters the node is a member of.
	Clusters() []p2p.ClusterInfo
	// Join makes the node a member of the open cluster name, or with a
	// membership token of its owner's cluster name.
	Join(ctx context.Context, name string, membership *capabilities.Token) error
}

// clusterNode returns the backend's node as a clusterNode, or the error
// for `what` without one.
func (b *backend) clusterNode(what string) (clusterNode, error) {
	if b.node == nil {
		return nil, needsNode(what)
	}
	cn, ok := b.node.(clusterNode)
	if !ok {
		return nil, fmt.Errorf("%s: this node has no clusters", what)
	}
	return cn, nil
}

// clusterRef reads a cluster named on the command line: NAME, and with
// --owner PEER the owner's cluster NAME.
func clusterRef(name, owner string) (p2p.ClusterRef, error) {
	if err := capabilities.CheckClusterName(name); err != nil {
		return p2p.ClusterRef{}, err
	}
	if owner == "" {
		return p2p.OpenCluster(name), nil
	}
	id, err := decodePeer(owner)
	if err != nil {
		return p2p.ClusterRef{}, fmt.Errorf("--owner: %w", err)
	}
	return p2p.OwnedCluster(id, name), nil
}

// provisionTarget is where an evaluation with --cluster runs: a member
// the node provisions.
func (b *backend) provisionTarget(ctx context.Context, cmd, cluster, owner string) (string, error) {
	cn, err := b.clusterNode(cmd + " --cluster")
	if err != nil {
		return "", err
	}
	ref, err := clusterRef(cluster, owner)
	if err != nil {
		return "", err
	}
	return cn.Provision(ctx, ref)
}

// clusterFlag names an evaluation that needs the network because of
// --cluster, or returns "".
func clusterFlag(cmd, cluster string) string {
	if cluster == "" {
		return ""
	}
	return cmd + " --cluster"
}

// --- cluster ls, cluster (joined) ---

type clusterLsRequest struct {
	Name  string `json:"name"`
	Owner string `json:"owner,omitempty"`
}

// clusterLsResult lists a cluster's members as the node sees them now.
type clusterLsResult struct {
	Cluster string           `json:"cluster"`
	Owner   string           `json:"owner,omitempty"`
	Members []p2p.MemberInfo `json:"members"`
}

func (r *clusterLsResult) Text() string {
	var b strings.Builder
	if len(r.Members) == 0 {
		return "no member answered\n"
	}
	w := 0
	for _, m := range r.Members {
		w = max(w, len(m.ID))
	}
	fmt.Fprintf(&b, "%-*s  %5s  %9s\n", w, "MEMBER", "LOAD", "PING")
	for _, m := range r.Members {
		self := ""
		if m.Self {
			self = "  (this node)"
		}
		fmt.Fprintf(&b, "%-*s  %5.3f  %6.2f ms%s\n", w, m.ID, m.Load, m.PingMs, self)
	}
	return b.String()
}

var clusterLsOp = &operation[clusterLsRequest, clusterLsResult]{
	name:    "cluster/ls",
	network: func(*clusterLsRequest) string { return "cluster ls" },
	do: func(ctx context.Context, b *backend, req *clusterLsRequest) (*clusterLsResult, error) {
		cn, err := b.clusterNode("cluster ls")
		if err != nil {
			return nil, err
		}
		ref, err := clusterRef(req.Name, req.Owner)
		if err != nil {
			return nil, err
		}
		ms, err := cn.ClusterMembers(ctx, ref)
		if err != nil {
			return nil, err
		}
		return &clusterLsResult{Cluster: req.Name, Owner: req.Owner, Members: nonNilSlice(ms)}, nil
	},
}

type clustersRequest struct{}

type clustersResult struct {
	Clusters []p2p.ClusterInfo `json:"clusters"`
}

func (r *clustersResult) Text() string {
	if len(r.Clusters) == 0 {
		return "not a member of any cluster (join with `unode daemon --cluster NAME`)\n"
	}
	var b strings.Builder
	for _, c := range r.Clusters {
		if c.Owner == "" {
			fmt.Fprintf(&b, "%s\topen\n", c.Name)
			continue
		}
		fmt.Fprintf(&b, "%s\towned by %s\ttoken %s until %s\n", c.Name, c.Owner, c.Token, c.Expires.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return b.String()
}

var clustersOp = &operation[clustersRequest, clustersResult]{
	name:    "cluster/joined",
	network: func(*clustersRequest) string { return "cluster" },
	do: func(ctx context.Context, b *backend, _ *clustersRequest) (*clustersResult, error) {
		cn, err := b.clusterNode("cluster")
		if err != nil {
			return nil, err
		}
		return &clustersResult{Clusters: nonNilSlice(cn.Clusters())}, nil
	},
}

// --- joining at daemon start ---

// clusterJoin is one cluster the daemon joins: open, or owned by the
// root of membership.
type clusterJoin struct {
	name       string
	membership *capabilities.Token
}

// clusterJoins reads the clusters to join (--cluster and the config's
// "clusters") and the membership tokens (--membership and the config's
// "memberships"): a name that a token grants (cluster.member:NAME) joins
// the token owner's cluster, with that token; any other name the open
// cluster. A token that grants none of the names is an error, so that a
// mistyped name is not silently an open cluster.
func clusterJoins(names, tokens []string) ([]clusterJoin, error) {
	var toks []*capabilities.Token
	for i, s := range tokens {
		t, err := capabilities.ParseToken(s)
		if err != nil {
			return nil, fmt.Errorf("--membership %d: %w", i+1, err)
		}
		toks = append(toks, t)
	}
	used := make([]bool, len(toks))
	var out []clusterJoin
	seen := map[string]bool{}
	for _, name := range names {
		if err := capabilities.CheckClusterName(name); err != nil {
			return nil, fmt.Errorf("--cluster: %w", err)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		owned := false
		for i, t := range toks {
			if t.Sandbox().GrantsMembership(name) {
				out = append(out, clusterJoin{name: name, membership: t})
				used[i], owned = true, true
			}
		}
		if !owned {
			out = append(out, clusterJoin{name: name})
		}
	}
	for i, t := range toks {
		if !used[i] {
			return nil, fmt.Errorf("--membership %d (token %s) grants %s, none of the clusters to join (add --cluster NAME)", i+1, t.ID(), t.Sandbox())
		}
	}
	return out, nil
}

// joinClusters joins the clusters of the daemon's flags and config; a
// membership token that does not verify for this node is an error.
func joinClusters(ctx context.Context, n netNode, joins []clusterJoin) error {
	if len(joins) == 0 {
		return nil
	}
	cn, ok := n.(clusterNode)
	if !ok {
		return errors.New("this node has no clusters")
	}
	for _, j := range joins {
		if err := cn.Join(ctx, j.name, j.membership); err != nil {
			return err
		}
	}
	return nil
}

// --- the p2p node ---

func (n p2pNode) Provision(ctx context.Context, ref p2p.ClusterRef) (string, error) {
	p, err := n.Node.Provision(ctx, ref)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

func (n p2pNode) Join(ctx context.Context, name string, membership *capabilities.Token) error {
	if membership == nil {
		return n.Node.JoinCluster(ctx, name)
	}
	return n.Node.JoinOwnedCluster(ctx, membership, name)
}

var _ clusterNode = p2pNode{}
