package serve

import (
	"context"
	"log/slog"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/sqlite"
)

func openSQLite(ctx context.Context, path string, logger *slog.Logger) (store.Store, error) {
	return sqlite.Open(ctx, path, sqlite.Settings{Logger: logger})
}
