package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/unode-dev/unode/capabilities"
)

// /unode/member/1.0.0: proving membership of an owned cluster, and asking
// an owner whether tokens are revoked (docs/protocol.md, "Clusters").
//
// An asker that found a candidate member of owner O's cluster N sends a
// fresh nonce, O and N; the member answers with its membership token and
// its signature over (nonce, asker, O, N) (capabilities.
// SignMembershipProof). The asker checks the token's chain (rooted at O,
// audience the member, unexpired, granting cluster.member:N) and the
// signature, then asks O whether a link of the chain is revoked. One
// request and one reply per stream, like status.

// ProtocolMember is the membership protocol; ServiceMember its
// resource-manager service.
const (
	ProtocolMember protocol.ID = "/unode/member/1.0.0"
	ServiceMember              = "unode.member"
)

// MemberRequest opens a membership stream: exactly one of Prove and
// Revoked.
type MemberRequest struct {
	// Prove asks the peer to prove it is a member of a cluster.
	Prove *ProveRequest `cbor:"1,keyasint,omitempty"`
	// Revoked asks the peer, the owner of a cluster, which of these
	// token IDs (one membership token's chain, at most
	// MaxRevocationQuery) it has revoked.
	Revoked []string `cbor:"2,keyasint,omitempty"`
}

// ProveRequest names the owned cluster the asker wants proof of
// membership of.
type ProveRequest struct {
	// Nonce is capabilities.MemberNonceSize fresh random bytes.
	Nonce []byte `cbor:"1,keyasint"`
	// Owner is the cluster owner's peer ID (binary).
	Owner []byte `cbor:"2,keyasint"`
	// Name is the cluster's name.
	Name string `cbor:"3,keyasint"`
}

// MemberReply answers a MemberRequest: exactly one of Proof (to Prove),
// Revoked (to Revoked) and Error (a refusal: code "denied" for "not a
// member").
type MemberReply struct {
	Proof *MemberProof `cbor:"1,keyasint,omitempty"`
	// Revoked is a bitmap over the request's IDs: bit i (byte i/8, mask
	// 1<<(i%8)) set means ID i is revoked.
	Revoked []byte     `cbor:"2,keyasint,omitempty"`
	Error   *WireError `cbor:"3,keyasint,omitempty"`
}

