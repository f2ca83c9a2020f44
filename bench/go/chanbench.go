// chanbench measures Go's buffered channel: one producer goroutine sends -n ints through a
// channel with a buffer of -cap to the main goroutine, -reps times (after one warm-up run),
// and prints one JSON line with the median throughput. tinyflow-bench runs it as the
// baseline for BoundedChannel's hop throughput (same message count, same capacity).
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"time"
)

func run(n, capacity int) float64 {
	ch := make(chan int, capacity)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			ch <- i
		}
		close(ch)
	}()
	count, sum := 0, 0
	for v := range ch {
		count++
		sum += v
	}
	elapsed := time.Since(start).Seconds()
	if count != n || sum != n*(n-1)/2 {
		fmt.Fprintf(os.Stderr, "chanbench: received %d messages (sum %d), want %d\n", count, sum, n)
		os.Exit(1)
	}
	return float64(n) / elapsed
}

func main() {
	n := flag.Int("n", 2000000, "messages per run")
	capacity := flag.Int("cap", 1024, "channel buffer size")
	reps := flag.Int("reps", 5, "measured runs (after one warm-up)")
	flag.Parse()
	run(*n, *capacity)
	rates := make([]float64, 0, *reps)
	for i := 0; i < *reps; i++ {
		rates = append(rates, run(*n, *capacity))
	}
	sort.Float64s(rates)
	median := rates[len(rates)/2]
	if len(rates)%2 == 0 {
		median = (rates[len(rates)/2-1] + rates[len(rates)/2]) / 2
	}
	fmt.Printf("{\"bench\":\"go-channel\",\"value\":%.0f,\"unit\":\"msgs/s\",\"baseline\":null,\"messages\":%d,\"capacity\":%d}\n", median, *n, *capacity)
}
