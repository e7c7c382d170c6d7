// Package profiling lets the benchmark (go run . -cpuprofile FILE,
// -memprofile FILE, in bench/) profile the server process itself. Only the
// bench's own server binary (bench/server) links it: the release binary
// neither carries runtime/pprof nor reads its variables.
package profiling
