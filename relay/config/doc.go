// Package config loads and validates sei-relay's configuration: built-in
// defaults, then a strict YAML file (unknown keys are errors) with ${ENV}
// expansion and *_file variants for secrets, then Validate, which reports
// every problem with its key path.
package config
