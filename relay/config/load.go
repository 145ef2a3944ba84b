package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sei-edge/servicenow-edge/relay/confload"
)

// Load is the relay's one configuration path, the same for every command:
// Default, overlaid with the YAML file at path (strict), ${NAME} expanded,
// relative paths resolved against the file's folder (data_dir, *_file, ...)
// so a service started elsewhere finds them, *_file secrets read, then
// Validate. The error is an *Error listing every problem with its key path,
// or a read error.
func Load(path string) (Config, error) {
	cfg := Default()
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config %s: %w", path, err)
	}
	if err := Parse(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("load config %s: %w", path, err)
	}
	cfg.resolvePaths(filepath.Dir(path))
	problems := confload.ReadSecretFiles(
		confload.SecretFile{Key: "http.token", File: cfg.HTTP.TokenFile, Dst: &cfg.HTTP.Token},
		confload.SecretFile{Key: "store.dsn", File: cfg.Store.DSNFile, Dst: &cfg.Store.DSN},
	)
	var invalid *Error
	if err := cfg.Validate(); errors.As(err, &invalid) {
		problems = append(problems, invalid.Problems...)
	}
	if err := problems.Err(); err != nil {
		return cfg, fmt.Errorf("load config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes raw strictly over cfg (unknown and duplicate keys are
// errors) and expands ${NAME} in its values; the error is an *Error.
func Parse(raw []byte, cfg *Config) error {
	if err := confload.Decode(raw, cfg); err != nil {
		return err
	}
	return confload.Expand(cfg).Err()
}

// resolvePaths makes relative paths relative to dir.
func (c *Config) resolvePaths(dir string) {
	confload.ResolvePaths(dir, &c.DataDir, &c.HTTP.TokenFile, &c.Store.DSNFile, &c.NATS.Credentials, &c.NATS.SystemCredentials,
		&c.NATS.CAFile, &c.NATS.TLS.CertFile, &c.NATS.TLS.KeyFile, &c.Log.File,
		&c.HTTP.TLS.CertFile, &c.HTTP.TLS.KeyFile, &c.Hosted.SecretKeyFile, &c.Hosted.CAFile)
}
