package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFloodPeakRSS builds the demo, runs it with its memory store, and floods it with unique
// URLs, each with a 6 KB query string, so that every request renders and stores a new entry
// and the store evicts all the time; then it reads the demo's peak resident memory (VmHWM)
// and checks it against the store's budget plus 96 MiB. ICECREAM_FLOOD sets the flood's
// duration; with it (ICECREAM_FLOOD=15s, say) the demo runs with its default 64 MiB budget,
// without it for 3 s with 16 MiB. Either way the flood goes on until the keys of the stored
// responses add up to twice the budget.
func TestFloodPeakRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/<pid>/status")
	}
	duration, budget := 3*time.Second, int64(16<<20)
	if s := os.Getenv("ICECREAM_FLOOD"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("ICECREAM_FLOOD=%q: %v", s, err)
		}
		duration, budget = d, 64<<20
	}
	const allowance = 96 << 20

	// The demo itself, as users run it: not this test binary, which the race detector may
	// instrument.
	dir := t.TempDir()
	bin := filepath.Join(dir, "icecream")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "shop.db"), "-cache-bytes", strconv.FormatInt(budget, 10))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		url := regexp.MustCompile(`url=(http://\S+/)`)
		for sc.Scan() {
			if m := url.FindStringSubmatch(sc.Text()); m != nil {
				base <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var url string
	select {
	case url = <-base:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not start within 30s")
	}

	pad := strings.Repeat("q", 6<<10)
	var n, stored atomic.Int64
	var failed atomic.Value
	start := time.Now()
	filled := func() bool { return stored.Load()*(6<<10) >= 2*budget }
	more := func() bool {
		since := time.Since(start)
		return since < duration || !filled() && since < time.Minute
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for more() {
				i := n.Add(1)
				resp, err := client.Get(url + "icecream/vanilla?u=" + strconv.FormatInt(i, 10) + "&pad=" + pad)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Store(resp.Status)
					return
				}
				if strings.HasSuffix(resp.Header.Get("Cache-Status"), "stored") {
					stored.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatalf("flood: %v", f)
	}
	hwm, rss := procStatus(t, cmd.Process.Pid, "VmHWM"), procStatus(t, cmd.Process.Pid, "VmRSS")
	t.Logf("%v flood: %d requests of 6 KB query strings (%d stored); peak RSS (VmHWM) %d MiB, RSS now %d MiB; budget %d MiB + %d MiB = %d MiB",
		time.Since(start).Round(time.Millisecond), n.Load(), stored.Load(), hwm>>20, rss>>20, budget>>20, allowance>>20, (budget+allowance)>>20)
	if !filled() {
		t.Errorf("%d responses stored in a minute, %d bytes of keys alone: the flood did not fill the %d-byte store twice", stored.Load(), stored.Load()*(6<<10), budget)
	}
	if hwm > budget+allowance {
		t.Errorf("peak RSS %d bytes, over the budget %d + %d", hwm, budget, allowance)
	}
}

// procStatus returns the field of /proc/pid/status (a size in kB) in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", field, line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
