package p2p

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/unode-dev/unode/p2p/discovery"
)

// connectHint is what to do when no address for a peer is known.
const connectHint = "connect to it first: unode connect /ip4/HOST/tcp/PORT/p2p/PEER"

// DialText says, in one line a user can act on, why a connection to a
// peer could not be made, or returns false when err is not a dial
// failure. libp2p's own text lists every address tried with its cause
// over several lines ("all dials failed\n  * [...] dial backoff"); this
// keeps the first address's cause, counts the rest and gives a hint.
func DialText(err error) (string, bool) {
	var de *swarm.DialError
	switch {
	case errors.Is(err, discovery.ErrNoPeers), errors.Is(err, discovery.ErrPeerNotFound),
		errors.Is(err, routing.ErrNotFound), errors.Is(err, swarm.ErrNoAddresses),
		errors.Is(err, swarm.ErrNoGoodAddresses):
		return "no address known for the peer (and the DHT found none); " + connectHint, true
	case errors.As(err, &de):
		if len(de.DialErrors) == 0 {
			cause := "unreachable"
			if de.Cause != nil {
				cause = dialCause(de.Cause)
			}
			return "cannot reach the peer: " + cause + "; " + connectHint, true
		}
		first := de.DialErrors[0]
		s := fmt.Sprintf("cannot reach the peer at %s: %s", first.Address, dialCause(first.Cause))
		if more := len(de.DialErrors) - 1 + de.Skipped; more > 0 {
			s += fmt.Sprintf(" (and %d more addresses)", more)
		}
		return s + "; is its daemon running at that address?", true
	case errors.Is(err, swarm.ErrDialBackoff):
		return "cannot reach the peer: " + dialCause(err), true
	}
	return "", false
}

// dialCause is one cause, without the layers of "dial tcp4 ...:".
func dialCause(err error) string {
	if errors.Is(err, swarm.ErrDialBackoff) {
		return "a dial failed moments ago, retrying shortly (dial backoff)"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		s = s[i+2:] // "dial tcp4 127.0.0.1:1: connect: connection refused" -> "connection refused"
	}
	return strings.Join(strings.Fields(s), " ")
}
