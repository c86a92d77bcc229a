package redisstore_test

import (
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/redisstore"
	"github.com/redis/rueidis"
)

// redisAddr returns the address of the Redis server the tests use.
func redisAddr(t testing.TB) string { return testservice.RedisAddr(t) }

// uniquePrefix returns a key prefix no other test uses.
func uniquePrefix(t testing.TB) string { return testservice.Unique("dumpertest-") }

// newStore returns a store on the shared test server with a prefix of its own.
func newStore(t testing.TB, o redisstore.Options) *redisstore.Store {
	t.Helper()
	if o.URL == "" && o.Client == nil {
		o.URL = "redis://" + redisAddr(t)
	}
	if o.Prefix == "" {
		o.Prefix = uniquePrefix(t)
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second // the tests check behaviour, not this machine's speed
	}
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient returns a plain client to the shared test server.
func rawClient(t testing.TB, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
