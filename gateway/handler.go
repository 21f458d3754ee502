package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatewarden/gatewarden/host"
)

// RequestIDHeader carries the request id to plugins, the upstream and the client.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client-sent request id; longer or odd ones are replaced.
const maxRequestIDLen = 128

type ctxKey int

const requestIDKey ctxKey = iota

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ensureRequestID keeps a well-formed client id (so callers can correlate) and
// replaces a missing or malformed one with a random UUID.
func ensureRequestID(r *http.Request) string {
	ids := r.Header.Values(RequestIDHeader)
	if len(ids) == 1 && validRequestID(ids[0]) {
		return ids[0]
	}
	id := newRequestID()
	r.Header.Set(RequestIDHeader, id)
	return id
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// listenerHandler is a listener's per-generation entry point: request id, path
// normalization, routing, then the route's compiled plugin chain and proxy.
func (g *Gateway) listenerHandler(listener string, table routeTable, accessLog bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := ensureRequestID(r)
		w.Header().Set(RequestIDHeader, id)
		rec := &statusRecorder{ResponseWriter: w, requestID: id}
		// rec.route tells plugins the route and upstream (route_name, cluster_name, upstream.*).
		r = r.WithContext(host.WithRequestInfo(context.WithValue(r.Context(), requestIDKey, id), &rec.route))
		g.metrics.inFlight.Inc()
		routeLabel := "none"
		defer func() {
			// Runs on panics too (httputil aborts with http.ErrAbortHandler).
			g.metrics.inFlight.Dec()
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			g.metrics.requests.WithLabelValues(listener, routeLabel, strconv.Itoa(status)).Inc()
			g.metrics.duration.WithLabelValues(listener, routeLabel).Observe(elapsed.Seconds())
			if accessLog {
				// The path only: queries and headers may carry tokens.
				g.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("request_id", id), slog.String("listener", listener),
					slog.String("route", routeLabel), slog.String("method", r.Method),
					slog.String("path", r.URL.Path), slog.Int("status", status),
					slog.Int64("bytes", rec.bytes), slog.Duration("duration", elapsed),
					slog.String("remote", r.RemoteAddr))
			}
		}()
		if !normalizeRequest(r) {
			writeError(rec, r, http.StatusBadRequest, "bad_path")
			return
		}
		rt := table.match(r.URL.Path)
		if rt == nil {
			writeError(rec, r, http.StatusNotFound, "no_route")
			return
		}
		routeLabel = rt.prefix
		rec.route.Route, rec.route.Cluster = rt.prefix, rt.upstream
		rt.handler.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status and counts body bytes. Unwrap lets
// http.ResponseController reach Flush and Hijack (used for streaming and upgrades).
type statusRecorder struct {
	http.ResponseWriter
	route     host.RequestInfo // in the request's context (one allocation with the recorder)
	requestID string
	status    int
	bytes     int64
}

var (
	_ http.Flusher                              = (*statusRecorder)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*statusRecorder)(nil)
)

// stamp puts the request id on every response, local plugin replies included.
func (s *statusRecorder) stamp() {
	if h := s.Header(); h.Get(RequestIDHeader) == "" {
		h.Set(RequestIDHeader, s.requestID)
	}
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
		s.stamp()
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
		s.stamp()
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// writeError answers with a small JSON body naming the error and the request id.
func writeError(w http.ResponseWriter, r *http.Request, status int, code string) {
	body, _ := json.Marshal(map[string]string{"error": code, "request_id": requestIDFrom(r.Context())})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
