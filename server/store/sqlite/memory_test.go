package sqlite

import (
	"path/filepath"
	"testing"
)

// TestMemorySettings: the page caches and the chunk memo take the sizes
// Settings gives (weave-server sets them smaller than the defaults).
func TestMemorySettings(t *testing.T) {
	for _, tc := range []struct {
		s                            Settings
		writerKB, indexKB, memoBytes int
	}{
		{Settings{}, -64 << 10, -32 << 10, maxMemoBytes},
		{Settings{CacheMB: 16, IndexCacheMB: 8, MemoMB: 16}, -16 << 10, -8 << 10, 16 << 20},
	} {
		st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), tc.s)
		var writerKB, indexKB int
		if err := st.w.QueryRow("PRAGMA cache_size").Scan(&writerKB); err != nil {
			t.Fatal(err)
		}
		if err := st.ix.db.QueryRow("PRAGMA cache_size").Scan(&indexKB); err != nil {
			t.Fatal(err)
		}
		memo := st.memo.limit
		if memo == 0 {
			memo = maxMemoBytes
		}
		if writerKB != tc.writerKB || indexKB != tc.indexKB || memo != tc.memoBytes {
			t.Errorf("%+v: cache_size writer %d, index %d, memo %d; want %d, %d, %d", tc.s, writerKB, indexKB, memo, tc.writerKB, tc.indexKB, tc.memoBytes)
		}
	}
	// A memo at its bound starts again rather than growing.
	m := chunkMemo{limit: 64 << 10}
	body := make([]byte, 40<<10)
	for i := range 4 {
		body[0] = byte(i)
		m.chunk(body)
		if m.bytes > m.limit {
			t.Fatalf("memo holds %d bytes, over its limit of %d", m.bytes, m.limit)
		}
	}
}
