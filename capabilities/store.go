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

	mu     sync.Mutex
	lastNS int64
	seq    uint64

	// The audit log is written behind the evaluations it records:
	// Audit queues the entry (its key, and so its place in the log,
	// fixed at once) and a writer goroutine, started when there is work,
	// puts it. The queue is bounded (MaxPendingAudit): past that, Audit
	// writes the backlog itself. AuditLog and FlushAudit write out
	// everything queued before they return, so nothing appended is lost
	// on a clean shutdown (the node calls FlushAudit from Close).
	amu      sync.Mutex // guards pending, writing and writeErr
	pending  []auditPut
	writing  bool       // a writer goroutine is running
	writeErr error      // the first failed background write, not yet reported
	wmu      sync.Mutex // held while putting a batch taken from pending
}

// MaxPendingAudit is how many audit entries may wait to be written.
const MaxPendingAudit = 1024

type auditPut struct {
	key   datastore.Key
	entry AuditEntry
}

// NewStore returns a Store over ds (typically the node's datastore; its
// keys do not collide with the blockstore's).
func NewStore(ds datastore.Datastore) *Store { return &Store{ds: ds} }

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
		return "", fmt.Errorf("capabilities: no grant with ID %s...: %w", x, ErrUnknownGrant)
	}
	return "", fmt.Errorf("capabilities: %d grants match ID prefix %s: %w", len(matches), x, ErrUnknownGrant)
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
// ordered by time. A zero e.Time is set to now.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	ns := max(e.Time.UnixNano(), 0)
	s.mu.Lock()
	if ns <= s.lastNS {
		ns = s.lastNS // keep keys in the order entries were appended
	}
	if ns == s.lastNS {
		s.seq++
	} else {
		s.seq = 0
	}
	s.lastNS = ns
	key := fmt.Sprintf("%s%020d-%06d", prefixAudit, ns, s.seq)
	// Queued under mu, so the queue is in key order.
	s.amu.Lock()
	s.mu.Unlock()
	s.pending = append(s.pending, auditPut{key: datastore.RawKey(key), entry: e})
	full := len(s.pending) >= MaxPendingAudit
	start := !s.writing && !full
	if start {
		s.writing = true
	}
	err := s.writeErr
	s.writeErr = nil
	s.amu.Unlock()
	if err != nil {
		return fmt.Errorf("capabilities: audit log: %w", err)
	}
	if full {
		// The writer is behind: this caller writes the backlog.
		return s.FlushAudit(ctx)
	}
	if start {
		go s.auditWriter(context.WithoutCancel(ctx))
	}
	return nil
}

// auditWriter writes queued entries until there are none.
func (s *Store) auditWriter(ctx context.Context) {
	for {
		err := s.writeQueued(ctx)
		s.amu.Lock()
		if err != nil && s.writeErr == nil {
			s.writeErr = err
		}
		if len(s.pending) == 0 {
			s.writing = false
			s.amu.Unlock()
			return
		}
		s.amu.Unlock()
	}
}

// writeQueued puts every queued entry. Batches are taken under wmu, so
// when it returns everything queued before the call is in the datastore.
func (s *Store) writeQueued(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var first error
	for {
		s.amu.Lock()
		batch := s.pending
		s.pending = nil
		s.amu.Unlock()
		if len(batch) == 0 {
			return first
		}
		for _, p := range batch {
			v, err := json.Marshal(p.entry)
			if err == nil {
				err = s.ds.Put(ctx, p.key, v)
			}
			if err != nil && first == nil {
				first = err
			}
		}
	}
}

// FlushAudit writes every audit entry queued so far, and reports a
// failure to write any entry since the last report.
func (s *Store) FlushAudit(ctx context.Context) error {
	err := s.writeQueued(context.WithoutCancel(ctx))
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
