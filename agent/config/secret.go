package config

// Secret is a configuration value that must never be printed: its String,
// JSON, YAML and text forms are "***". Reveal returns the value.
type Secret string

const redacted = "***"

// Reveal returns the secret's value, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// String returns "***" (or "" when the secret is empty).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// MarshalText keeps secrets out of logs, JSON and YAML.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML keeps secrets out of YAML output.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
