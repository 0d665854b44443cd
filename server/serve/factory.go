package serve

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/sqlite"
)

// DBFileName is the embedded store's database file inside the data dir.
const DBFileName = "weave.db"

// OpenStore opens the configured backend. The embedded store is one file,
// DataDir/weave.db, created with its directory (mode 0700) if missing; the
// ClickHouse store connects as Config.ClickHouse says and applies its
// schema.
// It returns the store and a description of where it lives, for the log.
func OpenStore(ctx context.Context, c Config, logger *slog.Logger) (store.Store, string, error) {
	switch c.Store {
	case StoreSQLite:
		path := filepath.Join(c.DataDir, DBFileName)
		st, err := sqlite.Open(ctx, path, sqlite.Settings{
			Logger:       logger,
			CacheMB:      c.SQLiteCacheMB,
			IndexCacheMB: max(c.SQLiteCacheMB/2, 2),
			MemoMB:       c.SQLiteCacheMB,
		})
		if err != nil {
			return nil, "", fmt.Errorf("serve: open embedded store: %w", err)
		}
		return st, path, nil
	case StoreClickHouse:
		return openClickHouse(ctx, c, logger)
	}
	return nil, "", fmt.Errorf("serve: unknown store %q", c.Store)
}
