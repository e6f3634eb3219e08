package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/testground/sdk-go/ptypes"
	"github.com/testground/sdk-go/runtime"
	tgclient "github.com/testground/sdk-go/sync"
	tgsync "github.com/testground/sync-service"
	"github.com/testground/testground/pkg/logging"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The sync service logs every connection an instance closes, and every
// one a killed instance drops, on the harness's output: errors only.
func init() { logging.SetLevel(zapcore.ErrorLevel) }

// Group is a set of instances with the same role and parameters, as in
// a Testground composition.
type Group struct {
	ID        string
	Instances int
	Params    map[string]string
}

// Case is one run of a test case.
type Case struct {
	Plan   string // the plan's name (TEST_PLAN)
	Name   string // the test case (TEST_CASE)
	Groups []Group
	// Params are every group's, under the group's own.
	Params map[string]string
	// Env is added to every instance's environment.
	Env []string
}

// Instances counts the case's instances.
func (c Case) Instances() int {
	n := 0
	for _, g := range c.Groups {
		n += g.Instances
	}
	return n
}

// Run says how to run a case.
type Run struct {
	Binary  string // the built plan
	Link    Link
	OutDir  string        // each instance's outputs go to OutDir/<group>/<i>
	Timeout time.Duration // the whole case; instances still running then are killed
	Logf    func(format string, args ...any)
}

// Instance is what became of one instance.
type Instance struct {
	Group   string
	Index   int // within its group
	Outcome string
	Err     string // the failure or crash it reported, or how it ended
	Exit    error
	Output  string // its outputs directory
}

// Outcomes of an instance.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeCrash   = "crash"
	OutcomeNone    = "no outcome" // ended (or was killed) without reporting one
)

// Result is a case's run.
type Result struct {
	Case      Case
	Link      Link
	Instances []Instance
	Metrics   []Metric
	Elapsed   time.Duration
	// Problems are disagreements between what the instances logged and
	// what reached the sync service.
	Problems []string
}

// Passed reports whether every instance reported success and exited 0.
func (r *Result) Passed() bool {
	if len(r.Problems) > 0 {
		return false
	}
	for _, in := range r.Instances {
		if in.Outcome != OutcomeSuccess || in.Exit != nil {
			return false
		}
	}
	return len(r.Instances) > 0
}

// failGrace is how long the other instances may go on once one has
// failed.
const failGrace = 10 * time.Second

