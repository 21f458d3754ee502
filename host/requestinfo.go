package host

import (
	"context"
	"sync/atomic"
)

// RequestInfo is what the server around Middleware knows of a request and the plugin reads
// as Envoy's attributes: route_name (also xds.route_name), cluster_name (also
// xds.cluster_name), upstream.address and upstream.port. Attach it to the request's context
// with WithRequestInfo before Middleware runs, with Route and Cluster set; call SetUpstream
// once the endpoint is chosen, before the response arrives. Without it those properties are
// NOT_FOUND, as in an Envoy without routes.
type RequestInfo struct {
	Route   string // the route's name
	Cluster string // the upstream's name
	up      atomic.Pointer[string]
}

// SetUpstream records the upstream endpoint the request went to, as host:port.
func (i *RequestInfo) SetUpstream(hostPort string) { i.up.Store(&hostPort) }

// Upstream returns what SetUpstream recorded, or "".
func (i *RequestInfo) Upstream() string {
	if p := i.up.Load(); p != nil {
		return *p
	}
	return ""
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info for Middleware and the proxy behind it.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the RequestInfo attached to ctx, or nil.
func RequestInfoFrom(ctx context.Context) *RequestInfo {
	i, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return i
}
