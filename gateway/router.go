package gateway

import (
	"net/http"
	"path"
	"slices"
	"strings"
)

// cleanPath removes dot segments and repeated slashes, keeping a trailing slash.
// Routing and the upstream see the same cleaned path, so "/public/../admin" can
// never match a "/public" route and then reach "/admin" upstream.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// normalizeRequest cleans r's path in place; it returns false for a request
// target that is not an absolute path (e.g. "*"), which the gateway refuses.
func normalizeRequest(r *http.Request) bool {
	if r.URL.Path == "" || r.URL.Path[0] != '/' {
		return false
	}
	c := cleanPath(r.URL.Path)
	if c != r.URL.Path {
		r.URL.Path = c
		r.URL.RawPath = "" // re-encode from the cleaned path
	} else if r.URL.RawPath != "" && strings.Contains(strings.ToLower(r.URL.RawPath), "%2e") {
		// Encoded dots decode to "." but did not form segments here; re-encode so
		// no upstream decodes them into dot segments after our routing decision.
		r.URL.RawPath = ""
	}
	r.RequestURI = r.URL.RequestURI()
	return true
}

// route is one compiled route: the prefix and the handler chain built once at load.
type route struct {
	prefix   string
	upstream string
	plugins  []string // listener's then route's
	handler  http.Handler
}

// routeTable matches paths to routes; longest prefix first.
type routeTable []*route

func newRouteTable(routes []*route) routeTable {
	t := slices.Clone(routes)
	slices.SortStableFunc(t, func(a, b *route) int { return len(b.prefix) - len(a.prefix) })
	return t
}

func (t routeTable) match(p string) *route {
	for _, r := range t {
		if prefixMatch(r.prefix, p) {
			return r
		}
	}
	return nil
}

// prefixMatch matches whole segments: "/api" matches "/api" and "/api/x", not "/apix".
func prefixMatch(prefix, p string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || strings.HasSuffix(prefix, "/") || p[len(prefix)] == '/'
}
