// Command load compares dumper, on the demo shop's pages, with the same handler uncached, with
// Varnish 7 and xkey in front of it, and with a handler that writes the bytes of a cache hit
// with no work at all (the "limit": the fastest a Go server on this machine can answer).
//
//	go run ./cmd/loadbench            # about 3 minutes: every row, 10 s per pass in 5 rounds
//	go run ./cmd/loadbench -quick     # smoke run: 1 s per row
//	go run ./cmd/loadbench -mode memory [-quick]
//
// Each row's server runs in its own process (the same binary, -role server), pinned to CPU 0
// with GOMAXPROCS=1; the load generator stays on CPU 1 with GOMAXPROCS=1, so that it never
// takes the servers' CPU. Results and method: docs/benchmarks.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type flags struct {
	mode     string
	d        time.Duration
	rounds   int
	conns    int
	writes   float64
	redisURL string
	rows     string
	pin      bool
	quick    bool
	memSizes string
	purge    bool

	role, row, dir, prefix string // -role server
	purgeURL               string // -role server, row varnish-dumper: the Varnish it purges
}

func run() error {
	var f flags
	flag.StringVar(&f.mode, "mode", "load", "load: the side-by-side table; memory: RAM per entry and hit latency by entry count")
	flag.DurationVar(&f.d, "d", 10*time.Second, "measured time per row and pass, split over -rounds")
	flag.IntVar(&f.rounds, "rounds", 5, "rounds per pass: each row runs d/rounds per round, rows interleaved, so that they share the machine's noise")
	flag.IntVar(&f.conns, "conns", 32, "client connections (one request in flight each)")
	flag.Float64Var(&f.writes, "writes", 5, "writes per second in the invalidation pass")
	flag.StringVar(&f.redisURL, "redis", "redis://127.0.0.1:6379/0", `Redis for the Redis rows; "" skips them`)
	flag.StringVar(&f.rows, "rows", "limit,bare,memory,redis-strict,redis-local,varnish,varnish-dumper", "rows to run")
	flag.BoolVar(&f.pin, "pin", true, "pin servers to CPU 0 and the load generator to CPU 1 (taskset), each with GOMAXPROCS=1")
	flag.BoolVar(&f.quick, "quick", false, "smoke run: -d 1s -rounds 1; memory mode: 1k and 10k entries")
	flag.StringVar(&f.memSizes, "entries", "1000,100000,1000000", "memory mode: entry counts")
	flag.BoolVar(&f.purge, "purge", true, "false: the Varnish row's writer does not purge (a check that the stale counter catches stale pages)")
	flag.StringVar(&f.role, "role", "", "internal: server")
	flag.StringVar(&f.row, "row", "", "internal: the server's row")
	flag.StringVar(&f.dir, "dir", "", "internal: the server's directory")
	flag.StringVar(&f.prefix, "prefix", "", "internal: the server's Redis prefix")
	flag.StringVar(&f.purgeURL, "purge-url", "", "internal: the Varnish the server's edge purges")
	flag.Parse()

	if f.role == "server" {
		return runServer(f.row, f.dir, f.redisURL, f.prefix, f.purgeURL)
	}
	if f.quick {
		if !isSet("d") {
			f.d = time.Second
		}
		if !isSet("rounds") {
			f.rounds = 1
		}
		if !isSet("entries") {
			f.memSizes = "1000,10000"
		}
	}
	switch f.mode {
	case "load":
		return runLoad(&f)
	case "memory":
		return runMemory(&f)
	}
	return fmt.Errorf("unknown -mode %q", f.mode)
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// rowSpec is a row of the table.
type rowSpec struct{ row, label string }

var allRows = []rowSpec{
	{rowLimit, "limit: same bytes, no work"},
	{rowBare, "bare: demo handler, uncached"},
	{rowMemory, "dumper, memory store"},
	{rowRedisStrict, "dumper, Redis strict"},
	{rowRedisLocal, "dumper, Redis + local tier"},
	{"varnish", "Varnish + xkey"},
	{rowVarnishDriven, "Varnish driven by dumper"},
}

const (
	serverCPU = "0"
	clientCPU = "1"
)

func runLoad(f *flags) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := machine()
	pinned := f.pin && runtime.NumCPU() >= 2
	if f.pin && !pinned {
		fmt.Fprintln(os.Stderr, "load: fewer than 2 CPUs: not pinning")
	}
	if pinned {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", clientCPU, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset (util-linux) failed; run with -pin=false: %v: %s", err, out)
		}
		runtime.GOMAXPROCS(1)
	}
	dir, err := os.MkdirTemp("", "dumper-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	want := map[string]bool{}
	for _, r := range strings.Split(f.rows, ",") {
		want[strings.TrimSpace(r)] = true
	}
	var (
		targets []*target
		skipped []string
	)
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	pin := ""
	if pinned {
		pin = serverCPU
	}
	prefix := fmt.Sprintf("dumper-bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, rs := range allRows {
		if !want[rs.row] {
			continue
		}
		if strings.HasPrefix(rs.row, "redis") && f.redisURL == "" {
			skipped = append(skipped, rs.label+": skipped (-redis empty)")
			continue
		}
		t := &target{row: rs.row, label: rs.label, vs: new(versions)}
		if rs.row == rowVarnishDriven {
			// Varnish's address first: the origin's edge purges it.
			vaddr, err := freeAddr()
			if err != nil {
				return err
			}
			origin, stopOrigin, err := startServer(dir, rowVarnishDriven, f.redisURL, "", pin, "-purge-url", "http://"+vaddr)
			if err != nil {
				return err
			}
			cleanups = append(cleanups, stopOrigin)
			v, err := startVarnish(dir, origin.info.Addr, pin, vaddr, true)
			if err != nil {
				skipped = append(skipped, rs.label+": SKIPPED: "+err.Error())
				fmt.Fprintln(os.Stderr, "load: skipping Varnish driven by dumper:", err)
				continue
			}
			cleanups = append(cleanups, v.stop)
			t.addr, t.writeAddr, t.ctl = v.addr, origin.info.Addr, origin.info.Ctl
			t.bound = edgeBound
			if ver := varnishVersion(); ver != "" {
				t.label = ver + " driven by dumper"
			}
			t.cpuPIDs = func() []int { return append(v.pids(), origin.pid) }
			targets = append(targets, t)
			continue
		}
		if rs.row == "varnish" {
			origin, stopOrigin, err := startServer(dir, rowOrigin, f.redisURL, "", pin)
			if err != nil {
				return err
			}
			cleanups = append(cleanups, stopOrigin)
			v, err := startVarnish(dir, origin.info.Addr, pin, "", false)
			if err != nil {
				skipped = append(skipped, rs.label+": SKIPPED: "+err.Error())
				fmt.Fprintln(os.Stderr, "load: skipping Varnish:", err)
				continue
			}
			cleanups = append(cleanups, v.stop)
			t.addr, t.writeAddr = v.addr, origin.info.Addr
			if ver := varnishVersion(); ver != "" {
				t.label = ver + " + xkey"
			}
			if f.purge {
				t.purgeAddr = v.addr
			} else {
				skipped = append(skipped, t.label+": NOT PURGED (-purge=false): its stale count shows what goes undetected without invalidation")
			}
			t.cpuPIDs = func() []int { return append(v.pids(), origin.pid) }
		} else {
			sp := ""
			if strings.HasPrefix(rs.row, "redis") {
				sp = prefix + "-" + rs.row
			}
			s, stopServer, err := startServer(dir, rs.row, f.redisURL, sp, pin)
			if err != nil {
				return err
			}
			cleanups = append(cleanups, stopServer)
			t.addr, t.writeAddr, t.ctl = s.info.Addr, s.info.Addr, s.info.Ctl
			pid := s.pid
			t.cpuPIDs = func() []int { return []int{pid} }
		}
		targets = append(targets, t)
	}

	var reqs [][]byte
	for _, p := range pages() {
		for _, l := range langs {
			reqs = append(reqs, getRequest(p.path, l))
		}
	}
	mx := newMix()
	cfg := &loadConfig{conns: f.conns, reqs: reqs}
	for c := range f.conns {
		cfg.seqs = append(cfg.seqs, mx.sequence(c, 1<<15))
	}
	for _, t := range targets {
		if err := warm(t, reqs); err != nil {
			return err
		}
		// A short unmeasured run: connections, SQLite's page cache, the runtime's heaps.
		if err := runSegment(t, min(f.d/4, time.Second), cfg, new(result)); err != nil {
			return err
		}
	}

	seg := f.d / time.Duration(f.rounds)
	steady := make([]result, len(targets))
	unloaded := make([]result, len(targets))
	writes := make([]result, len(targets))
	one := &loadConfig{conns: 1, seqs: cfg.seqs[:1], reqs: reqs}
	passes := []struct {
		name string
		cfg  *loadConfig
		res  []result
		d    time.Duration
		skip func(*target) bool
	}{
		{"steady", cfg, steady, seg, nil},
		{"1 connection", one, unloaded, max(seg/4, 500*time.Millisecond), nil},
		{"writes", &loadConfig{conns: f.conns, seqs: cfg.seqs, reqs: reqs, writes: f.writes}, writes, seg,
			func(t *target) bool { return t.row == rowLimit }},
	}
	loadStart := loadavg()
	for _, p := range passes {
		for round := range f.rounds {
			for i, t := range targets {
				if p.skip != nil && p.skip(t) {
					continue
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fmt.Fprintf(os.Stderr, "load: %s, round %d/%d: %s\n", p.name, round+1, f.rounds, t.label)
				if err := runSegment(t, p.d, p.cfg, &p.res[i]); err != nil {
					return fmt.Errorf("%s: %w", t.label, err)
				}
			}
		}
	}
	m.loadDuring = loadStart + " → " + loadavg()
	printTable(os.Stdout, f, m, targets, steady, unloaded, writes, skipped, pinned)
	return nil
}

// server is a server process started by startServer.
type server struct {
	info serverInfo
	pid  int
}

// startServer runs this binary as a server for row, pinned to pin (if not empty) with
// GOMAXPROCS=1, and returns once it listens. stop ends it.
func startServer(dir, row, redisURL, prefix, pin string, extra ...string) (*server, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	args := []string{self, "-role", "server", "-row", row, "-dir", dir, "-redis", redisURL, "-prefix", prefix}
	args = append(args, extra...)
	if pin != "" {
		args = append([]string{"taskset", "-c", pin}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() {
		stdin.Close() // the server shuts down on EOF
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("server %s did not start: %w", row, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	s := &server{pid: cmd.Process.Pid}
	if err := json.Unmarshal([]byte(line), &s.info); err != nil {
		stop()
		return nil, nil, fmt.Errorf("server %s: %q: %w", row, line, err)
	}
	return s, stop, nil
}

// machineInfo describes where the numbers come from.
type machineInfo struct {
	cpus, model, goVersion, kernel, loadDuring string
}

func machine() machineInfo {
	m := machineInfo{cpus: strconv.Itoa(runtime.NumCPU()), goVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
