package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
)

// Load returns Default overlaid with the YAML file at path, ${ENV}
// references expanded and *_file secrets read. Relative paths in the file
// (data_dir, *_file, ...) are resolved against the file's directory, so a
// service started elsewhere finds them. Load does not call Validate.
func Load(path string) (Config, error) {
	cfg := Default()
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config %s: %w", path, err)
	}
	if err := Parse(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("parse config %s: %w", path, err)
	}
	cfg.resolvePaths(filepath.Dir(path))
	if err := cfg.readSecretFiles(); err != nil {
		return cfg, fmt.Errorf("load config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse expands ${ENV} in raw and decodes it strictly over cfg: unknown and
// duplicate keys are errors.
func Parse(raw []byte, cfg *Config) error {
	expanded, err := expandEnv(raw)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(expanded)) == 0 {
		return nil
	}
	if err := yaml.UnmarshalWithOptions(expanded, cfg, yaml.Strict()); err != nil {
		return fmt.Errorf("%s", yaml.FormatError(err, false, true))
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} with the environment variable's value; an
// unset variable is an error (an empty value is allowed). $$ is not special:
// only the braced form is expanded, so a literal $ needs no escaping.
func expandEnv(raw []byte) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("expand environment: unset variable(s) %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// resolvePaths makes relative paths relative to dir.
func (c *Config) resolvePaths(dir string) {
	for _, p := range []*string{
		&c.DataDir, &c.HTTP.TokenFile, &c.Store.DSNFile, &c.NATS.Credentials,
		&c.NATS.CAFile, &c.NATS.TLS.CertFile, &c.NATS.TLS.KeyFile, &c.Log.File,
		&c.HTTP.TLS.CertFile, &c.HTTP.TLS.KeyFile,
	} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// readSecretFiles fills secrets from their *_file variants. Setting both is
// recorded for Validate to report.
func (c *Config) readSecretFiles() error {
	for _, s := range []struct {
		key  string
		file string
		dst  *Secret
	}{
		{"http.token_file", c.HTTP.TokenFile, &c.HTTP.Token},
		{"store.dsn_file", c.Store.DSNFile, &c.Store.DSN},
	} {
		if s.file == "" {
			continue
		}
		if *s.dst != "" {
			c.conflicts = append(c.conflicts, fmt.Sprintf("%s: set only one of %s and %s",
				s.key, strings.TrimSuffix(s.key, "_file"), s.key))
			continue
		}
		b, err := os.ReadFile(s.file)
		if err != nil {
			return fmt.Errorf("%s: %w", s.key, err)
		}
		*s.dst = Secret(strings.TrimSpace(string(b)))
	}
	return nil
}
