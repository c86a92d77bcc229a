// Package testservice gives tests the addresses of the real services they run against, and
// decides what happens when one is missing: the test is skipped with a message saying how to
// point it at the service, except under CI=true, where a missing service fails the test.
package testservice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
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
