package pgnotify_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/dumperhq/dumper"
	"github.com/dumperhq/dumper/pgnotify"
	"github.com/jackc/pgx/v5"
)

// A site whose flavor pages are invalidated whenever a row of ice_creams changes, whoever
// changes it. (Compiled, not run: it needs a database.)
func ExampleNewListener() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	config, err := pgx.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	tables := []pgnotify.Table{{
		Name:    "ice_creams",
		Columns: []string{"slug"}, // sent with each change, before and after
		Map: func(_ context.Context, c pgnotify.Change) (paths, tags []string, err error) {
			paths = []string{"/"}
			for _, row := range []map[string]string{c.Old, c.New} {
				if slug, ok := row["slug"]; ok {
					paths = append(paths, "/icecream/"+slug)
				}
			}
			return paths, nil, nil
		},
	}}

	// Install the triggers (or put pgnotify.SQL's text in a migration). Unchanged triggers
	// are left alone, so this is cheap at every start-up.
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		log.Fatal(err)
	}
	err = pgnotify.Install(ctx, conn, pgnotify.Options{}, tables...)
	conn.Close(ctx)
	if err != nil {
		log.Fatal(err)
	}

	listener, err := pgnotify.NewListener(config, pgnotify.Options{}, tables...)
	if err != nil {
		log.Fatal(err)
	}
	// While the listener is not live, changes may be missed: bypass the cache.
	cache, err := dumper.New(dumper.Options{Policy: dumper.Policy{Ignore: listener.Ignore}})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	// With gormdumper, run it with a Commits instead, the plugin's Invalidator too, so that
	// the writes the plugin invalidated after commit are not invalidated again (see the
	// package documentation).
	go listener.Run(ctx, cache)

	mux := http.NewServeMux() // the site's pages, each tagged "table:ice_creams"
	srv := &http.Server{Addr: ":8080", Handler: cache.Middleware(mux)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
