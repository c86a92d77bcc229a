package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
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

// redisProcess is a redis-server the test started itself, to stop and restart it.
type redisProcess struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

// startRedis starts a redis-server on a free port.
func startRedis(t testing.TB) *redisProcess {
	t.Helper()
	redisAddr(t) // the same rules: skip, or fail under CI, when Redis is not around
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is required under CI=true")
		}
		t.Skip("redis-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &redisProcess{t: t, port: port}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *redisProcess) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *redisProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command("redis-server", "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.t.TempDir())
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr(), 100*time.Millisecond)
		if err == nil {
			fmt.Fprint(c, "PING\r\n")
			buf := make([]byte, 7)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on port %d did not start: %v", p.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *redisProcess) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(time.Millisecond)
	}
}

var _ = context.Background
