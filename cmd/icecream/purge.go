package main

import (
	"log/slog"
	"net/http"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/purge"
)

// purgeTokenEnv names the environment variable that holds the purge endpoint's token: an
// environment variable rather than a flag's value, which every user of the machine can read
// in the process list.
const purgeTokenEnv = "ICECREAM_PURGE_TOKEN"

// purgePath is where -purge serves the purge endpoint.
const purgePath = "/_dumper/purge"

// withPurge serves the purge endpoint of cache at purgePath, authorized by token and logged
// to logger, and every other path with site. The endpoint is outside the cached site.
func withPurge(site http.Handler, cache *dumper.Cache, token string, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(purgePath, &purge.Handler{Cache: cache, Token: token, Logger: logger})
	mux.Handle("/", site)
	return mux
}
