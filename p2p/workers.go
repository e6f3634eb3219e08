package p2p

import "time"

// Foreign evaluations run on long-lived worker goroutines rather than on
// the stream handler's fresh goroutine: decoding and evaluating grow a
// goroutine's stack to tens of KB, and growing a new stack for every
// request (copying it at each doubling) cost more than the rest of a
// small call. A worker that stays idle for workerIdle exits.

const workerIdle = 30 * time.Second

// A job is work for a worker: a func (jobFunc), or a value with state
// of its own (an evalStream), which goes to the worker without a closure
// made to carry it.
type job interface{ run() }

// jobFunc is a func as a job.
type jobFunc func()

func (f jobFunc) run() { f() }

// onWorker runs f on an idle worker, starting one if none is idle, and
// waits for it to finish.
func (n *Node) onWorker(f func()) {
	done := make(chan struct{})
	n.goJob(jobFunc(func() {
		defer close(done)
		f()
	}))
	<-done
}

// goWorker runs f on an idle worker, starting one if none is idle, and
// returns at once: a stream handler that hands its stream over this way
// ends without waiting, so finishing a call wakes no second goroutine.
func (n *Node) goWorker(f func()) { n.goJob(jobFunc(f)) }

// goJob is goWorker for any job.
func (n *Node) goJob(j job) {
	select {
	case n.jobs <- j:
	default:
		go n.worker(j)
	}
}

func (n *Node) worker(j job) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		j.run()
		idle.Reset(workerIdle)
		select {
		case j = <-n.jobs:
		case <-idle.C:
			return
		case <-n.ctx.Done():
			return
		}
	}
}
