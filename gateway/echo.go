package gateway

import (
	"encoding/json"
	"io"
	"net/http"
)

// EchoResponse is what EchoHandler answers: the request as the backend saw it.
type EchoResponse struct {
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	RawQuery string              `json:"raw_query,omitempty"`
	Query    map[string][]string `json:"query,omitempty"`
	Host     string              `json:"host"`
	Headers  map[string][]string `json:"headers"`
	// BodyBytes is the length of the request body (the body itself is not echoed).
	BodyBytes int64 `json:"body_bytes"`
}

// maxEchoBody bounds how much request body the echo backend reads.
const maxEchoBody = 1 << 20

// EchoHandler is the demo backend: it answers 200 with the request's method,
// path, query and headers as JSON, so you can see what the gateway forwarded
// (including the Authorization header and the headers plugins added).
func EchoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, maxEchoBody))
		resp := EchoResponse{
			Method:    r.Method,
			Path:      r.URL.Path,
			RawQuery:  r.URL.RawQuery,
			Host:      r.Host,
			Headers:   r.Header,
			BodyBytes: n,
		}
		if r.URL.RawQuery != "" {
			resp.Query = r.URL.Query()
		}
		body, err := json.MarshalIndent(resp, "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
}
