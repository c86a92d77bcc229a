package icecream_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/cmd/internal/icecream"
	"github.com/dumperhq/dumper/internal/testservice"
	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
)

// redisShops starts two instances of the shop, as two processes behind a load balancer would
// be: each with its own connection to one database and its own Redis store, sharing one Redis
// and one key prefix.
func redisShops(t *testing.T, strict bool) (a, b *shop) {
	t.Helper()
	addr := testservice.RedisAddr(t)
	prefix := testservice.Unique("dumpertest-")
	path := filepath.Join(t.TempDir(), "shop.db")
	shops := make([]*shop, 2)
	for i := range shops {
		rs, err := redisstore.New(redisstore.Options{URL: "redis://" + addr, Prefix: prefix, Strict: strict, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		if !strict {
			wait.For(t, 10*time.Second, "the local tier in use", rs.LocalTierInUse)
		}
		shops[i] = serveShop(t, icecream.SQLite(path), i == 0, dumper.Options{Store: rs})
		// Behind a load balancer both instances see the site's host.
		shops[i].host = "shop.example"
	}
	return shops[0], shops[1]
}

// TestTwoInstancesStrict: a write through instance A makes both A and B miss on the affected
// pages; B never serves the old page after A's write returned.
func TestTwoInstancesStrict(t *testing.T) {
	t.Parallel()
	a, b := redisShops(t, true)
	affected := []string{"/", "/icecream/vanilla", "/sizes/small", "/sizes/medium"}
	unrelated := []string{"/icecream/chocolate", "/sizes/large"}
	for _, p := range append(affected, unrelated...) {
		for _, lang := range []string{"", "fr"} {
			a.get(p, lang)
			b.hit(p, lang) // B shares what A stored
		}
	}
	for i, name := range []string{"Vanilla Bean", "Vanilla Pod", "Bourbon Vanilla"} {
		a.write(http.MethodPatch, "/api/icecream/vanilla", `{"name":"`+name+`"}`, http.StatusOK)
		for _, p := range affected {
			for _, lang := range []string{"", "fr"} {
				shows(t, p+" on B after write "+name, b.miss(p, lang), name)
				a.hit(p, lang)
			}
		}
		if i == 0 {
			for _, p := range unrelated {
				b.hit(p, "")
				a.hit(p, "fr")
			}
		}
	}
}

// TestTwoInstancesLocalTier: with the local tier, B serves from its memory, and a write
// through A reaches it through Redis pub/sub; the test reports how long B went on serving
// the old page (the bound the README states is measured by BenchmarkLocalTierLag).
func TestTwoInstancesLocalTier(t *testing.T) {
	t.Parallel()
	a, b := redisShops(t, false)
	b.get("/icecream/vanilla", "")
	b.hit("/icecream/vanilla", "")
	var worst time.Duration
	for _, name := range []string{"Vanilla Bean", "Vanilla Pod", "Bourbon Vanilla"} {
		b.hit("/icecream/vanilla", "") // in B's memory
		a.write(http.MethodPatch, "/api/icecream/vanilla", `{"name":"`+name+`"}`, http.StatusOK)
		written := time.Now()
		wait.For(t, 10*time.Second, "B to serve "+name, func() bool {
			return strings.Contains(b.get("/icecream/vanilla", "").Body, ">"+name+"<")
		})
		worst = max(worst, time.Since(written))
		a.hit("/icecream/vanilla", "")
	}
	t.Logf("B served the old page for at most %v after A's write returned", worst)
}
