module github.com/dumperhq/dumper/gormpg

go 1.26

replace github.com/dumperhq/dumper => ../

replace github.com/dumperhq/dumper/gormdumper => ../gormdumper

replace github.com/dumperhq/dumper/sqldumper => ../sqldumper

replace github.com/dumperhq/dumper/internal/testservice => ../internal/testservice

require (
	github.com/dumperhq/dumper v0.0.0-00010101000000-000000000000
	github.com/dumperhq/dumper/gormdumper v0.0.0-00010101000000-000000000000
	github.com/dumperhq/dumper/internal/testservice v0.0.0-00010101000000-000000000000
	github.com/dumperhq/dumper/sqldumper v0.0.0-00010101000000-000000000000
	github.com/glebarez/sqlite v1.11.0
	gorm.io/driver/postgres v1.6.3
	gorm.io/gorm v1.31.2
)

require (
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/glebarez/go-sqlite v1.21.2 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/jinzhu/inflection v1.0.0 // indirect
	github.com/jinzhu/now v1.1.5 // indirect
	github.com/mattn/go-isatty v0.0.17 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/pganalyze/pg_query_go/v6 v6.2.5 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	google.golang.org/protobuf v1.33.0 // indirect
	modernc.org/libc v1.22.5 // indirect
	modernc.org/mathutil v1.5.0 // indirect
	modernc.org/memory v1.5.0 // indirect
	modernc.org/sqlite v1.23.1 // indirect
)
