package sqlite

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/weavetrace/weave/internal/jsonstr"
)

// raw_span keeps the span as received (OTLP/JSON), and instrumentations
// that capture content put the whole conversation so far into every model
// call's attributes (gen_ai.input.messages, ai.prompt.messages, ...). Stored
// verbatim, a conversation whose calls repeat their history would grow
// quadratically in raw_span even though its messages are stored once.
//
// So a raw span is stored as its short parts verbatim and its long JSON
// strings (heavyMin bytes or more, as they appear in the JSON, escapes
// included) as lists of content-defined chunks: each string is cut where a
// rolling hash of its last bytes hits a pattern, so the same bytes are cut
// the same way wherever they occur, and a string that extends another (the
// history plus the newest messages) shares every chunk but the last ones.
// Chunks are content-addressed (table chunks); a long list of chunk ids is
// itself stored as content-addressed pages of chunkPageSize ids (table
// pages), so the growing lists of successive calls share their pages too.
// Reading a span splices the bytes back: raw_span is returned exactly as
// written.
//
// A long string that is the span's own tool-call result or arguments (an
// execute_tool span's raw attributes carry both) is not chunked: those
// texts are stored anyway (texts, referenced by the details), so the part
// names the field instead, and reading writes jsonstr.Append of the text
// in its place. Only a string whose bytes are exactly what
// jsonstr.Append gives back is stored so (anything else is chunked), so
// the bytes still come back as written; jsonstr.Append must never change.

// The chunking parameters. They are variables only so that FuzzSplitRaw
// can scale them down (inputs of a few hundred bytes then reach every
// path, and a new input is minimized in a moment); nothing else changes
// them, and chunks already stored depend on them.
var (
	heavyMin         = 1024      // a JSON string this long or longer is chunked
	chunkMin         = 256       // no cut before this many bytes of a chunk
	chunkMax         = 8192      // a cut here at the latest
	chunkMask uint64 = 1<<10 - 1 // average chunk ≈ chunkMin + 1 KiB
)

const chunkPageSize = 64 // chunk ids per page of a chunk list

// gear is the rolling hash's table. It must never change: chunk
// boundaries, and so sharing with chunks already stored, depend on it.
var gear = func() [256]uint64 {
	var g [256]uint64
	r := rand.New(rand.NewPCG(0x7765617665, 0x67656172)) // fixed seed
	for i := range g {
		g[i] = r.Uint64()
	}
	return g
}()

// chunkEnds returns the end offsets of the chunks of b.
func chunkEnds(b []byte) []int {
	var ends []int
	for start := 0; start < len(b); {
		start = nextCut(b, start)
		ends = append(ends, start)
	}
	return ends
}

// nextCut returns the end of the chunk of b that starts at start.
func nextCut(b []byte, start int) int {
	end := min(start+chunkMax, len(b))
	if len(b)-start > chunkMin {
		var h uint64
		for i := start + chunkMin; i < end; i++ {
			h = h<<1 + gear[b[i]]
			if h&chunkMask == 0 {
				return i + 1
			}
		}
	}
	return end
}

// rawField names a text of the span that a long raw string is (rawPart,
// storedPart): none, the tool-call result, the tool-call arguments. The
// values are the part kinds of the stored form.
type rawField byte

const (
	rawNoField rawField = 0
	rawResult  rawField = 2
	rawArgs    rawField = 3
)

// rawTexts are the span's texts a long raw string may be: the tool-call
// result and arguments, encoded (jsonstr.Append) when first compared.
type rawTexts struct {
	texts [2]string // result, args
	enc   [2][]byte // their encodings, quotes included; nil until needed
}

var rawTextFields = [2]rawField{rawResult, rawArgs}

func newRawTexts(result, args string) *rawTexts {
	return &rawTexts{texts: [2]string{result, args}}
}

// field tells which of the texts body (a long string's bytes as they
// appear in the JSON) is. A string's encoding is at least as long as it
// and at most six bytes a byte: only texts in that range are encoded.
func (t *rawTexts) field(body []byte) rawField {
	if t == nil {
		return rawNoField
	}
	for i, s := range t.texts {
		if s == "" || len(body) < len(s) || len(body) > 6*len(s) {
			continue
		}
		if t.enc[i] == nil {
			t.enc[i] = jsonstr.Append(make([]byte, 0, len(s)+len(s)/8+2), s)
		}
		if e := t.enc[i]; bytes.Equal(body, e[1:len(e)-1]) {
			return rawTextFields[i]
		}
	}
	return rawNoField
}

// rawPart is a piece of a raw span: verbatim bytes, a long string's
// chunks, or a long string that is one of the span's texts.
type rawPart struct {
	lit    []byte
	chunks []*blobRef // nil for a verbatim part
	field  rawField   // set: neither lit nor chunks
	// set in the transaction: full pages of chunk ids, then the tail
	pages []*blobRef
	tail  []int64
}

