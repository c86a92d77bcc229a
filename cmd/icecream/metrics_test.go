package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestMetrics scrapes the demo's /metrics around a miss and a hit of one page: the miss
// moves the miss, store and entry figures and not the hits; the hit moves the hits alone
// (and no entry);
// scraping is not a request of the cache's, and the scrape after the hit prints what the
// README shows. A write through the API then counts invalidations by source.
func TestMetrics(t *testing.T) {
	t.Parallel()
	base := demoURL(t, startDemo(t, []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "shop.db")}))
	const (
		hits    = `dumper_requests_total{cache="dumper",result="hit",status_class="2xx"}`
		misses  = `dumper_requests_total{cache="dumper",result="miss",status_class="2xx"}`
		uriMiss = `dumper_misses_total{cache="dumper",detail="",fwd="uri-miss"}`
		stores  = `dumper_stores_total{cache="dumper"}`
		entries = `dumper_store_entries{cache="dumper"}`
	)
	page := func(want string) {
		t.Helper()
		resp, err := http.Get(base + "/icecream/vanilla")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Status"); got != want {
			t.Fatalf("Cache-Status %q, want %q", got, want)
		}
	}

	before := scrape(t, base)
	page("dumper; fwd=uri-miss; stored")
	afterMiss := scrape(t, base)
	page("dumper; hit")
	afterHit := scrape(t, base)

	moved := func(from, to map[string]float64, series string) float64 { return to[series] - from[series] }
	for _, tt := range []struct {
		name     string
		from, to map[string]float64
		want     map[string]float64
	}{
		{"the miss", before, afterMiss, map[string]float64{hits: 0, misses: 1, uriMiss: 1, stores: 1}},
		{"the hit", afterMiss, afterHit, map[string]float64{hits: 1, misses: 0, uriMiss: 0, stores: 0, entries: 0}},
	} {
		for series, want := range tt.want {
			if got := moved(tt.from, tt.to, series); got != want {
				t.Errorf("after %s, %s moved by %v, want %v", tt.name, series, got, want)
			}
		}
	}
	// The page varies on Accept-Language: the store keeps the variant and the list of the
	// headers it varies on.
	if got := moved(before, afterMiss, entries); got < 1 {
		t.Errorf("after the miss, %s moved by %v, want an entry or more", entries, got)
	}
	var total float64
	for series, v := range afterHit {
		if strings.HasPrefix(series, "dumper_requests_total{") {
			total += v
		}
	}
	if total != 2 {
		t.Errorf("%v requests counted after a miss, a hit and three scrapes; want 2", total)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	command, shown := readmeMetrics(t, string(readme))
	if !strings.Contains(command, "grep -E '^dumper_(requests|misses|stores)_total' | grep -v ' 0$'") {
		t.Fatalf("the README's /metrics command is %q, which this test does not read the same way", command)
	}
	var got []string
	filter := regexp.MustCompile(`^dumper_(requests|misses|stores)_total`)
	for _, line := range strings.Split(scrapeText(t, base), "\n") {
		if filter.MatchString(line) && !strings.HasSuffix(line, " 0") {
			got = append(got, line)
		}
	}
	if strings.Join(got, "\n") != strings.Join(shown, "\n") {
		t.Errorf("the README shows\n%s\nthe demo prints\n%s", strings.Join(shown, "\n"), strings.Join(got, "\n"))
	}
	// A write through the API: GORM invalidates the rows' pages, and the PATCH its own path.
	req, err := http.NewRequest("PATCH", base+"/api/icecream/vanilla", strings.NewReader(`{"name":"Vanilla Bean"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}
	afterWrite := scrape(t, base)
	const (
		gorm        = `dumper_invalidations_total{cache="dumper",source="gorm"}`
		gormLatency = `dumper_invalidation_latency_seconds_count{cache="dumper",source="gorm"}`
		request     = `dumper_invalidations_total{cache="dumper",source="request"}`
		unsafe      = `dumper_requests_total{cache="dumper",result="unsafe",status_class="2xx"}`
	)
	for series, want := range map[string]float64{request: 1, unsafe: 1} {
		if got := moved(afterHit, afterWrite, series); got != want {
			t.Errorf("after the PATCH, %s moved by %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{gorm, gormLatency} {
		if got := moved(afterHit, afterWrite, series); got < 1 {
			t.Errorf("after the PATCH, %s moved by %v, want 1 or more (the write, and again after its commit)", series, got)
		}
	}
}

// scrape returns the samples of the demo's /metrics, by series (name and labels).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	for _, line := range strings.Split(scrapeText(t, base), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// scrapeText returns the demo's /metrics in Prometheus's text format.
func scrapeText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Cache-Status") != "" {
		t.Errorf("/metrics went through the cache: Cache-Status %q", resp.Header.Get("Cache-Status"))
	}
	return string(b)
}

// readmeMetrics returns the README's command that scrapes the demo's /metrics (the line of
// a sh block that names it) and the lines of the text block that follows it.
func readmeMetrics(t *testing.T, readme string) (string, []string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(readme))
	var command string
	var shown []string
	state := 0 // 0: looking for the command, 1: for the text block, 2: in it
	for sc.Scan() {
		line := sc.Text()
		switch {
		case state == 0 && strings.HasPrefix(line, "curl ") && strings.Contains(line, "localhost:8080/metrics"):
			command, state = line, 1
		case state == 1 && line == "```text":
			state = 2
		case state == 2 && line == "```":
			return command, shown
		case state == 2:
			shown = append(shown, line)
		}
	}
	t.Fatal("the README has no curl of localhost:8080/metrics followed by a text block")
	return "", nil
}
