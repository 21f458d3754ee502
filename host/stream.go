package host

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// decision is what the worker tells the request goroutine after a callback.
type decision uint8

const (
	decContinue decision = iota + 1 // forward (possibly modified) headers
	decPaused                       // the filter paused; wait for another decision
	decLocal                        // send s.local instead
	decReset                        // proxy_close_stream: abort the stream
	decFail                         // the VM failed (trap, panic, timeout)
	decTimeout                      // paused longer than PauseTimeout (request side only)
	decGone                         // the client went away (request side only)
)

const (
	phaseRequest  = iota + 1 // request headers (and body) with the filter
	phaseUpstream            // request forwarded, waiting for the response
	phaseResponse            // response headers (and body) with the filter
	phaseReplied             // response headers sent downstream
	phaseDone                // on_log/on_done ran
)

// hmap is a header or trailer map as the filter sees it.
type hmap struct {
	kv    []kv
	dirty bool // the filter changed it
	ok    bool // available in the current phase
}

// stream is the state of one HTTP request/response through one plugin.
// Ownership moves with the task and decision messages: the request
// goroutine fills it before posting a task; the worker owns it while a
// callback may run; the request goroutine reads it again after a decision.
// Maps are only written by the filter while their phase is current, so
// reads on both sides after a decision do not race.
type stream struct {
	p      *Plugin
	v      *vm
	signal chan decision // capacity 2: at most "paused" then the final decision

	// worker-owned while the filter runs
	id                                    uint32
	phase                                 uint8
	waiting                               bool // a request goroutine waits for a decision
	wantContinue, wantClose, wantDelete   bool
	inPending                             bool
	awaitDone                             bool // on_done returned false
	local                                 *localReply
	reqHdr, respHdr, reqTrailer, respTrlr hmap
	reqBody, respBody                     []byte // buffered body chunks given to the filter
	reqBodyOK, respBodyOK                 bool   // the body buffer exists for the filter
	bodyActive, bodyResp                  bool   // inside a body callback (of the response)
	trlActive, trlResp                    bool   // inside a trailers callback (of the response)
	reqBodyWait, respBodyWait             bool   // body paused at end of stream
	reqBodyCont, respBodyCont             bool   // proxy_continue_stream for a body
	localSent                             bool   // s.local went out through a body channel
	bodyDirty                             bool
	reqBodyDone, respBodyDone             chan bodyResult
	reqBodyOut, respBodyOut               []byte        // buffered body handed over with a continue decision
	bodyConsumed                          bool          // request goroutine: feedWhilePaused read some body
	abort                                 atomic.Uint32 // decision from the request body reader
	queued                                atomic.Int32  // tasks of this stream in the VM's queue or running from it
	filterTime                            time.Duration // time in request/response callbacks so far (VM lock held)
	props                                 map[string][]byte
	status                                int
	respHeld                              bool // response headers held while the body is delivered

	// immutable after newStream
	info reqInfo
}

// reqInfo is what properties need from the request, copied up front so the
// worker never reads the *http.Request the handler chain may change.
type reqInfo struct {
	remoteAddr string
	localAddr  string
	proto      string
	tls        *tls.ConnectionState
	size       int64
	start      time.Time
	route      *RequestInfo // from the request's context; nil when the server set none
}

type localReply struct {
	code    int
	details string
	body    []byte
	hdrs    []kv
	grpc    uint32
}

func newStream(p *Plugin, v *vm, r *http.Request) *stream {
	s := &stream{p: p, v: v, signal: make(chan decision, 2)}
	if p.has.requestBody || p.has.requestTrailers {
		s.reqBodyDone = make(chan bodyResult, 2)
	}
	if p.has.responseBody || p.has.responseTrailers {
		s.respBodyDone = make(chan bodyResult, 2)
	}
	s.info = reqInfo{remoteAddr: r.RemoteAddr, proto: r.Proto, tls: r.TLS, size: r.ContentLength, start: time.Now()}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.info.localAddr = a.String()
	}
	s.info.route = RequestInfoFrom(r.Context())
	return s
}

