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

// purgeHandler returns the purge endpoint of cache, authorized by token and logged to
// logger, which the demo serves at purgePath, outside the cached site.
func purgeHandler(cache *dumper.Cache, token string, logger *slog.Logger) http.Handler {
	return &purge.Handler{Cache: cache, Token: token, Logger: logger}
}
