package dag

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// StoreSecretLen is the length of a store's secret, and StoreProofLen of
// a proof made with it (an HMAC-SHA256).
const (
	StoreSecretLen = 32
	StoreProofLen  = sha256.Size
)

// storeProofLabel starts every proven message: a proof made for another
// purpose with the same secret can never pass for a store proof.
const storeProofLabel = "unode store proof v1"

// StoreSecret is the random secret of a datastore, kept next to its
// StoreID. Only those who can read the datastore know it, where the
// StoreID is public (a node's status gives it to anyone). A node proves
// to another that they share a store with a proof bound to its own
// identity (Prove); the other checks it (Verify) before it acts on the
// sharing, which it must, since sharing lets a node skip checks made for
// strangers. The secret's bytes never leave this package.
type StoreSecret struct {
	key []byte
}

// StoreSecret returns the datastore's secret, creating it on first use,
// the same way and with the same guarantees as StoreID: every Store over
// the datastore, in any process, ends up with the first secret written.
// It is read once per Store and kept.
func (s *Store) StoreSecret(ctx context.Context) (*StoreSecret, error) {
	s.mu.Lock()
	k := s.secret
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	v, err := s.metaValue(ctx, keyStoreSecret, "store secret", func() ([]byte, error) {
		raw := make([]byte, StoreSecretLen)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		return raw, nil
	})
	if err != nil {
		return nil, err
	}
	if len(v) != StoreSecretLen {
		// Another program's key, or a damaged store: a short secret
		// would make proofs guessable.
		return nil, fmt.Errorf("reading store secret: %d bytes under %s, want %d", len(v), keyStoreSecret, StoreSecretLen)
	}
	k = &StoreSecret{key: v}
	s.mu.Lock()
	if s.secret == nil {
		s.secret = k
	}
	k = s.secret
	s.mu.Unlock()
	return k, nil
}

// Prove returns the proof that claimant (the binary form of a node's
// peer ID) holds the secret: HMAC-SHA256 keyed by the secret over
// "unode store proof v1" followed by claimant. Binding it to the
// claimant's identity, which the receiver knows from its authenticated
// connection, is what keeps a proof seen by a third party from being
// replayed by it.
func (k *StoreSecret) Prove(claimant []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(storeProofLabel))
	m.Write(claimant)
	return m.Sum(nil)
}

// Verify reports whether proof is Prove(claimant) under this secret, in
// constant time. A nil StoreSecret verifies nothing.
func (k *StoreSecret) Verify(claimant, proof []byte) bool {
	if k == nil || len(proof) != StoreProofLen {
		return false
	}
	return hmac.Equal(k.Prove(claimant), proof)
}

// String keeps the secret out of logs and %v.
func (k *StoreSecret) String() string { return "dag.StoreSecret(redacted)" }

// GoString keeps the secret out of %#v.
func (k *StoreSecret) GoString() string { return k.String() }
