package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrPeerUnavailable means a peer could not be installed or started on this machine. Tests skip
// on it locally and fail on it under CI=true.
var ErrPeerUnavailable = errors.New("peer unavailable")

// InCI reports whether the tests run in CI (CI=true), where a missing peer is a failure.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// RepoRoot returns the module root: the nearest directory at or above the working directory
// that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("e2e: no go.mod above the working directory; run the tests from inside the repo")
		}
		dir = parent
	}
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1. The port is released before it
// is returned, so a peer started right after can bind it (a small race that loopback-only test
// runs accept).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePorts returns n distinct free loopback ports.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// WaitHTTP polls url until it answers 200, the process (if any) exits, or ctx ends.
func WaitHTTP(ctx context.Context, url string, p *Process) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			last = err
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before %s was ready: %v; log %s:\n%s", p.Name, url, p.Err(), p.LogPath, p.Tail(30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", url, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Process is a peer running in its own process group with stdout and stderr in a log file.
type Process struct {
	Name    string
	LogPath string
	Cmd     *exec.Cmd
	Started time.Time

	done chan struct{}
	mu   sync.Mutex
	err  error
	log  *os.File
}

// StartProcess starts cmd in a new process group, appending its output to logPath.
func StartProcess(name, logPath string, cmd *exec.Cmd) (*Process, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "# %s: %s\n", name, strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, Cmd: cmd, Started: time.Now(), done: make(chan struct{}), log: f}
	pidFile := logPath + ".pid"
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"+cmd.Path+"\n"), 0o644)
	go func() {
		err := cmd.Wait()
		os.Remove(pidFile)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// ReapLeftovers ends peers that an earlier run in dir started and did not stop (a test binary
// that panics skips TestMain's cleanup). Each StartProcess leaves <log>.pid with the process
// group id and the binary; a group is killed only while that process still runs that binary.
func ReapLeftovers(dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	var reaped []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		os.Remove(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 {
			continue
		}
		pid, err := strconv.Atoi(lines[0])
		if err != nil || pid <= 1 {
			continue
		}
		exe, err := os.Readlink("/proc/" + lines[0] + "/exe")
		cmdline, _ := os.ReadFile("/proc/" + lines[0] + "/cmdline")
		if err != nil || (exe != lines[1] && !strings.Contains(string(cmdline), lines[1])) {
			continue
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		reaped = append(reaped, filepath.Base(f))
	}
	return reaped
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the process's exit error once it has ended.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace. It only signals the group
// this Process started.
func (p *Process) Stop(grace time.Duration) {
	if p == nil || p.Exited() {
		return
	}
	pgid := p.Cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

// Tail returns the last n lines of the process log, for failure messages.
func (p *Process) Tail(n int) string {
	return TailFile(p.LogPath, n)
}

// TailFile returns the last n lines of a file ("" when it cannot be read).
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runScript runs one of the e2e/peers install scripts and returns its stdout lines. A failure
// wraps ErrPeerUnavailable with the script's stderr.
func runScript(ctx context.Context, root, script string, env ...string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "e2e", "peers", script))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: e2e/peers/%s failed: %v\n%s", ErrPeerUnavailable, script, err, errb.String())
	}
	var lines []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// InstallEnvoy runs e2e/peers/install-envoy.sh (idempotent) and returns the envoy binary path.
// ENVOY_BIN, when set, skips the install.
func InstallEnvoy(ctx context.Context, root string) (string, error) {
	if p := os.Getenv("ENVOY_BIN"); p != "" {
		return p, nil
	}
	lines, err := runScript(ctx, root, "install-envoy.sh")
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%w: install-envoy.sh printed no path", ErrPeerUnavailable)
	}
	return lines[len(lines)-1], nil
}

// KeycloakInstall is where install-keycloak.sh put Keycloak and which JDK runs it.
type KeycloakInstall struct {
	Home     string // KEYCLOAK_HOME, holds bin/kc.sh
	JavaHome string // a Java 21+ JDK
}

// InstallKeycloak runs e2e/peers/install-keycloak.sh (idempotent).
func InstallKeycloak(ctx context.Context, root string) (KeycloakInstall, error) {
	lines, err := runScript(ctx, root, "install-keycloak.sh")
	if err != nil {
		return KeycloakInstall{}, err
	}
	var in KeycloakInstall
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "KEYCLOAK_HOME="); ok {
			in.Home = v
		}
		if v, ok := strings.CutPrefix(l, "JAVA_HOME="); ok {
			in.JavaHome = v
		}
	}
	if in.Home == "" || in.JavaHome == "" {
		return in, fmt.Errorf("%w: install-keycloak.sh printed %q, want KEYCLOAK_HOME= and JAVA_HOME= lines", ErrPeerUnavailable, lines)
	}
	return in, nil
}
