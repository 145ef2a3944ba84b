// Package config loads and validates sei-agent's configuration file.
//
// Loading goes defaults → YAML file (unknown keys are errors) → `${ENV}`
// expansion → `*_file` secrets → Validate, and Load's error reports every
// problem at once with its key path ("servicenow.page_size: must be
// 1..10000 (got 0)"). The keys are a contract documented in DESIGN.md and
// configs/agent.example.yaml.
package config
