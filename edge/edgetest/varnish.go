// Package edgetest starts the edges that tests of package edge and of the applications
// behind it run against: a varnishd of the test's own, with the VCL of package edge.
package edgetest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dumperhq/dumper/edge"
	"github.com/dumperhq/dumper/internal/wait"
)

// A Varnish is a varnishd started for one test, in front of one backend.
type Varnish struct {
	// URL is its base URL ("http://127.0.0.1:PORT"), for requests and purges.
	URL string

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// StartVarnish starts varnishd (Varnish 7 with varnish-modules' xkey) on a free loopback
// port, with its working directory in t.TempDir, a 64 MiB malloc store, and the VCL of
// package edge included from a VCL whose backend is backend ("127.0.0.1:PORT") and whose
// purgers are the loopback addresses. It stops varnishd when the test ends. Without
// varnishd or the xkey module the test is skipped, unless CI is "true": then it fails, since
// .ci/run installs them.
func StartVarnish(t testing.TB, backend string) *Varnish {
	t.Helper()
	bin, err := exec.LookPath("varnishd")
	if err != nil {
		unavailable(t, "varnishd not found (apt-get install varnish varnish-modules)")
	}
	host, port, err := net.SplitHostPort(backend)
	if err != nil {
		t.Fatalf("edgetest: backend %q: %v", backend, err)
	}
	dir := t.TempDir()
	// varnishd reads the VCL as its own user: let it through the test's directories.
	for d := dir; d != filepath.Dir(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if d == os.TempDir() {
			break
		}
		_ = os.Chmod(d, 0o755)
	}
	main := fmt.Sprintf(`vcl 4.1;

backend default {
	.host = %q;
	.port = %q;
	.first_byte_timeout = 30s;
}

acl dumper_purgers {
	"127.0.0.1";
	"::1";
}

include "dumper.vcl";
`, host, port)
	for name, text := range map[string]string{"main.vcl": main, "dumper.vcl": edge.VCL} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vcl := filepath.Join(dir, "main.vcl")
	if out, err := exec.Command(bin, "-C", "-p", "vcl_path="+dir, "-f", vcl, "-n", filepath.Join(dir, "check")).CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("xkey")) && bytes.Contains(out, []byte("not found")) {
			unavailable(t, "vmod_xkey not found (apt-get install varnish-modules)")
		}
		t.Fatalf("edgetest: varnishd -C: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	v := &Varnish{URL: "http://" + addr, out: &lockedBuffer{}, done: make(chan struct{})}
	args := []string{"-F", "-n", filepath.Join(dir, "varnish"), "-a", addr, "-T", "none",
		"-p", "vcl_path=" + dir, "-f", vcl, "-s", "malloc,64m", "-p", "thread_pools=1",
		"-p", "thread_pool_min=10"}
	v.cmd = exec.Command(bin, args...)
	v.cmd.Stdout, v.cmd.Stderr = v.out, v.out
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("edgetest: start varnishd: %v", err)
	}
	go func() { _ = v.cmd.Wait(); close(v.done) }()
	t.Cleanup(v.stop)
	ok := wait.Until(30*time.Second, func() bool {
		select {
		case <-v.done:
			return true
		default:
		}
		// A PURGE without keys is answered by the VCL itself, without the backend.
		req, _ := http.NewRequest("PURGE", v.URL+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	select {
	case <-v.done:
		t.Fatalf("edgetest: varnishd exited:\n%s", v.out.String())
	default:
	}
	if !ok {
		t.Fatalf("edgetest: varnishd did not answer within 30s:\n%s", v.out.String())
	}
	return v
}

// Log returns what varnishd printed.
func (v *Varnish) Log() string { return v.out.String() }

func (v *Varnish) stop() {
	pgid := v.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM) // varnishd and its child, started by us
	select {
	case <-v.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-v.done
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("edgetest: %s", msg)
	}
	t.Skipf("edgetest: %s", msg)
}
