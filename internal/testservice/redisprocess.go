package testservice

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/wait"
)

// RedisProcess is a redis-server a test started itself, on a free port, to stop, freeze and
// restart it. Its data directory survives restarts; by default it keeps nothing on disk.
type RedisProcess struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// StartRedis starts a redis-server with args added to its command line, stopped when the
// test ends. Like the tests that use the shared Redis, it skips without Redis (fails under
// CI=true); also when redis-server is not installed.
func StartRedis(t testing.TB, args ...string) *RedisProcess {
	t.Helper()
	RedisAddr(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		Missing(t, "redis-server", "PATH", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &RedisProcess{t: t, port: port, dir: t.TempDir(), args: args}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Addr returns the server's host:port.
func (p *RedisProcess) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// Start starts the server again after Stop, on the same port and data directory, and waits
// until it answers PING.
func (p *RedisProcess) Start() {
	p.t.Helper()
	args := append([]string{"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir}, p.args...)
	p.cmd = exec.Command("redis-server", args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	var err error
	pong := func() bool {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", p.Addr(), 100*time.Millisecond); err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprint(c, "PING\r\n")
		buf := make([]byte, 7)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := c.Read(buf)
		return string(buf[:n]) == "+PONG\r\n"
	}
	if !wait.Until(10*time.Second, pong) {
		p.t.Fatalf("redis-server on port %d did not start: %v", p.port, err)
	}
}

// Stop kills the server.
func (p *RedisProcess) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Freeze stops the server's process without closing its connections (SIGSTOP): a slow,
// unresponsive Redis that keeps its data. Thaw resumes it.
func (p *RedisProcess) Freeze() { _ = p.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (p *RedisProcess) Thaw() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }
