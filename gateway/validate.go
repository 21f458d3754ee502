package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrInvalidConfig is wrapped by every Parse, Validate and LoadFile error.
var ErrInvalidConfig = errors.New("invalid gateway config")

// ValidationError lists every problem Validate found, one per line, each naming
// the field, quoting the bad value and saying what to write instead.
type ValidationError struct {
	Problems []string
}

// Error lists the problems, one per indented line.
func (e *ValidationError) Error() string {
	return ErrInvalidConfig.Error() + ":\n  " + strings.Join(e.Problems, "\n  ")
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalidConfig }

// MaxVMs bounds plugins[].vms.
const MaxVMs = 256

// Validate checks values and cross-references (routes to upstreams, chains to
// plugins). It reports every problem at once; it does not touch the file system.
func (c *Config) Validate() error {
	var p problems
	upstreams := map[string]bool{}
	var upstreamNames []string
	for i, u := range c.Upstreams {
		f := fmt.Sprintf("upstreams[%d]", i)
		if p.name(f+".name", u.Name) && upstreams[u.Name] {
			p.addf("%s.name: %q is defined twice; give each upstream its own name", f, u.Name)
		}
		if !upstreams[u.Name] && validName(u.Name) {
			upstreamNames = append(upstreamNames, u.Name)
		}
		upstreams[u.Name] = true
		if len(u.URLs) == 0 {
			p.addf("%s.urls: none given; write e.g. urls: [\"http://127.0.0.1:9091\"]", f)
		}
		for j, raw := range u.URLs {
			checkUpstreamURL(&p, fmt.Sprintf("%s.urls[%d]", f, j), raw)
		}
	}

	plugins := map[string]bool{}
	var pluginNames []string
	for i, pl := range c.Plugins {
		f := fmt.Sprintf("plugins[%d]", i)
		if p.name(f+".name", pl.Name) && plugins[pl.Name] {
			p.addf("%s.name: %q is defined twice; give each plugin its own name", f, pl.Name)
		}
		if !plugins[pl.Name] && validName(pl.Name) {
			pluginNames = append(pluginNames, pl.Name)
		}
		plugins[pl.Name] = true
		switch {
		case pl.Path == "":
			p.addf("%s.path: missing; write the .wasm file, e.g. path: build/gatewarden.wasm, or an oci:// reference", f)
		case strings.HasPrefix(pl.Path, OCIScheme):
			if strings.TrimPrefix(pl.Path, OCIScheme) == "" || strings.ContainsAny(pl.Path, " \t") {
				p.addf("%s.path: %q is not an OCI reference; write e.g. \"oci://127.0.0.1:5000/gatewarden:v1\"", f, pl.Path)
			}
		case strings.Contains(pl.Path, "://"):
			p.addf("%s.path: %q uses an unsupported scheme; write a file path or an oci:// reference", f, pl.Path)
		}
		if pl.SHA256 != "" && !isHex(pl.SHA256, 64) {
			p.addf("%s.sha256: %q is not 64 lowercase hex digits; write the output of `sha256sum FILE.wasm`, or remove the field", f, pl.SHA256)
		}
		switch pl.PullPolicy {
		case "", "IfNotPresent", "Always":
		default:
			p.addf("%s.pull_policy: %q is not a pull policy; write \"IfNotPresent\" or \"Always\"", f, pl.PullPolicy)
		}
		if pl.VMs < 0 || pl.VMs > MaxVMs {
			p.addf("%s.vms: %d is out of range; write 1 to %d, or 0 (or nothing) for one per CPU", f, pl.VMs, MaxVMs)
		}
		seen := map[string]bool{}
		for j, u := range pl.Upstreams {
			g := fmt.Sprintf("%s.upstreams[%d]", f, j)
			switch {
			case !upstreams[u]:
				p.addf("%s: %q is not a defined upstream; %s", g, u, oneOf(upstreamNames, "upstreams"))
			case seen[u]:
				p.addf("%s: %q is listed twice; list it once", g, u)
			}
			seen[u] = true
		}
	}

	if len(c.Listeners) == 0 {
		p.addf("listeners: none defined; add one, e.g. listeners: [{address: \"127.0.0.1:8080\", routes: [{prefix: /, upstream: NAME}]}]")
	}
	names, addrs := map[string]bool{}, map[string]bool{}
	for i, l := range c.Listeners {
		f := fmt.Sprintf("listeners[%d]", i)
		if l.Name != "" && names[l.Name] {
			p.addf("%s.name: %q is used twice; give each listener its own name", f, l.Name)
		}
		names[l.Name] = true
		if p.address(f+".address", l.Address) {
			if addrs[l.Address] && !strings.HasSuffix(l.Address, ":0") {
				p.addf("%s.address: %q is used by two listeners; merge their routes or pick another port", f, l.Address)
			}
			addrs[l.Address] = true
		}
		if l.TLS != nil {
			if l.TLS.Cert == "" {
				p.addf("%s.tls.cert: missing; write the PEM certificate file, or remove tls: for plain HTTP", f)
			}
			if l.TLS.Key == "" {
				p.addf("%s.tls.key: missing; write the PEM private key file, or remove tls: for plain HTTP", f)
			}
		}
		checkChain(&p, f+".plugins", l.Plugins, nil, plugins, pluginNames)
		if len(l.Routes) == 0 {
			p.addf("%s.routes: none defined; add one, e.g. routes: [{prefix: /, upstream: NAME}]", f)
		}
		prefixes := map[string]bool{}
		for j, r := range l.Routes {
			g := fmt.Sprintf("%s.routes[%d]", f, j)
			switch {
			case r.Prefix == "":
				p.addf("%s.prefix: missing; write a path prefix such as \"/\" or \"/api\"", g)
			case !strings.HasPrefix(r.Prefix, "/"):
				p.addf("%s.prefix: %q must start with \"/\"; write %q", g, r.Prefix, "/"+r.Prefix)
			case strings.ContainsAny(r.Prefix, "?#"):
				p.addf("%s.prefix: %q contains a query or fragment; write only the path", g, r.Prefix)
			case cleanPath(r.Prefix) != r.Prefix:
				p.addf("%s.prefix: %q is not a clean path; write %q", g, r.Prefix, cleanPath(r.Prefix))
			case prefixes[r.Prefix]:
				p.addf("%s.prefix: %q appears twice in this listener; keep one route per prefix", g, r.Prefix)
			}
			prefixes[r.Prefix] = true
			switch {
			case r.Upstream == "":
				p.addf("%s.upstream: missing; %s", g, oneOf(upstreamNames, "upstreams"))
			case !upstreams[r.Upstream]:
				p.addf("%s.upstream: %q is not a defined upstream; %s", g, r.Upstream, oneOf(upstreamNames, "upstreams"))
			}
			checkChain(&p, g+".plugins", r.Plugins, l.Plugins, plugins, pluginNames)
		}
	}
	if c.Admin.Address != "" && p.address("admin.address", c.Admin.Address) && addrs[c.Admin.Address] && !strings.HasSuffix(c.Admin.Address, ":0") {
		p.addf("admin.address: %q is also a listener address; give the admin listener its own port", c.Admin.Address)
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

type problems []string

func (p *problems) addf(format string, a ...any) { *p = append(*p, fmt.Sprintf(format, a...)) }

// name checks a name field and reports whether it is usable.
func (p *problems) name(field, v string) bool {
	if v == "" {
		p.addf("%s: missing; names are referenced from other sections, write e.g. name: backend", field)
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			p.addf("%s: %q has the character %q; use letters, digits, '-', '_' and '.'", field, v, r)
			return false
		}
	}
	return true
}

func validName(v string) bool {
	var p problems
	return p.name("", v)
}

// address checks host:port and reports whether it is usable.
func (p *problems) address(field, v string) bool {
	host, port, err := net.SplitHostPort(v)
	if v == "" || err != nil {
		p.addf("%s: %q is not host:port; write e.g. \"127.0.0.1:8080\" (or \":8080\" for all interfaces)", field, v)
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.addf("%s: %q has an invalid port; write a number from 1 to 65535 (0 picks a free port)", field, v)
		return false
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		p.addf("%s: %q: the host must be an IP address or localhost; write e.g. \"127.0.0.1:8080\"", field, v)
		return false
	}
	return true
}

func checkUpstreamURL(p *problems, field, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		p.addf("%s: %q is not a URL; write e.g. \"http://127.0.0.1:9091\"", field, raw)
	case u.Scheme != "http" && u.Scheme != "https":
		p.addf("%s: %q must start with http:// or https://; write e.g. \"http://%s\"", field, raw, strings.TrimPrefix(raw, u.Scheme+"://"))
	case u.Host == "":
		p.addf("%s: %q has no host; write e.g. \"http://127.0.0.1:9091\"", field, raw)
	case u.User != nil:
		p.addf("%s: %q carries credentials; remove the user:password@ part", field, raw)
	case u.RawQuery != "" || u.Fragment != "" || strings.Contains(raw, "#"):
		p.addf("%s: %q has a query or fragment; write scheme://host[:port][/base/path] only", field, raw)
	}
}

func checkChain(p *problems, field string, chain, before []string, defined map[string]bool, names []string) {
	seen := map[string]bool{}
	for _, n := range before {
		seen[n] = true
	}
	for i, n := range chain {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !defined[n]:
			p.addf("%s: %q is not a defined plugin; %s", f, n, oneOf(names, "plugins"))
		case seen[n]:
			p.addf("%s: %q already runs earlier in this chain (listener plugins run before route plugins); list it once", f, n)
		}
		seen[n] = true
	}
}

func oneOf(names []string, section string) string {
	if len(names) == 0 {
		return fmt.Sprintf("define it under %s: first", section)
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return fmt.Sprintf("write one of %s (or define it under %s:)", strings.Join(q, ", "), section)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// readLimited reads at most limit bytes, failing when r holds more.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}
