package purge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dumperhq/dumper"
)

// Defaults of the limits of a [Handler].
const (
	DefaultMaxBytes = 256 << 10
	DefaultMaxItems = 1000
)

// An Invalidator is what a [Handler] purges: a *dumper.Cache, or anything else that
// invalidates by path, by tag and entirely, as a setup of several caches may.
type Invalidator interface {
	dumper.Invalidator
	dumper.AllInvalidator
}

var _ Invalidator = (*dumper.Cache)(nil)

// Handler is an http.Handler that purges Cache by the paths and tags a request names, or
// entirely (see the package documentation for the protocol). Its fields are its
// configuration; do not change them while it serves. A purge, once its request is read, runs
// to its end even if the client goes away (the store's own timeouts still apply): a client
// that gives up does not cut it short.
//
// Mount it where only operators reach it, and outside the cached part of the site:
//
//	mux.Handle("/_dumper/purge", &purge.Handler{Cache: c, Token: os.Getenv("PURGE_TOKEN")})
type Handler struct {
	// Cache is what is purged. Required: without it every request is refused with 500.
	Cache Invalidator

	// Token is the bearer token a request must carry ("Authorization: Bearer <Token>").
	// It is compared in constant time, through SHA-256 digests, so that neither its bytes
	// nor its length can be learnt by timing. Use a random one (openssl rand -hex 32), not
	// a word. Ignored when Authorize is set. With neither, every request is refused with
	// 500: an endpoint open to anyone is never what was meant.
	Token string

	// Authorize, if not nil, decides instead of Token whether r may purge, and returns who
	// asks, for the log. An error refuses the request: one wrapping [ErrForbidden] with 403,
	// any other with 401 (and WWW-Authenticate: Bearer); who, if not empty, is logged with
	// the refusal. [BearerToken] reads the request's token. Authorize runs before the body
	// is read.
	Authorize func(r *http.Request) (who string, err error)

	// MaxBytes bounds the request body (0: DefaultMaxBytes, 256 KiB); a larger one is
	// refused with 413 and nothing is purged.
	MaxBytes int64

	// MaxItems bounds the paths and tags of one request together (0: DefaultMaxItems,
	// 1,000); a request with more is refused with 413 and nothing is purged.
	MaxItems int

	// Logger receives one record per request: at Info what was purged, by whom (the
	// identity Authorize returned, or "bearer token") and from which remote address; at Warn
	// a refusal and its reason; at Error a purge the cache failed. nil: silent.
	Logger *slog.Logger
}

