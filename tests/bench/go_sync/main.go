// tests/bench/go_sync — the Go side of bench_sync (tests/bench/bench_sync.c):
// the same channel ping-pong, spawn + join and mutex measurements, run by section_sync.sh with
// GOMAXPROCS=1 under the same CPU pin. Prints "name ns_per_op" lines, each
// the median of 5 repetitions.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

const reps = 5

func pingpong(capacity, n int) float64 {
	ping, pong := make(chan int, capacity), make(chan int, capacity)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(2*n)
	close(ping)
	return ns
}

func spawnJoin(n int) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func mutexUncontended(n int) float64 {
	var m sync.Mutex
	counter := 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		m.Lock()
		counter++
		m.Unlock()
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
	if counter != n {
		panic("lost an increment")
	}
	return ns
}

// 1,000 goroutines each lock, add, yield while holding, unlock: as
// bench_sync's mutex_contended_1000.
func mutexContended(n int) float64 {
	var m sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	per := n / 1000
	t0 := time.Now()
	for g := 0; g < 1000; g++ {
		wg.Add(1)
		go func() {
			for i := 0; i < per; i++ {
				m.Lock()
				counter++
				runtime.Gosched()
				m.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	ns := float64(time.Since(t0).Nanoseconds()) / float64(per*1000)
	if counter != per*1000 {
		panic("lost an increment")
	}
	return ns
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func main() {
	quick := flag.Bool("quick", false, "short runs")
	flag.Parse()
	msgs, spawns, locks, contend := 1000000, 500000, 20000000, 1000000
	if *quick {
		msgs, spawns, locks, contend = 200000, 100000, 5000000, 200000
	}
	var c0, c64, sj, mu, mc []float64
	for r := 0; r < reps; r++ {
		c0 = append(c0, pingpong(0, msgs))
		c64 = append(c64, pingpong(64, msgs))
		sj = append(sj, spawnJoin(spawns))
		mu = append(mu, mutexUncontended(locks))
		mc = append(mc, mutexContended(contend))
	}
	fmt.Printf("chan_pingpong_cap0 %.1f\n", median(c0))
	fmt.Printf("chan_pingpong_cap64 %.1f\n", median(c64))
	fmt.Printf("spawn_join %.1f\n", median(sj))
	fmt.Printf("mutex_uncontended %.1f\n", median(mu))
	fmt.Printf("mutex_contended_1000 %.1f\n", median(mc))
}
