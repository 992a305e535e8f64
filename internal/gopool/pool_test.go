package gopool

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunsEveryTask(t *testing.T) {
	p := NewPool(4, 16)
	defer p.Close()
	const n = 1000
	var ran atomic.Int32
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		p.Schedule(func() {
			ran.Add(1)
			wg.Done()
		})
	}
	wg.Wait()
	if ran.Load() != n {
		t.Fatalf(
			"%d tasks ran, want %d",
			ran.Load(), n,
		)
	}
	if w := p.Stats().Workers; w < 1 || w > 4 {
		t.Fatalf(
			"%d workers, want 1..4",
			w,
		)
	}
}

// With every worker busy and the queue full, Schedule starts an extra
// goroutine instead of blocking.
func TestScheduleNeverBlocks(t *testing.T) {
	p := NewPool(1, 1)
	defer p.Close()
	release := make(chan struct{})
	started := make(chan int, 3)
	block := func(i int) func() {
		return func() {
			started <- i
			<-release
		}
	}
	p.Schedule(block(1)) // the worker
	if got := <-started; got != 1 {
		t.Fatalf(
			"task %d started first",
			got,
		)
	}
	p.Schedule(block(2)) // queued behind the busy worker
	done := make(chan struct{})
	go func() {
		p.Schedule(block(3)) // queue full: overflow goroutine
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Schedule blocked with the queue full")
	}
	select {
	case got := <-started:
		if got != 3 {
			t.Fatalf(
				"task %d started while the worker is busy, want the overflow task 3",
				got,
			)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the overflow task did not start")
	}
	st := p.Stats()
	if st.Workers != 1 || st.Queued != 1 || st.Overflow != 1 {
		t.Fatalf(
			"stats %+v, want 1 worker, 1 queued, 1 overflow",
			st,
		)
	}
	close(release)
}

func TestCloseDrainsQueueAndDropsLaterTasks(t *testing.T) {
	p := NewPool(1, 100)
	release := make(chan struct{})
	var ran atomic.Int32
	p.Schedule(func() { <-release; ran.Add(1) })
	for range 50 {
		p.Schedule(func() { ran.Add(1) })
	}
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a task was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if ran.Load() != 51 {
		t.Fatalf(
			"%d tasks ran before Close returned, want 51",
			ran.Load(),
		)
	}
	p.Schedule(func() { ran.Add(1) })
	p.Close() // idempotent
	if ran.Load() != 51 {
		t.Fatal("a task scheduled after Close ran")
	}
}

func TestConcurrentScheduleAndClose(t *testing.T) {
	p := NewPool(2, 2)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				p.Schedule(func() {})
			}
		}()
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Close()
		}()
	}
	wg.Wait()
	p.Close()
	// goleak (TestMain) checks that no pool goroutine is left.
}

func TestDefaults(t *testing.T) {
	p := NewPool(0, -1)
	defer p.Close()
	if int(p.size) != DefaultSize || cap(p.tasks) != DefaultQueue {
		t.Fatalf(
			"size %d queue %d, want %d %d",
			p.size, cap(p.tasks), DefaultSize, DefaultQueue,
		)
	}
	if p.Stats().Workers != 0 {
		t.Fatal("a worker started before any task")
	}
	p.Schedule(nil) // ignored, no panic
}

func BenchmarkSchedule(b *testing.B) {
	p := NewPool(0, 0)
	defer p.Close()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1)
		p.Schedule(task)
	}
	wg.Wait()
}

// countTask is a Task that counts its runs.
type countTask struct {
	wg *sync.WaitGroup
	n  atomic.Int32
}

func (c *countTask) Run() { c.n.Add(1); c.wg.Done() }

func TestScheduleTaskRunsAndDoesNotAllocate(t *testing.T) {
	p := NewPool(2, 16)
	defer p.Close()
	var wg sync.WaitGroup
	task := &countTask{wg: &wg}
	wg.Add(1)
	p.ScheduleTask(task) // start the workers outside the measurement
	wg.Wait()
	allocs := testing.AllocsPerRun(100, func() {
		wg.Add(1)
		p.ScheduleTask(task)
		wg.Wait()
	})
	if got := task.n.Load(); got != 102 {
		t.Fatalf("task ran %d times, want 102", got)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per ScheduleTask", allocs)
	}
	p.ScheduleTask(nil) // ignored, no panic
}
