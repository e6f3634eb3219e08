package p2p

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
)

// TestUnpublish: unpublishing a root stops serving its closure except
// what another published root still needs, keeps a root that another
// root's closure holds as a dependency, refuses what was never
// published as a root, and stops the node announcing it.
func TestUnpublish(t *testing.T) {
	ctx := context.Background()
	n := newTestNode(t)
	cb := n.Codebase()
	src := "base x = x + 1\nleft x = base x * 2\nright x = base x * 3\nonlyLeft x = left x - 1\n"
	if _, err := cb.AddWith(ctx, "u.u", []byte(src), AddOptions{Here: n.ID().String()}); err != nil {
		t.Fatal(err)
	}
	blockOf := func(name string) cid.Cid {
		r, ok, _ := cb.Store().LookupName(ctx, name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return r.Def.CID
	}
	for _, name := range []string{"onlyLeft", "right", "left"} {
		if _, err := cb.Publish(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	announced := func(name string) bool {
		for _, a := range n.Announcements() {
			if a.Key.Equals(blockOf(name)) {
				return true
			}
		}
		return false
	}
	if !announced("onlyLeft") || !announced("left") {
		t.Fatalf("published roots not announced: %v", n.Announcements())
	}

	// left is a root and in onlyLeft's closure: unpublishing onlyLeft
	// keeps left (a root) and base (right's and left's).
	if _, err := cb.Unpublish(ctx, "onlyLeft"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"onlyLeft": false, "left": true, "right": true, "base": true} {
		if ok, _ := cb.shareable(ctx, blockOf(name), ""); ok != want {
			t.Errorf("after unpublishing onlyLeft: %s shareable = %v, want %v", name, ok, want)
		}
	}
	if announced("onlyLeft") || !announced("left") {
		t.Errorf("announcements after unpublishing onlyLeft: %v", n.Announcements())
	}

	// right: base stays (left needs it); right goes.
	if _, err := cb.Unpublish(ctx, "right"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"right": false, "left": true, "base": true} {
		if ok, _ := cb.shareable(ctx, blockOf(name), ""); ok != want {
			t.Errorf("after unpublishing right: %s shareable = %v, want %v", name, ok, want)
		}
	}
	if _, err := cb.Unpublish(ctx, "base"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("unpublishing a dependency: %v, want ErrNotPublished", err)
	}
	if _, err := cb.Unpublish(ctx, "right"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("unpublishing twice: %v, want ErrNotPublished", err)
	}
	if _, err := cb.Unpublish(ctx, "left"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"left", "base", "right", "onlyLeft"} {
		if ok, _ := cb.shareable(ctx, blockOf(name), ""); ok {
			t.Errorf("%s still shareable with nothing published", name)
		}
	}
	if list, err := cb.Published(ctx); err != nil || len(list) != 0 {
		t.Errorf("Published = %v, %v; want none", list, err)
	}
	if len(n.Announcements()) != 0 {
		t.Errorf("announcements with nothing published: %v", n.Announcements())
	}
}

// namesDownDS fails every read of the namespace, as a shared store does
// while its server is down.
type namesDownDS struct{ datastore.Batching }

var errStoreDown = errors.New("store down")

func (d namesDownDS) Get(ctx context.Context, k datastore.Key) ([]byte, error) {
	if strings.HasPrefix(k.String(), "/names/") {
		return nil, errStoreDown
	}
	return d.Batching.Get(ctx, k)
}

// TestLookupFailureIsNotUnknownName: a name that cannot be read because
// the store fails is reported as that failure, not as an unknown name.
func TestLookupFailureIsNotUnknownName(t *testing.T) {
	ctx := context.Background()
	cb := NewCodebase(namesDownDS{memDatastore()})
	_, err := cb.EvalSource(ctx, "<eval>", "double 22", Budget{})
	if !errors.Is(err, errStoreDown) || strings.Contains(err.Error(), "unknown name") {
		t.Fatalf("eval with the namespace unreadable: %v; want the store's error", err)
	}
	if _, err := NewCodebase(memDatastore()).EvalSource(ctx, "<eval>", "double 22", Budget{}); err == nil || !strings.Contains(err.Error(), "unknown name") {
		t.Fatalf("eval of an unknown name: %v", err)
	}
}
