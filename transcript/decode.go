package transcript

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// DefaultMaxLineBytes caps one transcript line. Claude Code writes tool
// output of several MiB on one line; lines past the cap are skipped and
// counted, never a failure of the file.
const DefaultMaxLineBytes = 256 << 20

// Stats counts what a Decoder saw.
type Stats struct {
	Lines     int64 `json:"lines"`     // complete lines decoded
	Malformed int64 `json:"malformed"` // lines that are not a JSON object
	TooLong   int64 `json:"too_long"`  // lines past the size cap
	Blank     int64 `json:"blank"`
}

// Add accumulates o into s.
func (s *Stats) Add(o Stats) {
	s.Lines += o.Lines
	s.Malformed += o.Malformed
	s.TooLong += o.TooLong
	s.Blank += o.Blank
}

// Decoder reads transcript JSONL as a stream. A malformed line is skipped
// and counted. A last line without its newline is held back (the file is
// still being written): Next returns io.EOF and Offset stays at the start of
// that partial line, so a tailer can resume there once more bytes land.
// With Final set, a trailing line without newline is decoded when it parses
// (a finished file whose writer omitted the newline).
type Decoder struct {
	r       *bufio.Reader
	off     int64
	stats   Stats
	MaxLine int
	Final   bool
}

// NewDecoder reads r, whose first byte is at byte offset offset of the file.
func NewDecoder(r io.Reader, offset int64) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10), off: offset, MaxLine: DefaultMaxLineBytes}
}

// Offset is the file offset just past the last complete line consumed.
func (d *Decoder) Offset() int64 { return d.off }

// Stats returns the counts so far.
func (d *Decoder) Stats() Stats { return d.stats }

// Next returns the next well-formed line, skipping (and counting) bad ones.
// It returns io.EOF at the end of the complete lines, or the reader's error.
// After io.EOF the Decoder has consumed any held-back partial line from its
// reader: to read on once the file grows, start a new Decoder at Offset().
func (d *Decoder) Next() (*Line, error) {
	for {
		raw, n, complete, tooLong, err := d.readLine()
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		if !complete && (!d.Final || tooLong) {
			return nil, io.EOF // partial last line: held back
		}
		start := d.off
		if tooLong {
			d.off += int64(n)
			d.stats.TooLong++
			continue
		}
		line, ok := d.decode(raw)
		if !ok && !complete {
			return nil, io.EOF // a final partial line that does not parse
		}
		d.off += int64(n)
		if line == nil {
			continue
		}
		line.Offset, line.End = start, d.off
		return line, nil
	}
}

// readLine reads one line. n counts the bytes consumed including the
// newline; the returned bytes exclude it. complete is false when input ended
// before a newline. A line longer than MaxLine is consumed but its bytes are
// not kept (tooLong).
func (d *Decoder) readLine() (line []byte, n int, complete, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, e := d.r.ReadSlice('\n')
		n += len(chunk)
		if !tooLong {
			if n > d.MaxLine {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case e == nil:
			if tooLong {
				return nil, n, true, true, nil
			}
			return buf[:len(buf)-1], n, true, false, nil
		case errors.Is(e, bufio.ErrBufferFull):
			continue
		default:
			return buf, n, false, tooLong, e
		}
	}
}

// decode parses one line. ok=false means malformed (counted here); a nil
// line with ok=true is a blank line.
func (d *Decoder) decode(raw []byte) (*Line, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		d.stats.Blank++
		return nil, true
	}
	if raw[0] != '{' {
		d.stats.Malformed++
		return nil, false
	}
	var l Line
	if err := json.Unmarshal(raw, &l); err != nil {
		d.stats.Malformed++
		return nil, false
	}
	if l.TimestampRaw != "" {
		if t, err := time.Parse(time.RFC3339Nano, l.TimestampRaw); err == nil {
			l.Timestamp = t
		}
	}
	d.stats.Lines++
	return &l, true
}

// DecodeAll reads every line of r (a finished file).
func DecodeAll(r io.Reader) ([]*Line, Stats, error) {
	d := NewDecoder(r, 0)
	d.Final = true
	var out []*Line
	for {
		l, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, d.Stats(), nil
		}
		if err != nil {
			return out, d.Stats(), err
		}
		out = append(out, l)
	}
}