// MemberProof is a member's answer: its membership token (binary) and its
// signature over the asker's nonce, the asker, the owner and the name.
type MemberProof struct {
	Token     []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

// maxTokenIDLen bounds a token ID in a revocation question (ours are 26
// characters).
const maxTokenIDLen = 64

// EncodeMemberRequest encodes a membership request.
func EncodeMemberRequest(r *MemberRequest) ([]byte, error) { return encodeMessage(r) }

// DecodeMemberRequest decodes and validates a membership request.
func DecodeMemberRequest(data []byte) (*MemberRequest, error) {
	r := &MemberRequest{}
	if err := decodeMessage(data, MaxMemberMessageSize, r, "member request"); err != nil {
		return nil, err
	}
	if (r.Prove != nil) == (len(r.Revoked) > 0) {
		return nil, badMessage("member request needs exactly one of prove and revoked")
	}
	if p := r.Prove; p != nil {
		if len(p.Nonce) != capabilities.MemberNonceSize {
			return nil, badMessage("member request: nonce of %d bytes (want %d)", len(p.Nonce), capabilities.MemberNonceSize)
		}
		if _, err := peer.IDFromBytes(p.Owner); err != nil {
			return nil, badMessage("member request: owner: %v", err)
		}
		if err := capabilities.CheckClusterName(p.Name); err != nil {
			return nil, badMessage("member request: %v", err)
		}
	}
	if len(r.Revoked) > MaxRevocationQuery {
		return nil, badMessage("member request: %d token IDs (at most %d)", len(r.Revoked), MaxRevocationQuery)
	}
	for _, id := range r.Revoked {
		if id == "" || len(id) > maxTokenIDLen {
			return nil, badMessage("member request: token ID of %d bytes", len(id))
		}
	}
	return r, nil
}

// EncodeMemberReply encodes a membership reply.
func EncodeMemberReply(r *MemberReply) ([]byte, error) { return encodeMessage(r) }

// DecodeMemberReply decodes and validates a membership reply.
func DecodeMemberReply(data []byte) (*MemberReply, error) {
	r := &MemberReply{}
	if err := decodeMessage(data, MaxMemberMessageSize, r, "member reply"); err != nil {
		return nil, err
	}
	n := 0
	for _, set := range []bool{r.Proof != nil, len(r.Revoked) > 0, r.Error != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, badMessage("member reply with %d of proof, revoked, error (want exactly one)", n)
	}
	switch {
	case r.Proof != nil:
		if len(r.Proof.Token) == 0 || len(r.Proof.Token) > capabilities.MaxTokenSize {
			return nil, badMessage("member reply: token of %d bytes", len(r.Proof.Token))
		}
		if len(r.Proof.Signature) == 0 || len(r.Proof.Signature) > capabilities.MaxSignatureSize {
			return nil, badMessage("member reply: signature of %d bytes", len(r.Proof.Signature))
		}
	case len(r.Revoked) > 0:
		if len(r.Revoked) > (MaxRevocationQuery+7)/8 {
			return nil, badMessage("member reply: revocation bitmap of %d bytes", len(r.Revoked))
		}
	case r.Error != nil:
		if err := r.Error.validate(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ---- the member's (and owner's) side ----

func (n *Node) handleMember(s network.Stream) {
	if !n.track() {
		s.Reset()
		return
	}
	defer n.wg.Done()
	remote := s.Conn().RemotePeer()
	if err := s.Scope().SetService(ServiceMember); err != nil {
		n.log.Debug("member: cannot attach service", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	// Fair admission and the first-frame deadline (admission.go).
	t := n.admitStream(n.admit.member, s)
	if t == nil {
		return
	}
	defer t.close()
	if err := s.Scope().ReserveMemory(MaxMemberMessageSize, network.ReservationPriorityAlways); err != nil {
		n.log.Debug("member: cannot reserve memory", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	defer s.Scope().ReleaseMemory(MaxMemberMessageSize)
	s.SetDeadline(time.Now().Add(MemberStreamTimeout))
	fc := newFrameConn(t.frames(n.admit.lim.firstFrame, 0), nil) // reserved above
	data, _, err := fc.readFrame(MaxMemberMessageSize)
	if err != nil {
		n.log.Info("member: bad request", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	req, err := DecodeMemberRequest(data)
	if err != nil {
		n.log.Info("member: bad request", "peer", remote.String(), "err", err)
		s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, MemberStreamTimeout)
	defer cancel()
	if err := fc.writeMessage(n.serveMember(ctx, remote, req)); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// serveMember answers a validated request from remote: a proof of a
// membership this node holds, or its own revocations of the IDs.
func (n *Node) serveMember(ctx context.Context, remote peer.ID, req *MemberRequest) *MemberReply {
	if len(req.Revoked) > 0 {
		revoked := n.grants.Revoked(ctx)
		set := make([]int, 0, len(req.Revoked))
		for i, id := range req.Revoked {
			if revoked(id) {
				set = append(set, i)
			}
		}
		return &MemberReply{Revoked: bitmapFor(len(req.Revoked), set)}
	}
	p := req.Prove
	owner, _ := peer.IDFromBytes(p.Owner) // validated
	tok := n.clusters.membership(owner, p.Name)
	if tok == nil {
		return &MemberReply{Error: &WireError{Code: string(CodeDenied), Which: "member", Msg: "not a member of this cluster"}}
	}
	sig, err := capabilities.SignMembershipProof(n.key, p.Nonce, remote, owner, p.Name)
	if err != nil {
		return &MemberReply{Error: &WireError{Code: string(CodeMsg), Msg: "cannot sign the proof"}}
	}
	return &MemberReply{Proof: &MemberProof{Token: tok.Bytes(), Signature: sig}}
}

// ---- the asker's side ----

// ErrNotProven means a candidate did not prove membership of an owned
// cluster: no token, a token that does not verify, or a bad signature.
var ErrNotProven = errors.New("membership not proven")

// memberRoundTrip sends one request to p and reads the reply.
func (n *Node) memberRoundTrip(ctx context.Context, p peer.ID, req *MemberRequest) (*MemberReply, crypto.PubKey, error) {
	s, err := n.host.NewStream(ctx, p, ProtocolMember)
	if err != nil {
		return nil, nil, streamFailure(ctx, p.String(), "opening a member stream", err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := s.Scope().SetService(ServiceMember); err != nil {
		s.Reset()
		return nil, nil, streamFailure(ctx, p.String(), "attaching the member service", err)
	}
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	} else {
		s.SetDeadline(time.Now().Add(MemberStreamTimeout))
	}
	fc := newFrameConn(s, s.Scope())
	if err := fc.writeMessage(req); err != nil {
		s.Reset()
		return nil, nil, streamFailure(ctx, p.String(), "sending a member request", err)
	}
	data, release, err := fc.readFrame(MaxMemberMessageSize)
	if err != nil {
		s.Reset()
		return nil, nil, streamFailure(ctx, p.String(), "reading a member reply", err)
	}
	defer release()
	r, err := DecodeMemberReply(data)
	if err != nil {
		s.Reset()
		return nil, nil, streamFailure(ctx, p.String(), "reading a member reply", err)
	}
	pub := s.Conn().RemotePublicKey()
	s.Close()
	return r, pub, nil
}

// proveMember asks member to prove it belongs to ref (an owned cluster)
// and checks the proof: the token chain (rooted at the owner, audience
// member, unexpired, granting cluster.member:name) and the signature
// over this node's fresh nonce. It returns the verified token; whether
// it is revoked is checkRevoked's question. A failed proof wraps
// ErrNotProven.
func (n *Node) proveMember(ctx context.Context, member peer.ID, ref ClusterRef) (*capabilities.Token, error) {
	nonce := make([]byte, capabilities.MemberNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("membership nonce: %w", err)
	}
	n.clusters.counts.proofs.Add(1)
	r, pub, err := n.memberRoundTrip(ctx, member, &MemberRequest{Prove: &ProveRequest{Nonce: nonce, Owner: []byte(ref.Owner), Name: ref.Name}})
	if err != nil {
		return nil, err
	}
	if r.Proof == nil {
		msg := "answered without a proof"
		if r.Error != nil {
			msg = r.Error.Msg
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrNotProven, shortPeer(member.String()), msg)
	}
	tok, err := capabilities.DecodeToken(r.Proof.Token)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotProven, shortPeer(member.String()), err)
	}
	if err := capabilities.VerifyMembership(tok, n.now(), ref.Owner, member, ref.Name, n.id, nil, capabilities.ClockSkew); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotProven, shortPeer(member.String()), err)
	}
	if err := capabilities.VerifyMembershipProof(member, pub, r.Proof.Signature, nonce, n.id, ref.Owner, ref.Name); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotProven, shortPeer(member.String()), err)
	}
	return tok, nil
}

// checkRevoked asks the owner of tok's chain whether it revoked a link
// (this node's own revocations when it is the owner). It returns
// capabilities.ErrRevoked (as a *TokenError) for a revoked chain, and
// another error when the owner could not be asked: the caller decides
// what an unreachable owner means (docs/security.md: the token is then
// taken on its chain and expiry alone).
func (n *Node) checkRevoked(ctx context.Context, tok *capabilities.Token) error {
	chain := tok.Chain()
	owner := tok.Root().Issuer()
	ids := make([]string, len(chain))
	for i, t := range chain {
		ids[i] = t.ID()
	}
	var revoked func(i int) bool
	if owner == n.id {
		rev := n.grants.Revoked(ctx)
		revoked = func(i int) bool { return rev(ids[i]) }
	} else {
		n.clusters.counts.revocations.Add(1)
		r, _, err := n.memberRoundTrip(ctx, owner, &MemberRequest{Revoked: ids})
		if err != nil {
			return err
		}
		if r.Revoked == nil {
			return fmt.Errorf("owner %s did not answer the revocation question", shortPeer(owner.String()))
		}
		set, err := bitsSet(r.Revoked, len(ids))
		if err != nil {
			return err
		}
		revoked = func(i int) bool {
			for _, j := range set {
				if i == j {
					return true
				}
			}
			return false
		}
	}
	for i := range ids {
		if revoked(i) {
			return &capabilities.TokenError{Reason: capabilities.ErrRevoked, TokenID: ids[i], Detail: "revoked by the cluster's owner"}
		}
	}
	return nil
}
