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

	"github.com/unode-dev/unode/dag"
)

// /unode/blocks/1.0.0 (docs/protocol.md, "/unode/blocks/1.0.0"):
//
//	asker                                   provider
//	FetchRequest{roots}                   ->
//	                                      <- FetchReply{list | error}
//	FetchNeed{bits}   (or close: nothing) ->
//	                                      <- BlocksMessage{blocks} ...
//
// The list names the closure of the roots (as a holder needs it,
// dag.NeededLinks) parents first: the roots, then every block after all
// the blocks that link to it. So the asker checks each block as it
// arrives, before storing it: its bytes hash to the listed CID, and a
// block already checked (or held here) links to it. Nothing outside the
// closure of the roots can enter its store, whatever a provider sends.
//
// The provider serves a root only if every block of its closure is
// published; for any other block it answers missing, as for one it does
// not hold. Its private code is never served (nor code others sent it),
// and the closure of a published wrapper of a private implementation
// leaves the implementation out, so the wrapper can be fetched and
// called without it.

// Fetch gets the definitions roots, with everything they need, from
// target (a peer ID or a /p2p/ multiaddr) alone, asking only for the
// blocks this node lacks. The blocks are pinned (kept for good, see
// retain.go). A provider that has not published a root (or something
// it needs) answers as if it did not hold it: a *CallError of code
// missing naming the block. FetchClosure asks the DHT's providers too.
func (n *Node) Fetch(ctx context.Context, target string, roots ...cid.Cid) (FetchStats, error) {
	st, err := n.FetchClosure(ctx, roots, FetchOptions{From: []string{target}, NoDiscovery: true})
	if err != nil {
		// One provider: its own error, as it reported it.
		var fe *FetchError
		if errors.As(err, &fe) && fe.Last != nil {
			return st, fe.Last
		}
	}
	return st, err
}

// providerError is how one exchange with a provider failed: the fetch
// goes on from the next provider. lied marks a provider that sent what
// does not check out (a block that does not hash to its CID, one outside
// the closure of the roots, more than asked, a list whose closure is
// not complete): it is dropped for the fetch and logged as such.
type providerError struct {
	lied bool
	err  error
}

func (e *providerError) Error() string { return e.err.Error() }
func (e *providerError) Unwrap() error { return e.err }

func rejected(p string, c cid.Cid, format string, args ...any) *providerError {
	return &providerError{lied: true, err: &CallError{Peer: p, Code: CodeInvalid, CID: c, Msg: fmt.Sprintf(format, args...)}}
}

// stallConn is a blocks stream whose reads and writes fail after stall
// without progress: every read and write first moves the deadline, so a
// slow transfer goes on while a silent provider is given up.
type stallConn struct {
	s     network.Stream
	stall time.Duration
}

func (c stallConn) Read(p []byte) (int, error) {
	c.s.SetReadDeadline(time.Now().Add(c.stall))
	return c.s.Read(p)
}

func (c stallConn) Write(p []byte) (int, error) {
	c.s.SetWriteDeadline(time.Now().Add(c.stall))
	return c.s.Write(p)
}

