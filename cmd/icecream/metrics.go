package main

import (
	"net/http"

	"github.com/dumperhq/dumper/promdumper"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves /metrics in Prometheus's format: the cache's metrics (m), the Go
// runtime's and the process's, from a registry of its own.
func metricsHandler(m *promdumper.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
