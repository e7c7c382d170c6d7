package profiling

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// Start begins a CPU profile written to $LATCHKEY_CPUPROFILE, if set, and
// returns stop, which ends it and writes the allocation profile (heap
// samples since start, in use and allocated) to $LATCHKEY_MEMPROFILE, if
// set. main calls stop just before exiting, after a graceful shutdown.
func Start(getenv func(string) string, stderr io.Writer) (stop func()) {
	var cpu *os.File
	if path := getenv("LATCHKEY_CPUPROFILE"); path != "" {
		f, err := os.Create(path) // #nosec G304 -- a path the bench chose for its own profile
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "profiling: cpu:", err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				fmt.Fprintln(stderr, "profiling: cpu:", err)
			}
		}
		if path := getenv("LATCHKEY_MEMPROFILE"); path != "" {
			runtime.GC() // up-to-date in-use figures
			if err := writeProfile("allocs", path); err != nil {
				fmt.Fprintln(stderr, "profiling: mem:", err)
			}
		}
	}
}

func writeProfile(name, path string) error {
	f, err := os.Create(path) // #nosec G304 -- a path the bench chose for its own profile
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		_ = f.Close() // the write error is the one worth reporting
		return err
	}
	return f.Close()
}