// requestPairs returns the request headers as the filter sees them:
// pseudo-headers first, keys lower-case, one pair per value.
func requestPairs(r *http.Request) []kv {
	n := 4
	for _, vs := range r.Header {
		n += len(vs)
	}
	pairs := make([]kv, 0, n+4)
	path := r.RequestURI
	if path == "" || path[0] != '/' && path != "*" {
		path = r.URL.RequestURI()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	pairs = append(pairs,
		kv{":method", r.Method},
		kv{":path", path},
		kv{":authority", r.Host},
		kv{":scheme", scheme},
	)
	for k, vs := range r.Header {
		lk := lowerKey(k)
		for _, val := range vs {
			pairs = append(pairs, kv{lk, val})
		}
	}
	return pairs
}

// responsePairs returns response headers with :status first.
func responsePairs(code int, h http.Header) []kv {
	n := 1
	for _, vs := range h {
		n += len(vs)
	}
	pairs := make([]kv, 0, n+4)
	pairs = append(pairs, kv{":status", statusText(code)})
	for k, vs := range h {
		lk := lowerKey(k)
		for _, val := range vs {
			pairs = append(pairs, kv{lk, val})
		}
	}
	return pairs
}

var statusStrings = func() (m [600]string) {
	for i := 100; i < 600; i++ {
		m[i] = strconv.Itoa(i)
	}
	return
}()

func statusText(code int) string {
	if code >= 100 && code < 600 {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// ---- worker side ----

// decide ends the wait of the request goroutine for the current phase.
func (v *vm) decide(s *stream, d decision) {
	s.waiting = false
	switch d {
	case decContinue:
		// Buffered body moves to the request goroutine with the decision,
		// so the worker never touches it again.
		switch s.phase {
		case phaseRequest:
			s.phase = phaseUpstream
			s.reqBodyOut, s.reqBody = s.reqBody, nil
		case phaseResponse:
			s.phase = phaseReplied
			s.respBodyOut, s.respBody = s.respBody, nil
		}
	case decLocal:
		s.localSent = true
		// A local reply from the request phase goes out through the
		// response callbacks, as Envoy runs encoder filters for it.
		if s.phase == phaseRequest {
			s.phase = phaseUpstream
		} else {
			s.phase = phaseReplied
		}
	case decReset, decFail:
		s.phase = phaseReplied
	}
	s.signal <- d
}

// endCallback turns the action a stream callback returned into a decision,
// unless something the filter did during the callback already decided.
func (v *vm) endCallback(s *stream, action uint64, ok bool) {
	v.afterCallback()
	if !ok || !s.waiting {
		return
	}
	if uint32(action) == actionContinue {
		v.decide(s, decContinue)
		return
	}
	s.signal <- decPaused
}

func (v *vm) onRequestHeaders(s *stream, hdrs []kv, eos bool) {
	v.nextID++
	if v.nextID == 0 || v.nextID == v.root {
		v.nextID = v.root + 1
	}
	s.id = v.nextID
	v.streams[s.id] = s
	s.phase = phaseRequest
	s.reqHdr = hmap{kv: hdrs, ok: true}
	s.waiting = true
	v.setEffective(s)
	if _, ok := v.call(v.fn.contextCreate, uint64(s.id), uint64(v.root)); !ok {
		return
	}
	action, ok := uint64(actionContinue), true
	if v.fn.reqHeaders != nil {
		action, ok = v.call(v.fn.reqHeaders, uint64(s.id), uint64(len(hdrs)), b2u(eos))
	}
	v.endCallback(s, action, ok)
}

func (v *vm) onResponseHeaders(s *stream, hdrs []kv, eos bool) {
	if v.streams[s.id] != s || s.phase != phaseUpstream {
		// The stream was abandoned (pause timeout, client gone) meanwhile.
		s.signal <- decFail
		return
	}
	s.phase = phaseResponse
	s.respHdr = hmap{kv: hdrs, ok: true}
	s.wantContinue, s.wantClose = false, false
	s.waiting = true
	v.setEffective(s)
	action, ok := uint64(actionContinue), true
	if v.fn.respHeaders != nil {
		action, ok = v.call(v.fn.respHeaders, uint64(s.id), uint64(len(hdrs)), b2u(eos))
	}
	v.endCallback(s, action, ok)
}

// finishStream runs proxy_on_log, proxy_on_done and proxy_on_delete (Envoy's
// order) when the request is over, however it ended.
func (v *vm) finishStream(s *stream) {
	if s.id == 0 || v.streams[s.id] != s {
		return
	}
	s.waiting = false
	s.phase = phaseDone
	s.respHdr.ok = s.respHdr.kv != nil
	v.setEffective(s)
	if v.fn.log != nil {
		if _, ok := v.call(v.fn.log, uint64(s.id)); !ok {
			return
		}
	}
	done := true
	if v.fn.done != nil {
		r, ok := v.call(v.fn.done, uint64(s.id))
		if !ok {
			return
		}
		done = uint32(r) != 0
	}
	if !done {
		s.awaitDone = true // proxy_done will delete it
		v.afterCallback()
		return
	}
	v.deleteStream(s)
	v.afterCallback()
}

func (v *vm) deleteStream(s *stream) {
	if v.streams[s.id] != s {
		return
	}
	v.setEffective(s)
	v.call(v.fn.delete, uint64(s.id))
	delete(v.streams, s.id)
	if v.cur == s {
		v.setEffective(nil)
	}
}

// canReply reports whether proxy_send_local_response may answer now: while
// a headers decision is pending, or from a body callback (or a body paused
// at end of stream) before the response headers went out.
func (s *stream) canReply() bool {
	if s.waiting {
		return true
	}
	if s.bodyActive || s.trlActive || s.reqBodyWait || s.respBodyWait {
		return s.phase <= phaseUpstream || s.respHeld
	}
	return false
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// ---- request side ----

// Middleware runs the filter around next: request headers (with
// :method, :path, :authority, :scheme first) before next, response headers
// when next writes its header, then on_log, on_done, on_delete. A filter
// that pauses holds the request until it calls proxy_continue_stream or
// sends a local response, at most Limits.PauseTimeout (then 503).
func (p *Plugin) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.serve(w, r, next)
	})
}

func (p *Plugin) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	v := p.pick()
	if v == nil {
		p.failed(w, r, next, "no live VM")
		return
	}
	v.inflight.Add(1)
	s := newStream(p, v, r)
	posted, complete := false, false
	defer func() {
		if posted {
			// on_log/on_done/on_delete may run on this goroutine (post's
			// fast path): send a complete response out first, so they are
			// not in the client's latency. Only with a known length (an
			// early flush would turn a small unsized body into chunks) and
			// over HTTP/1 (an HTTP/2 flush can wait on the client's flow
			// control window, and the stream's end should not wait on it).
			if complete && r.ProtoMajor == 1 && w.Header().Get("Content-Length") != "" {
				_ = http.NewResponseController(w).Flush()
			}
			v.post(context.Background(), task{kind: taskFinish, s: s})
		}
		v.inflight.Add(-1)
	}()
	eos := r.Body == nil || r.Body == http.NoBody
	pairs := requestPairs(r)
	if len(pairs) > p.limits.MaxHeaders || mapSize(pairs) > p.limits.MaxHeaderBytes {
		http.Error(w, "431 Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	if !v.post(r.Context(), task{kind: taskRequest, s: s, hdrs: pairs, eos: eos}) {
		if r.Context().Err() != nil {
			return
		}
		p.failed(w, r, next, "VM unavailable")
		return
	}
	posted = true
	ctx := r.Context()
	bodyFiltered := p.has.requestBody && !eos
	bodyEOF := false
	var extra []byte
	d := s.recv(ctx, nil)
	if d == decPaused {
		if bodyFiltered {
			d, bodyEOF, extra = s.feedWhilePaused(ctx, r.Body)
		} else {
			d = s.await2(ctx)
		}
	}
	switch d {
	case decContinue:
		r2, err := s.outgoing(r)
		if err != nil {
			p.logger.Warn("filter set an invalid request; answering 500", "error", err)
			http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
			return
		}
		if bodyFiltered {
			if r2 == r {
				r2 = new(http.Request)
				*r2 = *r
			}
			// The filter may change the body's length.
			r2.ContentLength = -1
			r2.Header.Del("Content-Length")
			initial := append(s.reqBodyOut, extra...)
			s.reqBodyOut = nil
			r2.Body = &bodyReader{s: s, ctx: ctx, src: r.Body, out: initial, finished: bodyEOF, trailer: r.Trailer}
		} else if p.has.requestTrailers && len(r.Trailer) > 0 && !eos {
			if r2 == r {
				r2 = new(http.Request)
				*r2 = *r
			}
			r2.Body = &trailerReader{s: s, ctx: ctx, src: r.Body, trailer: r.Trailer}
		}
		rw := &respWriter{w: w, s: s, p: p, r: r, bodyFiltered: p.has.responseBody}
		next.ServeHTTP(rw, r2)
		rw.finish()
		complete = !rw.reset
	case decLocal:
		// The filter's own reply passes its response callbacks too.
		rw := &respWriter{w: w, s: s, p: p, r: r, bodyFiltered: p.has.responseBody}
		writeLocal(rw, s.local)
		rw.finish()
		complete = !rw.reset
	case decReset:
		panic(http.ErrAbortHandler)
	case decFail:
		if s.bodyConsumed {
			// Part of the body went into the dead VM; passing the rest
			// would forward a truncated request, even when failing open.
			p.logger.Warn("filter failed while reading the request body; answering 503")
			serviceUnavailable(w)
			return
		}
		p.failed(w, r, next, "VM failed")
	case decTimeout:
		p.logger.Warn("filter paused the request longer than the pause timeout; answering 503", "timeout", p.limits.PauseTimeout)
		serviceUnavailable(w)
	case decTooLarge:
		p.writeAbort(w, s, decTooLarge)
	case decGone:
	}
}

// failed applies the failure policy: 503, or with FailOpen the request
// goes to next unfiltered.
func (p *Plugin) failed(w http.ResponseWriter, r *http.Request, next http.Handler, why string) {
	if p.cfg.FailOpen {
		p.logger.Warn("filter unavailable; failing open", "reason", why)
		next.ServeHTTP(w, r)
		return
	}
	p.logger.Warn("filter unavailable; failing closed", "reason", why)
	serviceUnavailable(w)
}

func serviceUnavailable(w http.ResponseWriter) {
	h := w.Header()
	clear(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("503 Service Unavailable\n"))
}

// await waits for the worker's decision on the current phase. A pause is
// bounded by PauseTimeout; a dead VM counts as a failure.
func (s *stream) await(ctx context.Context) decision {
	d := s.recv(ctx, nil)
	if d != decPaused {
		return d
	}
	t := time.NewTimer(s.p.limits.PauseTimeout)
	defer t.Stop()
	return s.recv(ctx, t.C)
}

func (s *stream) recv(ctx context.Context, timeout <-chan time.Time) decision {
	select {
	case d := <-s.signal:
		return d
	case <-s.v.deadCh:
		select {
		case d := <-s.signal:
			if d != decPaused {
				return d
			}
		default:
		}
		return decFail
	case <-ctx.Done():
		return decGone
	case <-timeout:
		return decTimeout
	}
}

// outgoing applies the filter's changes to the request headers.
func (s *stream) outgoing(r *http.Request) (*http.Request, error) {
	if !s.reqHdr.dirty {
		return r, nil
	}
	r2 := new(http.Request)
	*r2 = *r
	h := make(http.Header, len(s.reqHdr.kv))
	// One backing array for the values: a key's first value takes a one-element slice of
	// it (capacity 1, so a second value of that key appends elsewhere).
	vals := make([]string, len(s.reqHdr.kv))
	for i, p := range s.reqHdr.kv {
		if p.key == "" {
			continue
		}
		if p.key[0] == ':' {
			switch p.key {
			case ":method":
				r2.Method = p.val
			case ":authority":
				r2.Host = p.val
			case ":path":
				if p.val != r.RequestURI {
					u, err := url.ParseRequestURI(p.val)
					if err != nil {
						return nil, err
					}
					nu := *r.URL
					nu.Path, nu.RawPath, nu.RawQuery = u.Path, u.RawPath, u.RawQuery
					r2.URL = &nu
					r2.RequestURI = p.val
				}
			}
			continue
		}
		if p.key == "host" {
			r2.Host = p.val
			continue
		}
		ck := canonicalKey(p.key)
		if prev, ok := h[ck]; ok {
			h[ck] = append(prev, p.val)
		} else {
			vals[i] = p.val
			h[ck] = vals[i : i+1 : i+1]
		}
	}
	r2.Header = h
	return r2, nil
}

func writeLocal(w http.ResponseWriter, lr *localReply) {
	h := w.Header()
	clear(h)
	for _, p := range lr.hdrs {
		if p.key == "" || p.key[0] == ':' {
			continue
		}
		ck := canonicalKey(p.key)
		h[ck] = append(h[ck], p.val)
	}
	if lr.grpc != 0xFFFFFFFF && h.Get("Grpc-Status") == "" && h.Get("Content-Type") == "application/grpc" {
		h.Set("Grpc-Status", strconv.FormatUint(uint64(lr.grpc), 10))
		if lr.details != "" {
			h.Set("Grpc-Message", lr.details)
		}
	}
	if len(lr.body) > 0 {
		h.Set("Content-Length", strconv.Itoa(len(lr.body)))
	}
	w.WriteHeader(lr.code)
	_, _ = w.Write(lr.body)
}

// canonicalKey turns a lower-case header name back into Go's canonical form,
// without allocating for common names.
func canonicalKey(k string) string {
	if c, ok := commonCanonical[k]; ok {
		return c
	}
	return http.CanonicalHeaderKey(k)
}

var commonCanonical = func() map[string]string {
	m := make(map[string]string, len(commonLower))
	for c, l := range commonLower {
		m[l] = http.CanonicalHeaderKey(c)
	}
	return m
}()

// respWriter runs the response callbacks when next writes.
type respWriter struct {
	w            http.ResponseWriter
	s            *stream
	p            *Plugin
	r            *http.Request
	code         int
	wrote        bool // WriteHeader was called by next (or implied)
	sent         bool // headers went downstream
	held         bool // the filter paused the headers; body chunks are buffered
	skip         bool // a local reply or failure was written; drop next's body
	reset        bool // abort the connection when next returns
	bodyFiltered bool
	bodySeen     bool // a body chunk went to the filter (failing open would lose it)
}

var (
	_ http.ResponseWriter = (*respWriter)(nil)
	_ http.Flusher        = (*respWriter)(nil)
)

func (rw *respWriter) Header() http.Header { return rw.w.Header() }

func (rw *respWriter) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.skip {
		return len(b), nil
	}
	if rw.reset {
		return 0, errFilterAbort
	}
	if !rw.bodyFiltered {
		return rw.w.Write(b)
	}
	if len(b) == 0 {
		return 0, nil
	}
	ctx := rw.r.Context()
	rw.bodySeen = true
	if rw.held {
		r := rw.s.sendBody(ctx, b, false, true, true)
		if r.unheld {
			// The headers were decided while the chunk was on its way.
			rw.release(<-rw.s.signal)
			if rw.skip || rw.reset {
				return len(b), nil
			}
			return len(b), rw.apply(r)
		}
		if r.d != decPaused {
			rw.stop(r.d)
			return len(b), nil
		}
		// The filter may have decided on the headers meanwhile.
		select {
		case d := <-rw.s.signal:
			rw.release(d)
		default:
		}
		return len(b), nil
	}
	r := rw.s.sendBody(ctx, b, false, true, false)
	return len(b), rw.apply(r)
}

