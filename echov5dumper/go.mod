module github.com/dumperhq/dumper/echov5dumper

go 1.26

replace github.com/dumperhq/dumper => ../

require (
	github.com/dumperhq/dumper v0.0.0-00010101000000-000000000000
	github.com/labstack/echo/v5 v5.4.4
)

require (
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)
