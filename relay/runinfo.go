package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

// runInfoFile, in data_dir, tells other processes (enroll, quarantine,
// tests, demos) where the running relay listens.
const runInfoFile = "relay.json"

// runInfo is the content of data_dir/relay.json.
type runInfo struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	NATSURL string    `json:"nats_url"`          // client URL of the embedded server ("" when external)
	CAFile  string    `json:"ca_file,omitempty"` // generated CA agents trust
	HTTPURL string    `json:"http_url"`
}

func writeRunInfo(dataDir string, ri runInfo) error {
	raw, err := json.MarshalIndent(ri, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", runInfoFile, err)
	}
	return enroll.WriteFileAtomic(filepath.Join(dataDir, runInfoFile), append(raw, '\n'), 0o600)
}

func readRunInfo(dataDir string) (runInfo, error) {
	var ri runInfo
	path := filepath.Join(dataDir, runInfoFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return ri, fmt.Errorf("read %s (is the relay running with this data_dir?): %w", path, err)
	}
	if err := json.Unmarshal(raw, &ri); err != nil {
		return ri, fmt.Errorf("decode %s: %w", path, err)
	}
	return ri, nil
}
