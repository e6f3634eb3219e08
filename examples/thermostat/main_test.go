package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The thermostat across two daemons (issue 11, acceptance 5): this
// program with its native builtins, and a `unode daemon` that the
// thermostat granted a token for ffi:Sensor. The daemon's CLI averages
// ten readings on the thermostat with the token, is denied without it,
// and a panicking native fails its call while the thermostat goes on
// serving.

// commandTimeout bounds every command; a hang fails the test instead of
// the run. No test asserts how long anything takes.
const commandTimeout = 60 * time.Second

func build(t *testing.T, dir, out, pkg string) string {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, out)
	cmd := exec.Command(gotool, "build", "-o", bin, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return bin
}

// proc is a long-running process whose first stdout line is its ready
// message.
type proc struct {
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{}
}

// lockedBuffer is a bytes.Buffer the process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, env []string, ready any, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case line, ok := <-lines:
		if !ok {
			<-p.done
			t.Fatalf("%s exited before it was ready: %s", filepath.Base(bin), p.stderr.String())
		}
		if err := json.Unmarshal([]byte(line), ready); err != nil {
			t.Fatalf("%s ready line %q: %v", filepath.Base(bin), line, err)
		}
	case <-time.After(commandTimeout):
		t.Fatalf("%s not ready within %v", filepath.Base(bin), commandTimeout)
	}
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// unode runs the CLI against repo; it returns stdout, stderr and whether
// it exited 0.
func unode(t *testing.T, bin, repo string, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "UNODE_PATH="+repo)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(commandTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("unode %s: no exit within %v", strings.Join(args, " "), commandTimeout)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), err == nil
}

func TestThermostatAcrossDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two programs; skipped in -short mode")
	}
	dir := t.TempDir()
	unodeBin := build(t, dir, "unode", "github.com/unode-dev/unode/cmd/unode")
	thermostatBin := build(t, dir, "thermostat", ".")

	// The monitoring node: a plain `unode daemon`.
	monitorRepo := filepath.Join(dir, "monitor")
	if _, errs, ok := unode(t, unodeBin, monitorRepo, "init"); !ok {
		t.Fatalf("unode init: %s", errs)
	}
	var monitor struct {
		ID    string   `json:"id"`
		Addrs []string `json:"addrs"`
	}
	start(t, []string{"UNODE_PATH=" + monitorRepo}, &monitor, unodeBin, "daemon", "--json", "--listen", "/ip4/127.0.0.1/tcp/0")

	// The thermostat grants the monitor a token for ffi:Sensor.
	var th ready
	thermostat := start(t, nil, &th, thermostatBin, "-json", "-repo", filepath.Join(dir, "thermostat-repo"),
		"-listen", "/ip4/127.0.0.1/tcp/0", "-grant", monitor.ID)
	tok := th.Tokens[monitor.ID]
	if tok == "" || len(th.Addrs) == 0 || len(th.Natives) != 2 {
		t.Fatalf("thermostat ready: %+v", th)
	}
	at := th.Addrs[0]

	// The monitor adds the definitions that name the natives, from the
	// source the thermostat printed.
	var src strings.Builder
	for _, n := range th.Natives {
		src.WriteString(n.Source)
	}
	lib := filepath.Join(dir, "thermostat.u")
	if err := os.WriteFile(lib, []byte(src.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, ok := unode(t, unodeBin, monitorRepo, "add", lib); !ok || !strings.Contains(out, "Sensor.temperature") {
		t.Fatalf("unode add: %s %s", out, errs)
	}
	for _, n := range th.Natives {
		if out, _, _ := unode(t, unodeBin, monitorRepo, "names"); !strings.Contains(out, n.Def.String()) {
			t.Errorf("the monitor's %s is not the thermostat's definition %s: %s", n.Name, n.Def, out)
		}
	}

	avg := "List.sum (List.map (i -> !Sensor.temperature) (List.range 0 10)) / 10.0"
	if out, errs, ok := unode(t, unodeBin, monitorRepo, "eval", "--at", at, avg); ok || !strings.Contains(errs, "denied") {
		t.Errorf("without the token: stdout %q stderr %q, want a denial", out, errs)
	}
	out, errs, ok := unode(t, unodeBin, monitorRepo, "eval", "--at", at, "--token", tok, avg)
	if !ok || strings.TrimSpace(out) != "20.65" {
		t.Fatalf("average with the token: %q %q, want 20.65", out, errs)
	}
	// Run on the monitor itself, the call says where the sensor lives.
	if _, errs, ok := unode(t, unodeBin, monitorRepo, "eval", "!Sensor.temperature"); ok || !strings.Contains(errs, "native builtin of node "+th.ID) {
		t.Errorf("on the monitor: %q, want the thermostat named", errs)
	}

	// A panicking native fails its call; the thermostat keeps serving.
	for range 2 {
		if _, errs, ok := unode(t, unodeBin, monitorRepo, "eval", "--at", at, "--token", tok, "Sensor.raw 9"); ok || !strings.Contains(errs, "panicked") {
			t.Errorf("Sensor.raw 9: %q, want the panic as the call's error", errs)
		}
		out, errs, ok := unode(t, unodeBin, monitorRepo, "eval", "--at", at, "--token", tok, "(Sensor.raw 1, !Sensor.temperature)")
		if !ok || !strings.HasPrefix(strings.TrimSpace(out), "(498, ") {
			t.Fatalf("after the panic: %q %q", out, errs)
		}
	}
	if !thermostat.running() {
		t.Fatalf("the thermostat exited: %s", thermostat.stderr.String())
	}
	if !strings.Contains(thermostat.stderr.String(), "native builtin panicked") {
		t.Errorf("the thermostat did not log the panic: %s", thermostat.stderr.String())
	}
}
