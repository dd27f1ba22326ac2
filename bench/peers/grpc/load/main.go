// gRPC unary load generator for bench/run.ts: grpc-go clients calling
// grpc.testing.BenchmarkService/UnaryCall over h2c, -conns connections (one ClientConn each).
//
// closed: -streams calls in flight per connection, each sent as soon as the previous one
//         finished, for -d (and at most -n calls).
// open:   a fixed call rate. Call i is due at start + i/rate whether or not earlier ones have
//         finished; its latency counts from that due time (no coordinated omission). At most
//         conns x streams calls are in flight; a call that waited > 10 ms for a slot is "late".
//
// A call counts as ok only when it returned status OK with a response of the asked size.
// Every latency is kept and sorted, so percentiles are exact. Prints one JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

type result struct {
	Mode       string         `json:"mode"`
	DurationS  float64        `json:"durationS"`
	Requests   int            `json:"requests"`
	OK         int            `json:"ok"`
	Errors     int            `json:"errors"`
	Late       int            `json:"late"`
	RPS        float64        `json:"rps"`
	TargetRate float64        `json:"targetRate,omitempty"`
	Bytes      int64          `json:"bytes"`
	P50Ms      float64        `json:"p50Ms"`
	P90Ms      float64        `json:"p90Ms"`
	P99Ms      float64        `json:"p99Ms"`
	P999Ms     float64        `json:"p999Ms"`
	MaxMs      float64        `json:"maxMs"`
	Codes      map[string]int `json:"codes"`
	FirstError string         `json:"firstError,omitempty"`
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	ok, errs  int
	late      int
	bytes     int64
	codes     map[string]int
	firstErr  string
}

func (r *recorder) add(lat time.Duration, n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, lat)
	r.bytes += int64(n)
	code := status.Code(err).String()
	r.codes[code]++
	if err == nil {
		r.ok++
		return
	}
	r.errs++
	if r.firstErr == "" {
		r.firstErr = err.Error()
	}
}

func main() {
	target := flag.String("target", "", "host:port to call (h2c)")
	mode := flag.String("mode", "closed", "closed (back to back) or open (fixed rate)")
	conns := flag.Int("conns", 4, "connections (one grpc.ClientConn each)")
	streams := flag.Int("streams", 16, "calls in flight per connection (closed); open: the cap on calls in flight is conns x streams")
	duration := flag.Duration("d", 5*time.Second, "how long to send")
	maxCalls := flag.Int64("n", 10_000_000, "at most this many calls")
	rate := flag.Float64("rate", 1000, "calls per second (open mode)")
	reqSize := flag.Int("req", 32, "request payload bytes")
	respSize := flag.Int("resp", 38, "response payload bytes")
	callTimeout := flag.Duration("timeout", 10*time.Second, "deadline of each call")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "-target is required")
		os.Exit(2)
	}

	clients := make([]testpb.BenchmarkServiceClient, *conns)
	for i := range clients {
		cc, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer cc.Close()
		cc.Connect()
		clients[i] = testpb.NewBenchmarkServiceClient(cc)
	}
	req := &testpb.SimpleRequest{ResponseSize: int32(*respSize), Payload: &testpb.Payload{Body: make([]byte, *reqSize)}}
	rec := &recorder{codes: map[string]int{}, latencies: make([]time.Duration, 0, 1<<16)}

	call := func(client testpb.BenchmarkServiceClient, due time.Time) {
		ctx, cancel := context.WithTimeout(context.Background(), *callTimeout)
		res, err := client.UnaryCall(ctx, req)
		cancel()
		n := 0
		if err == nil {
			n = len(res.GetPayload().GetBody())
			if n != *respSize {
				err = fmt.Errorf("response payload %d bytes, asked for %d", n, *respSize)
			}
		}
		rec.add(time.Since(due), n, err)
	}

	start := time.Now()
	deadline := start.Add(*duration)
	var issued atomic.Int64
	var wg sync.WaitGroup
	if *mode == "open" {
		interval := time.Duration(float64(time.Second) / *rate)
		total := int(duration.Seconds() * *rate)
		if int64(total) > *maxCalls {
			total = int(*maxCalls)
		}
		jobs := make(chan time.Time, total)
		for i := 0; i < *conns**streams; i++ {
			wg.Add(1)
			client := clients[i%*conns]
			go func() {
				defer wg.Done()
				for due := range jobs {
					if time.Since(due) > 10*time.Millisecond {
						// Picked up late: the server (or this generator) fell behind; still charged.
						rec.mu.Lock()
						rec.late++
						rec.mu.Unlock()
					}
					call(client, due)
				}
			}()
		}
		for i := 0; i < total; {
			now := time.Now()
			for ; i < total; i++ {
				due := start.Add(time.Duration(i) * interval)
				if due.After(now) {
					break
				}
				jobs <- due
			}
			if i < total {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
			}
		}
		close(jobs)
	} else {
		for i := 0; i < *conns**streams; i++ {
			wg.Add(1)
			client := clients[i%*conns]
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && issued.Add(1) <= *maxCalls {
					call(client, time.Now())
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	lat := rec.latencies
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)))
		if i >= len(lat) {
			i = len(lat) - 1
		}
		return float64(lat[i].Microseconds()) / 1000
	}
	out := result{
		Mode: *mode, DurationS: elapsed, Requests: len(lat), OK: rec.ok, Errors: rec.errs, Late: rec.late,
		RPS: float64(len(lat)) / elapsed, Bytes: rec.bytes, Codes: rec.codes,
		P50Ms: pct(0.50), P90Ms: pct(0.90), P99Ms: pct(0.99), P999Ms: pct(0.999), MaxMs: pct(1), FirstError: rec.firstErr,
	}
	if *mode == "open" {
		out.TargetRate = *rate
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