// apply handles the answer to a (non-held) response body chunk.
func (rw *respWriter) apply(r bodyResult) error {
	switch r.d {
	case decContinue:
		if len(r.data) > 0 {
			if _, err := rw.w.Write(r.data); err != nil {
				return err
			}
		}
	case decPaused:
	default:
		rw.stop(r.d)
		if rw.reset {
			return errFilterAbort
		}
	}
	return nil
}

// stop ends the response after the filter or the VM stopped it: a local
// reply or 503 if nothing went downstream yet, else a reset (or, failing
// open, the rest of the body unfiltered).
func (rw *respWriter) stop(d decision) {
	if !rw.sent {
		rw.held = false
		rw.sent = true
		rw.skip = true
		switch d {
		case decLocal:
			writeLocal(rw.w, rw.s.local)
		case decReset:
			rw.reset = true
		case decGone:
		case decFail:
			if rw.p.cfg.FailOpen && !rw.bodySeen {
				rw.skip = false
				rw.bodyFiltered = false
				rw.writeHeaders(rw.code, nil)
				return
			}
			serviceUnavailable(rw.w)
		default:
			serviceUnavailable(rw.w)
		}
		return
	}
	if d == decFail && rw.p.cfg.FailOpen && !rw.bodySeen {
		rw.bodyFiltered = false
		return
	}
	if d != decGone {
		rw.reset = true
	}
	rw.skip = true
}

