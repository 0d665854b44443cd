package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/weavetrace/weave/internal/jsonstr"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// digest identifies a content-addressed value: the first 16 bytes of the
// SHA-256 of a kind byte and the value's encoding.
type digest [16]byte

// Kinds hashed into digests, so equal bytes of different kinds differ.
const (
	kindText      = 't'
	kindPage      = 'p'
	kindResource  = 'r'
	kindAttrs     = 'a'
	kindChunk     = 'c' // a piece of a long raw_span string (raw.go)
	kindChunkPage = 'q' // a page of chunk ids
	numKinds      = 6
)

func sum(kind byte, b []byte) digest {
	h := sha256.New()
	h.Write([]byte{kind})
	h.Write(b)
	var d digest
	copy(d[:], h.Sum(nil))
	return d
}

// stringBytes views s as bytes without copying; only for hashing (the
// bytes are never written).
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// pageSize is the number of message ids in one input-history page.
const pageSize = 32

// textRef is a text to store by digest; id is filled by ensureContent.
type textRef struct {
	d    digest
	body string
	id   int64
}

func newText(body string) *textRef {
	if body == "" {
		return nil
	}
	return &textRef{d: sum(kindText, stringBytes(body)), body: body}
}

// msgRef is a message of an incoming span, its searchable strings as
// texts to store.
type msgRef struct {
	role, name, finish string
	parts              []partRef
}

type partRef struct {
	typ                         string
	content                     *textRef // text and reasoning parts
	inline                      string   // Content of other part types
	id, name                    string
	args, resp                  *textRef
	mime, modality, fileID, uri string

	// respString: resp holds the string a JSON-string response encodes
	// (the text search knows it by, shared with the tool span's result);
	// respRaw the response as written when encoding resp again would not
	// give it back byte for byte.
	respString bool
	respRaw    *textRef
}

func newMsg(m *model.Message) *msgRef {
	r := &msgRef{role: m.Role, name: m.Name, finish: m.FinishReason, parts: make([]partRef, len(m.Parts))}
	for i := range m.Parts {
		p := &m.Parts[i]
		pr := partRef{typ: p.Type, id: p.ID, name: p.Name, mime: p.MimeType, modality: p.Modality, fileID: p.FileID, uri: p.URI}
		if p.Type == model.PartText || p.Type == model.PartReasoning {
			pr.content = newText(p.Content)
		} else {
			pr.inline = p.Content
		}
		if len(p.Arguments) > 0 {
			pr.args = newText(string(p.Arguments))
		}
		if len(p.Response) > 0 {
			pr.resp, pr.respRaw, pr.respString = newResp(p.Response)
		}
		r.parts[i] = pr
	}
	return r
}

// newResp stores a part's response: a JSON string as the string it
// encodes (textsearch.ResponseText), plus the bytes as written when they
// are not what encodeJSONString gives back; anything else as written.
func newResp(resp json.RawMessage) (text, raw *textRef, isString bool) {
	s, ok := textsearch.ResponseText(resp)
	if !ok || s == "" {
		return newText(string(resp)), nil, false
	}
	if encodeJSONString(s) != string(resp) {
		raw = newText(string(resp))
	}
	return newText(s), raw, true
}

// encodeJSONString encodes s as JSON the way weave-server's normalizer
// writes a string response (no HTML escaping).
func encodeJSONString(s string) string {
	return string(jsonstr.Append(make([]byte, 0, len(s)+2), s))
}

func (r *msgRef) texts(yield func(*textRef)) {
	for _, p := range r.parts {
		for _, t := range []*textRef{p.content, p.args, p.resp, p.respRaw} {
			if t != nil {
				yield(t)
			}
		}
	}
}

// shape is the stored form; text ids must be set.
func (r *msgRef) shape() shape {
	m := shape{role: r.role, name: r.name, finish: r.finish, parts: make([]shapePart, len(r.parts))}
	id := func(t *textRef) int64 {
		if t == nil {
			return 0
		}
		return t.id
	}
	for i, p := range r.parts {
		m.parts[i] = shapePart{typ: p.typ, content: id(p.content), inline: p.inline, id: p.id, name: p.name,
			args: id(p.args), resp: id(p.resp), respString: p.respString, respRaw: id(p.respRaw),
			mime: p.mime, modality: p.modality, fileID: p.fileID, uri: p.uri}
	}
	return m
}

// blobRef is a resource or page to store by digest.
type blobRef struct {
	d    digest
	data []byte
	id   int64
}

// contentCache remembers digest → id for content known to be committed.
// It is bounded: a full map is simply cleared.
type contentCache struct {
	mu    sync.Mutex
	ids   [numKinds]map[digest]int64 // by kind index
	limit int
}

const cacheLimit = 1 << 18

func newContentCache() *contentCache {
	c := &contentCache{limit: cacheLimit}
	for i := range c.ids {
		c.ids[i] = make(map[digest]int64)
	}
	return c
}

func kindIndex(kind byte) int {
	switch kind {
	case kindText:
		return 0
	case kindPage:
		return 1
	case kindResource:
		return 2
	case kindAttrs:
		return 3
	case kindChunk:
		return 4
	default:
		return 5
	}
}

