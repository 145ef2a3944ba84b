// Package secret holds the two things both programs need to keep secrets
// out of what they print: the Secret type, whose every printed form is
// "***", and RedactURL, the one redactor for URLs that are printed, logged,
// sent in a heartbeat or put in a support bundle.
package secret

import (
	"fmt"
	"net/url"
	"strings"
)

// Secret is a configuration value that must never reach a log, an error
// message, a status page or a bundle. Its String, GoString, fmt, JSON, YAML
// and text forms are "***" (empty stays empty, so a missing secret is still
// visible); Reveal returns the value.
type Secret string

// Masked is the printed form of every non-empty secret and of redacted URL
// userinfo.
const Masked = "***"

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// String returns "***", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Masked
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `secret.Secret("` + s.String() + `")` }

// Format prints the masked form for every verb, %d and %x included.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// MarshalJSON writes the masked form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML writes the masked form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText writes the masked form (zerolog and encoding/* use it).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// RedactURL returns raw with any userinfo (user and password) replaced by
// "***". A comma-separated list (NATS cluster URLs) is redacted element by
// element. Text that does not parse as a URL keeps only what follows its
// last "@", so a malformed URL cannot carry a password out either.
func RedactURL(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	if strings.Contains(raw, ",") {
		parts := strings.Split(raw, ",")
		for i, p := range parts {
			parts[i] = RedactURL(p)
		}
		return strings.Join(parts, ",")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Opaque != "" || u.Host == "" {
		return Masked + "@" + raw[strings.LastIndex(raw, "@")+1:]
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	s := u.String()
	if i := strings.Index(s, "//"); i >= 0 {
		return s[:i+2] + Masked + "@" + s[i+2:]
	}
	return s
}

// HasUserinfo reports whether raw is a URL that carries a user name or
// password, which configurations refuse: credentials have their own keys.
func HasUserinfo(raw string) bool {
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			if strings.Contains(one, "@") {
				return true
			}
			continue
		}
		if u.User != nil {
			return true
		}
	}
	return false
}