// Flush implements http.Flusher.
func (rw *respWriter) Flush() {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	if f, ok := rw.w.(http.Flusher); ok && rw.sent && !rw.skip {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *respWriter) Unwrap() http.ResponseWriter { return rw.w }

func (rw *respWriter) WriteHeader(code int) {
	if rw.wrote {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.w.WriteHeader(code)
		return
	}
	rw.wrote, rw.code = true, code
	p, s := rw.p, rw.s
	if d := decision(s.abort.Load()); d != 0 {
		// The request body reader stopped the stream; answer for the filter.
		rw.sent, rw.skip = true, true
		p.writeAbort(rw.w, s, d)
		return
	}
	if !p.has.responseHeaders {
		rw.writeHeaders(code, nil)
		return
	}
	h := rw.w.Header()
	eos := code == http.StatusNoContent || code == http.StatusNotModified || rw.r.Method == http.MethodHead || h.Get("Content-Length") == "0"
	ctx := rw.r.Context()
	if !s.v.post(ctx, task{kind: taskResponse, s: s, hdrs: responsePairs(code, h), eos: eos}) {
		rw.stop(decFail)
		return
	}
	d := s.recv(ctx, nil)
	if d == decPaused {
		if rw.bodyFiltered && !eos {
			rw.held = true
			return
		}
		d = s.await2(ctx)
	}
	rw.release(d)
}

// release applies the decision on the response headers.
func (rw *respWriter) release(d decision) {
	rw.held = false
	switch d {
	case decContinue:
		var pairs []kv
		if rw.s.respHdr.dirty {
			pairs = rw.s.respHdr.kv
		}
		rw.writeHeaders(rw.code, pairs)
		if rw.bodyFiltered {
			// Body buffered while the headers were held is ours now.
			if data := rw.s.respBodyOut; len(data) > 0 {
				rw.s.respBodyOut = nil
				_, _ = rw.w.Write(data)
			}
		}
	case decTimeout:
		rw.p.logger.Warn("filter paused the response longer than the pause timeout; answering 503", "timeout", rw.p.limits.PauseTimeout)
		rw.stop(decTimeout)
	default:
		rw.stop(d)
	}
}

// writeHeaders sends the response headers downstream, with the filter's
// version of them when it changed them.
func (rw *respWriter) writeHeaders(code int, pairs []kv) {
	h := rw.w.Header()
	if pairs != nil {
		clear(h)
		for _, kv := range pairs {
			if kv.key == "" {
				continue
			}
			if kv.key[0] == ':' {
				if kv.key == ":status" {
					if c, err := strconv.Atoi(kv.val); err == nil && c >= 200 && c <= 599 {
						code = c
					}
				}
				continue
			}
			ck := canonicalKey(kv.key)
			h[ck] = append(h[ck], kv.val)
		}
	}
	if rw.bodyFiltered {
		h.Del("Content-Length") // the filter may change the body
	}
	rw.sent = true
	rw.w.WriteHeader(code)
}

// finish runs after next returned: it ends the response body for the
// filter (end_of_stream) and applies what is pending.
func (rw *respWriter) finish() {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	ctx := rw.r.Context()
	var trailers []kv
	if rw.p.has.responseTrailers && !rw.skip && !rw.reset && !rw.held {
		trailers = responseTrailers(rw.w.Header())
	}
	if rw.bodyFiltered && !rw.skip && !rw.reset {
		if rw.held {
			r := rw.s.sendBody(ctx, nil, true, true, true)
			switch {
			case r.unheld:
				rw.release(<-rw.s.signal)
				if r.d == decPaused {
					r = rw.s.waitBody(ctx, true, true)
				}
				if !rw.skip && !rw.reset {
					_ = rw.apply(r)
				}
			case r.d != decPaused:
				rw.stop(r.d)
			default:
				rw.release(rw.s.await2(ctx))
			}
		} else {
			_ = rw.apply(rw.s.sendBody(ctx, nil, len(trailers) == 0, true, false))
		}
	}
	if len(trailers) > 0 && !rw.skip && !rw.reset {
		r := rw.s.sendTrailers(ctx, trailers, true)
		switch {
		case r.d == decContinue:
			if rw.s.respTrlr.dirty {
				applyResponseTrailers(rw.w.Header(), rw.s.respTrlr.kv)
			}
		case r.d == decFail && rw.p.cfg.FailOpen, r.d == decGone:
		default:
			rw.reset = true
		}
	}
	if rw.reset {
		panic(http.ErrAbortHandler)
	}
}
