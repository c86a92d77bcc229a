package icecream

import (
	"context"
	"fmt"

	"github.com/dumperhq/dumper/pgnotify"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Listen installs the NOTIFY triggers on the shop's tables (idempotent, through a connection
// of its own made with config) and returns the listener that invalidates their changes, with
// opts (Channel, and the listener's own settings). db is not used: the tables need no lookup
// (see [NotifyTables]).
//
// Wire it as cmd/icecream does: the cache's Policy.Ignore is the listener's Ignore; a
// pgnotify.Commits in front of the cache (shared through the Redis store with several
// instances) is what both the gormdumper plugin ([CachedHandler]) and listener.Run invalidate
// through, so that a write through the API is invalidated once.
func Listen(ctx context.Context, config *pgx.ConnConfig, _ *gorm.DB, opts pgnotify.Options) (*pgnotify.Listener, error) {
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("icecream: connect to install the triggers: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tables := NotifyTables()
	if err := pgnotify.Install(ctx, conn, opts, tables...); err != nil {
		return nil, err
	}
	return pgnotify.NewListener(config, opts, tables...)
}

// NotifyTables returns the shop's tables for package pgnotify — ice_creams, sizes and their
// join table ice_cream_sizes — with no Map: a change made outside the application (psql, a
// migration, another service) invalidates its automatic tags, the row tags of the old and new
// values of the row's key columns (the catalog's: ids and slugs, and the join table's two
// foreign keys) and the table's scan tag, which are the tags the pages' reads carry
// (dependency capture, docs/capture.md). So a raw UPDATE of vanilla drops the pages that
// read vanilla by its id or slug, and those that list flavors, and no other; no page needs
// to be named, and nothing is looked up. What cannot be attributed to rows (a bulk statement,
// an oversized row, a reconnection) invalidates the tables' tags.
func NotifyTables() []pgnotify.Table {
	return []pgnotify.Table{
		{Name: tableIceCreams},
		{Name: tableSizes},
		{Name: tableJoin, Key: []string{"ice_cream_id", "size_id"}},
	}
}
