module github.com/dumperhq/dumper/internal/testservice

go 1.26

// The one helper the tests of every module wait with, github.com/dumperhq/dumper/internal/wait,
// is in the root module, which needs nothing but otter; it does not depend on this one.
replace github.com/dumperhq/dumper => ../..

require (
	github.com/dumperhq/dumper v0.0.0-00010101000000-000000000000
	github.com/jackc/pgx/v5 v5.12.0
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	golang.org/x/text v0.41.0 // indirect
)
