package sqlite

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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

const (
	heavyMin      = 1024      // a JSON string this long or longer is chunked
	chunkMin      = 256       // no cut before this many bytes of a chunk
	chunkMax      = 8192      // a cut here at the latest
	chunkMask     = 1<<10 - 1 // average chunk ≈ chunkMin + 1 KiB
	chunkPageSize = 64        // chunk ids per page of a chunk list
)

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
	start := 0
	for start < len(b) {
		end := min(start+chunkMax, len(b))
		if len(b)-start > chunkMin {
			var h uint64
			for i := start + chunkMin; i < end; i++ {
				h = h<<1 + gear[b[i]]
				if h&chunkMask == 0 {
					end = i + 1
					break
				}
			}
		}
		ends = append(ends, end)
		start = end
	}
	return ends
}

// rawPart is a piece of a raw span: verbatim bytes, or a long string's
// chunks.
type rawPart struct {
	lit    []byte
	chunks []*blobRef // nil for a verbatim part
	// set in the transaction: full pages of chunk ids, then the tail
	pages []*blobRef
	tail  []int64
}

// splitRaw cuts a raw span (valid JSON) into verbatim parts and chunked
// long strings. It returns nil if nothing is long enough to chunk.
func splitRaw(raw []byte) []rawPart {
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
			p := rawPart{}
			start := 0
			for _, end := range chunkEnds(body) {
				c := body[start:end]
				p.chunks = append(p.chunks, &blobRef{d: sum(kindChunk, c), data: c})
				start = end
			}
			parts = append(parts, p)
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
}

func (e *encoder) rawForm(f *rawForm) {
	e.uvarint(uint64(len(f.parts)))
	for _, p := range f.parts {
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

func (d *decoder) rawForm() *rawForm {
	n := d.count()
	f := &rawForm{parts: make([]storedPart, 0, n)}
	for i := 0; i < n && d.err == nil; i++ {
		switch d.byte1() {
		case 0:
			f.parts = append(f.parts, storedPart{lit: d.raw()})
		case 1:
			f.parts = append(f.parts, storedPart{chunk: true, pages: d.ids(), tail: d.ids()})
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

// assemble rebuilds the raw span from its form, the chunk-id pages and the
// chunks.
func (f *rawForm) assemble(pages map[int64][]int64, chunks map[int64][]byte) ([]byte, error) {
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
