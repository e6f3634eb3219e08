package p2p

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
)

// Channel identity (docs/security.md, "Channels"). A channel is a
// capability: knowing its ID is what lets code send to it, so the ID is
// unguessable, and only the principal that created it may listen on it.
// The principal of an evaluation is the node itself for the node's own
// evaluations, and the authenticated caller for a foreign one.
//
// An ID is 32 bytes: 16 random bytes (crypto/rand: 128 bits no one can
// guess), then a 16-byte tag, HMAC-SHA256 under a key only this node
// knows, over the random part and the creator's peer ID. The tag lets the
// node recognise who created a channel without keeping any record of it
// (creating a channel still allocates nothing, as the seed asks), and it
// cannot be forged for another principal: a peer that holds a channel can
// send to it but never listen on it unless it made it.
const (
	channelRandomLen = 16
	channelTagLen    = 16
	channelIDLen     = channelRandomLen + channelTagLen
)

// channelKey is the node's key for channel tags.
type channelKey struct {
	key [32]byte
	// macs holds tagMACs keyed with key, reset before each use: setting
	// up an HMAC (two hashes, the padded keys) cost more than the tag
	// itself, and every listen and every foreign send checks a tag.
	macs *sync.Pool
}

// tagMAC is an HMAC under the channel key and its scratch buffers.
type tagMAC struct {
	h       hash.Hash
	in, out []byte
}

