package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The routing table's snapshot: the peers of the table and their
// addresses, saved every SaveInterval and on Close under
// /dht/routing-table/<this node's peer ID> (nodes that share a datastore
// keep their own), and read back at start, when the node dials them so
// that kad-dht takes them in again: a restarted node is not a stranger
// even when its bootstrap peers are down.
const tableKeyPrefix = "/routing-table/"

// savedTable is the snapshot's encoding (strict CBOR, integer keys).
type savedTable struct {
	// Version is 1.
	Version int `cbor:"1,keyasint"`
	// Saved is when (Unix seconds), for people reading the repo.
	Saved int64       `cbor:"2,keyasint"`
	Peers []savedPeer `cbor:"3,keyasint"`
}

type savedPeer struct {
	ID    []byte   `cbor:"1,keyasint"` // peer ID bytes
	Addrs [][]byte `cbor:"2,keyasint"` // multiaddr bytes
}

var tableDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  MaxSavedPeers + 16,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

var tableEncMode = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

func tableKey(self peer.ID) datastore.Key {
	return datastore.NewKey(tableKeyPrefix + self.String())
}

// encodeTable encodes up to MaxSavedPeers peers (in the order given) with
// up to MaxSavedAddrsPerPeer addresses each; peers without an address are
// left out (they could not be dialed).
func encodeTable(peers []peer.AddrInfo, now time.Time) ([]byte, int, error) {
	t := savedTable{Version: 1, Saved: now.Unix()}
	for _, p := range peers {
		if len(t.Peers) == MaxSavedPeers {
			break
		}
		sp := savedPeer{ID: []byte(p.ID)}
		for _, a := range p.Addrs {
			if len(sp.Addrs) == MaxSavedAddrsPerPeer {
				break
			}
			sp.Addrs = append(sp.Addrs, a.Bytes())
		}
		if len(sp.Addrs) > 0 {
			t.Peers = append(t.Peers, sp)
		}
	}
	b, err := tableEncMode.Marshal(t)
	return b, len(t.Peers), err
}

// decodeTable reads a snapshot, skipping entries that do not parse (and
// this node itself).
func decodeTable(b []byte, self peer.ID) ([]peer.AddrInfo, error) {
	if len(b) > maxSavedTableBytes {
		return nil, fmt.Errorf("routing-table snapshot of %d bytes exceeds %d", len(b), maxSavedTableBytes)
	}
	var t savedTable
	if err := tableDecMode.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decoding the routing-table snapshot: %w", err)
	}
	if t.Version != 1 {
		return nil, fmt.Errorf("routing-table snapshot version %d (want 1)", t.Version)
	}
	var out []peer.AddrInfo
	for _, sp := range t.Peers {
		id, err := peer.IDFromBytes(sp.ID)
		if err != nil || id == self {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, ab := range sp.Addrs {
			if len(ai.Addrs) == MaxSavedAddrsPerPeer {
				break
			}
			if a, err := ma.NewMultiaddrBytes(ab); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		if len(ai.Addrs) > 0 {
			out = append(out, ai)
		}
	}
	return out, nil
}

// loadTable reads the snapshot this node saved, if any.
func loadTable(ctx context.Context, ds datastore.Datastore, self peer.ID) ([]peer.AddrInfo, error) {
	b, err := ds.Get(ctx, tableKey(self))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeTable(b, self)
}

// saveTable writes the routing table's peers (or, when it is empty,
// keeps the last snapshot: a node that could not reach anyone this run
// must not forget whom it knew). An unchanged snapshot is not written
// again (each write is a synced commit).
func (d *Discovery) saveTable(ctx context.Context) error {
	ids := d.kad.RoutingTable().ListPeers()
	if len(ids) == 0 {
		return nil
	}
	// Closest buckets last in ListPeers; keep a deterministic order so
	// that an unchanged table encodes the same.
	slices.Sort(ids)
	peers := make([]peer.AddrInfo, 0, len(ids))
	for _, id := range ids {
		addrs := d.h.Peerstore().Addrs(id)
		slices.SortFunc(addrs, func(a, b ma.Multiaddr) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
		peers = append(peers, peer.AddrInfo{ID: id, Addrs: addrs})
	}
	// The time is left out of the comparison.
	body, n, err := encodeTable(peers, time.Unix(0, 0))
	if err != nil {
		return err
	}
	d.mu.Lock()
	same := bytes.Equal(body, d.lastSave)
	d.mu.Unlock()
	if same || n == 0 {
		return nil
	}
	b, _, err := encodeTable(peers, time.Now())
	if err != nil {
		return err
	}
	if err := d.ds.Put(ctx, tableKey(d.self), b); err != nil {
		return fmt.Errorf("saving the routing table: %w", err)
	}
	d.mu.Lock()
	d.lastSave = body
	d.saved, _ = decodeTable(b, d.self)
	d.mu.Unlock()
	return nil
}

// saveLoop saves the routing table every SaveInterval.
func (d *Discovery) saveLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			if err := d.saveTable(d.ctx); err != nil && d.ctx.Err() == nil {
				d.log.Warn("saving the routing table", "err", err)
			}
		}
	}
}
