package icecream

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dumperhq/dumper/pgnotify"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Listen installs the NOTIFY triggers on the shop's tables (idempotent, through a connection
// of its own made with config) and returns the listener that maps their changes to the pages
// that show them, with opts (Channel, and the listener's own settings).
//
// Wire it as cmd/icecream does: the cache's Policy.Ignore is the listener's Ignore; a
// pgnotify.Commits in front of the cache (shared through the Redis store with several
// instances) is what both the gormdumper plugin ([CachedHandler]) and listener.Run invalidate
// through, so that a write through the API is invalidated once.
func Listen(ctx context.Context, config *pgx.ConnConfig, db *gorm.DB, opts pgnotify.Options) (*pgnotify.Listener, error) {
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("icecream: connect to install the triggers: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tables := NotifyTables(db)
	if err := pgnotify.Install(ctx, conn, opts, tables...); err != nil {
		return nil, err
	}
	return pgnotify.NewListener(config, opts, tables...)
}

// NotifyTables returns the shop's tables for package pgnotify — ice_creams, sizes and their
// join table ice_cream_sizes — each mapping a change made outside the application (psql, a
// migration, another service) to the pages the models' DependentPaths name:
//
//   - a flavor: the home page, its page under its old and its new slug, and the page of
//     each size it comes in;
//   - a size: its page under its old and its new slug, and the page of each flavor served
//     in it;
//   - a join row, which carries two ids only: the page of its flavor and of its size.
//
// The related pages are looked up in db when the notification arrives, after the commit.
// That is enough: a page the lookup no longer finds is named by another change of the same
// commit (a join row deleted, or the row itself, whose old slug travels with its change).
// The alternative, the table tags, would drop every flavor and size page on any single-row
// change, since each of those pages carries the tags of all three tables; table tags are kept
// for what cannot be attributed to rows (bulk statements, oversized rows, reconnection),
// and for a failed lookup.
func NotifyTables(db *gorm.DB) []pgnotify.Table {
	return []pgnotify.Table{
		{
			Name:    tableIceCreams,
			Columns: []string{"slug"},
			Map: func(ctx context.Context, c pgnotify.Change) (paths, tags []string, err error) {
				paths = append([]string{"/"}, slugPaths(c, flavorPath)...)
				sizes, err := lookup(ctx, db, `SELECT s.slug FROM sizes s JOIN ice_cream_sizes j ON j.size_id = s.id
					WHERE j.ice_cream_id = ?`, c.Key[0])
				for _, s := range sizes {
					paths = append(paths, sizePath(s))
				}
				return paths, nil, err
			},
		},
		{
			Name:    tableSizes,
			Columns: []string{"slug"},
			Map: func(ctx context.Context, c pgnotify.Change) (paths, tags []string, err error) {
				paths = slugPaths(c, sizePath)
				flavors, err := lookup(ctx, db, `SELECT f.slug FROM ice_creams f JOIN ice_cream_sizes j ON j.ice_cream_id = f.id
					WHERE j.size_id = ?`, c.Key[0])
				for _, f := range flavors {
					paths = append(paths, flavorPath(f))
				}
				return paths, nil, err
			},
		},
		{
			Name: tableJoin,
			Key:  []string{"ice_cream_id", "size_id"},
			Map: func(ctx context.Context, c pgnotify.Change) (paths, tags []string, err error) {
				flavors, err := lookup(ctx, db, "SELECT slug FROM ice_creams WHERE id = ?", c.Key[0])
				if err != nil {
					return nil, nil, err
				}
				sizes, err := lookup(ctx, db, "SELECT slug FROM sizes WHERE id = ?", c.Key[1])
				for _, f := range flavors {
					paths = append(paths, flavorPath(f))
				}
				for _, s := range sizes {
					paths = append(paths, sizePath(s))
				}
				return paths, nil, err
			},
		},
	}
}

// slugPaths returns the page of the row before and after the change.
func slugPaths(c pgnotify.Change, path func(slug string) string) []string {
	var paths []string
	for _, row := range []map[string]string{c.Old, c.New} {
		if slug, ok := row["slug"]; ok {
			paths = append(paths, path(slug))
		}
	}
	return paths
}

// lookup returns the slugs that query selects for the row id.
func lookup(ctx context.Context, db *gorm.DB, query, id string) ([]string, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("icecream: id %q: %w", id, err)
	}
	var slugs []string
	if err := db.WithContext(ctx).Raw(query, n).Scan(&slugs).Error; err != nil {
		return nil, fmt.Errorf("icecream: look up related pages: %w", err)
	}
	return slugs, nil
}
