package clickhouse

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{DSN: "clickhouse://default:@127.0.0.1:9000/weave"}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no DSN", func(c *Config) { c.DSN = "" }, "--clickhouse-dsn"},
		{"DSN without a host", func(c *Config) { c.DSN = "clickhouse:///weave" }, "DSN"},
		{"bad database name", func(c *Config) { c.Database = "weave; DROP" }, `database "weave; DROP"`},
		{"bad cluster name", func(c *Config) { c.Cluster = "my-cluster" }, `cluster "my-cluster"`},
		{"negative retention", func(c *Config) { c.RetentionDays = -1 }, "retention"},
		{"negative batch", func(c *Config) { c.BatchRows = -5 }, "batch rows"},
		{"negative queue", func(c *Config) { c.MaxQueuedRows = -1 }, "max queued rows"},
		{"negative pending age", func(c *Config) { c.PendingEventsMaxAge = -time.Hour }, "pending events"},
		{"cert without key", func(c *Config) { c.CertFile = "c.pem" }, "client certificate"},
		{"cluster and retention", func(c *Config) { c.Cluster = "prod_1"; c.RetentionDays = 90 }, ""},
		{"sharded cluster", func(c *Config) { c.Cluster = "prod_1"; c.ClusterMode = ClusterSharded }, ""},
		{"cluster mode without cluster", func(c *Config) { c.ClusterMode = ClusterSharded }, "without a cluster name"},
		{"unknown cluster mode", func(c *Config) { c.Cluster = "prod_1"; c.ClusterMode = "mesh" }, `cluster mode "mesh": want replicated or sharded`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: got %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Config{FlushInterval: -1, PendingEventsMaxAge: time.Minute}.withDefaults()
	if c.BatchRows != DefaultBatchRows || c.FlushInterval != 0 || c.MaxQueuedRows != DefaultMaxQueuedRows || c.PendingEventsMaxAge != MinPendingEventsMaxAge {
		t.Errorf("withDefaults: got %+v, want batch %d, interval 0, queue %d, pending age %s", c, DefaultBatchRows, DefaultMaxQueuedRows, MinPendingEventsMaxAge)
	}
	if d := (Config{}).withDefaults(); d.FlushInterval != DefaultFlushInterval || d.PendingEventsMaxAge != DefaultPendingEventsMaxAge {
		t.Errorf("withDefaults(zero): got interval %s, pending age %s", d.FlushInterval, d.PendingEventsMaxAge)
	}
}

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "weave-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)

	t.Run("DSN database, credentials, settings", func(t *testing.T) {
		opts, db, err := Config{DSN: "clickhouse://alice:secret@h1:9000,h2:9000/traces?max_execution_time=60&optimize_move_to_prewhere_if_final=1"}.options()
		if err != nil {
			t.Fatal(err)
		}
		if db != "traces" || opts.Auth.Database != "" || opts.Auth.Username != "alice" || opts.Auth.Password != "secret" ||
			strings.Join(opts.Addr, ",") != "h1:9000,h2:9000" || opts.TLS != nil {
			t.Errorf("options: got db %q, auth %+v, addr %v, tls %v; want traces, alice/secret on the server's default database, both hosts, no TLS", db, opts.Auth, opts.Addr, opts.TLS)
		}
		if opts.Settings["max_execution_time"] != 60 || opts.Settings["optimize_move_to_prewhere_if_final"] != 1 {
			t.Errorf("settings: got %v, want the DSN's values kept", opts.Settings)
		}
	})
	t.Run("overrides and defaults", func(t *testing.T) {
		opts, db, err := Config{DSN: "clickhouse://alice:secret@h1:9000", Database: "weave_prod", Username: "bob", Password: "pw"}.options()
		if err != nil {
			t.Fatal(err)
		}
		if db != "weave_prod" || opts.Auth.Username != "bob" || opts.Auth.Password != "pw" {
			t.Errorf("options: got db %q auth %+v, want weave_prod bob/pw", db, opts.Auth)
		}
		if opts.Settings["optimize_move_to_prewhere_if_final"] != 0 || opts.Settings["insert_quorum"] != nil {
			t.Errorf("single-node settings: got %v", opts.Settings)
		}
		if _, db, _ := (Config{DSN: "clickhouse://h1:9000"}).options(); db != DefaultDatabase {
			t.Errorf("database without DSN path: got %q, want %q", db, DefaultDatabase)
		}
	})
	t.Run("cluster settings", func(t *testing.T) {
		opts, _, err := Config{DSN: "clickhouse://h1:9000?insert_quorum=2", Cluster: "c1"}.options()
		if err != nil {
			t.Fatal(err)
		}
		if opts.Settings["distributed_foreground_insert"] != 1 || opts.Settings["insert_quorum"] != 2 || opts.Settings["distributed_product_mode"] != "global" {
			t.Errorf("cluster settings: got %v, want foreground inserts, the DSN's quorum, global IN", opts.Settings)
		}
	})
	t.Run("sharded cluster settings", func(t *testing.T) {
		opts, _, err := Config{DSN: "clickhouse://h1:9000", Cluster: "c1", ClusterMode: ClusterSharded}.options()
		if err != nil {
			t.Fatal(err)
		}
		_, quorum := opts.Settings["insert_quorum"]
		if opts.Settings["distributed_foreground_insert"] != 1 || opts.Settings["distributed_product_mode"] != "global" || quorum {
			t.Errorf("sharded cluster settings: got %v, want foreground inserts, global IN, no quorum (no replicas)", opts.Settings)
		}
	})
	t.Run("TLS from files", func(t *testing.T) {
		opts, _, err := Config{DSN: "clickhouse://h1:9440", CAFile: cert, CertFile: cert, KeyFile: key}.options()
		if err != nil {
			t.Fatal(err)
		}
		if opts.TLS == nil || opts.TLS.RootCAs == nil || len(opts.TLS.Certificates) != 1 {
			t.Errorf("TLS: got %+v, want the CA pool and the client certificate", opts.TLS)
		}
		opts, _, err = Config{DSN: "clickhouse://h1:9440?secure=true&skip_verify=true"}.options()
		if err != nil || opts.TLS == nil || !opts.TLS.InsecureSkipVerify {
			t.Errorf("TLS from the DSN: got %+v, %v", opts.TLS, err)
		}
	})
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"missing CA file", Config{DSN: "clickhouse://h:9000", CAFile: filepath.Join(dir, "nope.pem")}, "CA file"},
		{"CA file without PEM", Config{DSN: "clickhouse://h:9000", CAFile: notPEM}, "no PEM certificate"},
		{"bad key pair", Config{DSN: "clickhouse://h:9000", CertFile: cert, KeyFile: notPEM}, "client certificate"},
		{"bad database in DSN", Config{DSN: "clickhouse://h:9000/we-ave"}, "database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := tc.c.options(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("options: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
