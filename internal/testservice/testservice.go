// Package testservice gives tests the addresses of the real services they run against, and
// decides what happens when one is missing: the test is skipped with a message saying how to
// point it at the service, except under CI=true, where a missing service fails the test.
package testservice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresDSN and DefaultRedisAddr are used when the environment names no other.
const (
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisAddr   = "127.0.0.1:6379"
)

// Missing skips t, or fails it under CI=true, because service is unreachable.
func Missing(t testing.TB, service, env string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but unreachable (%s): %v", service, env, err)
	}
	t.Skipf("%s unreachable, skipping (set %s to point at one): %v", service, env, err)
}

// RedisAddr returns DUMPER_REDIS_ADDR or DefaultRedisAddr, once a connection to it succeeds.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("DUMPER_REDIS_ADDR")
	if addr == "" {
		addr = DefaultRedisAddr
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Missing(t, "Redis at "+addr, "DUMPER_REDIS_ADDR", err)
	}
	c.Close()
	return addr
}

// PostgresDSN returns DUMPER_POSTGRES_DSN or DefaultPostgresDSN, once a connection with it
// succeeds.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("DUMPER_POSTGRES_DSN")
	if dsn == "" {
		dsn = DefaultPostgresDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		Missing(t, "PostgreSQL", "DUMPER_POSTGRES_DSN", err)
	}
	conn.Close(ctx)
	return dsn
}

// Unique returns prefix followed by random hex digits: a name (key prefix, schema) that no
// other test uses.
func Unique(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// PostgresSchema creates a schema of its own for the test, named prefix and random digits,
// dropped with everything in it when the test ends, and returns its name and a DSN whose
// search_path is that schema. Connections the test opens with the DSN after this call are
// closed (by the cleanups the test registers) before the schema is dropped.
func PostgresSchema(t testing.TB, prefix string) (schema, dsn string) {
	t.Helper()
	base := PostgresDSN(t)
	schema = Unique(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err == nil {
			_, err = admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			admin.Close(ctx)
		}
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema, WithParam(base, "search_path", schema)
}

// WithParam adds a connection parameter to a URL (postgres://…) or key=value DSN.
func WithParam(dsn, key, value string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn + " " + key + "=" + value // let the driver report it
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