// Result is the body of a successful purge: what the request named and the tags
// invalidated for it, the paths' tags (both readings of an ambiguous path, see
// [dumper.PathTags]) and the tags given, sorted, without duplicates.
type Result struct {
	All         bool     `json:"all,omitempty"`
	Paths       []string `json:"paths,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Invalidated []string `json:"invalidated,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx := r.Context()
	remote := slog.String("remote_addr", r.RemoteAddr)

	if h.Cache == nil || (h.Token == "" && h.Authorize == nil) {
		log.ErrorContext(ctx, "dumper/purge: refused: the handler has no Cache, or neither Token nor Authorize", remote)
		writeError(w, http.StatusInternalServerError, "purge: the endpoint is not configured")
		return
	}

	who, err := h.authorize(r)
	if err != nil {
		status := http.StatusUnauthorized
		switch {
		case errors.Is(err, ErrForbidden):
			status = http.StatusForbidden
		case errors.Is(err, errBadToken):
			w.Header().Set("WWW-Authenticate", `Bearer realm="purge", error="invalid_token"`)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="purge"`)
		}
		msg := "purge: unauthorized: send Authorization: Bearer <token>"
		if status == http.StatusForbidden {
			msg = "purge: forbidden"
		}
		attrs := []any{remote, "status", status, "reason", err.Error()}
		if who != "" {
			attrs = append(attrs, "who", who) // a client Authorize knows but forbids
		}
		log.WarnContext(ctx, "dumper/purge: refused", attrs...)
		writeError(w, status, msg)
		return
	}
	whoAttr := slog.String("who", who)

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		log.WarnContext(ctx, "dumper/purge: refused", whoAttr, remote, "status", http.StatusMethodNotAllowed, "reason", "method "+r.Method)
		writeError(w, http.StatusMethodNotAllowed, "purge: use POST with a JSON body")
		return
	}

	req, err := h.readRequest(w, r)
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			re = &requestError{http.StatusBadRequest, "purge: reading the body: " + err.Error()}
		}
		log.WarnContext(ctx, "dumper/purge: refused", whoAttr, remote, "status", re.status, "reason", re.msg)
		writeError(w, re.status, re.msg)
		return
	}
	items := []any{whoAttr, remote, "paths", req.Paths, "tags", req.Tags, "all", req.All}

	res, err := h.purge(context.WithoutCancel(ctx), req)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			log.WarnContext(ctx, "dumper/purge: refused", append(items, "status", re.status, "reason", re.msg)...)
			writeError(w, re.status, re.msg)
			return
		}
		status := http.StatusInternalServerError
		if errors.Is(err, errors.ErrUnsupported) {
			status = http.StatusNotImplemented
		}
		log.ErrorContext(ctx, "dumper/purge: failed", append(items, "status", status, "err", err)...)
		writeError(w, status, "purge: "+err.Error())
		return
	}
	log.InfoContext(ctx, "dumper/purge: purged", append(items, "invalidated", res.Invalidated)...)
	writeJSON(w, http.StatusOK, res)
}

// authorize returns who asks, or why they may not purge.
func (h *Handler) authorize(r *http.Request) (string, error) {
	if h.Authorize != nil {
		return h.Authorize(r)
	}
	if err := checkToken(r, h.Token); err != nil {
		return "", err
	}
	return "bearer token", nil
}

// readRequest reads and parses the body, within the handler's limits.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request) (Request, error) {
	maxBytes := h.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	maxItems := h.MaxItems
	if maxItems <= 0 {
		maxItems = DefaultMaxItems
	}
	tooLarge := &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("purge: the body is larger than %d bytes", maxBytes)}
	if r.ContentLength > maxBytes {
		return Request{}, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Request{}, tooLarge
		}
		return Request{}, err
	}
	return parseRequest(body, maxItems)
}

// Source is the [dumper.InvalidationEvent] source of the endpoint's purges.
const Source = "purge"

// purge validates every item, then purges them: nothing is purged if one is invalid.
func (h *Handler) purge(ctx context.Context, req Request) (Result, error) {
	res := Result{All: req.All, Paths: req.Paths, Tags: req.Tags}
	ctx = dumper.WithSource(ctx, Source, time.Time{})
	if req.All {
		return res, h.Cache.InvalidateAll(ctx)
	}
	var invalid []string
	for _, p := range req.Paths {
		tags, err := dumper.PathTags(p)
		if err != nil {
			invalid = append(invalid, err.Error())
			continue
		}
		res.Invalidated = append(res.Invalidated, tags...)
	}
	for _, t := range req.Tags {
		if t == "" {
			invalid = append(invalid, "dumper: empty tag")
			continue
		}
		res.Invalidated = append(res.Invalidated, t)
	}
	if len(invalid) > 0 {
		return Result{}, badRequest("purge: nothing purged: %s", strings.Join(invalid, "; "))
	}
	slices.Sort(res.Invalidated)
	res.Invalidated = slices.Compact(res.Invalidated)
	var errs []error
	if len(req.Paths) > 0 {
		errs = append(errs, h.Cache.InvalidatePaths(ctx, req.Paths...))
	}
	if len(req.Tags) > 0 {
		errs = append(errs, h.Cache.InvalidateTags(ctx, req.Tags...))
	}
	return res, errors.Join(errs...)
}
