package icecream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Writes validate everything before touching the database, so that bad input neither writes
// nor invalidates anything. They never call the cache: the gormdumper plugin invalidates the
// pages whose reads the rows they change could alter.

const (
	maxBodyBytes = 64 << 10
	maxSlugRunes = 100
	maxNameRunes = 200
	userCookie   = "user"
	maxUserRunes = 64
)

// flavorJSON and sizeJSON are the API's view of the models.
type flavorJSON struct {
	Slug  string   `json:"slug"`
	Name  string   `json:"name"`
	Sizes []string `json:"sizes"`
}

type sizeJSON struct {
	Slug    string   `json:"slug"`
	Name    string   `json:"name"`
	Flavors []string `json:"flavors"`
}

func toFlavorJSON(f IceCream) flavorJSON {
	j := flavorJSON{Slug: f.Slug, Name: f.Name, Sizes: []string{}}
	for _, s := range f.Sizes {
		j.Sizes = append(j.Sizes, s.Slug)
	}
	return j
}

func toSizeJSON(s Size) sizeJSON {
	j := sizeJSON{Slug: s.Slug, Name: s.Name, Flavors: []string{}}
	for _, f := range s.IceCreams {
		j.Flavors = append(j.Flavors, f.Slug)
	}
	return j
}

type createBody struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type renameBody struct {
	Name string `json:"name"`
}

func (h *handler) createFlavor(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if !decode(w, r, &b) || !check(w, validSlug(b.Slug), validName(b.Name)) {
		return
	}
	db := h.db.WithContext(r.Context())
	if exists, err := slugTaken(db, &IceCream{}, b.Slug); err != nil || exists {
		h.conflictOr500(w, r, "flavor", b.Slug, err)
		return
	}
	f := IceCream{Slug: b.Slug, Name: b.Name}
	if err := db.Create(&f).Error; err != nil {
		h.conflictOr500(w, r, "flavor", b.Slug, err)
		return
	}
	w.Header().Set("Location", flavorPath(f.Slug))
	writeJSON(w, http.StatusCreated, toFlavorJSON(f))
}

