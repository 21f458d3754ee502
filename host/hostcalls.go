package host

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Handlers of the env imports registered in imports.go. They run on the
// worker goroutine of the calling VM, inside a guest callback.

func hLog(v *vm, mem api.Memory, st []uint64) status {
	lvl, p, n := u32(st, 0), u32(st, 1), u32(st, 2)
	if lvl > logCritical {
		return statusBadArgument
	}
	msg, ok := mem.Read(p, n)
	if !ok {
		return statusInvalidMemoryAccess
	}
	if int(n) > v.p.limits.MaxValueBytes {
		msg = msg[:v.p.limits.MaxValueBytes]
	}
	l := slogLevel(lvl)
	if v.log.Enabled(context.Background(), l) {
		v.log.Log(context.Background(), l, string(msg))
	}
	return statusOK
}

func hGetLogLevel(v *vm, mem api.Memory, st []uint64) status {
	p := u32(st, 0)
	if !inBounds(mem, p, 4) {
		return statusInvalidMemoryAccess
	}
	lvl := uint32(logCritical)
	for l := uint32(logTrace); l <= logCritical; l++ {
		if v.log.Enabled(context.Background(), slogLevel(l)) {
			lvl = l
			break
		}
	}
	mem.WriteUint32Le(p, lvl)
	return statusOK
}

func hDone(v *vm, _ api.Memory, _ []uint64) status {
	s := v.cur
	if s == nil || !s.awaitDone {
		return statusNotFound
	}
	s.awaitDone = false
	s.wantDelete = true
	v.markPending(s)
	return statusOK
}

func hSetEffectiveContext(v *vm, _ api.Memory, st []uint64) status {
	id := u32(st, 0)
	if id == v.root {
		v.setEffective(nil)
		return statusOK
	}
	s := v.streams[id]
	if s == nil {
		return statusBadArgument
	}
	v.setEffective(s)
	return statusOK
}

