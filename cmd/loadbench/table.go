package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// printTable prints the results as one Markdown table, then the machine and the derived
// figures.
func printTable(w io.Writer, f *flags, m machineInfo, targets []*target, steady, unloaded, writes []result, skipped []string, pinned bool) {
	var limit *result
	for i, t := range targets {
		if t.row == rowLimit {
			limit = &steady[i]
		}
	}
	fmt.Fprintf(w, "\n| row | pass | req/s | × limit | × limit, CPU | p50 | p99 | p50, 1 conn | hit ratio | stale | errors | server CPU µs/req | load-gen CPU | Redis trips/req |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, pass := range []struct {
		name string
		res  []result
	}{{"steady", steady}, {fmt.Sprintf("%g writes/s", f.writes), writes}} {
		for i, t := range targets {
			r := &pass.res[i]
			if r.n == 0 {
				continue
			}
			ratio, cpuRatio := "—", "—"
			if limit != nil && limit.n > 0 {
				ratio = fmt.Sprintf("%.2f", r.rps()/limit.rps())
				if r.serverCPU > 0 {
					cpuRatio = fmt.Sprintf("%.2f", limit.cpuPerReq()/r.cpuPerReq())
				}
			}
			hit, stale := "—", "—"
			if t.row != rowLimit && t.row != rowBare {
				hit = fmt.Sprintf("%.1f %%", 100*float64(r.hits)/float64(r.n))
			}
			if r.writes > 0 || t.row != rowLimit {
				stale = fmt.Sprint(r.stale)
			}
			passName := pass.name
			if r.writes > 0 || r.writeErrs > 0 {
				passName += fmt.Sprintf(" (%d done", r.writes)
				if r.writeErrs > 0 {
					passName += fmt.Sprintf(", %d failed", r.writeErrs)
				}
				passName += ")"
			}
			one := "—"
			if pass.name == "steady" && unloaded[i].n > 0 {
				one = fmtDur(unloaded[i].percentile(0.5))
			}
			trips := "—"
			if strings.HasPrefix(t.row, "redis") {
				trips = fmt.Sprintf("%.3f", float64(r.roundTrips)/float64(r.n))
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %d | %.1f | %.0f %% | %s |\n",
				t.label, passName, r.rps(), ratio, cpuRatio, fmtDur(r.percentile(0.5)), fmtDur(r.percentile(0.99)), one,
				hit, stale, r.errs+r.non200+r.wrongLang,
				r.cpuPerReq(), 100*r.clientCPU.Seconds()/r.elapsed.Seconds(), trips)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Machine: %s CPUs, %s, Linux %s; %s; load average (1, 5, 15 min) %s.\n", m.cpus, m.model, m.kernel, m.goVersion, m.loadDuring)
	fmt.Fprintf(w, "- Command: `%s`; %d connections, %v per row and pass in %d interleaved round(s); %d pages × %d languages.\n",
		strings.TrimSpace("go run ./cmd/loadbench "+strings.Join(os.Args[1:], " ")), f.conns, f.d, f.rounds, len(pages()), len(langs))
	if pinned {
		fmt.Fprintf(w, "- Pinning: every server (and varnishd with its origin) on CPU %s with GOMAXPROCS=1; the load generator on CPU %s with GOMAXPROCS=1. Redis is not pinned.\n", serverCPU, clientCPU)
	} else {
		fmt.Fprintln(w, "- Pinning: none (-pin=false): servers and load generator share the CPUs.")
	}
	for i, t := range targets {
		if r := &writes[i]; r.stale > 0 {
			fmt.Fprintf(w, "- %s: %d stale responses under writes, to requests that started up to %s after the write they missed had completed",
				t.label, r.stale, fmtDur(r.maxStaleAge))
			if t.bound > 0 {
				fmt.Fprintf(w, "; %d later than its stated bound of %s", r.staleBeyond, fmtDur(t.bound))
			}
			fmt.Fprintln(w, ".")
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(w, "- %s\n", s)
	}
	// The cost of a Redis round trip: strict against memory, unloaded latency and server CPU.
	var mem, strict int = -1, -1
	for i, t := range targets {
		switch t.row {
		case rowMemory:
			mem = i
		case rowRedisStrict:
			strict = i
		}
	}
	if mem >= 0 && strict >= 0 && steady[strict].roundTrips > 0 {
		trips := float64(steady[strict].roundTrips) / float64(steady[strict].n)
		dl := unloaded[strict].percentile(0.5) - unloaded[mem].percentile(0.5)
		dcpu := steady[strict].cpuPerReq() - steady[mem].cpuPerReq()
		fmt.Fprintf(w, "- Redis strict vs memory: %.2f round trips per request; +%s p50 latency at 1 connection (%s per round trip); +%.1f µs of server CPU per request (%.1f µs per round trip, Redis's own CPU not counted).\n",
			trips, fmtDur(dl), fmtDur(time.Duration(float64(dl)/trips)), dcpu, dcpu/trips)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}
