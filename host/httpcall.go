package host

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// callResult is the outcome of a proxy_http_call, delivered to
// proxy_on_http_call_response on the calling VM's worker. status 0 means
// the call failed: the callback then gets zero headers.
type callResult struct {
	id      uint32
	sent    int // request bytes held while the call is in flight
	status  int
	message string
	hdrs    hmap
	body    []byte
	trls    hmap
}

// maxCallsPerVM and maxCallBytesPerVM bound the proxy_http_calls in flight
// per VM and the request bytes they hold.
const (
	maxCallsPerVM     = 256
	maxCallBytesPerVM = 16 << 20
)

// hHTTPCall implements proxy_http_call: upstream is a name from
// PluginConfig.Upstreams; headers must carry :method, :path and :authority.
// The call runs in its own goroutine; its response (or failure, or timeout)
// comes back as a task on this VM's worker.
func hHTTPCall(v *vm, mem api.Memory, st []uint64) status {
	name, ok1 := mem.Read(u32(st, 0), u32(st, 1))
	hdata, ok2 := mem.Read(u32(st, 2), u32(st, 3))
	body, ok3 := mem.Read(u32(st, 4), u32(st, 5))
	tdata, ok4 := mem.Read(u32(st, 6), u32(st, 7))
	timeoutMS, idp := u32(st, 8), u32(st, 9)
	if !ok1 || !ok2 || !ok3 || !ok4 || !inBounds(mem, idp, 4) {
		return statusInvalidMemoryAccess
	}
	base, ok := v.p.upstreams[string(name)]
	if !ok {
		return statusBadArgument
	}
	lim := v.p.limits
	if len(hdata) > lim.MaxHeaderBytes || len(tdata) > lim.MaxHeaderBytes || len(body) > lim.MaxBodyBytes {
		return statusBadArgument
	}
	hdrs, err := decodeMap(hdata, lim.MaxHeaders)
	if err != nil || !validPairs(hdrs) {
		return statusBadArgument
	}
	trls, err := decodeMap(tdata, lim.MaxHeaders)
	if err != nil || !validPairs(trls) {
		return statusBadArgument
	}
	lowerPairs(hdrs)
	lowerPairs(trls)
	method, _ := getFirst(hdrs, ":method")
	path, _ := getFirst(hdrs, ":path")
	authority, ok := getFirst(hdrs, ":authority")
	if !ok {
		authority, _ = getFirst(hdrs, "host")
	}
	if method == "" || path == "" || path[0] != '/' || authority == "" {
		return statusBadArgument
	}
	u, err := url.Parse(base.Scheme + "://" + base.Host + trimSlash(base.Path) + path)
	if err != nil {
		return statusBadArgument
	}
	sent := len(hdata) + len(body) + len(tdata)
	if v.calls >= maxCallsPerVM || v.callBytes+sent > maxCallBytesPerVM {
		return statusInternalFailure
	}
	req, err := http.NewRequestWithContext(v.p.ctx, method, u.String(), bytes.NewReader(append([]byte(nil), body...)))
	if err != nil {
		return statusBadArgument
	}
	req.Host = authority
	for _, p := range hdrs {
		if p.key[0] == ':' || p.key == "host" {
			continue
		}
		ck := canonicalKey(p.key)
		req.Header[ck] = append(req.Header[ck], p.val)
	}
	if len(trls) > 0 {
		req.Trailer = make(http.Header, len(trls))
		for _, p := range trls {
			if p.key[0] != ':' {
				req.Trailer.Add(p.key, p.val)
			}
		}
	}
	timeout := lim.HTTPCallTimeout
	if timeoutMS > 0 && time.Duration(timeoutMS)*time.Millisecond < timeout {
		timeout = time.Duration(timeoutMS) * time.Millisecond
	}
	v.nextCall++
	if v.nextCall == 0 {
		v.nextCall = 1
	}
	id := v.nextCall
	v.calls++
	v.callBytes += sent
	mem.WriteUint32Le(idp, id)
	go v.p.doHTTPCall(v, id, sent, req, timeout)
	return statusOK
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (p *Plugin) doHTTPCall(v *vm, id uint32, sent int, req *http.Request, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	defer cancel()
	res := &callResult{id: id, sent: sent}
	resp, err := p.client.Do(req.WithContext(ctx))
	if err == nil {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, int64(p.limits.MaxBodyBytes)+1))
		resp.Body.Close()
		switch {
		case rerr != nil:
			err = rerr
		case len(body) > p.limits.MaxBodyBytes:
			p.logger.Warn("proxy_http_call response body larger than MaxBodyBytes; reporting failure", "limit", p.limits.MaxBodyBytes)
			err = io.ErrShortBuffer
		default:
			res.status = resp.StatusCode
			res.hdrs = hmap{kv: responsePairs(resp.StatusCode, resp.Header), ok: true}
			res.body = body
			tr := make([]kv, 0, len(resp.Trailer))
			for k, vs := range resp.Trailer {
				for _, val := range vs {
					tr = append(tr, kv{lowerKey(k), val})
				}
			}
			res.trls = hmap{kv: tr, ok: true}
		}
	}
	if err != nil {
		res = &callResult{id: id, sent: sent, message: "reset"}
		p.logger.Debug("proxy_http_call failed", "error", err)
	}
	select {
	case v.tasks <- task{kind: taskCallResponse, call: res}:
	case <-v.deadCh:
	case <-p.ctx.Done():
	}
}

func (v *vm) onHTTPCallResponse(c *callResult) {
	v.calls--
	v.callBytes -= c.sent
	v.callResp = c
	v.setEffective(nil)
	nh := len(c.hdrs.kv)
	if c.status == 0 {
		nh = 0
	}
	v.call(v.fn.httpCallResponse, uint64(v.root), uint64(c.id), uint64(nh), uint64(len(c.body)), uint64(len(c.trls.kv)))
	v.callResp = nil
	v.afterCallback()
}
