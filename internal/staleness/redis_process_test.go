package staleness_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/testservice"
)

// redisProcess is a redis-server the test started itself, to stop and restart it. (A copy
// of redisstore's test helper, which lives in a _test file.)
type redisProcess struct {
	t    testing.TB
	port int
	dir  string
	args []string // extra redis-server arguments
	cmd  *exec.Cmd
}

// startRedis starts a redis-server on a free port, with args added to its command line. It
// skips (fails under CI=true) as the tests that use the shared Redis do, and when
// redis-server is not installed. Its data directory survives restarts.
func startRedis(t testing.TB, args ...string) *redisProcess {
	t.Helper()
	testservice.RedisAddr(t)
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
	p := &redisProcess{t: t, port: port, dir: t.TempDir(), args: args}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *redisProcess) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *redisProcess) start() {
	p.t.Helper()
	args := append([]string{"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir}, p.args...)
	p.cmd = exec.Command("redis-server", args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr(), 100*time.Millisecond)
		if err == nil {
			fmt.Fprint(c, "PING\r\n")
			buf := make([]byte, 7)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on port %d did not start: %v", p.port, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func (p *redisProcess) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}
