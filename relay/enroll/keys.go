package enroll

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Files and directories of the account model inside data_dir.
const (
	// AccountsDir holds the operator, system and relay account seeds and the
	// tenants' files.
	AccountsDir = "accounts"
	// ResolverDir is the embedded server's account resolver directory: one
	// <account public key>.jwt per account.
	ResolverDir = "accounts/jwt"
	// AdminCredsFile is the operator's full-access user of the relay
	// account, a .creds file (user JWT and seed).
	AdminCredsFile = "relay-admin.creds"
	// SystemCredsFile is a user of the system account, a .creds file: on
	// an external cluster, the relay's optional nats.system_credentials.
	SystemCredsFile = "relay-system.creds"
	// AdminKeyFile is the admin NKEY of the single-account layout before
	// tenant accounts; it no longer authenticates anyone.
	AdminKeyFile = "relay-admin.nk"
)

// Subjects the relay account exports to every tenant. Each tenant imports
// its own slice of them with an activation token the relay account signs
// for that tenant alone, so the relay account's JWT never changes as
// tenants come and go, and no tenant can import another's subjects.
const (
	ingestExport    = wire.SubmitPrefix + ".*.>"
	heartbeatExport = wire.HeartbeatPrefix + ".*.*"
	agentExport     = wire.AgentPrefix + ".*.>"
	// replyExport carries agents' answers to remote requests back to the
	// relay (see wire.ReplyPrefix).
	replyExport = wire.ReplyPrefix + ".*.>"
)

// Keys are the long-lived signing keys of one data_dir: the operator (signs
// every account JWT), the system account and the relay account (which
// holds the stream, the consumer and every internal subject, and signs the
// tenants' activation tokens).
type Keys struct {
	Operator, System, Relay nkeys.KeyPair
}