func (c *contentCache) lookup(kind byte, d digest) (int64, bool) {
	c.mu.Lock()
	id, ok := c.ids[kindIndex(kind)][d]
	c.mu.Unlock()
	return id, ok
}

// publish records content committed by a transaction.
func (c *contentCache) publish(staged *staging) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, m := range staged.ids {
		dst := c.ids[k]
		if len(dst)+len(m) > c.limit {
			clear(dst)
		}
		for d, id := range m {
			dst[d] = id
		}
	}
}

// reset forgets everything (after content is deleted).
func (c *contentCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.ids {
		clear(c.ids[i])
	}
}

// staging collects the ids a write transaction resolved; they are
// published to the cache only once the transaction commits.
type staging struct {
	ids      [numKinds]map[digest]int64
	projects map[string]int64
}

func newStaging() *staging {
	s := &staging{projects: make(map[string]int64)}
	for i := range s.ids {
		s.ids[i] = make(map[digest]int64)
	}
	return s
}

// contentTables maps a kind to its table and value column.
var contentTables = map[byte][2]string{
	kindText:      {"texts", "body"},
	kindPage:      {"pages", "refs"},
	kindResource:  {"resources", "attrs"},
	kindAttrs:     {"attrsets", "attrs"},
	kindChunk:     {"chunks", "data"},
	kindChunkPage: {"pages", "refs"},
}

// ensure gives every value its id: from this transaction's staging, the
// cache, or the table, inserting the new ones. A value the cache does not
// know is usually new, so it is inserted at once (one statement, which the
// unique digest index checks); only the values that turn out to exist are
// looked up. isNew is called for each value this call inserted.
func (w *writeTx) ensure(kind byte, ds []digest, value func(i int) any, isNew func(i int, id int64)) ([]int64, error) {
	ids := make([]int64, len(ds))
	st := w.staged.ids[kindIndex(kind)]
	table := contentTables[kind][0]
	var exist []int // indexes of values found in the table, looked up below
	for i, d := range ds {
		if id, ok := st[d]; ok {
			ids[i] = id
			continue
		}
		if id, ok := w.s.cache.lookup(kind, d); ok {
			ids[i] = id
			continue
		}
		stmt, err := w.stmt("INSERT INTO " + table + " (digest, " + contentTables[kind][1] + ") VALUES (?, ?) ON CONFLICT (digest) DO NOTHING")
		if err != nil {
			return nil, err
		}
		res, err := stmt.ExecContext(w.ctx, d[:], value(i))
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert into %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert into %s: %w", table, err)
		}
		if n == 0 {
			exist = append(exist, i)
			continue
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert into %s: %w", table, err)
		}
		ids[i] = id
		st[d] = id
		if isNew != nil {
			isNew(i, id)
		}
	}
	for _, i := range exist {
		stmt, err := w.stmt("SELECT id FROM " + table + " WHERE digest = ?")
		if err != nil {
			return nil, err
		}
		if err := stmt.QueryRowContext(w.ctx, ds[i][:]).Scan(&ids[i]); err != nil {
			return nil, fmt.Errorf("sqlite: look up %s: %w", table, err)
		}
		st[ds[i]] = ids[i]
	}
	return ids, nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// ensureTexts gives every text its id, inserting new ones.
func (w *writeTx) ensureTexts(refs []*textRef) error {
	if len(refs) == 0 {
		return nil
	}
	ds := make([]digest, len(refs))
	for i, t := range refs {
		ds[i] = t.d
	}
	ids, err := w.ensure(kindText, ds, func(i int) any { return refs[i].body }, func(i int, id int64) {
		w.newTexts = append(w.newTexts, textBody{id, refs[i].body})
	})
	if err != nil {
		return err
	}
	for i, t := range refs {
		t.id = ids[i]
	}
	return nil
}

// ensureBlobs gives pages, attribute sets or resources their ids.
func (w *writeTx) ensureBlobs(kind byte, refs []*blobRef) error {
	if len(refs) == 0 {
		return nil
	}
	ds := make([]digest, len(refs))
	for i, b := range refs {
		ds[i] = b.d
	}
	ids, err := w.ensure(kind, ds, func(i int) any {
		if kind == kindResource || kind == kindAttrs {
			return string(refs[i].data)
		}
		return refs[i].data
	}, nil)
	if err != nil {
		return err
	}
	for i, b := range refs {
		b.id = ids[i]
	}
	return nil
}

// queryer is what reads need from *sql.DB, *sql.Tx and *sql.Conn.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// loadByIDs runs "SELECT id, <col> FROM <table> WHERE id IN (...)" in
// chunks and hands each row to fn.
func loadByIDs(ctx context.Context, q queryer, table, col string, ids []int64, fn func(id int64, v []byte) error) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, n)
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT id, "+col+" FROM "+table+" WHERE id IN ("+placeholders(n)+")", args...)
		if err != nil {
			return fmt.Errorf("sqlite: read %s: %w", table, err)
		}
		for rows.Next() {
			var id int64
			var v []byte
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: read %s: %w", table, err)
			}
			if err := fn(id, v); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: read %s: %w", table, err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read %s: %w", table, err)
		}
	}
	return nil
}
