package dumper

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Read your writes: a client whose unsafe request succeeded gets a cookie, signed by the
// cache, that for the longest soft window makes its requests misses where others would be
// served a stale entry. The cookie only takes soft invalidation away from its holder, who
// waits for the render that replaces the entry (coalesced with the others) as with hard
// invalidation; it never bypasses the cache, and it is not part of any key. It carries its
// expiry and a MAC of it, so that it cannot be forged or extended, only replayed by its
// holder until it expires.

// writerCookie is the cookie's name.
const writerCookie = "dumper-writer"

// writerTTL is how long the cookie lasts, so that no invalidation the write made can be
// served to its client stale: the longest window of the cache's policies, or of an entry the
// cache has met if that is longer; an hour (the longest a response's own directives may ask
// for, on any instance) when no policy has one.
func (s *softState) writerTTL() time.Duration {
	p := time.Duration(s.policyWindow.Load())
	if p == 0 {
		return maxSoft
	}
	return max(p, time.Duration(s.metWindow.Load()))
}

// newWriterKey returns the key that signs the cookie: k, or a random one if k is nil.
func newWriterKey(k []byte) ([]byte, error) {
	if k == nil {
		k = make([]byte, 32)
		_, _ = rand.Read(k) // never fails (crypto/rand)
		return k, nil
	}
	if len(k) < 16 {
		return nil, errorf("Options.WriterKey has %d bytes, fewer than 16", len(k))
	}
	return append([]byte(nil), k...), nil
}

// writerMAC is the MAC of the cookie's expiry, in Unix seconds.
func (c *Cache) writerMAC(expiry string) string {
	h := hmac.New(sha256.New, c.soft.writerKey)
	h.Write([]byte(writerCookie + "\x00" + expiry))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// markWriter adds the cookie to the header of a successful unsafe request's response, when
// the cache may use soft invalidation: it has a soft policy or has met a soft entry, or its
// store was passed in Options, which other caches or instances may share and fill with soft
// entries this cache has not met yet.
func (m *middleware) markWriter(h http.Header) {
	if !m.c.soft.used.Load() && !m.c.soft.shared && !m.p.soft.on() {
		return
	}
	ttl := m.c.soft.writerTTL()
	expiry := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	ck := &http.Cookie{
		Name:     writerCookie,
		Value:    expiry + "." + m.c.writerMAC(expiry),
		Path:     "/",
		MaxAge:   int(ttl / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	h.Add("Set-Cookie", ck.String())
}

// isWriter reports whether r carries a valid cookie of this cache (or of an instance that
// shares its key, whose windows may be longer: up to an hour) that has not expired.
func (c *Cache) isWriter(r *http.Request) bool {
	for _, ck := range r.CookiesNamed(writerCookie) {
		expiry, mac, ok := strings.Cut(ck.Value, ".")
		if !ok {
			continue
		}
		sec, err := strconv.ParseInt(expiry, 10, 64)
		if err != nil || time.Now().Unix() > sec || sec > time.Now().Add(maxSoft).Unix() {
			continue
		}
		if hmac.Equal([]byte(mac), []byte(c.writerMAC(expiry))) {
			return true
		}
	}
	return false
}
