package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-base32"
)

// ProviderQuotaError refuses a provider record over a bound: the
// records of one peer (PerPeer) or of all peers (MaxProviderRecords).
// kad-dht then fails the ADD_PROVIDER that carried it.
type ProviderQuotaError struct {
	Peer    peer.ID
	Held    int
	Limit   int
	PerPeer bool
}

func (e *ProviderQuotaError) Error() string {
	if e.PerPeer {
		return fmt.Sprintf("peer %s holds %d provider records here, the most one peer may", e.Peer, e.Held)
	}
	return fmt.Sprintf("this node holds %d provider records, the most it keeps (refusing one of %s)", e.Held, e.Peer)
}

// providerStore is the datastore kad-dht's provider manager writes
// through (ProviderDatastore): the node's, under /dht, with two things
// added. Every record is charged to the peer it names, and a new record
// over that peer's share, or over the node's, is refused; an existing one
// is refreshed freely. And writes wait in memory, up to
// providerFlushInterval or providerFlushBatch of them, for one synced
// batch commit, rather than one fsync each: reads see them meanwhile.
//
// Keys are kad-dht's: /providers/<base32 key>/<base32 peer ID>, value
// the record's time (a varint of Unix nanoseconds).
type providerStore struct {
	child      datastore.Batching
	self       peer.ID
	perPeerCap int
	totalCap   int
	log        *slog.Logger

	mu      sync.Mutex
	pending map[datastore.Key]pendingOp
	perPeer map[peer.ID]int // records stored or pending, per peer they name
	total   int
	timer   *time.Timer // armed while writes are pending
	closed  bool
}

type pendingOp struct {
	del   bool
	value []byte
}

var _ datastore.Batching = (*providerStore)(nil)

// newProviderStore counts the records already in child, per peer.
func newProviderStore(ctx context.Context, child datastore.Batching, self peer.ID, perPeer, total int, log *slog.Logger) (*providerStore, error) {
	s := &providerStore{child: child, self: self, perPeerCap: perPeer, totalCap: total, log: log,
		pending: map[datastore.Key]pendingOp{}, perPeer: map[peer.ID]int{}}
	res, err := child.Query(ctx, dsq.Query{Prefix: records.ProvidersKeyPrefix, KeysOnly: true})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		if p, ok := providerOf(e.Key); ok {
			s.perPeer[p]++
			s.total++
		}
	}
	return s, nil
}

// providerOf reads the peer a provider-record key names.
func providerOf(key string) (peer.ID, bool) {
	if !strings.HasPrefix(key, records.ProvidersKeyPrefix) {
		return "", false
	}
	i := strings.LastIndexByte(key, '/')
	if i < len(records.ProvidersKeyPrefix) {
		return "", false
	}
	b, err := base32.RawStdEncoding.DecodeString(key[i+1:])
	if err != nil {
		return "", false
	}
	return peer.ID(b), true
}

// existsLocked reports whether k is stored or pending (and not pending
// deletion).
func (s *providerStore) existsLocked(ctx context.Context, k datastore.Key) (bool, error) {
	if op, ok := s.pending[k]; ok {
		return !op.del, nil
	}
	return s.child.Has(ctx, k)
}

func (s *providerStore) Put(ctx context.Context, k datastore.Key, value []byte) error {
	p, isRecord := providerOf(k.String())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if isRecord {
		ok, err := s.existsLocked(ctx, k)
		if err != nil {
			return err
		}
		if !ok {
			// This node's own records (its provides) are counted but
			// never refused: strangers cannot crowd them out.
			if p != s.self {
				if held := s.perPeer[p]; held >= s.perPeerCap {
					return &ProviderQuotaError{Peer: p, Held: held, Limit: s.perPeerCap, PerPeer: true}
				}
				if s.total >= s.totalCap {
					return &ProviderQuotaError{Peer: p, Held: s.total, Limit: s.totalCap}
				}
			}
			s.perPeer[p]++
			s.total++
		}
	}
	s.pending[k] = pendingOp{value: append([]byte(nil), value...)}
	return s.queuedLocked(ctx)
}

func (s *providerStore) Delete(ctx context.Context, k datastore.Key) error {
	p, isRecord := providerOf(k.String())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	ok, err := s.existsLocked(ctx, k)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if isRecord {
		if s.perPeer[p]--; s.perPeer[p] <= 0 {
			delete(s.perPeer, p)
		}
		s.total--
	}
	s.pending[k] = pendingOp{del: true}
	return s.queuedLocked(ctx)
}