func (h *handler) renameFlavor(w http.ResponseWriter, r *http.Request) {
	var b renameBody
	if !decode(w, r, &b) || !check(w, validName(b.Name)) {
		return
	}
	f, ok := h.findFlavor(w, r, r.PathValue("slug"))
	if !ok {
		return
	}
	if f.Name != b.Name {
		err := h.db.WithContext(r.Context()).Model(&f).Omit(clause.Associations).Update("name", b.Name).Error
		if err != nil {
			h.internal(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, toFlavorJSON(f))
}

func (h *handler) deleteFlavor(w http.ResponseWriter, r *http.Request) {
	f, ok := h.findFlavor(w, r, r.PathValue("slug"))
	if !ok {
		return
	}
	// Select("Sizes") deletes the flavor's rows in the join table first.
	if err := h.db.WithContext(r.Context()).Select("Sizes").Delete(&f).Error; err != nil {
		h.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// addSize makes flavor {slug} available in size {size}. It writes nothing if it already is.
func (h *handler) addSize(w http.ResponseWriter, r *http.Request) {
	f, s, ok := h.findPair(w, r)
	if !ok {
		return
	}
	if !slices.ContainsFunc(f.Sizes, func(x Size) bool { return x.ID == s.ID }) {
		// An owner without its sizes loaded makes Append write the one new join row only;
		// with them, GORM would re-save every size and join row it has (ON CONFLICT DO
		// NOTHING): no invalidation, but more queries.
		owner := IceCream{ID: f.ID, Slug: f.Slug, Name: f.Name}
		if err := h.db.WithContext(r.Context()).Model(&owner).Association("Sizes").Append(&s); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeSize makes flavor {slug} unavailable in size {size}. It writes nothing if it already
// is.
func (h *handler) removeSize(w http.ResponseWriter, r *http.Request) {
	f, s, ok := h.findPair(w, r)
	if !ok {
		return
	}
	if slices.ContainsFunc(f.Sizes, func(x Size) bool { return x.ID == s.ID }) {
		if err := h.db.WithContext(r.Context()).Model(&f).Association("Sizes").Delete(&s); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) createSize(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if !decode(w, r, &b) || !check(w, validSlug(b.Slug), validName(b.Name)) {
		return
	}
	db := h.db.WithContext(r.Context())
	if exists, err := slugTaken(db, &Size{}, b.Slug); err != nil || exists {
		h.conflictOr500(w, r, "size", b.Slug, err)
		return
	}
	s := Size{Slug: b.Slug, Name: b.Name}
	if err := db.Create(&s).Error; err != nil {
		h.conflictOr500(w, r, "size", b.Slug, err)
		return
	}
	w.Header().Set("Location", sizePath(s.Slug))
	writeJSON(w, http.StatusCreated, toSizeJSON(s))
}

func (h *handler) renameSize(w http.ResponseWriter, r *http.Request) {
	var b renameBody
	if !decode(w, r, &b) || !check(w, validName(b.Name)) {
		return
	}
	s, ok := h.findSize(w, r, r.PathValue("slug"))
	if !ok {
		return
	}
	if s.Name != b.Name {
		err := h.db.WithContext(r.Context()).Model(&s).Omit(clause.Associations).Update("name", b.Name).Error
		if err != nil {
			h.internal(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, toSizeJSON(s))
}

func (h *handler) deleteSize(w http.ResponseWriter, r *http.Request) {
	s, ok := h.findSize(w, r, r.PathValue("slug"))
	if !ok {
		return
	}
	// Select("IceCreams") deletes the size's rows in the join table first.
	if err := h.db.WithContext(r.Context()).Select("IceCreams").Delete(&s).Error; err != nil {
		h.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// login signs the user in: it sets the user cookie and sends the browser to /me.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "malformed form: "+err.Error())
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	if !check(w, validUser(user)) {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     userCookie,
		Value:    url.QueryEscape(user),
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, "/me", http.StatusSeeOther)
}

// findFlavor loads the flavor with its sizes, or answers 404.
func (h *handler) findFlavor(w http.ResponseWriter, r *http.Request, slug string) (IceCream, bool) {
	var f IceCream
	err := h.db.WithContext(r.Context()).Preload("Sizes", byID).Where("slug = ?", slug).First(&f).Error
	return f, h.found(w, r, "flavor", slug, err)
}

// findSize loads the size with its flavors, or answers 404.
func (h *handler) findSize(w http.ResponseWriter, r *http.Request, slug string) (Size, bool) {
	var s Size
	err := h.db.WithContext(r.Context()).Preload("IceCreams", byID).Where("slug = ?", slug).First(&s).Error
	return s, h.found(w, r, "size", slug, err)
}

// findPair loads the flavor {slug} and the size {size} of a /api/icecream/{slug}/sizes/{size}
// request, or answers 404.
func (h *handler) findPair(w http.ResponseWriter, r *http.Request) (IceCream, Size, bool) {
	f, ok := h.findFlavor(w, r, r.PathValue("slug"))
	if !ok {
		return f, Size{}, false
	}
	s, ok := h.findSize(w, r, r.PathValue("size"))
	return f, s, ok
}

func (h *handler) found(w http.ResponseWriter, r *http.Request, kind, slug string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, gorm.ErrRecordNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown %s %q", kind, slug))
	default:
		h.internal(w, r, err)
	}
	return false
}

// slugTaken reports whether a row of model's table has slug.
func slugTaken(db *gorm.DB, model any, slug string) (bool, error) {
	var n int64
	err := db.Model(model).Where("slug = ?", slug).Count(&n).Error
	return n > 0, err
}

func (h *handler) conflictOr500(w http.ResponseWriter, r *http.Request, kind, slug string, err error) {
	if err == nil || isDuplicate(err) {
		writeError(w, http.StatusConflict, fmt.Sprintf("%s %q already exists", kind, slug))
		return
	}
	h.internal(w, r, err)
}

func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "icecream: api", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

// decode reads r's body as exactly one JSON object into dst, rejecting unknown fields. On
// failure it answers 400 (413 for a body too large) and returns false.
func decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("unexpected data after the JSON object")
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooBig.Limit))
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "empty body: expected a JSON object")
	default:
		writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
	return false
}

// check answers 400 with the first non-nil error and returns false, or returns true.
func check(w http.ResponseWriter, errs ...error) bool {
	for _, err := range errs {
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return false
		}
	}
	return true
}

// validSlug accepts 1 to 100 letters (any script), digits, '-' and '_': a slug is one path
// segment and needs no escaping beyond percent-encoding its non-ASCII letters.
func validSlug(slug string) error {
	if slug == "" {
		return errors.New("slug is required")
	}
	if utf8.RuneCountInString(slug) > maxSlugRunes {
		return fmt.Errorf("slug is longer than %d characters", maxSlugRunes)
	}
	for _, c := range slug {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '-' && c != '_' {
			return fmt.Errorf("slug %q may only contain letters, digits, '-' and '_'", slug)
		}
	}
	return nil
}

// validName accepts 1 to 200 printable characters, not all spaces. Names are stored and shown
// as given.
func validName(name string) error {
	return validText("name", name, maxNameRunes)
}

func validUser(user string) error {
	return validText("user", user, maxUserRunes)
}

func validText(field, s string, maxRunes int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%s is required", field)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", field)
	case utf8.RuneCountInString(s) > maxRunes:
		return fmt.Errorf("%s is longer than %d characters", field, maxRunes)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%s contains control characters", field)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
