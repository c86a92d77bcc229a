package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/dumperhq/dumper/internal/wait"
	"github.com/dumperhq/dumper/redisstore"
)

// TestRecords checks PutRecord and Records against Redis: values come back in the order of
// the keys asked, missing ones as nil, every instance on the prefix sees them and no other,
// and they go once their lifetime is over.
func TestRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := uniquePrefix(t)
	a := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	b := newStore(t, redisstore.Options{Prefix: prefix, Strict: true})
	other := newStore(t, redisstore.Options{Strict: true})
	if err := a.PutRecord(ctx, "1:42", []byte(`["/x"]`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := a.PutRecord(ctx, "1:43", []byte{0, '\n', 0xff}, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, err := b.Records(ctx, "1:43", "nope", "1:42")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0]) != "\x00\n\xff" || got[1] != nil || string(got[2]) != `["/x"]` {
		t.Errorf("Records = %q, want the binary value, nil, and [\"/x\"]", got)
	}
	if got, err := other.Records(ctx, "1:42"); err != nil || got[0] != nil {
		t.Errorf("another prefix reads %q, %v: want nothing", got, err)
	}
	if got, err := b.Records(ctx); err != nil || got != nil {
		t.Errorf("Records() = %q, %v", got, err)
	}
	wait.For(t, 5*time.Second, "the short-lived record to expire", func() bool {
		got, err := b.Records(ctx, "1:43")
		return err == nil && got[0] == nil
	})
	if got, err := b.Records(ctx, "1:42"); err != nil || string(got[0]) != `["/x"]` {
		t.Errorf("the longer-lived record: %q, %v", got, err)
	}
}
