package capabilities

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

// gatedDatastore counts the writes that reach it (single puts, batch
// commits) and can hold batch commits until released, to show what
// shares a commit.
type gatedDatastore struct {
	datastore.Batching
	mu      sync.Mutex
	puts    int
	commits []int         // entries per commit
	gate    chan struct{} // when not nil, a commit waits until it is closed
	entered chan struct{} // a commit is waiting at the gate
}

func (g *gatedDatastore) Put(ctx context.Context, k datastore.Key, v []byte) error {
	g.mu.Lock()
	g.puts++
	g.mu.Unlock()
	return g.Batching.Put(ctx, k, v)
}

func (g *gatedDatastore) Batch(ctx context.Context) (datastore.Batch, error) {
	b, err := g.Batching.Batch(ctx)
	return &gatedBatch{Batch: b, g: g}, err
}

func (g *gatedDatastore) counts() (puts int, commits []int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.puts, append([]int(nil), g.commits...)
}

type gatedBatch struct {
	datastore.Batch
	g *gatedDatastore
	n int
}

func (b *gatedBatch) Put(ctx context.Context, k datastore.Key, v []byte) error {
	b.n++
	return b.Batch.Put(ctx, k, v)
}

func (b *gatedBatch) Commit(ctx context.Context) error {
	if b.g.gate != nil {
		select {
		case b.g.entered <- struct{}{}:
		default:
		}
		<-b.g.gate
	}
	b.g.mu.Lock()
	b.g.commits = append(b.g.commits, b.n)
	b.g.mu.Unlock()
	return b.Batch.Commit(ctx)
}

// stored reads the audit keys straight from the datastore (AuditLog
// would flush first).
func stored(t *testing.T, ds datastore.Datastore) int {
	t.Helper()
	res, err := ds.Query(context.Background(), query.Query{Prefix: strings.TrimSuffix(prefixAudit, "/"), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// TestAuditDurable is issue 7's case 1 for the audit log: an entry
// appended with AuditDurable is in the datastore when the call returns
// (before the evaluation's reply leaves), and durable entries appended
// while a commit runs share the next one (group commit).
func TestAuditDurable(t *testing.T) {
	ctx := context.Background()
	g := &gatedDatastore{Batching: dssync.MutexWrap(datastore.NewMapDatastore())}
	s := NewStore(g)
	if err := s.AuditDurable(ctx, AuditEntry{Peer: "p", Outcome: OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	if n := stored(t, g); n != 1 {
		t.Fatalf("%d entries stored when AuditDurable returned, want 1", n)
	}

	// Hold the next commit; queue 31 more behind it; release: two
	// commits in all.
	g.gate, g.entered = make(chan struct{}), make(chan struct{}, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	durable := func(i int) {
		defer wg.Done()
		errs <- s.AuditDurable(ctx, AuditEntry{Peer: fmt.Sprint(i), Outcome: OutcomeOK})
	}
	wg.Add(1)
	go durable(0)
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first commit did not start")
	}
	for i := 1; i < 32; i++ {
		wg.Add(1)
		go durable(i)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		s.amu.Lock()
		queued := len(s.waiters)
		s.amu.Unlock()
		if queued == 31 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 31 callers queued", queued)
		}
		time.Sleep(time.Millisecond)
	}
	close(g.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	puts, commits := g.counts()
	if puts != 0 || len(commits) != 3 || commits[1] != 1 || commits[2] != 31 {
		t.Errorf("single puts %d, commits %v; want 0 and [1 1 31]", puts, commits)
	}
	if n := stored(t, g); n != 33 {
		t.Errorf("%d entries stored, want 33", n)
	}
}

// TestAuditWindow: entries appended with Audit reach the datastore by
// themselves (within AuditWindow; the test only waits, with a generous
// bound), in few batches, and never as single puts.
func TestAuditWindow(t *testing.T) {
	ctx := context.Background()
	g := &gatedDatastore{Batching: dssync.MutexWrap(datastore.NewMapDatastore())}
	s := NewStore(g)
	for i := range 200 {
		if err := s.Audit(ctx, AuditEntry{Peer: "p", Fuel: int64(i), Outcome: OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); stored(t, g) < 200; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 200 entries written without a flush", stored(t, g))
		}
		time.Sleep(10 * time.Millisecond)
	}
	puts, commits := g.counts()
	if puts != 0 || len(commits) >= 200 {
		t.Errorf("single puts %d, %d commits for 200 entries; want batches", puts, len(commits))
	}
	// A flush with nothing queued returns at once; the writer has gone.
	if err := s.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		s.amu.Lock()
		writing := s.writing
		s.amu.Unlock()
		if !writing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the audit writer did not exit with nothing to write")
		}
		time.Sleep(time.Millisecond)
	}
}
