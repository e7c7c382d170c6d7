// Package profiling lets the benchmark (go run ./bench -cpuprofile FILE,
// -memprofile FILE) profile the server process itself. It is compiled in
// only with -tags pprof; release builds get the no-op Start in off.go, so
// they neither carry runtime/pprof nor read its variables.
package profiling
