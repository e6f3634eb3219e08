package p2p

import "sync"

// The frames of the blocks a sync receives (receiveBlocksAsking): read
// into buffers used again, and decoded in one pass. The decoding copies
// every block out of the frame (a block's bytes are what the store
// keeps: the in-memory datastore keeps the slice it is given, so they
// must not be in a buffer that is written again), so once a message is
// decoded its frame is free for the next.

// blockFrames holds the read buffers of blocks messages (*[]byte). The
// collector empties it: what it holds between syncs is gone within two
// collections.
var blockFrames sync.Pool

// readBlocksFrame is readFrame for a blocks message: the frame is read
// into a buffer from blockFrames, which release gives back. Nothing of
// the frame may be used after release, so decode it with
// decodeReceivedBlocks, which copies what it keeps.
func (c *frameConn) readBlocksFrame(limit int) ([]byte, func(), error) {
	n, err := c.frameHead(limit)
	if err != nil {
		return nil, func() {}, err
	}
	var bp *[]byte
	if x, ok := blockFrames.Get().(*[]byte); ok && uint64(cap(*x)) >= n {
		bp = x
	} else {
		b := make([]byte, n)
		bp = &b
	}
	buf := (*bp)[:n]
	var once bool
	release := func() {
		if once {
			return
		}
		once = true
		if c.scope != nil {
			c.scope.ReleaseMemory(int(n))
		}
		*bp = buf[:0]
		blockFrames.Put(bp)
	}
	return c.frameBody(buf, release)
}

// decodeReceivedBlocks is DecodeBlocksMessage, the message in its
// canonical form (what this node's senders write) read in one pass
// without reflection; any other form goes to DecodeBlocksMessage, which
// takes or refuses it. Every block is a copy of its own.
func decodeReceivedBlocks(data []byte) (*BlocksMessage, error) {
	if len(data) <= MaxBlocksMessageSize {
		r := &fastReader{data: data}
		var prev uint64
		if r.mapLen(1) == 1 && r.key(&prev, 1) == 1 {
			blocks := r.bytesList(MaxSyncBlocks) // copied, each
			if !r.bad && r.pos == len(data) && len(blocks) > 0 {
				if err := checkBlockSizes(blocks, "blocks message"); err != nil {
					return nil, err
				}
				return &BlocksMessage{Blocks: blocks}, nil
			}
		}
	}
	return DecodeBlocksMessage(data)
}
