package host

import (
	"context"
	"io"
	"net/http"
	"strings"
)

// Trailers. When the filter exports proxy_on_request_trailers or
// proxy_on_response_trailers and the message carries trailers, the last
// body chunk goes to the filter with end_of_stream false and the trailers
// follow, writable during the callback, as in Envoy. The answers travel on
// the body channel of their direction; a trailers callback may pause and
// be continued like a body paused at end of stream.

// onTrailers runs on the worker.
func (v *vm) onTrailers(s *stream, hdrs []kv, resp bool) {
	done := s.bodyCh(resp)
	if s.id == 0 || v.streams[s.id] != s || s.phase == phaseDone {
		done <- bodyResult{d: decFail}
		return
	}
	m, fn := &s.reqTrailer, v.fn.reqTrailers
	if resp {
		m, fn = &s.respTrlr, v.fn.respTrls
	}
	*m = hmap{kv: hdrs, ok: true}
	s.trlActive, s.trlResp = true, resp
	v.setEffective(s)
	action, ok := v.call(fn, uint64(s.id), uint64(len(hdrs)))
	s.trlActive = false
	v.afterCallback()
	if !ok {
		done <- bodyResult{d: decFail}
		return
	}
	if d, stop := v.bodyStop(s); stop {
		done <- bodyResult{d: d}
		return
	}
	cont := uint32(action) == actionContinue
	if resp {
		cont = cont || s.respBodyCont
		s.respBodyCont = false
	} else {
		cont = cont || s.reqBodyCont
		s.reqBodyCont = false
	}
	if cont {
		done <- bodyResult{d: decContinue}
		return
	}
	if resp {
		s.respBodyWait = true
	} else {
		s.reqBodyWait = true
	}
	done <- bodyResult{d: decPaused}
}

// sendTrailers gives trailers to the filter and waits for its answer.
func (s *stream) sendTrailers(ctx context.Context, pairs []kv, resp bool) bodyResult {
	kind := uint8(taskRequestTrailers)
	if resp {
		kind = taskResponseTrailers
	}
	if !s.v.post(ctx, task{kind: kind, s: s, hdrs: pairs}) {
		if ctx.Err() != nil {
			return bodyResult{d: decGone}
		}
		return bodyResult{d: decFail}
	}
	return s.waitBody(ctx, resp, true)
}

// trailerPairs returns the trailers that have values, lower-cased.
func trailerPairs(t http.Header) []kv {
	var pairs []kv
	for k, vs := range t {
		lk := lowerKey(k)
		for _, v := range vs {
			pairs = append(pairs, kv{lk, v})
		}
	}
	return pairs
}

// setTrailers replaces the contents of t with pairs.
func setTrailers(t http.Header, pairs []kv) {
	for k := range t {
		t[k] = nil
	}
	for _, p := range pairs {
		if p.key == "" || p.key[0] == ':' {
			continue
		}
		ck := canonicalKey(p.key)
		t[ck] = append(t[ck], p.val)
	}
}

// trailerReader passes the request body through and, at its end, runs the
// request trailers callback (used when only trailers are filtered).
type trailerReader struct {
	s       *stream
	ctx     context.Context
	src     io.ReadCloser
	trailer http.Header
	done    bool
}

func (t *trailerReader) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	if err == io.EOF && !t.done {
		t.done = true
		if aerr := t.s.runRequestTrailers(t.ctx, t.trailer); aerr != nil {
			return n, aerr
		}
	}
	return n, err
}

func (t *trailerReader) Close() error { return t.src.Close() }

// runRequestTrailers runs on_request_trailers when trailers arrived, and
// applies the filter's changes to them.
func (s *stream) runRequestTrailers(ctx context.Context, trailer http.Header) error {
	pairs := trailerPairs(trailer)
	if len(pairs) == 0 {
		return nil
	}
	r := s.sendTrailers(ctx, pairs, false)
	if r.d != decContinue {
		s.abort.CompareAndSwap(0, uint32(r.d))
		return errFilterAbort
	}
	if s.reqTrailer.dirty {
		setTrailers(trailer, s.reqTrailer.kv)
	}
	return nil
}

// responseTrailers collects the trailers next set: keys it announced in
// "Trailer" and keys with http.TrailerPrefix.
func responseTrailers(h http.Header) []kv {
	var pairs []kv
	for _, decl := range h.Values("Trailer") {
		for _, k := range strings.Split(decl, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			for _, v := range h[k] {
				pairs = append(pairs, kv{lowerKey(k), v})
			}
		}
	}
	for k, vs := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			for _, v := range vs {
				pairs = append(pairs, kv{lowerKey(strings.TrimPrefix(k, http.TrailerPrefix)), v})
			}
		}
	}
	return pairs
}

// applyResponseTrailers writes the filter's version of the trailers: all
// as http.TrailerPrefix keys, after removing the ones next set.
func applyResponseTrailers(h http.Header, pairs []kv) {
	for _, decl := range h.Values("Trailer") {
		for _, k := range strings.Split(decl, ",") {
			delete(h, http.CanonicalHeaderKey(strings.TrimSpace(k)))
		}
	}
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			delete(h, k)
		}
	}
	for _, p := range pairs {
		if p.key == "" || p.key[0] == ':' {
			continue
		}
		k := http.TrailerPrefix + canonicalKey(p.key)
		h[k] = append(h[k], p.val)
	}
}
