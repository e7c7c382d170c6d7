package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleRoot finds the repository (the product module's folder) and the
// bench module inside it.
func moduleRoot() (root, benchDir string, err error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull || filepath.Base(filepath.Dir(gomod)) != "bench" {
		return "", "", errors.New("run the bench from its module: go -C bench run . (or make bench)")
	}
	benchDir = filepath.Dir(gomod)
	return filepath.Dir(benchDir), benchDir, nil
}

// goBuild builds a package of the module into out the way the Dockerfile
// builds a release: static (CGO_ENABLED=0, so no libc is loaded or
// mapped) and -trimpath, plus flags.
func goBuild(ctx context.Context, root, out, pkg string, flags ...string) error {
	args := append([]string{"build", "-trimpath"}, flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...) // #nosec G204 -- the go tool building this module's own packages
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// freeAddr returns a loopback address nobody listens on (closed again, so
// another process may in theory take it first; the start then fails
// loudly).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// proc is a server process started by the bench.
type proc struct {
	bin, dir string
	env      []string // as given to startProc, for restarting a twin
	cmd      *exec.Cmd
	url      string
	bareURL  string // the bare handler in the same process (-tags benchbare), if any
	logPath  string
	exited   chan struct{}
	waitErr  error
	// startup is exec → first 200 from /healthz.
	startup time.Duration
}

// startProc execs bin with env (ADDR is added) in dir and waits until
// GET /healthz answers 200.
func startProc(ctx context.Context, bin, dir string, env []string, logName string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, logName)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- a file in the bench's own temp dir
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	cmd.Env = append(cmd.Env, "ADDR="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &proc{bin: bin, dir: dir, env: env, cmd: cmd, url: "http://" + addr, logPath: logPath, exited: make(chan struct{})}

	poll := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	deadline := t0.Add(30 * time.Second)
	for {
		resp, err := poll.Get(p.url + "/healthz")
		if err == nil {
			_ = resp.Body.Close() // nothing to read from /healthz
			if resp.StatusCode == http.StatusOK {
				p.startup = time.Since(t0)
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited during start-up (%v):\n%s", filepath.Base(bin), p.waitErr, p.logTail())
		case <-ctx.Done():
			_ = p.stop() // interrupted: the interruption is the error to report
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			_ = p.stop() // the time-out is the error to report
			return nil, fmt.Errorf("%s: /healthz not 200 after 30 s:\n%s", filepath.Base(bin), p.logTail())
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// baseEnv is the little of the bench's environment a server inherits, so
// a developer's own DATABASE_URL, LIMIT_* or HASH_* cannot skew a run.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// stop sends SIGTERM (graceful shutdown, which also writes profiles) and
// waits; after 30 s it kills.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("did not stop within 30 s of SIGTERM; killed")
	}
	var exitErr *exec.ExitError
	if errors.As(p.waitErr, &exitErr) && exitErr.ExitCode() == -1 {
		return nil // the bare baseline dies of SIGTERM, as a Go program does by default
	}
	return p.waitErr
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath) // best effort, for error messages
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// mem is a process's memory, from /proc/PID/status, in bytes.
type mem struct {
	rss, hwm   int64 // resident now, and its peak
	anon, file int64 // resident anonymous (heap, stacks) and file-backed (the binary's pages)
}

// memStatus reads the process's memory figures.
func (p *proc) memStatus() (mem, error) {
	var m mem
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(fields[1], 10, 64) // the kernel writes numbers
		switch fields[0] {
		case "VmRSS:":
			m.rss = n << 10
		case "VmHWM:":
			m.hwm = n << 10
		case "RssAnon:":
			m.anon = n << 10
		case "RssFile:":
			m.file = n << 10
		}
	}
	if m.rss == 0 {
		return m, errors.New("no VmRSS in /proc status (Linux only)")
	}
	return m, sc.Err()
}

// resetPeak resets VmHWM to the current RSS (Linux ≥ 4.0), so a later
// reading is the peak of what happened in between.
func (p *proc) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}
