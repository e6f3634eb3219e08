package repo

import (
	"fmt"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// DHTConfig is the "dht" section: the node's Kademlia DHT
// (docs/config.md, docs/protocol.md "The DHT").
type DHTConfig struct {
	// Mode is "server" (the default: answer queries, keep records),
	// "client" (ask only: a node behind NAT), "auto" (server until
	// AutoNAT finds the node unreachable; needs nat.autonat) or "off"
	// (no DHT: peers only by address).
	Mode string `json:"mode"`
	// ReprovideInterval is how often each published root and joined
	// cluster is announced again (a Go duration, default "22h"; peers
	// keep a record 48 h).
	ReprovideInterval string `json:"reprovide_interval"`
	// ProtocolPrefix is "/unode" when empty: unode's own network.
	// "/ipfs" joins the public IPFS DHT instead (with its bootstrap
	// peers in "bootstrap").
	ProtocolPrefix string `json:"protocol_prefix,omitempty"`
}

// NATConfig is the "nat" section: libp2p's NAT traversal, all off by
// default (the node is reached at its listen addresses).
type NATConfig struct {
	// AutoNAT learns whether the node is reachable by asking peers to
	// dial back, and answers their requests.
	AutoNAT bool `json:"autonat"`
	// HolePunching upgrades relayed connections to direct ones.
	HolePunching bool `json:"hole_punching"`
	// PortMap asks the router for a port mapping (UPnP, NAT-PMP).
	PortMap bool `json:"port_map"`
	// Relays (multiaddrs ending in /p2p/<id>): a node that is not
	// reachable reserves a slot on them and announces the relayed
	// addresses (the relay client).
	Relays []string `json:"relays"`
	// Announce replaces the addresses the node announces (a public
	// address in front of a NAT or proxy).
	Announce []string `json:"announce"`
}

// defaultReprovideInterval is DHTConfig.ReprovideInterval's default
// (p2p.DefaultReprovideInterval).
const defaultReprovideInterval = "22h"

// ReprovideEvery is the reprovide interval as a duration.
func (c DHTConfig) ReprovideEvery() (time.Duration, error) {
	if c.ReprovideInterval == "" {
		return time.ParseDuration(defaultReprovideInterval)
	}
	d, err := time.ParseDuration(c.ReprovideInterval)
	if err != nil {
		return 0, fmt.Errorf("dht.reprovide_interval: %w", err)
	}
	if d < time.Minute {
		return 0, fmt.Errorf("dht.reprovide_interval %s: must be at least 1m", c.ReprovideInterval)
	}
	return d, nil
}

// validateNetwork checks the "bootstrap", "dht" and "nat" keys, so that
// a mistake is reported when the config is read, with its key.
func (c *Config) validateNetwork() error {
	if err := p2pAddrs("bootstrap", c.Bootstrap); err != nil {
		return err
	}
	switch c.DHT.Mode {
	case "", "server", "client", "auto", "off":
	default:
		return fmt.Errorf("dht.mode %q: want server, client, auto or off", c.DHT.Mode)
	}
	if _, err := c.DHT.ReprovideEvery(); err != nil {
		return err
	}
	if p := c.DHT.ProtocolPrefix; p != "" && !strings.HasPrefix(p, "/") {
		return fmt.Errorf("dht.protocol_prefix %q: must start with /", p)
	}
	if err := p2pAddrs("nat.relays", c.NAT.Relays); err != nil {
		return err
	}
	for _, a := range c.NAT.Announce {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("nat.announce %q: %w", a, err)
		}
	}
	return nil
}

// p2pAddrs checks multiaddrs that must end in /p2p/<peer id>.
func p2pAddrs(key string, addrs []string) error {
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return fmt.Errorf("%s %q: %w", key, a, err)
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err != nil {
			return fmt.Errorf("%s %q: must end in /p2p/<peer id>", key, a)
		}
	}
	return nil
}
