package enroll

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"

	"github.com/sei-edge/servicenow-edge/relay/atomicfile"
)

// WriteFileAtomic writes data to path atomically and durably (see
// relay/atomicfile, which every writer of both programs uses). The
// directory is created (0700) when missing.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	return atomicfile.Write(path, data, perm)
}

// WriteCredentials writes an agent's .creds file (user JWT and NKEY seed)
// to path, mode 0600. sei-agent reads it with nats.UserCredentials.
func WriteCredentials(path string, creds []byte) error {
	if err := WriteFileAtomic(path, creds, 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// WriteResolverJWT writes an account JWT into data_dir's resolver directory
// as <account>.jwt, where the embedded server reads accounts it has not
// loaded yet (and where an external cluster's operator picks them up). It
// returns the file's path.
func (r *Registry) WriteResolverJWT(tok string) (string, error) {
	ac, err := jwt.DecodeAccountClaims(tok)
	if err != nil {
		return "", fmt.Errorf("decode account jwt: %w", err)
	}
	path := filepath.Join(r.dataDir, ResolverDir, ac.Subject+".jwt")
	if err := WriteFileAtomic(path, []byte(tok), 0o600); err != nil {
		return "", fmt.Errorf("write account jwt: %w", err)
	}
	return path, nil
}

// WriteClusterFiles writes what an external cluster's operator installs
// once: data_dir/accounts/operator.jwt (the operator to trust) and the
// system and relay accounts' JWTs in the resolver directory. It returns
// the operator JWT's path and the system account's public key.
func (r *Registry) WriteClusterFiles() (string, string, error) {
	_, op, err := r.keys.OperatorClaims()
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(r.dataDir, AccountsDir, "operator.jwt")
	if err := WriteFileAtomic(path, []byte(op), 0o644); err != nil {
		return "", "", fmt.Errorf("write operator jwt: %w", err)
	}
	sys, err := r.keys.SystemJWT()
	if err != nil {
		return "", "", err
	}
	relay, err := r.keys.RelayJWT()
	if err != nil {
		return "", "", err
	}
	for _, tok := range []string{sys, relay} {
		if _, err := r.WriteResolverJWT(tok); err != nil {
			return "", "", err
		}
	}
	return path, Public(r.keys.System), nil
}
