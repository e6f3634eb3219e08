package p2p

import (
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// How provision weighs load against ping time, and what it counts as
// equally good (docs/protocol.md, "Clusters").
const (
	// rttPerLoad is the ping time that weighs as much as a whole unit of
	// load: a member 10 ms further away must be 0.1 less loaded to be
	// preferred. Ping times on one network differ by a few ms, loads by
	// tenths, so neither swamps the other.
	rttPerLoad = 100 * time.Millisecond

	// provisionTolerance is the cost within which members count as
	// equally good and are taken in turn: 0.05 of load (a dozen foreign
	// evaluations on a default node) or 5 ms of ping time. It is wider
	// than the noise of one status figure or one ping, so that equal
	// members are not told apart by chance, and narrow enough that a
	// member near full load (1.0) never ties with an idle one.
	provisionTolerance = 0.05
)

// memberCandidate is a member that answered, with what provision weighs.
type memberCandidate struct {
	ID   peer.ID
	Load float64       // as the member stated it, 0 idle, 1 busy
	RTT  time.Duration // ping time from this node
}

// cost is what provision minimizes.
func (c memberCandidate) cost() float64 {
	return max(c.Load, 0) + float64(max(c.RTT, 0))/float64(rttPerLoad)
}

// chooseMember returns the index in cs of the member provision picks, or
// -1 when cs is empty. The candidates whose cost is within
// provisionTolerance of the lowest are equally good; turn picks among
// them in peer ID order, so that successive turns go round all of them.
// It is a pure function: the caller keeps the turn (one counter per
// cluster, from a random start so that several askers do not all start
// with the same member).
func chooseMember(cs []memberCandidate, turn uint64) int {
	if len(cs) == 0 {
		return -1
	}
	best := cs[0].cost()
	for _, c := range cs[1:] {
		best = min(best, c.cost())
	}
	good := make([]int, 0, len(cs))
	for i, c := range cs {
		if c.cost() <= best+provisionTolerance {
			good = append(good, i)
		}
	}
	slices.SortFunc(good, func(a, b int) int { return strings.Compare(string(cs[a].ID), string(cs[b].ID)) })
	return good[turn%uint64(len(good))]
}
