// gRPC benchmark backends for bench/run.ts: one process (GOMAXPROCS as given), one grpc-go
// server per port, each serving grpc.testing.BenchmarkService/UnaryCall (the service grpc-go's
// own benchmarks use) and grpc.health.v1.Health (so sluice's `healthCheck.type: grpc` passes).
// Every port counts the calls it answered; GET /counts on -stats returns them as JSON, so the
// bench can show how a balancer spread the calls of a few client connections.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

type benchService struct {
	testpb.UnimplementedBenchmarkServiceServer
	calls atomic.Int64
}

func (s *benchService) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.calls.Add(1)
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, req.GetResponseSize())}}, nil
}

func main() {
	ports := flag.String("ports", "", "comma-separated ports to listen on (127.0.0.1), gRPC over h2c")
	stats := flag.String("stats", "", "port for GET /counts (HTTP/1.1, 127.0.0.1)")
	flag.Parse()
	counters := map[string]*benchService{}
	errs := make(chan error)
	for _, p := range strings.Split(*ports, ",") {
		ln, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		svc := &benchService{}
		counters[p] = svc
		server := grpc.NewServer()
		testpb.RegisterBenchmarkServiceServer(server, svc)
		healthpb.RegisterHealthServer(server, health.NewServer())
		go func() { errs <- server.Serve(ln) }()
	}
	if *stats != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:"+*stats)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/counts", func(w http.ResponseWriter, _ *http.Request) {
			out := map[string]int64{}
			for p, svc := range counters {
				out[p] = svc.calls.Load()
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(out)
		})
		go func() { errs <- http.Serve(ln, mux) }()
	}
	fmt.Println("listening")
	fmt.Fprintln(os.Stderr, <-errs)
	os.Exit(1)
}
