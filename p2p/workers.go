package p2p

import "time"

// Foreign evaluations run on long-lived worker goroutines rather than on
// the stream handler's fresh goroutine: decoding and evaluating grow a
// goroutine's stack to tens of KB, and growing a new stack for every
// request (copying it at each doubling) cost more than the rest of a
// small call. A worker that stays idle for workerIdle exits.

const workerIdle = 30 * time.Second

// onWorker runs f on an idle worker, starting one if none is idle, and
// waits for it to finish.
func (n *Node) onWorker(f func()) {
	done := make(chan struct{})
	job := func() {
		defer close(done)
		f()
	}
	select {
	case n.jobs <- job:
	default:
		go n.worker(job)
	}
	<-done
}

// goWorker runs f on an idle worker, starting one if none is idle, and
// returns at once: a stream handler that hands its stream over this way
// ends without waiting, so finishing a call wakes no second goroutine.
func (n *Node) goWorker(f func()) {
	select {
	case n.jobs <- f:
	default:
		go n.worker(f)
	}
}

func (n *Node) worker(job func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		job()
		idle.Reset(workerIdle)
		select {
		case job = <-n.jobs:
		case <-idle.C:
			return
		case <-n.ctx.Done():
			return
		}
	}
}
