package config

// Secret is a configuration value that must never reach a log, an error
// message or a status page. Its String, JSON and YAML forms are "***" (empty
// stays empty, so a missing secret is still visible); Reveal returns the value.
type Secret string

const redacted = "***"

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// String returns "***", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText writes the redacted form (zerolog and encoding/* use it).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
