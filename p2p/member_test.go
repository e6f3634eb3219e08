package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
)

// memberMessages returns real membership requests and replies: a proof
// request, a revocation question, a proof with a real token and
// signature, a revocation answer and a refusal.
func memberMessages(tb testing.TB) (requests, replies [][]byte) {
	tb.Helper()
	enc := func(v any) []byte {
		data, err := encodeMessage(v)
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	owner, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	member, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	oid, _ := peer.IDFromPrivateKey(owner)
	mid, _ := peer.IDFromPrivateKey(member)
	tok, err := capabilities.Issue(owner, capabilities.Claims{Audience: mid, Sandbox: capabilities.Sandbox{Members: []string{"stats"}}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{9}, capabilities.MemberNonceSize)
	sig, err := capabilities.SignMembershipProof(member, nonce, oid, oid, "stats")
	if err != nil {
		tb.Fatal(err)
	}
	requests = [][]byte{
		enc(&MemberRequest{Prove: &ProveRequest{Nonce: nonce, Owner: []byte(oid), Name: "stats"}}),
		enc(&MemberRequest{Revoked: []string{tok.ID(), "abcdefghijklmnopqrstuvwxyz"}}),
	}
	replies = [][]byte{
		enc(&MemberReply{Proof: &MemberProof{Token: tok.Bytes(), Signature: sig}}),
		enc(&MemberReply{Revoked: []byte{2}}),
		enc(&MemberReply{Error: &WireError{Code: string(CodeDenied), Which: "member", Msg: "not a member of this cluster"}}),
	}
	return requests, replies
}

func TestMemberMessagesRejectBadInput(t *testing.T) {
	enc := func(v any) []byte {
		data, err := msgEncMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	owner := []byte(mustDecodePeer(t, "12D3KooWR2EFggDGtpPFiaRbtFoX5beNEDTu6zsaJgPfySg8BtQ5"))
	nonce := make([]byte, capabilities.MemberNonceSize)
	reqs, reps := memberMessages(t)
	for _, tc := range []struct {
		name   string
		data   []byte
		decode func([]byte) error
	}{
		{"request: neither", enc(&MemberRequest{}), memberReqDecoder},
		{"request: both", enc(&MemberRequest{Prove: &ProveRequest{Nonce: nonce, Owner: owner, Name: "x"}, Revoked: []string{"a"}}), memberReqDecoder},
		{"request: short nonce", enc(&MemberRequest{Prove: &ProveRequest{Nonce: nonce[:8], Owner: owner, Name: "x"}}), memberReqDecoder},
		{"request: bad owner", enc(&MemberRequest{Prove: &ProveRequest{Nonce: nonce, Owner: []byte{1, 2}, Name: "x"}}), memberReqDecoder},
		{"request: empty name", enc(&MemberRequest{Prove: &ProveRequest{Nonce: nonce, Owner: owner}}), memberReqDecoder},
		{"request: long name", enc(&MemberRequest{Prove: &ProveRequest{Nonce: nonce, Owner: owner, Name: strings.Repeat("x", capabilities.MaxClusterNameLen+1)}}), memberReqDecoder},
		{"request: too many IDs", enc(&MemberRequest{Revoked: make([]string, MaxRevocationQuery+1)}), memberReqDecoder},
		{"request: empty ID", enc(&MemberRequest{Revoked: []string{""}}), memberReqDecoder},
		{"request: unknown key", enc(map[int]any{2: []string{"a"}, 9: 1}), memberReqDecoder},
		{"request: trailing bytes", append(append([]byte(nil), reqs[1]...), 0), memberReqDecoder},
		{"reply: empty", enc(map[int]any{}), memberReplyDecoder},
		{"reply: two kinds", enc(&MemberReply{Revoked: []byte{1}, Error: &WireError{Code: "msg"}}), memberReplyDecoder},
		{"reply: empty token", enc(&MemberReply{Proof: &MemberProof{Signature: []byte{1}}}), memberReplyDecoder},
		{"reply: no signature", enc(&MemberReply{Proof: &MemberProof{Token: []byte{1}}}), memberReplyDecoder},
		{"reply: huge signature", enc(&MemberReply{Proof: &MemberProof{Token: []byte{1}, Signature: make([]byte, capabilities.MaxSignatureSize+1)}}), memberReplyDecoder},
		{"reply: long bitmap", enc(&MemberReply{Revoked: make([]byte, 9)}), memberReplyDecoder},
		{"reply: bad error code", enc(&MemberReply{Error: &WireError{Code: "nope"}}), memberReplyDecoder},
	} {
		if err := tc.decode(tc.data); !errors.Is(err, ErrMalformedMessage) {
			t.Errorf("%s: %v, want a malformed-message error", tc.name, err)
		}
	}
	for _, r := range reqs {
		if err := memberReqDecoder(r); err != nil {
			t.Errorf("a good request: %v", err)
		}
	}
	for _, r := range reps {
		if err := memberReplyDecoder(r); err != nil {
			t.Errorf("a good reply: %v", err)
		}
	}
}

func memberReqDecoder(b []byte) error   { _, err := DecodeMemberRequest(b); return err }
func memberReplyDecoder(b []byte) error { _, err := DecodeMemberReply(b); return err }

func FuzzDecodeMemberRequest(f *testing.F) {
	reqs, _ := memberMessages(f)
	fuzzDecoder(f, reqs, DecodeMemberRequest, EncodeMemberRequest)
}

func FuzzDecodeMemberReply(f *testing.F) {
	_, reps := memberMessages(f)
	fuzzDecoder(f, reps, DecodeMemberReply, EncodeMemberReply)
}

var (
	fuzzMemberOnce sync.Once
	fuzzMember     *Node
	fuzzMemberErr  error
)

// FuzzServeMember: whatever a request says, the member answers with a
// valid reply, and proves only a membership it holds.
func FuzzServeMember(f *testing.F) {
	reqs, _ := memberMessages(f)
	for _, r := range reqs {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMemberOnce.Do(func() { fuzzMember, fuzzMemberErr = New(context.Background(), WithDHTMode(DHTOff)) })
		if fuzzMemberErr != nil {
			t.Fatal(fuzzMemberErr)
		}
		req, err := DecodeMemberRequest(data)
		if err != nil {
			return
		}
		r := fuzzMember.serveMember(context.Background(), "", req)
		enc, err := EncodeMemberReply(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMemberReply(enc); err != nil {
			t.Fatalf("the member's reply does not decode: %v", err)
		}
		if r.Proof != nil {
			t.Fatalf("proved a membership the node does not hold")
		}
	})
}

// TestMemberStreamBounds: a membership stream that sends nothing, or too
// much, is cut, as the libp2p handler template asks.
func TestMemberStreamBounds(t *testing.T) {
	m := newTestNode(t, WithDHTMode(DHTOff), withAdmissionLimits(func(l *admissionLimits) { l.firstFrame = 200 * time.Millisecond }))
	a := newTestNode(t, WithDHTMode(DHTOff))
	connectAll(t, a, m)
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"silent", nil},
		{"oversized", binary.AppendUvarint(nil, MaxMemberMessageSize+1)},
		{"garbage", append(binary.AppendUvarint(nil, 3), 1, 2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.host.NewStream(testCtx(t), m.ID(), ProtocolMember)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(tc.send) > 0 {
				s.Write(tc.send)
			}
			s.SetReadDeadline(time.Now().Add(20 * time.Second)) // only detects a hang
			if _, err := io.ReadAll(s); err == nil {
				t.Fatal("the member answered instead of resetting the stream")
			}
		})
	}
}
