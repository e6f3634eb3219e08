package capabilities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Datastore prefixes (see doc.go).
const (
	prefixGrants  = "/grants/"
	prefixRevoked = "/revoked/"
	prefixAudit   = "/audit/"
)

// ErrUnknownGrant: Revoke was given an ID prefix that matches no grant,
// or several.
var ErrUnknownGrant = errors.New("no such grant")

// A Store keeps the tokens this node granted, the IDs it revoked, and the
// audit log of foreign evaluations, in the node's datastore. It reads the
// datastore on every call (nothing is cached), so a revocation made by
// another process sharing the datastore takes effect at once. Safe for
// concurrent use.
type Store struct {
	ds datastore.Datastore
	// Now is the clock for grant, revocation and audit times; nil means
	// time.Now. Tests inject one.
	Now func() time.Time

	// The audit log is written behind the evaluations it records, in
	// batches: Audit queues the entry (its key, and so its place in the
	// log, fixed at once) and a writer goroutine, started when there is
	// work, commits what is queued as one datastore batch at most
	// AuditWindow after the first entry queued. AuditDurable queues and
	// waits for the commit, which then starts at once and carries
	// everything queued so far: concurrent durable entries share one
	// commit (one fsync on a synced datastore). AuditLog and FlushAudit
	// commit everything queued before they return, so nothing appended
	// is lost on a clean shutdown (the node calls FlushAudit from Close).
	amu      sync.Mutex // guards the fields below
	lastNS   int64      // the time and sequence number of the last key
	seq      uint64
	pending  []auditPut
	spare    []auditPut    // a committed batch's array, emptied, for pending
	waiters  []chan error  // woken with the result of the commit of pending
	urgent   bool          // someone waits: commit pending without delay
	kick     chan struct{} // wakes the writer out of its window (buffered 1)
	writing  bool          // a writer goroutine is running
	writeErr error         // the first failed background write, not yet reported
}

// An auditPut is a queued entry and its key's parts (auditKey), fixed
// when it is queued and formatted by the writer.
type auditPut struct {
	ns    int64
	seq   uint64
	entry AuditEntry
}

