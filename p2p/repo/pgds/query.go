package pgds

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/ipfs/go-datastore/query"
)

// Query streams the entries q selects, in pages (see pager): however many
// keys a prefix holds, the datastore keeps one page in memory and holds a
// pool connection only while a page is read, so the caller may use the
// datastore between results.
//
// The prefix, ordering by key (either way), offset and limit are done by
// the server; filters, other orders, and the offset and limit that follow
// them, by go-datastore's query.NaiveQueryApply on the stream. An order
// other than by key reads every entry first, as it must.
//
// A query is not a snapshot: each key present for its whole duration is
// returned once, in order; a key written or deleted while it runs may or
// may not be.
func (d *Datastore) Query(ctx context.Context, q query.Query) (query.Results, error) {
	if d.closed.Load() {
		return nil, d.fail("query", q.Prefix, ErrClosed)
	}
	p := &pager{d: d, ctx: ctx, prefix: q.Prefix, keysOnly: q.KeysOnly, sizes: q.ReturnsSizes, rows: maxPageRows, limit: -1}
	p.lo, p.hi = prefixRange(q.Prefix)
	if !p.keysOnly {
		p.rows = firstValuePageRows // grows while pages stay small
	}
	naive := query.Query{Filters: q.Filters}
	if len(q.Orders) > 0 {
		switch q.Orders[0].(type) {
		case query.OrderByKey, *query.OrderByKey:
			// Keys are unique: the first order decides.
		case query.OrderByKeyDescending, *query.OrderByKeyDescending:
			p.desc = true
		default:
			naive.Orders = q.Orders
		}
	}
	if len(naive.Filters) == 0 && len(naive.Orders) == 0 {
		p.offset = q.Offset
		if q.Limit > 0 {
			p.limit = q.Limit
		}
	} else {
		naive.Offset, naive.Limit = q.Offset, q.Limit
	}
	res := query.ResultsFromIterator(q, query.Iterator{Next: p.next, Close: p.close})
	return query.NaiveQueryApply(naive, res), nil
}

// prefixRange is the key range a query prefix selects, with go-datastore's
// meaning (query.NaiveQueryApply): the strict descendants of the cleaned
// prefix, so "/a" selects "/a/b" but neither "/a" nor "/ab". lo is
// inclusive, hi exclusive; nil is unbounded.
func prefixRange(prefix string) (lo, hi []byte) {
	if prefix == "" {
		return nil, nil
	}
	if prefix[0] != '/' {
		prefix = "/" + prefix
	}
	prefix = path.Clean(prefix)
	if prefix == "/" {
		return nil, nil
	}
	// '0' is the byte after '/': [p/, p0) is everything under p/.
	return []byte(prefix + "/"), []byte(prefix + "0")
}

// pager reads a query's entries a page at a time by keyset pagination:
// each page is one statement asking for the keys after the last one
// returned (before it, descending), so no cursor or transaction stays
// open between pages and the server walks the primary key index.
type pager struct {
	d             *Datastore
	ctx           context.Context
	prefix        string // for errors
	lo, hi        []byte
	desc          bool
	keysOnly      bool
	sizes         bool
	offset        int // skipped by the first page
	limit         int // entries still wanted; -1: all
	rows          int // the next page's row count
	last          []byte
	started, done bool
	buf           []query.Entry
	closed        bool
}

func (p *pager) next() (query.Result, bool) {
	for len(p.buf) == 0 {
		if p.done || p.closed {
			return query.Result{}, false
		}
		if err := p.fetch(); err != nil {
			p.done = true
			return query.Result{Error: err}, true
		}
	}
	e := p.buf[0]
	p.buf[0] = query.Entry{}
	p.buf = p.buf[1:]
	return query.Result{Entry: e}, true
}

func (p *pager) close() error {
	p.closed, p.buf = true, nil
	return nil
}

// fetch reads the next page into p.buf, setting p.done after the last.
func (p *pager) fetch() error {
	n := p.rows
	if p.limit >= 0 && p.limit < n {
		n = p.limit
	}
	if n == 0 {
		p.done = true
		return nil
	}
	var sql strings.Builder
	sql.WriteString("SELECT key")
	switch {
	case !p.keysOnly:
		sql.WriteString(", value")
	case p.sizes:
		sql.WriteString(", octet_length(value)")
	}
	sql.WriteString(" FROM " + p.d.table)
	var args []any
	var conds []string
	cond := func(op string, v []byte) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf("key %s $%d", op, len(args)))
	}
	from, fromOp := p.lo, ">="
	to, toOp := p.hi, "<"
	if p.started {
		if p.desc {
			to, toOp = p.last, "<"
		} else {
			from, fromOp = p.last, ">"
		}
	}
	if from != nil {
		cond(fromOp, from)
	}
	if to != nil {
		cond(toOp, to)
	}
	if len(conds) > 0 {
		sql.WriteString(" WHERE " + strings.Join(conds, " AND "))
	}
	if p.desc {
		sql.WriteString(" ORDER BY key DESC")
	} else {
		sql.WriteString(" ORDER BY key")
	}
	fmt.Fprintf(&sql, " LIMIT %d", n)
	if !p.started && p.offset > 0 {
		fmt.Fprintf(&sql, " OFFSET %d", p.offset)
	}

	var page []query.Entry
	var size int
	err := p.d.retry(p.ctx, func() error {
		page, size = page[:0], 0
		rows, err := p.d.pool.Query(p.ctx, sql.String(), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, value []byte
			e := query.Entry{Size: -1}
			switch {
			case !p.keysOnly:
				err = rows.Scan(&key, &value)
				if value == nil {
					value = []byte{}
				}
				e.Value, e.Size = value, len(value)
			case p.sizes:
				err = rows.Scan(&key, &e.Size)
			default:
				err = rows.Scan(&key)
			}
			if err != nil {
				return err
			}
			e.Key = string(key)
			size += len(key) + len(value)
			page = append(page, e)
		}
		return rows.Err()
	})
	if err != nil {
		return p.d.fail("query", p.prefix, err)
	}
	p.started = true
	p.buf = page
	if len(page) < n {
		p.done = true
	} else {
		p.last = []byte(page[len(page)-1].Key)
	}
	if p.limit >= 0 {
		p.limit -= len(page)
	}
	// Aim the next page at pageBytes.
	switch {
	case size > pageBytes && p.rows > 1:
		p.rows /= 2
	case size < pageBytes/2 && p.rows < maxPageRows:
		p.rows = min(2*p.rows, maxPageRows)
	}
	return nil
}
