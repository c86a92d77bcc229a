package purge

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// ErrForbidden is what a [Handler.Authorize] function returns, wrapped or not, for a client
// it knows but does not allow to purge: the request is refused with 403 Forbidden. Any other
// error refuses it with 401 Unauthorized.
var ErrForbidden = errors.New("purge: forbidden")

// errNoCredentials and errBadToken are the refusals of the Token check.
var (
	errNoCredentials = errors.New("purge: no bearer token")
	errBadToken      = errors.New("purge: invalid bearer token")
)

// BearerToken returns the token of the request's Authorization header, "Bearer <token>"
// (RFC 6750 §2.1; the scheme in any letter case), and whether there is exactly one such
// header. It is for [Handler.Authorize] functions that keep several tokens; compare them in
// constant time, as [Handler.Token] is compared.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// tokenMatches reports whether got is want, in a time that depends on neither: it compares
// their SHA-256 digests with subtle.ConstantTimeCompare, so that neither the position of the
// first difference nor the length of want shows in the time taken.
func tokenMatches(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// checkToken is the default authorization: the request's bearer token must be token.
func checkToken(r *http.Request, token string) error {
	got, ok := BearerToken(r)
	if !ok {
		return errNoCredentials
	}
	if !tokenMatches(got, token) {
		return errBadToken
	}
	return nil
}
