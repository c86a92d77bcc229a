package promdumper_test

import (
	"bufio"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/promdumper"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A cache's metrics served at /metrics: a miss, then a hit.
func Example() {
	metrics := promdumper.New(promdumper.Options{Cache: "pages"})
	cache, err := dumper.New(dumper.Options{Name: "pages", Observers: []dumper.Observer{metrics.Observer()}})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	metrics.Watch(cache) // the store's entries and bytes

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "vanilla")
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for range 2 {
		resp, err := http.Get(srv.URL + "/icecream/vanilla")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range []string{"dumper_requests_total", "dumper_misses_total", "dumper_stores_total", "dumper_store_entries"} {
			if strings.HasPrefix(line, name+"{") && !strings.HasSuffix(line, " 0") {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// dumper_misses_total{cache="pages",detail="",fwd="uri-miss"} 1
	// dumper_requests_total{cache="pages",result="hit",status_class="2xx"} 1
	// dumper_requests_total{cache="pages",result="miss",status_class="2xx"} 1
	// dumper_store_entries{cache="pages"} 1
	// dumper_stores_total{cache="pages"} 1
}
