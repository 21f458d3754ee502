// Command guest is a proxy-wasm filter built only for the host tests
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared). It declares its own
// minimal ABI so the host is tested against the spec, not against our
// filter's ABI layer. The request header "x-test" selects a scenario; most
// scenarios answer with a local response whose body lists what the guest saw.
package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"
)

//go:wasmimport env proxy_log
func proxyLog(level uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(out *uint32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTime(out *uint64) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_done
func proxyDone() uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(buf, start, max uint32, pp *uint32, lp *uint32) uint32

//go:wasmimport env proxy_get_buffer_status
func proxyGetBufferStatus(buf uint32, lp *uint32, fp *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(buf, start, size uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mt uint32, pp *uint32, lp *uint32) uint32

//go:wasmimport env proxy_get_header_map_size
func proxyGetHeaderMapSize(mt uint32, lp *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(mt uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(mt uint32, kp unsafe.Pointer, kl uint32, pp *uint32, lp *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(mt uint32, kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mt uint32, kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(mt uint32, kp unsafe.Pointer, kl uint32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t uint32) uint32

//go:wasmimport env proxy_close_stream
func proxyCloseStream(t uint32) uint32

//go:wasmimport env proxy_get_status
func proxyGetStatus(code *uint32, pp *uint32, lp *uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(code uint32, dp unsafe.Pointer, dl uint32, bp unsafe.Pointer, bl uint32, hp unsafe.Pointer, hl uint32, grpc int32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(up unsafe.Pointer, ul uint32, hp unsafe.Pointer, hl uint32, bp unsafe.Pointer, bl uint32, tp unsafe.Pointer, tl uint32, timeout uint32, id *uint32) uint32

//go:wasmimport env proxy_grpc_call
func proxyGRPCCall(a, b, c, d, e, f, g, h, i, j, k uint32, id *uint32) uint32

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(np unsafe.Pointer, nl uint32, ap unsafe.Pointer, al uint32, pp *uint32, lp *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vl uint32, cas uint32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(kp unsafe.Pointer, kl uint32, pp *uint32, lp *uint32, cas *uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(np unsafe.Pointer, nl uint32, id *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vp unsafe.Pointer, vl uint32, np unsafe.Pointer, nl uint32, id *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(id uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(id uint32, pp *uint32, lp *uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(t uint32, np unsafe.Pointer, nl uint32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, v uint64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, out *uint64) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(pp unsafe.Pointer, pl uint32, rp *uint32, rl *uint32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(pp unsafe.Pointer, pl uint32, vp unsafe.Pointer, vl uint32) uint32

// ---- memory: buffers the host asked for stay reachable until taken ----

var pinned = map[uint32][]byte{}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) unsafe.Pointer {
	if size == 0 {
		size = 1
	}
	b := make([]byte, size)
	p := unsafe.Pointer(&b[0])
	pinned[uint32(uintptr(p))] = b
	return p
}

func take(p, n uint32) []byte {
	if p == 0 {
		return nil
	}
	b := pinned[p]
	delete(pinned, p)
	if b == nil || int(n) > len(b) {
		panic("host returned a pointer it did not allocate")
	}
	return b[:n]
}

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

func sp(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }
func bp(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func logf(level uint32, s string) { proxyLog(level, sp(s), uint32(len(s))) }

// ---- header maps (own codec, independent of the host's) ----

type pair struct{ k, v string }

func encode(ps []pair) []byte {
	if len(ps) == 0 {
		return nil
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(ps)))
	for _, p := range ps {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.k)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.v)))
	}
	for _, p := range ps {
		b = append(b, p.k...)
		b = append(b, 0)
		b = append(b, p.v...)
		b = append(b, 0)
	}
	return b
}

func decode(b []byte) []pair {
	if len(b) < 4 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(b))
	pos := 4 + 8*n
	ps := make([]pair, n)
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		ps[i] = pair{string(b[pos : pos+kl]), string(b[pos+kl+1 : pos+kl+1+vl])}
		pos += kl + vl + 2
	}
	return ps
}

func getPairs(mt uint32) ([]pair, uint32) {
	var p, n uint32
	st := proxyGetHeaderMapPairs(mt, &p, &n)
	return decode(take(p, n)), st
}

func getHeader(mt uint32, k string) (string, uint32) {
	var p, n uint32
	st := proxyGetHeaderMapValue(mt, sp(k), uint32(len(k)), &p, &n)
	return string(take(p, n)), st
}

func addHeader(mt uint32, k, v string) uint32 {
	return proxyAddHeaderMapValue(mt, sp(k), uint32(len(k)), sp(v), uint32(len(v)))
}

func replaceHeader(mt uint32, k, v string) uint32 {
	return proxyReplaceHeaderMapValue(mt, sp(k), uint32(len(k)), sp(v), uint32(len(v)))
}

func removeHeader(mt uint32, k string) uint32 {
	return proxyRemoveHeaderMapValue(mt, sp(k), uint32(len(k)))
}

func property(path ...string) ([]byte, uint32) {
	s := strings.Join(path, "\x00")
	var p, n uint32
	st := proxyGetProperty(sp(s), uint32(len(s)), &p, &n)
	return take(p, n), st
}

func localReply(code uint32, body string, hdrs ...pair) uint32 {
	h := encode(hdrs)
	d := "test"
	return proxySendLocalResponse(code, sp(d), uint32(len(d)), sp(body), uint32(len(body)), bp(h), uint32(len(h)), -1)
}

func u(x uint32) string { return strconv.FormatUint(uint64(x), 10) }

// ---- state ----

type ctxState struct {
	events    []string
	test      string
	calloutID uint32
}

var (
	rootID    uint32
	contexts  = map[uint32]*ctxState{}
	callouts  = map[uint32]uint32{} // call id -> stream context
	metricIDs = map[string]uint32{}
	config    string
	vmConfig  string
	queueID   uint32
)

func metric(name string) uint32 { return metricIDs[name] }

func defineMetric(t uint32, name string) {
	var id uint32
	if st := proxyDefineMetric(t, sp(name), uint32(len(name)), &id); st != 0 {
		panic("define_metric " + name + " status " + u(st))
	}
	metricIDs[name] = id
}

func inc(name string) { proxyIncrementMetric(metric(name), 1) }

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	if parent == 0 {
		rootID = id
		return
	}
	if parent != rootID {
		panic("stream context with unknown parent")
	}
	if contexts[id] != nil {
		panic("context id reused while alive")
	}
	contexts[id] = &ctxState{events: []string{"create"}}
	inc("created")
}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 {
	var p, n uint32
	if size > 0 {
		proxyGetBufferBytes(6, 0, size, &p, &n)
		vmConfig = string(take(p, n))
	}
	return 1
}

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	var p, n uint32
	if size > 0 {
		if st := proxyGetBufferBytes(7, 0, size, &p, &n); st != 0 {
			return 0
		}
		config = string(take(p, n))
	}
	for _, m := range []string{"created", "deleted", "logged", "lifecycle_errors", "ticks", "queue_items", "callouts_ok", "callouts_failed", "body_chunks"} {
		defineMetric(0, m)
	}
	defineMetric(1, "gauge")
	defineMetric(2, "hist")
	if strings.Contains(config, "fail-configure") {
		logf(4, "configuration rejected")
		return 0
	}
	if strings.Contains(config, "trap-configure") {
		panic("trap in configure")
	}
	if i := strings.Index(config, "tick="); i >= 0 {
		ms, _ := strconv.Atoi(strings.Fields(config[i+5:])[0])
		proxySetTickPeriod(uint32(ms))
	}
	q := "q1"
	if st := proxyRegisterSharedQueue(sp(q), uint32(len(q)), &queueID); st != 0 {
		return 0
	}
	return 1
}

//go:wasmexport proxy_on_tick
func onTick(root uint32) {
	if root != rootID {
		inc("lifecycle_errors")
	}
	inc("ticks")
	tickHooks()
}

//go:wasmexport proxy_on_queue_ready
func onQueueReady(root, id uint32) {
	for {
		var p, n uint32
		st := proxyDequeueSharedQueue(id, &p, &n)
		if st != 0 {
			return
		}
		take(p, n)
		inc("queue_items")
	}
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 {
	c := contexts[id]
	c.events = append(c.events, "reqh")
	test, _ := getHeader(0, "x-test")
	c.test = test
	switch test {
	case "", "pass":
		return 0
	case "echo-headers":
		ps, _ := getPairs(0)
		var b strings.Builder
		b.WriteString("n=" + u(n) + " eos=" + u(eos) + "\n")
		for _, p := range ps {
			b.WriteString(p.k + "=" + p.v + "\n")
		}
		var size uint32
		proxyGetHeaderMapSize(0, &size)
		b.WriteString("size=" + u(size) + " encoded=" + strconv.Itoa(len(encode(ps))) + "\n")
		localReply(200, b.String())
	case "modify":
		addHeader(0, "X-Added", "yes")
		replaceHeader(0, "x-replace", "new")
		replaceHeader(0, "x-fresh", "fresh")
		removeHeader(0, "x-remove")
		replaceHeader(0, ":path", "/rewritten?q=1")
	case "set-pairs":
		ps, _ := getPairs(0)
		ps = append(ps, pair{"x-set", "1"})
		h := encode(ps)
		if st := proxySetHeaderMapPairs(0, bp(h), uint32(len(h))); st != 0 {
			localReply(500, "set pairs status "+u(st))
		}
	case "local":
		localReply(403, "denied", pair{"x-local", "1"}, pair{"content-type", "text/plain"})
		return 1
	case "local-continue":
		// A local response wins even if the callback returns CONTINUE.
		localReply(401, "nope")
		return 0
	case "continue-in-callback":
		proxyContinueStream(0)
		return 1
	case "close":
		proxyCloseStream(0)
		return 1
	case "pause-forever":
		return 1
	case "callout", "callout-deny", "callout-dead":
		up := "backend"
		if test == "callout-dead" {
			up = "dead"
		}
		h := encode([]pair{{":method", "GET"}, {":path", "/callout?x=1"}, {":authority", "callout.test"}, {"x-from", "guest"}})
		var cid uint32
		st := proxyHTTPCall(sp(up), uint32(len(up)), bp(h), uint32(len(h)), nil, 0, nil, 0, 5000, &cid)
		if st != 0 {
			localReply(500, "http_call status "+u(st))
			return 1
		}
		callouts[cid] = id
		c.calloutID = cid
		return 1
	case "callout-bad":
		var b strings.Builder
		h := encode([]pair{{":method", "GET"}, {":path", "/x"}, {":authority", "a"}})
		noPath := encode([]pair{{":method", "GET"}, {":authority", "a"}})
		var cid uint32
		up := "nope"
		b.WriteString("unknown=" + u(proxyHTTPCall(sp(up), 4, bp(h), uint32(len(h)), nil, 0, nil, 0, 0, &cid)) + "\n")
		up = "backend"
		b.WriteString("nopath=" + u(proxyHTTPCall(sp(up), 7, bp(noPath), uint32(len(noPath)), nil, 0, nil, 0, 0, &cid)) + "\n")
		b.WriteString("badptr=" + u(proxyHTTPCall(sp(up), 7, bp(h), uint32(len(h)), nil, 0, nil, 0, 0, (*uint32)(unsafe.Pointer(uintptr(0xFFFFFFF0))))) + "\n")
		localReply(200, b.String())
	case "trap":
		panic("boom")
	case "oom":
		for {
			hog = append(hog, make([]byte, 8<<20))
		}
	case "slow":
		x := 0
		for {
			x++
			if x < 0 {
				break
			}
		}
		return uint32(x)
	case "props":
		var b strings.Builder
		for _, path := range [][]string{{"request", "path"}, {"request", "method"}, {"request", "host"}, {"request", "scheme"},
			{"request", "id"}, {"source", "address"}, {"plugin_name"}, {"plugin_root_id"}, {"plugin_vm_id"}, {"request", "protocol"}, {"request", "url_path"}, {"request", "query"},
			{"route_name"}, {"xds", "route_name"}, {"cluster_name"}, {"upstream", "address"}} {
			v, st := property(path...)
			b.WriteString(strings.Join(path, ".") + "=" + string(v) + " st=" + u(st) + "\n")
		}
		v, st := property("source", "port")
		if len(v) == 8 {
			b.WriteString("source.port=" + strconv.FormatUint(binary.LittleEndian.Uint64(v), 10) + "\n")
		} else {
			b.WriteString("source.port len " + strconv.Itoa(len(v)) + " st=" + u(st) + "\n")
		}
		v, _ = property("request", "time")
		b.WriteString("request.time.len=" + strconv.Itoa(len(v)) + "\n")
		v, _ = property("request", "headers")
		b.WriteString("request.headers.pairs=" + strconv.Itoa(len(decode(v))) + "\n")
		_, st = property("no", "such")
		b.WriteString("unknown st=" + u(st) + "\n")
		dotted := "request.path"
		var p, n uint32
		st = proxyGetProperty(sp(dotted), uint32(len(dotted)), &p, &n)
		b.WriteString("dotted=" + string(take(p, n)) + " st=" + u(st) + "\n")
		k, val := "my\x00key", "my-value"
		st = proxySetProperty(sp(k), uint32(len(k)), sp(val), uint32(len(val)))
		got, st2 := property("my", "key")
		b.WriteString("set=" + u(st) + " get=" + string(got) + " st=" + u(st2) + "\n")
		k = "request\x00path"
		b.WriteString("set-builtin=" + u(proxySetProperty(sp(k), uint32(len(k)), sp(val), uint32(len(val)))) + "\n")
		localReply(200, b.String())
	case "shared":
		var b strings.Builder
		k := "shared-key-" + mustHeader("x-key")
		v1 := "v1"
		b.WriteString("set0=" + u(proxySetSharedData(sp(k), uint32(len(k)), sp(v1), 2, 0)) + "\n")
		var p, n, cas uint32
		st := proxyGetSharedData(sp(k), uint32(len(k)), &p, &n, &cas)
		b.WriteString("get=" + string(take(p, n)) + " st=" + u(st) + "\n")
		v2 := "v2"
		b.WriteString("setcas=" + u(proxySetSharedData(sp(k), uint32(len(k)), sp(v2), 2, cas)) + "\n")
		b.WriteString("setstale=" + u(proxySetSharedData(sp(k), uint32(len(k)), sp(v1), 2, cas)) + "\n")
		st = proxyGetSharedData(sp(k), uint32(len(k)), &p, &n, &cas)
		b.WriteString("get2=" + string(take(p, n)) + " st=" + u(st) + "\n")
		missing := "missing"
		b.WriteString("missing=" + u(proxyGetSharedData(sp(missing), 7, &p, &n, &cas)) + "\n")
		localReply(200, b.String())
	case "counter":
		// Shared-data CAS increment, for the cross-VM hammer test.
		k := "counter"
		for {
			var p, n, cas uint32
			cur := 0
			if proxyGetSharedData(sp(k), uint32(len(k)), &p, &n, &cas) == 0 {
				cur, _ = strconv.Atoi(string(take(p, n)))
			}
			next := strconv.Itoa(cur + 1)
			if st := proxySetSharedData(sp(k), uint32(len(k)), sp(next), uint32(len(next)), cas); st == 0 {
				break
			} else if st != 8 {
				panic("set_shared_data " + u(st))
			}
		}
		return 0
	case "metrics":
		var b strings.Builder
		var id uint32
		name := "req_counter"
		proxyDefineMetric(0, sp(name), uint32(len(name)), &id)
		var id2 uint32
		proxyDefineMetric(0, sp(name), uint32(len(name)), &id2)
		b.WriteString("same-id=" + strconv.FormatBool(id == id2) + "\n")
		b.WriteString("inc=" + u(proxyIncrementMetric(id, 5)) + "\n")
		b.WriteString("dec-counter=" + u(proxyIncrementMetric(id, -1)) + "\n")
		var val uint64
		proxyGetMetric(id, &val)
		b.WriteString("value=" + strconv.FormatUint(val, 10) + "\n")
		g := metric("gauge")
		proxyRecordMetric(g, 10)
		proxyIncrementMetric(g, -3)
		proxyGetMetric(g, &val)
		b.WriteString("gauge=" + strconv.FormatUint(val, 10) + "\n")
		b.WriteString("hist=" + u(proxyRecordMetric(metric("hist"), 42)) + "\n")
		b.WriteString("badtype=" + u(proxyDefineMetric(7, sp(name), uint32(len(name)), &id)) + "\n")
		b.WriteString("unknown=" + u(proxyIncrementMetric(99999, 1)) + "\n")
		localReply(200, b.String())
	case "bounds":
		var b strings.Builder
		bad := unsafe.Pointer(uintptr(0xFFFFFF00))
		badOut := (*uint32)(bad)
		var p, n uint32
		b.WriteString("log=" + u(proxyLog(2, bad, 1000)) + "\n")
		b.WriteString("log-level=" + u(proxyLog(9, sp("x"), 1)) + "\n")
		k := "x-test"
		b.WriteString("value-out=" + u(proxyGetHeaderMapValue(0, sp(k), 6, badOut, &n)) + "\n")
		b.WriteString("value-key=" + u(proxyGetHeaderMapValue(0, bad, 6, &p, &n)) + "\n")
		b.WriteString("pairs-out=" + u(proxyGetHeaderMapPairs(0, &p, badOut)) + "\n")
		b.WriteString("bad-map=" + u(proxyGetHeaderMapPairs(42, &p, &n)) + "\n")
		b.WriteString("set-pairs-oob=" + u(proxySetHeaderMapPairs(0, bad, 100)) + "\n")
		garbage := []byte{5, 0, 0, 0, 1, 2}
		b.WriteString("set-pairs-garbage=" + u(proxySetHeaderMapPairs(0, bp(garbage), uint32(len(garbage)))) + "\n")
		b.WriteString("prop-path=" + u(proxyGetProperty(bad, 10, &p, &n)) + "\n")
		b.WriteString("prop-out=" + u(proxyGetProperty(sp("plugin_name"), 11, badOut, &n)) + "\n")
		b.WriteString("buffer-out=" + u(proxyGetBufferBytes(7, 0, 10, &p, badOut)) + "\n")
		b.WriteString("buffer-id=" + u(proxyGetBufferBytes(99, 0, 10, &p, &n)) + "\n")
		b.WriteString("time=" + u(proxyGetCurrentTime((*uint64)(bad))) + "\n")
		b.WriteString("shared-key=" + u(proxySetSharedData(bad, 1000, nil, 0, 0)) + "\n")
		b.WriteString("local-body=" + u(proxySendLocalResponse(200, nil, 0, bad, 1000, nil, 0, -1)) + "\n")
		b.WriteString("add-crlf=" + u(addHeader(0, "x-evil", "a\r\nb: c")) + "\n")
		b.WriteString("add-badname=" + u(addHeader(0, "x evil", "a")) + "\n")
		b.WriteString("loglevel-out=" + u(proxyGetLogLevel(badOut)) + "\n")
		b.WriteString("metric-out=" + u(proxyGetMetric(metric("created"), (*uint64)(bad))) + "\n")
		localReply(200, b.String())
	case "unimpl":
		var b strings.Builder
		var id, p, n uint32
		b.WriteString("grpc=" + u(proxyGRPCCall(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, &id)) + "\n")
		b.WriteString("ffi=" + u(proxyCallForeignFunction(nil, 0, nil, 0, &p, &n)) + "\n")
		b.WriteString("continue-downstream=" + u(proxyContinueStream(2)) + "\n")
		b.WriteString("continue-bad=" + u(proxyContinueStream(9)) + "\n")
		b.WriteString("effective-bad=" + u(proxySetEffectiveContext(99999)) + "\n")
		b.WriteString("done-notpending=" + u(proxyDone()) + "\n")
		b.WriteString("resp-headers-now=" + u(proxyGetHeaderMapPairs(2, &p, &n)) + "\n")
		b.WriteString("call-body-now=" + u(proxyGetBufferBytes(4, 0, 10, &p, &n)) + "\n")
		localReply(200, b.String())
	case "misc":
		var b strings.Builder
		var lvl uint32
		b.WriteString("loglevel-st=" + u(proxyGetLogLevel(&lvl)) + " level=" + u(lvl) + "\n")
		var t uint64
		proxyGetCurrentTime(&t)
		b.WriteString("time=" + strconv.FormatUint(t, 10) + "\n")
		var p, n, f uint32
		proxyGetBufferStatus(7, &n, &f)
		b.WriteString("config-size=" + u(n) + "\n")
		proxyGetBufferBytes(7, 2, 3, &p, &n)
		b.WriteString("config-slice=" + string(take(p, n)) + "\n")
		b.WriteString("config-start-past=" + u(proxyGetBufferBytes(7, 1000, 3, &p, &n)) + "\n")
		b.WriteString("vm-config=" + vmConfig + "\n")
		ev, st := getHeader(0, "x-empty")
		b.WriteString("empty-value=[" + ev + "] st=" + u(st) + "\n")
		_, st = getHeader(0, "x-absent")
		b.WriteString("absent st=" + u(st) + "\n")
		b.WriteString("enqueue=" + u(proxyEnqueueSharedQueue(queueID, sp("item"), 4)) + "\n")
		var q uint32
		vmid := mustHeader("x-vmid")
		b.WriteString("resolve=" + u(proxyResolveSharedQueue(sp(vmid), uint32(len(vmid)), sp("q1"), 2, &q)) + " same=" + strconv.FormatBool(q == queueID) + "\n")
		b.WriteString("resolve-missing=" + u(proxyResolveSharedQueue(sp(vmid), uint32(len(vmid)), sp("q9"), 2, &q)) + "\n")
		b.WriteString("dequeue-bad=" + u(proxyDequeueSharedQueue(777, &p, &n)) + "\n")
		localReply(200, b.String())
	case "resp-modify", "resp-local", "resp-pause", "resp-trap", "req-body-upper", "req-body-stream",
		"resp-body-upper", "resp-body-held", "resp-body-local", "req-body-local", "req-trailers", "resp-trailers", "req-trailers-deny":
		return 0
	case "req-body-gate":
		return 1
	case "done-later":
		return 0
	default:
		localReply(400, "unknown test "+test)
	}
	return 0
}

func mustHeader(k string) string {
	v, _ := getHeader(0, k)
	return v
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 {
	c := contexts[id]
	c.events = append(c.events, "resph")
	addHeader(2, "x-saw-resph", c.test)
	switch c.test {
	case "resp-modify":
		st, _ := getHeader(2, ":status")
		addHeader(2, "x-resp", "1")
		addHeader(2, "x-upstream-status", st)
		removeHeader(2, "x-drop")
		reqPath, _ := getHeader(0, ":path")
		addHeader(2, "x-req-path", reqPath)
		addHeader(2, "x-req-write", u(addHeader(0, "x-late", "1")))
		up, ust := property("upstream", "address")
		addHeader(2, "x-upstream-address", string(up)+" st="+u(ust))
		if port, _ := property("upstream", "port"); len(port) == 8 {
			addHeader(2, "x-upstream-port", strconv.FormatUint(binary.LittleEndian.Uint64(port), 10))
		}
	case "resp-local":
		localReply(502, "replaced")
	case "resp-pause":
		// Resumed by the next tick; see onTick.
		return 1
	case "resp-body-held", "resp-body-local":
		return 1
	case "resp-trap":
		panic("boom in response")
	}
	return 0
}

func bodyBytes(buf, size uint32) []byte {
	var p, n uint32
	if st := proxyGetBufferBytes(buf, 0, size, &p, &n); st != 0 {
		panic("get_buffer_bytes status " + u(st))
	}
	return take(p, n)
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id, size, eos uint32) uint32 {
	c := contexts[id]
	switch c.test {
	case "req-body-upper":
		if eos == 0 {
			return 1 // StopIterationAndBuffer
		}
		up := []byte(strings.ToUpper(string(bodyBytes(0, size))) + "!")
		if st := proxySetBufferBytes(0, 0, size, bp(up), uint32(len(up))); st != 0 {
			panic("set_buffer_bytes " + u(st))
		}
		return 0
	case "req-body-gate":
		if eos == 0 {
			return 1
		}
		if strings.Contains(string(bodyBytes(0, size)), "allow") {
			proxyContinueStream(0)
		} else {
			localReply(403, "body denied")
		}
		return 1
	case "req-body-local":
		localReply(413, "too big for me")
		return 1
	case "req-body-stream":
		inc("body_chunks")
	}
	return 0
}

//go:wasmexport proxy_on_response_body
func onResponseBody(id, size, eos uint32) uint32 {
	c := contexts[id]
	switch c.test {
	case "resp-body-upper":
		if eos == 0 {
			return 1
		}
		up := []byte(strings.ToUpper(string(bodyBytes(1, size))))
		proxySetBufferBytes(1, 0, size, bp(up), uint32(len(up)))
		return 0
	case "resp-body-held":
		if eos == 0 {
			return 1
		}
		addHeader(2, "x-body-len", u(size))
		proxyContinueStream(1)
		return 1
	case "resp-body-local":
		if eos == 0 {
			return 1
		}
		localReply(418, "teapot body")
		return 1
	}
	return 0
}

//go:wasmexport proxy_on_request_trailers
func onRequestTrailers(id, n uint32) uint32 {
	c := contexts[id]
	c.events = append(c.events, "reqtrl")
	switch c.test {
	case "req-trailers":
		v, st := getHeader(1, "x-trl")
		replaceHeader(1, "x-trl", v+"-seen-"+u(st)+"-"+u(n))
		addHeader(1, "x-trl-added", "1")
	case "req-trailers-deny":
		localReply(403, "trailer denied")
		return 1
	}
	return 0
}

//go:wasmexport proxy_on_response_trailers
func onResponseTrailers(id, n uint32) uint32 {
	c := contexts[id]
	c.events = append(c.events, "resptrl")
	if c.test == "resp-trailers" {
		v, _ := getHeader(3, "x-backend-trl")
		addHeader(3, "x-resp-trl", "saw-"+v)
		removeHeader(3, "x-backend-trl")
	}
	return 0
}

//go:wasmexport proxy_on_http_call_response
func onHTTPCallResponse(root, cid, nh, bodySize, nt uint32) {
	id, ok := callouts[cid]
	if !ok || root != rootID {
		panic("unknown callout")
	}
	delete(callouts, cid)
	var p, n uint32
	var body []byte
	if bodySize > 0 {
		proxyGetBufferBytes(4, 0, bodySize, &p, &n)
		body = take(p, n)
	}
	status, _ := getHeader(6, ":status")
	var code uint32
	proxyGetStatus(&code, &p, &n)
	take(p, n)
	if st := proxySetEffectiveContext(id); st != 0 {
		return // stream gone (timeout)
	}
	c := contexts[id]
	c.events = append(c.events, "callout")
	if nh == 0 {
		inc("callouts_failed")
		localReply(502, "callout failed")
		return
	}
	inc("callouts_ok")
	if c.test == "callout-deny" {
		localReply(401, "denied by callout "+status)
		return
	}
	addHeader(0, "x-callout-status", status)
	addHeader(0, "x-callout-code", u(code))
	addHeader(0, "x-callout-body", string(body))
	proxyContinueStream(0)
}

//go:wasmexport proxy_on_log
func onLog(id uint32) {
	c := contexts[id]
	c.events = append(c.events, "log")
	inc("logged")
}

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 {
	c := contexts[id]
	c.events = append(c.events, "done")
	if c.test == "done-later" {
		// Finish on the next tick with proxy_done.
		pendingDone = append(pendingDone, id)
		return 0
	}
	return 1
}

var pendingDone []uint32

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {
	c := contexts[id]
	c.events = append(c.events, "delete")
	ev := strings.Join(c.events, ",")
	ok := strings.HasPrefix(ev, "create,reqh,") && strings.HasSuffix(ev, "log,done,delete")
	if !ok {
		logf(4, "bad lifecycle "+ev)
		inc("lifecycle_errors")
	}
	delete(contexts, id)
	inc("deleted")
}

func init() {
	// proxy_done for contexts whose on_done returned false, and resuming
	// paused responses, happen on ticks.
	tickHooks = func() {
		for _, id := range pendingDone {
			proxySetEffectiveContext(id)
			proxyDone()
		}
		pendingDone = pendingDone[:0]
		for id, c := range contexts {
			if c.test == "resp-pause" && len(c.events) > 0 && c.events[len(c.events)-1] == "resph" {
				proxySetEffectiveContext(id)
				addHeader(2, "x-resumed", "1")
				c.events = append(c.events, "resumed")
				proxyContinueStream(1)
			}
		}
	}
}

var tickHooks func()

var hog [][]byte

func main() {}

// ---- benchmarks (host-call costs) ----

//go:wasmexport bench_noop
func benchNoop(n uint32) uint32 { return n }

//go:wasmexport bench_plain
func benchPlain(n uint32) uint32 {
	var lvl uint32
	for i := uint32(0); i < n; i++ {
		proxyGetLogLevel(&lvl)
	}
	return lvl
}

//go:wasmexport bench_get_header
func benchGetHeader(n uint32) uint32 {
	var total uint32
	for i := uint32(0); i < n; i++ {
		v, _ := getHeader(0, "x-test")
		total += uint32(len(v))
	}
	return total
}

//go:wasmexport bench_get_pairs
func benchGetPairs(n uint32) uint32 {
	var total uint32
	for i := uint32(0); i < n; i++ {
		var p, l uint32
		proxyGetHeaderMapPairs(0, &p, &l)
		total += uint32(len(take(p, l)))
	}
	return total
}

// test_release_pinned drops buffers the host allocated but the guest never
// took (host calls driven directly by the fuzz tests).
//
//go:wasmexport test_release_pinned
func testReleasePinned() { clear(pinned) }
