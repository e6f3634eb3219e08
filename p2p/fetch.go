package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/unode-dev/unode/dag"
)

// /unode/blocks/1.0.0 (docs/protocol.md, "Fetching published code"):
//
//	asker                                   provider
//	FetchRequest{roots}                   ->
//	                                      <- FetchReply{list | error}
//	FetchNeed{bits}   (or close: nothing) ->
//	                                      <- BlocksMessage{blocks} ...
//
// The provider serves a root only if every block of its closure (as a
// holder needs it, dag.NeededLinks) is published; for any other block it
// answers missing, as for one it does not hold. Its private code is
// never served (nor code others sent it), and the closure of a published
// wrapper of a private implementation leaves the implementation out, so
// the wrapper can be fetched and called without it.

// Fetch gets the definitions roots, with everything they need, from
// target (a peer ID or a /p2p/ multiaddr), asking only for the blocks
// this node lacks. It returns what was received; the blocks are pinned
// (kept for good, see retain.go). A provider that has not published a
// root (or something it needs) answers as if it did not hold it: a
// *CallError of code missing naming the block.
func (n *Node) Fetch(ctx context.Context, target string, roots ...cid.Cid) (SyncStats, error) {
	var st SyncStats
	if len(roots) == 0 || len(roots) > MaxFetchRoots {
		return st, fmt.Errorf("fetch: %d roots (want 1 to %d)", len(roots), MaxFetchRoots)
	}
	p, addrs, err := parseTarget(target)
	if err != nil {
		return st, err
	}
	if p == n.id {
		return st, errors.New("fetch: cannot fetch from this node itself")
	}
	digests, err := digestsOf(roots)
	if err != nil {
		return st, err
	}
	if len(addrs) > 0 {
		n.host.Peerstore().AddAddrs(p, addrs, peerstore.TempAddrTTL)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RequestReadTimeout)
		defer cancel()
	}
	ps := p.String()
	s, err := n.host.NewStream(ctx, p, ProtocolBlocks)
	if err != nil {
		return st, streamFailure(ctx, ps, "opening a blocks stream", err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	fail := func(doing string, err error) (SyncStats, error) {
		s.Reset()
		var ce *CallError
		if errors.As(err, &ce) {
			return st, err
		}
		return st, streamFailure(ctx, ps, doing, err)
	}
	if err := s.Scope().SetService(ServiceBlocks); err != nil {
		return fail("attaching the blocks service", err)
	}
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	fc := newFrameConn(s, s.Scope())
	if err := fc.writeMessage(&FetchRequest{Roots: digests}); err != nil {
		return fail("sending the request", err)
	}
	msg, release, err := fc.readFrame(MaxReplySize)
	if err != nil {
		return fail("reading the list", err)
	}
	reply, err := DecodeFetchReply(msg)
	release()
	if err != nil {
		return fail("reading the list", err)
	}
	if reply.Error != nil {
		s.Reset()
		return st, callErrorFromWire(ps, reply.Error)
	}
	list := digestList(reply.List)
	idx, err := neededOf(ctx, n.store, list)
	if err != nil {
		return fail("planning the fetch", err)
	}
	if len(idx) == 0 {
		s.Close()
		// Fetched for this node's own use: pinned, even if they were here
		// on another peer's say-so.
		return st, n.acceptResultBlocks(ctx, p, roots, nil, "")
	}
	st.RoundTrips++
	if err := fc.writeMessage(&FetchNeed{Bits: bitmapFor(len(list), idx)}); err != nil {
		return fail("sending the need", err)
	}
	var raw [][]byte
	for len(raw) < len(idx) {
		msg, release, err := fc.readFrame(MaxBlocksMessageSize)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the provider sent %d of %d blocks", len(raw), len(idx))
			}
			return fail("reading blocks", err)
		}
		bm, err := DecodeBlocksMessage(msg)
		if err != nil {
			release()
			return fail("reading blocks", err)
		}
		if len(raw)+len(bm.Blocks) > len(idx) {
			release()
			return fail("reading blocks", badMessage("%d blocks sent, %d asked for", len(raw)+len(bm.Blocks), len(idx)))
		}
		for _, data := range bm.Blocks {
			want := list[idx[len(raw)]]
			if got := dag.NewBlock(data).CID; !got.Equals(want) {
				release()
				return fail("reading blocks", &CallError{Peer: ps, Code: CodeInvalid, CID: want, Msg: "the block sent does not match its CID"})
			}
			raw = append(raw, append([]byte(nil), data...))
			st.Blocks++
			st.Bytes += int64(len(data))
			if st.Bytes > MaxSyncBytes {
				release()
				return fail("reading blocks", badMessage("more than %d bytes of blocks", MaxSyncBytes))
			}
		}
		release()
	}
	s.Close()
	// Only blocks the roots need may enter the store; they are pinned.
	if err := n.acceptResultBlocks(ctx, p, roots, raw, ""); err != nil {
		return st, resultFailure(ps, err)
	}
	return st, nil
}

