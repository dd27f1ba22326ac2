// A fast, cheap benchmark backend for machines without NGINX: one process (GOMAXPROCS as
// given), N listeners, the same routes and bodies as the NGINX backend config in bench/run.ts.
// Each listener speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c), like the NGINX h2c port.
//   GET /        fixed small body        GET /health  "ok"
//   GET /big     1 MiB body              POST /upload reads and discards the body, answers "ok"
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	ports := flag.String("ports", "", "comma-separated ports to listen on (127.0.0.1)")
	flag.Parse()
	small := []byte("hello from a sluice benchmark backend\n")
	big := bytes.Repeat([]byte("x"), 1<<20)
	ok := []byte("ok\n")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		switch r.URL.Path {
		case "/big":
			h.Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		case "/upload":
			io.Copy(io.Discard, r.Body)
			h.Set("Content-Length", strconv.Itoa(len(ok)))
			w.Write(ok)
		case "/health":
			h.Set("Content-Length", strconv.Itoa(len(ok)))
			w.Write(ok)
		default:
			h.Set("Content-Length", strconv.Itoa(len(small)))
			w.Write(small)
		}
	})
	errs := make(chan error)
	for _, p := range strings.Split(*ports, ",") {
		ln, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		server := &http.Server{Handler: handler, Protocols: new(http.Protocols)}
		server.Protocols.SetHTTP1(true)
		server.Protocols.SetUnencryptedHTTP2(true)
		go func() { errs <- server.Serve(ln) }()
	}
	fmt.Println("listening")
	fmt.Fprintln(os.Stderr, <-errs)
	os.Exit(1)
}
