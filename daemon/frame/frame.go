// Package frame is the CRC-framed record format of weave's files: the
// inbox weave-hook appends to (daemon/hookproto), weave-agentd's journal
// (daemon/journal) and its spool (daemon/spool). Each record is
//
//	+-----------+--------------+--------------+---------------------+
//	| magic (4) | length (u32) | crc32c (u32) | payload (length B)  |
//	+-----------+--------------+--------------+---------------------+
//
// little endian; the CRC (Castagnoli) covers the payload. A reader checks
// magic, length bound and CRC, and skips anything that fails up to the next
// intact record, counting what it skipped: a torn tail after a crash, a
// zeroed block or random garbage costs only the records it overwrote.
//
// The package knows nothing of what the payloads hold, and imports only the
// standard library: weave-hook links it.
package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// HeaderSize is the size of a record header.
const HeaderSize = 12

// Magic tells the record kinds apart (a journal record is never read as a
// spool record by mistake).
type Magic [4]byte

var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// Checksum is the CRC-32C of b, as stored in a frame header.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli()) }

// Append appends one framed record holding payload to dst.
func Append(dst []byte, m Magic, payload []byte) []byte {
	dst = append(dst, m[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, Checksum(payload))
	return append(dst, payload...)
}

// Stats describes one pass of Read.
type Stats struct {
	// Records is the number of intact records passed to fn.
	Records int
	// Corrupt is the number of damaged regions skipped (each region may
	// have held several records).
	Corrupt int
	// SkippedBytes is the total size of the damaged regions.
	SkippedBytes int64
	// End is the offset just past the last intact record (0 if none).
	End int64
}

// ErrStop may be returned by a Read callback to stop early without
// an error.
var ErrStop = errors.New("frame: stop")

// Read calls fn for every intact record with magic m in r[0:size), in
// file order, with its offset and payload. Payloads longer than max are
// treated as damage. The payload slice is only valid during the call. It
// returns early with fn's error (nil for ErrStop) or an I/O error.
func Read(r io.ReaderAt, size int64, m Magic, max int, fn func(off int64, payload []byte) error) (Stats, error) {
	var st Stats
	var hdr [HeaderSize]byte
	var buf []byte
	inDamage := false
	damage := func(from, to int64) {
		if !inDamage {
			st.Corrupt++
			inDamage = true
		}
		st.SkippedBytes += to - from
	}
	off := int64(0)
	for off < size {
		if size-off < HeaderSize {
			damage(off, size)
			break
		}
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return st, fmt.Errorf("frame: read header at %d: %w", off, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		ok := Magic(hdr[:4]) == m && n <= int64(max) && off+HeaderSize+n <= size
		if ok {
			if int64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := r.ReadAt(buf, off+HeaderSize); err != nil && !(n == 0 && errors.Is(err, io.EOF)) {
				return st, fmt.Errorf("frame: read record at %d: %w", off, err)
			}
			ok = Checksum(buf) == binary.LittleEndian.Uint32(hdr[8:])
		}
		if !ok {
			next, err := nextMagic(r, off+1, size, m)
			if err != nil {
				return st, err
			}
			damage(off, next)
			off = next
			continue
		}
		inDamage = false
		st.Records++
		st.End = off + HeaderSize + n
		if err := fn(off, buf); err != nil {
			if errors.Is(err, ErrStop) {
				return st, nil
			}
			return st, err
		}
		off = st.End
	}
	return st, nil
}

// nextMagic returns the offset of the next occurrence of m at or after from,
// or size if there is none.
func nextMagic(r io.ReaderAt, from, size int64, m Magic) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk+len(m)-1)
	for from < size {
		n := min(int64(len(buf)), size-from)
		if _, err := r.ReadAt(buf[:n], from); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("frame: scan for a record at %d: %w", from, err)
		}
		if i := bytes.Index(buf[:n], m[:]); i >= 0 {
			return from + int64(i), nil
		}
		if n < int64(len(m)) {
			break
		}
		from += n - int64(len(m)) + 1
	}
	return size, nil
}
