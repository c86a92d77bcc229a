package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dumperhq/dumper/edge"
)

// vcl is the Varnish configuration: cache every GET/HEAD, keyed on the URL and the
// Accept-Language header (what the demo's Vary names, taken as it comes, as dumper does),
// forever (until purged), with no grace; PURGE with an Xkey-Purge header of
// space-separated keys removes every object tagged with one of them (the origin tags each
// page with its path in an xkey header, hidden from clients).
const vcl = `vcl 4.1;

import xkey;

backend origin {
	.host = "127.0.0.1";
	.port = "%d";
}

acl purgers {
	"127.0.0.1";
}

sub vcl_recv {
	if (req.method == "PURGE") {
		if (client.ip !~ purgers) {
			return (synth(403, "Forbidden"));
		}
		if (!req.http.Xkey-Purge) {
			return (synth(400, "Xkey-Purge header required"));
		}
		set req.http.X-Purged = xkey.purge(req.http.Xkey-Purge);
		return (synth(200, "Purged " + req.http.X-Purged));
	}
	if (req.method != "GET" && req.method != "HEAD") {
		return (pass);
	}
	return (hash);
}

sub vcl_hash {
	hash_data(req.url);
	hash_data(req.http.Host);
	hash_data(req.http.Accept-Language);
	return (lookup);
}

sub vcl_backend_response {
	if (beresp.status == 200) {
		set beresp.ttl = 365d;
		set beresp.grace = 0s;
		set beresp.keep = 0s;
		return (deliver);
	}
}

sub vcl_deliver {
	unset resp.http.Xkey;
}
`

// varnish is a varnishd running in the foreground (-F) as our child.
type varnish struct {
	cmd  *exec.Cmd
	addr string
}

// drivenVCL is the configuration of the Varnish that dumper drives: the VCL shipped with
// package edge (edge/varnish/dumper.vcl), included after the backend and the purgers' ACL.
const drivenVCL = `vcl 4.1;

backend origin {
	.host = "127.0.0.1";
	.port = "%d";
}

acl dumper_purgers {
	"127.0.0.1";
}

include "dumper.vcl";
`

// startVarnish starts varnishd in dir in front of the origin at originAddr, on addr (a free
// loopback port if empty), pinned like the Go servers when pin is set: with the bench's VCL,
// or, if driven, with edge's VCL, which keeps what dumper tags and purges by its tags. It
// returns an error that says what to install when varnishd or the xkey vmod is missing.
func startVarnish(dir, originAddr, pinCPU, addr string, driven bool) (*varnish, error) {
	bin, err := exec.LookPath("varnishd")
	if err != nil {
		return nil, errors.New("varnishd not found: apt-get install -y varnish varnish-modules")
	}
	_, portStr, _ := net.SplitHostPort(originAddr)
	port, _ := strconv.Atoi(portStr)
	name, text := "bench", vcl
	if driven {
		name, text = "driven", drivenVCL
		if err := os.WriteFile(filepath.Join(dir, "dumper.vcl"), []byte(edge.VCL), 0o644); err != nil {
			return nil, err
		}
	}
	vclPath := filepath.Join(dir, name+".vcl")
	if err := os.WriteFile(vclPath, fmt.Appendf(nil, text, port), 0o644); err != nil {
		return nil, err
	}
	// -C compiles the VCL and exits: it fails when vmod_xkey is missing.
	if out, err := exec.Command(bin, "-C", "-j", "none", "-p", "vcl_path="+dir, "-f", vclPath, "-n", filepath.Join(dir, name+"-check")).CombinedOutput(); err != nil {
		msg := string(out)
		if strings.Contains(msg, "xkey") {
			return nil, fmt.Errorf("vmod_xkey not found (apt-get install -y varnish-modules): %s", firstLine(msg))
		}
		return nil, fmt.Errorf("varnishd -C: %v: %s", err, firstLine(msg))
	}
	if addr == "" {
		if addr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	args := []string{bin, "-F", "-j", "none", "-n", filepath.Join(dir, name), "-a", addr, "-T", "none",
		"-p", "vcl_path=" + dir, "-f", vclPath, "-s", "malloc,256m", "-p", "thread_pools=1"}
	if pinCPU != "" {
		args = append([]string{"taskset", "-c", pinCPU}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	v := &varnish{cmd: cmd, addr: addr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return v, nil
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			v.stop()
			return nil, fmt.Errorf("varnishd did not start: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (v *varnish) pids() []int { return childrenOf(v.cmd.Process.Pid) }

func (v *varnish) stop() {
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = v.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = v.cmd.Process.Kill()
		<-done
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// varnishVersion returns "Varnish 7.1.1" from varnishd -V, or "".
func varnishVersion() string {
	out, err := exec.Command("varnishd", "-V").CombinedOutput()
	if err != nil {
		return ""
	}
	s := string(out)
	i := strings.Index(s, "varnish-")
	if i < 0 {
		return ""
	}
	v, _, _ := strings.Cut(s[i+len("varnish-"):], " ")
	return "Varnish " + v
}
