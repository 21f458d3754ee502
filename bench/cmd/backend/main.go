// Command backend is the tiny HTTP server behind every benchmark configuration: it answers
// every request with a fixed 2-byte body, so the numbers measure the proxy in front of it.
// With -jwks it also serves a JWKS file at /jwks (for cold-start runs that fetch keys).
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	jwks := flag.String("jwks", "", "JWKS file served at /jwks (optional)")
	flag.Parse()

	var keys []byte
	if *jwks != "" {
		var err error
		if keys, err = os.ReadFile(*jwks); err != nil {
			log.Fatalf("backend: %v", err)
		}
	}
	body := []byte("ok")
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		if keys == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(keys)))
		_, _ = w.Write(keys)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "2")
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("backend: %v", err)
	}
	// The orchestrator reads the bound address from this line.
	os.Stdout.WriteString("listening " + ln.Addr().String() + "\n")
	log.Fatal(http.Serve(ln, mux))
}
