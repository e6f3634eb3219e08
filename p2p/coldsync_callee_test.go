package p2p

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The callee of BenchmarkColdSync in a process of its own, so that the
// CPU it uses is measured apart from the caller's: getrusage of that
// process, everything it runs included (the handler, the store, the
// transport, its garbage collector). The process is this test binary
// again, running BenchmarkColdSync with coldSyncCalleeEnv set, which
// makes it serve calleeProc's requests instead of benchmarking:
//
//	node  -> "addr <multiaddr>": close the previous node, start a fresh one
//	cpu   -> "cpu <ns>": the CPU time (user and system) the process has used
//	quit  -> the process ends
//
// Replies are the stdout lines that start with calleeReplyPrefix (the
// testing package writes its own lines there too).

const (
	coldSyncCalleeEnv = "UNODE_COLDSYNC_CALLEE"
	calleeReplyPrefix = "coldsync-callee: "
	// calleeProfileEnv, if set, names a file for the callee process's
	// CPU profile (absolute: the test runs in the package directory).
	calleeProfileEnv = "UNODE_COLDSYNC_CALLEE_CPUPROFILE"
	// calleeMemProfileEnv, likewise, for its allocation profile.
	calleeMemProfileEnv = "UNODE_COLDSYNC_CALLEE_MEMPROFILE"
	// calleeSettle is how long the callee is left to finish what a call
	// leaves it to do after the reply (the audit log's writer works
	// within capabilities.AuditWindow, 100 ms) before its CPU is read.
	calleeSettle = 150 * time.Millisecond
	// calleeWarmups is how many cold calls the callee process serves
	// before the measured ones (BenchmarkColdSync): the first calls of
	// a fresh process cost more than a running daemon's (its heap and
	// pools grow, its pages are touched for the first time).
	calleeWarmups = 4
)

// calleeProc is a callee process started by startCalleeProc.
type calleeProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startCalleeProc(b *testing.B) *calleeProc {
	b.Helper()
	args := []string{"-test.run=^$", "-test.bench=^BenchmarkColdSync$", "-test.benchtime=1x"}
	if f := os.Getenv(calleeProfileEnv); f != "" {
		// The callee's own profile (each process started overwrites it:
		// filter the benchmark down to one case).
		args = append(args, "-test.cpuprofile="+f)
	}
	if f := os.Getenv(calleeMemProfileEnv); f != "" {
		args = append(args, "-test.memprofile="+f, "-test.memprofilerate=4096")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), coldSyncCalleeEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &calleeProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		fmt.Fprintln(p.in, "quit")
		p.in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return p
}

// ask sends a request and returns its reply's argument.
func (p *calleeProc) ask(b *testing.B, req, reply string) string {
	b.Helper()
	if _, err := fmt.Fprintln(p.in, req); err != nil {
		b.Fatalf("callee process: %v", err)
	}
	for p.out.Scan() {
		line, ok := strings.CutPrefix(p.out.Text(), calleeReplyPrefix)
		if !ok {
			continue
		}
		arg, ok := strings.CutPrefix(line, reply+" ")
		if !ok {
			b.Fatalf("callee process answered %q to %q", line, req)
		}
		return arg
	}
	b.Fatalf("callee process ended (%v) without answering %q", p.out.Err(), req)
	return ""
}

// fresh starts a new node in the process and returns its address.
func (p *calleeProc) fresh(b *testing.B) string { return p.ask(b, "node", "addr") }

// cpu is the CPU time the process has used so far.
func (p *calleeProc) cpu(b *testing.B) time.Duration {
	ns, err := strconv.ParseInt(p.ask(b, "cpu", "cpu"), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ns)
}

// serveColdSyncCallee is the callee process's side: a node as
// newTestNode makes it (defaults), one at a time.
func serveColdSyncCallee(b *testing.B) {
	ctx := context.Background()
	var n *Node
	defer func() {
		if n != nil {
			n.Close()
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "node":
			if n != nil {
				n.Close()
			}
			var err error
			if n, err = New(ctx); err != nil {
				b.Fatal(err)
			}
			fmt.Printf("%saddr %s\n", calleeReplyPrefix, n.Addrs()[0])
		case "cpu":
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				b.Fatal(err)
			}
			fmt.Printf("%scpu %d\n", calleeReplyPrefix, ru.Utime.Nano()+ru.Stime.Nano())
		case "quit":
			return
		}
	}
}
