package pgnotify_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/dumperhq/dumper/pgnotify"
)

// TestListenerApplicationName: the listener's connection can be told apart in
// pg_stat_activity: its application_name is "dumper-pgnotify" unless the config names its own.
// The config passed to NewListener is left as it was.
func TestListenerApplicationName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, set, want string }{
		{"default", "", "dumper-pgnotify"},
		{"the config's own", "shop-invalidator", "shop-invalidator"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPG(t)
			p.exec("CREATE TABLE flavors (id bigint PRIMARY KEY, slug text NOT NULL)")
			opts := pgnotify.Options{Channel: p.channel}
			table := pgnotify.Table{Name: "flavors", Columns: []string{"slug"}}
			p.install(opts, table)

			cfg := p.config()
			delete(cfg.RuntimeParams, "application_name") // as PGAPPNAME may have set it
			if tt.set != "" {
				cfg.RuntimeParams["application_name"] = tt.set
			}
			// The listener's backend is the one at the other end of the port it dialed from.
			var port atomic.Int64
			var d net.Dialer
			cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				if tcp, ok := c.LocalAddr().(*net.TCPAddr); ok {
					port.Store(int64(tcp.Port))
				}
				return c, nil
			}
			l, err := pgnotify.NewListener(cfg, opts, table)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.RuntimeParams["application_name"]; got != tt.set {
				t.Errorf("NewListener changed the config's application_name to %q", got)
			}
			run(t, l, newRecorder(nil))
			if port.Load() == 0 {
				t.Skip("the DSN does not connect over TCP: the listener's backend cannot be found by port")
			}
			var got string
			err = p.admin.QueryRow(context.Background(),
				"SELECT application_name FROM pg_stat_activity WHERE client_port = $1 AND pid <> pg_backend_pid()", port.Load()).Scan(&got)
			if err != nil {
				t.Fatalf("the listener's backend in pg_stat_activity: %v", err)
			}
			if got != tt.want {
				t.Errorf("the listener's connection has application_name %q, want %q", got, tt.want)
			}
		})
	}
}