// RunCase runs c's instances as separate processes of r.Binary under
// the sdk's environment contract, with an embedded sync service and a
// proxy in front of each, and waits until every one has ended (or
// r.Timeout). An instance passes when it reports success, through the
// sync service's event stream as Testground's runners read it, and
// exits 0.
func RunCase(ctx context.Context, c Case, r Run) (*Result, error) {
	logf := r.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()

	svc, err := tgsync.NewDefaultService(ctx, zap.NewNop().Sugar())
	if err != nil {
		return nil, err
	}
	srv, err := tgsync.NewServer(svc, 0)
	if err != nil {
		return nil, err
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	port := strconv.Itoa(srv.Port())

	runID := fmt.Sprintf("%s-%d", c.Name, time.Now().UnixNano())
	n := c.Instances()
	// The local:exec runner's subnet, as Testground sets it.
	_, subnet, _ := net.ParseCIDR("127.1.0.0/16")
	rp := runtime.RunParams{TestPlan: c.Plan, TestCase: c.Name, TestRun: runID, TestInstanceCount: n,
		TestSubnet: &ptypes.IPNet{IPNet: *subnet}}

	// The outcomes, as instances report them (by group: events carry no
	// instance number).
	os.Setenv(tgclient.EnvServiceHost, "127.0.0.1")
	os.Setenv(tgclient.EnvServicePort, port)
	client, err := tgclient.NewGenericClient(ctx, zap.NewNop().Sugar())
	if err != nil {
		return nil, fmt.Errorf("sync client: %w", err)
	}
	defer client.Close()
	events, err := client.SubscribeEvents(tgclient.WithRunParams(ctx, &rp), &rp)
	if err != nil {
		return nil, fmt.Errorf("subscribing to events: %w", err)
	}
	var evMu gosync.Mutex
	var failed atomic.Bool                    // an instance reported a failure or crashed
	outcomes := map[string][]*runtime.Event{} // terminal events by group
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for {
			select {
			case e := <-events:
				if e == nil {
					return
				}
				if e.FailureEvent != nil || e.CrashEvent != nil {
					failed.Store(true)
				}
				if e.SuccessEvent != nil || e.FailureEvent != nil || e.CrashEvent != nil {
					g := groupOf(e)
					evMu.Lock()
					outcomes[g] = append(outcomes[g], e)
					total := 0
					for _, es := range outcomes {
						total += len(es)
					}
					evMu.Unlock()
					if total == n {
						return
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	px := newProxies()
	defer px.close()
	ports, err := freePorts(ctx, n)
	if err != nil {
		return nil, err
	}

	type proc struct {
		cmd   *exec.Cmd
		inst  *Instance
		log   *os.File
		done  chan struct{}
		state *os.ProcessState
	}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			if p.state == nil && p.cmd.Process != nil {
				p.cmd.Process.Kill()
				<-p.done
			}
		}
	}()
	k := 0
	for _, g := range c.Groups {
		params := map[string]string{}
		for key, v := range c.Params {
			params[key] = v
		}
		for key, v := range g.Params {
			params[key] = v
		}
		for i := range g.Instances {
			upstream := fmt.Sprintf("127.0.0.1:%d", ports[k])
			proxyAddr, err := px.add(fmt.Sprintf("%s-%d", g.ID, i), upstream, r.Link)
			if err != nil {
				return nil, err
			}
			k++
			odir := filepath.Join(r.OutDir, g.ID, strconv.Itoa(i))
			// The sdk appends to its files: a run starts from nothing.
			if err := os.RemoveAll(odir); err != nil {
				return nil, err
			}
			tmp := filepath.Join(odir, "tmp")
			if err := os.MkdirAll(tmp, 0o755); err != nil {
				return nil, err
			}
			ip := rp
			ip.TestGroupID = g.ID
			ip.TestGroupInstanceCount = g.Instances
			ip.TestInstanceParams = params
			ip.TestOutputsPath = odir
			ip.TestTempPath = tmp
			ip.TestSidecar = false
			ip.TestStartTime = time.Now()
			ip.TestDisableMetrics = true // no InfluxDB here: results.out only
			env := os.Environ()
			for key, v := range ip.ToEnvVars() {
				env = append(env, key+"="+v)
			}
			env = append(env,
				tgclient.EnvServiceHost+"=127.0.0.1",
				tgclient.EnvServicePort+"="+port,
				"UNODE_TG_LISTEN=/ip4/127.0.0.1/tcp/"+strconv.Itoa(ports[k-1]),
				"UNODE_TG_ANNOUNCE=/ip4/127.0.0.1/tcp/"+strings.TrimPrefix(proxyAddr, "127.0.0.1:"),
			)
			env = append(env, c.Env...)
			// run.out is the sdk's (its events, as JSON lines): the
			// process's own output goes beside it.
			log, err := os.Create(filepath.Join(odir, "stdout.log"))
			if err != nil {
				return nil, err
			}
			cmd := exec.Command(r.Binary)
			cmd.Env = env
			cmd.Stdout, cmd.Stderr = log, log
			// The instances die with the harness, whatever ends it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			p := &proc{cmd: cmd, inst: &Instance{Group: g.ID, Index: i, Output: odir}, log: log, done: make(chan struct{})}
			if err := cmd.Start(); err != nil {
				log.Close()
				return nil, fmt.Errorf("starting %s[%d]: %w", g.ID, i, err)
			}
			procs = append(procs, p)
			go func() {
				err := cmd.Wait()
				p.inst.Exit = err
				p.state = cmd.ProcessState
				log.Close()
				close(p.done)
			}()
		}
	}
	logf("%s: %d instances started (%s)", c.Name, n, r.Link)

	// Wait for every process; past the timeout, kill what is left. Once
	// an instance has failed, the others soon wait for it at some
	// barrier until their own timeout: after a grace period for them
	// to finish or fail on their own, they are stopped.
	var failedAt time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, p := range procs {
	wait:
		for {
			select {
			case <-p.done:
				if p.inst.Exit != nil {
					failed.Store(true)
				}
				break wait
			case <-ctx.Done():
				p.cmd.Process.Kill()
				<-p.done
				p.inst.Err = "killed at the case's timeout"
				break wait
			case <-tick.C:
				if !failed.Load() {
					continue
				}
				if failedAt.IsZero() {
					failedAt = time.Now()
				}
				if time.Since(failedAt) > failGrace {
					p.cmd.Process.Kill()
					<-p.done
					p.inst.Err = "stopped after another instance failed"
					break wait
				}
			}
		}
	}
	// The last events may still be on their way.
	select {
	case <-evDone:
	case <-time.After(5 * time.Second):
	}

	res := &Result{Case: c, Link: r.Link, Elapsed: time.Since(start)}
	evMu.Lock()
	defer evMu.Unlock()
	// Events say how many of a group succeeded, failed or crashed;
	// each instance's own events in its run.out say which.
	for _, p := range procs {
		outcome, msg := outcomeInLog(filepath.Join(p.inst.Output, "run.out"))
		p.inst.Outcome = outcome
		if msg != "" {
			p.inst.Err = msg
		}
		res.Instances = append(res.Instances, *p.inst)
	}
	for g, es := range outcomes {
		ok := 0
		for _, e := range es {
			if e.SuccessEvent != nil {
				ok++
			}
		}
		logged := 0
		for _, in := range res.Instances {
			if in.Group == g && in.Outcome == OutcomeSuccess {
				logged++
			}
		}
		if ok != logged {
			res.Problems = append(res.Problems, fmt.Sprintf("group %s: %d success events on the sync service, %d in the instances' logs", g, ok, logged))
		}
	}
	for _, g := range c.Groups {
		if len(outcomes[g.ID]) == 0 {
			for _, in := range res.Instances {
				if in.Group == g.ID && in.Outcome == OutcomeSuccess {
					res.Problems = append(res.Problems, fmt.Sprintf("group %s: its instances logged success, but no event reached the sync service", g.ID))
					break
				}
			}
		}
	}
	res.Metrics, err = readMetrics(res.Instances)
	return res, err
}

// groupOf is the group a terminal event names.
func groupOf(e *runtime.Event) string {
	switch {
	case e.SuccessEvent != nil:
		return e.SuccessEvent.TestGroupID
	case e.FailureEvent != nil:
		return e.FailureEvent.TestGroupID
	case e.CrashEvent != nil:
		return e.CrashEvent.TestGroupID
	}
	return ""
}

// outcomeInLog reads an instance's terminal event from its output (the
// sdk logs every event as a JSON line, as Testground's pretty printer
// reads them).
func outcomeInLog(path string) (outcome, msg string) {
	f, err := os.Open(path)
	if err != nil {
		return OutcomeNone, err.Error()
	}
	defer f.Close()
	outcome = OutcomeNone
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var l struct {
			Event runtime.Event `json:"event"`
		}
		if json.Unmarshal(line, &l) != nil {
			continue
		}
		switch e := l.Event; {
		case e.SuccessEvent != nil:
			outcome = OutcomeSuccess
		case e.FailureEvent != nil:
			outcome, msg = OutcomeFailure, e.FailureEvent.Error
		case e.CrashEvent != nil:
			outcome, msg = OutcomeCrash, e.CrashEvent.Error
		}
	}
	return outcome, msg
}

// Tail returns the last n lines of an instance's output.
func (in Instance) Tail(n int) string {
	f, err := os.Open(filepath.Join(in.Output, "stdout.log"))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metric is one measurement's summary over every instance.
type Metric struct {
	Name                     string
	N                        int
	Sum, Mean, P50, P90, Max float64
	Min                      float64
}

// readMetrics summarizes the points the instances recorded in their
// results.out (the sdk's R().RecordPoint).
func readMetrics(ins []Instance) ([]Metric, error) {
	values := map[string][]float64{}
	for _, in := range ins {
		f, err := os.Open(filepath.Join(in.Output, "results.out"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(f)
		for dec.More() {
			var m runtime.Metric
			if err := dec.Decode(&m); err != nil {
				break
			}
			if v, ok := m.Measures["value"].(float64); ok {
				values[m.Name] = append(values[m.Name], v)
			}
		}
		f.Close()
	}
	out := make([]Metric, 0, len(values))
	for name, vs := range values {
		sort.Float64s(vs)
		m := Metric{Name: name, N: len(vs), Min: vs[0], Max: vs[len(vs)-1]}
		for _, v := range vs {
			m.Sum += v
		}
		m.Mean = m.Sum / float64(len(vs))
		m.P50 = quantile(vs, 0.5)
		m.P90 = quantile(vs, 0.9)
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// quantile of sorted vs, nearest rank.
func quantile(vs []float64, q float64) float64 {
	i := int(q*float64(len(vs))+0.5) - 1
	return vs[max(0, min(i, len(vs)-1))]
}

// Table prints r's instances' outcomes and its metrics.
func (r *Result) Table(w io.Writer) {
	counts := map[string]int{}
	for _, in := range r.Instances {
		counts[in.Outcome]++
	}
	var oc []string
	for o, n := range counts {
		oc = append(oc, fmt.Sprintf("%d %s", n, o))
	}
	sort.Strings(oc)
	var groups []string
	for _, g := range r.Case.Groups {
		groups = append(groups, fmt.Sprintf("%s×%d", g.ID, g.Instances))
	}
	fmt.Fprintf(w, "\n== %s: %d instances (%s), link %s, %s: %s\n", r.Case.Name, len(r.Instances),
		strings.Join(groups, ", "), r.Link, r.Elapsed.Round(100*time.Millisecond), strings.Join(oc, ", "))
	width := len("metric")
	for _, m := range r.Metrics {
		width = max(width, len(m.Name))
	}
	fmt.Fprintf(w, "%-*s %6s %12s %10s %10s %10s %10s\n", width, "metric", "n", "sum", "mean", "p50", "p90", "max")
	for _, m := range r.Metrics {
		fmt.Fprintf(w, "%-*s %6d %12s %10s %10s %10s %10s\n", width, m.Name, m.N, num(m.Sum), num(m.Mean), num(m.P50), num(m.P90), num(m.Max))
	}
}

// num prints a figure compactly.
func num(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e12 && v > -1e12:
		return strconv.FormatInt(int64(v), 10)
	case v < 10 && v > -10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