// LoadKeys reads the keys of dataDir, creating those missing (seed files,
// mode 0600, under data_dir/accounts). Safe to call from several processes
// at once: creation happens under the registry's lock.
func LoadKeys(dataDir string) (*Keys, error) {
	var k Keys
	err := lockDir(dataDir, func() error {
		var err error
		dir := filepath.Join(dataDir, AccountsDir)
		if k.Operator, err = seedFile(filepath.Join(dir, "operator.nk"), nkeys.CreateOperator, "sei-relay operator"); err != nil {
			return err
		}
		if k.System, err = seedFile(filepath.Join(dir, "system.nk"), nkeys.CreateAccount, "sei-relay system account"); err != nil {
			return err
		}
		k.Relay, err = seedFile(filepath.Join(dir, "relay.nk"), nkeys.CreateAccount, "sei-relay relay account")
		return err
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// seedFile reads the seed in path, or creates a key with create and writes
// its seed there.
func seedFile(path string, create func() (nkeys.KeyPair, error), what string) (nkeys.KeyPair, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		kp, err := nkeys.ParseDecoratedNKey(raw)
		if err != nil {
			return nil, fmt.Errorf("parse %s seed %s: %w", what, path, err)
		}
		return kp, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s seed: %w", what, err)
	}
	kp, err := create()
	if err != nil {
		return nil, fmt.Errorf("create %s key: %w", what, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("create %s key: %w", what, err)
	}
	content := fmt.Sprintf("# %s seed. Keep this file secret (mode 0600).\n%s\n", what, seed)
	if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
		return nil, fmt.Errorf("write %s seed: %w", what, err)
	}
	return kp, nil
}

// Public returns kp's public key; the keys here come from valid seeds, so
// it cannot fail.
func Public(kp nkeys.KeyPair) string {
	pub, _ := kp.PublicKey()
	return pub
}

// OperatorClaims returns the operator JWT's claims, self-signed, naming the
// system account.
func (k *Keys) OperatorClaims() (*jwt.OperatorClaims, string, error) {
	oc := jwt.NewOperatorClaims(Public(k.Operator))
	oc.Name = "sei-relay"
	oc.SystemAccount = Public(k.System)
	tok, err := oc.Encode(k.Operator)
	if err != nil {
		return nil, "", fmt.Errorf("sign operator jwt: %w", err)
	}
	return oc, tok, nil
}

// SystemJWT returns the system account's JWT.
func (k *Keys) SystemJWT() (string, error) {
	ac := jwt.NewAccountClaims(Public(k.System))
	ac.Name = "SYS"
	tok, err := ac.Encode(k.Operator)
	if err != nil {
		return "", fmt.Errorf("sign system account jwt: %w", err)
	}
	return tok, nil
}

// RelayJWT returns the relay account's JWT: JetStream enabled (the stream
// lives here) and the three exports every tenant imports from. It does not
// depend on the tenants.
func (k *Keys) RelayJWT() (string, error) {
	ac := jwt.NewAccountClaims(Public(k.Relay))
	ac.Name = "sei-relay"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1, MaxAckPending: -1, MemoryMaxStreamBytes: -1, DiskMaxStreamBytes: -1}
	ac.Exports.Add(
		&jwt.Export{Name: "ingest", Subject: ingestExport, Type: jwt.Service, TokenReq: true, ResponseType: jwt.ResponseTypeSingleton},
		&jwt.Export{Name: "heartbeat", Subject: heartbeatExport, Type: jwt.Service, TokenReq: true, ResponseType: jwt.ResponseTypeSingleton},
		&jwt.Export{Name: "agent", Subject: agentExport, Type: jwt.Stream, TokenReq: true},
		&jwt.Export{Name: "reply", Subject: replyExport, Type: jwt.Service, TokenReq: true, ResponseType: jwt.ResponseTypeSingleton},
	)
	tok, err := ac.Encode(k.Operator)
	if err != nil {
		return "", fmt.Errorf("sign relay account jwt: %w", err)
	}
	return tok, nil
}

// RelayUserCreds returns a .creds file's content for a user of the relay
// account with full access, named name.
func (k *Keys) RelayUserCreds(name string) ([]byte, error) {
	return userCreds(k.Relay, name, nil)
}

// userCreds creates a user signed by account, with perms (nil: no limits
// beyond the account's), and returns its .creds content.
func userCreds(account nkeys.KeyPair, name string, perms *jwt.Permissions) ([]byte, error) {
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create user nkey: %w", err)
	}
	defer ukp.Wipe()
	return userCredsFor(account, ukp, name, perms)
}

func userCredsFor(account, user nkeys.KeyPair, name string, perms *jwt.Permissions, tags ...string) ([]byte, error) {
	uc := jwt.NewUserClaims(Public(user))
	uc.Name = name
	uc.Tags.Add(tags...)
	if perms != nil {
		uc.Permissions = *perms
	}
	tok, err := uc.Encode(account)
	if err != nil {
		return nil, fmt.Errorf("sign user jwt %s: %w", name, err)
	}
	seed, err := user.Seed()
	if err != nil {
		return nil, fmt.Errorf("user seed: %w", err)
	}
	creds, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		return nil, fmt.Errorf("format creds of %s: %w", name, err)
	}
	return creds, nil
}

// AdminCreds returns the path of data_dir's admin .creds file, writing it
// (a fresh relay-account user) when missing.
func AdminCreds(dataDir string, k *Keys) (string, error) {
	return credsFile(filepath.Join(dataDir, AdminCredsFile), k.Relay, "sei-relay-admin")
}

// SystemCreds returns the path of data_dir's system-account .creds file,
// writing it (a fresh system-account user) when missing.
func SystemCreds(dataDir string, k *Keys) (string, error) {
	return credsFile(filepath.Join(dataDir, SystemCredsFile), k.System, "sei-relay-system")
}

// credsFile writes a fresh user of account named name to path (0600)
// unless path exists.
func credsFile(path string, account nkeys.KeyPair, name string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	creds, err := userCreds(account, name, nil)
	if err != nil {
		return "", err
	}
	if err := WriteFileAtomic(path, creds, 0o600); err != nil {
		return "", fmt.Errorf("write credentials %s: %w", path, err)
	}
	return path, nil
}