// queuedLocked commits the pending writes when there are enough of them,
// and otherwise makes sure the timer will.
func (s *providerStore) queuedLocked(ctx context.Context) error {
	if len(s.pending) >= providerFlushBatch {
		return s.flushLocked(ctx)
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(providerFlushInterval, s.timedFlush)
	}
	return nil
}

func (s *providerStore) timedFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if err := s.flushLocked(context.Background()); err != nil {
		s.log.Warn("writing provider records", "err", err)
	}
}

// flushLocked commits the pending writes in one batch. On failure they
// stay pending, to be tried again.
func (s *providerStore) flushLocked(ctx context.Context) error {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if len(s.pending) == 0 {
		return nil
	}
	b, err := s.child.Batch(ctx)
	if err != nil {
		s.rearmLocked()
		return err
	}
	for k, op := range s.pending {
		if op.del {
			err = b.Delete(ctx, k)
		} else {
			err = b.Put(ctx, k, op.value)
		}
		if err != nil {
			s.rearmLocked()
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		s.rearmLocked()
		return err
	}
	clear(s.pending)
	return nil
}

func (s *providerStore) rearmLocked() {
	if s.timer == nil && !s.closed {
		s.timer = time.AfterFunc(providerFlushInterval, s.timedFlush)
	}
}

func (s *providerStore) Get(ctx context.Context, k datastore.Key) ([]byte, error) {
	s.mu.Lock()
	op, ok := s.pending[k]
	s.mu.Unlock()
	if ok {
		if op.del {
			return nil, datastore.ErrNotFound
		}
		return append([]byte(nil), op.value...), nil
	}
	return s.child.Get(ctx, k)
}

func (s *providerStore) Has(ctx context.Context, k datastore.Key) (bool, error) {
	s.mu.Lock()
	op, ok := s.pending[k]
	s.mu.Unlock()
	if ok {
		return !op.del, nil
	}
	return s.child.Has(ctx, k)
}

func (s *providerStore) GetSize(ctx context.Context, k datastore.Key) (int, error) {
	s.mu.Lock()
	op, ok := s.pending[k]
	s.mu.Unlock()
	if ok {
		if op.del {
			return -1, datastore.ErrNotFound
		}
		return len(op.value), nil
	}
	return s.child.GetSize(ctx, k)
}

// Query answers the provider manager's two queries: the records of one
// key (a small prefix: the stored ones merged with the pending writes)
// and the sweep of all records by its garbage collector (after a
// flush, straight from the datastore).
func (s *providerStore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if strings.Count(strings.Trim(q.Prefix, "/"), "/") < 1 {
		s.mu.Lock()
		err := s.flushLocked(ctx)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return s.child.Query(ctx, q)
	}
	prefix := datastore.NewKey(q.Prefix)
	s.mu.Lock()
	over := map[string]pendingOp{}
	for k, op := range s.pending {
		if k.IsDescendantOf(prefix) {
			over[k.String()] = op
		}
	}
	s.mu.Unlock()
	if len(over) == 0 {
		return s.child.Query(ctx, q)
	}
	res, err := s.child.Query(ctx, dsq.Query{Prefix: q.Prefix, KeysOnly: q.KeysOnly, ReturnsSizes: q.ReturnsSizes})
	if err != nil {
		return nil, err
	}
	stored, err := res.Rest()
	if err != nil {
		return nil, err
	}
	var entries []dsq.Entry
	for _, e := range stored {
		if _, ok := over[e.Key]; !ok {
			entries = append(entries, e)
		}
	}
	for k, op := range over {
		if !op.del {
			e := dsq.Entry{Key: k, Size: len(op.value)}
			if !q.KeysOnly {
				e.Value = append([]byte(nil), op.value...)
			}
			entries = append(entries, e)
		}
	}
	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, entries)), nil
}

func (s *providerStore) Batch(ctx context.Context) (datastore.Batch, error) {
	return datastore.NewBasicBatch(s), nil
}

func (s *providerStore) Sync(ctx context.Context, _ datastore.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked(ctx)
}

// Close commits what is pending; the child stays open (the node's).
func (s *providerStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	err := s.flushLocked(context.Background())
	s.closed = true
	return err
}

// count is the number of records stored or pending.
func (s *providerStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// held is the number of records charged to p.
func (s *providerStore) held(p peer.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perPeer[p]
}

// isQuota reports whether err is a refusal over a quota.
func isQuota(err error) bool {
	var q *ProviderQuotaError
	return errors.As(err, &q)
}
