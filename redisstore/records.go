package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// PutRecord stores value under key for ttl (at least a millisecond), replacing any value
// there, outside the cache's entries: a small value that every instance sharing the prefix
// reads with [Store.Records]. pgnotify.Commits keeps there what each instance invalidated
// after each commit (a pgnotify.RecordStore). It is one round trip, bounded by
// Options.Timeout; a failure is returned, not retried.
func (s *Store) PutRecord(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	client, err := s.conn()
	if err != nil {
		return s.fail("put record", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ms := max(ttl.Milliseconds(), 1)
	s.roundTrips.Add(1)
	cmd := client.B().Set().Key(s.recordPrefix + key).Value(rueidis.BinaryString(value)).PxMilliseconds(ms).Build()
	if err := client.Do(ctx, cmd).Error(); err != nil {
		return s.fail("put record", err)
	}
	return nil
}

// Records returns the values stored under keys with [Store.PutRecord], in order, nil for a
// key with none (never stored, expired or evicted). It is one round trip, bounded by
// Options.Timeout.
func (s *Store) Records(ctx context.Context, keys ...string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	client, err := s.conn()
	if err != nil {
		return nil, s.fail("records", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.recordPrefix + k
	}
	s.roundTrips.Add(1)
	vals, err := client.Do(ctx, client.B().Mget().Key(full...).Build()).ToArray()
	if err != nil {
		return nil, s.fail("records", err)
	}
	if len(vals) != len(keys) {
		return nil, s.fail("records", errors.New("MGET answered "+strconv.Itoa(len(vals))+" values for "+strconv.Itoa(len(keys))+" keys"))
	}
	out := make([][]byte, len(keys))
	for i, v := range vals {
		if v.IsNil() {
			continue
		}
		str, err := v.ToString()
		if err != nil {
			return nil, s.fail("records", err)
		}
		out[i] = []byte(str)
	}
	return out, nil
}
