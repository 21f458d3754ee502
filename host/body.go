package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// Bodies. A filter that exports proxy_on_request_body / proxy_on_response_body
// sees the body in chunks, as the spec and Envoy deliver it: body_size is
// the total the host has buffered for it; CONTINUE (0) forwards the buffer
// (as modified with proxy_set_buffer_bytes), anything else keeps buffering
// (Envoy's StopIterationAndBuffer) until a later CONTINUE, or, after
// end_of_stream, until proxy_continue_stream (bounded by PauseTimeout).
//
// While the headers of that direction are paused, chunks are still given
// to the filter ("even when the processing is paused") and all of them stay
// buffered; the decision on the headers then releases headers and buffer
// together. Buffering is bounded by Limits.MaxBodyBytes (413 for a request
// body, a reset for a response body).

// bodyResult answers one body task.
type bodyResult struct {
	d      decision // decContinue (data to forward), decPaused, decLocal, decReset, decFail, decTooLarge
	data   []byte
	unheld bool // sent in hold mode, but the headers were decided first: handled as a normal chunk
}

const decTooLarge decision = 100

// errFilterAbort is what the request body reader returns when the filter
// stopped the stream; the response writer then writes the filter's answer.
var errFilterAbort = errors.New("host: request stopped by the proxy-wasm filter")

const bodyChunk = 32 << 10

func (s *stream) bodyCh(resp bool) chan bodyResult {
	if resp {
		return s.respBodyDone
	}
	return s.reqBodyDone
}

// onBody runs on the worker: append the chunk, call the body callback and
// answer on the body channel exactly once (or twice when the body pauses at
// end of stream: decPaused now, the data later on proxy_continue_stream).
func (v *vm) onBody(s *stream, chunk []byte, eos, resp, hold bool) {
	done := s.bodyCh(resp)
	if s.id == 0 || v.streams[s.id] != s || s.phase == phaseDone {
		done <- bodyResult{d: decFail}
		return
	}
	unheld := false
	if hold && (!resp && s.phase != phaseRequest || resp && s.phase != phaseResponse) {
		// The headers were decided while this chunk was on its way.
		hold, unheld = false, true
	}
	buf, fn := &s.reqBody, v.fn.reqBody
	if resp {
		buf, fn = &s.respBody, v.fn.respBody
		s.respBodyOK = true
	} else {
		s.reqBodyOK = true
	}
	if len(*buf)+len(chunk) > v.p.limits.MaxBodyBytes {
		done <- bodyResult{d: decTooLarge}
		return
	}
	*buf = append(*buf, chunk...)
	s.bodyActive, s.bodyResp = true, resp
	v.setEffective(s)
	action, ok := v.call(fn, uint64(s.id), uint64(len(*buf)), b2u(eos))
	s.bodyActive = false
	v.afterCallback()
	if !ok {
		done <- bodyResult{d: decFail}
		return
	}
	if hold {
		done <- bodyResult{d: decPaused}
		return
	}
	if d, stop := v.bodyStop(s); stop {
		done <- bodyResult{d: d, unheld: unheld}
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
		data := *buf
		*buf = nil
		done <- bodyResult{d: decContinue, data: data, unheld: unheld}
		return
	}
	if eos {
		if resp {
			s.respBodyWait = true
		} else {
			s.reqBodyWait = true
		}
	}
	done <- bodyResult{d: decPaused, unheld: unheld}
}

// bodyStop reports a local response or close requested outside a headers
// wait (those go through decide instead).
func (v *vm) bodyStop(s *stream) (decision, bool) {
	if s.local != nil && !s.localSent {
		s.localSent = true
		return decLocal, true
	}
	if s.wantClose {
		s.wantClose = false
		return decReset, true
	}
	return 0, false
}

// afterBody resolves a body paused at end of stream once the filter called
// proxy_continue_stream, proxy_send_local_response or proxy_close_stream.
func (v *vm) afterBody(s *stream) {
	for _, resp := range [2]bool{false, true} {
		wait, cont, buf := &s.reqBodyWait, &s.reqBodyCont, &s.reqBody
		if resp {
			wait, cont, buf = &s.respBodyWait, &s.respBodyCont, &s.respBody
		}
		if !*wait {
			continue
		}
		if d, stop := v.bodyStop(s); stop {
			*wait = false
			s.bodyCh(resp) <- bodyResult{d: d}
			continue
		}
		if *cont {
			*wait, *cont = false, false
			data := *buf
			*buf = nil
			s.bodyCh(resp) <- bodyResult{d: decContinue, data: data}
		}
	}
}

// waitBody waits for the answer to a body task; a body paused at end of
// stream waits at most PauseTimeout for the filter to continue it.
func (s *stream) waitBody(ctx context.Context, resp, eos bool) bodyResult {
	ch := s.bodyCh(resp)
	var r bodyResult
	select {
	case r = <-ch:
	case <-s.v.deadCh:
		select {
		case r = <-ch:
		default:
			return bodyResult{d: decFail}
		}
	case <-ctx.Done():
		return bodyResult{d: decGone}
	}
	if r.d != decPaused || !eos {
		return r
	}
	t := time.NewTimer(s.p.limits.PauseTimeout)
	defer t.Stop()
	select {
	case r = <-ch:
		return r
	case <-s.v.deadCh:
		return bodyResult{d: decFail}
	case <-ctx.Done():
		return bodyResult{d: decGone}
	case <-t.C:
		return bodyResult{d: decTimeout}
	}
}

