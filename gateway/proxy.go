package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewarden/gatewarden/host"
)

// upstreamProxy forwards to one upstream, round-robin over its URLs. Hop-by-hop
// headers, X-Forwarded-* and protocol upgrades are httputil.ReverseProxy's.
type upstreamProxy struct {
	name      string
	targets   []target
	next      atomic.Uint64
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

var _ http.Handler = (*upstreamProxy)(nil)

// target is one URL of an upstream and its host:port, worked out once for the plugins'
// upstream.address property.
type target struct {
	url  *url.URL
	addr string
}

func newUpstreamProxy(u Upstream, log *slog.Logger, m *metrics) (*upstreamProxy, error) {
	up := &upstreamProxy{name: u.Name}
	for _, raw := range u.URLs {
		t, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
		}
		up.targets = append(up.targets, target{url: t, addr: hostPort(t)})
	}
	dialer := &net.Dialer{Timeout: u.Timeouts.Connect.D(), KeepAlive: 30 * time.Second}
	up.transport = &http.Transport{
		Proxy:                 nil, // never route upstream traffic through $HTTP_PROXY
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       u.Timeouts.Idle.D(),
		TLSHandshakeTimeout:   u.Timeouts.Connect.D(),
		ResponseHeaderTimeout: u.Timeouts.ResponseHeader.D(),
		ExpectContinueTimeout: time.Second,
	}
	preserveHost := u.PreserveHost
	up.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := up.pick()
			pr.SetURL(t.url)
			if ri := host.RequestInfoFrom(pr.In.Context()); ri != nil {
				ri.SetUpstream(t.addr) // the upstream.address property of plugins
			}
			pr.SetXForwarded()
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
		},
		// FlushInterval 0: httputil flushes at once anyway for responses of unknown
		// length and text/event-stream, so streams stay live without a flush per write.
		Transport:  up.transport,
		BufferPool: copyBuffers,
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				// The client went away; nobody is left to answer.
				m.upstreamErrors.WithLabelValues(up.name, "client_canceled").Inc()
				w.WriteHeader(499)
				return
			}
			status, kind := http.StatusBadGateway, "connect"
			var ne net.Error
			if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				status, kind = http.StatusGatewayTimeout, "timeout"
			}
			m.upstreamErrors.WithLabelValues(up.name, kind).Inc()
			log.Warn("gateway: upstream error", "request_id", requestIDFrom(r.Context()),
				"upstream", up.name, "kind", kind, "err", err)
			writeError(w, r, status, "upstream_"+kind)
		},
	}
	return up, nil
}

func (up *upstreamProxy) pick() *target {
	if len(up.targets) == 1 {
		return &up.targets[0]
	}
	return &up.targets[(up.next.Add(1)-1)%uint64(len(up.targets))]
}

// hostPort is u's host with the scheme's default port when it names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

func (up *upstreamProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { up.proxy.ServeHTTP(w, r) }

// copyBuffers lends ReverseProxy its 32 KiB response copy buffers; without a pool it
// allocates (and zeroes) one per response, which showed as 5% of the gateway's CPU under load.
var copyBuffers httputil.BufferPool = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != 32<<10 {
		return
	}
	buf = buf[:cap(buf)]
	b.p.Put(&buf)
}
