package gopool

import (
	"sync"
	"sync/atomic"
)

// Defaults used by NewPool for a size or queue of zero (or less).
const (
	DefaultSize  = 256  // workers
	DefaultQueue = 1024 // tasks waiting for a worker
)

// Task is a unit of work for ScheduleTask. A pointer type with a Run
// method (say, a connection whose Run reads it) is scheduled without
// allocating and without keeping a bound func value per object.
type Task interface {
	Run()
}

// taskFunc adapts a func to Task; a func value is pointer-shaped, so the
// conversion does not allocate.
type taskFunc func()

func (f taskFunc) Run() { f() }

// Pool runs tasks on a bounded set of goroutines. Its methods are safe for
// concurrent use.
type Pool struct {
	size  int32
	tasks chan Task

	// mu guards closed against Schedule, so no goroutine is started (and no
	// WaitGroup.Add made) once Close has begun waiting.
	mu     sync.RWMutex
	closed bool

	workers  atomic.Int32
	overflow atomic.Uint64

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Stats is a snapshot of a pool's counters.
type Stats struct {
	Workers  int    // worker goroutines started (they live until Close)
	Queued   int    // tasks waiting for a worker
	Overflow uint64 // tasks run on an extra goroutine because the queue was full
}

// NewPool returns a pool of at most size workers and a queue of queue tasks;
// zero or less means DefaultSize and DefaultQueue. No goroutine starts
// before the first Schedule.
func NewPool(size, queue int) *Pool {
	if size <= 0 {
		size = DefaultSize
	}
	if queue <= 0 {
		queue = DefaultQueue
	}
	return &Pool{size: int32(min(size, 1<<30)), tasks: make(chan Task, queue)}
}

// Schedule runs task on a pool goroutine. It never blocks: it starts a worker
// if fewer than size are running, else queues the task, else (queue full)
// starts an extra goroutine for it. After Close the task is dropped. A nil
// task is ignored. A panicking task crashes the program, as any goroutine.
func (p *Pool) Schedule(task func()) {
	if task == nil {
		return
	}
	p.ScheduleTask(taskFunc(task))
}

// ScheduleTask is Schedule for a Task: it runs task.Run on a pool
// goroutine. A nil task is ignored.
func (p *Pool) ScheduleTask(task Task) {
	if task == nil {
		return
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	for {
		n := p.workers.Load()
		if n >= p.size {
			break
		}
		if p.workers.CompareAndSwap(n, n+1) {
			p.wg.Add(1)
			go p.worker(task)
			return
		}
	}
	select {
	case p.tasks <- task:
		return
	default:
	}
	p.overflow.Add(1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		task.Run()
	}()
}

func (p *Pool) worker(first Task) {
	defer p.wg.Done()
	first.Run()
	for task := range p.tasks {
		task.Run()
	}
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	return Stats{
		Workers:  int(p.workers.Load()),
		Queued:   len(p.tasks),
		Overflow: p.overflow.Load(),
	}
}

// Close stops accepting tasks, lets the workers finish the queued ones and
// waits for every goroutine of the pool to return. It is idempotent;
// concurrent calls all wait.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.tasks)
		p.mu.Unlock()
		p.wg.Wait()
	})
}