// deriveChannelKey derives the tag key from the node's private key, so
// that channels created before a restart are still recognised after it.
func deriveChannelKey(k crypto.PrivKey) (channelKey, error) {
	raw, err := k.Raw()
	if err != nil {
		return channelKey{}, fmt.Errorf("deriving the channel key: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("unode channel tag key v1\x00"))
	h.Write(raw)
	var out channelKey
	copy(out.key[:], h.Sum(nil))
	key := out.key
	out.macs = &sync.Pool{New: func() any { return &tagMAC{h: hmac.New(sha256.New, key[:])} }}
	return out, nil
}

// withTag calls f with the tag of random for creator (valid only during
// the call).
func (k *channelKey) withTag(random []byte, creator peer.ID, f func(tag []byte)) {
	var m *tagMAC
	if k.macs != nil {
		m = k.macs.Get().(*tagMAC)
		defer k.macs.Put(m)
		m.h.Reset()
	} else {
		m = &tagMAC{h: hmac.New(sha256.New, k.key[:])}
	}
	m.h.Write(random)
	m.in = append(m.in[:0], creator...)
	m.h.Write(m.in)
	m.out = m.h.Sum(m.out[:0])
	f(m.out[:channelTagLen])
}

// newChannelID returns a fresh ID for a channel created by creator.
func (k *channelKey) newChannelID(creator peer.ID) ([]byte, error) {
	id := make([]byte, channelRandomLen, channelIDLen)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	k.withTag(id, creator, func(tag []byte) { id = append(id, tag...) })
	return id, nil
}

// createdBy reports whether id is the ID of a channel creator made on
// this node.
func (k *channelKey) createdBy(id []byte, creator peer.ID) bool {
	if len(id) != channelIDLen {
		return false
	}
	ok := false
	k.withTag(id[:channelRandomLen], creator, func(tag []byte) { ok = hmac.Equal(id[channelRandomLen:], tag) })
	return ok
}

// principal is who the evaluations of this host act for.
func (h *netHost) principal() peer.ID {
	if h.onBehalfOf != "" {
		return h.onBehalfOf
	}
	return h.n.id
}

// NewChannel makes a channel of this node created by the host's
// principal.
func (h *netHost) NewChannel(*eval.Thread) (*eval.Channel, error) {
	id, err := h.n.chanKey.newChannelID(h.principal())
	if err != nil {
		return nil, err
	}
	return &eval.Channel{ID: id, Node: h.self.ID}, nil
}

// Listen listens on a channel the host's principal created here; any
// other channel (the owner's for foreign code, another peer's, a guessed
// or forged ID) is refused. The node's requests channel (eval.
// RequestsChannel) has no creator tag: only the node's own evaluations
// may listen on it, never foreign code, which would otherwise receive
// the requests other peers send the node.
func (h *netHost) Listen(th *eval.Thread, ch *eval.Channel) *eval.Future {
	if ch.Node == h.self.ID && eval.IsRequestsChannel(ch.ID) {
		if h.principal() != h.n.id {
			f := eval.NewFuture()
			f.Fail(sandboxDenial{&capabilities.DeniedError{Kind: capabilities.DeniedChannel, Name: channelName(ch),
				Detail: "only the node's own code may listen on its requests channel"}})
			return f
		}
		return h.LocalHost.Listen(th, ch)
	}
	if ch.Node == h.self.ID && !h.n.chanKey.createdBy(ch.ID, h.principal()) {
		f := eval.NewFuture()
		f.Fail(sandboxDenial{&capabilities.DeniedError{Kind: capabilities.DeniedChannel, Name: channelName(ch),
			Detail: "only the principal that created a channel may listen on it"}})
		return f
	}
	return h.LocalHost.Listen(th, ch)
}

// checkChannelSend refuses a send by foreign code to a channel of this
// node created by a principal the sandbox may not reach: a channel is
// a way to a principal, so passing data through one is sending it to
// that principal (two foreign peers whose sandboxes allow no targets
// cannot talk through an agreed channel here).
func (h *foreignHost) checkChannelSend(ch *eval.Channel) error {
	if ch.Node != h.self.ID || h.chk.Sandbox().AnyTarget {
		return nil
	}
	k := &h.n.chanKey
	// The requests channel is the node's own, like one it created.
	if eval.IsRequestsChannel(ch.ID) || k.createdBy(ch.ID, h.onBehalfOf) || k.createdBy(ch.ID, h.n.id) {
		return nil
	}
	for _, t := range h.chk.Sandbox().Targets {
		if k.createdBy(ch.ID, t) {
			return nil
		}
	}
	return sandboxDenial{&capabilities.DeniedError{Kind: capabilities.DeniedChannel, Name: channelName(ch),
		Detail: "it was not created by this evaluation's caller, this node or a target the sandbox allows"}}
}

// channelName names a channel in errors by the start of its random part,
// never its tag.
func channelName(ch *eval.Channel) string {
	n := min(len(ch.ID), 8)
	return fmt.Sprintf("%x", ch.ID[:n])
}

// Send sends v on ch to node: to the listeners on this node at once (as
// eval.LocalHost does), to another node through /unode/chan/1.0.0
// (chanproto.go). The sandbox checks of foreign evaluations are
// foreignHost's.
func (h *netHost) Send(th *eval.Thread, node *eval.Node, ch *eval.Channel, v eval.Value, ack bool) *eval.Future {
	pid, addrs, err := h.n.chans.parseNode(node)
	if err != nil {
		f := eval.NewFuture()
		f.Fail(err)
		return f
	}
	if pid == h.n.id {
		return h.LocalHost.Send(th, h.self, ch, v, ack)
	}
	// Only a channel's node listens on it (the requests channels of all
	// nodes share one ID): nobody at pid takes a message for another's.
	// A channel whose node is named by node's own text (the usual case)
	// is pid's without parsing it again.
	if !h.sendsToOwner(node, ch, pid) {
		if !ack {
			return nil
		}
		h.n.chans.c.failed.Add(1)
		f := eval.NewFuture()
		f.Fail(&ChanError{Peer: h.n.peerName(pid), Reason: ChanNoListener, Msg: "the channel is not one of this node's"})
		return f
	}
	return h.n.sendChan(th, pid, addrs, ch, v, ack, h.onBehalfOf)
}

// sendsToOwner reports whether ch's node is pid, which node names.
func (h *netHost) sendsToOwner(node *eval.Node, ch *eval.Channel, pid peer.ID) bool {
	if ch.Node == node.ID && len(node.Addrs) == 0 {
		return true
	}
	owner, err := h.n.chans.parsePeer(ch.Node)
	return err == nil && owner == pid
}
