// Load generator for bench/run.ts.
//
// open:   a fixed request rate (open loop). Request i is due at start + i/rate whether or not
//         earlier ones have finished; its latency is measured from that due time, so a stalled
//         server is charged for the queue it causes (no coordinated omission). Every latency is
//         kept and sorted, so percentiles are exact.
// closed: -c connections each sending back to back for -d (the fallback when wrk is missing).
//
// Prints one JSON object on stdout.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

type result struct {
	Mode        string  `json:"mode"`
	DurationS   float64 `json:"durationS"`
	Requests    int     `json:"requests"`
	OK          int     `json:"ok"`
	Non2xx      int     `json:"non2xx"`
	Errors      int     `json:"errors"`
	Late        int     `json:"late"`
	RPS         float64 `json:"rps"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Bytes       int64   `json:"bytes"`
	P50Ms       float64 `json:"p50Ms"`
	P90Ms       float64 `json:"p90Ms"`
	P99Ms       float64 `json:"p99Ms"`
	P999Ms      float64 `json:"p999Ms"`
	MaxMs       float64 `json:"maxMs"`
	FirstError  string  `json:"firstError,omitempty"`
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	ok, non2xx, errors int
	bytes     int64
	firstErr  string
}

func (r *recorder) add(lat time.Duration, status int, n int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, lat)
	r.bytes += n
	switch {
	case err != nil:
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
	case status >= 200 && status < 300:
		r.ok++
	default:
		r.non2xx++
		if r.firstErr == "" {
			r.firstErr = fmt.Sprintf("status %d", status)
		}
	}
}

func main() {
	mode := flag.String("mode", "open", "open (fixed rate) or closed (back to back)")
	target := flag.String("url", "", "URL to load")
	rate := flag.Float64("rate", 1000, "requests per second (open mode)")
	duration := flag.Duration("d", 5*time.Second, "how long to send")
	conns := flag.Int("c", 64, "connections")
	method := flag.String("method", "GET", "request method")
	bodySize := flag.Int("body", 0, "request body bytes")
	flag.Parse()

	transport := &http.Transport{
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	body := bytes.Repeat([]byte("x"), *bodySize)
	rec := &recorder{}

	send := func(due time.Time) {
		var reader io.Reader
		if *bodySize > 0 {
			reader = bytes.NewReader(body)
		}
		req, err := http.NewRequest(*method, *target, reader)
		if err != nil {
			rec.add(time.Since(due), 0, 0, err)
			return
		}
		res, err := client.Do(req)
		if err != nil {
			rec.add(time.Since(due), 0, 0, err)
			return
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		rec.add(time.Since(due), res.StatusCode, n, err)
	}

	start := time.Now()
	deadline := start.Add(*duration)
	var wg sync.WaitGroup
	late := 0
	if *mode == "open" {
		interval := time.Duration(float64(time.Second) / *rate)
		total := int(duration.Seconds() * *rate)
		jobs := make(chan time.Time, total)
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for due := range jobs {
					if time.Since(due) > 10*time.Millisecond {
						// Picked up late: the server (or this generator) fell behind; still charged.
						rec.mu.Lock()
						late++
						rec.mu.Unlock()
					}
					send(due)
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
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					send(time.Now())
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
		Mode: *mode, DurationS: elapsed, Requests: len(lat), OK: rec.ok, Non2xx: rec.non2xx, Errors: rec.errors,
		Late: late, RPS: float64(len(lat)) / elapsed, Bytes: rec.bytes,
		P50Ms: pct(0.50), P90Ms: pct(0.90), P99Ms: pct(0.99), P999Ms: pct(0.999), MaxMs: pct(1), FirstError: rec.firstErr,
	}
	if *mode == "open" {
		out.TargetRate = *rate
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
