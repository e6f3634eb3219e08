package discovery

import (
	"net"
	"sync"

	"github.com/libp2p/go-libp2p-kbucket/peerdiversity"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// The routing table's IP diversity (a burst of fresh peer IDs must not
// take it over). A peer ID costs nothing; an IP address does. So the
// table admits at most MaxRTPeersPerIPGroupPerCPL peers of one IP group
// per bucket and MaxRTPeersPerIPGroup in all, where a peer's group comes
// from the address of its connection (ipGroupOf):
//
//   - a public address: kad-dht's grouping (its /16, or /8 for the legacy
//     class-A blocks; the ASN for IPv6), as the IPFS DHT does;
//   - a private address (RFC 1918, IPv6 ULA, link-local): the address
//     itself, so that a private network of many machines in one /16
//     works, while one machine is still bounded;
//   - loopback: exempt unless Config.StrictLoopback (peers on this
//     machine; tests run many nodes on 127.0.0.1).
//
// Beyond this, kad-dht's own rules hold: a peer enters the table only
// after answering a FIND_NODE, a full bucket takes a newcomer only in
// place of a peer that has never been useful to a query, and after the
// first refreshes (rtFreezeTimeout, one minute) the peers in the table
// are marked irreplaceable.

// ipGroupFilter is a peerdiversity.PeerIPGroupFilter over the groups
// above. peerdiversity.Filter calls PeerAddresses, then Allow and
// Increment for each address returned, under its own lock; so
// PeerAddresses returns one address per peer (its first connection's)
// and remembers the group it falls in, which Allow, Increment and
// Decrement then use.
type ipGroupFilter struct {
	h             host.Host
	maxPerCpl     int
	maxForTable   int
	exemptLoopbck bool

	mu      sync.Mutex
	groupOf map[peer.ID]string // the group chosen by the last PeerAddresses; "" exempt
	counted map[peer.ID]counted
	perCpl  map[int]map[string]int
	table   map[string]int
}

type counted struct {
	group string
	cpl   int
}

var _ peerdiversity.PeerIPGroupFilter = (*ipGroupFilter)(nil)

func newIPGroupFilter(h host.Host, maxPerCpl, maxForTable int, exemptLoopback bool) *ipGroupFilter {
	return &ipGroupFilter{h: h, maxPerCpl: maxPerCpl, maxForTable: maxForTable, exemptLoopbck: exemptLoopback,
		groupOf: map[peer.ID]string{}, counted: map[peer.ID]counted{},
		perCpl: map[int]map[string]int{}, table: map[string]int{}}
}

// ipGroupOf is the group of an IP; exempt reports loopback when exempt.
func ipGroupOf(ip net.IP, exemptLoopback bool) (group string, exempt bool) {
	switch {
	case ip.IsLoopback() && exemptLoopback:
		return "", true
	case ip.IsLoopback(), ip.IsPrivate(), ip.IsLinkLocalUnicast():
		return "host:" + ip.String(), false
	default:
		return "net:" + string(peerdiversity.IPGroupKey(ip)), false
	}
}

func (f *ipGroupFilter) PeerAddresses(p peer.ID) []ma.Multiaddr {
	for _, c := range f.h.Network().ConnsToPeer(p) {
		a := c.RemoteMultiaddr()
		ip, err := manet.ToIP(a)
		if err != nil {
			continue
		}
		g, exempt := ipGroupOf(ip, f.exemptLoopbck)
		if exempt {
			g = ""
		}
		f.mu.Lock()
		f.groupOf[p] = g
		f.mu.Unlock()
		return []ma.Multiaddr{a}
	}
	return nil // no IP connection: refused (peerdiversity's rule)
}

func (f *ipGroupFilter) Allow(g peerdiversity.PeerGroupInfo) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	grp, ok := f.groupOf[g.Id]
	if !ok {
		return false
	}
	if grp == "" {
		return true
	}
	if f.table[grp] < f.maxForTable && f.perCpl[g.Cpl][grp] < f.maxPerCpl {
		return true
	}
	delete(f.groupOf, g.Id)
	return false
}

func (f *ipGroupFilter) Increment(g peerdiversity.PeerGroupInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	grp := f.groupOf[g.Id]
	delete(f.groupOf, g.Id)
	if _, dup := f.counted[g.Id]; dup {
		return
	}
	f.counted[g.Id] = counted{group: grp, cpl: g.Cpl}
	if grp == "" {
		return
	}
	f.table[grp]++
	if f.perCpl[g.Cpl] == nil {
		f.perCpl[g.Cpl] = map[string]int{}
	}
	f.perCpl[g.Cpl][grp]++
}

func (f *ipGroupFilter) Decrement(g peerdiversity.PeerGroupInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.counted[g.Id]
	if !ok {
		return
	}
	delete(f.counted, g.Id)
	if c.group == "" {
		return
	}
	if f.table[c.group]--; f.table[c.group] <= 0 {
		delete(f.table, c.group)
	}
	m := f.perCpl[c.cpl]
	if m[c.group]--; m[c.group] <= 0 {
		delete(m, c.group)
	}
	if len(m) == 0 {
		delete(f.perCpl, c.cpl)
	}
}