// splitRaw cuts a raw span (valid JSON) into verbatim parts, long strings
// that are one of texts, and chunked long strings, using memo (which may
// be nil) to skip the prefix a string shares with a recent one. It returns
// nil if nothing is long enough to chunk.
func splitRaw(raw []byte, texts *rawTexts, memo *chunkMemo) []rawPart {
	if len(raw) < heavyMin {
		return nil
	}
	var parts []rawPart
	lit := 0 // start of the pending verbatim bytes
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		// A string: find its closing quote (the JSON is valid).
		j := i + 1
		for j < len(raw) && raw[j] != '"' {
			if raw[j] == '\\' {
				j++
			}
			j++
		}
		if j-(i+1) >= heavyMin {
			body := raw[i+1 : j]
			parts = append(parts, rawPart{lit: raw[lit : i+1]})
			if f := texts.field(body); f != rawNoField {
				parts = append(parts, rawPart{field: f})
			} else {
				parts = append(parts, rawPart{chunks: memo.chunk(body)})
			}
			lit = j
		}
		i = j
	}
	if len(parts) == 0 {
		return nil
	}
	return append(parts, rawPart{lit: raw[lit:]})
}

// rawForm is the stored form of a raw span: its parts with chunk ids.
type rawForm struct {
	parts []storedPart
}

type storedPart struct {
	lit   []byte
	pages []int64 // pages of chunk ids
	tail  []int64 // chunk ids after the full pages
	chunk bool
	field rawField // set: the span's text of that field, encoded
}

// hasField reports whether a part is one of the span's texts (details
// version 3).
func (f *rawForm) hasField() bool {
	for _, p := range f.parts {
		if p.field != rawNoField {
			return true
		}
	}
	return false
}

func (e *encoder) rawForm(f *rawForm) {
	e.uvarint(uint64(len(f.parts)))
	for _, p := range f.parts {
		if p.field != rawNoField {
			e.byte1(byte(p.field))
			continue
		}
		if !p.chunk {
			e.byte1(0)
			e.bytes(p.lit)
			continue
		}
		e.byte1(1)
		e.ids(p.pages)
		e.ids(p.tail)
	}
}

// rawForm decodes a raw form; fields: whether parts may be fields
// (details version 3).
func (d *decoder) rawForm(fields bool) *rawForm {
	n := d.count()
	f := &rawForm{parts: make([]storedPart, 0, n)}
	for i := 0; i < n && d.err == nil; i++ {
		switch k := d.byte1(); {
		case k == 0:
			f.parts = append(f.parts, storedPart{lit: d.raw()})
		case k == 1:
			f.parts = append(f.parts, storedPart{chunk: true, pages: d.ids(), tail: d.ids()})
		case fields && (rawField(k) == rawResult || rawField(k) == rawArgs):
			f.parts = append(f.parts, storedPart{field: rawField(k)})
		default:
			d.fail()
		}
	}
	return f
}

// encodeIDs and decodeIDs are the pages.refs blob of a chunk-id page.
func encodeIDs(ids []int64) []byte {
	e := encoder{b: make([]byte, 0, 4*len(ids))}
	e.ids(ids)
	return e.b
}

func decodeIDs(b []byte) ([]int64, error) {
	d := decoder{b: b}
	ids := d.ids()
	return ids, d.done()
}

// refs lists the chunk-id pages and the chunks a raw form refers to
// directly (the pages list the others).
func (f *rawForm) refs() (pages, chunks []int64) {
	for _, p := range f.parts {
		pages = append(pages, p.pages...)
		chunks = append(chunks, p.tail...)
	}
	return pages, chunks
}

// assemble rebuilds the raw span from its form, the chunk-id pages, the
// chunks and the span's texts (tool-call result and arguments).
func (f *rawForm) assemble(pages map[int64][]int64, chunks map[int64][]byte, result, args string) ([]byte, error) {
	var b bytes.Buffer
	add := func(id int64) error {
		c, ok := chunks[id]
		if !ok {
			return fmt.Errorf("sqlite: chunk %d missing: %w", id, errCorrupt)
		}
		b.Write(c)
		return nil
	}
	for _, p := range f.parts {
		if p.field != rawNoField {
			t := result
			if p.field == rawArgs {
				t = args
			}
			if t == "" {
				return nil, fmt.Errorf("sqlite: raw span names an empty text (part kind %d): %w", p.field, errCorrupt)
			}
			e := jsonstr.Append(nil, t)
			b.Write(e[1 : len(e)-1])
			continue
		}
		if !p.chunk {
			b.Write(p.lit)
			continue
		}
		for _, pg := range p.pages {
			ids, ok := pages[pg]
			if !ok {
				return nil, fmt.Errorf("sqlite: chunk page %d missing: %w", pg, errCorrupt)
			}
			for _, id := range ids {
				if err := add(id); err != nil {
					return nil, err
				}
			}
		}
		for _, id := range p.tail {
			if err := add(id); err != nil {
				return nil, err
			}
		}
	}
	return b.Bytes(), nil
}

