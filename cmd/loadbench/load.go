package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one row's server as the load generator sees it.
type target struct {
	row       string
	label     string
	addr      string        // where the reads go
	writeAddr string        // where the writer's PATCHes go (the origin, for Varnish)
	purgeAddr string        // Varnish: where the writer sends xkey purges after each PATCH
	ctl       string        // the server's control listener, for /stats ("" for Varnish)
	bound     time.Duration // the lateness its design allows a read after a write (0: none)
	cpuPIDs   func() []int

	vs   *versions
	next [nFlavors]int // the writer's last version of each flavor
}

// result adds up the segments of one row in one pass.
type result struct {
	n, hits, stale, wrongLang, errs, non200 uint64
	writes, writeErrs                       uint64
	lat                                     []uint32 // ns, capped at ~4.29 s
	elapsed, serverCPU, clientCPU           time.Duration
	roundTrips                              uint64
	maxStaleAge                             time.Duration // longest time from a write's completion to the start of a request that missed it
	staleBeyond                             uint64        // stale responses to requests that started later than the target's bound after the write they missed
}

func (r *result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

// cpuPerReq is the servers' CPU time per request, in µs.
func (r *result) cpuPerReq() float64 { return float64(r.serverCPU.Microseconds()) / float64(r.n) }

func (r *result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return time.Duration(r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))])
}

// loadConfig is the load every row gets.
type loadConfig struct {
	conns  int
	seqs   [][]int  // per connection, request indexes
	reqs   [][]byte // by request index
	writes float64  // per second; 0: none
}

// runSegment drives t for d with cfg's load and adds what it saw to res.
func runSegment(t *target, d time.Duration, cfg *loadConfig, res *result) error {
	conns := make([]*conn, cfg.conns)
	for k := range conns {
		c, err := dial(t.addr)
		if err != nil {
			return err
		}
		defer c.close()
		conns[k] = c
	}
	rtBefore := t.roundTrips()
	cpuBefore := processCPU(t.cpuPIDs())
	selfBefore := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	var stop atomic.Bool

	var wg sync.WaitGroup
	var writerDone chan struct{}
	if cfg.writes > 0 {
		writerDone = make(chan struct{})
		go func() {
			defer close(writerDone)
			t.write(cfg.writes, &stop, res)
		}()
	}
	parts := make([]result, cfg.conns)
	for k, c := range conns {
		wg.Go(func() {
			seq := cfg.seqs[k%len(cfg.seqs)]
			p := &parts[k]
			p.lat = make([]uint32, 0, 1<<14)
			for j := 0; ; j++ {
				idx := seq[j%len(seq)]
				s0 := t.vs.seq.Load()
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				r, err := c.do(cfg.reqs[idx])
				lat := time.Since(t0)
				if err != nil {
					p.errs++
					continue
				}
				p.n++
				p.lat = append(p.lat, uint32(min(lat, time.Duration(1<<32-1))))
				if r.status != http.StatusOK {
					p.non200++
					continue
				}
				if r.hit {
					p.hits++
				}
				stale, wrong, missed := t.vs.check(r.body, s0, langs[idx%len(langs)])
				if stale {
					p.stale++
					p.maxStaleAge = max(p.maxStaleAge, t0.Sub(missed))
					if t0.Sub(missed) > t.bound {
						p.staleBeyond++
					}
				}
				if wrong {
					p.wrongLang++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop.Store(true)
	if writerDone != nil {
		<-writerDone
	}
	res.elapsed += elapsed
	res.serverCPU += processCPU(t.cpuPIDs()) - cpuBefore
	res.clientCPU += selfCPU() - selfBefore
	res.roundTrips += t.roundTrips() - rtBefore
	for _, p := range parts {
		res.n += p.n
		res.hits += p.hits
		res.stale += p.stale
		res.staleBeyond += p.staleBeyond
		res.wrongLang += p.wrongLang
		res.errs += p.errs
		res.non200 += p.non200
		res.maxStaleAge = max(res.maxStaleAge, p.maxStaleAge)
		res.lat = append(res.lat, p.lat...)
	}
	return nil
}

// write changes a flavor's name rate times a second until stop: a PATCH through the demo's
// API (GORM, so the gormdumper plugin invalidates the flavor's pages) and, for Varnish, an
// xkey purge of the same pages once the PATCH has returned. A write counts as completed for
// the staleness check when all of that has returned.
func (t *target) write(rate float64, stop *atomic.Bool, res *result) {
	wc, err := dial(t.writeAddr)
	if err != nil {
		res.writeErrs++
		return
	}
	defer wc.close()
	var pc *conn
	if t.purgeAddr != "" {
		if pc, err = dial(t.purgeAddr); err != nil {
			res.writeErrs++
			return
		}
		defer pc.close()
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for !stop.Load() {
		<-tick.C
		i := r.IntN(nFlavors)
		v := t.next[i] + 1
		t.next[i] = v
		body := `{"name":"` + flavorName(i, v) + `"}`
		req := "PATCH /api/icecream/" + flavorSlug(i) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body
		resp, err := wc.do([]byte(req))
		if err != nil || resp.status != http.StatusOK {
			res.writeErrs++
			continue
		}
		if pc != nil {
			purge := "PURGE / HTTP/1.1\r\nHost: 127.0.0.1\r\nXkey-Purge: " + strings.Join(dependentPaths(i), " ") + "\r\n\r\n"
			resp, err := pc.do([]byte(purge))
			if err != nil || resp.status != http.StatusOK {
				res.writeErrs++
				continue
			}
		}
		t.vs.completed(i, v)
		res.writes++
	}
}

// warm requests every page in every language twice, one at a time, and checks that the
// answers are 200s.
func warm(t *target, reqs [][]byte) error {
	c, err := dial(t.addr)
	if err != nil {
		return err
	}
	defer c.close()
	for range 2 {
		for idx, req := range reqs {
			r, err := c.do(req)
			if err != nil {
				return fmt.Errorf("%s: warm: %w", t.row, err)
			}
			if r.status != http.StatusOK {
				return fmt.Errorf("%s: warm: request %d: status %d", t.row, idx, r.status)
			}
		}
	}
	return nil
}

// roundTrips asks the server how many Redis scripts it has sent.
func (t *target) roundTrips() uint64 {
	if t.ctl == "" {
		return 0
	}
	resp, err := http.Get("http://" + t.ctl + "/stats")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var st serverStats
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return 0
	}
	return st.RoundTrips
}

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ; 100 on Linux).
const clockTick = 10 * time.Millisecond

// processCPU returns the CPU time (user + system) the processes have used.
func processCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name (in parentheses, which may hold spaces).
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * clockTick
	}
	return total
}

// childrenOf returns pid and its children (one level, as varnishd's manager and worker).
func childrenOf(pid int) []int {
	pids := []int{pid}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			pids = append(pids, c)
		}
	}
	return pids
}

// selfCPU is the CPU time this process (the load generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
