package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Seen is what the echo backend received for one request.
type Seen struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`    // with query
	Headers map[string][]string `json:"headers"` // keys lower-cased
}

// Header returns the first value of a received header ("" when absent).
func (s Seen) Header(name string) string {
	if v := s.Headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Has reports whether the backend received the header at all.
func (s Seen) Has(name string) bool {
	_, ok := s.Headers[strings.ToLower(name)]
	return ok
}

// Backend is the upstream behind the gateways: it answers 200 with the request it saw as JSON
// (content type application/json, header x-backend: echo) so tests can check what passed.
type Backend struct {
	URL  string // http://127.0.0.1:PORT
	Port int
	srv  *http.Server
	mu   sync.Mutex
	hits int
}

// StartBackend starts the echo backend on a free loopback port.
func StartBackend() (*Backend, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{Port: l.Addr().(*net.TCPAddr).Port}
	b.URL = "http://" + l.Addr().String()
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve)}
	go b.srv.Serve(l)
	return b, nil
}

func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.hits++
	b.mu.Unlock()
	s := Seen{Method: r.Method, Path: r.URL.RequestURI(), Headers: map[string][]string{}}
	for k, v := range r.Header {
		s.Headers[strings.ToLower(k)] = v
	}
	if r.Host != "" {
		s.Headers["host"] = []string{r.Host}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend", "echo")
	_ = json.NewEncoder(w).Encode(s)
}

// Hits is the number of requests that reached the backend.
func (b *Backend) Hits() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits
}

// Close stops the backend.
func (b *Backend) Close() error { return b.srv.Close() }
