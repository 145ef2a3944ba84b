package enroll

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/relay/atomicfile"
)

// AdminKeyFile is the operator's full-access NKEY seed file inside data_dir.
const AdminKeyFile = "relay-admin.nk"

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

// WriteCredentials writes an agent's NKEY seed to path (mode 0600), with a
// comment saying whose it is. sei-agent reads it with
// nats.NkeyOptionFromSeed.
func WriteCredentials(path string, a Agent, seed []byte) error {
	content := fmt.Sprintf("# sei-agent NATS credentials: tenant %s, integration %s, agent %s\n"+
		"# public key %s. Keep this file secret (mode 0600).\n%s\n",
		a.Tenant, a.Integration, a.Agent, a.PublicKey, seed)
	if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// AdminKey returns the public key of the operator's admin NKEY in dataDir,
// creating dataDir/relay-admin.nk (0600) on first use. The admin user has
// full access to the embedded server (to inspect the stream, for tests).
func AdminKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, AdminKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return "", fmt.Errorf("create admin nkey: %w", err)
		}
		defer kp.Wipe()
		seed, _ := kp.Seed()
		content := fmt.Sprintf("# sei-relay admin NKEY: full access to the embedded NATS server.\n%s\n", seed)
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			return "", fmt.Errorf("write admin nkey: %w", err)
		}
		return kp.PublicKey()
	}
	if err != nil {
		return "", fmt.Errorf("read admin nkey: %w", err)
	}
	kp, err := nkeys.ParseDecoratedNKey(raw)
	if err != nil {
		return "", fmt.Errorf("parse admin nkey %s: %w", path, err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}
