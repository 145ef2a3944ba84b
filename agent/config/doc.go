// Package config loads and validates sei-agent's configuration file.
//
// Loading goes defaults → YAML file (unknown keys are errors) → `${ENV}`
// expansion → `*_file` secrets → Validate, and Load's error reports every
// problem at once with its key path ("servicenow.page_size: must be
// 1..10000 (got 0)"). The keys are a contract documented in DESIGN.md and
// configs/agent.example.yaml.
//
// Several ServiceNow instances: instead of the servicenow block and
// relay.integration, `instances` lists {integration, servicenow} entries
// (configs/agent.multi.example.yaml). The two forms are exclusive (an
// error names the key); each instance's servicenow block starts from the
// same defaults and passes the same rules as the single block, its
// problems named instances[N].servicenow.…; integrations are valid names,
// each used once. Split turns either form into one single-instance Config
// per instance, which is what the rest of the agent runs.
package config
