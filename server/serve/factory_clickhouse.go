package serve

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/clickhouse"
)

// openClickHouse opens the ClickHouse store (and applies its schema unless
// Config.ClickHouse.SkipMigrate).
func openClickHouse(ctx context.Context, c Config, logger *slog.Logger) (store.Store, string, error) {
	st, err := clickhouse.Open(ctx, c.ClickHouse, clickhouse.Settings{Logger: logger})
	if err != nil {
		return nil, "", fmt.Errorf("serve: open clickhouse store: %w", err)
	}
	return st, st.Where(), nil
}
