package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// EnvTestDSN names the ClickHouse server the conformance suite runs
// against (make test-clickhouse). Each test gets a fresh database, dropped
// afterwards.
const EnvTestDSN = "WEAVE_TEST_CLICKHOUSE_DSN"

// EnvTestCluster optionally names a cluster to run the suite in cluster
// mode (ON CLUSTER DDL, Replicated and Distributed tables).
const EnvTestCluster = "WEAVE_TEST_CLICKHOUSE_CLUSTER"

func testConfig(t *testing.T) (Config, bool) {
	dsn := os.Getenv(EnvTestDSN)
	if dsn == "" {
		return Config{}, false
	}
	var b [6]byte
	rand.Read(b[:])
	return Config{
		DSN:           dsn,
		Database:      "weave_test_" + hex.EncodeToString(b[:]),
		Cluster:       os.Getenv(EnvTestCluster),
		FlushInterval: -1, // flush every write at once: the suite writes span by span
	}, true
}

func TestConformance(t *testing.T) {
	if _, ok := testConfig(t); !ok {
		t.Skipf("ClickHouse conformance suite skipped: set %s (e.g. clickhouse://default:@127.0.0.1:9000) to run it against a ClickHouse 24+ server; see README.md (make test-clickhouse)", EnvTestDSN)
	}
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		cfg, _ := testConfig(t)
		t.Cleanup(func() { dropDatabase(t, cfg) })
		return func() (store.Store, error) {
			return Open(context.Background(), cfg, Settings{})
		}
	}, storetest.Capabilities{})
}

func dropDatabase(t *testing.T, cfg Config) {
	t.Helper()
	opts, db, err := cfg.options()
	if err != nil {
		t.Errorf("drop test database: %v", err)
		return
	}
	s, err := Open(context.Background(), Config{DSN: cfg.DSN, Database: db, Cluster: cfg.Cluster, SkipMigrate: true}, Settings{})
	if err != nil {
		t.Errorf("drop test database %s (%v): %v", db, opts.Addr, err)
		return
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := "DROP DATABASE IF EXISTS `" + db + "`" + s.l.onCluster() + " SYNC"
	if err := s.conn.Exec(ctx, q); err != nil {
		t.Errorf("drop test database: %v", err)
	}
}
