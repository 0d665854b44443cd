package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
)

// stmtCache keeps the statements of a single-connection pool (the main
// writer, the search indexer) prepared once. A statement is prepared for
// the transaction that first needs it and, once that transaction has
// ended, for the pool: nothing can be prepared on the one connection while
// a transaction holds it. The owner's mutex guards it.
type stmtCache struct {
	db        *sql.DB
	log       *slog.Logger
	prepared  map[string]*sql.Stmt
	toPrepare map[string]bool
}

func newStmtCache(db *sql.DB, log *slog.Logger) *stmtCache {
	return &stmtCache{db: db, log: log, prepared: make(map[string]*sql.Stmt), toPrepare: make(map[string]bool)}
}

// learn prepares, outside any transaction, the statements the last
// transactions needed.
func (c *stmtCache) learn(ctx context.Context) {
	for q := range c.toPrepare {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			c.log.Warn("prepare statement failed", "err", err)
			continue
		}
		c.prepared[q] = st
		delete(c.toPrepare, q)
	}
}

func (c *stmtCache) close() {
	for q, st := range c.prepared {
		st.Close()
		delete(c.prepared, q)
	}
}

// txn is one transaction on a stmtCache's connection.
type txn struct {
	c     *stmtCache
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

// begin starts a transaction on c's connection.
func (c *stmtCache) begin(ctx context.Context) (*txn, error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &txn{c: c, ctx: ctx, tx: tx, stmts: make(map[string]*sql.Stmt)}, nil
}

// end commits (ok) or rolls back the transaction, then prepares the
// statements it learned.
func (t *txn) end(ok bool) error {
	var err error
	if ok {
		err = t.tx.Commit()
	} else {
		t.tx.Rollback()
	}
	if len(t.c.toPrepare) > 0 && t.ctx.Err() == nil {
		t.c.learn(t.ctx)
	}
	return err
}

// stmt returns q bound to this transaction.
func (t *txn) stmt(q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if shared, ok := t.c.prepared[q]; ok {
		st = t.tx.StmtContext(t.ctx, shared)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(t.ctx, q); err != nil {
			return nil, fmt.Errorf("sqlite: prepare %q: %w", firstWords(q), err)
		}
		t.c.toPrepare[q] = true
	}
	t.stmts[q] = st
	return st, nil
}

func (t *txn) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(t.ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", firstWords(q), err)
	}
	return res, nil
}

func firstWords(q string) string {
	f := strings.Fields(q)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.ToLower(strings.Join(f, " "))
}
