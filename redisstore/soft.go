package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/dumperhq/dumper"
)

// Soft invalidation (dumper.Store): the scripts keep an entry with a soft window past its
// invalidation, judged by Redis time (scripts.go); Lease lets one instance at a time render
// a stale entry's page anew.

var _ dumper.Leaser = (*Store)(nil)

// softWindow is how long past its invalidation Redis keeps e.
func softWindow(e *dumper.Entry) time.Duration {
	return time.Duration(max(e.StaleWhileRevalidate, e.StaleIfError)) * time.Second
}

// Lease implements [dumper.Leaser] with a key set only if it is absent (SET NX), for at most
// ttl, holding a random token that release checks before it deletes the key.
func (s *Store) Lease(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error) {
	client, err := s.conn()
	if err != nil {
		return nil, false, s.fail("lease", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	token := hex.EncodeToString(b[:])
	k := s.leasePrefix + key
	ms := strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.roundTrips.Add(1)
	n, err := leaseLua.Exec(cctx, client, []string{k}, []string{token, ms}).AsInt64()
	if err != nil {
		return nil, false, s.fail("lease", err)
	}
	if n != 1 {
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		s.roundTrips.Add(1)
		if err := releaseLua.Exec(ctx, client, []string{k}, []string{token}).Error(); err != nil {
			// The lease runs out by itself.
			s.log.WarnContext(ctx, "redisstore: releasing a lease failed", "key", key, "err", s.fail("lease", err))
		}
	}, true, nil
}
