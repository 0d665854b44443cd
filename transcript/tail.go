package transcript

import (
	"bufio"
	"io"
)

// TailLines hands add each complete line of r (a session file read from
// offset on, newline included) and returns the offset after the last
// complete line: a line still being written (no newline yet) is left for
// the next read. The rollout and geminichat readers tail with it.
func TailLines(r io.Reader, offset int64, add func(line []byte)) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		chunk, err := br.ReadBytes('\n')
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			add(chunk)
			offset += int64(len(chunk))
		}
		if err == io.EOF {
			return offset, nil
		}
		if err != nil {
			return offset, err
		}
	}
}