// exchange runs one /unode/blocks request to provider p for want (the
// roots not complete here), storing blocks through f.sink as they
// arrive, batch by batch, so that what arrived stays when the provider
// goes away and the next provider is asked only for the rest. It
// returns nil once every root of want is complete; a *providerError
// when the provider failed (the fetch tries the next); any other error
// ends the fetch.
func (f *fetch) exchange(ctx context.Context, p peer.ID, want []cid.Cid, ps *ProviderStats) error {
	n := f.n
	pname := n.peerName(p)
	digests, err := digestsOf(want)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, FetchDialTimeout)
	s, err := n.host.NewStream(dctx, p, ProtocolBlocks)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return streamFailure(ctx, pname, "opening a blocks stream", err)
		}
		return &providerError{err: streamFailure(dctx, pname, "opening a blocks stream", err)}
	}
	f.st.Requests++
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	// failed ends the exchange on a failure of the stream or of what the
	// provider sent: the provider's fault (a protocol violation is a
	// lie), unless the fetch itself was canceled.
	failed := func(doing string, err error) error {
		s.Reset()
		var pe *providerError
		if errors.As(err, &pe) {
			return pe
		}
		if ctx.Err() != nil {
			return streamFailure(ctx, pname, doing, err)
		}
		err = streamFailure(ctx, pname, doing, err)
		var ce *CallError
		return &providerError{lied: errors.As(err, &ce) && ce.Code == CodeInvalid, err: err}
	}
	// local ends it on a failure of this node (its store, its quota):
	// the fetch ends too.
	local := func(err error) error {
		s.Reset()
		return err
	}
	if err := s.Scope().SetService(ServiceBlocks); err != nil {
		return failed("attaching the blocks service", err)
	}
	fc := newFrameConn(stallConn{s: s, stall: f.stall}, s.Scope())
	if err := fc.writeMessage(&FetchRequest{Roots: digests}); err != nil {
		return failed("sending the request", err)
	}
	f.st.RoundTrips++
	msg, release, err := fc.readFrame(MaxReplySize)
	if err != nil {
		return failed("reading the list", err)
	}
	reply, err := DecodeFetchReply(msg)
	release()
	if err != nil {
		return failed("reading the list", err)
	}
	if reply.Error != nil {
		s.Reset()
		return &providerError{err: callErrorFromWire(pname, reply.Error)}
	}
	list := digestList(reply.List)
	pos := make(map[cid.Cid]int, len(list))
	for i, c := range list {
		if _, dup := pos[c]; dup {
			return failed("reading the list", rejected(pname, c, "the list names %s twice", c))
		}
		pos[c] = i
	}
	for _, r := range want {
		if _, ok := pos[r]; !ok {
			return failed("reading the list", rejected(pname, r, "the list leaves out the root %s", r))
		}
	}
	idx, err := neededOf(ctx, n.store, list)
	if err != nil {
		return local(err)
	}
	if len(idx) > 0 {
		if err := fc.writeMessage(&FetchNeed{Bits: bitmapFor(len(list), idx)}); err != nil {
			return failed("sending the need", err)
		}
		f.st.RoundTrips++
		f.expect = f.st.Blocks + len(idx)
		f.report(pname)
		if err := f.receive(ctx, pname, p, fc, list, idx, want, ps); err != nil {
			var re *receiveError
			if errors.As(err, &re) {
				return failed("reading blocks", re.err)
			}
			return local(err)
		}
	}
	s.Close()
	// The blocks are in; the roots are complete unless the list left
	// something out (or a block held here when the list was read was
	// evicted since: then it was listed, and asking again helps).
	if err := f.sink.complete(ctx, want); err != nil {
		var me *dag.MissingError
		if !errors.As(err, &me) {
			return err
		}
		for _, c := range me.CIDs {
			if _, listed := pos[c]; listed {
				return &providerError{err: &CallError{Peer: pname, Code: CodeMissing, CID: c, Msg: "evicted here during the fetch"}}
			}
		}
		return rejected(pname, me.CIDs[0], "the list leaves out %s, which the roots need", me.CIDs[0])
	}
	return nil
}

// receiveError is a failure of the provider while receiving: of its
// stream, or in what it sent.
type receiveError struct{ err error }

func (e *receiveError) Error() string { return e.err.Error() }

