// tests/bench/go_sync — the Go side of bench_sync (tests/bench/bench_sync.c):
// the same channel ping-pong and spawn + join, run by section_sync.sh with
// GOMAXPROCS=1 under the same CPU pin. Prints "name ns_per_op" lines, each
// the median of 5 repetitions.
package main

import (
	"flag"
	"fmt"
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

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func main() {
	quick := flag.Bool("quick", false, "short runs")
	flag.Parse()
	msgs, spawns := 1000000, 500000
	if *quick {
		msgs, spawns = 200000, 100000
	}
	var c0, c64, sj []float64
	for r := 0; r < reps; r++ {
		c0 = append(c0, pingpong(0, msgs))
		c64 = append(c64, pingpong(64, msgs))
		sj = append(sj, spawnJoin(spawns))
	}
	fmt.Printf("chan_pingpong_cap0 %.1f\n", median(c0))
	fmt.Printf("chan_pingpong_cap64 %.1f\n", median(c64))
	fmt.Printf("spawn_join %.1f\n", median(sj))
}