// storeRaw gives the chunks of the spans' raw parts their ids and builds
// their chunk-id pages.
func (w *writeTx) storeRaw(spans []*prepSpan) error {
	var chunks []*blobRef
	for _, p := range spans {
		for i := range p.raw {
			chunks = append(chunks, p.raw[i].chunks...)
		}
	}
	if len(chunks) == 0 {
		return nil
	}
	if err := w.ensureBlobs(kindChunk, chunks); err != nil {
		return err
	}
	var pages []*blobRef
	for _, p := range spans {
		for i := range p.raw {
			rp := &p.raw[i]
			if rp.chunks == nil {
				continue
			}
			ids := make([]int64, len(rp.chunks))
			for j, c := range rp.chunks {
				ids[j] = c.id
			}
			rp.pages, rp.tail = nil, nil
			for len(ids) >= chunkPageSize {
				b := encodeIDs(ids[:chunkPageSize])
				pg := &blobRef{d: sum(kindChunkPage, b), data: b}
				rp.pages = append(rp.pages, pg)
				pages = append(pages, pg)
				ids = ids[chunkPageSize:]
			}
			rp.tail = ids
		}
	}
	return w.ensureBlobs(kindChunkPage, pages)
}

// rawForm is the stored form of an incoming span's raw parts (ids set).
func (p *prepSpan) rawForm() *rawForm {
	if p.raw == nil {
		return nil
	}
	f := &rawForm{parts: make([]storedPart, len(p.raw))}
	for i, rp := range p.raw {
		if rp.field != rawNoField {
			f.parts[i] = storedPart{field: rp.field}
			continue
		}
		if rp.chunks == nil {
			f.parts[i] = storedPart{lit: rp.lit}
			continue
		}
		sp := storedPart{chunk: true, tail: rp.tail}
		for _, pg := range rp.pages {
			sp.pages = append(sp.pages, pg.id)
		}
		f.parts[i] = sp
	}
	return f
}

// chunkMemo remembers how recent long strings were cut and the digests of
// their chunks, by the digest of their first chunk. A string that extends
// one of them (the history plus the newest messages, in the next call of a
// conversation) reuses every chunk of their common prefix but the last one
// (whose end was the end of the string, not its content), and is cut and
// hashed only after it: chunking a growing history costs what it adds, not
// its whole length again. The result is what chunkEnds and sum would give.
// Safe for concurrent use; bounded to limit bytes (maxMemoBytes when 0; a
// full memo starts again).
type chunkMemo struct {
	mu      sync.Mutex
	byFirst map[digest]*memoEntry
	bytes   int
	limit   int
}

type memoEntry struct {
	data []byte // a copy of the string
	ends []int
	ds   []digest
}

const maxMemoBytes = 64 << 20

// chunk cuts body into chunks with their digests.
func (m *chunkMemo) chunk(body []byte) []*blobRef {
	first := nextCut(body, 0)
	d0 := sum(kindChunk, body[:first])
	var ends []int
	var ds []digest
	if m != nil {
		m.mu.Lock()
		e := m.byFirst[d0]
		m.mu.Unlock()
		if e != nil {
			// The longest run of e's chunks, its last one excepted, that
			// body starts with (usually all of them: body extends e).
			k := len(e.ends) - 1
			for k > 0 && (e.ends[k-1] > len(body) || !bytes.Equal(body[:e.ends[k-1]], e.data[:e.ends[k-1]])) {
				k--
			}
			ends, ds = append(ends, e.ends[:k]...), append(ds, e.ds[:k]...)
		}
	}
	if len(ends) == 0 {
		ends, ds = []int{first}, []digest{d0}
	}
	for start := ends[len(ends)-1]; start < len(body); {
		end := nextCut(body, start)
		ends = append(ends, end)
		ds = append(ds, sum(kindChunk, body[start:end]))
		start = end
	}
	out := make([]*blobRef, len(ends))
	prev := 0
	for i, end := range ends {
		out[i] = &blobRef{d: ds[i], data: body[prev:end]}
		prev = end
	}
	if m != nil {
		e := &memoEntry{data: bytes.Clone(body), ends: ends, ds: ds}
		m.mu.Lock()
		limit := m.limit
		if limit == 0 {
			limit = maxMemoBytes
		}
		if m.byFirst == nil || m.bytes+len(body) > limit {
			m.byFirst, m.bytes = make(map[digest]*memoEntry), 0
		}
		if old := m.byFirst[d0]; old != nil {
			m.bytes -= len(old.data)
		}
		m.byFirst[d0] = e
		m.bytes += len(body)
		m.mu.Unlock()
	}
	return out
}
