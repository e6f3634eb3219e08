package capabilities

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Owned clusters (docs/security.md, "Owned clusters"). The owner of a
// cluster issues each member a membership token: a token rooted at the
// owner, delegated or not, whose audience is the member and whose sandbox
// grants cluster.member:<name>. A member proves its membership to an
// asker by showing the token and signing, with its own key, the asker's
// fresh nonce together with the asker's peer ID, the owner and the
// cluster's name: the signature cannot be replayed by another peer (it is
// the member's key), to another asker (the asker's ID is signed), for
// another cluster, or later (the nonce).

// Membership check failures, as the Reason of a *TokenError.
var (
	// ErrWrongOwner: the membership token's chain is not rooted at the
	// cluster's owner.
	ErrWrongOwner = errors.New("token not issued by the cluster's owner")
	// ErrNotMember: the token does not grant membership of the cluster.
	ErrNotMember = errors.New("token grants no membership of the cluster")
	// ErrBadProof: the membership proof's signature does not verify with
	// the member's key over this asker's nonce, owner and cluster.
	ErrBadProof = errors.New("bad membership proof")
)

// MemberCapability is the text syntax of membership of cluster name:
// what `unode grant --allow` takes.
func MemberCapability(name string) string { return GroupClusterMember + ":" + name }

// VerifyMembership checks, for self at time now, that tok makes member a
// member of owner's cluster name: its chain is rooted at owner
// (ErrWrongOwner), its audience is member (ErrWrongAudience), every
// link's signature, attenuation and time window hold (as in VerifyToken;
// windows set by another clock than self's get skew), no link is revoked
// (revoked may be nil: see docs/security.md on what a third party can
// know of revocations), and the token grants cluster.member:name
// (ErrNotMember). Errors are *TokenError.
func VerifyMembership(tok *Token, now time.Time, owner, member peer.ID, name string, self peer.ID, revoked func(id string) bool, skew time.Duration) error {
	if err := verifyChain(tok, now, owner, member, self, revoked, skew, ErrWrongOwner, "the cluster's owner"); err != nil {
		return err
	}
	if !tok.sandbox.GrantsMembership(name) {
		return tokenErr(ErrNotMember, tok.id, "it grants %s, not %s", tok.sandbox, MemberCapability(name))
	}
	return nil
}

// memberProofDomain is prepended to what a member signs, so that a
// membership proof can never be taken for a token or for anything else
// the node's libp2p key signs.
const memberProofDomain = "unode/member-proof/v1\x00"

// memberProofWire is what a member signs: [nonce, asker, owner, name],
// peer IDs in binary, as canonical CBOR.
type memberProofWire struct {
	_     struct{} `cbor:",toarray"`
	Nonce []byte
	Asker []byte
	Owner []byte
	Name  string
}

func memberProofBytes(nonce []byte, asker, owner peer.ID, name string) ([]byte, error) {
	if len(nonce) != MemberNonceSize {
		return nil, fmt.Errorf("capabilities: membership nonce of %d bytes, want %d", len(nonce), MemberNonceSize)
	}
	data, err := encMode.Marshal(memberProofWire{Nonce: nonce, Asker: []byte(asker), Owner: []byte(owner), Name: name})
	if err != nil {
		return nil, fmt.Errorf("capabilities: encoding a membership proof: %w", err)
	}
	return append([]byte(memberProofDomain), data...), nil
}

// SignMembershipProof signs, with the member's key, the proof that it
// answers asker's nonce for owner's cluster name.
func SignMembershipProof(key crypto.PrivKey, nonce []byte, asker, owner peer.ID, name string) ([]byte, error) {
	msg, err := memberProofBytes(nonce, asker, owner, name)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("capabilities: signing a membership proof: %w", err)
	}
	return sig, nil
}

// VerifyMembershipProof checks a member's signature over asker's nonce,
// owner and cluster name, with pub, which must be member's key. Errors
// are *TokenError with Reason ErrBadProof.
func VerifyMembershipProof(member peer.ID, pub crypto.PubKey, sig, nonce []byte, asker, owner peer.ID, name string) error {
	if pub == nil {
		var err error
		if pub, err = member.ExtractPublicKey(); err != nil {
			return tokenErr(ErrBadProof, "", "member %s: no public key: %v", member, err)
		}
	}
	if !member.MatchesPublicKey(pub) {
		return tokenErr(ErrBadProof, "", "the key is not member %s's", member)
	}
	if len(sig) == 0 || len(sig) > MaxSignatureSize {
		return tokenErr(ErrBadProof, "", "signature of %d bytes", len(sig))
	}
	msg, err := memberProofBytes(nonce, asker, owner, name)
	if err != nil {
		return tokenErr(ErrBadProof, "", "%v", err)
	}
	ok, err := pub.Verify(msg, sig)
	if err != nil || !ok {
		return tokenErr(ErrBadProof, "", "not signed by member %s for this asker, owner and cluster", member)
	}
	return nil
}
