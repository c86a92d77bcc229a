// Package frameworktest runs the gin and echo adapters (gindumper, echodumper, echov5dumper)
// with a data layer's capture: pages read through GORM with the request's context, in a
// handler of each framework, are tagged with the rows they read, and a write through GORM
// drops exactly those pages. It is a module of its own so that the adapters' modules need
// neither GORM nor a database driver.
package frameworktest