// sendBody posts one chunk and waits for its answer.
func (s *stream) sendBody(ctx context.Context, chunk []byte, eos, resp, hold bool) bodyResult {
	kind := uint8(taskRequestBody)
	if resp {
		kind = taskResponseBody
	}
	if !s.v.post(ctx, task{kind: kind, s: s, body: chunk, eos: eos, hold: hold}) {
		if ctx.Err() != nil {
			return bodyResult{d: decGone}
		}
		return bodyResult{d: decFail}
	}
	if hold {
		// Hold mode never pauses at eos: the headers decision ends the wait.
		return s.waitBody(ctx, resp, false)
	}
	return s.waitBody(ctx, resp, eos)
}

// feedWhilePaused gives request body chunks to the filter while it holds the
// request headers, until it decides or the body ends; then it waits for the
// decision. It returns the decision, whether the body was read to EOF, and
// body the filter released for chunks that reached the worker after the
// headers decision (they are filtered as ordinary chunks).
func (s *stream) feedWhilePaused(ctx context.Context, body io.Reader) (decision, bool, []byte) {
	buf := make([]byte, bodyChunk)
	var extra []byte
	for {
		select {
		case d := <-s.signal:
			return d, false, extra
		default:
		}
		n, err := body.Read(buf)
		eos := err == io.EOF
		if err != nil && !eos {
			return decGone, false, extra
		}
		if n == 0 && !eos {
			continue
		}
		if n > 0 {
			s.bodyConsumed = true
		}
		r := s.sendBody(ctx, buf[:n], eos, false, true)
		if r.unheld {
			if r.d == decPaused && eos {
				r = s.waitBody(ctx, false, true) // paused at eos: wait for its continue
			}
			switch r.d {
			case decContinue:
				extra = append(extra, r.data...)
			case decPaused:
			default:
				<-s.signal // the (continue) headers decision, already sent
				return r.d, false, nil
			}
			if eos {
				return <-s.signal, true, extra
			}
			continue
		}
		switch r.d {
		case decPaused:
		case decTooLarge, decGone:
			return r.d, false, extra
		default:
			// The VM failed; the decision channel says so too.
		}
		if eos {
			return s.await2(ctx), true, extra
		}
	}
}

// await2 waits for the decision after the whole body was delivered while
// paused (the "paused" signal was already consumed).
func (s *stream) await2(ctx context.Context) decision {
	t := time.NewTimer(s.p.limits.PauseTimeout)
	defer t.Stop()
	return s.recv(ctx, t.C)
}

// bodyReader is the request body next reads when the filter sees bodies.
type bodyReader struct {
	s        *stream
	ctx      context.Context
	src      io.ReadCloser
	out      []byte
	buf      []byte
	finished bool
	err      error
	trailer  http.Header
}

var _ io.ReadCloser = (*bodyReader)(nil)

func (b *bodyReader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.finished {
			return 0, io.EOF
		}
		if b.buf == nil {
			b.buf = make([]byte, bodyChunk)
		}
		n, err := b.src.Read(b.buf)
		eos := err == io.EOF
		if err != nil && !eos {
			b.err = err
			return 0, err
		}
		if n == 0 && !eos {
			continue
		}
		hasTrailers := eos && b.s.p.has.requestTrailers && len(trailerPairs(b.trailer)) > 0
		r := b.s.sendBody(b.ctx, b.buf[:n], eos && !hasTrailers, false, false)
		switch r.d {
		case decContinue:
			b.out = r.data
		case decPaused:
			if eos && !hasTrailers {
				// Paused at eos without a later continue: cannot happen
				// (waitBody waits), but be safe.
				b.abort(decTimeout)
			}
		default:
			b.abort(r.d)
		}
		if eos {
			b.finished = true
			if hasTrailers && b.err == nil {
				if err := b.s.runRequestTrailers(b.ctx, b.trailer); err != nil {
					b.err = err
				}
			}
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *bodyReader) abort(d decision) {
	b.s.abort.CompareAndSwap(0, uint32(d))
	b.err = errFilterAbort
}

func (b *bodyReader) Close() error { return b.src.Close() }

// writeAbort writes what an aborted request body asked for: the filter's
// local response, 413, or 503.
func (p *Plugin) writeAbort(w http.ResponseWriter, s *stream, d decision) {
	switch d {
	case decLocal:
		writeLocal(w, s.local)
	case decReset:
		panic(http.ErrAbortHandler)
	case decTooLarge:
		h := w.Header()
		clear(h)
		http.Error(w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
	case decGone:
	default:
		serviceUnavailable(w)
	}
}