func (n *Node) handleFetch(s network.Stream) {
	if !n.track() {
		s.Reset()
		return
	}
	defer n.wg.Done()
	remote := s.Conn().RemotePeer()
	if err := s.Scope().SetService(ServiceBlocks); err != nil {
		n.log.Debug("blocks: cannot attach service", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	// Fair admission and the first-frame deadline (admission.go).
	t := n.admitStream(n.admit.blocks, s)
	if t == nil {
		return
	}
	defer t.close()
	s.SetWriteDeadline(time.Now().Add(RequestReadTimeout))
	fc := newFrameConn(t.frames(n.admit.lim.firstFrame, RequestReadTimeout), t.scope())
	ctx, cancel := context.WithTimeout(n.ctx, RequestReadTimeout)
	defer cancel()
	if err := n.serveFetch(ctx, remote, fc); err != nil {
		n.log.Info("blocks: request failed", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	s.Close()
}

// serveFetch answers one fetch request over fc.
func (n *Node) serveFetch(ctx context.Context, remote peer.ID, fc *frameConn) error {
	msg, release, err := fc.readFrame(MaxFetchRequestSize)
	if err != nil {
		return err
	}
	req, err := DecodeFetchRequest(msg)
	release()
	if err != nil {
		return err
	}
	refuse := func(e *CallError) error {
		if werr := fc.writeMessage(&FetchReply{Error: e.wire()}); werr != nil {
			return werr
		}
		n.log.Info("blocks: refused", "peer", remote.String(), "err", e)
		return nil
	}
	// A block this node does not publish is answered exactly as one it
	// does not hold, so that no peer can tell the node's private blocks
	// (or those others sent it) from absent ones (docs/security.md,
	// "Private implementations").
	notHeld := func(c cid.Cid) error { return refuse(&CallError{Code: CodeMissing, CID: c}) }
	var list []cid.Cid
	seen := map[cid.Cid]bool{}
	for _, root := range digestList(req.Roots) {
		if ok, err := n.cb.IsPublished(ctx, root); err != nil {
			return err
		} else if !ok {
			return notHeld(root)
		}
		closure, err := n.store.ClosureOf(ctx, root)
		var me *dag.MissingError
		if errors.As(err, &me) && len(me.CIDs) > 0 {
			return notHeld(me.CIDs[0])
		}
		if err != nil {
			return refuse(evalFailure(err))
		}
		// ClosureOf lists the root last: check from there, to name the
		// blocks nearest the root first.
		for i := len(closure) - 1; i >= 0; i-- {
			c := closure[i]
			if seen[c] {
				continue
			}
			ok, err := n.cb.IsPublished(ctx, c)
			if err != nil {
				return err
			}
			if !ok {
				return notHeld(c)
			}
		}
		for _, c := range closure { // dependencies first
			if !seen[c] {
				seen[c] = true
				list = append(list, c)
			}
		}
	}
	if len(list) > MaxSyncBlocks {
		return refuse(&CallError{Code: CodeMsg, Msg: fmt.Sprintf("the closure has %d blocks (limit %d)", len(list), MaxSyncBlocks)})
	}
	digests, err := digestsOf(list)
	if err != nil {
		return err
	}
	if err := fc.writeMessage(&FetchReply{List: digests}); err != nil {
		return err
	}
	msg, release, err = fc.readFrame(MaxStatusSize + (MaxSyncBlocks+7)/8)
	if errors.Is(err, io.EOF) {
		return nil // the asker has everything
	}
	if err != nil {
		return err
	}
	need, err := DecodeFetchNeed(msg)
	release()
	if err != nil {
		return err
	}
	idx, err := bitsSet(need.Bits, len(list))
	if err != nil {
		return err
	}
	var st SyncStats
	return n.sendBlocks(ctx, remote, fc, list, idx, &st, "") // all checked above
}
