// Command bare is the floor Latchkey's process-level figures are compared
// with (go run ./bench builds it the same way as latchkey): the bare Echo
// server of internal/bare as a process of its own. Its binary size,
// start-up time and idle RSS are what Echo and the Go runtime cost before
// any of Latchkey's own work.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey-auth/latchkey/bench/internal/bare"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	srv := bare.Serve(ln)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	_ = srv.Close()
}