func hGetCurrentTime(_ *vm, mem api.Memory, st []uint64) status {
	if !mem.WriteUint64Le(u32(st, 0), uint64(time.Now().UnixNano())) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func hSetTickPeriod(v *vm, _ api.Memory, st []uint64) status {
	v.setTick(u32(st, 0))
	return statusOK
}

// buffer returns the buffer buf as the current context sees it.
func (v *vm) buffer(buf uint32) ([]byte, status) {
	switch buf {
	case bufferVMConfiguration:
		return v.p.cfg.VMConfiguration, statusOK
	case bufferPluginConfiguration:
		return v.p.cfg.Configuration, statusOK
	case bufferHTTPCallResponseBody:
		if v.callResp == nil {
			return nil, statusNotFound
		}
		return v.callResp.body, statusOK
	case bufferHTTPRequestBody:
		if s := v.cur; s != nil && s.reqBodyOK {
			return s.reqBody, statusOK
		}
		return nil, statusNotFound
	case bufferHTTPResponseBody:
		if s := v.cur; s != nil && s.respBodyOK {
			return s.respBody, statusOK
		}
		return nil, statusNotFound
	case bufferDownstreamData, bufferUpstreamData, bufferGRPCCallMessage, bufferForeignFunctionArgs:
		return nil, statusNotFound
	}
	return nil, statusBadArgument
}

func hGetBufferBytes(v *vm, mem api.Memory, st []uint64) status {
	buf, start, max, pp, lp := u32(st, 0), u32(st, 1), u32(st, 2), u32(st, 3), u32(st, 4)
	data, s := v.buffer(buf)
	if s != statusOK {
		return s
	}
	if uint64(start) > uint64(len(data)) {
		return statusBadArgument
	}
	end := uint64(start) + uint64(max)
	if end > uint64(len(data)) {
		end = uint64(len(data))
	}
	return writeOut(v, mem, data[start:end], pp, lp)
}

func hGetBufferStatus(v *vm, mem api.Memory, st []uint64) status {
	buf, lp, fp := u32(st, 0), u32(st, 1), u32(st, 2)
	data, s := v.buffer(buf)
	if s != statusOK {
		return s
	}
	if !inBounds(mem, lp, 4) || !inBounds(mem, fp, 4) {
		return statusInvalidMemoryAccess
	}
	mem.WriteUint32Le(lp, uint32(len(data)))
	mem.WriteUint32Le(fp, 0)
	return statusOK
}

func hSetBufferBytes(v *vm, mem api.Memory, st []uint64) status {
	buf, start, size, dp, dn := u32(st, 0), u32(st, 1), u32(st, 2), u32(st, 3), u32(st, 4)
	var target *[]byte
	s := v.cur
	switch buf {
	case bufferHTTPRequestBody:
		if s == nil || !s.reqBodyOK {
			return statusNotFound
		}
		if !(s.bodyActive && !s.bodyResp || s.reqBodyWait || s.waiting && s.phase == phaseRequest) {
			return statusBadArgument // the body already went upstream
		}
		target = &s.reqBody
	case bufferHTTPResponseBody:
		if s == nil || !s.respBodyOK {
			return statusNotFound
		}
		if !(s.bodyActive && s.bodyResp || s.respBodyWait || s.waiting && s.phase == phaseResponse) {
			return statusBadArgument
		}
		target = &s.respBody
	case bufferDownstreamData, bufferUpstreamData, bufferHTTPCallResponseBody, bufferGRPCCallMessage,
		bufferVMConfiguration, bufferPluginConfiguration, bufferForeignFunctionArgs:
		return statusNotFound
	default:
		return statusBadArgument
	}
	val, ok := mem.Read(dp, dn)
	if !ok {
		return statusInvalidMemoryAccess
	}
	old := *target
	// start=0,size=0 prepends; start >= len appends; otherwise replace.
	st0 := uint64(start)
	if st0 > uint64(len(old)) {
		st0 = uint64(len(old))
	}
	end := st0 + uint64(size)
	if end > uint64(len(old)) {
		end = uint64(len(old))
	}
	nl := uint64(len(old)) - (end - st0) + uint64(len(val))
	if nl > uint64(v.p.limits.MaxBodyBytes) {
		return statusBadArgument
	}
	nb := make([]byte, 0, nl)
	nb = append(nb, old[:st0]...)
	nb = append(nb, val...)
	nb = append(nb, old[end:]...)
	*target = nb
	s.bodyDirty = true
	return statusOK
}

// headerMap returns the map mt of the current context; writable reports
// whether the filter may change it now.
func (v *vm) headerMap(mt uint32) (m *hmap, writable bool, st status) {
	s := v.cur
	switch mt {
	case mapHTTPRequestHeaders:
		if s != nil && s.reqHdr.ok {
			return &s.reqHdr, s.phase == phaseRequest, statusOK
		}
	case mapHTTPRequestTrailers:
		if s != nil && s.reqTrailer.ok {
			return &s.reqTrailer, s.trlActive && !s.trlResp || s.reqBodyWait, statusOK
		}
	case mapHTTPResponseHeaders:
		if s != nil && s.respHdr.ok {
			return &s.respHdr, s.phase == phaseResponse, statusOK
		}
	case mapHTTPResponseTrailers:
		if s != nil && s.respTrlr.ok {
			return &s.respTrlr, s.trlActive && s.trlResp || s.respBodyWait, statusOK
		}
	case mapHTTPCallResponseHeaders:
		if v.callResp != nil {
			return &v.callResp.hdrs, false, statusOK
		}
	case mapHTTPCallResponseTrailers:
		if v.callResp != nil {
			return &v.callResp.trls, false, statusOK
		}
	case mapGRPCInitialMetadata, mapGRPCTrailingMetadata:
	default:
		return nil, false, statusBadArgument
	}
	return nil, false, statusNotFound
}

func hGetHeaderMapSize(v *vm, mem api.Memory, st []uint64) status {
	m, _, s := v.headerMap(u32(st, 0))
	if s != statusOK {
		return s
	}
	if !mem.WriteUint32Le(u32(st, 1), uint32(mapSize(m.kv))) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func hGetHeaderMapPairs(v *vm, mem api.Memory, st []uint64) status {
	m, _, s := v.headerMap(u32(st, 0))
	if s != statusOK {
		return s
	}
	return v.writeMapOut(mem, m.kv, u32(st, 1), u32(st, 2))
}

func hSetHeaderMapPairs(v *vm, mem api.Memory, st []uint64) status {
	m, w, s := v.headerMap(u32(st, 0))
	if s != statusOK {
		return s
	}
	data, ok := mem.Read(u32(st, 1), u32(st, 2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	if !w {
		return statusBadArgument
	}
	if len(data) > v.p.limits.MaxHeaderBytes {
		return statusBadArgument
	}
	pairs, err := decodeMap(data, v.p.limits.MaxHeaders)
	if err != nil {
		return statusBadArgument
	}
	if !validPairs(pairs) {
		return statusBadArgument
	}
	lowerPairs(pairs)
	m.kv, m.dirty = pairs, true
	return statusOK
}

func hGetHeaderMapValue(v *vm, mem api.Memory, st []uint64) status {
	m, _, s := v.headerMap(u32(st, 0))
	if s != statusOK {
		return s
	}
	key, ok := mem.Read(u32(st, 1), u32(st, 2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	pp, lp := u32(st, 3), u32(st, 4)
	for i := range m.kv {
		if equalFoldASCII(key, m.kv[i].key) {
			return writeOut(v, mem, m.kv[i].val, pp, lp)
		}
	}
	if !inBounds(mem, pp, 4) || !inBounds(mem, lp, 4) {
		return statusInvalidMemoryAccess
	}
	return statusNotFound
}

// readKeyValue reads and validates a header name and value from the guest.
func readKeyValue(mem api.Memory, kp, kl, vp, vl uint32) (key []byte, val []byte, s status) {
	key, ok := mem.Read(kp, kl)
	if !ok {
		return nil, nil, statusInvalidMemoryAccess
	}
	val, ok = mem.Read(vp, vl)
	if !ok {
		return nil, nil, statusInvalidMemoryAccess
	}
	if !validName(key) || !validValue(val) {
		return nil, nil, statusBadArgument
	}
	return key, val, statusOK
}

func hAddHeaderMapValue(v *vm, mem api.Memory, st []uint64) status {
	m, w, s := v.headerMap(u32(st, 0))
	if s != statusOK {
		return s
	}
	key, val, s := readKeyValue(mem, u32(st, 1), u32(st, 2), u32(st, 3), u32(st, 4))
	if s != statusOK {
		return s
	}
	if !w {
		return statusBadArgument
	}
	if len(m.kv)+1 > v.p.limits.MaxHeaders || mapSize(m.kv)+len(key)+len(val)+10 > v.p.limits.MaxHeaderBytes {
		return statusBadArgument
	}
	m.kv = append(m.kv, kv{lowerBytes(key), string(val)})
	m.dirty = true
	return statusOK
}

func hReplaceHeaderMapValue(v *vm, mem api.Memory, st []uint64) status {
	m, w, s := v.headerMap(u32(st, 0))
	if s != statusOK {
		return s
	}
	key, val, s := readKeyValue(mem, u32(st, 1), u32(st, 2), u32(st, 3), u32(st, 4))
	if s != statusOK {
		return s
	}
	if !w {
		return statusBadArgument
	}
	found := -1
	out := m.kv[:0]
	for _, p := range m.kv {
		if equalFoldASCII(key, p.key) {
			if found >= 0 {
				continue // drop later duplicates
			}
			found = len(out)
		}
		out = append(out, p)
	}
	if found >= 0 {
		out[found].val = string(val)
		m.kv = out
	} else {
		if len(out)+1 > v.p.limits.MaxHeaders || mapSize(out)+len(key)+len(val)+10 > v.p.limits.MaxHeaderBytes {
			m.kv = out
			return statusBadArgument
		}
		m.kv = append(out, kv{lowerBytes(key), string(val)})
	}
	m.dirty = true
	return statusOK
}

func hRemoveHeaderMapValue(v *vm, mem api.Memory, st []uint64) status {
	m, w, s := v.headerMap(u32(st, 0))
	if s != statusOK {
		return s
	}
	key, ok := mem.Read(u32(st, 1), u32(st, 2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	if !w {
		return statusBadArgument
	}
	out := m.kv[:0]
	for _, p := range m.kv {
		if !equalFoldASCII(key, p.key) {
			out = append(out, p)
		}
	}
	for i := len(out); i < len(m.kv); i++ {
		m.kv[i] = kv{}
	}
	if len(out) != len(m.kv) {
		m.dirty = true
	}
	m.kv = out
	return statusOK
}

// httpStreamArg checks the stream-type argument of continue/close: HTTP streams are served,
// TCP ones are UNIMPLEMENTED, anything else is BAD_ARGUMENT, as is a call with no current stream.
func httpStreamArg(v *vm, st []uint64) (*stream, uint32, status) {
	t := u32(st, 0)
	switch t {
	case streamHTTPRequest, streamHTTPResponse:
	case streamDownstream, streamUpstream:
		return nil, t, statusUnimplemented
	default:
		return nil, t, statusBadArgument
	}
	if v.cur == nil {
		return nil, t, statusBadArgument
	}
	return v.cur, t, statusOK
}

func hContinueStream(v *vm, _ api.Memory, st []uint64) status {
	s, t, code := httpStreamArg(v, st)
	if code != statusOK {
		return code
	}
	switch {
	case s.waiting && (t == streamHTTPRequest && s.phase == phaseRequest || t == streamHTTPResponse && s.phase == phaseResponse):
		s.wantContinue = true
		v.markPending(s)
	case t == streamHTTPRequest && (s.reqBodyWait || s.bodyActive && !s.bodyResp || s.trlActive && !s.trlResp):
		s.reqBodyCont = true
		v.markPending(s)
	case t == streamHTTPResponse && (s.respBodyWait || s.bodyActive && s.bodyResp || s.trlActive && s.trlResp):
		s.respBodyCont = true
		v.markPending(s)
	}
	return statusOK
}

func hCloseStream(v *vm, _ api.Memory, st []uint64) status {
	s, _, code := httpStreamArg(v, st)
	if code != statusOK {
		return code
	}
	if s.canReply() || s.bodyActive || s.trlActive || s.reqBodyWait || s.respBodyWait {
		s.wantClose = true
		v.markPending(s)
	}
	return statusOK
}

func hGetStatus(v *vm, mem api.Memory, st []uint64) status {
	cp, mp, lp := u32(st, 0), u32(st, 1), u32(st, 2)
	if !inBounds(mem, cp, 4) || !inBounds(mem, mp, 4) || !inBounds(mem, lp, 4) {
		return statusInvalidMemoryAccess
	}
	if v.callResp == nil {
		return statusNotFound
	}
	mem.WriteUint32Le(cp, uint32(v.callResp.status))
	return writeOut(v, mem, v.callResp.message, mp, lp)
}

func hSendLocalResponse(v *vm, mem api.Memory, st []uint64) status {
	code := u32(st, 0)
	details, ok1 := mem.Read(u32(st, 1), u32(st, 2))
	body, ok2 := mem.Read(u32(st, 3), u32(st, 4))
	hdrs, ok3 := mem.Read(u32(st, 5), u32(st, 6))
	if !ok1 || !ok2 || !ok3 {
		return statusInvalidMemoryAccess
	}
	s := v.cur
	if s == nil || !s.canReply() || s.local != nil {
		return statusBadArgument
	}
	if code < 200 || code > 599 || len(body) > v.p.limits.MaxBodyBytes || len(hdrs) > v.p.limits.MaxHeaderBytes || len(details) > v.p.limits.MaxValueBytes {
		return statusBadArgument
	}
	pairs, err := decodeMap(hdrs, v.p.limits.MaxHeaders)
	if err != nil || !validPairs(pairs) {
		return statusBadArgument
	}
	lowerPairs(pairs)
	s.local = &localReply{code: int(code), details: string(details), body: append([]byte(nil), body...), hdrs: pairs, grpc: u32(st, 7)}
	v.markPending(s)
	return statusOK
}

func hSetSharedData(v *vm, mem api.Memory, st []uint64) status {
	key, ok1 := mem.Read(u32(st, 0), u32(st, 1))
	val, ok2 := mem.Read(u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	if len(val) > v.p.limits.MaxValueBytes || len(key) > v.p.limits.MaxValueBytes {
		return statusBadArgument
	}
	return v.p.shared.set(key, append([]byte(nil), val...), u32(st, 4))
}

func hGetSharedData(v *vm, mem api.Memory, st []uint64) status {
	key, ok := mem.Read(u32(st, 0), u32(st, 1))
	if !ok {
		return statusInvalidMemoryAccess
	}
	pp, lp, cp := u32(st, 2), u32(st, 3), u32(st, 4)
	if !inBounds(mem, cp, 4) || !inBounds(mem, pp, 4) || !inBounds(mem, lp, 4) {
		return statusInvalidMemoryAccess
	}
	e, found := v.p.shared.get(key)
	if !found {
		return statusNotFound
	}
	if s := writeOut(v, mem, e.val, pp, lp); s != statusOK {
		return s
	}
	mem.WriteUint32Le(cp, e.cas)
	return statusOK
}

func hRegisterSharedQueue(v *vm, mem api.Memory, st []uint64) status {
	name, ok := mem.Read(u32(st, 0), u32(st, 1))
	if !ok || !inBounds(mem, u32(st, 2), 4) {
		return statusInvalidMemoryAccess
	}
	if len(name) > maxPropertyPath {
		return statusBadArgument
	}
	id, ok := v.p.rt.queues.register(v.p.cfg.VMID, string(name), v, v.root)
	if !ok {
		return statusInternalFailure
	}
	mem.WriteUint32Le(u32(st, 2), id)
	return statusOK
}

func hResolveSharedQueue(v *vm, mem api.Memory, st []uint64) status {
	vmID, ok1 := mem.Read(u32(st, 0), u32(st, 1))
	name, ok2 := mem.Read(u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 || !inBounds(mem, u32(st, 4), 4) {
		return statusInvalidMemoryAccess
	}
	id, found := v.p.rt.queues.resolve(string(vmID), string(name))
	if !found {
		return statusNotFound
	}
	mem.WriteUint32Le(u32(st, 4), id)
	return statusOK
}

func hEnqueueSharedQueue(v *vm, mem api.Memory, st []uint64) status {
	val, ok := mem.Read(u32(st, 1), u32(st, 2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	if len(val) > v.p.limits.MaxValueBytes {
		return statusBadArgument
	}
	return v.p.rt.queues.enqueue(u32(st, 0), append([]byte(nil), val...))
}

func hDequeueSharedQueue(v *vm, mem api.Memory, st []uint64) status {
	pp, lp := u32(st, 1), u32(st, 2)
	if !inBounds(mem, pp, 4) || !inBounds(mem, lp, 4) {
		return statusInvalidMemoryAccess
	}
	item, s := v.p.rt.queues.dequeue(u32(st, 0))
	if s != statusOK {
		return s
	}
	return writeOut(v, mem, item, pp, lp)
}

func hDefineMetric(v *vm, mem api.Memory, st []uint64) status {
	name, ok := mem.Read(u32(st, 1), u32(st, 2))
	if !ok || !inBounds(mem, u32(st, 3), 4) {
		return statusInvalidMemoryAccess
	}
	if len(name) == 0 || len(name) > 1024 {
		return statusBadArgument
	}
	id, s := v.p.metrics.define(u32(st, 0), string(name))
	if s != statusOK {
		return s
	}
	mem.WriteUint32Le(u32(st, 3), id)
	return statusOK
}

func hRecordMetric(v *vm, _ api.Memory, st []uint64) status {
	m := v.p.metrics.get(u32(st, 0))
	if m == nil {
		return statusNotFound
	}
	return m.record(st[1])
}

func hIncrementMetric(v *vm, _ api.Memory, st []uint64) status {
	m := v.p.metrics.get(u32(st, 0))
	if m == nil {
		return statusNotFound
	}
	return m.increment(int64(st[1]))
}

func hGetMetric(v *vm, mem api.Memory, st []uint64) status {
	m := v.p.metrics.get(u32(st, 0))
	if m == nil {
		return statusNotFound
	}
	if !inBounds(mem, u32(st, 1), 8) {
		return statusInvalidMemoryAccess
	}
	val, s := m.value()
	if s != statusOK {
		return s
	}
	mem.WriteUint64Le(u32(st, 1), val)
	return statusOK
}