// receive reads the blocks of list at idx, checks each as it arrives
// (its hash, and that the roots reach it through blocks checked before
// or held here: the list is parents first) and stores each batch at
// once. The provider's failures are *receiveError; others are this
// node's.
func (f *fetch) receive(ctx context.Context, pname string, p peer.ID, fc *frameConn, list []cid.Cid, idx []int, want []cid.Cid, ps *ProviderStats) error {
	n := f.n
	reached := make(map[cid.Cid]bool, len(list))
	for _, r := range want {
		reached[r] = true
	}
	// next is the first entry whose links are not yet in reached; held
	// entries (those not asked for) are read here for their links.
	next := 0
	advance := func(upto int) error {
		for ; next < upto; next++ {
			c := list[next]
			if !reached[c] {
				continue // not in the closure: this node need not care
			}
			if ok, err := n.store.IsComplete(ctx, c); err != nil || ok {
				// Complete: what it links to is too, and not asked for.
				if err != nil {
					return err
				}
				continue
			}
			data, err := n.store.Get(ctx, c)
			if errors.Is(err, dag.ErrNotFound) {
				continue // evicted since the need was computed: complete() says so
			}
			if err != nil {
				return err
			}
			links, err := dag.NeededLinks(data)
			if err != nil {
				return fmt.Errorf("block %s: %w", c, err)
			}
			for _, l := range links {
				reached[l] = true
			}
		}
		return nil
	}
	got := 0
	var exchangeBytes int64
	for got < len(idx) {
		msg, release, err := fc.readFrame(MaxBlocksMessageSize)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the provider sent %d of %d blocks and closed the stream", got, len(idx))
			}
			return &receiveError{err}
		}
		bm, err := DecodeBlocksMessage(msg)
		if err != nil {
			release()
			return &receiveError{rejected(pname, cid.Undef, "%v", err)}
		}
		if got+len(bm.Blocks) > len(idx) {
			release()
			return &receiveError{rejected(pname, cid.Undef, "%d blocks sent, %d asked for", got+len(bm.Blocks), len(idx))}
		}
		batch := make([]dag.Block, 0, len(bm.Blocks))
		var batchBytes int64
		for _, data := range bm.Blocks {
			i := idx[got+len(batch)]
			if err := advance(i); err != nil {
				release()
				return err
			}
			c := list[i]
			if h := dag.NewBlock(data).CID; !h.Equals(c) {
				release()
				return &receiveError{rejected(pname, c, "the block sent for %s does not match its CID (its bytes hash to %s)", c, h)}
			}
			if !reached[c] {
				release()
				return &receiveError{rejected(pname, c, "block %s is not in the closure of the roots asked for", c)}
			}
			// Schema-checked (dag.ValidateBlock): a provider that sends a
			// block outside the schema is dropped like one that sends a
			// wrong one.
			links, err := dag.ValidatedLinks(data)
			if err != nil {
				release()
				return &receiveError{rejected(pname, c, "block %s: %v", c, err)}
			}
			for _, l := range links {
				reached[l] = true
			}
			next = i + 1
			batch = append(batch, dag.Block{CID: c, Data: append([]byte(nil), data...)})
			batchBytes += int64(len(data))
		}
		release()
		exchangeBytes += batchBytes
		if exchangeBytes > MaxSyncBytes {
			return &receiveError{rejected(pname, cid.Undef, "more than %d bytes of blocks", MaxSyncBytes)}
		}
		if f.st.Bytes+batchBytes > f.maxBytes {
			return &fetchBudgetError{limit: f.maxBytes}
		}
		if err := f.sink.store(ctx, p, batch); err != nil {
			var hm *dag.HashMismatchError
			if errors.As(err, &hm) || errors.Is(err, dag.ErrMalformed) || errors.Is(err, dag.ErrTooLarge) || errors.Is(err, dag.ErrUnsupportedCID) {
				return &receiveError{rejected(pname, cid.Undef, "%v", err)}
			}
			return err
		}
		got += len(batch)
		f.st.Blocks += len(batch)
		f.st.Bytes += batchBytes
		ps.Blocks += len(batch)
		ps.Bytes += batchBytes
		f.report(pname)
	}
	return nil
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
	refuse := func(e *CallError) error {
		if werr := fc.writeMessage(&FetchReply{Error: e.wire()}); werr != nil {
			return werr
		}
		n.log.Info("blocks: refused", "peer", remote.String(), "err", e)
		return nil
	}
	// A request that arrived whole but is malformed gets an error reply
	// saying why (wireerrors.go); a stream without a whole frame is
	// reset (the returned error).
	msg, release, err := fc.readFrame(MaxFetchRequestSize)
	if err != nil {
		if ce := malformedRequest(err); ce != nil {
			return refuse(ce)
		}
		return err
	}
	req, err := DecodeFetchRequest(msg)
	release()
	if err != nil {
		return refuse(invalid("%v", err))
	}
	// A block this node does not publish is answered exactly as one it
	// does not hold, so that no peer can tell the node's private blocks
	// (or those others sent it) from absent ones (docs/security.md,
	// "Private implementations").
	notHeld := func(c cid.Cid) error { return refuse(&CallError{Code: CodeMissing, CID: c}) }
	var order []cid.Cid // dependencies first
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
		for _, c := range closure {
			if !seen[c] {
				seen[c] = true
				order = append(order, c)
			}
		}
	}
	if len(order) > MaxSyncBlocks {
		return refuse(&CallError{Code: CodeMsg, Msg: fmt.Sprintf("the closure has %d blocks (limit %d)", len(order), MaxSyncBlocks)})
	}
	// The wire order is parents first (the reverse of a dependencies-
	// first order), so that the asker can check every block on arrival.
	list := make([]cid.Cid, len(order))
	for i, c := range order {
		list[len(order)-1-i] = c
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
		if ce := malformedRequest(err); ce != nil {
			return refuse(ce) // in place of the blocks
		}
		return err
	}
	need, err := DecodeFetchNeed(msg)
	release()
	if err != nil {
		return refuse(invalid("%v", err))
	}
	idx, err := bitsSet(need.Bits, len(list))
	if err != nil {
		return refuse(invalid("%v", err))
	}
	var st SyncStats
	return n.sendBlocks(ctx, remote, fc, list, idx, &st, "") // all checked above
}