// NewStore returns a Store over ds (typically the node's datastore; its
// keys do not collide with the blockstore's).
//
// Durability is the datastore's: a grant, a revocation or an audit batch
// is durable when the datastore's write returns if the datastore syncs
// its writes, as the repo's does (p2p/repo opens pebble with Sync).
func NewStore(ds datastore.Datastore) *Store {
	return &Store{ds: ds, kick: make(chan struct{}, 1)}
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// A GrantRecord is a granted token as the store keeps it.
type GrantRecord struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	Audience  string    `json:"audience"`
	Sandbox   string    `json:"sandbox"` // text syntax
	NotBefore time.Time `json:"notBefore,omitzero"`
	Expires   time.Time `json:"expires"`
	Issued    time.Time `json:"issued"`
	Note      string    `json:"note,omitempty"`
	Revoked   bool      `json:"revoked"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

type grantValue struct {
	Token  string    `json:"token"`
	Issued time.Time `json:"issued"`
	Note   string    `json:"note,omitempty"`
}

type revokedValue struct {
	Time time.Time `json:"time"`
}

// Grant issues a token with Issue and records it. note is free text for
// `unode grants` (who it is for, why).
func (s *Store) Grant(ctx context.Context, key crypto.PrivKey, c Claims, note string) (*Token, error) {
	tok, err := Issue(key, c)
	if err != nil {
		return nil, err
	}
	if err := s.Record(ctx, tok, note); err != nil {
		return nil, err
	}
	return tok, nil
}

// Record records a token made elsewhere (for instance a delegation this
// node made from a token it received), so it can be listed and revoked
// by ID prefix.
func (s *Store) Record(ctx context.Context, tok *Token, note string) error {
	v, err := json.Marshal(grantValue{Token: tok.String(), Issued: s.now().UTC(), Note: note})
	if err != nil {
		return err
	}
	if err := s.ds.Put(ctx, datastore.NewKey(prefixGrants+tok.ID()), v); err != nil {
		return fmt.Errorf("capabilities: recording grant: %w", err)
	}
	return nil
}

// Grants lists the recorded grants, newest first (by issue time, then ID).
func (s *Store) Grants(ctx context.Context) ([]GrantRecord, error) {
	res, err := s.ds.Query(ctx, query.Query{Prefix: strings.TrimSuffix(prefixGrants, "/")})
	if err != nil {
		return nil, fmt.Errorf("capabilities: listing grants: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("capabilities: listing grants: %w", err)
	}
	var out []GrantRecord
	for _, e := range entries {
		var v grantValue
		if err := json.Unmarshal(e.Value, &v); err != nil {
			return nil, fmt.Errorf("capabilities: grant %s: %w", e.Key, err)
		}
		tok, err := ParseToken(v.Token)
		if err != nil {
			return nil, fmt.Errorf("capabilities: grant %s: %w", e.Key, err)
		}
		r := GrantRecord{ID: tok.ID(), Token: v.Token, Audience: tok.Audience().String(),
			Sandbox: tok.Sandbox().String(), NotBefore: tok.NotBefore(), Expires: tok.Expires(),
			Issued: v.Issued, Note: v.Note}
		if at, ok, err := s.revokedAt(ctx, tok.ID()); err != nil {
			return nil, err
		} else if ok {
			r.Revoked, r.RevokedAt = true, at
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b GrantRecord) int {
		if c := b.Issued.Compare(a.Issued); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Revoke revokes a token, given its printed form, its ID, or a prefix of
// at least 6 characters of the ID of exactly one recorded grant, and
// returns the ID. Revocation is persistent and idempotent; it applies to
// every token delegated from the revoked one too (VerifyToken checks
// every link). IDs of tokens this node never recorded (a delegation made
// by someone else) can be revoked by full ID or token.
func (s *Store) Revoke(ctx context.Context, idOrToken string) (string, error) {
	id, err := s.resolve(ctx, strings.TrimSpace(idOrToken))
	if err != nil {
		return "", err
	}
	if _, ok, err := s.revokedAt(ctx, id); err != nil || ok {
		return id, err
	}
	v, err := json.Marshal(revokedValue{Time: s.now().UTC()})
	if err != nil {
		return "", err
	}
	if err := s.ds.Put(ctx, datastore.NewKey(prefixRevoked+id), v); err != nil {
		return "", fmt.Errorf("capabilities: revoking %s: %w", id, err)
	}
	return id, nil
}

func (s *Store) resolve(ctx context.Context, x string) (string, error) {
	if strings.HasPrefix(x, TokenPrefix) {
		tok, err := ParseToken(x)
		if err != nil {
			return "", err
		}
		return tok.ID(), nil
	}
	if !isIDText(x) {
		return "", fmt.Errorf("capabilities: %q is neither a token nor a token ID: %w", x, ErrUnknownGrant)
	}
	if len(x) == idLen {
		return x, nil
	}
	if len(x) < minIDPrefix {
		return "", fmt.Errorf("capabilities: ID prefix %q is shorter than %d characters: %w", x, minIDPrefix, ErrUnknownGrant)
	}
	res, err := s.ds.Query(ctx, query.Query{Prefix: strings.TrimSuffix(prefixGrants, "/"), KeysOnly: true})
	if err != nil {
		return "", err
	}
	entries, err := res.Rest()
	if err != nil {
		return "", err
	}
	var matches []string
	for _, e := range entries {
		id := strings.TrimPrefix(e.Key, prefixGrants)
		if strings.HasPrefix(id, x) {
			matches = append(matches, id)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		// Said once: "no such grant" is the sentinel's text.
		return "", fmt.Errorf("%w with an ID starting %s ('unode grants' lists them)", ErrUnknownGrant, x)
	}
	return "", fmt.Errorf("%w: %d grants have an ID starting %s (give more of the ID)", ErrUnknownGrant, len(matches), x)
}

// idLen is the length of a token ID: base32 of 16 bytes.
var idLen = b32.EncodedLen(16)

func isIDText(x string) bool {
	if x == "" || len(x) > idLen {
		return false
	}
	for _, r := range x {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// IsRevoked reports whether the token ID has been revoked.
func (s *Store) IsRevoked(ctx context.Context, id string) (bool, error) {
	_, ok, err := s.revokedAt(ctx, id)
	return ok, err
}

func (s *Store) revokedAt(ctx context.Context, id string) (time.Time, bool, error) {
	if !isIDText(id) {
		return time.Time{}, false, nil // not an ID we could have stored
	}
	b, err := s.ds.Get(ctx, datastore.NewKey(prefixRevoked+id))
	if errors.Is(err, datastore.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("capabilities: revocation of %s: %w", id, err)
	}
	var v revokedValue
	if err := json.Unmarshal(b, &v); err != nil {
		return time.Time{}, false, fmt.Errorf("capabilities: revocation of %s: %w", id, err)
	}
	return v.Time, true, nil
}

// Revoked returns a revocation check for VerifyToken and Policy.For. It
// fails closed: an ID whose revocation status cannot be read counts as
// revoked.
func (s *Store) Revoked(ctx context.Context) func(id string) bool {
	return func(id string) bool {
		ok, err := s.IsRevoked(ctx, id)
		return ok || err != nil
	}
}

// ---- audit log ----

// An AuditEntry records one foreign evaluation.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Peer   string    `json:"peer"`             // the authenticated caller
	Tokens []string  `json:"tokens,omitempty"` // IDs of the tokens that verified
	Root   string    `json:"root,omitempty"`   // CID of the evaluated code, if it has one
	Fuel   int64     `json:"fuel"`             // steps used
	Memory int64     `json:"memory"`           // bytes allocated
	// Outcome is "ok", "denied", "budget" (a budget ran out), or
	// "error" (any other failure); Detail says more.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Audit outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeBudget = "budget"
	OutcomeError  = "error"
)

// Audit appends an entry to the log under /audit/<time>-<seq>, keys
// ordered by time. A zero e.Time is set to now. It returns before the
// entry is written: the entry reaches the datastore within AuditWindow
// (plus the time of one write), or when FlushAudit or AuditLog is
// called, whichever is first. A failure to write it is reported by a
// later Audit, AuditDurable or FlushAudit. Use AuditDurable for entries
// that must be durable before the caller goes on.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	full, err := s.queueAudit(e, nil)
	if err != nil {
		return fmt.Errorf("capabilities: audit log: %w", err)
	}
	if full {
		// The writer is behind: this caller waits for the backlog to be
		// written, which bounds the queue.
		return s.FlushAudit(ctx)
	}
	return nil
}

// AuditDurable appends an entry as Audit does, and returns once the
// batch holding it is committed to the datastore (on a synced datastore:
// on disk), or with the error of that commit. Callers waiting at the
// same time share one commit.
func (s *Store) AuditDurable(ctx context.Context, e AuditEntry) error {
	done := make(chan error, 1)
	s.queueAudit(e, done) // reports no earlier failure with done set
	// Not abandoned on ctx: the caller is about to tell someone the
	// entry exists.
	if err := <-done; err != nil {
		return fmt.Errorf("capabilities: audit log: %w", err)
	}
	return nil
}

// queueAudit fixes e's key and queues it; done, if not nil, is sent the
// result of the commit that writes it. It reports whether the queue is
// full and, when done is nil, a background write failure not yet
// reported.
func (s *Store) queueAudit(e AuditEntry, done chan error) (full bool, err error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	ns := max(e.Time.UnixNano(), 0)
	// One lock for the key and the queue, held only to fix the key and
	// append: every foreign evaluation queues its entry here, so what
	// it costs is kept out (the key's text is made by the writer, the
	// queue's array comes from the last commit).
	s.amu.Lock()
	if ns <= s.lastNS {
		ns = s.lastNS // keep keys in the order entries were appended
	}
	if ns == s.lastNS {
		s.seq++
	} else {
		s.seq = 0
	}
	s.lastNS = ns
	// Queued with its key fixed under the same lock, so the queue is in
	// key order.
	if s.pending == nil {
		s.pending, s.spare = s.spare, nil
	}
	s.pending = append(s.pending, auditPut{ns: ns, seq: s.seq, entry: e})
	if done != nil {
		s.waiters = append(s.waiters, done)
	}
	full = len(s.pending) >= MaxPendingAudit
	s.startWriterLocked(done != nil)
	if done == nil {
		// A durable caller hears about its own commit only; earlier
		// failures go to the next Audit or FlushAudit.
		err = s.writeErr
		s.writeErr = nil
	}
	s.amu.Unlock()
	return full, err
}

// auditKey is fmt.Sprintf("%s%020d-%06d", prefixAudit, ns, seq) for
// ns >= 0, without fmt's cost on every evaluation.
func auditKey(ns int64, seq uint64) string {
	b := make([]byte, 0, len(prefixAudit)+28)
	b = append(b, prefixAudit...)
	b = appendPadded(b, uint64(ns), 20)
	b = append(b, '-')
	b = appendPadded(b, seq, 6)
	return string(b)
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v uint64, width int) []byte {
	var d [20]byte
	i := len(d)
	for v >= 10 {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	d[i] = byte('0' + v)
	for range width - (len(d) - i) {
		b = append(b, '0')
	}
	return append(b, d[i:]...)
}

// startWriterLocked starts the writer if none runs, and with urgent
// makes it commit without waiting out its window. amu is held.
func (s *Store) startWriterLocked(urgent bool) {
	if urgent {
		s.urgent = true
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if !s.writing {
		s.writing = true
		go s.auditWriter()
	}
}

// auditWriter commits queued entries until there are none: each round
// waits until AuditWindow has passed since the round began, or someone
// waits for a commit, then commits everything queued as one batch.
// Entries queued during a commit go into the next round, so there is
// one commit at a time and they land in key order.
func (s *Store) auditWriter() {
	window := time.NewTimer(AuditWindow)
	defer window.Stop()
	for {
		s.amu.Lock()
		if len(s.pending) == 0 && len(s.waiters) == 0 {
			s.writing = false
			s.amu.Unlock()
			return
		}
		urgent := s.urgent
		s.amu.Unlock()
		if !urgent {
			select {
			case <-window.C:
			case <-s.kick:
			}
		}
		s.amu.Lock()
		batch, waiters := s.pending, s.waiters
		s.pending, s.waiters, s.urgent = nil, nil, false
		select {
		case <-s.kick: // consumed by this round
		default:
		}
		s.amu.Unlock()

		err := s.commitAudit(batch)
		for _, w := range waiters {
			w <- err
		}
		clear(batch) // the entries are written (or their failure kept)
		s.amu.Lock()
		if err != nil && len(waiters) == 0 && s.writeErr == nil {
			s.writeErr = err
		}
		if s.spare == nil && cap(batch) <= 2*MaxPendingAudit {
			s.spare = batch[:0]
		}
		s.amu.Unlock()
		window.Reset(AuditWindow)
	}
}

// commitAudit writes batch as one datastore batch (one write, however
// many entries), or entry by entry on a datastore without batches.
func (s *Store) commitAudit(batch []auditPut) error {
	if len(batch) == 0 {
		return nil
	}
	ctx := context.Background()
	var put func(context.Context, datastore.Key, []byte) error
	var commit func(context.Context) error
	if bds, ok := s.ds.(datastore.Batching); ok {
		b, err := bds.Batch(ctx)
		if err != nil {
			return err
		}
		put, commit = b.Put, b.Commit
	} else {
		put = s.ds.Put
	}
	for _, p := range batch {
		v, err := json.Marshal(p.entry)
		if err != nil {
			return err
		}
		if err := put(ctx, datastore.RawKey(auditKey(p.ns, p.seq)), v); err != nil {
			return err
		}
	}
	if commit != nil {
		return commit(ctx)
	}
	return nil
}

// AuditQueued is how many audit entries wait for the next commit (not
// those of a commit under way): a queue that stays near MaxPendingAudit
// means the datastore cannot keep up, and callers start waiting on it.
func (s *Store) AuditQueued() int {
	s.amu.Lock()
	defer s.amu.Unlock()
	return len(s.pending)
}

// FlushAudit writes every audit entry queued so far, and reports a
// failure to write any entry since the last report.
func (s *Store) FlushAudit(ctx context.Context) error {
	done := make(chan error, 1)
	s.amu.Lock()
	s.waiters = append(s.waiters, done)
	s.startWriterLocked(true)
	s.amu.Unlock()
	err := <-done
	s.amu.Lock()
	if err == nil {
		err = s.writeErr
	}
	s.writeErr = nil
	s.amu.Unlock()
	if err != nil {
		return fmt.Errorf("capabilities: audit log: %w", err)
	}
	return nil
}

// AuditLog returns up to limit entries, newest first (limit <= 0: all).
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	if err := s.FlushAudit(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > math.MaxInt32 {
		limit = 0
	}
	res, err := s.ds.Query(ctx, query.Query{
		Prefix: strings.TrimSuffix(prefixAudit, "/"),
		Orders: []query.Order{query.OrderByKeyDescending{}},
		Limit:  limit,
	})
	if err != nil {
		return nil, fmt.Errorf("capabilities: audit log: %w", err)
	}
	defer res.Close()
	var out []AuditEntry
	for {
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			return nil, fmt.Errorf("capabilities: audit log: %w", r.Error)
		}
		var e AuditEntry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			return nil, fmt.Errorf("capabilities: audit entry %s: %w", r.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}
