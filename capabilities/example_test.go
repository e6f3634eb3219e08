package capabilities_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
)

func newPeer() (crypto.PrivKey, peer.ID) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		panic(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		panic(err)
	}
	return sk, id
}

// The owner of a personal data node grants an insurer read access to
// health records for an hour, then revokes it.
func ExampleStore_Grant() {
	ctx := context.Background()
	ownerKey, owner := newPeer()
	_, insurer := newPeer()
	store := capabilities.NewStore(datastore.NewMapDatastore())
	now := time.Now()

	sb, err := capabilities.ParseSandbox("--allow pure --allow data.read:health/ --fuel 100000000")
	if err != nil {
		panic(err)
	}
	tok, err := store.Grant(ctx, ownerKey, capabilities.Claims{
		Audience: insurer,
		Sandbox:  sb,
		Expires:  now.Add(time.Hour),
	}, "insurer: health records")
	if err != nil {
		panic(err)
	}
	text := tok.String() // what the owner hands over

	// Later, the insurer's node presents the token with an evaluation.
	presented, err := capabilities.ParseToken(text)
	if err != nil {
		panic(err)
	}
	granted, err := capabilities.VerifyToken(presented, now, owner, insurer, store.Revoked(ctx), capabilities.ClockSkew)
	fmt.Println(granted, err)

	// Presented by anyone else, or after expiry, it grants nothing.
	_, eve := newPeer()
	_, err = capabilities.VerifyToken(presented, now, owner, eve, store.Revoked(ctx), capabilities.ClockSkew)
	fmt.Println(errors.Is(err, capabilities.ErrWrongAudience))
	_, err = capabilities.VerifyToken(presented, now.Add(2*time.Hour), owner, insurer, store.Revoked(ctx), capabilities.ClockSkew)
	fmt.Println(errors.Is(err, capabilities.ErrExpired))

	// Revocation is immediate.
	if _, err := store.Revoke(ctx, tok.ID()); err != nil {
		panic(err)
	}
	_, err = capabilities.VerifyToken(presented, now, owner, insurer, store.Revoked(ctx), capabilities.ClockSkew)
	fmt.Println(errors.Is(err, capabilities.ErrRevoked))
	// Output:
	// --allow pure --allow data.read:health/ --fuel 100000000 <nil>
	// true
	// true
	// true
}

// A token holder may delegate part of what it holds; the node that issued
// the root accepts the narrower token from the delegate.
func ExampleToken_Delegate() {
	ownerKey, owner := newPeer()
	insurerKey, insurer := newPeer()
	_, analyst := newPeer()
	now := time.Now()
	sb, _ := capabilities.ParseSandbox("--allow pure --allow data.read:health/")
	root, err := capabilities.Issue(ownerKey, capabilities.Claims{Audience: insurer, Sandbox: sb, Expires: now.Add(time.Hour)})
	if err != nil {
		panic(err)
	}

	narrow, _ := capabilities.ParseSandbox("--allow pure --allow data.read:health/2025/")
	child, err := root.Delegate(insurerKey, capabilities.Claims{Audience: analyst, Sandbox: narrow, Expires: now.Add(time.Minute)})
	if err != nil {
		panic(err)
	}
	granted, err := capabilities.VerifyToken(child, now, owner, analyst, nil, capabilities.ClockSkew)
	fmt.Println(granted, err)

	wide, _ := capabilities.ParseSandbox("--allow pure --allow data.read:")
	_, err = root.Delegate(insurerKey, capabilities.Claims{Audience: analyst, Sandbox: wide, Expires: now.Add(time.Minute)})
	fmt.Println(errors.Is(err, capabilities.ErrWidened))
	// Output:
	// --allow pure --allow data.read:health/2025/ <nil>
	// true
}

// The seed's "Bob may evaluate pure code but not Int.sub": the node asks a
// Checker about every builtin the foreign code reaches before running it.
func ExampleChecker_CheckLink() {
	_, self := newPeer()
	_, bob := newPeer()
	sb, _ := capabilities.ParseSandbox("--allow pure --deny Int.sub --fuel 1000000 --memory 16MiB --time 5s --result 1MiB")
	groups := map[string]string{"Int.add": "pure", "Int.sub": "pure", "Op.sub": "pure", "at": "remote"}
	cat := capabilities.Catalog{
		GroupOf: func(name string) string { return groups[name] },
		Covers: func(name string) []string {
			if name == "Op.sub" {
				return []string{"Int.sub"}
			}
			return nil
		},
	}
	c := capabilities.NewChecker(sb, cat, self, bob)
	fmt.Println(c.CheckLink([]string{"Int.add"}, nil))
	fmt.Println(c.CheckLink([]string{"Int.add", "Op.sub"}, nil))
	fmt.Println(c.CheckLink([]string{"at"}, nil))
	// Output:
	// <nil>
	// denied: builtin Op.sub is outside the sandbox (it stands for Int.sub, which is denied)
	// denied: builtin at is outside the sandbox
}

func ExampleUnion() {
	a, _ := capabilities.ParseSandbox("--allow pure --deny Int.sub --fuel 10")
	b, _ := capabilities.ParseSandbox("--allow data.read:health/ --fuel 1000")
	fmt.Println(capabilities.Union(a, b))
	fmt.Println(capabilities.Intersect(a, b))
	fmt.Println(a.IsSubset(capabilities.Union(a, b)))
	// Output:
	// --allow pure --allow data.read:health/ --deny Int.sub --fuel 1000
	// --fuel 10
	// true
}
