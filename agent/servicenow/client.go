package servicenow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/secret"
)

// maxBody bounds a response body read into memory (10000 wide rows fit).
const maxBody = 512 << 20

// Client talks to one ServiceNow instance. It is safe for concurrent use;
// it starts no goroutines.
type Client struct {
	cfg   Config
	log   zerolog.Logger
	hc    *http.Client
	auth  *authenticator
	lim   *limiter
	stats *stats
}

// New validates cfg and builds the client and its transport. With
// InsecureSkipVerify it logs a warning, every time: an admin reading the log
// after any restart must see that certificate checks are off.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: cfg.Logger, stats: &stats{}}
	c.hc = &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c.auth = newAuthenticator(cfg, c.hc, c.stats)
	c.lim = newLimiter(cfg.RateLimit, cfg.Sleep)
	if cfg.InsecureSkipVerify {
		c.log.Warn().Str("url", secret.RedactURL(cfg.URL)).Msg("servicenow.insecure_skip_verify is true: the instance's TLS certificate is NOT verified; anyone on the path can read the credentials and the data. Set servicenow.ca_file instead.")
	}
	return c, nil
}

// newTransport builds the HTTP transport: system roots plus CAFile, proxy
// from the config or the environment, explicit timeouts.
func newTransport(cfg Config) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // explicit opt-in, warned about
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("servicenow.ca_file: read %s: %w", cfg.CAFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("servicenow.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	tr.Proxy = http.ProxyFromEnvironment
	if cfg.Proxy != "" {
		p, err := url.Parse(cfg.Proxy)
		if err != nil {
			return nil, errors.New("servicenow.proxy: not a URL")
		}
		if cfg.ProxyUsername != "" {
			// Held only inside the transport, which sends it as
			// Proxy-Authorization on CONNECT and on forwarded requests;
			// the configured URL, which is printed, never holds it.
			p.User = url.UserPassword(cfg.ProxyUsername, cfg.ProxyPassword)
		}
		tr.Proxy = http.ProxyURL(p)
	}
	tr.TLSHandshakeTimeout = min(cfg.Timeout, 30*time.Second)
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.DialContext = (&net.Dialer{Timeout: min(cfg.Timeout, 30*time.Second), KeepAlive: 30 * time.Second}).DialContext
	return tr, nil
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() ClientStats { return c.stats.snapshot() }

// response is a read HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request describes one logical GET, retried as a unit.
type request struct {
	op    string // "fetch incident page 3"
	table string
	path  string
	query func() url.Values // rebuilt per attempt (the page may shrink)
	// check decodes a 2xx answer; an *errBadBody from it is retried.
	check func(*response) error
	// cutOff (if set) is called after a cut-off answer, before the retry;
	// it may change what query returns. When it reports that the page
	// shrank, the retry does not count as an attempt.
	cutOff func() bool
}

// decodeInto is a request's check that decodes a 2xx answer with decode
// into *out.
func decodeInto[T any](out *T, decode func(contentType string, body []byte) (T, error)) func(*response) error {
	return func(r *response) error {
		var err error
		*out, err = decode(r.header.Get("Content-Type"), r.body)
		return err
	}
}

// do runs req with rate limiting, authentication and retries: transient
// errors up to MaxAttempts with capped exponential backoff and jitter
// (Retry-After honoured), one token renewal after a 401, permanent errors
// returned at once as *Error.
func (c *Client) do(ctx context.Context, req request) error {
	authRetried := false
	for attempt := 1; ; attempt++ {
		r, used, err := c.once(ctx, req.path, req.query())
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("%s: %w", req.op, ctx.Err())
		}
		var wait time.Duration
		var fail *Error
		switch {
		case err != nil:
			if errors.As(err, &fail) { // token failure, already classified, with the token URL
				fail.Op, fail.Table = req.op+": "+fail.Op, req.table
				break
			}
			c.stats.httpError(req.table, 0)
			fail = c.requestError(req, &Error{Message: "request failed: " + err.Error(), Err: err})
		case r.status == http.StatusUnauthorized && c.cfg.Auth.Method == MethodOAuth && !authRetried:
			c.stats.httpError(req.table, r.status)
			authRetried = true
			c.auth.invalidate(used)
			c.log.Info().Str("table", req.table).Msg("servicenow: access token refused, renewing it")
			c.stats.retry()
			attempt--
			continue
		case r.status >= 200 && r.status < 300:
			err = req.check(r)
			if err == nil {
				return nil
			}
			if !isBadBody(err) {
				return c.requestError(req, &Error{Status: r.status, Message: err.Error(), Permanent: true, Err: err})
			}
			c.stats.httpError(req.table, 0)
			fail = c.requestError(req, &Error{Status: r.status, Message: err.Error(), Err: err})
			if req.cutOff != nil && isCutOff(err) && req.cutOff() {
				attempt--
			}
		default:
			c.stats.httpError(req.table, r.status)
			fail, wait = statusError(r, req.table)
			c.requestError(req, fail)
		}
		if fail.Permanent {
			return fail
		}
		if attempt >= c.cfg.MaxAttempts {
			fail.Op = fmt.Sprintf("%s (gave up after %d attempts)", fail.Op, attempt)
			return fail
		}
		if wait == 0 {
			wait = backoff(attempt)
		}
		c.stats.retry()
		c.log.Warn().Str("table", req.table).Int("attempt", attempt).Dur("wait", wait).Err(fail).Msg("servicenow: transient error, retrying")
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", req.op, err)
		}
	}
}

// requestError sets e's request context (op, table, URL) to req's and
// returns e.
func (c *Client) requestError(req request, e *Error) *Error {
	e.Op, e.Table, e.URL = req.op, req.table, c.cfg.URL+req.path
	return e
}

// statusError classifies a non-2xx answer; wait is its Retry-After.
func statusError(r *response, table string) (*Error, time.Duration) {
	msg, detail := decodeError(r.body)
	if msg == "" {
		msg = http.StatusText(r.status)
	}
	if detail != "" {
		msg += " (" + detail + ")"
	}
	e := &Error{Status: r.status, Message: msg}
	if !transientStatus(r.status) {
		e.Permanent = true
		e.Hint = hint(r.status, table, msg)
	}
	return e, retryAfter(r.header)
}

// once sends one GET and reads its body. It returns the access token used.
func (c *Client) once(ctx context.Context, path string, q url.Values) (*response, string, error) {
	if d, err := c.lim.wait(ctx); err != nil {
		return nil, "", err
	} else if d > 0 {
		c.stats.update(func(s *ClientStats) { s.RateLimitWaits++; s.RateLimitWait += d })
	}
	// hc.Timeout bounds each HTTP exchange; this deadline also bounds the
	// token renewal apply may make (up to two token requests) together
	// with the request itself.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.cfg.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	used, err := c.auth.apply(ctx, req)
	if err != nil {
		return nil, "", err
	}
	c.stats.request()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, used, err
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		exp := resp.TLS.PeerCertificates[0].NotAfter
		c.stats.update(func(s *ClientStats) { s.CertExpiry = exp })
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, used, fmt.Errorf("read response: %w", err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, used, nil
}

// retryAfter parses Retry-After (seconds or an HTTP date); 0 when absent.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, 10*time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), 10*time.Minute)
	}
	return 0
}
