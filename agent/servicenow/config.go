package servicenow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/sei-edge/servicenow-edge/relay/secret"
)

// Authentication methods and OAuth grants accepted in Auth.
const (
	MethodBasic = "basic"
	MethodOAuth = "oauth"

	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// Limits and defaults of Config.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultPageSize    = 1000
	MaxPageSize        = 10000
	DefaultMaxAttempts = 8
	DefaultRedirectURL = "http://localhost:8765/oauth/callback"
)

// Config is everything the client needs. The zero value of every optional
// field selects its default.
type Config struct {
	URL                string // https://acme.service-now.com (no trailing path)
	Auth               Auth
	CAFile             string // PEM bundle of the instance's (private) CA, added to the system roots
	Proxy              string // proxy URL, without userinfo; "" uses HTTPS_PROXY/NO_PROXY from the environment
	ProxyUsername      string // Basic authentication to Proxy, for CONNECT and forwarded requests
	ProxyPassword      string
	InsecureSkipVerify bool          // never verify the server certificate; warned about at every New
	Timeout            time.Duration // per request, body included; default 60s
	PageSize           int           // rows per page; default 1000, max 10000
	RateLimit          float64       // client-side requests per second; 0 = unlimited
	MaxAttempts        int           // attempts per request for transient errors; default 8
	Exclude            Exclusions    // fields that must never leave the client
	Logger             zerolog.Logger
	UserAgent          string
	// Sleep waits d or until ctx ends; tests inject a fake. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Auth says how the client authenticates.
type Auth struct {
	Method       string // basic | oauth
	Username     string
	Password     string
	ClientID     string
	ClientSecret string
	Grant        string // password | client_credentials | authorization_code (oauth only; default password)
	// RedirectURL is the loopback URL registered in the ServiceNow OAuth
	// application for the authorization-code flow (Login); default
	// DefaultRedirectURL. Port 0 picks a free port (tests).
	RedirectURL string
	// Tokens persists OAuth tokens across restarts; nil keeps them in memory.
	Tokens TokenStore
}

// TokenStore persists OAuth tokens. The agent keeps them in its Badger state.
// Implementations must be safe for concurrent use. LoadToken returns (nil,
// nil) when no token was saved yet.
type TokenStore interface {
	LoadToken(ctx context.Context) (*oauth2.Token, error)
	SaveToken(ctx context.Context, t *oauth2.Token) error
}

// withDefaults returns cfg with every unset optional field defaulted.
func (cfg Config) withDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sei-agent"
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Auth.Method == MethodOAuth && cfg.Auth.Grant == "" {
		cfg.Auth.Grant = GrantPassword
	}
	if cfg.Auth.RedirectURL == "" {
		cfg.Auth.RedirectURL = DefaultRedirectURL
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	return cfg
}

// Validate reports every problem of cfg, each with the config key to fix.
func (cfg Config) Validate() error {
	var errs []error
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		errs = append(errs, errors.New("servicenow.url: required"))
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		errs = append(errs, fmt.Errorf("servicenow.url: must be http(s)://host (got %q)", secret.RedactURL(cfg.URL)))
	case u.User != nil:
		errs = append(errs, errors.New("servicenow.url: must not hold a user or password"))
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "":
		errs = append(errs, fmt.Errorf("servicenow.url: must have no path or query (got %q)", secret.RedactURL(cfg.URL)))
	}
	if cfg.PageSize < 1 || cfg.PageSize > MaxPageSize {
		errs = append(errs, fmt.Errorf("servicenow.page_size: must be 1..%d (got %d)", MaxPageSize, cfg.PageSize))
	}
	if cfg.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("servicenow.rate_limit: must be >= 0 (got %g)", cfg.RateLimit))
	}
	if cfg.Proxy != "" {
		if p, err := url.Parse(cfg.Proxy); err != nil || p.Host == "" {
			errs = append(errs, fmt.Errorf("servicenow.proxy: must be a URL like http://proxy:3128 (got %q)", secret.RedactURL(cfg.Proxy)))
		} else if p.User != nil {
			errs = append(errs, errors.New("servicenow.proxy: must not hold a user or password: use servicenow.proxy_username and proxy_password"))
		}
	}
	errs = append(errs, cfg.Auth.validate()...)
	return errors.Join(errs...)
}

func (a Auth) validate() []error {
	var errs []error
	switch a.Method {
	case MethodBasic:
		if a.Username == "" || a.Password == "" {
			errs = append(errs, errors.New("servicenow.auth: basic needs username and password"))
		}
	case MethodOAuth:
		if a.ClientID == "" || a.ClientSecret == "" {
			errs = append(errs, errors.New("servicenow.auth: oauth needs client_id and client_secret"))
		}
		switch a.Grant {
		case GrantPassword:
			if a.Username == "" || a.Password == "" {
				errs = append(errs, errors.New("servicenow.auth: the oauth password grant needs username and password"))
			}
		case GrantClientCredentials, GrantAuthorizationCode:
		default:
			errs = append(errs, fmt.Errorf("servicenow.auth.grant: must be password, client_credentials or authorization_code (got %q)", a.Grant))
		}
		if r, err := url.Parse(a.RedirectURL); err != nil || r.Scheme != "http" || !isLoopback(r.Hostname()) {
			errs = append(errs, fmt.Errorf("servicenow.auth.redirect_url: must be an http loopback URL (got %q)", secret.RedactURL(a.RedirectURL)))
		}
	default:
		errs = append(errs, fmt.Errorf("servicenow.auth.method: must be basic or oauth (got %q)", a.Method))
	}
	return errs
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
