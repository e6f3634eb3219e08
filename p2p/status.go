package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// /unode/status/1.0.0: the opener sends its StatusMessage, the other side
// answers with its own, and both remember what they learned (above all
// the StoreID and its proof, which tell a caller to skip sync with a peer
// that shares its store).

// PeerStatus is what a peer said about itself.
type PeerStatus struct {
	ID    string `json:"id"`
	Store string `json:"store"`
	// SameStore: the peer proved it shares this node's store (a Store
	// equal to this node's StoreID without a valid proof leaves it
	// false).
	SameStore bool    `json:"sameStore,omitempty"`
	Load      float64 `json:"load"`
	Version   int     `json:"version"`
}

func (n *Node) statusMessage() *StatusMessage {
	return &StatusMessage{Version: ProtocolVersion, Store: n.storeID, StoreProof: n.storeProof, Load: n.loadPermille(), Clusters: n.clusters.statusClusters()}
}

// Status exchanges status with a peer and caches its StoreID and load.
func (n *Node) Status(ctx context.Context, p peer.ID) (*PeerStatus, error) {
	m, _, err := n.exchangeStatus(ctx, p)
	if err != nil {
		return nil, err
	}
	same := n.peers.get(p).sameStore()
	return &PeerStatus{ID: p.String(), Store: m.Store, SameStore: same, Load: float64(m.Load) / 1000, Version: m.Version}, nil
}

// exchangeStatus exchanges status with p and returns its message and the
// time from sending ours to reading its (a round trip, plus the peer's
// work, which is little).
func (n *Node) exchangeStatus(ctx context.Context, p peer.ID) (*StatusMessage, time.Duration, error) {
	n.clusters.counts.statuses.Add(1)
	ctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, ProtocolStatus)
	if err != nil {
		return nil, 0, streamFailure(ctx, p.String(), "opening a status stream", err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := s.Scope().SetService(ServiceStatus); err != nil {
		s.Reset()
		return nil, 0, streamFailure(ctx, p.String(), "attaching the status service", err)
	}
	deadline, _ := ctx.Deadline()
	s.SetDeadline(deadline)
	fc := newFrameConn(s, s.Scope())
	start := time.Now()
	if err := fc.writeMessage(n.statusMessage()); err != nil {
		s.Reset()
		return nil, 0, streamFailure(ctx, p.String(), "sending status", err)
	}
	data, release, err := fc.readFrame(MaxStatusSize)
	if err != nil {
		s.Reset()
		return nil, 0, streamFailure(ctx, p.String(), "reading status", err)
	}
	rtt := time.Since(start)
	defer release()
	m, err := DecodeStatusMessage(data)
	if err != nil {
		s.Reset()
		return nil, 0, streamFailure(ctx, p.String(), "reading status", err)
	}
	s.Close()
	if m.Error != nil {
		// The peer could not read ours (a version it does not speak).
		return nil, 0, callErrorFromWire(p.String(), m.Error)
	}
	n.peers.get(p).setStatus(m.Store, n.provenStore(p, m.Store, m.StoreProof), m.Load)
	return m, rtt, nil
}

func (n *Node) handleStatus(s network.Stream) {
	if !n.track() {
		s.Reset()
		return
	}
	defer n.wg.Done()
	remote := s.Conn().RemotePeer()
	if err := s.Scope().SetService(ServiceStatus); err != nil {
		n.log.Debug("status: cannot attach service", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	// Fair admission and the first-frame deadline (admission.go); the
	// whole exchange stays within StatusTimeout.
	t := n.admitStream(n.admit.status, s)
	if t == nil {
		return
	}
	defer t.close()
	if err := s.Scope().ReserveMemory(MaxStatusSize, network.ReservationPriorityAlways); err != nil {
		n.log.Debug("status: cannot reserve memory", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	defer s.Scope().ReleaseMemory(MaxStatusSize)
	s.SetDeadline(time.Now().Add(StatusTimeout))
	fc := newFrameConn(t.frames(n.admit.lim.firstFrame, 0), nil) // reserved above
	// A request that arrived whole but is malformed is answered with an
	// error reply saying why (wireerrors.go); a stream that does not
	// carry a whole frame is reset.
	refuse := func(ce *CallError) {
		n.log.Info("status: bad request", "peer", remote.String(), "err", ce)
		if err := fc.writeMessage(&StatusMessage{Error: ce.wire()}); err != nil {
			s.Reset()
			return
		}
		s.Close()
	}
	data, _, err := fc.readFrame(MaxStatusSize)
	if err != nil {
		if ce := malformedRequest(err); ce != nil {
			refuse(ce)
			return
		}
		n.log.Info("status: bad request", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	m, err := DecodeStatusMessage(data)
	if err != nil {
		refuse(invalid("%v", err))
		return
	}
	if m.Error != nil {
		refuse(invalid("status: the opener's message is an error reply"))
		return
	}
	n.peers.get(remote).setStatus(m.Store, n.provenStore(remote, m.Store, m.StoreProof), m.Load)
	if err := fc.writeMessage(n.statusMessage()); err != nil {
		s.Reset()
		return
	}
	s.Close()
}
