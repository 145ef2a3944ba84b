package servicenow

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// CheckTable checks that t can be read and returns the names of the fields
// that would leave the agent after exclusions, sorted (empty when the table
// has no readable row). It reads one row (the first by sys_id) as a scan
// would: include list, filter and exclusions applied. Errors are *Error
// with a role/ACL hint on 403.
func (c *Client) CheckTable(ctx context.Context, t Table) ([]string, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	rows, err := c.listRows(ctx, "fetch one "+t.Name+" row", t, t.Filter, t.sysparmFields(c.cfg.Exclude), 1)
	if err != nil {
		return nil, err
	}
	var fields []string
	if f := newRowFilter(t, c.cfg.Exclude); len(rows) > 0 && f.keepRow(rows[0]) {
		fields = slices.Sorted(maps.Keys(rows[0]))
	}
	return fields, nil
}

// Check is one line of a Probe.
type Check struct {
	Name   string // "dns", "tcp", "tls", "auth", "clock"
	OK     bool
	Detail string // what was found, or what to fix
}

// ProbeResult is the outcome of Probe, in check order.
type ProbeResult struct {
	Checks     []Check
	CertExpiry time.Time     // leaf certificate NotAfter (https only)
	ClockSkew  time.Duration // instance Date minus local time
}

// OK reports whether every check passed.
func (p ProbeResult) OK() bool {
	for _, c := range p.Checks {
		if !c.OK {
			return false
		}
	}
	return len(p.Checks) > 0
}

// Probe checks, in order, DNS, TCP, TLS (certificate validity and expiry),
// authentication and the clock skew from the Date header. It stops at the
// first failed network step. When requests go through a proxy
// (servicenow.proxy, or HTTPS_PROXY/HTTP_PROXY from the environment) the
// DNS, TCP and TLS steps are skipped: the proxy resolves and connects, and
// the instance's name may not even resolve locally.
func (c *Client) Probe(ctx context.Context) ProbeResult {
	var res ProbeResult
	add := func(name string, err error, detail string) bool {
		if err != nil {
			detail = err.Error()
		}
		res.Checks = append(res.Checks, Check{Name: name, OK: err == nil, Detail: detail})
		return err == nil
	}
	u, _ := url.Parse(c.cfg.URL)
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	if !c.proxied() {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if !add("dns", err, fmt.Sprintf("%s resolves to %v", host, addrs)) {
			return res
		}
		d := net.Dialer{Timeout: min(c.cfg.Timeout, 15*time.Second)}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if !add("tcp", err, "connected to "+net.JoinHostPort(host, port)) {
			return res
		}
		if u.Scheme == "https" && !c.probeTLS(ctx, conn, host, &res, add) {
			return res
		}
		conn.Close()
	}
	var date string
	err := c.do(ctx, request{op: "check authentication", table: "sys_user", path: tablePath("sys_user"),
		query: func() url.Values {
			return url.Values{"sysparm_limit": {"1"}, "sysparm_fields": {"sys_id"}, "sysparm_no_count": {"true"}}
		},
		check: func(r *response) error {
			date = r.header.Get("Date")
			_, err := decodeList(r.header.Get("Content-Type"), r.body)
			return err
		}})
	if !add("auth", err, "authenticated as the API user ("+c.cfg.Auth.Method+")") {
		return res
	}
	if t, err := http.ParseTime(date); err == nil {
		res.ClockSkew = time.Until(t).Truncate(time.Second)
		skew := res.ClockSkew.Abs()
		var e error
		if skew > time.Minute {
			e = fmt.Errorf("instance clock differs from the local clock by %s: keep the agent's clock in sync (NTP); the re-read overlap must exceed it", res.ClockSkew)
		}
		add("clock", e, fmt.Sprintf("skew %s", res.ClockSkew))
	}
	return res
}

// proxied reports whether the transport sends requests to the instance
// through a proxy: the decision of its Proxy func (a nil URL is direct). A
// proxy setting the transport cannot use counts as proxied; the auth step
// reports it.
func (c *Client) proxied() bool {
	tr := c.hc.Transport.(*http.Transport)
	if tr.Proxy == nil {
		return false
	}
	req, err := http.NewRequest(http.MethodGet, c.cfg.URL+tablePath("sys_user"), nil)
	if err != nil {
		return false
	}
	u, err := tr.Proxy(req)
	return err != nil || u != nil
}

func (c *Client) probeTLS(ctx context.Context, conn net.Conn, host string, res *ProbeResult, add func(string, error, string) bool) bool {
	defer conn.Close()
	tr := c.hc.Transport.(*http.Transport)
	cfg := tr.TLSClientConfig.Clone()
	cfg.ServerName = host
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		add("tls", fmt.Errorf("TLS handshake with %s: %w (set servicenow.ca_file to the instance's CA bundle)", host, err), "")
		return false
	}
	certs := tc.ConnectionState().PeerCertificates
	detail := "verified"
	if c.cfg.InsecureSkipVerify {
		detail = "NOT verified (servicenow.insecure_skip_verify)"
	}
	var err error
	if len(certs) > 0 {
		res.CertExpiry = certs[0].NotAfter
		left := time.Until(certs[0].NotAfter)
		detail += fmt.Sprintf(", certificate expires %s (in %d days)", certs[0].NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
		if left < 14*24*time.Hour {
			err = fmt.Errorf("certificate of %s expires %s: renew it", host, certs[0].NotAfter.UTC().Format(time.DateOnly))
		}
	}
	return add("tls", err, detail)
}
