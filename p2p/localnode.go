package p2p

import "github.com/unode-dev/unode/eval"

// ParseNode makes Node.fromText and Node.fixed answer without a node as
// they do on one (netHost.ParseNode): a peer ID, or a multiaddr ending
// in /p2p/<id>, and nothing else. Without it eval's fallback took any
// word, so `Node.fromText "nope"` was Some without a daemon and None
// with one.
func (h *localDataHost) ParseNode(text string) (*eval.Node, bool) {
	id, addrs, err := parseTarget(text)
	if err != nil {
		return nil, false
	}
	n := &eval.Node{ID: id.String()}
	for _, a := range addrs {
		n.Addrs = append(n.Addrs, a.String())
	}
	return n, true
}

var _ eval.NodeParser = (*localDataHost)(nil)
