//go:build !benchbare

package bare

import "io"

// StartInProcess does nothing in builds without -tags benchbare: release
// binaries never open the bench's extra listener.
func StartInProcess(func(string) string, io.Writer) (stop func()) { return func() {} }
